//! What the benchmarks share: their command-line flags, an authenticated request, bench people,
//! a scratch database per engine, a `dealdesk serve` child, and `/proc` readings of a process.

// Each bench target compiles this module and uses part of it.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dealdesk::app::App;
use dealdesk::app::ports::Created;
use dealdesk::domain::directory::{Role, User, UserDraft, UserId};
use dealdesk::persistence::SqlStore;
use sea_orm::{ConnectionTrait, Database};
use tonic::Request;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Whether `name` is on the command line.
pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// `message` with `token` as its bearer.
pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// Bench user number `n` of `role`, e-mail `<role><n>@bench.example` (how a kept database finds
/// its people again).
pub async fn person(app: &App<SqlStore>, role: Role, manager: Option<UserId>, n: usize) -> User {
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

/// A new token of `user`'s.
pub async fn token(app: &App<SqlStore>, user: &User) -> String {
    app.issue_token_as(None, user.id, "bench")
        .await
        .expect("a bench token")
        .secret
}

/// A database made for one run: a SQLite file in the temporary folder, or a PostgreSQL
/// database made on `DEALDESK_BENCH_POSTGRES_URL` (else `DEALDESK_TEST_POSTGRES_URL`, else
/// `postgres://postgres@127.0.0.1:5432/test`). [`ScratchDatabase::remove`] deletes it.
pub struct ScratchDatabase {
    pub url: String,
    /// For PostgreSQL: the server's URL to connect to, and the database made on it.
    made_on: Option<(String, String)>,
}

impl ScratchDatabase {
    /// A fresh, empty database of `engine` (`sqlite` or `postgres`).
    pub async fn new(engine: &str) -> ScratchDatabase {
        let unique = uuid::Uuid::now_v7().simple().to_string();
        if engine == "sqlite" {
            let path = std::env::temp_dir().join(format!("dealdesk-bench-{unique}.db"));
            return ScratchDatabase {
                url: format!("sqlite://{}?mode=rwc", path.display()),
                made_on: None,
            };
        }
        let base = std::env::var("DEALDESK_BENCH_POSTGRES_URL")
            .or_else(|_| std::env::var("DEALDESK_TEST_POSTGRES_URL"))
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("dd_bench_{unique}");
        let admin = Database::connect(base.as_str()).await.expect("PostgreSQL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        let (server, _) = base.rsplit_once('/').expect("a URL ending in /database");
        ScratchDatabase {
            url: format!("{server}/{name}"),
            made_on: Some((base.clone(), name)),
        }
    }

    /// Deletes the database: drops the PostgreSQL one, or removes the SQLite file with its WAL
    /// (the large org's file is near 3 GiB).
    pub async fn remove(self) {
        if let Some((base, name)) = self.made_on {
            if let Ok(admin) = Database::connect(base.as_str()).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        } else if let Some(path) = self
            .url
            .strip_prefix("sqlite://")
            .and_then(|p| p.strip_suffix("?mode=rwc"))
        {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
}

/// A `dealdesk serve` child process on a free port, killed when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Server {
    /// Starts `dealdesk serve` on `url` and waits until health says SERVING. Another build of
    /// the server (`DEALDESK_BENCH_SERVER`) may be measured, to compare two. Its log goes to
    /// `DEALDESK_BENCH_SERVER_LOG` if set (`RUST_LOG` then sets what it logs, e.g.
    /// `warn,sqlx::query=debug` for each statement's time), else nowhere.
    pub async fn start(url: &str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let binary =
            std::env::var("DEALDESK_BENCH_SERVER").unwrap_or(env!("CARGO_BIN_EXE_dealdesk").into());
        let log = std::env::var("DEALDESK_BENCH_SERVER_LOG")
            .ok()
            .and_then(|path| std::fs::File::create(path).ok())
            .map_or(Stdio::null(), Stdio::from);
        let child = Command::new(binary)
            .args(["--database-url", url, "serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--escalation-every-seconds", "0"])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dealdesk serve");
        let server = Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if let Ok(channel) = server.try_channel().await
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

    async fn try_channel(&self) -> Result<Channel, tonic::transport::Error> {
        Channel::from_shared(self.endpoint.clone())
            .unwrap()
            .connect()
            .await
    }

    /// A new HTTP/2 connection to the server.
    pub async fn channel(&self) -> Channel {
        self.try_channel().await.expect("connect to the server")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/<pid>/status` size in MiB: `VmRSS` (resident now) or `VmHWM` (peak resident).
fn status_mib(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

/// Resident memory of a process, in MiB (0 once it is gone).
pub fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS").unwrap_or(0.0)
}

/// The peak resident memory of a process so far, in MiB.
pub fn peak_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "VmHWM")
}

/// CPU time process `pid` used so far (user + system).
pub fn cpu_of(pid: u32) -> Duration {
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
