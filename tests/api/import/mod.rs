//! ImportService: CRM history through the client-streaming RPC on both engines, from the
//! fixture files under tests/fixtures/import (each format, and malformed copies), and the
//! `dealdesk import` command against a SQLite file.

use dealdesk::app::ports::{Created, DirectoryStore};
use dealdesk::domain::directory::{Role, UserDraft};
use dealdesk::domain::templates;
use dealdesk::proto as pb;
use dealdesk::proto::deal_desk_service_client::DealDeskServiceClient;
use dealdesk::proto::import_file_chunk::Kind;
use dealdesk::proto::import_history_request::Part;
use dealdesk::proto::import_service_client::ImportServiceClient;
use dealdesk::proto::stage_history_entry::Direction;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::contract_test;
use crate::fixtures::{queue, step};
use crate::helpers::{Person, TestApp, assert_error, authed, person, violated_fields};
use pb::approval_step::Mode;

mod command;
mod imported_history;
mod roles;
mod rpc;

pub(crate) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/import");

pub(crate) fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

pub(crate) fn mapping(format: &str) -> String {
    String::from_utf8(fixture(&format!("{format}/mapping.json"))).unwrap()
}

/// One file to send: its name, kind and bytes.
pub(crate) struct Upload {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) bytes: Vec<u8>,
}

pub(crate) fn upload(name: &'static str, kind: Kind, path: &str) -> Upload {
    Upload {
        name,
        kind,
        bytes: fixture(path),
    }
}

/// Opportunity, OpportunityHistory and User exports.
fn salesforce() -> Vec<Upload> {
    vec![
        upload(
            "Opportunity.csv",
            Kind::SalesforceOpportunity,
            "salesforce/Opportunity.csv",
        ),
        upload(
            "OpportunityHistory.csv",
            Kind::SalesforceOpportunityHistory,
            "salesforce/OpportunityHistory.csv",
        ),
        upload("User.csv", Kind::SalesforceUser, "salesforce/User.csv"),
    ]
}

async fn client(app: &TestApp) -> ImportServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    ImportServiceClient::new(channel)
}

/// The mid-market template as a pipeline.
pub(crate) async fn mid_market(app: &TestApp) -> Uuid {
    match app
        .app
        .create_pipeline_as(None, templates::mid_market(), None, |_| Vec::new())
        .await
        .unwrap()
    {
        Created::New(pipeline) => pipeline.id.0,
        Created::Replayed(_) => unreachable!("no request id"),
    }
}

/// Streams settings, then each file in 512-byte chunks (files span several messages).
pub(crate) async fn send(
    app: &TestApp,
    token: &str,
    messages: Vec<pb::ImportHistoryRequest>,
) -> Result<pb::ImportReport, Status> {
    client(app)
        .await
        .import_history(authed(token, tokio_stream::iter(messages)))
        .await
        .map(|r| r.into_inner())
}

pub(crate) fn messages(
    pipeline: Uuid,
    mapping: &str,
    files: &[Upload],
    validate_only: bool,
) -> Vec<pb::ImportHistoryRequest> {
    let mut out = vec![pb::ImportHistoryRequest {
        part: Some(Part::Settings(pb::ImportSettings {
            pipeline: format!("pipelines/{pipeline}"),
            mapping_json: mapping.to_string(),
            validate_only,
            encoding: String::new(),
        })),
    }];
    for file in files {
        for chunk in file.bytes.chunks(512) {
            out.push(pb::ImportHistoryRequest {
                part: Some(Part::FileChunk(pb::ImportFileChunk {
                    file_name: file.name.into(),
                    kind: file.kind as i32,
                    data: chunk.to_vec(),
                })),
            });
        }
    }
    out
}

pub(crate) async fn import(
    app: &TestApp,
    pipeline: Uuid,
    mapping: &str,
    files: &[Upload],
) -> Result<pb::ImportReport, Status> {
    send(
        app,
        &app.admin_token,
        messages(pipeline, mapping, files, false),
    )
    .await
}

pub(crate) fn counts(report: &pb::ImportReport) -> (i32, i32, i32, i32, i32, i32, i32) {
    (
        report.rows_read,
        report.rows_skipped,
        report.deals_created,
        report.deals_updated,
        report.deals_unchanged,
        report.stage_changes_added,
        report.users_created,
    )
}

/// The one deal (the admin sees all) whose name is `name`.
pub(crate) async fn deal(app: &TestApp, name: &str) -> pb::Deal {
    let deals = app
        .deals()
        .await
        .list_deals(authed(
            &app.admin_token,
            pb::ListDealsRequest {
                query: name.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .deals;
    assert_eq!(deals.len(), 1, "{name}: {deals:?}");
    deals.into_iter().next().unwrap()
}

/// A deal's history as (from, to, direction, time), oldest first.
pub(crate) async fn history(
    app: &TestApp,
    deal: &pb::Deal,
) -> Vec<(String, String, Direction, String)> {
    app.deals()
        .await
        .list_deal_stage_history(authed(
            &app.admin_token,
            pb::ListDealStageHistoryRequest {
                parent: deal.name.clone(),
                page_size: 100,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries
        .into_iter()
        .map(|e| {
            let at = e.change_time.unwrap();
            let at = chrono::DateTime::from_timestamp(at.seconds, at.nanos as u32).unwrap();
            let direction = e.direction();
            (
                e.from_stage,
                e.to_stage,
                direction,
                at.format("%Y-%m-%dT%H:%M").to_string(),
            )
        })
        .collect()
}

pub(crate) fn h(
    from: &str,
    to: &str,
    direction: Direction,
    at: &str,
) -> (String, String, Direction, String) {
    (from.into(), to.into(), direction, at.into())
}

/// Rows of tables that an import writes, counted in the database.
pub(crate) async fn stored(app: &TestApp) -> [i64; 6] {
    [
        app.count("deals").await,
        app.count("stage_history").await,
        app.count("users").await,
        app.count("deal_external_ids").await,
        app.count("user_external_ids").await,
        app.count("audit_events").await,
    ]
}

/// Users the HubSpot and generic fixtures map owners to.
async fn ann_and_ben(app: &dealdesk::app::App<dealdesk::persistence::SqlStore>) {
    for (name, email) in [
        ("Ann Archer", "ann.archer@acme-sales.example"),
        ("Ben Brooks", "ben.brooks@acme-sales.example"),
    ] {
        app.create_user_as(
            None,
            UserDraft {
                display_name: name.into(),
                email: email.into(),
                role: Some(Role::Rep),
                manager_id: None,
                active: true,
            },
            None,
            |_| Vec::new(),
        )
        .await
        .unwrap();
    }
}

fn user_name(app_user: &dealdesk::domain::directory::User) -> String {
    format!("users/{}", app_user.id.0)
}

use Direction::{Backward, Close, Create, Forward};

/// A SQLite file for the `dealdesk import` command, with a mid-market pipeline; it and the
/// scratch files written beside it are removed when it is dropped.
pub(crate) struct CliDb {
    /// The file's database URL.
    pub(crate) url: String,
    /// Use cases over the same file, for seeding and reading back.
    pub(crate) app: dealdesk::app::App<dealdesk::persistence::SqlStore>,
    /// The pipeline's resource name (`pipelines/{id}`).
    pub(crate) pipeline: String,
    /// The SQLite file.
    path: String,
    /// Scratch files written beside it.
    scratch: Vec<String>,
}

impl CliDb {
    pub(crate) async fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("dealdesk-cli-{}.db", Uuid::now_v7().simple()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = dealdesk::startup::open_store(&url).await.unwrap();
        let app = dealdesk::app::App::new(store);
        let Created::New(pipeline) = app
            .create_pipeline_as(None, templates::mid_market(), None, |_| Vec::new())
            .await
            .unwrap()
        else {
            unreachable!()
        };
        let path = path.display().to_string();
        CliDb {
            url,
            app,
            pipeline: format!("pipelines/{}", pipeline.id),
            path,
            scratch: Vec::new(),
        }
    }

    /// Writes `text` to a scratch file named after `name` and answers its path.
    pub(crate) fn scratch(&mut self, name: &str, text: &str) -> String {
        let path = format!("{}-{name}", self.path);
        std::fs::write(&path, text).unwrap();
        self.scratch.push(path.clone());
        path
    }

    /// Runs `dealdesk --database-url <the file> import <args>` (the org's zone not taken from
    /// the environment): its exit status, stdout and stderr.
    pub(crate) fn import(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_dealdesk"))
            .args(["--database-url", &self.url, "import"])
            .args(args)
            .env_remove("DEALDESK_TIME_ZONE")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }

    /// Deals stored.
    pub(crate) async fn deals(&self) -> i64 {
        use sea_orm::ConnectionTrait;
        let db = self.app.store.connection();
        db.query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM deals",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
    }
}

impl Drop for CliDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path));
        }
        for file in &self.scratch {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// A refusal's field violations as (field, description).
pub(crate) fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

/// Each dropped value as `what: 'value' count`.
pub(crate) fn dropped(report: &pb::ImportReport) -> Vec<String> {
    report
        .dropped
        .iter()
        .map(|d| format!("{}: '{}' {}", d.what, d.value, d.count))
        .collect()
}

/// Every user as (e-mail, role, manager's e-mail, active), by e-mail.
async fn directory(app: &TestApp) -> Vec<(String, Role, String, bool)> {
    use dealdesk::app::ports::UserFilter;
    let users = app
        .app
        .store
        .list_users(UserFilter::default(), None, 500)
        .await
        .unwrap();
    let email = |id| {
        users
            .iter()
            .find(|u| Some(u.id) == id)
            .map(|u| u.profile.email.clone())
            .unwrap_or_default()
    };
    let mut out: Vec<_> = users
        .iter()
        .filter(|u| u.profile.email.ends_with("@andescorp.example"))
        .map(|u| {
            (
                u.profile
                    .email
                    .trim_end_matches("@andescorp.example")
                    .to_string(),
                u.profile.role,
                email(u.profile.manager_id)
                    .trim_end_matches("@andescorp.example")
                    .to_string(),
                u.profile.active,
            )
        })
        .collect();
    out.sort();
    out
}
