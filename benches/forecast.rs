//! Forecast benchmark: ComputeWinRates and GetForecast on a generated org, each beside the same
//! aggregate written as one hand-written SQL query on the same database, measured in one run.
//!
//! `cargo bench --bench forecast` (quick: 20,000 deals on SQLite), or
//! `cargo bench --bench forecast -- --deals 1100000 [--database-url postgres://.../db]`.
//! The database must be empty (a fresh SQLite file is made when no URL is given).

use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use dealdesk::app::App;
use dealdesk::app::forecast::{Scope, WinRateRequest};
use dealdesk::app::ports::{AuditEntry, Created, DealStore};
use dealdesk::domain::directory::{Role, User, UserDraft, UserId};
use dealdesk::domain::money::Currency;
use dealdesk::domain::templates;
use dealdesk::generator::{BookSpec, generate};
use dealdesk::persistence::SqlStore;
use dealdesk::startup;
use sea_orm::{ConnectionTrait, Statement};

const RUNS: usize = 5;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn person(app: &App<SqlStore>, role: Role, manager: Option<UserId>, n: usize) -> User {
    let draft = UserDraft {
        display_name: format!("{} {n}", role.as_str()),
        email: format!("{}{n}@bench.example", role.as_str().to_lowercase()),
        role: Some(role),
        manager_id: manager,
        active: true,
    };
    match app.create_user_as(None, draft, None, |_| Vec::new()).await {
        Ok(Created::New(user)) => user,
        other => panic!("bench user: {other:?}"),
    }
}

/// Median and worst of `RUNS` timings.
async fn time<F, Fut, T>(mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        std::hint::black_box(f().await);
        times.push(start.elapsed());
    }
    times.sort();
    (times[RUNS / 2], times[RUNS - 1])
}

fn row(name: &str, ours: (Duration, Duration), baseline: (Duration, Duration)) {
    let ratio = ours.0.as_secs_f64() / baseline.0.as_secs_f64().max(1e-9);
    println!(
        "{name:<34} {:>10.1} ms {:>10.1} ms {:>12.1} ms {:>8.2}x",
        ours.0.as_secs_f64() * 1e3,
        ours.1.as_secs_f64() * 1e3,
        baseline.0.as_secs_f64() * 1e3,
        ratio
    );
}

#[tokio::main]
async fn main() {
    let deals: usize = arg("--deals")
        .and_then(|d| d.parse().ok())
        .unwrap_or(20_000);
    let url = arg("--database-url").unwrap_or_else(|| {
        let path = std::env::temp_dir().join(format!(
            "dealdesk-bench-{}.db",
            uuid::Uuid::now_v7().simple()
        ));
        format!("sqlite://{}?mode=rwc", path.display())
    });
    let store = startup::open_store(&url).await.expect("open the database");
    let app = App::new(store.clone());

    // A 4-level tree: 1 leader, 4 directors (leaders), managers, reps (about 1 rep per 2,500 deals).
    let reps_wanted = (deals / 2_500).max(8);
    let top = person(&app, Role::Leader, None, 0).await;
    let mut reps = Vec::new();
    let mut managers = Vec::new();
    for d in 0..4 {
        let director = person(&app, Role::Leader, Some(top.id), d + 1).await;
        for m in 0..(reps_wanted / 16).max(1) {
            let manager = person(&app, Role::Manager, Some(director.id), d * 100 + m).await;
            managers.push(manager.id);
            for r in 0..4 {
                reps.push(
                    person(&app, Role::Rep, Some(manager.id), d * 10_000 + m * 10 + r)
                        .await
                        .id,
                );
            }
        }
    }
    let mut pipelines = Vec::new();
    for spec in templates::all() {
        if let Ok(Created::New(p)) = app
            .create_pipeline_as(None, spec, None, |_| Vec::new())
            .await
        {
            pipelines.push(p);
        }
    }

    let load = Instant::now();
    let now = Utc::now();
    let (mut total_deals, mut total_history) = (0, 0);
    for (chunk, start) in (0..deals).step_by(25_000).enumerate() {
        let book = generate(
            &BookSpec {
                seed: 7 + chunk as u64,
                deals: (deals - start).min(25_000),
                history_days: 730,
                now,
            },
            &pipelines,
            &reps,
        );
        total_deals += book.deals.len();
        total_history += book.history.len();
        let audit = AuditEntry {
            actor: None,
            action: "Bench",
            resource: "deals".into(),
            detail: String::new(),
            change: None,
        };
        store
            .insert_book(&book.deals, &book.history, audit)
            .await
            .expect("load");
    }
    println!(
        "loaded {total_deals} deals, {total_history} stage changes, {} people in {:.1} s ({})",
        reps.len() + managers.len() + 5,
        load.elapsed().as_secs_f64(),
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );

    let db = store.connection().clone();
    let backend = db.get_database_backend();
    let pipeline = pipelines[1].id; // mid-market
    let window_end = now.date_naive();
    let window_start = window_end - chrono::Duration::days(365);
    println!(
        "\n{:<34} {:>13} {:>13} {:>15} {:>9}",
        "operation", "median", "worst", "baseline median", "ratio"
    );

    let ours = time(|| {
        let request = WinRateRequest {
            pipeline,
            window_start: Some(window_start),
            window_end: Some(window_end),
            prior_weight: None,
            by_lead_source: false,
            by_team: false,
        };
        app.compute_win_rates(None, request, None, |_| Vec::new())
    })
    .await;
    let from = window_start.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let to = (window_end + chrono::Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let baseline_sql = "SELECT v.to_stage, COUNT(*), SUM(CASE WHEN v.status = 'WON' THEN 1 ELSE 0 END) \
        FROM (SELECT DISTINCT h.deal_id, h.to_stage, d.status FROM deals d JOIN stage_history h ON h.deal_id = d.id \
              WHERE d.pipeline_id = $1 AND d.status IN ('WON', 'LOST') AND d.closed_at >= $2 AND d.closed_at < $3) v \
        GROUP BY v.to_stage";
    let baseline = time(|| {
        db.query_all_raw(Statement::from_sql_and_values(
            backend,
            baseline_sql,
            [pipeline.to_string().into(), from.into(), to.into()],
        ))
    })
    .await;
    row("ComputeWinRates (mid-market)", ours, baseline);

    let admin = dealdesk::app::Principal {
        user: person(&app, Role::Admin, None, 0).await,
    };
    let quarter = app.calendar.quarter_of(now.date_naive());
    let (q_start, q_end) = quarter.bounds(app.calendar);
    let forecast_baseline_sql = |owners: &str| {
        format!(
            "SELECT d.pipeline_id, d.stage_id, SUM(d.amount_minor) FROM deals d \
             WHERE d.status = 'OPEN' AND d.close_date >= $1 AND d.close_date < $2 {owners} \
             GROUP BY d.pipeline_id, d.stage_id"
        )
    };
    let ours = time(|| app.forecast(&admin, quarter, Scope::Org, &[], Currency::USD)).await;
    let sql = forecast_baseline_sql("");
    let baseline = time(|| {
        db.query_all_raw(Statement::from_sql_and_values(
            backend,
            &sql,
            [q_start.into(), q_end.into()],
        ))
    })
    .await;
    row(&format!("GetForecast org {quarter}"), ours, baseline);

    let manager = UserId(managers[0].0);
    let ours =
        time(|| app.forecast(&admin, quarter, Scope::Subtree(manager), &[], Currency::USD)).await;
    let sql = forecast_baseline_sql(
        "AND d.owner_id IN (WITH RECURSIVE t(id) AS (SELECT id FROM users WHERE id = $3 \
         UNION ALL SELECT u.id FROM users u JOIN t ON u.manager_id = t.id) SELECT id FROM t)",
    );
    let baseline = time(|| {
        db.query_all_raw(Statement::from_sql_and_values(
            backend,
            &sql,
            [q_start.into(), q_end.into(), manager.0.to_string().into()],
        ))
    })
    .await;
    row("GetForecast one manager's subtree", ours, baseline);
    let _ = (Utc::now().year(), top);
}
