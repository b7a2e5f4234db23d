//! The harness: fresh databases, `dealdesk serve` child processes that die with their guard,
//! tokens from the CLI, an org seeded over gRPC, and a seeded random source.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dealdesk::proto as pb;
use dealdesk::proto::deal_desk_service_client::DealDeskServiceClient;
use dealdesk::proto::deal_service_client::DealServiceClient;
use dealdesk::proto::directory_service_client::DirectoryServiceClient;
use dealdesk::proto::pipeline_service_client::PipelineServiceClient;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

// Written once for both test binaries.
pub use crate::common::{POSTGRES_URL_VAR, authed, usd};

/// Seconds of load per harness (default 3, the CI setting); longer runs set it higher.
pub fn load_seconds() -> f64 {
    std::env::var("DEALDESK_RELIABILITY_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(3.0)
}

/// The random seed: `DEALDESK_RELIABILITY_SEED` to replay a run, else the clock (printed).
pub fn seed() -> u64 {
    std::env::var("DEALDESK_RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        })
}

/// xorshift64*: enough randomness to pick operations, and replayable from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Which database engine a harness runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A fresh database of its own; `dd_test_` databases are dropped by CI, SQLite files here.
pub struct Db {
    pub url: String,
    sqlite_file: Option<PathBuf>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

impl Db {
    /// A fresh database, or `None` (with a message) when PostgreSQL is asked for but not
    /// configured; in CI an unconfigured PostgreSQL is a failure, as in the api suite.
    pub async fn fresh(engine: Engine) -> Option<Db> {
        let unique = uuid::Uuid::now_v7().simple().to_string();
        if engine == Engine::Sqlite {
            let file = std::env::temp_dir().join(format!("dealdesk-reliability-{unique}.db"));
            return Some(Db {
                url: format!("sqlite://{}?mode=rwc", file.display()),
                sqlite_file: Some(file),
            });
        }
        let Some(base) = std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|u| !u.is_empty())
        else {
            if std::env::var_os("CI").is_some() {
                panic!("{POSTGRES_URL_VAR} must be set in CI");
            }
            eprintln!("{POSTGRES_URL_VAR} not set: PostgreSQL run skipped");
            return None;
        };
        Some(Db {
            url: crate::common::create_postgres_database(&base, &unique).await,
            sqlite_file: None,
        })
    }

    /// A direct connection, for what only the database shows (history rows, audit, events).
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.url.as_str())
            .await
            .expect("connect to the database")
    }
}

/// Integers from one SQL query's rows: `(text key, number)`.
pub async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<(String, i64)> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| {
            (
                row.try_get::<String>("", "k").expect("column k"),
                row.try_get::<i64>("", "n").expect("column n"),
            )
        })
        .collect()
}

/// One number from SQL (a query answering a column `n`).
pub async fn number(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("one row")
        .try_get::<i64>("", "n")
        .expect("column n")
}

/// A `dealdesk serve` child process; dropping the guard kills it (SIGKILL) and reaps it, on
/// every exit path including a failed assertion.
pub struct Server {
    child: Child,
    pub channel: Channel,
    pub log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The log is kept when a test fails, to read what the server said.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A channel to `endpoint` whose every call gives up after 15 s, so no client waits forever.
pub fn channel(endpoint: &str) -> Channel {
    Endpoint::from_shared(endpoint.to_string())
        .expect("endpoint")
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy()
}

impl Server {
    /// Starts `dealdesk serve` on `url` on a free loopback port, escalating every
    /// `escalate_every` seconds (0: never), and waits (at most 60 s) until health answers.
    pub async fn start(url: &str, escalate_every: u64) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::env::temp_dir().join(format!(
            "dealdesk-reliability-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let mut command = Command::new(env!("CARGO_BIN_EXE_dealdesk"));
        // Should this harness die without unwinding (killed by a CI timeout), its servers die
        // with it instead of serving on forever. The signal is asked for in the child between
        // fork and exec, where prctl (a plain system call) is safe to make.
        let die_with_parent = || {
            // SAFETY: prctl with PR_SET_PDEATHSIG only sets a flag of the calling process.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            Ok(())
        };
        // SAFETY: the hook touches no memory of the parent and allocates nothing.
        unsafe { command.pre_exec(die_with_parent) };
        let child = command
            .args([
                "--database-url",
                url,
                "--log-format",
                "json",
                "serve",
                "--listen",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--escalation-every-seconds")
            .arg(escalate_every.to_string())
            // Warnings and errors, and the escalation sweep's count of steps it escalated.
            .env("RUST_LOG", "warn,dealdesk::startup=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("server log file"))
            .spawn()
            .expect("start dealdesk serve");
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut server = Server {
            child,
            channel: channel(&endpoint),
            log,
        };
        for _ in 0..600 {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "dealdesk serve exited ({status}); see {}",
                    server.log.display()
                );
            }
            let mut health = HealthClient::new(server.channel.clone());
            if health.check(HealthCheckRequest::default()).await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("dealdesk serve did not answer health within 60 s");
    }

    /// The log lines (JSON objects) the server wrote so far.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Steps this server says it escalated (its sweep logs how many each time).
    pub fn steps_escalated(&self) -> u64 {
        self.log_lines()
            .iter()
            .filter(|l| l["fields"]["message"] == "approval steps escalated")
            .filter_map(|l| l["fields"]["steps"].as_u64())
            .sum()
    }

    /// Its ERROR lines (an internal error is logged there before INTERNAL is answered).
    pub fn errors_logged(&self) -> Vec<serde_json::Value> {
        self.log_lines()
            .into_iter()
            .filter(|l| l["level"] == "ERROR")
            .collect()
    }

    /// Another connection to the same server.
    pub fn connection(&self) -> Channel {
        self.channel.clone()
    }

    /// kill -9: no shutdown hook, no draining, no flush.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

/// Runs the CLI on `url` and returns what it printed.
pub fn cli(url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_dealdesk"))
        .args(["--database-url", url])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the dealdesk CLI");
    assert!(output.status.success(), "dealdesk {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs the CLI on `url` and returns the token it prints (`... shown once: <token>`).
pub fn cli_token(url: &str, args: &[&str]) -> String {
    let stdout = cli(url, args);
    stdout
        .lines()
        .find_map(|l| {
            l.split_once("shown once): ")
                .or_else(|| l.split_once("shown once: "))
        })
        .map(|(_, token)| token.trim().to_string())
        .unwrap_or_else(|| panic!("no token in {stdout}"))
}

/// A user and their token.
#[derive(Debug, Clone)]
pub struct Person {
    /// `users/{id}`.
    pub name: String,
    pub token: String,
}

/// A leader over a manager over `reps` reps, an admin, and an SMB pipeline without exit
/// criteria (every move is allowed, so refusals come only from concurrency).
pub struct Org {
    pub admin: Person,
    pub leader: Person,
    pub manager: Person,
    pub reps: Vec<Person>,
    pub pipeline: pb::Pipeline,
}

/// The open stages of [`Org::pipeline`], in order.
pub const OPEN_STAGES: [&str; 5] = ["s1", "s2", "s3", "s4", "s5"];

impl Org {
    /// Seeds the org through the API of `channel`: the admin's token from `create-admin`, each
    /// user created over gRPC, their token from `create-token`.
    pub async fn seed(url: &str, channel: &Channel, reps: usize) -> Org {
        let unique = uuid::Uuid::now_v7().simple().to_string();
        let admin_email = format!("admin-{unique}@reliability.example");
        let admin_token = cli_token(url, &["create-admin", "--email", &admin_email]);
        let mut directory = DirectoryServiceClient::new(channel.clone());
        let mut n = 0;
        let mut user = async |role: pb::Role, manager: Option<&Person>| {
            n += 1;
            let email = format!("u{n}-{unique}@reliability.example");
            let created = directory
                .create_user(authed(
                    &admin_token,
                    pb::CreateUserRequest {
                        user: Some(pb::User {
                            display_name: format!("{role:?} {n}"),
                            email: email.clone(),
                            role: role as i32,
                            manager: manager.map(|m| m.name.clone()).unwrap_or_default(),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    },
                ))
                .await
                .expect("create a user")
                .into_inner();
            Person {
                name: created.name,
                token: cli_token(url, &["create-token", "--email", &email]),
            }
        };
        let leader = user(pb::Role::Leader, None).await;
        let manager = user(pb::Role::Manager, Some(&leader)).await;
        let mut members = Vec::new();
        for _ in 0..reps {
            members.push(user(pb::Role::Rep, Some(&manager)).await);
        }
        let stage =
            |id: &str, position: i32, kind| crate::common::stage(id, position, kind, vec![]);
        let mut stages: Vec<pb::Stage> = OPEN_STAGES
            .iter()
            .zip(1..)
            .map(|(id, i)| stage(id, i * 10, pb::stage::Kind::Open))
            .collect();
        stages.push(stage("won", 100, pb::stage::Kind::Won));
        stages.push(stage("lost", 110, pb::stage::Kind::Lost));
        let pipeline = PipelineServiceClient::new(channel.clone())
            .create_pipeline(authed(
                &admin_token,
                pb::CreatePipelineRequest {
                    pipeline: Some(pb::Pipeline {
                        display_name: "Reliability".into(),
                        segment: pb::Segment::Smb as i32,
                        stages,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("create the pipeline")
            .into_inner();
        Org {
            admin: Person {
                name: String::new(),
                token: admin_token,
            },
            leader,
            manager,
            reps: members,
            pipeline,
        }
    }

    /// A new deal of `owner` in the first stage, created over `channel`.
    pub async fn create_deal(&self, channel: &Channel, owner: &Person, name: &str) -> pb::Deal {
        DealServiceClient::new(channel.clone())
            .create_deal(authed(
                &owner.token,
                pb::CreateDealRequest {
                    deal: Some(self.new_deal(name)),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("create a deal")
            .into_inner()
    }

    /// A $10,000 deal named `name` in the first stage.
    pub fn new_deal(&self, name: &str) -> pb::Deal {
        pb::Deal {
            display_name: name.into(),
            account: format!("{name} Corp"),
            pipeline: self.pipeline.name.clone(),
            stage: OPEN_STAGES[0].into(),
            amount: usd(1_000_000),
            ..Default::default()
        }
    }
}

/// The version an etag stands for.
pub fn version(etag: &str) -> i64 {
    dealdesk::grpc::convert::parse_etag("etag", etag)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("not an etag: {etag:?}"))
}

/// The deal client of a channel.
pub fn deals(channel: &Channel) -> DealServiceClient<Channel> {
    DealServiceClient::new(channel.clone())
}

/// The deal-desk client of a channel.
pub fn desk(channel: &Channel) -> DealDeskServiceClient<Channel> {
    DealDeskServiceClient::new(channel.clone())
}
