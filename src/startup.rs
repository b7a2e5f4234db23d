//! Wiring: connect and migrate the database, put the store behind the services, add health and
//! reflection, and serve until the shutdown future resolves (draining calls in flight).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::app::App;
use crate::app::Clock;
use crate::app::ports::Store;
use crate::app::watch::StreamLimits;
use crate::config::ServeArgs;
use crate::connection::{ConnectionLimits, Gate};
use crate::domain::calendar::OrgCalendar;
use crate::grpc::{DealApi, DealDeskApi, DirectoryApi, ForecastApi, ImportApi, PipelineApi};
use crate::metrics::{self, MetricsLayer, RequestMetrics};
use crate::overload::{Limits, MAX_REQUEST_BYTES, OverloadLayer, streaming_paths};
use crate::persistence::{self, SqlStore};
use crate::proto::{
    self, deal_desk_service_server::DealDeskServiceServer, deal_service_server::DealServiceServer,
    directory_service_server::DirectoryServiceServer,
    forecast_service_server::ForecastServiceServer, import_service_server::ImportServiceServer,
    pipeline_service_server::PipelineServiceServer,
};

/// Fully-qualified names of the API's services, as health and reflection know them.
pub const SERVICE_NAMES: [&str; 6] = [
    "dealdesk.v1.DirectoryService",
    "dealdesk.v1.PipelineService",
    "dealdesk.v1.DealService",
    "dealdesk.v1.ForecastService",
    "dealdesk.v1.DealDeskService",
    "dealdesk.v1.ImportService",
];

/// How often the change notifier's backstop poll looks for events it was not told of, by
/// default.
pub const CHANGE_POLL: Duration = Duration::from_secs(5);

/// How often health re-checks the database.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// Errors of start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// The address could not be bound.
    #[error("listen: {0}")]
    Listen(#[from] std::io::Error),
    /// The server failed.
    #[error("server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not load the descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// An allowed CORS origin is not an origin.
    #[error("CORS origin {0:?} must look like https://host or http://host:port")]
    CorsOrigin(String),
    /// A TLS file is missing or unusable.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The server's TLS material, as PEM files: with it the server speaks only TLS, and with a
/// client CA it asks callers for a certificate that CA signed (mutual TLS, for
/// service-to-service callers). A client certificate authenticates the connection only: every
/// call still needs its bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain (leaf first).
    pub cert: PathBuf,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA certificate(s) that sign client certificates; `None`: no client certificates.
    pub client_ca: Option<PathBuf>,
    /// With a client CA: also let in callers without a certificate (those with one must still
    /// present one the CA signed).
    pub client_auth_optional: bool,
}

impl TlsFiles {
    /// The files the serve settings name, when both `--tls-cert` and `--tls-key` are given.
    pub fn from_settings(args: &ServeArgs) -> Option<Self> {
        Some(Self {
            cert: args.tls_cert.clone()?,
            key: args.tls_key.clone()?,
            client_ca: args.tls_client_ca.clone(),
            client_auth_optional: args.tls_client_auth_optional,
        })
    }

    /// Reads the files and checks that the certificate, the key and the CA can serve TLS; an
    /// error names the file and what is wrong with it.
    pub fn load(&self) -> Result<ServerTlsConfig, StartupError> {
        fn pem(path: &Path, what: &str) -> Result<Vec<u8>, StartupError> {
            let bytes = std::fs::read(path)
                .map_err(|e| StartupError::Tls(format!("{what} {}: {e}", path.display())))?;
            if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
                return Err(StartupError::Tls(format!(
                    "{what} {}: no PEM block in the file",
                    path.display()
                )));
            }
            Ok(bytes)
        }
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(
            pem(&self.cert, "certificate")?,
            pem(&self.key, "private key")?,
        ));
        if let Some(ca) = &self.client_ca {
            config = config
                .client_ca_root(Certificate::from_pem(pem(ca, "client CA")?))
                .client_auth_optional(self.client_auth_optional);
        }
        // The files parse only once the server is configured: do it now, to fail at start-up.
        Server::builder().tls_config(config.clone()).map_err(|e| {
            let mut cause = String::new();
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(err) = source {
                cause.push_str(&format!(": {err}"));
                source = err.source();
            }
            StartupError::Tls(format!(
                "{} with {}{cause}",
                self.cert.display(),
                self.key.display()
            ))
        })?;
        Ok(config)
    }
}

/// Browsers may call the API over gRPC-Web from these origins (exact `scheme://host[:port]`).
#[derive(Debug, Clone, Default)]
pub struct CorsOrigins(Vec<http::HeaderValue>);

impl CorsOrigins {
    /// Parses origins such as `https://dash.example.com` or `http://127.0.0.1:8080`.
    pub fn parse<S: AsRef<str>>(origins: &[S]) -> Result<Self, StartupError> {
        origins
            .iter()
            .map(|o| {
                let o = o.as_ref().trim();
                let (scheme, rest) = o.split_once("://").unwrap_or(("", ""));
                let plausible = matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && !rest.contains('/')
                    && !rest.contains(char::is_whitespace);
                plausible
                    .then(|| http::HeaderValue::from_str(o).ok())
                    .flatten()
                    .ok_or_else(|| StartupError::CorsOrigin(o.to_string()))
            })
            .collect::<Result<_, _>>()
            .map(CorsOrigins)
    }

    /// The CORS policy of gRPC-Web: the listed origins may POST gRPC-Web calls with a bearer
    /// token and read the gRPC status headers; no other origin gets CORS headers.
    fn layer(&self) -> tower_http::cors::CorsLayer {
        use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
        use tower_http::cors::{AllowOrigin, CorsLayer};
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(self.0.clone()))
            .allow_methods([http::Method::POST])
            .allow_headers([
                AUTHORIZATION,
                CONTENT_TYPE,
                HeaderName::from_static("x-grpc-web"),
                HeaderName::from_static("x-user-agent"),
                HeaderName::from_static("grpc-timeout"),
            ])
            .expose_headers([
                HeaderName::from_static("grpc-status"),
                HeaderName::from_static("grpc-message"),
                HeaderName::from_static("grpc-status-details-bin"),
            ])
            .max_age(Duration::from_secs(24 * 3600))
    }
}

/// Opens the database at `url` and applies pending migrations.
pub async fn open_store(url: &str) -> Result<SqlStore, StartupError> {
    let db = persistence::connect(url).await?;
    persistence::migrate(&db).await?;
    Ok(SqlStore::new(db))
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    store: SqlStore,
    calendar: OrgCalendar,
    clock: Clock,
    snapshot_every: Option<Duration>,
    escalate_every: Option<Duration>,
    cors: CorsOrigins,
    metrics: Option<TcpListener>,
    tls: Option<ServerTlsConfig>,
    limits: Limits,
    connections: ConnectionLimits,
    stream_limits: StreamLimits,
    change_poll: Duration,
}

impl Application {
    /// Binds `listen` (port 0 picks a free port) over an open store.
    pub async fn build(store: SqlStore, listen: SocketAddr) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(listen).await?;
        Ok(Self {
            listener,
            store,
            calendar: OrgCalendar::default(),
            clock: Clock::system(),
            snapshot_every: None,
            escalate_every: Some(Duration::from_secs(60)),
            cors: CorsOrigins::default(),
            metrics: None,
            tls: None,
            limits: Limits::default(),
            connections: ConnectionLimits::default(),
            stream_limits: StreamLimits::default(),
            change_poll: CHANGE_POLL,
        })
    }

    /// Binds `args.listen` over an open store, with everything else as the serve settings ask.
    pub async fn configured(store: SqlStore, args: &ServeArgs) -> Result<Self, StartupError> {
        let snapshot_every = (args.forecast_snapshot_every_hours > 0)
            .then(|| Duration::from_secs(args.forecast_snapshot_every_hours * 3600));
        let escalate_every = (args.escalation_every_seconds > 0)
            .then(|| Duration::from_secs(args.escalation_every_seconds));
        let stream_limits = StreamLimits {
            per_user: args.max_streams_per_user as usize,
            per_process: args.max_streams as usize,
        };
        Ok(Self::build(store, args.listen)
            .await?
            .with_tls(TlsFiles::from_settings(args).as_ref())?
            .with_limits(Limits::from_settings(args))
            .with_connection_limits(ConnectionLimits::from_settings(args))
            .with_stream_limits(stream_limits)
            .with_change_poll(Duration::from_secs(args.change_poll_seconds))
            .with_calendar(args.calendar.calendar())
            .with_snapshot_schedule(snapshot_every)
            .with_cors_origins(CorsOrigins::parse(&args.cors_allowed_origins)?)
            .with_metrics(args.metrics_listen)
            .await?
            .with_escalation_schedule(escalate_every))
    }

    /// Serves TLS only, per `files` (`None`: plaintext, the default). Fails at once when a file
    /// is missing or unusable.
    pub fn with_tls(self, files: Option<&TlsFiles>) -> Result<Self, StartupError> {
        let tls = files.map(TlsFiles::load).transpose()?;
        Ok(Self { tls, ..self })
    }

    /// Limits calls in flight and their deadlines (default: [`Limits::default`]).
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// Limits open connections and how long they may stay silent (default:
    /// [`ConnectionLimits::default`]).
    pub fn with_connection_limits(self, connections: ConnectionLimits) -> Self {
        Self {
            connections,
            ..self
        }
    }

    /// Limits the event streams open at once, per user and in all (default:
    /// [`StreamLimits::default`]).
    pub fn with_stream_limits(self, stream_limits: StreamLimits) -> Self {
        Self {
            stream_limits,
            ..self
        }
    }

    /// Polls for events no notification announced every `every` (default: [`CHANGE_POLL`]).
    pub fn with_change_poll(self, every: Duration) -> Self {
        Self {
            change_poll: every,
            ..self
        }
    }

    /// Snapshots the org's forecast of the current month and quarter every `every` (`None`:
    /// never).
    pub fn with_snapshot_schedule(self, every: Option<Duration>) -> Self {
        Self {
            snapshot_every: every,
            ..self
        }
    }

    /// Escalates approval steps past their SLA every `every` (`None`: never; default every
    /// minute). Safe on several replicas sharing one database: a step escalates once.
    pub fn with_escalation_schedule(self, every: Option<Duration>) -> Self {
        Self {
            escalate_every: every,
            ..self
        }
    }

    /// Serves Prometheus metrics on `listen` (port 0 picks a free one); off by default.
    pub async fn with_metrics(self, listen: Option<SocketAddr>) -> Result<Self, StartupError> {
        let metrics = match listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        Ok(Self { metrics, ..self })
    }

    /// Serves Prometheus metrics on an already bound listener.
    pub fn with_metrics_listener(self, listener: TcpListener) -> Self {
        Self {
            metrics: Some(listener),
            ..self
        }
    }

    /// The metrics endpoint's address, if it serves one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Browsers on these origins may call the API over gRPC-Web (default: none).
    pub fn with_cors_origins(self, cors: CorsOrigins) -> Self {
        Self { cors, ..self }
    }

    /// Dates are read in `calendar`'s zone and fiscal years start per it (default: UTC, January).
    pub fn with_calendar(self, calendar: OrgCalendar) -> Self {
        Self { calendar, ..self }
    }

    /// Reads the time from `clock` (default: the system clock).
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Logs where and with which limits the server starts.
    fn log_settings(&self) -> std::io::Result<()> {
        tracing::info!(
            addr = %self.listener.local_addr()?,
            tls = self.tls.is_some(),
            max_in_flight = self.limits.max_in_flight,
            max_streams_per_user = self.stream_limits.per_user,
            max_streams = self.stream_limits.per_process,
            default_deadline = ?self.limits.default_deadline,
            long_deadline = ?self.limits.long_deadline,
            max_connections = self.connections.max_connections,
            first_request = ?self.connections.first_request,
            "serving dealdesk"
        );
        Ok(())
    }

    /// Serves until `shutdown` resolves, then stops accepting and drains calls in flight.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), StartupError> {
        let app = App::new(self.store.clone())
            .with_calendar(self.calendar)
            .with_clock(self.clock)
            .with_stream_limits(self.stream_limits);
        let (reporter, health) = tonic_health::server::health_reporter();
        let watcher = tokio::spawn(watch_database(self.store.clone(), reporter));
        // One change notifier per process: it wakes the event streams with news.
        let notifier = tokio::spawn(self.store.clone().watch_for_changes(self.change_poll));
        let snapshots = self
            .snapshot_every
            .map(|every| tokio::spawn(snapshot_forecasts(app.clone(), every)));
        let escalations = self
            .escalate_every
            .map(|every| tokio::spawn(escalate_overdue(app.clone(), every)));
        let overload = OverloadLayer::new(
            self.limits,
            streaming_paths(proto::FILE_DESCRIPTOR_SET),
            self.store.pool_size(),
        );
        let requests = Arc::new(RequestMetrics::default().with_in_flight(overload.in_flight()));
        let exporter = self.metrics.take().map(|listener| {
            tracing::info!(addr = ?listener.local_addr().ok(), "serving metrics on /metrics");
            tokio::spawn(metrics::serve(
                listener,
                requests.clone(),
                self.store.clone(),
            ))
        });
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
        };

        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        self.log_settings()?;
        let gate = Gate::new(self.connections);
        let mut server = Server::builder()
            .http2_keepalive_interval(self.connections.keepalive_interval)
            .http2_keepalive_timeout(Some(self.connections.keepalive_timeout));
        if let Some(tls) = self.tls {
            server = server.tls_config(tls)?;
        }
        // gRPC-Web (HTTP/1.1) beside native gRPC, so browser dashboards call the API directly;
        // the CORS layer answers preflights for the configured origins only. The overload layer
        // sits inside them, so refusals are counted and reach browsers too.
        let result = server
            .accept_http1(true)
            .layer(MetricsLayer(requests))
            .layer(self.cors.layer())
            .layer(tonic_web::GrpcWebLayer::new())
            .layer(overload)
            .add_routes(
                api_routes(app, stopping)
                    .add_service(health)
                    .add_service(reflection_v1)
                    .add_service(reflection_v1alpha),
            )
            .serve_with_incoming_shutdown(
                // No Nagle delay: a response's frames go out at once (without it, small
                // unary answers wait on delayed ACKs).
                TcpIncoming::from(self.listener)
                    .with_nodelay(Some(true))
                    .filter_map(move |accepted| match accepted {
                        Ok(stream) => gate.admit(stream).map(Ok),
                        Err(err) => Some(Err(err)),
                    }),
                shutdown,
            )
            .await;
        watcher.abort();
        notifier.abort();
        for task in snapshots.into_iter().chain(escalations).chain(exporter) {
            task.abort();
        }
        tracing::info!("stopped");
        Ok(result?)
    }
}

/// The API's services over `app`, each decoding messages up to [`MAX_REQUEST_BYTES`]; the
/// streaming ones end their streams when `stopping` turns true.
fn api_routes(app: App<SqlStore>, stopping: tokio::sync::watch::Receiver<bool>) -> Routes {
    Routes::new(
        DirectoryServiceServer::new(DirectoryApi::new(app.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES),
    )
    .add_service(
        PipelineServiceServer::new(PipelineApi::new(app.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES),
    )
    .add_service(
        DealServiceServer::new(DealApi::new(app.clone(), stopping.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES),
    )
    .add_service(
        ForecastServiceServer::new(ForecastApi::new(app.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES),
    )
    .add_service(
        ImportServiceServer::new(ImportApi::new(app.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES),
    )
    .add_service(
        DealDeskServiceServer::new(DealDeskApi::new(app, stopping))
            .max_decoding_message_size(MAX_REQUEST_BYTES),
    )
}

/// Reflection over our API plus the google.rpc error details (so generic clients can decode
/// them), health and reflection itself.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
}

/// Keeps health in step with the database: SERVING while it answers, NOT_SERVING while not.
async fn watch_database<S: Store>(store: S, reporter: HealthReporter) {
    let mut last = None;
    loop {
        let up = store.ping().await;
        if last != Some(up) {
            let status = if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            for name in SERVICE_NAMES {
                reporter.set_service_status(name, status).await;
            }
            if !up {
                tracing::warn!("database unreachable: health is NOT_SERVING");
            }
            last = Some(up);
        }
        tokio::time::sleep(HEALTH_INTERVAL).await;
    }
}

/// Takes the org's forecast snapshots of the current month and quarter, every `every`.
async fn snapshot_forecasts<S: Store>(app: App<S>, every: Duration) {
    use crate::app::forecast::Scope;
    use crate::domain::money::Currency;
    use crate::domain::period::Period;
    use chrono::Datelike;
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        let today = app.today();
        let month = Period::Month {
            year: today.year(),
            month: today.month(),
        };
        for period in [month, app.calendar.quarter_of(today)] {
            match app
                .snapshot_forecast(None, period, Scope::Org, Currency::USD, None, |_| {
                    Vec::new()
                })
                .await
            {
                Ok(_) => tracing::info!(%period, "forecast snapshot taken"),
                Err(err) => tracing::warn!(%period, %err, "scheduled forecast snapshot failed"),
            }
        }
    }
}

/// Escalates overdue approval steps every `every`.
async fn escalate_overdue<S: Store>(app: App<S>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match app.escalate_overdue(app.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(steps = n, "approval steps escalated"),
            Err(err) => tracing::warn!(%err, "escalating overdue approval steps failed"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested: draining calls in flight");
}
