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

const MATRIX: &str = include_str!("../../docs/PERMISSIONS.md");

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

/// Every `Service.Method` of the `dealdesk.v1` package, from the compiled descriptors.
fn proto_rpcs() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .filter(|f| f.package() == "dealdesk.v1")
        .flat_map(|f| &f.service)
        .flat_map(|s| {
            s.method
                .iter()
                .map(move |m| format!("{}.{}", s.name(), m.name()))
        })
        .collect()
}

#[test]
fn every_rpc_of_the_protos_has_a_row_and_every_row_an_rpc() {
    let rows: BTreeSet<String> = rows().into_iter().map(|r| r.rpc).collect();
    let rpcs = proto_rpcs();
    let missing: Vec<_> = rpcs.difference(&rows).collect();
    let unknown: Vec<_> = rows.difference(&rpcs).collect();
    assert!(missing.is_empty(), "RPCs without a row: {missing:?}");
    assert!(unknown.is_empty(), "rows naming no RPC: {unknown:?}");
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

/// A request with the caller's credentials, if any.
fn req<T>(token: Option<&str>, message: T) -> Request<T> {
    match token {
        Some(token) => authed(token, message),
        None => Request::new(message),
    }
}

impl Matrix {
    async fn build(app: &TestApp) -> Matrix {
        let channel = Channel::from_shared(format!("http://{}", app.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = Clients {
            directory: DirectoryServiceClient::new(channel.clone()),
            pipelines: PipelineServiceClient::new(channel.clone()),
            deals: DealServiceClient::new(channel.clone()),
            forecasts: ForecastServiceClient::new(channel.clone()),
            desk: DealDeskServiceClient::new(channel.clone()),
            import: ImportServiceClient::new(channel),
        };
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

        // An admin deactivated after their token was issued.
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
        // An active admin whose token was revoked.
        let revoked = person(app, Role::Admin, None).await;
        let tokens = api_tokens(app, &revoked.name()).await;
        revoke_api_token(app, &tokens[0].name).await;

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

        let create_pipeline = |name: &str| {
            let mut pipelines = c.pipelines.clone();
            let request = authed(
                &admin.token,
                pb::CreatePipelineRequest {
                    pipeline: Some(matrix_pipeline(name)),
                    request_id: String::new(),
                },
            );
            async move {
                pipelines
                    .create_pipeline(request)
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        let pipeline = create_pipeline("Matrix").await;
        let spare = create_pipeline("Spare").await;
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
        org.win_rates = org
            .c
            .forecasts
            .clone()
            .compute_win_rates(authed(
                &org.admin.token,
                pb::ComputeWinRatesRequest {
                    pipeline: org.pipeline.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .name;
        org.c
            .forecasts
            .clone()
            .snapshot_forecast(authed(
                &org.admin.token,
                pb::SnapshotForecastRequest {
                    period: PERIOD.into(),
                    scope: org.rep.name(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        org.delegation = org
            .c
            .desk
            .clone()
            .create_delegation(authed(
                &org.admin.token,
                pb::CreateDelegationRequest {
                    delegation: Some(pb::Delegation {
                        delegator: org.absentee.name(),
                        delegate: org.standin.name(),
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
            .name;
        org
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
const ENDED_PERIOD: &str = "2026-Q1";

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

/// Makes the fresh objects `needs` names.
async fn prepare(app: &TestApp, org: &Matrix, needs: Needs) -> Fresh {
    match needs {
        Needs::Token => {
            let issued = app
                .app
                .issue_token_as(None, user_id(&org.standin.name()), "to revoke")
                .await
                .unwrap();
            Fresh {
                token: format!("{}/apiTokens/{}", org.standin.name(), issued.token.id),
                ..Default::default()
            }
        }
        Needs::Deal(stage) => Fresh {
            deal: org.fresh_deal(stage).await,
            ..Default::default()
        },
        Needs::Request => {
            let deal = org.fresh_deal("a").await;
            let request = org.fresh_request(&deal).await;
            Fresh {
                deal,
                request,
                ..Default::default()
            }
        }
        Needs::Nothing => Fresh::default(),
    }
}

/// An update of the fresh deal's field `path` to its value in `fields`.
fn update_fresh(fresh: &Fresh, fields: pb::Deal, path: &str) -> pb::UpdateDealRequest {
    pb::UpdateDealRequest {
        deal: Some(pb::Deal {
            name: fresh.deal.name.clone(),
            ..fields
        }),
        update_mask: mask(&[path]),
    }
}

/// A seller's call: commit and best case.
fn seller_call() -> (Option<pb::Money>, Option<pb::Money>) {
    (usd(1_000_000), usd(2_000_000))
}

/// Whether an answer holds the fixture: `true` for calls that answer one thing.
type Answer = Result<bool, Status>;

fn done<T>(result: Result<tonic::Response<T>, Status>) -> Answer {
    result.map(|_| true)
}

/// The first message of an event stream (the fixture has events for every caller who may
/// watch them).
async fn first<T>(result: Result<tonic::Response<Streaming<T>>, Status>) -> Answer {
    let mut stream = result?.into_inner();
    match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
        Ok(message) => Ok(message?.is_some()),
        Err(_) => panic!("no event within 10 s on a stream the caller may watch"),
    }
}

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

/// A row of the call table: `call!(key, needs, |matrix, fresh, token| { body })`, where the body
/// is an async block's.
macro_rules! call {
    ($key:literal, $needs:expr, |$org:tt, $fresh:tt, $token:tt| $body:block) => {
        Call {
            key: $key,
            needs: $needs,
            call: |$org, $fresh, $token| Box::pin(async move $body),
        }
    };
}

/// The call behind every row of the matrix, in the matrix's order.
fn calls() -> Vec<Call> {
    vec![
        // DirectoryService
        call!(
            "DirectoryService.CreateUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .create_user(req(
                            token,
                            pb::CreateUserRequest {
                                user: Some(new_user(
                                    &format!("new-{}@test.example", unique()),
                                    pb::Role::Rep,
                                )),
                                request_id: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.GetUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                let rep = org.rep.name();
                done(
                    directory
                        .get_user(req(token, pb::GetUserRequest { name: rep }))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.GetCurrentUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .get_current_user(req(token, pb::GetCurrentUserRequest {}))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.ListUsers",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                let rep = org.rep.name();
                directory
                    .list_users(req(
                        token,
                        pb::ListUsersRequest {
                            manager: org.manager.name(),
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| r.into_inner().users.iter().any(|u| u.name == rep))
            }
        ),
        call!(
            "DirectoryService.UpdateUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .update_user(req(
                            token,
                            pb::UpdateUserRequest {
                                user: Some(pb::User {
                                    name: org.standin.name(),
                                    display_name: format!("Stand-in {}", unique()),
                                    ..Default::default()
                                }),
                                update_mask: mask(&["display_name"]),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.CreateApiToken",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .create_api_token(req(
                            token,
                            pb::CreateApiTokenRequest {
                                parent: org.standin.name(),
                                api_token: Some(pb::ApiToken {
                                    display_name: "matrix".into(),
                                    ..Default::default()
                                }),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.ListApiTokens",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                let rep = org.rep.name();
                directory
                    .list_api_tokens(req(
                        token,
                        pb::ListApiTokensRequest {
                            parent: rep,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| !r.into_inner().api_tokens.is_empty())
            }
        ),
        call!(
            "DirectoryService.RevokeApiToken",
            Needs::Token,
            |org, fresh, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .revoke_api_token(req(
                            token,
                            pb::RevokeApiTokenRequest {
                                name: fresh.token.clone(),
                            },
                        ))
                        .await,
                )
            }
        ),
        // PipelineService
        call!(
            "PipelineService.CreatePipeline",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .create_pipeline(req(
                            token,
                            pb::CreatePipelineRequest {
                                pipeline: Some(matrix_pipeline(&format!("Matrix {}", unique()))),
                                request_id: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.GetPipeline",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .get_pipeline(req(
                            token,
                            pb::GetPipelineRequest {
                                name: org.pipeline.name.clone(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.ListPipelines",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                pipelines
                    .list_pipelines(req(
                        token,
                        pb::ListPipelinesRequest {
                            page_size: 500,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| {
                        r.into_inner()
                            .pipelines
                            .iter()
                            .any(|p| p.name == org.pipeline.name)
                    })
            }
        ),
        call!(
            "PipelineService.UpdatePipeline",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .update_pipeline(req(
                            token,
                            pb::UpdatePipelineRequest {
                                pipeline: Some(pb::Pipeline {
                                    name: org.spare.name.clone(),
                                    display_name: format!("Spare {}", unique()),
                                    ..Default::default()
                                }),
                                update_mask: mask(&["display_name"]),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.ListPipelineTemplates",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .list_pipeline_templates(req(token, pb::ListPipelineTemplatesRequest {}))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.GetPipelineMetrics",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                let rep = org.rep.name();
                done(
                    pipelines
                        .get_pipeline_metrics(req(
                            token,
                            pb::GetPipelineMetricsRequest {
                                pipeline: org.pipeline.name.clone(),
                                start_month: "2026-01".into(),
                                end_month: "2026-06".into(),
                                owner: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        // DealService
        call!("DealService.CreateDeal", Needs::Nothing, |org, _, token| {
            let mut deals = org.c.deals.clone();
            let rep = org.rep.name();
            done(
                deals
                    .create_deal(req(
                        token,
                        pb::CreateDealRequest {
                            deal: Some(pb::Deal {
                                display_name: "Created in the matrix".into(),
                                account: "Matrix Corp".into(),
                                owner: rep,
                                pipeline: org.pipeline.name.clone(),
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                    ))
                    .await,
            )
        }),
        call!("DealService.GetDeal", Needs::Nothing, |org, _, token| {
            let mut deals = org.c.deals.clone();
            let deal = org.deal.name.clone();
            done(
                deals
                    .get_deal(req(token, pb::GetDealRequest { name: deal }))
                    .await,
            )
        }),
        call!("DealService.ListDeals", Needs::Nothing, |org, _, token| {
            let mut deals = org.c.deals.clone();
            let deal = org.deal.name.clone();
            let rep = org.rep.name();
            deals
                .list_deals(req(
                    token,
                    pb::ListDealsRequest {
                        page_size: 500,
                        owner: rep,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| r.into_inner().deals.iter().any(|d| d.name == deal))
        }),
        call!("DealService.UpdateDeal", Needs::Nothing, |org, _, token| {
            let mut deals = org.c.deals.clone();
            let deal = org.deal.name.clone();
            done(
                deals
                    .update_deal(req(
                        token,
                        pb::UpdateDealRequest {
                            deal: Some(pb::Deal {
                                name: deal,
                                next_step: format!("Call back {}", unique()),
                                ..Default::default()
                            }),
                            update_mask: mask(&["next_step"]),
                        },
                    ))
                    .await,
            )
        }),
        call!(
            "DealService.UpdateDeal (into COMMIT)",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .update_deal(req(
                            token,
                            update_fresh(
                                fresh,
                                pb::Deal {
                                    forecast_category: pb::ForecastCategory::Commit as i32,
                                    ..Default::default()
                                },
                                "forecast_category",
                            ),
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.UpdateDeal (GREEN qualification)",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .update_deal(req(
                            token,
                            update_fresh(
                                fresh,
                                pb::Deal {
                                    qualification: vec![pb::QualificationItem {
                                        element: pb::QualificationElement::Champion as i32,
                                        status: pb::QualificationStatus::Green as i32,
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                },
                                "qualification",
                            ),
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.UpdateDeal (reassign to the peer)",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .update_deal(req(
                            token,
                            update_fresh(
                                fresh,
                                pb::Deal {
                                    owner: org.peer.name(),
                                    ..Default::default()
                                },
                                "owner",
                            ),
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.AdvanceDealStage",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .advance_deal_stage(req(
                            token,
                            pb::AdvanceDealStageRequest {
                                name: fresh.deal.name.clone(),
                                target_stage: "b".into(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.AdvanceDealStage (override)",
            Needs::Deal("b"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .advance_deal_stage(req(
                            token,
                            pb::AdvanceDealStageRequest {
                                name: fresh.deal.name.clone(),
                                target_stage: "c".into(),
                                override_justification: "The CFO signs; met in person".into(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.PreviewDealStage",
            Needs::Nothing,
            |org, _, token| {
                let mut deals = org.c.deals.clone();
                let deal = org.deal.name.clone();
                done(
                    deals
                        .preview_deal_stage(req(
                            token,
                            pb::PreviewDealStageRequest {
                                name: deal,
                                target_stage: "c".into(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.CloseDeal",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .close_deal(req(
                            token,
                            pb::CloseDealRequest {
                                name: fresh.deal.name.clone(),
                                outcome: pb::close_deal_request::Outcome::Lost as i32,
                                loss_reason: "No budget this year".into(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.ListDealStageHistory",
            Needs::Nothing,
            |org, _, token| {
                let mut deals = org.c.deals.clone();
                let deal = org.deal.name.clone();
                deals
                    .list_deal_stage_history(req(
                        token,
                        pb::ListDealStageHistoryRequest {
                            parent: deal,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| !r.into_inner().entries.is_empty())
            }
        ),
        call!(
            "DealService.ListDealFieldHistory",
            Needs::Nothing,
            |org, _, token| {
                let mut deals = org.c.deals.clone();
                let deal = org.deal.name.clone();
                deals
                    .list_deal_field_history(req(
                        token,
                        pb::ListDealFieldHistoryRequest {
                            parent: deal,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|_| true)
            }
        ),
        call!(
            "DealService.WatchDealEvents",
            Needs::Nothing,
            |org, _, token| {
                let mut deals = org.c.deals.clone();
                let deal = org.deal.name.clone();
                first(
                    deals
                        .watch_deal_events(req(
                            token,
                            pb::WatchDealEventsRequest {
                                deal,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
                .await
            }
        ),
        // ForecastService
        call!(
            "ForecastService.ComputeWinRates",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .compute_win_rates(req(
                            token,
                            pb::ComputeWinRatesRequest {
                                pipeline: org.pipeline.name.clone(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.GetWinRateSnapshot",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .get_win_rate_snapshot(req(
                            token,
                            pb::GetWinRateSnapshotRequest {
                                name: org.win_rates.clone(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.ListWinRateSnapshots",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                forecasts
                    .list_win_rate_snapshots(req(
                        token,
                        pb::ListWinRateSnapshotsRequest {
                            parent: org.pipeline.name.clone(),
                            page_size: 500,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| {
                        r.into_inner()
                            .snapshots
                            .iter()
                            .any(|s| s.name == org.win_rates)
                    })
            }
        ),
        call!(
            "ForecastService.GetForecast",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .get_forecast(req(
                            token,
                            pb::GetForecastRequest {
                                period: PERIOD.into(),
                                scope: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.GetForecast (org)",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .get_forecast(req(
                            token,
                            pb::GetForecastRequest {
                                period: PERIOD.into(),
                                scope: "org".into(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.SetExchangeRate",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .set_exchange_rate(req(
                            token,
                            pb::SetExchangeRateRequest {
                                rate: Some(pb::ExchangeRate {
                                    from_currency: "EUR".into(),
                                    to_currency: "USD".into(),
                                    rate: 1.08,
                                    ..Default::default()
                                }),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.ListExchangeRates",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .list_exchange_rates(req(token, pb::ListExchangeRatesRequest::default()))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.SubmitForecastCall",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let (commit, best_case) = seller_call();
                done(
                    forecasts
                        .submit_forecast_call(req(
                            token,
                            pb::SubmitForecastCallRequest {
                                period: PERIOD.into(),
                                commit,
                                best_case,
                                note: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.AdjustForecastCall",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                let (commit, best_case) = seller_call();
                done(
                    forecasts
                        .adjust_forecast_call(req(
                            token,
                            pb::AdjustForecastCallRequest {
                                period: PERIOD.into(),
                                user: rep,
                                commit,
                                best_case,
                                note: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.JudgeDeal",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let deal = org.deal.name.clone();
                done(
                    forecasts
                        .judge_deal(req(
                            token,
                            pb::JudgeDealRequest {
                                period: PERIOD.into(),
                                deal,
                                include: true,
                                note: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.GetForecastCall",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .get_forecast_call(req(
                            token,
                            pb::GetForecastCallRequest {
                                period: PERIOD.into(),
                                user: rep,
                                as_of_time: None,
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.SnapshotForecast",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .snapshot_forecast(req(
                            token,
                            pb::SnapshotForecastRequest {
                                period: PERIOD.into(),
                                scope: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.ListForecastSnapshots",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                forecasts
                    .list_forecast_snapshots(req(
                        token,
                        pb::ListForecastSnapshotsRequest {
                            period: PERIOD.into(),
                            scope: rep,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| !r.into_inner().snapshots.is_empty())
            }
        ),
        call!(
            "ForecastService.GetForecastAccuracy",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .get_forecast_accuracy(req(
                            token,
                            pb::GetForecastAccuracyRequest {
                                period: ENDED_PERIOD.into(),
                                scope: rep,
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.BacktestForecast",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .backtest_forecast(req(
                            token,
                            pb::BacktestForecastRequest {
                                period: ENDED_PERIOD.into(),
                                scope: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        // DealDeskService
        call!(
            "DealDeskService.CreateApprovalPolicy",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.create_approval_policy(req(
                        token,
                        pb::CreateApprovalPolicyRequest {
                            policy: Some(policy()),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.GetApprovalPolicy",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.get_approval_policy(req(
                        token,
                        pb::GetApprovalPolicyRequest {
                            name: "approvalPolicies/mid-market/versions/latest".into(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.PreviewApprovalRoute",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                let deal = org.deal.name.clone();
                done(
                    desk.preview_approval_route(req(
                        token,
                        pb::PreviewApprovalRouteRequest {
                            deal,
                            discount_bps: 2000,
                            ..Default::default()
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.SubmitApprovalRequest",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.submit_approval_request(req(token, ask(&fresh.deal)))
                        .await,
                )
            }
        ),
        call!(
            "DealDeskService.GetApprovalRequest",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.get_approval_request(req(
                        token,
                        pb::GetApprovalRequestRequest {
                            name: org.request.name.clone(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.ListApprovalRequests",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                let deal = org.deal.name.clone();
                desk.list_approval_requests(req(
                    token,
                    pb::ListApprovalRequestsRequest {
                        deal,
                        page_size: 500,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| {
                    r.into_inner()
                        .approval_requests
                        .iter()
                        .any(|q| q.name == org.request.name)
                })
            }
        ),
        call!(
            "DealDeskService.ListApprovalRequests (my queue)",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                desk.list_approval_requests(req(
                    token,
                    pb::ListApprovalRequestsRequest {
                        my_queue: true,
                        page_size: 500,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| {
                    r.into_inner()
                        .approval_requests
                        .iter()
                        .any(|q| q.name == org.request.name)
                })
            }
        ),
        call!(
            "DealDeskService.ApproveApprovalStep",
            Needs::Request,
            |org, fresh, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.approve_approval_step(req(
                        token,
                        pb::ApproveApprovalStepRequest {
                            step: format!("{}/steps/1", fresh.request.name),
                            ..Default::default()
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.RejectApprovalStep",
            Needs::Request,
            |org, fresh, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.reject_approval_step(req(
                        token,
                        pb::RejectApprovalStepRequest {
                            step: format!("{}/steps/1", fresh.request.name),
                            comment: "Too deep for this account".into(),
                            request_id: String::new(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.WithdrawApprovalRequest",
            Needs::Request,
            |org, fresh, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.withdraw_approval_request(req(
                        token,
                        pb::WithdrawApprovalRequestRequest {
                            name: fresh.request.name.clone(),
                            request_id: String::new(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.CreateDelegation",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.create_delegation(req(
                        token,
                        pb::CreateDelegationRequest {
                            delegation: Some(pb::Delegation {
                                delegate: org.standin.name(),
                                start_date: in_days(30),
                                end_date: in_days(31),
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.CreateDelegation (someone else's)",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.create_delegation(req(
                        token,
                        pb::CreateDelegationRequest {
                            delegation: Some(pb::Delegation {
                                delegator: org.absentee.name(),
                                delegate: org.standin.name(),
                                start_date: in_days(40),
                                end_date: in_days(41),
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.ListDelegations",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                desk.list_delegations(req(
                    token,
                    pb::ListDelegationsRequest {
                        page_size: 500,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| {
                    r.into_inner()
                        .delegations
                        .iter()
                        .any(|d| d.name == org.delegation)
                })
            }
        ),
        call!(
            "DealDeskService.WatchApprovalEvents",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                let deal = org.deal.name.clone();
                first(
                    desk.watch_approval_events(req(
                        token,
                        pb::WatchApprovalEventsRequest {
                            deal,
                            ..Default::default()
                        },
                    ))
                    .await,
                )
                .await
            }
        ),
        call!(
            "DealDeskService.WatchApprovalEvents (everything)",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                first(
                    desk.watch_approval_events(req(
                        token,
                        pb::WatchApprovalEventsRequest::default(),
                    ))
                    .await,
                )
                .await
            }
        ),
        call!(
            "DealDeskService.GetApprovalMetrics",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.get_approval_metrics(req(
                        token,
                        pb::GetApprovalMetricsRequest {
                            start_time: timestamp(Utc::now() + chrono::Duration::days(-30)),
                            end_time: timestamp(Utc::now() + chrono::Duration::days(1)),
                        },
                    ))
                    .await,
                )
            }
        ),
        // ImportService
        call!(
            "ImportService.ImportHistory",
            Needs::Nothing,
            |org, _, token| {
                use pb::import_history_request::Part;
                let mut import = org.c.import.clone();
                let messages = vec![
                    pb::ImportHistoryRequest {
                        part: Some(Part::Settings(pb::ImportSettings {
                            pipeline: org.pipeline.name.clone(),
                            mapping_json: r#"{"source": "matrix"}"#.into(),
                            // A real import (of no rows), so the cell checks its audit row too.
                            validate_only: false,
                            ..Default::default()
                        })),
                    },
                    pb::ImportHistoryRequest {
                        part: Some(Part::FileChunk(pb::ImportFileChunk {
                            file_name: "deals.csv".into(),
                            kind: pb::import_file_chunk::Kind::GenericDeals as i32,
                            data: b"external_id,name,account,owner,stage,amount,currency,\
                close_date,created_at,lead_source,forecast_category,\
                loss_reason\n"
                                .to_vec(),
                        })),
                    },
                ];
                done(
                    import
                        .import_history(req(token, tokio_stream::iter(messages)))
                        .await,
                )
            }
        ),
    ]
}

/// The call behind the matrix row `key`.
fn call_of(key: &str) -> Call {
    calls()
        .into_iter()
        .find(|call| call.key == key)
        .unwrap_or_else(|| panic!("the matrix row {key:?} has no call behind it"))
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

/// The newest audit row's id (0 when there is none).
async fn last_audit_id(app: &TestApp) -> i64 {
    let db = app.app.store.connection();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS n FROM audit_events",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// The audit rows written after `after`: (actor id, action).
async fn audit_since(app: &TestApp, after: i64) -> Vec<(Option<String>, String)> {
    let db = app.app.store.connection();
    db.query_all_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "SELECT actor_id, action FROM audit_events WHERE id > $1 ORDER BY id"
            }
            _ => "SELECT actor_id, action FROM audit_events WHERE id > ? ORDER BY id",
        },
        [after.into()],
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            row.try_get::<Option<String>>("", "actor_id").unwrap(),
            row.try_get::<String>("", "action").unwrap(),
        )
    })
    .collect()
}

/// Whether an RPC changes state (and so must leave an audit row): all but the readers.
fn writes(rpc: &str) -> bool {
    let method = rpc.rsplit('.').next().unwrap_or(rpc);
    !["Get", "List", "Preview", "Watch", "Backtest"]
        .iter()
        .any(|prefix| method.starts_with(prefix))
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

contract_test!(
    every_caller_gets_the_answer_its_cell_of_the_matrix_says,
    |app| {
        let org = Matrix::build(&app).await;
        let mut wrong = Vec::new();
        let mut cells = 0;
        for row in rows() {
            for (column, expected) in &row.cells {
                let call = call_of(&row.key);
                let fresh = prepare(&app, &org, call.needs).await;
                let before = written(&app).await;
                let last_audit = last_audit_id(&app).await;
                let answer = (call.call)(&org, &fresh, org.tokens[column].as_deref()).await;
                cells += 1;
                if !matches(*expected, &answer) {
                    wrong.push(format!(
                        "{} as {column}: expected {expected:?}, got {}",
                        row.key,
                        seen(&answer)
                    ));
                } else if expected.refused() && written(&app).await != before {
                    wrong.push(format!(
                        "{} as {column}: refused, but it wrote something",
                        row.key
                    ));
                } else if !expected.refused() {
                    // The audit trail names the caller of every write it records, and every
                    // accepted write leaves at least one row.
                    let audited = audit_since(&app, last_audit).await;
                    let caller = &org.actors[column];
                    for (actor, action) in &audited {
                        if actor != caller {
                            wrong.push(format!(
                                "{} as {column}: audit row {action} names {actor:?}, not {caller:?}",
                                row.key
                            ));
                        }
                    }
                    if audited.is_empty() && *expected == Outcome::Ok && writes(&row.rpc) {
                        wrong.push(format!("{} as {column}: wrote no audit row", row.key));
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {cells} cells differ from docs/PERMISSIONS.md:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        eprintln!("{cells} cells of the permission matrix checked");
    }
);

/// The next item of a stream that should end: its error, or a panic naming what came instead.
async fn ending<T: std::fmt::Debug>(stream: &mut Streaming<T>) -> Status {
    match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
        Ok(Err(status)) => status,
        Ok(Ok(item)) => panic!("the stream went on after its credentials died: {item:?}"),
        Err(_) => panic!("the stream neither ended nor sent anything within 10 s"),
    }
}

contract_test!(
    a_deal_event_stream_ends_when_its_user_is_deactivated,
    |app| {
        let org = Matrix::build(&app).await;
        let mut stream = org
            .c
            .deals
            .clone()
            .watch_deal_events(authed(
                &org.rep.token,
                pb::WatchDealEventsRequest {
                    deal: org.deal.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(stream.message().await.unwrap().is_some());
        org.c
            .directory
            .clone()
            .update_user(authed(
                &org.admin.token,
                pb::UpdateUserRequest {
                    user: Some(pb::User {
                        name: org.rep.name(),
                        active: Some(false),
                        ..Default::default()
                    }),
                    update_mask: mask(&["active"]),
                },
            ))
            .await
            .unwrap();
        org.c
            .deals
            .clone()
            .update_deal(authed(
                &org.admin.token,
                pb::UpdateDealRequest {
                    deal: Some(pb::Deal {
                        name: org.deal.name.clone(),
                        next_step: "Written after the rep left".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["next_step"]),
                },
            ))
            .await
            .unwrap();

        let status = ending(&mut stream).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
);

contract_test!(
    an_approval_event_stream_ends_when_its_token_is_revoked,
    |app| {
        let org = Matrix::build(&app).await;
        let mut stream = org
            .c
            .desk
            .clone()
            .watch_approval_events(authed(
                &org.rep.token,
                pb::WatchApprovalEventsRequest {
                    deal: org.deal.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(stream.message().await.unwrap().is_some());
        revoke_api_tokens(&app, &org.rep.name()).await;
        org.c
            .desk
            .clone()
            .approve_approval_step(authed(
                &org.manager.token,
                pb::ApproveApprovalStepRequest {
                    step: format!("{}/steps/1", org.request.name),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();

        // Drain what was sent before the revocation was seen: the stream may hold the submission's
        // events still; it must end before (or instead of) delivering the approval.
        loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
                Ok(Err(status)) => {
                    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                    break;
                }
                Ok(Ok(Some(event))) => assert_eq!(
                    event.kind(),
                    pb::approval_event::Kind::Submitted,
                    "an event written after the revocation reached the revoked token"
                ),
                Ok(Ok(None)) => panic!("the stream ended without an error"),
                Err(_) => panic!("the stream neither ended nor sent anything within 10 s"),
            }
        }
    }
);

/// Changes a user's `path` field as the admin.
async fn change_user(org: &Matrix, user: pb::User, path: &str) {
    org.c
        .directory
        .clone()
        .update_user(authed(
            &org.admin.token,
            pb::UpdateUserRequest {
                user: Some(user),
                update_mask: mask(&[path]),
            },
        ))
        .await
        .unwrap();
}

contract_test!(
    a_deal_event_stream_ends_when_its_watcher_is_no_longer_above_the_owner,
    |app| {
        let org = Matrix::build(&app).await;
        let mut stream = org
            .c
            .deals
            .clone()
            .watch_deal_events(authed(
                &org.manager.token,
                pb::WatchDealEventsRequest {
                    deal: org.deal.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(stream.message().await.unwrap().is_some());
        // The rep moves to another team: their deal is no longer the manager's to see.
        let other_manager = org.tokens["other_manager"].clone().unwrap();
        let other_manager = org
            .c
            .directory
            .clone()
            .get_current_user(authed(&other_manager, pb::GetCurrentUserRequest {}))
            .await
            .unwrap()
            .into_inner();
        change_user(
            &org,
            pb::User {
                name: org.rep.name(),
                manager: other_manager.name,
                ..Default::default()
            },
            "manager",
        )
        .await;
        org.c
            .deals
            .clone()
            .update_deal(authed(
                &org.admin.token,
                pb::UpdateDealRequest {
                    deal: Some(pb::Deal {
                        name: org.deal.name.clone(),
                        next_step: "Written after the move".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["next_step"]),
                },
            ))
            .await
            .unwrap();

        let status = ending(&mut stream).await;
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
);

contract_test!(
    an_unfiltered_approval_stream_ends_when_its_watcher_loses_the_role,
    |app| {
        let org = Matrix::build(&app).await;
        let mut stream = org
            .c
            .desk
            .clone()
            .watch_approval_events(authed(
                &org.deal_desk.token,
                pb::WatchApprovalEventsRequest::default(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(stream.message().await.unwrap().is_some());
        change_user(
            &org,
            pb::User {
                name: org.deal_desk.name(),
                role: pb::Role::Rep as i32,
                ..Default::default()
            },
            "role",
        )
        .await;
        org.c
            .desk
            .clone()
            .approve_approval_step(authed(
                &org.manager.token,
                pb::ApproveApprovalStepRequest {
                    step: format!("{}/steps/1", org.request.name),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();

        loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
                Ok(Err(status)) => {
                    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
                    break;
                }
                Ok(Ok(Some(event))) => assert_eq!(
                    event.kind(),
                    pb::approval_event::Kind::Submitted,
                    "an event written after the demotion reached the former deal desk"
                ),
                Ok(Ok(None)) => panic!("the stream ended without an error"),
                Err(_) => panic!("the stream neither ended nor sent anything within 10 s"),
            }
        }
    }
);
