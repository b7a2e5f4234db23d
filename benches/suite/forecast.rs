//! GetForecast, whole org, one director's subtree (a leader of about 125 people) and one
//! manager's, vs the hand-written SQL of the sums its answer is made of.

use chrono::{NaiveDate, Utc};
use dealdesk::domain::money::Currency;
use dealdesk::domain::period_rate::OffPeriod;
use dealdesk::proto as pb;
use sea_orm::{ConnectionTrait, Statement};

use crate::Run;
use crate::common::authed;
use crate::measure::{Row, push, time_in_turns_ms};

/// The exchange rates the suite sets: EUR and GBP to USD.
pub const TO_USD: [(Currency, f64); 2] = [(Currency::EUR, 1.08), (Currency::GBP, 1.27)];

/// Untimed calls of each forecast (and of its baseline) before the timed ones: twice the
/// server's PostgreSQL pool (16 connections), handed out in turn.
const FORECAST_WARMUP: usize = 32;

/// The hand-written SQL of the sums a forecast of `owners` (a condition on `d.owner_id`, empty
/// for the org) is made of, in the order the baseline runs it.
async fn baseline_sql(run: &Run<'_>, owners: &str) -> [String; 5] {
    let (db, backend, now, quarter) = (&run.db, run.backend, run.now, run.quarter);
    // The sums a GetForecast answer is made of (DESIGN.md "Weighted forecast",
    // "Not-yet-created pipeline"), run one after the other on one connection: the period's
    // open deals by pipeline, stage, currency, size band and pushes so far (q and the stage
    // rates weigh those sums, a few hundred multiplications); its won deals by currency; and
    // the revenue booked in each of the past four quarters by deals created after the same
    // point of them, by owner and currency; the next quarter's open deals by pipeline, stage
    // and currency (the pulled-in part: one pull-in rate per stage weighs each deal); and the
    // open deals dated in the year before the quarter (overdue: one overdue rate per stage) the
    // same way. The values are written into the text, as by hand:
    // PostgreSQL plans it for them once and keeps that plan, where a prepared statement's
    // parameters may leave it, after five executions, with a generic plan (for the manager's
    // subtree, one that reads the whole org's quarter: 4 ms instead of 1).
    let (q_start, q_end) = quarter.bounds(Default::default());
    let calendar = dealdesk::domain::calendar::OrgCalendar::default();
    // The quarter is this one: the next quarter's deals may be pulled in, and overdue deals
    // are those dated in the year before it.
    let days = dealdesk::domain::period_rate::PeriodDays::new(
        &calendar,
        dealdesk::domain::calendar::PeriodKind::Quarter,
        (q_start, q_end),
        now.date_naive(),
    );
    let off = |off| days.off_days(off).expect("this quarter's days off it");
    let ((_, next_end), (overdue_from, _)) = (off(OffPeriod::Next), off(OffPeriod::Overdue));
    let windows = dealdesk::domain::new_pipeline::past_windows(&calendar, quarter, now, 4);
    let (first, last) = (windows[0].first_day, windows[windows.len() - 1].next_day);
    let instant = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00");
    let new_sums: String = windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            format!(
                ", SUM(CASE WHEN d.close_date >= '{}' AND d.close_date < '{}' \
                 AND d.created_at > '{}' THEN d.amount_minor END) AS v{i}",
                w.first_day,
                w.next_day,
                instant(w.point)
            )
        })
        .collect();
    let (low, high): (i64, i64) = {
        let row = db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT size_cut_low, size_cut_high FROM period_rate_tables \
                 WHERE kind = 'QUARTER' ORDER BY learned_at DESC LIMIT 1",
            ))
            .await
            .expect("the size cuts")
            .expect("a period rate table (run with winrates)");
        (
            row.try_get("", "size_cut_low").unwrap_or(0),
            row.try_get("", "size_cut_high").unwrap_or(0),
        )
    };
    let usd: String = TO_USD
        .iter()
        .fold(String::from("CASE d.currency"), |sql, (from, rate)| {
            format!("{sql} WHEN '{}' THEN d.amount_minor * {rate}", from.code())
        })
        + " ELSE d.amount_minor END";
    [
        format!(
            "SELECT d.pipeline_id, d.stage_id, d.currency, \
                    CASE WHEN {usd} >= {high} THEN 2 WHEN {usd} >= {low} THEN 1 \
                         ELSE 0 END AS band, \
                    CASE WHEN d.close_date_pushes >= 2 THEN 2 \
                         ELSE d.close_date_pushes END AS pushes, \
                    COUNT(*), SUM(d.amount_minor) FROM deals d \
             WHERE d.status = 'OPEN' AND d.close_date >= '{q_start}' \
               AND d.close_date < '{q_end}' {owners} \
             GROUP BY d.pipeline_id, d.stage_id, d.currency, band, pushes"
        ),
        format!(
            "SELECT d.currency, SUM(d.amount_minor) FROM deals d \
             WHERE d.status = 'WON' AND d.close_date >= '{q_start}' \
               AND d.close_date < '{q_end}' {owners} GROUP BY d.currency"
        ),
        format!(
            "SELECT d.owner_id, d.currency{new_sums} FROM deals d \
             WHERE d.status = 'WON' AND d.close_date >= '{first}' \
               AND d.close_date < '{last}' AND d.created_at <= '{}' {owners} \
             GROUP BY d.owner_id, d.currency",
            instant(now)
        ),
        open_off_period(q_end, next_end, owners),
        open_off_period(overdue_from, q_start, owners),
    ]
}

/// The open deals of `owners` dated in `[from, until)` by pipeline, stage and currency: a term
/// of deals dated off the period, one rate per stage weighing each deal.
fn open_off_period(from: NaiveDate, until: NaiveDate, owners: &str) -> String {
    format!(
        "SELECT d.pipeline_id, d.stage_id, d.currency, COUNT(*), SUM(d.amount_minor) \
         FROM deals d WHERE d.status = 'OPEN' AND d.close_date >= '{from}' \
           AND d.close_date < '{until}' {owners} \
         GROUP BY d.pipeline_id, d.stage_id, d.currency"
    )
}

/// GetForecast of the org, one director's and one manager's subtree against [`baseline_sql`] for the same
/// scope, in turns.
pub async fn measure(run: &Run<'_>, rows: &mut Vec<Row>) {
    let Run {
        engine,
        db,
        token,
        forecasts,
        ..
    } = run;
    let (backend, manager, quarter, runs) = (run.backend, run.manager, run.quarter, run.runs);
    let subtree = |user: uuid::Uuid| {
        format!(
            "AND d.owner_id IN (WITH RECURSIVE t(id) AS (SELECT id FROM users WHERE id = '{user}' \
             UNION ALL SELECT u.id FROM users u JOIN t ON u.manager_id = t.id) SELECT id FROM t)"
        )
    };
    // The manager's director: a leader of about 125 people, more than a small team's 32
    // owners and less than the org.
    let director: String = db
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT manager_id FROM users WHERE id = '{}'", manager.0),
        ))
        .await
        .expect("read the manager's director")
        .and_then(|row| row.try_get("", "manager_id").ok())
        .expect("the manager has a director");
    let director = uuid::Uuid::parse_str(&director).expect("a user id");
    for (label, scope, owners) in [
        ("GetForecast whole org", "org".to_string(), String::new()),
        (
            "GetForecast one director",
            format!("users/{director}"),
            subtree(director),
        ),
        (
            "GetForecast one manager",
            format!("users/{}", manager.0),
            subtree(manager.0),
        ),
    ] {
        let request = pb::GetForecastRequest {
            period: quarter.to_string(),
            scope,
            ..Default::default()
        };
        let sql = baseline_sql(run, &owners).await;
        let (ours, baseline) = time_in_turns_ms(
            runs,
            FORECAST_WARMUP,
            || {
                let request = authed(token, request.clone());
                let mut client = forecasts.clone();
                async move { client.get_forecast(request).await.unwrap() }
            },
            || {
                let (db, sql) = (&db, sql.clone());
                async move {
                    for statement in sql {
                        let rows = db
                            .query_all_raw(Statement::from_string(backend, statement))
                            .await;
                        std::hint::black_box(rows.expect("the baseline's sums"));
                    }
                }
            },
        )
        .await;
        let ratio = ours.0 / baseline.0;
        let org = owners.is_empty();
        push(
            rows,
            engine,
            label,
            "ms",
            ours,
            baseline.0,
            if org {
                ("<= 2x and < 50 ms", ratio <= 2.0 && ours.0 < 50.0)
            } else {
                ("<= 2x", ratio <= 2.0)
            },
        );
    }
}
