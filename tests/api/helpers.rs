//! Test harness: `spawn_app` starts the server on port 0 over a fresh database and gives typed
//! clients and tokens for any role.

use std::net::SocketAddr;

use dealdesk::app::App;
use dealdesk::app::ports::Created;
use dealdesk::demo;
use dealdesk::domain::directory::{Role, UserDraft, UserId};
use dealdesk::persistence::SqlStore;
use dealdesk::proto as pb;
use dealdesk::proto::directory_service_client::DirectoryServiceClient;
use dealdesk::proto::pipeline_service_client::PipelineServiceClient;
use dealdesk::startup::{self, Application};
use sea_orm::ConnectionTrait;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub use crate::common::{POSTGRES_URL_VAR, authed};

/// Defines `mod $name { sqlite, postgres }`: the same async test body on both backends; with
/// `configure = f`, each server is configured by `f` before it serves.
#[macro_export]
macro_rules! contract_test {
    ($name:ident, |$app:ident| $body:block) => {
        $crate::contract_test!($name, configure = |application| application, |$app| $body);
    };
    ($name:ident, configure = $configure:expr, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: $crate::helpers::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                body($crate::helpers::spawn_app_with($crate::helpers::Backend::Sqlite, $configure).await.unwrap()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::helpers::spawn_app_with($crate::helpers::Backend::Postgres, $configure).await {
                    Some(app) => body(app).await,
                    // CI always sets the URL: a skipped PostgreSQL run there is a failure.
                    None if std::env::var_os("CI").is_some() => {
                        panic!("{} must be set in CI", $crate::helpers::POSTGRES_URL_VAR)
                    }
                    None => eprintln!("{} not set: PostgreSQL run skipped", $crate::helpers::POSTGRES_URL_VAR),
                }
            }
        }
    };
}

/// A running server over its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Use cases over the same store, for seeding without going through gRPC.
    pub app: App<SqlStore>,
    /// The first admin's user and token.
    pub admin: pb::User,
    pub admin_token: String,
    pub backend: Backend,
    /// The fresh database's URL.
    pub database_url: String,
    stop: Option<oneshot::Sender<()>>,
    pub server: Option<JoinHandle<Result<(), startup::StartupError>>>,
    /// The SQLite file this server created (not a replica's), removed with it.
    file: Option<std::path::PathBuf>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(file) = self.file.take() {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

async fn database_url(backend: Backend) -> Option<String> {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("dealdesk-test-{unique}.db"));
            Some(format!("sqlite://{}?mode=rwc", path.display()))
        }
        Backend::Postgres => {
            let base = std::env::var(POSTGRES_URL_VAR)
                .ok()
                .filter(|u| !u.is_empty())?;
            Some(crate::common::create_postgres_database(&base, &unique).await)
        }
    }
}

/// Starts the server on a fresh database of `backend`, with one admin. `None` when PostgreSQL
/// is asked for but not configured.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |application| application).await
}

/// As [`spawn_app`], with the application configured by `configure` before it serves.
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(Application) -> Application,
) -> Option<TestApp> {
    let url = database_url(backend).await?;
    let store = startup::open_store(&url).await.expect("open the store");
    let app = App::new(store.clone());
    let (admin, admin_token) = demo::create_admin(&app, "admin@test.example", "Test Admin")
        .await
        .expect("bootstrap admin");
    let application = Application::build(store, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind");
    let application = configure(application);
    let addr = application.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let admin = pb::User {
        name: format!("users/{}", admin.id.0),
        email: admin.profile.email.clone(),
        ..Default::default()
    };
    Some(TestApp {
        addr,
        app,
        admin,
        admin_token,
        backend,
        file: url
            .strip_prefix("sqlite://")
            .and_then(|rest| rest.split('?').next())
            .map(std::path::PathBuf::from),
        database_url: url,
        stop: Some(stop),
        server: Some(server),
    })
}

impl TestApp {
    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the server")
    }

    pub async fn directory(&self) -> DirectoryServiceClient<Channel> {
        DirectoryServiceClient::new(self.channel().await)
    }

    pub async fn pipelines(&self) -> PipelineServiceClient<Channel> {
        PipelineServiceClient::new(self.channel().await)
    }

    pub async fn deals(&self) -> dealdesk::proto::deal_service_client::DealServiceClient<Channel> {
        dealdesk::proto::deal_service_client::DealServiceClient::new(self.channel().await)
    }

    pub async fn forecasts(
        &self,
    ) -> dealdesk::proto::forecast_service_client::ForecastServiceClient<Channel> {
        dealdesk::proto::forecast_service_client::ForecastServiceClient::new(self.channel().await)
    }

    pub async fn deal_desk(
        &self,
    ) -> dealdesk::proto::deal_desk_service_client::DealDeskServiceClient<Channel> {
        dealdesk::proto::deal_desk_service_client::DealDeskServiceClient::new(self.channel().await)
    }

    /// A second server over the same database, with its own store, pool and change notifier:
    /// another replica, as a second `dealdesk serve` would be. Same admin and tokens.
    pub async fn replica(&self, configure: impl FnOnce(Application) -> Application) -> TestApp {
        let store = startup::open_store(&self.database_url)
            .await
            .expect("open the store again");
        let application = Application::build(store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("bind");
        let application = configure(application);
        let addr = application.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            app: App::new(store),
            admin: self.admin.clone(),
            admin_token: self.admin_token.clone(),
            backend: self.backend,
            database_url: self.database_url.clone(),
            stop: Some(stop),
            server: Some(server),
            file: None,
        }
    }

    /// Stops the server (as SIGTERM would) and returns how it ended.
    pub async fn shutdown(mut self) -> Result<(), startup::StartupError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.take().unwrap().await.expect("server task")
    }

    /// The first admin, as a [`Person`].
    pub fn admin_person(&self) -> Person {
        Person {
            user: self.admin.clone(),
            token: self.admin_token.clone(),
        }
    }

    /// Creates a user directly (as the CLI would) and issues a token for them.
    pub async fn user(&self, role: Role, manager: Option<&pb::User>) -> (pb::User, String) {
        let manager_id = manager.map(|m| user_id(&m.name));
        let n = uuid::Uuid::now_v7().simple().to_string();
        let draft = UserDraft {
            display_name: format!("{} {}", role.as_str(), &n[n.len() - 6..]),
            email: format!("{}-{n}@test.example", role.as_str().to_lowercase()),
            role: Some(role),
            manager_id,
            active: true,
        };
        let Created::New(user) = self
            .app
            .create_user_as(None, draft, None, |_| Vec::new())
            .await
            .unwrap()
        else {
            panic!("create without request id replayed");
        };
        let token = self
            .app
            .issue_token_as(None, user.id, "test")
            .await
            .unwrap();
        let wire = pb::User {
            name: format!("users/{}", user.id.0),
            display_name: user.profile.display_name.as_str().to_string(),
            email: user.profile.email.clone(),
            role: role_to_wire(role) as i32,
            manager: manager.map(|m| m.name.clone()).unwrap_or_default(),
            active: Some(true),
            ..Default::default()
        };
        (wire, token.secret)
    }

    /// Rows of a table, counted straight in the database.
    pub async fn count(&self, table: &str) -> i64 {
        let db = self.app.store.connection();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

pub fn user_id(name: &str) -> UserId {
    UserId(uuid::Uuid::parse_str(name.trim_start_matches("users/")).unwrap())
}

pub fn role_to_wire(role: Role) -> pb::Role {
    match role {
        Role::Rep => pb::Role::Rep,
        Role::Manager => pb::Role::Manager,
        Role::Leader => pb::Role::Leader,
        Role::DealDesk => pb::Role::DealDesk,
        Role::Finance => pb::Role::Finance,
        Role::Legal => pb::Role::Legal,
        Role::Admin => pb::Role::Admin,
    }
}

/// A user and their bearer token.
#[derive(Clone)]
pub struct Person {
    pub user: pb::User,
    pub token: String,
}

impl Person {
    pub fn name(&self) -> String {
        self.user.name.clone()
    }
}

/// A new user of `role` under `manager`, with a token.
pub async fn person(app: &TestApp, role: Role, manager: Option<&Person>) -> Person {
    let (user, token) = app.user(role, manager.map(|m| &m.user)).await;
    Person { user, token }
}

/// Asserts a status's code and ErrorInfo reason.
#[track_caller]
pub fn assert_error(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let info = status
        .get_details_error_info()
        .expect("every error carries an ErrorInfo");
    assert_eq!(info.reason, reason, "unexpected reason: {status:?}");
    assert_eq!(info.domain, "dealdesk.v1");
}

/// The only field violation of an INVALID_ARGUMENT with `reason`, as (field, description);
/// the status message says the same.
#[track_caller]
pub fn only_violation(status: &Status, reason: &str) -> (String, String) {
    assert_error(status, Code::InvalidArgument, reason);
    let listed = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let (field, description) = (listed[0].field.clone(), listed[0].description.clone());
    assert_eq!(
        status.message(),
        format!("invalid request: {field}: {description}")
    );
    (field, description)
}

/// The BadRequest field paths of an INVALID_ARGUMENT status, in order.
#[track_caller]
pub fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "unexpected status: {status:?}"
    );
    let bad = status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries BadRequest");
    bad.field_violations.into_iter().map(|v| v.field).collect()
}

/// The (subject, description) of each unmet exit criterion of an EXIT_CRITERIA_NOT_MET refusal.
#[track_caller]
pub fn unmet(status: &Status) -> Vec<(String, String)> {
    assert_error(status, Code::FailedPrecondition, "EXIT_CRITERIA_NOT_MET");
    status
        .get_details_precondition_failure()
        .expect("FAILED_PRECONDITION carries a PreconditionFailure")
        .violations
        .into_iter()
        .map(|v| {
            assert_eq!(v.r#type, "EXIT_CRITERION");
            (v.subject, v.description)
        })
        .collect()
}
