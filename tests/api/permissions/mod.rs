//! The permission matrix: docs/PERMISSIONS.md is read here and every cell of its table is
//! called against the server. A row with no call behind it, an RPC of the protos without a
//! row, an answer other than the cell's, or a refused call that wrote something fails the test.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::Utc;
use dealdesk::domain::directory::Role;
use dealdesk::proto::deal_desk_service_client::DealDeskServiceClient;
use dealdesk::proto::deal_service_client::DealServiceClient;
use dealdesk::proto::directory_service_client::DirectoryServiceClient;
use dealdesk::proto::forecast_service_client::ForecastServiceClient;
use dealdesk::proto::import_service_client::ImportServiceClient;
use dealdesk::proto::pipeline_service_client::PipelineServiceClient;
use dealdesk::proto::{self as pb, exit_criterion as ec};
use prost::Message;
use sea_orm::ConnectionTrait;
use tonic::transport::Channel;
use tonic::{Code, Request, Status, Streaming};
use tonic_types::StatusExt;

use crate::contract_test;
use crate::fixtures::{
    Org, api_tokens, in_days, mask, new_user, queue, relation, revoke_api_token, revoke_api_tokens,
    stage, step, timestamp, usd,
};
use crate::helpers::{Person, TestApp, authed, person, user_id};

mod calls;
mod coverage;
mod matrix;
mod streams;

use calls::call_of;

const MATRIX: &str = include_str!("../../../docs/PERMISSIONS.md");

// ---------------------------------------------------------------------------------------------
// The table.

/// What a cell expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Hidden,
    Denied,
    NotFound,
    Unauth,
}

impl Outcome {
    fn parse(cell: &str) -> Option<Self> {
        Some(match cell {
            "OK" => Outcome::Ok,
            "HIDDEN" => Outcome::Hidden,
            "DENIED" => Outcome::Denied,
            "NOT_FOUND" => Outcome::NotFound,
            "UNAUTH" => Outcome::Unauth,
            _ => return None,
        })
    }

    fn refused(self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::Hidden)
    }
}

/// The columns besides the roles: callers defined by their place or their credentials.
const OTHER_CALLERS: [&str; 6] = [
    "peer",
    "other_manager",
    "deactivated",
    "revoked",
    "no_token",
    "garbage_token",
];

/// One row: the RPC (`Service.Method`), the row's full key (with its variant), and the
/// expected outcome per caller column.
struct Row {
    key: String,
    rpc: String,
    cells: Vec<(String, Outcome)>,
}

/// The caller column of each role of the API's `Role` enum (`ROLE_DEAL_DESK` -> `deal_desk`).
fn role_columns() -> Vec<String> {
    (1..)
        .map_while(|n| pb::Role::try_from(n).ok())
        .map(|r| r.as_str_name().trim_start_matches("ROLE_").to_lowercase())
        .collect()
}

/// Reads the matrix table of docs/PERMISSIONS.md.
fn rows() -> Vec<Row> {
    let mut lines = MATRIX.lines().skip_while(|l| !l.starts_with("| RPC |"));
    let split = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = split(
        lines
            .next()
            .expect("a table whose header starts with `| RPC |`"),
    );
    let callers: Vec<String> = role_columns()
        .into_iter()
        .chain(OTHER_CALLERS.map(String::from))
        .collect();
    for caller in &callers {
        assert!(header.contains(caller), "the matrix has no column {caller}");
    }
    for column in &header[1..] {
        assert!(
            callers.contains(column) || column == "why",
            "unknown column {column}"
        );
    }
    lines
        .skip(1) // the |---| line
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let cells = split(line);
            assert_eq!(
                cells.len(),
                header.len(),
                "row with a wrong cell count: {line}"
            );
            let key = cells[0].replace('`', "");
            let rpc = key.split(' ').next().unwrap().to_string();
            let cells = header
                .iter()
                .zip(&cells)
                .filter(|(column, _)| callers.contains(column))
                .map(|(column, cell)| {
                    let outcome = Outcome::parse(cell)
                        .unwrap_or_else(|| panic!("{key}: unknown outcome {cell:?}"));
                    (column.clone(), outcome)
                })
                .collect();
            Row { key, rpc, cells }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The organisation the cells are called against.

struct Clients {
    directory: DirectoryServiceClient<Channel>,
    pipelines: PipelineServiceClient<Channel>,
    deals: DealServiceClient<Channel>,
    forecasts: ForecastServiceClient<Channel>,
    desk: DealDeskServiceClient<Channel>,
    import: ImportServiceClient<Channel>,
}

struct Matrix {
    c: Clients,
    admin: Person,
    manager: Person,
    deal_desk: Person,
    rep: Person,
    peer: Person,
    /// Receives delegations; never delegates, so no cycle forms.
    standin: Person,
    /// Someone whose approvals only an admin delegates.
    absentee: Person,
    /// The credentials of each column (`None`: no authorization metadata).
    tokens: HashMap<String, Option<String>>,
    /// The user id each column calls as (`None`: no user behind the credentials).
    actors: HashMap<String, Option<String>>,
    pipeline: pb::Pipeline,
    /// A pipeline for UpdatePipeline to rename.
    spare: pb::Pipeline,
    /// The deal `D`, owned by the rep, in stage `a`.
    deal: pb::Deal,
    /// A request on `D` by the rep, waiting at the manager's step.
    request: pb::ApprovalRequest,
    /// A win-rate snapshot of the pipeline.
    win_rates: String,
    /// A delegation of the absentee's approvals to the stand-in.
    delegation: String,
}

/// a -> b (exit: an economic buyer is a contact) -> c -> won / lost.
fn matrix_pipeline(name: &str) -> pb::Pipeline {
    use pb::stage::Kind;
    let economic_buyer = ec::Rule::ContactWithRole(ec::ContactWithRole {
        role: pb::BuyingRole::EconomicBuyer as i32,
    });
    pb::Pipeline {
        display_name: name.into(),
        segment: pb::Segment::MidMarket as i32,
        stages: vec![
            stage("a", 10, Kind::Open, vec![]),
            stage("b", 20, Kind::Open, vec![economic_buyer]),
            stage("c", 30, Kind::Open, vec![]),
            stage("won", 100, Kind::Won, vec![]),
            stage("lost", 110, Kind::Lost, vec![]),
        ],
        ..Default::default()
    }
}

/// Mid-market: 15% pre-approved, beyond it the owner's manager.
fn policy() -> pb::ApprovalPolicy {
    use pb::approval_step::Mode;
    pb::ApprovalPolicy {
        segment: pb::Segment::MidMarket as i32,
        tiers: vec![
            pb::DiscountTier {
                ceiling_bps: 1500,
                steps: vec![],
            },
            pb::DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![step(
                    "Sales manager",
                    vec![relation(pb::approver::Relation::OwnersManager)],
                    Mode::All,
                )],
            },
        ],
        legal_step: Some(step(
            "Legal review",
            vec![queue(pb::Role::Legal)],
            Mode::All,
        )),
        finance_step: Some(step("Finance", vec![queue(pb::Role::Finance)], Mode::All)),
        payment_days_limit: 45,
        ..Default::default()
    }
}

fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl Clients {
    /// A client of every service over one connection to `app`.
    async fn connect(app: &TestApp) -> Clients {
        let channel = Channel::from_shared(format!("http://{}", app.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Clients {
            directory: DirectoryServiceClient::new(channel.clone()),
            pipelines: PipelineServiceClient::new(channel.clone()),
            deals: DealServiceClient::new(channel.clone()),
            forecasts: ForecastServiceClient::new(channel.clone()),
            desk: DealDeskServiceClient::new(channel.clone()),
            import: ImportServiceClient::new(channel),
        }
    }
}

/// An admin deactivated after their token was issued, and an active admin whose token was
/// revoked.
async fn disabled_admins(app: &TestApp, c: &mut Clients, admin: &Person) -> (Person, Person) {
    let deactivated = person(app, Role::Admin, None).await;
    c.directory
        .update_user(authed(
            &admin.token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    name: deactivated.name(),
                    active: Some(false),
                    ..Default::default()
                }),
                update_mask: mask(&["active"]),
            },
        ))
        .await
        .unwrap();
    let revoked = person(app, Role::Admin, None).await;
    let tokens = api_tokens(app, &revoked.name()).await;
    revoke_api_token(app, &tokens[0].name).await;
    (deactivated, revoked)
}

/// A pipeline of the matrix's stages named `name`, created by the admin.
async fn create_pipeline(c: &Clients, admin: &Person, name: &str) -> pb::Pipeline {
    c.pipelines
        .clone()
        .create_pipeline(authed(
            &admin.token,
            pb::CreatePipelineRequest {
                pipeline: Some(matrix_pipeline(name)),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

impl Matrix {
    async fn build(app: &TestApp) -> Matrix {
        let mut c = Clients::connect(app).await;
        let admin = app.admin_person();
        // The peer is the rep's teammate here; the other manager has no team.
        let tree = Org::builder()
            .reps(2)
            .peers(0)
            .staff(&[
                Role::DealDesk,
                Role::Finance,
                Role::Legal,
                Role::Rep,
                Role::Rep,
            ])
            .build(app)
            .await;
        let (leader, manager) = (tree.leader, tree.manager);
        let Ok([rep, peer]) = <[Person; 2]>::try_from(tree.reps) else {
            unreachable!("two reps were asked for")
        };
        let other_manager = tree.peer_manager;
        let Ok([deal_desk, finance, legal, standin, absentee]) =
            <[Person; 5]>::try_from(tree.staff)
        else {
            unreachable!("five staff were asked for")
        };
        let (deactivated, revoked) = disabled_admins(app, &mut c, &admin).await;

        let callers = [
            ("admin", Some(&admin)),
            ("leader", Some(&leader)),
            ("manager", Some(&manager)),
            ("rep", Some(&rep)),
            ("deal_desk", Some(&deal_desk)),
            ("finance", Some(&finance)),
            ("legal", Some(&legal)),
            ("peer", Some(&peer)),
            ("other_manager", Some(&other_manager)),
            ("deactivated", Some(&deactivated)),
            ("revoked", Some(&revoked)),
            ("no_token", None),
        ];
        let actors = HashMap::from(callers.map(|(column, who)| {
            let id = who.map(|p| p.name().trim_start_matches("users/").to_string());
            (column.to_string(), id)
        }));
        let column_tokens = HashMap::from(
            callers.map(|(column, who)| (column.to_string(), who.map(|p| p.token.clone()))),
        );
        let mut tokens = column_tokens;
        tokens.insert(
            "garbage_token".into(),
            Some(format!("ddk_{}", "0".repeat(64))),
        );

        let pipeline = create_pipeline(&c, &admin, "Matrix").await;
        let spare = create_pipeline(&c, &admin, "Spare").await;
        c.desk
            .create_approval_policy(authed(
                &admin.token,
                pb::CreateApprovalPolicyRequest {
                    policy: Some(policy()),
                },
            ))
            .await
            .unwrap();
        let mut org = Matrix {
            c,
            admin,
            manager,
            deal_desk,
            rep,
            peer,
            standin,
            absentee,
            tokens,
            actors,
            pipeline,
            spare,
            deal: pb::Deal::default(),
            request: pb::ApprovalRequest::default(),
            win_rates: String::new(),
            delegation: String::new(),
        };
        org.deal = org.fresh_deal("a").await;
        org.request = org.fresh_request(&org.deal).await;
        org.win_rates = org.compute_win_rates().await;
        org.snapshot_forecast().await;
        org.delegation = org.delegate_absentee().await;
        org
    }

    /// A win-rate snapshot of the pipeline, computed by the admin: its name.
    async fn compute_win_rates(&self) -> String {
        self.c
            .forecasts
            .clone()
            .compute_win_rates(authed(
                &self.admin.token,
                pb::ComputeWinRatesRequest {
                    pipeline: self.pipeline.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .name
    }

    /// A forecast snapshot of the rep for the period.
    async fn snapshot_forecast(&self) {
        self.c
            .forecasts
            .clone()
            .snapshot_forecast(authed(
                &self.admin.token,
                pb::SnapshotForecastRequest {
                    period: PERIOD.into(),
                    scope: self.rep.name(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
    }

    /// A delegation of the absentee's approvals to the stand-in, 50 days on: its name.
    async fn delegate_absentee(&self) -> String {
        self.c
            .desk
            .clone()
            .create_delegation(authed(
                &self.admin.token,
                pb::CreateDelegationRequest {
                    delegation: Some(pb::Delegation {
                        delegator: self.absentee.name(),
                        delegate: self.standin.name(),
                        start_date: in_days(50),
                        end_date: in_days(51),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .name
    }

    /// A new deal of the rep in `stage`.
    async fn fresh_deal(&self, stage: &str) -> pb::Deal {
        let name = format!("Deal {}", unique());
        self.c
            .deals
            .clone()
            .create_deal(authed(
                &self.rep.token,
                pb::CreateDealRequest {
                    deal: Some(pb::Deal {
                        account: format!("{name} Corp"),
                        display_name: name,
                        pipeline: self.pipeline.name.clone(),
                        stage: stage.into(),
                        amount: usd(5_000_000),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// A request by the rep on `deal` for 20% off: it waits at the manager's step.
    async fn fresh_request(&self, deal: &pb::Deal) -> pb::ApprovalRequest {
        let request = self
            .c
            .desk
            .clone()
            .submit_approval_request(authed(&self.rep.token, ask(deal)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(request.state(), pb::approval_request::State::Pending);
        request
    }
}

fn ask(deal: &pb::Deal) -> pb::SubmitApprovalRequestRequest {
    pb::SubmitApprovalRequestRequest {
        deal: deal.name.clone(),
        discount_bps: 2000,
        ..Default::default()
    }
}

/// The period forecasts are asked for, and one that has ended (accuracy, backtests).
const PERIOD: &str = "2026-Q4";

// ---------------------------------------------------------------------------------------------
// The calls.

/// What a cell's call works on when it changes things: made fresh for the cell.
#[derive(Default)]
struct Fresh {
    deal: pb::Deal,
    request: pb::ApprovalRequest,
    token: String,
}

/// What a row's call changes, made fresh for each cell.
#[derive(Debug, Clone, Copy)]
enum Needs {
    Nothing,
    /// A live token of the stand-in, to revoke.
    Token,
    /// A deal of the rep in this stage.
    Deal(&'static str),
    /// A deal of the rep in stage `a` with a request waiting at the manager's step.
    Request,
}

/// Whether an answer holds the fixture: `true` for calls that answer one thing.
type Answer = Result<bool, Status>;

/// How a row's call is made: from the matrix, the fresh objects and the caller's token.
type CallFn = for<'a> fn(
    &'a Matrix,
    &'a Fresh,
    Option<&'a str>,
) -> Pin<Box<dyn Future<Output = Answer> + 'a>>;

/// One row of the call table: the matrix row it answers, what it needs made fresh, the call.
struct Call {
    key: &'static str,
    needs: Needs,
    call: CallFn,
}

/// Rows that record what happened: a refused call must leave every count as it was.
async fn written(app: &TestApp) -> i64 {
    let tables = [
        "audit_events",
        "deal_events",
        "approval_events",
        "forecast_call_events",
        "idempotency_keys",
        "users",
        "deals",
    ];
    // One number that changes whenever any of them gains (or loses) a row.
    let sum = tables
        .map(|t| format!("(SELECT COUNT(*) FROM {t})"))
        .join(" * 1000003 + ");
    let db = app.app.store.connection();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT CAST({sum} AS BIGINT) AS n"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

fn seen(answer: &Answer) -> String {
    match answer {
        Ok(true) => "OK".into(),
        Ok(false) => "HIDDEN".into(),
        Err(status) => format!("{:?} {}", status.code(), status.message()),
    }
}

fn matches(expected: Outcome, answer: &Answer) -> bool {
    match (expected, answer) {
        (Outcome::Ok, Ok(true)) | (Outcome::Hidden, Ok(false)) => true,
        (Outcome::Ok | Outcome::Hidden, _) | (_, Ok(_)) => false,
        (refusal, Err(status)) => {
            let code = match refusal {
                Outcome::Denied => Code::PermissionDenied,
                Outcome::NotFound => Code::NotFound,
                _ => Code::Unauthenticated,
            };
            status.code() == code && status.get_details_error_info().is_some()
        }
    }
}
