//! ComputeWinRates (stage rates and period rates q) vs the same counts as hand-written SQL.

use dealdesk::proto as pb;
use sea_orm::{ConnectionTrait, Statement};

use crate::Run;
use crate::common::authed;
use crate::measure::{Row, push, time_in_turns_ms};

/// The hand-written SQL of the period rates' observation counts (DESIGN.md, "Learning q"): per
/// kind of period, stage and horizon bucket, how many (deal, weekly instant) pairs had the deal
/// open with its close date in the instant's period, and how many distinct deals, each deal's
/// stage, status and close date as of the instant read from its field history (the latest row
/// by then, else the earliest row's old value, else today's value). The instants are the
/// learning's: every 7 days back from the end of the window's last day (UTC) within the window,
/// for months and quarters whose period ended by then.
fn period_rate_counts_sql(
    pipeline: dealdesk::domain::ids::PipelineId,
    window_start: chrono::NaiveDate,
    window_end: chrono::NaiveDate,
) -> (String, Vec<sea_orm::Value>) {
    use chrono::Datelike;
    let learned = window_end + chrono::Duration::days(1);
    let learned_at = learned.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let mut values: Vec<sea_orm::Value> = vec![pipeline.to_string().into()];
    let mut rows = Vec::new();
    let bind = |values: &mut Vec<sea_orm::Value>, v: sea_orm::Value| {
        values.push(v);
        format!("${}", values.len())
    };
    for (kind, months) in [("month", 1u32), ("quarter", 3)] {
        let mut tau = learned_at - chrono::Duration::days(7);
        while tau.date_naive() >= window_start {
            let day = tau.date_naive();
            let first_month = (day.month0() / months) * months + 1;
            let start = chrono::NaiveDate::from_ymd_opt(day.year(), first_month, 1).unwrap();
            let end = start + chrono::Months::new(months);
            if end <= learned {
                let left = (end - chrono::Duration::days(1) - day).num_days();
                let bucket = [0, 7, 14, 30, 60]
                    .into_iter()
                    .filter(|b| left >= *b)
                    .max()
                    .unwrap_or(0);
                let t = bind(&mut values, tau.into());
                let (a, b) = (
                    bind(&mut values, start.format("%Y-%m-%d").to_string().into()),
                    bind(&mut values, end.format("%Y-%m-%d").to_string().into()),
                );
                let k = bind(&mut values, kind.to_string().into());
                rows.push(format!("SELECT {t} AS tau, {a} AS p_start, {b} AS p_end, {k} AS kind, {bucket} AS bucket"));
            }
            tau -= chrono::Duration::days(7);
        }
    }
    let from = bind(
        &mut values,
        window_start.and_hms_opt(0, 0, 0).unwrap().and_utc().into(),
    );
    let as_of = |field: &str, today: &str| {
        format!(
            "COALESCE((SELECT f.new_value FROM field_history f WHERE f.deal_id = d.id \
                         AND f.field = '{field}' AND f.changed_at <= i.tau \
                       ORDER BY f.changed_at DESC, f.id DESC LIMIT 1), \
                      (SELECT f.old_value FROM field_history f WHERE f.deal_id = d.id \
                         AND f.field = '{field}' AND f.changed_at > i.tau \
                       ORDER BY f.changed_at, f.id LIMIT 1), {today})"
        )
    };
    let sql = format!(
        "WITH instants AS ({instants}), \
         states AS (SELECT d.id, i.kind, i.bucket, i.p_start, i.p_end, \
                           {stage} AS stage, {status} AS status, {close} AS close \
                    FROM deals d JOIN instants i ON d.created_at <= i.tau \
                    WHERE d.pipeline_id = $1 AND (d.closed_at IS NULL OR d.closed_at >= {from})) \
         SELECT kind, stage, bucket, COUNT(*) AS observations, COUNT(DISTINCT id) AS deals \
         FROM states WHERE status = 'OPEN' AND close >= p_start AND close < p_end \
         GROUP BY kind, stage, bucket",
        instants = rows.join(" UNION ALL "),
        stage = as_of("stage", "d.stage_id"),
        status = as_of("status", "d.status"),
        close = as_of("close_date", "CAST(d.close_date AS TEXT)"),
    );
    (sql, values)
}

pub async fn measure(run: &Run<'_>, rows: &mut Vec<Row>) {
    let Run {
        engine,
        db,
        token,
        forecasts,
        ..
    } = run;
    let (backend, pipeline, now, runs) = (run.backend, run.pipeline, run.now, run.runs);
    // ComputeWinRates vs one hand-written aggregate.
    let window_end = now.date_naive();
    let window_start = window_end - chrono::Duration::days(365);
    let date = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        Some(pb::google::r#type::Date {
            year: d.year(),
            month: d.month() as i32,
            day: d.day() as i32,
        })
    };
    let win_rate_request = pb::ComputeWinRatesRequest {
        pipeline: format!("pipelines/{pipeline}"),
        window_start_date: date(window_start),
        window_end_date: date(window_end),
        ..Default::default()
    };
    let (from, to) = (window_start, window_end + chrono::Duration::days(1));
    let baseline_sql = "SELECT v.to_stage, COUNT(*), SUM(CASE WHEN v.status = 'WON' THEN 1 ELSE 0 END) \
    FROM (SELECT DISTINCT h.deal_id, h.to_stage, d.status FROM deals d JOIN stage_history h ON h.deal_id = d.id \
          WHERE d.pipeline_id = $1 AND d.status IN ('WON', 'LOST') AND d.close_date >= $2 AND d.close_date < $3) v \
    GROUP BY v.to_stage";
    let (q_sql, q_values) = period_rate_counts_sql(pipeline, window_start, window_end);
    // A call of each first: its seconds of work dwarf a statement's planning.
    let (ours, baseline) = time_in_turns_ms(
        runs.min(7),
        1,
        || {
            let mut client = forecasts.clone();
            let request = authed(token, win_rate_request.clone());
            async move { client.compute_win_rates(request).await.unwrap() }
        },
        || {
            let (db, q_sql, q_values) = (&db, q_sql.clone(), q_values.clone());
            async move {
                let cohorts = db
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        baseline_sql,
                        [pipeline.to_string().into(), from.into(), to.into()],
                    ))
                    .await;
                let counts = db
                    .query_all_raw(Statement::from_sql_and_values(backend, q_sql, q_values))
                    .await;
                (cohorts, counts)
            }
        },
    )
    .await;
    let ratio = ours.0 / baseline.0;
    push(
        rows,
        engine,
        "ComputeWinRates (mid-market)",
        "ms",
        ours,
        baseline.0,
        ("<= 2x", ratio <= 2.0),
    );
}
