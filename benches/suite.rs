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
//! - GetForecast, whole org and one manager's subtree, vs the hand-written SQL sum of open
//!   amounts by stage for the same scope (target <= 2x, and under 50 ms for the org);
//! - AdvanceDealStage with 16 concurrent gRPC clients vs raw transactions doing the same reads
//!   and inserts on the same engine (target >= 50%);
//! - PreviewApprovalRoute vs the gRPC health Check on the same server (target >= 70%), beside
//!   GetUser (one row read by key) vs the same Check: the ceiling of any call that reads the
//!   database;
//! - the server's resident memory after start-up, after one org forecast (before any other
//!   load) and at the end of the run.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use dealdesk::app::App;
use dealdesk::app::ports::{
    AuditEntry, Created, DealDeskStore, DealStore, ForecastStore, PipelineStore,
};
use dealdesk::domain::approval::{Approver, DiscountTier, Mode, Policy, StepSpec};
use dealdesk::domain::approval_request::{ChainMember, RequestState};
use dealdesk::domain::deal::DealStatus;
use dealdesk::domain::directory::{Role, User, UserDraft, UserId};
use dealdesk::domain::money::{Currency, ExchangeRate};
use dealdesk::domain::pipeline::Segment;
use dealdesk::domain::templates;
use dealdesk::generator::{BookSpec, DeskPeople, approval_requests, generate};
use dealdesk::persistence::SqlStore;
use dealdesk::proto as pb;
use dealdesk::startup;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, TransactionTrait};
use tonic::Request;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The exchange rates the suite sets: EUR and GBP to USD.
const TO_USD: [(Currency, f64); 2] = [(Currency::EUR, 1.08), (Currency::GBP, 1.27)];

/// Untimed calls of each forecast (and of its baseline) before the timed ones: twice the
/// server's PostgreSQL pool (16 connections), handed out in turn.
const FORECAST_WARMUP: usize = 32;

/// The measurements, as `--only` names them.
const SECTIONS: [&str; 5] = ["winrates", "forecast", "advance", "preview", "flood"];

/// The target of a row that only gives a reference point.
const REFERENCE: &str = "none:";

/// One result row.
#[derive(Debug, serde::Serialize)]
struct Row {
    engine: String,
    operation: String,
    unit: &'static str,
    median: f64,
    p99: f64,
    baseline: f64,
    /// ours / baseline for times, ours / baseline for throughputs.
    ratio: f64,
    target: String,
    met: bool,
}

fn quantiles(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Milliseconds of `runs` calls each of `ours` and `baseline`, taking turns (one of ours, one
/// of the baseline), as (median, p99) each: a change in the machine's speed during the
/// measurement weighs on both alike rather than on whichever ran second. `warmup` calls of
/// each, taking turns too, go first, untimed: a server in service has used each of its pooled
/// connections (and the baseline its own) many times, and PostgreSQL plans a prepared
/// statement afresh on each of its first five executions on a connection, after loading the
/// tables' catalog entries into that connection's caches on the first (1.5 ms for a manager's
/// won sums on a fresh connection, 0.4 ms planned again, 0.2 ms with its generic plan), while
/// the pool hands its connections out in turn, so the first calls of a fresh server reach
/// fresh connections.
async fn time_in_turns_ms<F, Fut, T, G, Gut, U>(
    runs: usize,
    warmup: usize,
    mut ours: F,
    mut baseline: G,
) -> ((f64, f64), (f64, f64))
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
    G: FnMut() -> Gut,
    Gut: std::future::Future<Output = U>,
{
    for _ in 0..warmup {
        std::hint::black_box(ours().await);
        std::hint::black_box(baseline().await);
    }
    let (mut a, mut b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(ours().await);
        a.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        std::hint::black_box(baseline().await);
        b.push(start.elapsed().as_secs_f64() * 1e3);
    }
    (quantiles(a), quantiles(b))
}

/// Calls per second of `workers` tasks each running `call` in a loop for `window`; failed calls
/// are counted apart and reported.
async fn throughput<F, Fut>(workers: usize, window: Duration, call: F) -> (f64, u64)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + window;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (call, ok, failed) = (call.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < deadline {
                if call(worker, i).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    (
        ok.load(Ordering::Relaxed) as f64 / window.as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
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

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// What loading an org took.
#[derive(Debug, serde::Serialize)]
struct Load {
    engine: String,
    people: usize,
    deals: usize,
    open_deals: usize,
    stage_history: usize,
    approval_requests: usize,
    /// Contacts, qualification items, field-history rows and approver queue entries.
    child_rows: usize,
    /// Every row above.
    rows: usize,
    /// Generating and storing the book and the requests (the people, pipelines and policies
    /// before it take well under a second).
    seconds: f64,
    /// Of which in the store's bulk inserts.
    insert_seconds: f64,
    rows_per_second: f64,
    database_mib: f64,
}

/// The loaded org, as the measurements need it.
struct Org {
    token: String,
    manager: UserId,
    pipeline: uuid::Uuid,
    load: Load,
}

/// The org: a 4-level tree (a leader, 4 directors, managers, reps; about 500 people for the
/// large org), finance and legal for the role queues, the three template pipelines, an approval
/// policy per segment, the generated book with `open` of its `deals` still open, and approval
/// requests on the open deals whose discount needs one.
async fn load_org(store: &SqlStore, engine: &str, deals: usize, open: usize) -> Org {
    let app = App::new(store.clone());
    let admin = person(&app, Role::Admin, None, 0).await;
    let token = app
        .issue_token_as(None, admin.id, "bench")
        .await
        .unwrap()
        .secret;
    // 25 managers of 4 reps under each director for the large org: 505 people in the tree.
    let reps_wanted = (deals / 2_500).clamp(16, 400);
    let top = person(&app, Role::Leader, None, 0).await;
    let mut reps = Vec::new();
    let mut managers = Vec::new();
    let mut desk = DeskPeople::default();
    let member = |user: &User| ChainMember {
        id: user.id,
        role: user.profile.role,
        active: true,
    };
    for d in 0..4 {
        let director = person(&app, Role::Leader, Some(top.id), d + 1).await;
        for m in 0..(reps_wanted / 16).max(1) {
            let manager = person(&app, Role::Manager, Some(director.id), d * 100 + m).await;
            managers.push(manager.id);
            for r in 0..4 {
                let n = d * 10_000 + m * 10 + r;
                let rep = person(&app, Role::Rep, Some(manager.id), n).await.id;
                let chain = vec![member(&manager), member(&director), member(&top)];
                desk.chains.insert(rep, chain);
                reps.push(rep);
            }
        }
    }
    for role in [Role::Finance, Role::Legal] {
        desk.queues
            .push((role, person(&app, role, None, 0).await.id));
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
    let admin_principal = dealdesk::app::Principal { user: admin };
    let mut policies = Vec::new();
    for segment in [Segment::Smb, Segment::MidMarket, Segment::Enterprise] {
        let step = |name: &str, approver| StepSpec {
            name: name.into(),
            approvers: vec![approver],
            mode: Mode::Any,
            sla_hours: 24,
        };
        let policy = Policy {
            segment,
            tiers: vec![
                DiscountTier {
                    ceiling_bps: 1500,
                    steps: vec![],
                },
                DiscountTier {
                    ceiling_bps: 2500,
                    steps: vec![step("Sales manager", Approver::OwnersManager)],
                },
                DiscountTier {
                    ceiling_bps: 10_000,
                    steps: vec![step("VP of Sales", Approver::LeaderAboveOwner)],
                },
            ],
            size_thresholds: vec![],
            playbook: vec!["MUTUAL_NDA".into()],
            legal_step: step("Legal review", Approver::Queue(Role::Legal)),
            payment_days_limit: 45,
            finance_step: step("Finance", Approver::Queue(Role::Finance)),
        };
        policies.push(app.create_policy(&admin_principal, policy).await.unwrap());
    }
    for (from, rate) in TO_USD {
        let rate = ExchangeRate {
            from,
            to: Currency::USD,
            rate,
        };
        let audit = AuditEntry {
            actor: None,
            action: "SetExchangeRate",
            resource: format!("exchangeRates/{from}-USD"),
            detail: "bench".into(),
            change: None,
        };
        store
            .set_exchange_rate(&rate, Utc::now(), audit)
            .await
            .unwrap();
    }
    let audit = |resource: &str| AuditEntry {
        actor: None,
        action: "Bench",
        resource: resource.into(),
        detail: String::new(),
        change: None,
    };
    let load = Instant::now();
    let mut insert_seconds = 0.0;
    let now = Utc::now();
    let (mut total_deals, mut total_open, mut total_history, mut child_rows) = (0, 0, 0, 0);
    // Only the few open deals with a discount are kept for the requests.
    let mut discounted = Vec::new();
    const CHUNK: usize = 25_000;
    for (chunk, start) in (0..deals).step_by(CHUNK).enumerate() {
        let end = (start + CHUNK).min(deals);
        let book = generate(
            &BookSpec {
                seed: 7 + chunk as u64,
                deals: end - start,
                // Spread evenly over the chunks.
                open: Some(open * end / deals - open * start / deals),
                history_days: 730,
                now,
            },
            &pipelines,
            &reps,
        );
        total_deals += book.deals.len();
        total_history += book.history.len();
        child_rows += book.field_history.len();
        for deal in &book.deals {
            child_rows += deal.fields.contacts.len() + deal.fields.qualification.len();
            if deal.status == DealStatus::Open {
                total_open += 1;
                if deal.fields.discount_bps > 0 {
                    discounted.push(deal.clone());
                }
            }
        }
        let insert = Instant::now();
        store
            .insert_book(
                &book.deals,
                &book.history,
                &book.field_history,
                audit("deals"),
            )
            .await
            .expect("load");
        insert_seconds += insert.elapsed().as_secs_f64();
    }
    let requests = approval_requests(7, &discounted, &pipelines, &policies, &desk, now);
    child_rows += requests
        .iter()
        .filter(|r| r.state == RequestState::Pending)
        .map(|r| {
            let (users, roles) = r.waiting_on();
            users.len() + roles.len()
        })
        .sum::<usize>();
    let insert = Instant::now();
    store
        .insert_requests(&requests, audit("approvalRequests"))
        .await
        .expect("load the requests");
    insert_seconds += insert.elapsed().as_secs_f64();
    let seconds = load.elapsed().as_secs_f64();
    let rows = total_deals + total_history + requests.len() + child_rows;
    Org {
        token,
        manager: managers[0],
        pipeline: pipelines[1].id,
        load: Load {
            engine: engine.into(),
            people: reps.len() + managers.len() + 8,
            deals: total_deals,
            open_deals: total_open,
            stage_history: total_history,
            approval_requests: requests.len(),
            child_rows,
            rows,
            seconds,
            insert_seconds,
            rows_per_second: rows as f64 / seconds,
            database_mib: database_mib(store.connection()).await,
        },
    }
}

/// An org loaded by an earlier run and kept (`--keep-database`), measured again without
/// loading it: a new token for its admin, its first manager and its second pipeline, as
/// [`load_org`] picks them. Its load is not reported.
async fn reuse_org(store: &SqlStore) -> (String, UserId, uuid::Uuid) {
    let db = store.connection();
    let backend = db.get_database_backend();
    let id = |sql: String| async move {
        let row = db
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .expect("read the kept org")
            .expect("a database loaded by this suite (--keep-database)");
        let id: String = row.try_get("", "id").unwrap();
        uuid::Uuid::parse_str(&id).unwrap()
    };
    let user = |email: &str| format!("SELECT id FROM users WHERE email = '{email}'");
    let admin = id(user("admin0@bench.example")).await;
    let manager = id(user("manager0@bench.example")).await;
    let second = templates::all()[1].display_name.replace('\'', "''");
    let pipeline = id(format!(
        "SELECT id FROM pipelines WHERE display_name = '{second}'"
    ))
    .await;
    let token = App::new(store.clone())
        .issue_token_as(None, UserId(admin), "bench")
        .await
        .unwrap()
        .secret;
    (token, UserId(manager), pipeline)
}

/// The database's size on disk, in MiB (SQLite: pages in use, the WAL included).
async fn database_mib(db: &DatabaseConnection) -> f64 {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT pg_database_size(current_database()) AS bytes"
        }
        _ => "SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()",
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .ok()
        .flatten();
    let bytes: i64 = row
        .and_then(|r| r.try_get("", "bytes").ok())
        .unwrap_or_default();
    bytes as f64 / (1024.0 * 1024.0)
}

/// A fresh database of `engine`, and (for PostgreSQL) how to drop it.
async fn fresh_database(engine: &str) -> (String, Option<(String, String)>) {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    if engine == "sqlite" {
        let path = std::env::temp_dir().join(format!("dealdesk-bench-{unique}.db"));
        return (format!("sqlite://{}?mode=rwc", path.display()), None);
    }
    let base = std::env::var("DEALDESK_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("DEALDESK_TEST_POSTGRES_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("dd_bench_{unique}");
    let admin = Database::connect(base.as_str()).await.expect("PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    (format!("{server}/{name}"), Some((base.clone(), name)))
}

/// Drops a PostgreSQL database made by [`fresh_database`] (`None`: nothing to drop).
async fn drop_database(made: Option<(String, String)>) {
    if let Some((base, name)) = made
        && let Ok(admin) = Database::connect(base.as_str()).await
    {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

/// Deletes a SQLite database made by [`fresh_database`] with its WAL (the large org's file is
/// near 3 GiB); nothing for other engines.
fn remove_sqlite_files(url: &str) {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .and_then(|p| p.strip_suffix("?mode=rwc"))
    {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
}

/// Where the server's log goes: nowhere, or with `DEALDESK_BENCH_SERVER_LOG` set to a file,
/// there (`RUST_LOG` then sets what it logs, e.g. `warn,sqlx::query=debug` for each
/// statement's time).
fn server_log() -> Stdio {
    std::env::var("DEALDESK_BENCH_SERVER_LOG")
        .ok()
        .and_then(|path| std::fs::File::create(path).ok())
        .map_or(Stdio::null(), Stdio::from)
}

/// Starts `dealdesk serve` on a free port and waits until health says SERVING.
async fn start_server(url: &str) -> (Child, Channel, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Another build of the server (`DEALDESK_BENCH_SERVER`) may be measured, to compare two.
    let binary =
        std::env::var("DEALDESK_BENCH_SERVER").unwrap_or(env!("CARGO_BIN_EXE_dealdesk").into());
    let child = Command::new(binary)
        .args(["--database-url", url, "serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--escalation-every-seconds", "0"])
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(server_log())
        .spawn()
        .expect("start dealdesk serve");
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if let Ok(channel) = Channel::from_shared(endpoint.clone())
            .unwrap()
            .connect()
            .await
        {
            let serving = HealthClient::new(channel.clone())
                .check(HealthCheckRequest::default())
                .await
                .is_ok();
            if serving {
                return (child, channel, endpoint);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start");
}

/// Raw stage moves: the reads and writes of AdvanceDealStage as plain SQL in one transaction.
async fn raw_move(db: &DatabaseConnection, deal: &str, to: &str) -> bool {
    let backend = db.get_database_backend();
    let Ok(txn) = db
        .begin_with_options(sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
    else {
        return false;
    };
    let q = |sql: &str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(backend, sql, values)
    };
    let now = Utc::now();
    let row = txn
        .query_one_raw(q(
            "SELECT version, pipeline_id, stage_id, owner_id FROM deals WHERE id = $1",
            vec![deal.into()],
        ))
        .await;
    let Ok(Some(row)) = row else { return false };
    let version: i64 = row.try_get("", "version").unwrap();
    let pipeline: String = row.try_get("", "pipeline_id").unwrap();
    let from: String = row.try_get("", "stage_id").unwrap();
    let owner: String = row.try_get("", "owner_id").unwrap();
    let _ = txn
        .query_all_raw(q(
            "SELECT * FROM deal_contacts WHERE deal_id = $1",
            vec![deal.into()],
        ))
        .await;
    let steps = [
        (
            "UPDATE deals SET stage_id = $1, version = $2, updated_at = $3, stage_entered_at = $3 \
             WHERE id = $4 AND version = $5",
            vec![
                to.into(),
                (version + 1).into(),
                now.into(),
                deal.into(),
                version.into(),
            ],
        ),
        (
            "INSERT INTO stage_history (deal_id, pipeline_id, from_stage, to_stage, changed_at, \
             direction, overridden, justification) VALUES ($1, $2, $3, $4, $5, 'FORWARD', false, '')",
            vec![
                deal.into(),
                pipeline.clone().into(),
                from.clone().into(),
                to.into(),
                now.into(),
            ],
        ),
        (
            "INSERT INTO field_history (deal_id, changed_at, field, old_value, new_value) \
             VALUES ($1, $2, 'stage', $3, $4)",
            vec![deal.into(), now.into(), from.clone().into(), to.into()],
        ),
        (
            "INSERT INTO audit_events (action, resource, detail, created_at) \
             VALUES ('AdvanceDealStage', $1, '', $2)",
            vec![deal.into(), now.into()],
        ),
        (
            "INSERT INTO deal_events (deal_id, pipeline_id, owner_id, kind, from_stage, to_stage, \
             fields, description, created_at) VALUES ($1, $2, $3, 'STAGE_MOVED', $4, $5, '', '', $6)",
            vec![
                deal.into(),
                pipeline.into(),
                owner.into(),
                from.into(),
                to.into(),
                now.into(),
            ],
        ),
    ];
    for (sql, values) in steps {
        if txn.execute_raw(q(sql, values)).await.is_err() {
            return false;
        }
    }
    txn.commit().await.is_ok()
}

/// The hand-written SQL of the period rates' observation counts (DESIGN.md, "Learning q"): per
/// kind of period, stage and horizon bucket, how many (deal, weekly instant) pairs had the deal
/// open with its close date in the instant's period, and how many distinct deals, each deal's
/// stage, status and close date as of the instant read from its field history (the latest row
/// by then, else the earliest row's old value, else today's value). The instants are the
/// learning's: every 7 days back from the end of the window's last day (UTC) within the window,
/// for months and quarters whose period ended by then.
fn period_rate_counts_sql(
    pipeline: uuid::Uuid,
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

fn push(
    rows: &mut Vec<Row>,
    engine: &str,
    operation: &str,
    unit: &'static str,
    (median, p99): (f64, f64),
    baseline: f64,
    target: (&str, bool),
) {
    let ratio = median / baseline.max(1e-9);
    rows.push(Row {
        engine: engine.into(),
        operation: operation.into(),
        unit,
        median,
        p99,
        baseline,
        ratio,
        target: target.0.into(),
        met: target.1,
    });
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
    let load_only = std::env::args().any(|a| a == "--load-only");
    // Keeps the SQLite file (its path is printed) to study its queries after the run.
    let keep_database = std::env::args().any(|a| a == "--keep-database");
    // A database kept by an earlier run, measured again without a load (one engine: its own).
    let reuse = arg("--database");
    let engines = match &reuse {
        Some(url) if url.starts_with("postgres") => "postgres".into(),
        Some(_) => "sqlite".into(),
        None => arg("--engines").unwrap_or_else(|| "sqlite,postgres".into()),
    };
    // Which measurements to run (default: all of them).
    let only = arg("--only").unwrap_or_else(|| SECTIONS.join(","));
    let wants = |section: &str| only.split(',').any(|s| s.trim() == section);
    let runs = arg("--runs")
        .and_then(|r| r.parse().ok())
        .unwrap_or(if deals > 200_000 { 7 } else { 25 });
    let mut rows: Vec<Row> = Vec::new();
    let mut loads: Vec<Load> = Vec::new();
    for engine in engines.split(',').map(str::trim) {
        let (url, drop_after) = match &reuse {
            Some(url) => (url.clone(), None),
            None => fresh_database(engine).await,
        };
        let store = startup::open_store(&url).await.expect("open the database");
        if keep_database {
            println!("[{engine}] database: {url}");
        }
        let (token, manager, pipeline) = if reuse.is_some() {
            reuse_org(&store).await
        } else {
            let org = load_org(&store, engine, deals, open).await;
            let l = &org.load;
            println!(
                "[{engine}] loaded {} deals ({} open), {} stage changes, {} approval requests, \
             {} people: {} rows in {:.1} s ({:.1} s inserting), {:.0} rows/s, {:.0} MiB",
                l.deals,
                l.open_deals,
                l.stage_history,
                l.approval_requests,
                l.people,
                l.rows,
                l.seconds,
                l.insert_seconds,
                l.rows_per_second,
                l.database_mib
            );
            loads.push(org.load);
            (org.token, org.manager, org.pipeline)
        };
        if load_only {
            drop(store);
            if !keep_database && reuse.is_none() {
                drop_database(drop_after).await;
                remove_sqlite_files(&url);
            }
            continue;
        }
        let db = store.connection().clone();
        let backend = db.get_database_backend();
        if backend == sea_orm::DatabaseBackend::Postgres {
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
        let (mut server, channel, endpoint) = start_server(&url).await;
        let rss_start = rss_mib(server.id());
        let forecasts = pb::forecast_service_client::ForecastServiceClient::new(channel.clone());
        // Memory after one org forecast alone, before any other load: what serving the biggest
        // read costs, to compare between org sizes.
        let now = Utc::now();
        let quarter =
            dealdesk::domain::period::FiscalCalendar::default().quarter_of(now.date_naive());
        forecasts
            .clone()
            .get_forecast(authed(
                &token,
                pb::GetForecastRequest {
                    period: quarter.to_string(),
                    scope: "org".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("the org forecast");
        let rss_forecast = rss_mib(server.id());

        if wants("winrates") {
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
                window_start: date(window_start),
                window_end: date(window_end),
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
                    let request = authed(&token, win_rate_request.clone());
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
                &mut rows,
                engine,
                "ComputeWinRates (mid-market)",
                "ms",
                ours,
                baseline.0,
                ("<= 2x", ratio <= 2.0),
            );
        }
        if wants("forecast") {
            // GetForecast, org and one manager, vs the hand-written SQL of the sums its answer
            // is made of (DESIGN.md "Weighted forecast", "Not-yet-created pipeline"), run one
            // after the other on one connection: the period's open deals by pipeline, stage,
            // currency, size band and pushes so far (q and the stage rates weigh those sums, a
            // few hundred multiplications); its won deals by currency; and the revenue booked in
            // each of the past four quarters by deals created after the same point of them, by
            // owner and currency. The values are written into the text, as by hand: PostgreSQL
            // plans it for them once and keeps that plan, where a prepared statement's
            // parameters may leave it, after five executions, with a generic plan (for the
            // manager's subtree, one that reads the whole org's quarter: 4 ms instead of 1).
            let (q_start, q_end) = quarter.bounds(Default::default());
            let calendar = dealdesk::domain::calendar::OrgCalendar::default();
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
            let usd: String =
                TO_USD
                    .iter()
                    .fold(String::from("CASE d.currency"), |sql, (from, rate)| {
                        format!("{sql} WHEN '{}' THEN d.amount_minor * {rate}", from.code())
                    })
                    + " ELSE d.amount_minor END";
            let forecast_sql = |owners: &str| {
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
                ]
            };
            let subtree = format!(
                "AND d.owner_id IN (WITH RECURSIVE t(id) AS (SELECT id FROM users WHERE id = '{}' \
                 UNION ALL SELECT u.id FROM users u JOIN t ON u.manager_id = t.id) SELECT id FROM t)",
                manager.0
            );
            for (label, scope, owners) in [
                ("GetForecast whole org", "org".to_string(), ""),
                (
                    "GetForecast one manager",
                    format!("users/{}", manager.0),
                    subtree.as_str(),
                ),
            ] {
                let request = pb::GetForecastRequest {
                    period: quarter.to_string(),
                    scope,
                    ..Default::default()
                };
                let sql = forecast_sql(owners);
                let (ours, baseline) = time_in_turns_ms(
                    runs,
                    FORECAST_WARMUP,
                    || {
                        let request = authed(&token, request.clone());
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
                    &mut rows,
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
        // AdvanceDealStage: 16 clients moving open deals one stage back (always allowed) and
        // forward again (gated: a deal whose criteria no longer hold, e.g. a close date now
        // past, fails and is counted apart).
        let open = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                "SELECT d.id, d.stage_id FROM deals d WHERE d.status = 'OPEN' AND d.pipeline_id = $1 \
                 AND d.stage_id <> 'problem-recognized' LIMIT 320",
                [pipeline.to_string().into()],
            ))
            .await
            .unwrap();
        let pipeline_stages: Vec<String> = {
            let p = store.get_pipeline(pipeline).await.unwrap().unwrap();
            p.spec.stages.iter().map(|s| s.stage_id.clone()).collect()
        };
        let moves: Arc<Vec<(String, String, String)>> = Arc::new(
            open.iter()
                .map(|r| {
                    let id: String = r.try_get("", "id").unwrap();
                    let stage: String = r.try_get("", "stage_id").unwrap();
                    let at = pipeline_stages.iter().position(|s| *s == stage).unwrap();
                    (id, stage, pipeline_stages[at - 1].clone())
                })
                .collect(),
        );
        if wants("advance") {
            let per_worker = (moves.len() / 16).max(1);
            let deals_client = pb::deal_service_client::DealServiceClient::new(channel.clone());
            let (token2, moves2) = (token.clone(), moves.clone());
            let (ours_tput, ours_failed) = throughput(16, window, move |worker, i| {
                let mut client = deals_client.clone();
                let (token, moves) = (token2.clone(), moves2.clone());
                async move {
                    let (id, home, back) =
                        &moves[(worker * per_worker + (i as usize / 2) % per_worker) % moves.len()];
                    let target = if i % 2 == 0 { back } else { home };
                    client
                        .advance_deal_stage(authed(
                            &token,
                            pb::AdvanceDealStageRequest {
                                name: format!("deals/{id}"),
                                target_stage: target.clone(),
                                ..Default::default()
                            },
                        ))
                        .await
                        .is_ok()
                }
            })
            .await;
            let (db2, moves3) = (db.clone(), moves.clone());
            let (raw_tput, raw_failed) = throughput(16, window, move |worker, i| {
                let (db, moves) = (db2.clone(), moves3.clone());
                async move {
                    let (id, home, back) =
                        &moves[(worker * per_worker + (i as usize / 2) % per_worker) % moves.len()];
                    let target = if i % 2 == 0 { home } else { back };
                    raw_move(&db, id, target).await
                }
            })
            .await;
            println!(
                "[{engine}] AdvanceDealStage: {ours_failed} failed calls; raw: {raw_failed} failed transactions"
            );
            let ratio = ours_tput / raw_tput;
            push(
                &mut rows,
                engine,
                "AdvanceDealStage, 16 clients",
                "calls/s",
                (ours_tput, ours_tput),
                raw_tput,
                (">= 50% of raw", ratio >= 0.5),
            );
        }
        if wants("preview") {
            // PreviewApprovalRoute vs the health Check: 64 in flight over 4 connections. The three
            // calls take turns in short windows, so a change in the machine's load during the
            // measurement weighs on each alike rather than on whichever ran last.
            let (id, _, _) = moves[0].clone();
            let mut channels = Vec::new();
            for _ in 0..4 {
                let endpoint = Channel::from_shared(endpoint.clone()).unwrap();
                channels.push(endpoint.connect().await.unwrap());
            }
            let channels = Arc::new(channels);
            let (c1, token3) = (channels.clone(), token.clone());
            let preview_call = move |worker: usize, _| {
                let mut client = pb::deal_desk_service_client::DealDeskServiceClient::new(
                    c1[worker % 4].clone(),
                );
                let (token, id) = (token3.clone(), id.clone());
                async move {
                    client
                        .preview_approval_route(authed(
                            &token,
                            pb::PreviewApprovalRouteRequest {
                                deal: format!("deals/{id}"),
                                discount_bps: 2200,
                                clauses: vec!["MUTUAL_NDA".into(), "UNCAPPED".into()],
                                payment_days: 60,
                                ..Default::default()
                            },
                        ))
                        .await
                        .is_ok()
                }
            };
            let c2 = channels.clone();
            let health_call = move |worker: usize, _| {
                let mut client = HealthClient::new(c2[worker % 4].clone());
                async move { client.check(HealthCheckRequest::default()).await.is_ok() }
            };
            // The ceiling of any call that reads the database, against the same health Check:
            // GetUser authenticates (cached) and reads one row by its key, nothing else.
            let (c3, token4) = (channels.clone(), token.clone());
            let get_user_call = move |worker: usize, _| {
                let mut client = pb::directory_service_client::DirectoryServiceClient::new(
                    c3[worker % 4].clone(),
                );
                let request = pb::GetUserRequest {
                    name: format!("users/{}", manager.0),
                };
                let token = token4.clone();
                async move { client.get_user(authed(&token, request)).await.is_ok() }
            };
            const TURNS: u32 = 5;
            let turn = window / TURNS;
            let (mut preview, mut health, mut get_user) = (0.0, 0.0, 0.0);
            for _ in 0..TURNS {
                preview += throughput(64, turn, preview_call.clone()).await.0 / f64::from(TURNS);
                health += throughput(64, turn, health_call.clone()).await.0 / f64::from(TURNS);
                get_user += throughput(64, turn, get_user_call.clone()).await.0 / f64::from(TURNS);
            }
            let ratio = preview / health;
            push(
                &mut rows,
                engine,
                "PreviewApprovalRoute, 64 in flight",
                "calls/s",
                (preview, preview),
                health,
                (">= 70% of health Check", ratio >= 0.7),
            );
            push(
                &mut rows,
                engine,
                "reference: GetUser (one row), 64 in flight",
                "calls/s",
                (get_user, get_user),
                health,
                (REFERENCE, true),
            );
        }
        if wants("flood") {
            // Issue 20's heavy-read flood: 200 concurrent ListDeals of 500 a page from one token
            // (on 4 connections of its own) for the window, while another user calls
            // GetCurrentUser one call after another on a connection of their own: that user's
            // latency under the flood, against the same calls with none.
            let app = App::new(store.clone());
            let other = person(&app, Role::Rep, Some(manager), 900_000).await;
            let other_token = app
                .issue_token_as(None, other.id, "bench-flood")
                .await
                .unwrap()
                .secret;
            let own = Channel::from_shared(endpoint.clone())
                .unwrap()
                .connect()
                .await
                .unwrap();
            let others_calls = |until: Instant| {
                let mut client =
                    pb::directory_service_client::DirectoryServiceClient::new(own.clone());
                let token = other_token.clone();
                async move {
                    let mut latencies = Vec::new();
                    while Instant::now() < until {
                        let started = Instant::now();
                        client
                            .get_current_user(authed(&token, pb::GetCurrentUserRequest {}))
                            .await
                            .expect("the other user is served");
                        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    latencies
                }
            };
            let quiet = others_calls(Instant::now() + window).await;
            let mut flooders = Vec::new();
            for _ in 0..4 {
                let endpoint = Channel::from_shared(endpoint.clone()).unwrap();
                flooders.push(endpoint.connect().await.unwrap());
            }
            let until = Instant::now() + window;
            let (answered, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
            let flood: Vec<_> = (0..200)
                .map(|i| {
                    let mut client =
                        pb::deal_service_client::DealServiceClient::new(flooders[i % 4].clone());
                    let (token, answered, refused) =
                        (token.clone(), answered.clone(), refused.clone());
                    tokio::spawn(async move {
                        while Instant::now() < until {
                            let request = pb::ListDealsRequest {
                                page_size: 500,
                                ..Default::default()
                            };
                            match client.list_deals(authed(&token, request)).await {
                                Ok(_) => answered.fetch_add(1, Ordering::Relaxed),
                                Err(_) => refused.fetch_add(1, Ordering::Relaxed),
                            };
                        }
                    })
                })
                .collect();
            let flooded = others_calls(until).await;
            for task in flood {
                task.await.unwrap();
            }
            let spread = |mut ms: Vec<f64>| {
                ms.sort_by(f64::total_cmp);
                let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
                (at(0.5), at(0.99))
            };
            let (under, baseline) = (spread(flooded), spread(quiet));
            println!(
                "[{engine}] flood: {} ListDeals answered, {} refused in {:?}",
                answered.load(Ordering::Relaxed),
                refused.load(Ordering::Relaxed),
                window
            );
            push(
                &mut rows,
                engine,
                "GetCurrentUser under 200 ListDeals of 500 from another token",
                "ms",
                under,
                baseline.0,
                ("p99 < 100 ms", under.1 < 100.0),
            );
        }
        let rss_end = rss_mib(server.id());
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
        let _ = server.kill();
        let _ = server.wait();
        drop(store);
        if !keep_database && reuse.is_none() {
            drop_database(drop_after).await;
            remove_sqlite_files(&url);
        }
    }
    println!(
        "\n{:<10} {:>6} {:>9} {:>8} {:>10} {:>9} {:>11} {:>8} {:>10} {:>9}",
        "engine",
        "people",
        "deals",
        "open",
        "history",
        "requests",
        "rows",
        "load s",
        "rows/s",
        "size MiB"
    );
    for l in &loads {
        println!(
            "{:<10} {:>6} {:>9} {:>8} {:>10} {:>9} {:>11} {:>8.1} {:>10.0} {:>9.0}",
            l.engine,
            l.people,
            l.deals,
            l.open_deals,
            l.stage_history,
            l.approval_requests,
            l.rows,
            l.seconds,
            l.rows_per_second,
            l.database_mib
        );
    }
    println!(
        "\n{:<10} {:<42} {:>12} {:>12} {:>12} {:>8}  target",
        "engine", "operation", "median", "p99", "baseline", "ratio"
    );
    for r in &rows {
        println!(
            "{:<10} {:<42} {:>12.1} {:>12.1} {:>12.1} {:>7.2}x  {} {} ({})",
            r.engine,
            r.operation,
            r.median,
            r.p99,
            r.baseline,
            r.ratio,
            r.target,
            match (r.target == REFERENCE, r.met) {
                (true, _) => "for comparison",
                (false, true) => "met",
                (false, false) => "MISSED",
            },
            r.unit
        );
    }
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "loads": loads,
        "results": rows,
    }))
    .unwrap();
    // Beside the build, wherever CARGO_TARGET_DIR puts it.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&target).expect("the target directory");
    let path = target.join("bench-suite.json");
    std::fs::write(&path, json).expect("write the results");
    println!("\nwritten to {}", path.display());
}
