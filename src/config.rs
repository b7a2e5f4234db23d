//! Settings from flags and environment variables, with documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// dealdesk: stage gating, learned-win-rate forecasting and deal-desk approvals over gRPC.
#[derive(Debug, Parser)]
#[command(name = "dealdesk", version)]
pub struct Cli {
    /// Database URL: `sqlite://FILE?mode=rwc` (created if missing) or `postgres://...`.
    #[arg(
        long,
        env = "DEALDESK_DATABASE_URL",
        global = true,
        default_value = "sqlite://dealdesk.db?mode=rwc"
    )]
    pub database_url: String,

    /// Log format: human-readable lines or one JSON object per line.
    #[arg(long, env = "DEALDESK_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The CLI's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrates the database and serves the gRPC API until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Applies pending migrations and exits.
    Migrate,
    /// Creates an admin user and prints a token for it, without a running server.
    CreateAdmin {
        /// The admin's e-mail.
        #[arg(long)]
        email: String,
        /// The admin's display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
    /// Issues a new token for an existing user (by e-mail), without a running server.
    CreateToken {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        description: String,
    },
    /// Creates a demo organisation in a SQLite file, prints a token per role, and serves it.
    Demo(DemoArgs),
    /// Builds the demo organisation in a temporary SQLite file and prints the backtest table of
    /// its last 4 full quarters and last 6 full months (weekly points, every method learning
    /// only from before each point), as Markdown.
    BacktestDemo(BacktestDemoArgs),
    /// Imports CRM history (deals and their stage history) into a pipeline, in one
    /// transaction, without a running server. Progress goes to stderr, the report to stdout.
    /// Any bad row is listed (file:line: column: reason) and nothing is written (exit 1).
    /// Importing the same files again updates by the source's ids and duplicates nothing.
    Import(ImportArgs),
    /// The command-line client of a running server (forecast, deals, approvals, pipelines,
    /// winrates, calls): `--addr` and `--token` (or DEALDESK_ADDR and DEALDESK_TOKEN), tables
    /// or `--json`.
    #[command(flatten)]
    Client(crate::cli::ClientCommand),
}

/// Options of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The source's format and files.
    #[command(subcommand)]
    pub source: ImportSource,
}

/// The formats `import` reads, each with its files.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// Salesforce standard object exports (Data Loader or the weekly data export).
    Salesforce {
        /// Target, mapping and dry run.
        #[command(flatten)]
        options: ImportOptions,
        /// The `Opportunity` export.
        #[arg(long)]
        opportunities: PathBuf,
        /// The `OpportunityHistory` export (the stage history).
        #[arg(long)]
        history: Option<PathBuf>,
        /// The `User` export (owners by e-mail; with `"create_users": true`, missing users
        /// are created with their reporting tree).
        #[arg(long)]
        users: Option<PathBuf>,
        /// The `UserRole` export (the role hierarchy): users whose ManagerId is empty get a
        /// manager from it (needs `--users`).
        #[arg(long)]
        roles: Option<PathBuf>,
        /// The `Account` export: deals show the account's name instead of its id.
        #[arg(long)]
        accounts: Option<PathBuf>,
    },
    /// HubSpot's deals export, with its `Date entered "<stage>"` columns.
    Hubspot {
        /// Target, mapping and dry run.
        #[command(flatten)]
        options: ImportOptions,
        /// The deals export.
        #[arg(long)]
        deals: PathBuf,
    },
    /// The generic CSV (README, "Importing CRM history").
    Generic {
        /// Target, mapping and dry run.
        #[command(flatten)]
        options: ImportOptions,
        /// The deals file.
        #[arg(long)]
        deals: PathBuf,
        /// The stage history file.
        #[arg(long)]
        history: Option<PathBuf>,
    },
}

/// What every `import` takes.
#[derive(Debug, clap::Args)]
pub struct ImportOptions {
    /// The pipeline to import into: `pipelines/{id}` or the bare id.
    #[arg(long)]
    pub pipeline: String,
    /// The mapping document (JSON): stage names, owners, source name... Omitted: defaults.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Check every row and plan the import, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The files' encoding when they carry no byte-order mark: utf-8 (default), windows-1252
    /// (Excel, Salesforce Data Loader), iso-8859-1 (read as windows-1252, per WHATWG), utf-16
    /// (little-endian), utf-16le, utf-16be. Wins over the mapping's `encoding`.
    #[arg(long, value_parser = crate::app::imports::TextEncoding::parse)]
    pub encoding: Option<crate::app::imports::TextEncoding>,
    /// The org's time zone (zone-less times in the files are read in it) and fiscal year.
    #[command(flatten)]
    pub calendar: CalendarArgs,
}

/// Options of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "DEALDESK_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// The org's time zone and fiscal year.
    #[command(flatten)]
    pub calendar: CalendarArgs,
    /// Snapshot the org's forecast of the current month and quarter every this many hours
    /// (0: never). Each replica takes its own.
    #[arg(
        long,
        env = "DEALDESK_FORECAST_SNAPSHOT_EVERY_HOURS",
        default_value_t = 0
    )]
    pub forecast_snapshot_every_hours: u64,
    /// Look for approval steps past their SLA every this many seconds and escalate them (0:
    /// never). Safe on every replica: a step escalates once.
    #[arg(long, env = "DEALDESK_ESCALATION_EVERY_SECONDS", default_value_t = 60)]
    pub escalation_every_seconds: u64,
    /// Origins (`https://dash.example.com`, comma-separated) whose browser pages may call the
    /// API over gRPC-Web. None by default: gRPC-Web then works only from the same origin.
    #[arg(
        long,
        env = "DEALDESK_CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        num_args = 0..
    )]
    pub cors_allowed_origins: Vec<String>,
    /// Serve Prometheus metrics (`GET /metrics`) on this address; off when unset. Plain HTTP
    /// even with TLS: bind it to a private address.
    #[arg(long, env = "DEALDESK_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// The server's certificate chain (PEM). With `--tls-key`, the API is served over TLS only.
    #[arg(long, env = "DEALDESK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "DEALDESK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificate(s) (PEM) signing client certificates: callers must then present one it
    /// signed (mutual TLS for service-to-service callers). Bearer tokens are still required.
    #[arg(long, env = "DEALDESK_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// With `--tls-client-ca`: let in callers without a certificate too (a certificate that is
    /// presented must still be valid).
    #[arg(
        long,
        env = "DEALDESK_TLS_CLIENT_AUTH_OPTIONAL",
        requires = "tls_client_ca"
    )]
    pub tls_client_auth_optional: bool,
    /// Unary calls handled at once; beyond it a call is refused at once with
    /// RESOURCE_EXHAUSTED (`OVERLOADED`). Health, reflection and streams do not count.
    #[arg(long, env = "DEALDESK_MAX_CONCURRENT_REQUESTS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,
    /// Deadline of a unary call, in seconds, when its client sends no `grpc-timeout` (and the
    /// cap of one it sends); past it the call is cut with DEADLINE_EXCEEDED. 0: only the
    /// client's deadline.
    #[arg(long, env = "DEALDESK_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// The same for the calls that learn from a pipeline's whole history (ComputeWinRates,
    /// BacktestForecast), which take tens of seconds on a large org. 0: only the client's.
    #[arg(
        long,
        env = "DEALDESK_LONG_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 600
    )]
    pub long_request_timeout_seconds: u64,
    /// List and report calls (every List RPC, GetForecast, GetForecastAccuracy,
    /// SnapshotForecast, GetPipelineMetrics, GetApprovalMetrics, ComputeWinRates,
    /// BacktestForecast) handled at once; one waits up to 250 ms for a turn, then is refused
    /// with RESOURCE_EXHAUSTED (`READS_BUSY`). 0: the database pool's connections but one.
    #[arg(long, env = "DEALDESK_MAX_HEAVY_REQUESTS", default_value_t = 0)]
    pub max_heavy_requests: u32,
    /// List and report calls one caller (one token) may have in flight; beyond it,
    /// RESOURCE_EXHAUSTED (`CALLER_BUSY`) at once.
    #[arg(long, env = "DEALDESK_MAX_HEAVY_REQUESTS_PER_CALLER", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_heavy_requests_per_caller: u32,
    /// Open client connections at once; a connection beyond it is closed as soon as accepted.
    #[arg(long, env = "DEALDESK_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seconds a new connection may stay without a request; past it, it is closed. 0: no limit.
    #[arg(
        long,
        env = "DEALDESK_FIRST_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub first_request_timeout_seconds: u64,
    /// Seconds between HTTP/2 keepalive pings on a connection. 0: no pings.
    #[arg(
        long,
        env = "DEALDESK_KEEPALIVE_INTERVAL_SECONDS",
        default_value_t = 60
    )]
    pub keepalive_interval_seconds: u64,
    /// Seconds a keepalive ping waits for its answer before the connection is closed.
    #[arg(long, env = "DEALDESK_KEEPALIVE_TIMEOUT_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub keepalive_timeout_seconds: u64,
    /// Event streams (WatchDealEvents, WatchApprovalEvents) one user may hold open at once,
    /// over all their tokens; the next is refused with RESOURCE_EXHAUSTED (`TOO_MANY_STREAMS`).
    #[arg(long, env = "DEALDESK_MAX_STREAMS_PER_USER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_user: u32,
    /// Event streams the process holds open at once, all users together; the next is refused
    /// with RESOURCE_EXHAUSTED (`TOO_MANY_STREAMS`).
    #[arg(long, env = "DEALDESK_MAX_STREAMS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,
    /// Event streams are woken by change notifications (PostgreSQL LISTEN/NOTIFY across
    /// replicas); as a backstop, every this many seconds one query looks for events no
    /// notification announced (written by another process on SQLite, or while the listener
    /// was reconnecting).
    #[arg(long, env = "DEALDESK_CHANGE_POLL_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub change_poll_seconds: u64,
}

/// A duration of `n` seconds; none for 0 (the settings' "off").
pub fn seconds(n: u64) -> Option<std::time::Duration> {
    (n > 0).then(|| std::time::Duration::from_secs(n))
}

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, env = "DEALDESK_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// The SQLite file of the demo organisation (replaced at every start). The walkthrough's
    /// variables are written beside it, named after it (`dealdesk-demo.env`).
    #[arg(long, default_value = "dealdesk-demo.db")]
    pub file: String,
    /// Seeds the demo's book and, DEMO ONLY, its ids and tokens: the same seed gives the same
    /// tokens, users, pipelines and deals at every start (anyone who knows it knows the tokens).
    #[arg(long, env = "DEALDESK_DEMO_SEED", default_value_t = crate::demo::DEMO_SEED)]
    pub seed: u64,
    /// The org's time zone and fiscal year.
    #[command(flatten)]
    pub calendar: CalendarArgs,
}

/// Options of `backtest-demo`.
#[derive(Debug, clap::Args)]
pub struct BacktestDemoArgs {
    /// Seeds the demo book (the same as `demo --seed`).
    #[arg(long, env = "DEALDESK_DEMO_SEED", default_value_t = crate::demo::DEMO_SEED)]
    pub seed: u64,
    /// How many books to backtest, seeded `seed`, `seed + 1`, ...: with more than one, a line
    /// per book and the table over every book's points, to see how much one book's figures say.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub books: u64,
    /// The org's time zone and fiscal year.
    #[command(flatten)]
    pub calendar: CalendarArgs,
}

/// The org's calendar: every date derived from an instant (today, period bounds, close dates
/// in the future, days in stage, as-of days, booking dates) is a date in its time zone.
#[derive(Debug, Clone, clap::Args)]
pub struct CalendarArgs {
    /// First month (1-12) of the fiscal year; fiscal years are named for the year they end in.
    #[arg(long, env = "DEALDESK_FISCAL_YEAR_START_MONTH", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=12))]
    pub fiscal_year_start_month: u32,
    /// The org's time zone, an IANA name (`America/Mexico_City`, `Europe/Madrid`).
    #[arg(long, env = "DEALDESK_TIME_ZONE", default_value = "UTC", value_parser = parse_time_zone)]
    pub time_zone: chrono_tz::Tz,
}

impl CalendarArgs {
    /// The calendar these options describe.
    pub fn calendar(&self) -> crate::domain::calendar::OrgCalendar {
        // clap has checked the month's range.
        let fiscal =
            crate::domain::period::FiscalCalendar::starting_in(self.fiscal_year_start_month)
                .unwrap_or_default();
        crate::domain::calendar::OrgCalendar::new(fiscal, self.time_zone)
    }
}

fn parse_time_zone(name: &str) -> Result<chrono_tz::Tz, String> {
    crate::domain::calendar::OrgCalendar::parse_zone(name).ok_or_else(|| {
        format!("`{name}` is not an IANA time zone name (like UTC, America/Mexico_City)")
    })
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}
