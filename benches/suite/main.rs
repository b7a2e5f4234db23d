//! The benchmark suite: the hot paths through the real server (a `dealdesk serve` child
//! process), each beside what the same machine does at best in the same run, on SQLite and on
//! PostgreSQL.
//!
//! ```text
//! cargo bench --bench suite                       # quick: 20,000 deals, both engines, 3 s windows
//! cargo bench --bench suite -- --deals 1100000 --seconds 10 --engines sqlite,postgres
//! cargo bench --bench suite -- --deals 1100000 --load-only   # load the large org, report, stop
//! ```
//!
//! A database (SQLite file, PostgreSQL database) is deleted after its engine's run unless
//! `--keep-database` is given; its URL is printed. `--database URL` measures such a kept
//! database again without loading it (its engine only), `--only winrates,forecast,advance,preview`
//! runs some of the measurements, `--runs N` sets how many calls each latency takes,
//! `DEALDESK_BENCH_SERVER` names another build of the server to measure, and
//! `DEALDESK_BENCH_SERVER_LOG` a file for the server's log (filtered by `RUST_LOG`).
//!
//! `--open N` sets how many of the deals are still open (default: one in eleven, so 1,100,000
//! deals are 1,000,000 closed and 100,000 open). The load is reported as rows, seconds, rows per
//! second and the database's size.
//!
//! PostgreSQL runs in a fresh database made on `DEALDESK_BENCH_POSTGRES_URL` (else
//! `DEALDESK_TEST_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test`) and dropped
//! after. Results print as a table and are written as JSON to `target/bench-suite.json`
//! (`loads`: one entry per engine; `results`: the measurements).
//!
//! Each operation is reported as median and p99 of its runs (throughputs as calls per second
//! over the window) and as a ratio to its baseline:
//! - ComputeWinRates (stage rates and period rates q) vs the same counts as hand-written SQL: the
//!   cohort aggregate and the period rates' observation counts (target <= 2x);
//! - GetForecast, whole org, one director's subtree (a leader of about 125 people) and one
//!   manager's, vs the hand-written SQL of its sums for the same scope: open amounts by stage
//!   dated in the period, the next one and the year before it, won revenue, past periods' new
//!   revenue (target <= 2x, and under 50 ms for the org);
//! - AdvanceDealStage with 16 concurrent gRPC clients vs raw transactions doing the same reads
//!   and inserts on the same engine (target >= 50%);
//! - PreviewApprovalRoute vs the gRPC health Check on the same server (target >= 70%), beside
//!   GetUser (one row read by key) vs the same Check: the ceiling of any call that reads the
//!   database;

#[path = "../common/mod.rs"]
mod common;

mod advance;
mod flood;
mod forecast;
mod measure;
mod org;
mod preview;
mod winrates;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{ScratchDatabase, Server, arg, authed, flag, rss_mib};
use dealdesk::domain::directory::UserId;
use dealdesk::domain::period::Period;
use dealdesk::persistence::SqlStore;
use dealdesk::proto as pb;
use dealdesk::startup;
use measure::Row;
use org::Load;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use tonic::transport::Channel;

/// The measurements, as `--only` names them.
const SECTIONS: [&str; 5] = ["winrates", "forecast", "advance", "preview", "flood"];

/// One engine's run, as every measurement needs it: the store and its connection, the org's
/// admin token, manager and measured pipeline, and the server.
pub struct Run<'a> {
    pub engine: &'a str,
    pub store: &'a SqlStore,
    pub db: DatabaseConnection,
    pub backend: DatabaseBackend,
    pub token: String,
    pub manager: UserId,
    pub pipeline: dealdesk::domain::ids::PipelineId,
    pub channel: Channel,
    pub endpoint: String,
    pub forecasts: pb::forecast_service_client::ForecastServiceClient<Channel>,
    pub now: DateTime<Utc>,
    /// The quarter of today.
    pub quarter: Period,
    /// How many calls each latency takes.
    pub runs: usize,
    /// How long each throughput runs.
    pub window: Duration,
}

#[tokio::main]
async fn main() {
    let deals: usize = arg("--deals")
        .and_then(|d| d.parse().ok())
        .unwrap_or(20_000);
    let window = Duration::from_secs(arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(3));
    // 1,100,000 deals: 1,000,000 closed and 100,000 open.
    let open: usize = arg("--open")
        .and_then(|d| d.parse().ok())
        .unwrap_or(deals / 11);
    let load_only = flag("--load-only");
    // Keeps the SQLite file (its path is printed) to study its queries after the run.
    let keep_database = flag("--keep-database");
    // A database kept by an earlier run, measured again without a load (one engine: its own).
    let reuse = arg("--database");
    let engines = match &reuse {
        Some(url) if url.starts_with("postgres") => "postgres".into(),
        Some(_) => "sqlite".into(),
        None => arg("--engines").unwrap_or_else(|| "sqlite,postgres".into()),
    };
    let measuring = Measuring {
        // Which measurements to run (default: all of them).
        only: arg("--only").unwrap_or_else(|| SECTIONS.join(",")),
        runs: arg("--runs")
            .and_then(|r| r.parse().ok())
            .unwrap_or(if deals > 200_000 { 7 } else { 25 }),
        window,
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut loads: Vec<Load> = Vec::new();
    for engine in engines.split(',').map(str::trim) {
        let scratch = match &reuse {
            Some(_) => None,
            None => Some(ScratchDatabase::new(engine).await),
        };
        let url = match (&reuse, &scratch) {
            (Some(url), _) => url.clone(),
            (None, Some(scratch)) => scratch.url.clone(),
            (None, None) => unreachable!("a scratch database when none is reused"),
        };
        let store = startup::open_store(&url).await.expect("open the database");
        if keep_database {
            println!("[{engine}] database: {url}");
        }
        let (token, manager, pipeline) = if reuse.is_some() {
            org::reuse_org(&store).await
        } else {
            let org = org::load_org(&store, engine, deals, open).await;
            org.load.print();
            loads.push(org.load);
            (org.token, org.manager, org.pipeline)
        };
        if load_only {
            drop(store);
            if let Some(scratch) = scratch.filter(|_| !keep_database) {
                scratch.remove().await;
            }
            continue;
        }
        measure_engine(
            engine,
            (&store, &url),
            (token, manager, pipeline),
            &measuring,
            &mut rows,
        )
        .await;
        drop(store);
        if let Some(scratch) = scratch.filter(|_| !keep_database) {
            scratch.remove().await;
        }
    }
    measure::report(&loads, &rows);
}

/// What to measure and how long: `--only`, `--runs`, `--seconds`.
struct Measuring {
    only: String,
    runs: usize,
    window: Duration,
}

impl Measuring {
    fn wants(&self, section: &str) -> bool {
        self.only.split(',').any(|s| s.trim() == section)
    }
}

/// Every measurement asked for on one engine's loaded org: the server started on `url`, the
/// org's `(token, manager, pipeline)`; the rows go to `rows`.
async fn measure_engine(
    engine: &str,
    (store, url): (&SqlStore, &str),
    (token, manager, pipeline): (String, UserId, dealdesk::domain::ids::PipelineId),
    measuring: &Measuring,
    rows: &mut Vec<Row>,
) {
    let (runs, window) = (measuring.runs, measuring.window);
    let wants = |section: &str| measuring.wants(section);
    let db = store.connection().clone();
    settle(engine, &db).await;
    let server = Server::start(url).await;
    let channel = server.channel().await;
    let rss_start = rss_mib(server.pid());
    let now = Utc::now();
    let run = Run {
        engine,
        store,
        backend: db.get_database_backend(),
        db,
        token,
        manager,
        pipeline,
        forecasts: pb::forecast_service_client::ForecastServiceClient::new(channel.clone()),
        channel,
        endpoint: server.endpoint.clone(),
        now,
        quarter: dealdesk::domain::period::FiscalCalendar::default().quarter_of(now.date_naive()),
        runs,
        window,
    };
    // Memory after one org forecast alone, before any other load: what serving the biggest
    // read costs, to compare between org sizes.
    run.forecasts
        .clone()
        .get_forecast(authed(
            &run.token,
            pb::GetForecastRequest {
                period: run.quarter.to_string(),
                scope: "org".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("the org forecast");
    let rss_forecast = rss_mib(server.pid());

    if wants("winrates") {
        winrates::measure(&run, rows).await;
    }
    if wants("forecast") {
        forecast::measure(&run, rows).await;
    }
    if wants("advance") || wants("preview") {
        let moves = advance::open_moves(&run).await;
        if wants("advance") {
            advance::measure(&run, &moves, rows).await;
        }
        if wants("preview") {
            preview::measure(&run, &moves, rows).await;
        }
    }
    if wants("flood") {
        flood::measure(&run, rows).await;
    }
    let rss_end = rss_mib(server.pid());
    for (operation, after) in [
        ("server RSS: start-up -> one org forecast", rss_forecast),
        ("server RSS: start-up -> end of the run", rss_end),
    ] {
        rows.push(Row {
            engine: engine.into(),
            operation: operation.into(),
            unit: "MiB",
            median: after,
            p99: after,
            baseline: rss_start,
            ratio: after / rss_start.max(1e-9),
            target: "no whole-table loads".into(),
            met: true,
        });
    }
}

/// Leaves the freshly loaded database as a live one would be before measuring it: PostgreSQL
/// vacuumed, analysed and checkpointed, SQLite's write-ahead log folded into its file.
async fn settle(engine: &str, db: &DatabaseConnection) {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // What autovacuum would do on a live database before long: planner statistics and
        // the visibility map, without which PostgreSQL's index-only scans visit the table
        // for every row of a table just bulk-loaded. Done here, not left to chance: it
        // would otherwise run during some measurements and not others.
        let vacuum = Instant::now();
        db.execute_unprepared("VACUUM ANALYZE")
            .await
            .expect("VACUUM ANALYZE");
        // And the checkpoint the load's gigabytes of dirty pages call for, now rather than
        // spread over the next minutes of measurements (checkpoint_completion_target).
        db.execute_unprepared("CHECKPOINT")
            .await
            .expect("CHECKPOINT");
        println!(
            "[{engine}] VACUUM ANALYZE and CHECKPOINT after the load: {:.1} s",
            vacuum.elapsed().as_secs_f64()
        );
    } else {
        // SQLite's counterpart: the write-ahead log the load left copied into the database
        // file now, not by whichever measured call commits next.
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .expect("wal_checkpoint");
    }
}
