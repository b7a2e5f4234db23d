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
//! target is under 1 s. `DEALDESK_BENCH_SERVER` names another build of the server to measure,
//! `DEALDESK_BENCH_SERVER_LOG` a file for its log.
//!
//! PostgreSQL runs in a fresh database made on `DEALDESK_BENCH_POSTGRES_URL` (else
//! `DEALDESK_TEST_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test`), dropped after.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{ScratchDatabase, Server, arg, authed, cpu_of, person, token};
use dealdesk::app::App;
use dealdesk::app::ports::Created;
use dealdesk::domain::directory::Role;
use dealdesk::domain::templates;
use dealdesk::proto as pb;
use dealdesk::proto::deal_service_client::DealServiceClient;
use dealdesk::startup;
use tokio::sync::mpsc;

/// Streams per user: the default per-user limit.
const PER_USER: usize = 16;
/// Streams per HTTP/2 connection (under the server's concurrent-stream limit).
const PER_CONNECTION: usize = 100;

/// CPU time this process (the clients) used so far.
fn own_cpu() -> Duration {
    cpu_of(std::process::id())
}

/// The org: deal desk watchers (one token each), a rep who writes, and a pipeline.
struct Org {
    watchers: Vec<String>,
    rep: String,
    pipeline: String,
}

async fn seed(url: &str, streams: usize) -> Org {
    let store = startup::open_store(url).await.expect("open the store");
    let app = App::new(store);
    let mut watchers = Vec::new();
    for n in 0..streams.div_ceil(PER_USER) {
        let watcher = person(&app, Role::DealDesk, None, n).await;
        watchers.push(token(&app, &watcher).await);
    }
    let rep = token(&app, &person(&app, Role::Rep, None, 0).await).await;
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
            channel = Some(server.channel().await);
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
    let database = ScratchDatabase::new(engine).await;
    let org = seed(&database.url, streams).await;
    let first = Server::start(&database.url).await;
    let second = if case == "replicas" {
        Some(Server::start(&database.url).await)
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

    let before: Vec<Duration> = servers.iter().map(|s| cpu_of(s.pid())).collect();
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = started.elapsed().as_secs_f64();
    let idle_cpu = servers
        .iter()
        .zip(&before)
        .map(|(s, b)| (cpu_of(s.pid()) - *b).as_secs_f64() / elapsed)
        .collect();

    let mut writer = DealServiceClient::new(first.channel().await);
    let mut latencies = Vec::new();
    let mut delivery_cpu = Vec::new();
    let cpu = || servers.iter().map(|s| cpu_of(s.pid())).sum::<Duration>();
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
    database.remove().await;
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
    let database = ScratchDatabase::new("sqlite").await;
    startup::open_store(&database.url)
        .await
        .expect("create the database");
    let server = Server::start(&database.url).await;
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", server.pid())).map_or(0, |d| d.count());
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
    database.remove().await;
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
