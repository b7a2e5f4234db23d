//! Idle event streams: what 2,000 open, idle `WatchDealEvents` streams cost the real server
//! (a `dealdesk serve` child process), and how long one new event takes to reach all of them,
//! on SQLite, on PostgreSQL, and on PostgreSQL across two replicas sharing the database (half
//! the streams on each, the writes through the first).
//!
//! ```text
//! cargo bench --bench watch                         # 2,000 streams, 10 s, both engines
//! cargo bench --bench watch -- --streams 2000 --seconds 10 --events 5 --cases sqlite,postgres,replicas
//! cargo bench --bench watch -- --cases silent       # 510 connections that never send a request
//! ```
//!
//! The streams belong to deal desk users (who see every deal), 16 each (the default per-user
//! limit), 100 per HTTP/2 connection. Once every stream is open and has gone quiet, the server's
//! CPU time (user + system, from `/proc`) is read over `--seconds`: the target is under 5% of
//! one core. Then `--events` deals are created one at a time through the first server, and for
//! each the time from the call to the moment the last of the streams received it is taken: the
//! target is under 1 s. `DEALDESK_BENCH_SERVER` names another build of the server to measure.
//!
//! PostgreSQL runs in a fresh database made on `DEALDESK_BENCH_POSTGRES_URL` (else
//! `DEALDESK_TEST_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test`), dropped after.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dealdesk::app::App;
use dealdesk::app::ports::Created;
use dealdesk::domain::directory::{Role, User, UserDraft};
use dealdesk::domain::templates;
use dealdesk::persistence::SqlStore;
use dealdesk::proto as pb;
use dealdesk::proto::deal_service_client::DealServiceClient;
use dealdesk::startup;
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::mpsc;
use tonic::Request;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Streams per user: the default per-user limit.
const PER_USER: usize = 16;
/// Streams per HTTP/2 connection (under the server's concurrent-stream limit).
const PER_CONNECTION: usize = 100;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A fresh database for `engine`, and (for PostgreSQL) how to drop it.
async fn fresh_database(engine: &str) -> (String, Option<(String, String)>) {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    if engine == "sqlite" {
        let path = std::env::temp_dir().join(format!("dealdesk-bench-watch-{unique}.db"));
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

/// Drops what [`fresh_database`] made.
async fn drop_database(url: &str, made: Option<(String, String)>) {
    if let Some((base, name)) = made {
        if let Ok(admin) = Database::connect(base.as_str()).await {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    } else if let Some(path) = url
        .strip_prefix("sqlite://")
        .and_then(|p| p.strip_suffix("?mode=rwc"))
    {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
}

/// A `dealdesk serve` child, killed when dropped.
struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `dealdesk serve` on a free port and waits until health says SERVING.
    async fn start(url: &str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dealdesk serve");
        let server = Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if let Ok(channel) = server.channel().await
                && HealthClient::new(channel)
                    .check(HealthCheckRequest::default())
                    .await
                    .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not start");
    }

    async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        Channel::from_shared(self.endpoint.clone())
            .unwrap()
            .connect()
            .await
    }

    /// CPU time the process used so far (user + system).
    fn cpu(&self) -> Duration {
        cpu_of(self.child.id())
    }
}

/// CPU time this process (the clients) used so far.
fn own_cpu() -> Duration {
    cpu_of(std::process::id())
}

/// CPU time process `pid` used so far (user + system).
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is the first; utime and
    // stime are the 12th and 13th, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The org: deal desk watchers (one token each), a rep who writes, and a pipeline.
struct Org {
    watchers: Vec<String>,
    rep: String,
    pipeline: String,
}

async fn person(app: &App<SqlStore>, role: Role, n: usize) -> (User, String) {
    let draft = UserDraft {
        display_name: format!("{} {n}", role.as_str()),
        email: format!("{}{n}@bench.example", role.as_str().to_lowercase()),
        role: Some(role),
        manager_id: None,
        active: true,
    };
    let user = match app.create_user_as(None, draft, None, |_| Vec::new()).await {
        Ok(Created::New(user)) => user,
        other => panic!("bench user: {other:?}"),
    };
    let token = app.issue_token_as(None, user.id, "bench").await.unwrap();
    (user, token.secret)
}

async fn seed(url: &str, streams: usize) -> Org {
    let store = startup::open_store(url).await.expect("open the store");
    let app = App::new(store);
    let mut watchers = Vec::new();
    for n in 0..streams.div_ceil(PER_USER) {
        watchers.push(person(&app, Role::DealDesk, n).await.1);
    }
    let (_, rep) = person(&app, Role::Rep, 0).await;
    let pipeline = match app
        .create_pipeline_as(None, templates::smb(), None, |_| Vec::new())
        .await
    {
        Ok(Created::New(p)) => p,
        other => panic!("bench pipeline: {other:?}"),
    };
    Org {
        watchers,
        rep,
        pipeline: format!("pipelines/{}", pipeline.id),
    }
}

/// Opens `streams` idle deal event streams, spread over `servers`; every event any of them
/// receives is reported on the channel as the instant it came.
async fn open_streams(
    servers: &[&Server],
    org: &Org,
    streams: usize,
) -> mpsc::UnboundedReceiver<Instant> {
    let (arrived, arrivals) = mpsc::unbounded_channel();
    let mut channel = None;
    for i in 0..streams {
        if i % PER_CONNECTION == 0 {
            let server = servers[(i / PER_CONNECTION) % servers.len()];
            channel = Some(server.channel().await.expect("connect"));
        }
        let mut client = DealServiceClient::new(channel.clone().unwrap());
        let token = &org.watchers[i / PER_USER];
        let mut stream = client
            .watch_deal_events(authed(token, pb::WatchDealEventsRequest::default()))
            .await
            .unwrap_or_else(|status| panic!("stream {i} refused: {status:?}"))
            .into_inner();
        let arrived = arrived.clone();
        tokio::spawn(async move {
            while let Ok(Some(_)) = stream.message().await {
                if arrived.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
    }
    arrivals
}

/// One case's figures.
struct Figures {
    case: String,
    /// CPU of each server while idle, as a share of one core.
    idle_cpu: Vec<f64>,
    /// Per event: from the write to the last stream receiving it.
    latencies: Vec<Duration>,
    /// Per event: the servers' CPU time from the write to the last delivery.
    delivery_cpu: Vec<Duration>,
}

async fn run_case(case: &str, streams: usize, window: Duration, events: usize) -> Figures {
    let engine = if case == "sqlite" {
        "sqlite"
    } else {
        "postgres"
    };
    let (url, made) = fresh_database(engine).await;
    let org = seed(&url, streams).await;
    let first = Server::start(&url).await;
    let second = if case == "replicas" {
        Some(Server::start(&url).await)
    } else {
        None
    };
    let servers: Vec<&Server> = std::iter::once(&first).chain(second.as_ref()).collect();
    let opening = Instant::now();
    let mut arrivals = open_streams(&servers, &org, streams).await;
    eprintln!(
        "{case}: {streams} streams open in {:.1} s",
        opening.elapsed().as_secs_f64()
    );
    // Let the streams' first reads finish.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let before: Vec<Duration> = servers.iter().map(|s| s.cpu()).collect();
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = started.elapsed().as_secs_f64();
    let idle_cpu = servers
        .iter()
        .zip(&before)
        .map(|(s, b)| (s.cpu() - *b).as_secs_f64() / elapsed)
        .collect();

    let mut writer = DealServiceClient::new(first.channel().await.unwrap());
    let mut latencies = Vec::new();
    let mut delivery_cpu = Vec::new();
    let cpu = || servers.iter().map(|s| s.cpu()).sum::<Duration>();
    for n in 0..events {
        while arrivals.try_recv().is_ok() {}
        let cpu_before = cpu();
        let own_before = own_cpu();
        let written = Instant::now();
        writer
            .create_deal(authed(
                &org.rep,
                pb::CreateDealRequest {
                    deal: Some(pb::Deal {
                        display_name: format!("Bench {n}"),
                        account: "Acme".into(),
                        pipeline: org.pipeline.clone(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("create a deal");
        let mut last = written;
        for received in 0..streams {
            match tokio::time::timeout(Duration::from_secs(30), arrivals.recv()).await {
                Ok(Some(at)) => last = last.max(at),
                _ => panic!("{case}: only {received} of {streams} streams got event {n}"),
            }
        }
        latencies.push(last - written);
        delivery_cpu.push(cpu() - cpu_before);
        eprintln!(
            "{case}: event {n} reached all in {:?}; servers' CPU {:?}, this client's {:?}",
            last - written,
            cpu() - cpu_before,
            own_cpu() - own_before
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(servers);
    drop(second);
    drop(first);
    drop_database(&url, made).await;
    Figures {
        case: case.into(),
        idle_cpu,
        latencies,
        delivery_cpu,
    }
}

/// Issue 20's held connections (`--cases silent`): 500 connections that send only the HTTP/2
/// preface and 10 that send nothing, against a server with the default first-request deadline
/// (10 s): the server's open file descriptors once they are open, and when each was closed.
async fn silent_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (url, _) = fresh_database("sqlite").await;
    startup::open_store(&url)
        .await
        .expect("create the database");
    let server = Server::start(&url).await;
    let fds =
        || std::fs::read_dir(format!("/proc/{}/fd", server.child.id())).map_or(0, |d| d.count());
    let before = fds();
    let addr = server.endpoint.trim_start_matches("http://").to_string();
    let opened = Instant::now();
    let mut held = Vec::new();
    for i in 0..510 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i < 500 {
            stream
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .unwrap();
        }
        held.push(tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            opened.elapsed()
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let while_held = fds();
    let mut closed = Vec::new();
    for task in held {
        match tokio::time::timeout(Duration::from_secs(60), task).await {
            Ok(Ok(at)) => closed.push(at),
            _ => eprintln!("a silent connection was still open after 60 s"),
        }
    }
    closed.sort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "silent connections: 510 opened; server fds {before} -> {while_held} while held -> {} \
         after; {} closed by the server, first at {:.1} s, last at {:.1} s",
        fds(),
        closed.len(),
        closed.first().map_or(0.0, Duration::as_secs_f64),
        closed.last().map_or(0.0, Duration::as_secs_f64),
    );
    drop(server);
    drop_database(&url, None).await;
}

#[tokio::main]
async fn main() {
    let streams: usize = arg("--streams").map_or(2000, |s| s.parse().unwrap());
    let seconds: u64 = arg("--seconds").map_or(10, |s| s.parse().unwrap());
    let events: usize = arg("--events").map_or(5, |s| s.parse().unwrap());
    let cases = arg("--cases").unwrap_or_else(|| "sqlite,postgres,replicas".into());
    let mut all = Vec::new();
    for case in cases.split(',').map(str::trim) {
        if case == "silent" {
            silent_connections().await;
            continue;
        }
        all.push(run_case(case, streams, Duration::from_secs(seconds), events).await);
    }
    println!(
        "\n| case | streams | idle CPU per server (target < 5% of a core) | event to all streams, median / max (target < 1 s) | servers' CPU per event, median |"
    );
    println!("|---|---|---|---|---|");
    for f in &all {
        let mut sorted = f.latencies.clone();
        sorted.sort();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
        let max = sorted.last().copied().unwrap_or_default();
        let cpu: Vec<String> = f
            .idle_cpu
            .iter()
            .map(|c| format!("{:.2}%", c * 100.0))
            .collect();
        let mut spent = f.delivery_cpu.clone();
        spent.sort();
        let spent = spent.get(spent.len() / 2).copied().unwrap_or_default();
        println!(
            "| {} | {streams} | {} | {:.0} ms / {:.0} ms | {:.0} ms |",
            f.case,
            cpu.join(" + "),
            median.as_secs_f64() * 1000.0,
            max.as_secs_f64() * 1000.0,
            spent.as_secs_f64() * 1000.0
        );
    }
}
