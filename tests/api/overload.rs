//! Overload: a flood of slow calls degrades into RESOURCE_EXHAUSTED (no free slot) and
//! DEADLINE_EXCEEDED (cut at the deadline), never into a stuck server; health keeps answering
//! through it; the server recovers when the slowness ends; a cut call writes nothing.
//!
//! The calls are made slow for real: a second connection holds the database's write lock (an
//! IMMEDIATE transaction on SQLite, an EXCLUSIVE table lock on PostgreSQL), so every write
//! waits for it exactly as it would behind a long transaction or a stalled disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dealdesk::overload::Limits;
use dealdesk::proto as pb;
use dealdesk::proto::directory_service_client::DirectoryServiceClient;
use prost::Message;
use sea_orm::{
    ConnectionTrait, Database, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

use crate::fixtures::new_user;
use crate::helpers::*;

/// Starts the server on `backend` with `limits`; `None` when PostgreSQL is not configured.
async fn spawn_limited(backend: Backend, limits: Limits) -> Option<TestApp> {
    spawn_app_with(backend, move |application| application.with_limits(limits)).await
}

/// A transaction on its own connection holding the write lock the server's writes need.
struct WriteLock {
    transaction: DatabaseTransaction,
}

impl WriteLock {
    async fn take(app: &TestApp) -> WriteLock {
        let db = Database::connect(app.database_url.as_str()).await.unwrap();
        let transaction = match app.backend {
            Backend::Sqlite => db
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await
                .unwrap(),
            Backend::Postgres => {
                let transaction = db.begin().await.unwrap();
                transaction
                    .execute_unprepared("LOCK TABLE users IN EXCLUSIVE MODE")
                    .await
                    .unwrap();
                transaction
            }
        };
        WriteLock { transaction }
    }

    async fn release(self) {
        self.transaction.rollback().await.unwrap();
    }
}

async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn create_user(
    token: &str,
    email: &str,
    deadline: Option<Duration>,
) -> Request<pb::CreateUserRequest> {
    let mut request = authed(
        token,
        pb::CreateUserRequest {
            user: Some(new_user(email, pb::Role::Rep)),
            request_id: String::new(),
        },
    );
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    request
}

/// Users whose e-mail starts with `prefix`, counted straight in the database.
async fn users_like(app: &TestApp, prefix: &str) -> i64 {
    let db = Database::connect(app.database_url.as_str()).await.unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM users WHERE email LIKE '{prefix}%'"),
        ))
        .await
        .unwrap()
        .unwrap();
    let n = row.try_get::<i64>("", "n").unwrap();
    db.close().await.ok();
    n
}

/// What the flood got back.
#[derive(Debug, Default)]
struct Tally {
    shed: AtomicUsize,
    cut: AtomicUsize,
    other: std::sync::Mutex<Vec<String>>,
}

async fn flood_of_slow_writes_degrades_and_health_keeps_answering(backend: Backend) {
    // The server cuts at 500 ms; the clients ask for 5 s, so the cut is the server's (tonic's
    // client enforces its own deadline too, and would answer CANCELLED first).
    let limits = Limits {
        max_in_flight: 4,
        default_deadline: Some(Duration::from_millis(500)),
        ..Limits::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = listener.local_addr().unwrap();
    let Some(app) = spawn_app_with(backend, move |application| {
        application
            .with_limits(limits)
            .with_metrics_listener(listener)
    })
    .await
    else {
        return skipped();
    };
    let lock = WriteLock::take(&app).await;

    let tally = Arc::new(Tally::default());
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let clients = start_flood(&app, &tally, &flooding).await;

    // Streams take no slot: a watch opens while every slot is taken.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut deals =
        dealdesk::proto::deal_service_client::DealServiceClient::new(channel(&app).await);
    let watch = deals
        .watch_deal_events(authed(
            &app.admin_token,
            pb::WatchDealEventsRequest::default(),
        ))
        .await;
    assert!(watch.is_ok(), "a watch opens under the flood: {watch:?}");

    let (checks, slowest) = ask_health_for_3_seconds(&app).await;
    flooding.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    lock.release().await;

    let (shed, cut) = (
        tally.shed.load(Ordering::Relaxed),
        tally.cut.load(Ordering::Relaxed),
    );
    let other = tally.other.lock().unwrap().clone();
    assert!(
        other.is_empty(),
        "answers other than shed or cut: {other:?}"
    );
    assert!(shed > 0, "no call was shed");
    assert!(cut > 0, "no call was cut at its deadline");
    eprintln!(
        "{backend:?}: {} slow writes: {shed} RESOURCE_EXHAUSTED, {cut} DEADLINE_EXCEEDED; \
         {checks} health checks all SERVING, slowest {slowest:?}",
        shed + cut
    );
    check_flood_metrics(metrics, shed, cut).await;

    // Nothing the flood sent was written: every call was refused or cut before it committed.
    assert_eq!(users_like(&app, "flood-").await, 0);

    check_recovery(&app).await;
    // The watch opened under the flood is still alive and sees nothing spurious.
    let mut stream = watch.unwrap().into_inner();
    let next = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(
        next.is_err(),
        "the watch delivered {next:?} with no deal changed"
    );
}

/// 48 clients over 4 connections, each sending writes until `flooding` is cleared, each answer
/// counted in `tally`.
async fn start_flood(
    app: &TestApp,
    tally: &Arc<Tally>,
    flooding: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut connections = Vec::new();
    for _ in 0..4 {
        connections.push(channel(app).await);
    }
    let mut clients = Vec::new();
    for i in 0..48 {
        let mut directory = DirectoryServiceClient::new(connections[i % 4].clone());
        let token = app.admin_token.clone();
        let (tally, flooding) = (tally.clone(), flooding.clone());
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while flooding.load(Ordering::Relaxed) {
                n += 1;
                let email = format!("flood-{i}-{n}@test.example");
                let request = create_user(&token, &email, Some(Duration::from_secs(5)));
                let answer = directory.create_user(request).await;
                if tally.count(answer) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    clients
}

impl Tally {
    /// Counts one flood answer: shed (RESOURCE_EXHAUSTED `OVERLOADED` with a retry delay), cut
    /// (DEADLINE_EXCEEDED `DEADLINE_EXCEEDED`) or other. Whether the call was shed, so the
    /// client waits a little before the next.
    fn count<T: std::fmt::Debug>(&self, answer: Result<T, tonic::Status>) -> bool {
        match answer {
            Err(s) if s.code() == Code::ResourceExhausted => {
                let info = s.get_details_error_info().map(|i| i.reason);
                let retry = s.get_details_retry_info().and_then(|r| r.retry_delay);
                if info.as_deref() == Some("OVERLOADED") && retry.is_some() {
                    self.shed.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.other.lock().unwrap().push(format!("{s:?}"));
                }
                true
            }
            Err(s) if s.code() == Code::DeadlineExceeded => {
                let info = s.get_details_error_info().map(|i| i.reason);
                if info.as_deref() == Some("DEADLINE_EXCEEDED") {
                    self.cut.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.other.lock().unwrap().push(format!("{s:?}"));
                }
                false
            }
            other => {
                self.other.lock().unwrap().push(format!("{other:?}"));
                false
            }
        }
    }
}

/// Health asked every 50 ms for 3 s on its own connection: each answer must be SERVING within
/// 1 s. How many checks were made, and the slowest answer.
async fn ask_health_for_3_seconds(app: &TestApp) -> (usize, Duration) {
    let mut health = HealthClient::new(channel(app).await);
    let mut checks = 0;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let mut request = Request::new(HealthCheckRequest::default());
        request.set_timeout(Duration::from_secs(1));
        let asked = Instant::now();
        let answer = health
            .check(request)
            .await
            .expect("health answers under the flood");
        slowest = slowest.max(asked.elapsed());
        assert_eq!(answer.into_inner().status(), ServingStatus::Serving);
        checks += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (checks, slowest)
}

/// The metrics counted each refusal as the clients saw it, and no call holds a slot now.
async fn check_flood_metrics(metrics: std::net::SocketAddr, shed: usize, cut: usize) {
    let scrape = crate::metrics::http_get(metrics, "/metrics").await;
    let line = |l: String| scrape.lines().any(|x| x == l);
    let method = "dealdesk.v1.DirectoryService/CreateUser";
    for (code, n) in [("RESOURCE_EXHAUSTED", shed), ("DEADLINE_EXCEEDED", cut)] {
        let counter =
            format!("dealdesk_grpc_requests_total{{method=\"{method}\",code=\"{code}\"}} {n}");
        assert!(line(counter.clone()), "no line {counter} in {scrape}");
    }
    assert!(line("dealdesk_grpc_calls_in_flight 0".into()), "{scrape}");
    assert!(
        line("dealdesk_grpc_max_calls_in_flight 4".into()),
        "{scrape}"
    );
}

/// The server recovers: a write goes through (retried while cut calls' connections drain)
/// and is durable, seen from a connection of its own.
async fn check_recovery(app: &TestApp) {
    let mut directory = app.directory().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = create_user(&app.admin_token, "after-flood@test.example", None);
        match directory.create_user(request).await {
            Ok(_) => break,
            Err(s) if Instant::now() < deadline => {
                eprintln!("recovering: {:?}", s.code());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(s) => panic!("the server did not recover: {s:?}"),
        }
    }
    // More writes than the pool has connections, so every connection a cut call used serves
    // again: each write must commit, and be seen from outside.
    for k in 0..8 {
        let email = format!("after-flood-{k}@test.example");
        directory
            .create_user(create_user(&app.admin_token, &email, None))
            .await
            .unwrap();
    }
    assert_eq!(users_like(app, "after-flood").await, 9);
}

/// One unary call over gRPC-Web on a plain socket, with `grpc-timeout: {timeout}`: its
/// grpc-status and the whole response, lower-cased.
async fn grpc_web_call(
    app: &TestApp,
    path: &str,
    timeout: &str,
    message: &[u8],
) -> (Option<i32>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message);
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/grpc-web+proto\r\n\
         x-grpc-web: 1\r\nauthorization: Bearer {}\r\ngrpc-timeout: {timeout}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        app.addr,
        app.admin_token,
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_lowercase();
    let status = text
        .split("grpc-status:")
        .nth(1)
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
        })
        .and_then(|digits| digits.parse().ok());
    (status, text)
}

fn skipped() {
    if std::env::var_os("CI").is_some() {
        panic!("{POSTGRES_URL_VAR} must be set in CI");
    }
    eprintln!("{POSTGRES_URL_VAR} not set: PostgreSQL run skipped");
}

async fn deadlines_come_from_the_client_capped_by_the_server(backend: Backend) {
    let limits = Limits {
        max_in_flight: 16,
        default_deadline: Some(Duration::from_millis(400)),
        ..Limits::default()
    };
    let Some(app) = spawn_limited(backend, limits).await else {
        return skipped();
    };
    let mut directory = app.directory().await;
    let lock = WriteLock::take(&app).await;

    // No deadline from the client: the server's default cuts the call.
    let started = Instant::now();
    let status = directory
        .create_user(create_user(
            &app.admin_token,
            "nodeadline@test.example",
            None,
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::DeadlineExceeded, "DEADLINE_EXCEEDED");
    assert!(started.elapsed() >= Duration::from_millis(400));

    // A client deadline longer than the server's is capped by it.
    let status = directory
        .create_user(create_user(
            &app.admin_token,
            "longdeadline@test.example",
            Some(Duration::from_secs(60)),
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::DeadlineExceeded, "DEADLINE_EXCEEDED");
    assert!(
        status.message().contains("400ms"),
        "cut at the server's 400 ms: {}",
        status.message()
    );

    // A shorter client deadline is the one applied. tonic's client would cut the call itself
    // at its deadline, so this one comes the way a browser's fetch does (gRPC-Web over
    // HTTP/1.1), with a grpc-timeout header and no timer of its own.
    let message = pb::CreateUserRequest {
        user: Some(new_user("shortdeadline@test.example", pb::Role::Rep)),
        request_id: String::new(),
    };
    let (status, text) = grpc_web_call(
        &app,
        "/dealdesk.v1.DirectoryService/CreateUser",
        "100m",
        &message.encode_to_vec(),
    )
    .await;
    assert_eq!(status, Some(Code::DeadlineExceeded as i32), "{text}");
    assert!(text.contains("100ms"), "cut at the client's 100 ms: {text}");

    // A malformed grpc-timeout is refused, not ignored.
    let mut request = create_user(&app.admin_token, "badtimeout@test.example", None);
    request
        .metadata_mut()
        .insert("grpc-timeout", "5 seconds".parse().unwrap());
    let status = directory.create_user(request).await.unwrap_err();
    assert_error(&status, Code::InvalidArgument, "MALFORMED_GRPC_TIMEOUT");

    lock.release().await;
    // Reads never needed the lock, and none of the cut writes landed.
    let me = directory
        .get_current_user(authed(&app.admin_token, pb::GetCurrentUserRequest {}))
        .await
        .unwrap();
    assert_eq!(me.into_inner().email, app.admin.email);
    for prefix in ["nodeadline", "longdeadline", "shortdeadline", "badtimeout"] {
        assert_eq!(users_like(&app, prefix).await, 0, "{prefix}");
    }
}

macro_rules! both_engines {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    };
}

both_engines!(flood_of_slow_writes_degrades_and_health_keeps_answering);
both_engines!(deadlines_come_from_the_client_capped_by_the_server);

/// A flood of heavy reads (ListDeals, 500 a page) from one caller: each of its calls is
/// answered or refused with RESOURCE_EXHAUSTED and a RetryInfo (its own budget, `CALLER_BUSY`,
/// or the process's, `READS_BUSY`), never left to queue; another user is served throughout;
/// and the budget is whole again afterwards.
async fn a_flood_of_heavy_reads_from_one_caller_leaves_others_served(backend: Backend) {
    let limits = Limits {
        max_heavy_per_caller: 2,
        ..Limits::default()
    };
    let Some(app) = spawn_limited(backend, limits).await else {
        return skipped();
    };
    let (_, flooder) = app.user(dealdesk::domain::directory::Role::Rep, None).await;
    let (other, other_token) = app.user(dealdesk::domain::directory::Role::Rep, None).await;
    let deals = app.deals().await;
    let list = |token: &str| {
        authed(
            token,
            pb::ListDealsRequest {
                page_size: 500,
                ..Default::default()
            },
        )
    };
    let flood: Vec<_> = (0..60)
        .map(|_| {
            let mut deals = deals.clone();
            let request = list(&flooder);
            tokio::spawn(async move { deals.list_deals(request).await })
        })
        .collect();
    let mut directory = app.directory().await;
    for _ in 0..20 {
        let me = directory
            .get_current_user(authed(&other_token, pb::GetCurrentUserRequest {}))
            .await
            .unwrap();
        assert_eq!(me.into_inner().name, other.name);
    }
    for call in flood {
        if let Err(status) = call.await.unwrap() {
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
            let reason = status.get_details_error_info().unwrap().reason;
            assert!(
                ["CALLER_BUSY", "READS_BUSY"].contains(&reason.as_str()),
                "{reason}"
            );
            assert!(status.get_details_retry_info().is_some());
        }
    }
    // Every turn came back: the flooder's reads are served again, two at a time.
    let mut deals = app.deals().await;
    for _ in 0..2 {
        deals.list_deals(list(&flooder)).await.unwrap();
    }
}

both_engines!(a_flood_of_heavy_reads_from_one_caller_leaves_others_served);
