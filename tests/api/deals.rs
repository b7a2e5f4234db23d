//! DealService: creating deals, gated stage moves and their checklist, closing, leader-owned
//! fields, visibility, etags, idempotent retries, listing and the stage history.

use dealdesk::domain::directory::Role;
use dealdesk::proto::deal_service_client::DealServiceClient;
use dealdesk::proto::google::r#type::Date;
use dealdesk::proto::{self as pb, exit_criterion as ec};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::contract_test;
use crate::fixtures::{
    Org, close_deal, close_lost, close_won, create_deal, create_pipeline, date, deal_in, in_days,
    mask, move_to, stage, template_pipeline, today, try_create_deal, usd,
};
use crate::helpers::{Person, TestApp, assert_error, authed, person, unmet, violated_fields};

use pb::close_deal_request::Outcome;
use pb::deal::Status as DealStatus;
use pb::stage_history_entry::Direction as History;

// ---------------------------------------------------------------------------------------------
// Setup: people, pipelines, deals.

/// Sends six copies of one request at once (each on its own connection) and returns every
/// answer, which must all be successes.
async fn six_at_once<T, F, Fut>(app: &TestApp, send: F) -> Vec<T>
where
    F: Fn(DealServiceClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>> + Send + 'static,
    T: Send + 'static,
{
    let mut tasks = Vec::new();
    for _ in 0..6 {
        tasks.push(tokio::spawn(send(app.deals().await)));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(
            task.await
                .unwrap()
                .expect("every retry gets the first answer"),
        );
    }
    answers
}

/// leader -> manager -> rep and leader -> peer_manager -> peer, plus the read-only roles.
async fn org(app: &TestApp) -> Org {
    Org::builder()
        .staff(&[Role::DealDesk, Role::Finance, Role::Legal])
        .build(app)
        .await
}

const QUALIFY: [&str; 2] = ["Next step is set", "Amount is greater than zero"];
const PROPOSE: [&str; 2] = [
    "An economic buyer is among the contacts",
    "Close date is today or later",
];
const NEGOTIATE: [&str; 1] = ["Qualification: paper process is at least green"];

/// A small pipeline with known gates: qualify -> propose -> negotiate -> won / lost.
async fn gated_pipeline(app: &TestApp) -> pb::Pipeline {
    use pb::stage::Kind;
    create_pipeline(
        app,
        pb::Pipeline {
            display_name: "Gated".into(),
            segment: pb::Segment::MidMarket as i32,
            stages: vec![
                stage(
                    "qualify",
                    10,
                    Kind::Open,
                    vec![
                        ec::Rule::FieldSet(ec::FieldSet {
                            field: pb::DealField::NextStep as i32,
                        }),
                        ec::Rule::AmountPositive(ec::AmountPositive {}),
                    ],
                ),
                stage(
                    "propose",
                    20,
                    Kind::Open,
                    vec![
                        ec::Rule::ContactWithRole(ec::ContactWithRole {
                            role: pb::BuyingRole::EconomicBuyer as i32,
                        }),
                        ec::Rule::CloseDateInFuture(ec::CloseDateInFuture {}),
                    ],
                ),
                stage(
                    "negotiate",
                    30,
                    Kind::Open,
                    vec![ec::Rule::QualificationAtLeast(ec::QualificationAtLeast {
                        element: pb::QualificationElement::PaperProcess as i32,
                        min_status: pb::QualificationStatus::Green as i32,
                    })],
                ),
                stage("closed-won", 100, Kind::Won, vec![]),
                stage("closed-lost", 110, Kind::Lost, vec![]),
            ],
            ..Default::default()
        },
    )
    .await
}

/// A pipeline created as-is from a built-in template.
fn subject(pipeline: &pb::Pipeline, stage_id: &str) -> String {
    format!("{}/stages/{stage_id}", pipeline.name)
}

fn contact(role: pb::BuyingRole, department: &str) -> pb::Contact {
    pb::Contact {
        display_name: format!("Pat {department}"),
        email: String::new(),
        title: "Director".into(),
        buying_role: role as i32,
        department: department.into(),
    }
}

fn item(
    element: pb::QualificationElement,
    status: pb::QualificationStatus,
) -> pb::QualificationItem {
    pb::QualificationItem {
        element: element as i32,
        status: status as i32,
        ..Default::default()
    }
}

/// A deal that meets the criteria of `qualify` and `propose` (not `negotiate`).
fn ready(pipeline: &pb::Pipeline, name: &str) -> pb::Deal {
    pb::Deal {
        amount: usd(5_000_000),
        close_date: in_days(30),
        next_step: "Demo with the CFO".into(),
        contacts: vec![contact(pb::BuyingRole::EconomicBuyer, "Finance")],
        ..deal_in(pipeline, name)
    }
}

async fn get(app: &TestApp, token: &str, name: &str) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .get_deal(authed(token, pb::GetDealRequest { name: name.into() }))
        .await
        .map(|r| r.into_inner())
}

/// Updates the fields named by `paths` to the values in `deal` (which carries the name).
async fn update(
    app: &TestApp,
    token: &str,
    deal: pb::Deal,
    paths: &[&str],
) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .update_deal(authed(
            token,
            pb::UpdateDealRequest {
                deal: Some(deal),
                update_mask: mask(paths),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn advance(
    app: &TestApp,
    token: &str,
    request: pb::AdvanceDealStageRequest,
) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .advance_deal_stage(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

async fn preview(
    app: &TestApp,
    token: &str,
    name: &str,
    target: &str,
) -> Result<pb::PreviewDealStageResponse, Status> {
    app.deals()
        .await
        .preview_deal_stage(authed(
            token,
            pb::PreviewDealStageRequest {
                name: name.into(),
                target_stage: target.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_history(
    app: &TestApp,
    token: &str,
    name: &str,
) -> Result<Vec<pb::StageHistoryEntry>, Status> {
    app.deals()
        .await
        .list_deal_stage_history(authed(
            token,
            pb::ListDealStageHistoryRequest {
                parent: name.into(),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner().entries)
}

async fn history(app: &TestApp, token: &str, name: &str) -> Vec<pb::StageHistoryEntry> {
    try_history(app, token, name).await.unwrap()
}

async fn list(
    app: &TestApp,
    token: &str,
    request: pb::ListDealsRequest,
) -> Result<pb::ListDealsResponse, Status> {
    app.deals()
        .await
        .list_deals(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

/// The names of the deals of one page listed with `request`.
async fn listed(app: &TestApp, token: &str, request: pb::ListDealsRequest) -> Vec<String> {
    list(app, token, request)
        .await
        .unwrap()
        .deals
        .into_iter()
        .map(|d| d.name)
        .collect()
}

/// The display names of the caller's deals in `order_by`.
async fn ordered(app: &TestApp, token: &str, order_by: &str) -> Vec<String> {
    list(
        app,
        token,
        pb::ListDealsRequest {
            order_by: order_by.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .deals
    .into_iter()
    .map(|d| d.display_name)
    .collect()
}

/// One history entry as (direction, from, to, actor, amount, close date).
type Summary<'a> = (
    i32,
    &'a str,
    &'a str,
    String,
    Option<pb::Money>,
    Option<Date>,
);

/// A timestamp as comparable (seconds, nanos).
fn instant(t: &Option<prost_types::Timestamp>) -> (i64, i32) {
    let t = t.expect("a timestamp");
    (t.seconds, t.nanos)
}

fn names(deals: &[&pb::Deal]) -> Vec<String> {
    deals.iter().map(|d| d.name.clone()).collect()
}

/// The expected unmet list: `descriptions` of the stage `stage_id`.
fn expect(pipeline: &pb::Pipeline, stage_id: &str, descriptions: &[&str]) -> Vec<(String, String)> {
    descriptions
        .iter()
        .map(|d| (subject(pipeline, stage_id), d.to_string()))
        .collect()
}

/// The unmet checks of a preview, as (subject, description).
fn unmet_checks(preview: &pb::PreviewDealStageResponse) -> Vec<(String, String)> {
    preview
        .checks
        .iter()
        .filter(|c| !c.met)
        .map(|c| {
            (
                c.stage.clone(),
                c.criterion.as_ref().unwrap().description.clone(),
            )
        })
        .collect()
}

async fn audit_rows(app: &TestApp, resource: &str) -> Vec<(String, String, String, String)> {
    use sea_orm::ConnectionTrait;
    let db = app.app.store.connection();
    let sql = match app.backend {
        crate::helpers::Backend::Sqlite => {
            "SELECT actor_id, field, old_value, new_value FROM audit_events \
             WHERE resource = ? AND action = 'UpdateDeal' ORDER BY id"
        }
        crate::helpers::Backend::Postgres => {
            "SELECT actor_id, field, old_value, new_value FROM audit_events \
             WHERE resource = $1 AND action = 'UpdateDeal' ORDER BY id"
        }
    };
    db.query_all_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [resource.into()],
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        let text = |column: &str| {
            row.try_get::<Option<String>>("", column)
                .unwrap()
                .unwrap_or_default()
        };
        (
            text("actor_id"),
            text("field"),
            text("old_value"),
            text("new_value"),
        )
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Creating deals.

contract_test!(
    a_rep_creates_a_deal_in_the_first_open_stage_owned_by_themselves,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let created = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                display_name: "  Acme - 500 seats ".into(),
                amount: usd(5_000_000),
                close_date: in_days(30),
                lead_source: pb::LeadSource::Inbound as i32,
                ..deal_in(&pipeline, "ignored")
            },
        )
        .await;
        assert!(created.name.starts_with("deals/"));
        assert_eq!(created.display_name, "Acme - 500 seats");
        assert_eq!(
            created.owner,
            rep.name(),
            "the owner defaults to the caller"
        );
        assert_eq!(created.pipeline, pipeline.name);
        assert_eq!(created.stage, "qualify", "the first open stage");
        assert_eq!(created.status, DealStatus::Open as i32);
        assert_eq!(
            created.forecast_category,
            pb::ForecastCategory::Pipeline as i32
        );
        assert_eq!(created.amount, usd(5_000_000));
        assert_eq!(created.close_date, in_days(30));
        assert!(created.loss_reason.is_empty() && created.close_time.is_none());
        assert!(created.create_time.is_some());
        assert_eq!(created.update_time, created.create_time);
        assert_eq!(created.stage_enter_time, created.create_time);
        assert!(!created.etag.is_empty());
        let read = get(&app, &rep.token, &created.name).await.unwrap();
        assert_eq!(read, created);
        assert_eq!(app.count("deals").await, 1);
    }
);

contract_test!(
    creating_in_a_later_stage_is_gated_by_every_stage_before_it,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let smb = template_pipeline(&app, pb::Segment::Smb).await;
        let status = try_create_deal(
            &app,
            &rep.token,
            pb::Deal {
                stage: "decision-pending".into(),
                ..deal_in(&smb, "Skipper")
            },
        )
        .await
        .unwrap_err();
        let mut expected = expect(
            &smb,
            "problem-recognized",
            &["Next step is set", "Lead source is set"],
        );
        expected.extend(expect(
            &smb,
            "solution-exploring",
            &[
                "Amount is greater than zero",
                "Close date is today or later",
                "A decision maker is among the contacts",
            ],
        ));
        assert_eq!(unmet(&status), expected);
        assert_eq!(app.count("deals").await, 0);
        assert_eq!(app.count("stage_history").await, 0);

        let created = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                stage: "decision-pending".into(),
                next_step: "Send the order form".into(),
                lead_source: pb::LeadSource::Referral as i32,
                amount: usd(120_000),
                close_date: in_days(7),
                contacts: vec![contact(pb::BuyingRole::DecisionMaker, "Operations")],
                ..deal_in(&smb, "Skipper")
            },
        )
        .await;
        assert_eq!(created.stage, "decision-pending");
        let entries = history(&app, &rep.token, &created.name).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].direction, History::Create as i32);
        assert_eq!(entries[0].to_stage, "decision-pending");
    }
);

contract_test!(
    reps_create_only_for_themselves_and_managers_only_for_their_subtree,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let for_user = |owner: &Person| pb::Deal {
            owner: owner.name(),
            ..deal_in(&pipeline, "Owned")
        };
        let status = try_create_deal(&app, &org.rep().token, for_user(org.peer()))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OWNER_NOT_ALLOWED");
        let status = try_create_deal(&app, &org.peer_manager.token, for_user(org.rep()))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OWNER_NOT_ALLOWED");
        assert_eq!(app.count("deals").await, 0);

        let by_manager = create_deal(&app, &org.manager.token, for_user(org.rep())).await;
        assert_eq!(by_manager.owner, org.rep().name());
        let by_leader = create_deal(&app, &org.leader.token, for_user(org.rep())).await;
        assert_eq!(by_leader.owner, org.rep().name());
        let entries = history(&app, &org.rep().token, &by_manager.name).await;
        assert_eq!(entries[0].actor, org.manager.name(), "the creator acts");
        assert_eq!(app.count("deals").await, 2);
    }
);

contract_test!(deal_desk_finance_and_legal_cannot_create_deals, |app| {
    let org = org(&app).await;
    let pipeline = gated_pipeline(&app).await;
    for reader in [&org.desk(), &org.finance(), &org.legal()] {
        for owner in [String::new(), org.rep().name()] {
            let status = try_create_deal(
                &app,
                &reader.token,
                pb::Deal {
                    owner,
                    ..deal_in(&pipeline, "Nope")
                },
            )
            .await
            .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "READ_ONLY_ROLE");
        }
    }
    assert_eq!(app.count("deals").await, 0);
});

contract_test!(
    bad_deal_values_are_each_reported_with_their_field_and_nothing_is_created,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let yesterday = Some(date(today().pred_opt().unwrap()));
        let cases: Vec<(pb::Deal, Vec<&str>)> = vec![
            (
                pb::Deal {
                    display_name: "   ".into(),
                    amount: Some(pb::Money {
                        currency_code: "usd".into(),
                        amount_minor: -5,
                    }),
                    close_date: yesterday,
                    ..deal_in(&pipeline, "")
                },
                vec![
                    "deal.display_name",
                    "deal.amount.currency_code",
                    "deal.amount.amount_minor",
                    "deal.close_date",
                ],
            ),
            (
                pb::Deal {
                    amount: usd(-1),
                    ..deal_in(&pipeline, "Negative")
                },
                vec!["deal.amount.amount_minor"],
            ),
            (
                pb::Deal {
                    amount: usd(0),
                    ..deal_in(&pipeline, "Zero")
                },
                vec!["deal.amount.amount_minor"],
            ),
            (
                pb::Deal {
                    amount: Some(pb::Money {
                        currency_code: "XYZ".into(),
                        amount_minor: 100,
                    }),
                    ..deal_in(&pipeline, "Unknown currency")
                },
                vec!["deal.amount.currency_code"],
            ),
            (
                pb::Deal {
                    close_date: yesterday,
                    ..deal_in(&pipeline, "Past")
                },
                vec!["deal.close_date"],
            ),
            (deal_in(&pipeline, ""), vec!["deal.display_name"]),
            (
                deal_in(&pipeline, &"x".repeat(201)),
                vec!["deal.display_name"],
            ),
            (
                pb::Deal {
                    pipeline: String::new(),
                    ..deal_in(&pipeline, "No pipeline")
                },
                vec!["deal.pipeline"],
            ),
        ];
        // The reason is the kind of the first problem.
        let reasons = [
            "MISSING_FIELD",
            "BAD_MONEY",
            "BAD_MONEY",
            "BAD_CURRENCY",
            "BAD_DATE",
            "MISSING_FIELD",
            "TEXT_TOO_LONG",
            "BAD_NAME",
        ];
        for ((deal, fields), reason) in cases.into_iter().zip(reasons) {
            let status = try_create_deal(&app, &rep.token, deal.clone())
                .await
                .unwrap_err();
            assert_error(&status, Code::InvalidArgument, reason);
            assert_eq!(violated_fields(&status), fields, "{deal:?}");
        }
        assert_eq!(app.count("deals").await, 0);
        assert_eq!(app.count("stage_history").await, 0);

        // The limits themselves are accepted.
        let edge = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                close_date: Some(date(today())),
                amount: usd(1),
                ..deal_in(&pipeline, &"x".repeat(200))
            },
        )
        .await;
        assert_eq!(edge.display_name.chars().count(), 200);
    }
);

contract_test!(
    a_deal_is_created_only_in_an_open_stage_of_an_existing_pipeline,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let smb = template_pipeline(&app, pb::Segment::Smb).await;
        let in_stage = |stage: &str| pb::Deal {
            stage: stage.into(),
            ..deal_in(&pipeline, "Placed")
        };
        let cases = [
            (in_stage("nope"), "deal.stage"),
            // A stage of the other pipeline.
            (in_stage("solution-exploring"), "deal.stage"),
            (in_stage("closed-won"), "deal.stage"),
            (in_stage("closed-lost"), "deal.stage"),
            (
                pb::Deal {
                    pipeline: format!("pipelines/{}", uuid::Uuid::now_v7()),
                    ..deal_in(&smb, "Nowhere")
                },
                "deal.pipeline",
            ),
            (
                pb::Deal {
                    pipeline: "pipelines/not-a-uuid".into(),
                    ..deal_in(&smb, "Nowhere")
                },
                "deal.pipeline",
            ),
        ];
        for (deal, field) in cases {
            let status = try_create_deal(&app, &rep.token, deal.clone())
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), [field], "{deal:?}");
        }
        assert_eq!(app.count("deals").await, 0);
    }
);

contract_test!(
    a_retried_create_returns_the_first_deal_and_creates_it_once,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let request = pb::CreateDealRequest {
            deal: Some(ready(&pipeline, "Once")),
            request_id: "create-once".into(),
        };
        let mut deals = app.deals().await;
        let first = deals
            .create_deal(authed(&rep.token, request.clone()))
            .await
            .unwrap()
            .into_inner();
        let second = deals
            .create_deal(authed(&rep.token, request.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first, second);
        assert_eq!(app.count("deals").await, 1);
        assert_eq!(app.count("stage_history").await, 1);
        let status = deals
            .create_deal(authed(
                &rep.token,
                pb::CreateDealRequest {
                    deal: Some(ready(&pipeline, "Something else")),
                    request_id: "create-once".into(),
                },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "REQUEST_ID_REUSED");
        assert_eq!(violated_fields(&status), ["request_id"]);
        assert_eq!(app.count("deals").await, 1);
    }
);

contract_test!(
    concurrent_retries_of_one_create_answer_alike_and_create_once,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let request = pb::CreateDealRequest {
            deal: Some(ready(&pipeline, "Raced")),
            request_id: "race-create".into(),
        };
        let created = six_at_once(&app, |mut deals| {
            let (token, request) = (rep.token.clone(), request.clone());
            async move {
                deals
                    .create_deal(authed(&token, request))
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        assert!(created.iter().all(|d| *d == created[0]));
        assert_eq!(app.count("deals").await, 1);

        assert_eq!(app.count("stage_history").await, 1);
    }
);

contract_test!(
    concurrent_retries_of_a_move_or_a_close_answer_alike_and_change_once,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Raced move")).await;
        let advance = pb::AdvanceDealStageRequest {
            name: deal.name.clone(),
            target_stage: "propose".into(),
            request_id: "race-advance".into(),
            ..Default::default()
        };
        let moved = six_at_once(&app, |mut deals| {
            let (token, request) = (rep.token.clone(), advance.clone());
            async move {
                deals
                    .advance_deal_stage(authed(&token, request))
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        assert!(moved.iter().all(|d| *d == moved[0] && d.stage == "propose"));
        assert_eq!(app.count("stage_history").await, 2, "create and one move");

        let close = pb::CloseDealRequest {
            name: deal.name.clone(),
            outcome: pb::close_deal_request::Outcome::Lost as i32,
            loss_reason: "No budget".into(),
            request_id: "race-close".into(),
            ..Default::default()
        };
        let closed = six_at_once(&app, |mut deals| {
            let (token, request) = (rep.token.clone(), close.clone());
            async move {
                deals
                    .close_deal(authed(&token, request))
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        assert!(
            closed
                .iter()
                .all(|d| *d == closed[0] && d.status == DealStatus::Lost as i32)
        );
        assert_eq!(
            app.count("stage_history").await,
            3,
            "create, one move, one close"
        );
    }
);

// ---------------------------------------------------------------------------------------------
// Stage moves and their checklist.

contract_test!(
    a_refused_forward_move_lists_every_unmet_criterion_and_changes_nothing,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Early")).await;
        let status = move_to(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap_err();
        assert_eq!(unmet(&status), expect(&pipeline, "qualify", &QUALIFY));
        let read = get(&app, &rep.token, &deal.name).await.unwrap();
        assert_eq!(read, deal, "stage, etag and times unchanged");
        assert_eq!(app.count("stage_history").await, 1);

        // Half the evidence: only what is still missing is listed.
        update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                next_step: "Discovery call".into(),
                ..Default::default()
            },
            &["next_step"],
        )
        .await
        .unwrap();
        let status = move_to(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap_err();
        assert_eq!(
            unmet(&status),
            expect(&pipeline, "qualify", &["Amount is greater than zero"])
        );
    }
);

contract_test!(
    skipping_stages_checks_the_criteria_of_every_stage_skipped_but_not_the_target,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                next_step: "Demo".into(),
                amount: usd(10_000),
                ..deal_in(&pipeline, "Skipper")
            },
        )
        .await;
        let status = move_to(&app, &rep.token, &deal.name, "negotiate")
            .await
            .unwrap_err();
        assert_eq!(unmet(&status), expect(&pipeline, "propose", &PROPOSE));
        let mut refused_all = expect(&pipeline, "qualify", &QUALIFY);
        refused_all.extend(expect(&pipeline, "propose", &PROPOSE));
        let empty = create_deal(&app, &rep.token, deal_in(&pipeline, "Empty")).await;
        let status = move_to(&app, &rep.token, &empty.name, "negotiate")
            .await
            .unwrap_err();
        assert_eq!(unmet(&status), refused_all, "in stage order");

        update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                ..ready(&pipeline, "Skipper")
            },
            &["contacts", "close_date"],
        )
        .await
        .unwrap();
        let moved = move_to(&app, &rep.token, &deal.name, "negotiate")
            .await
            .unwrap();
        assert_eq!(moved.stage, "negotiate");
        // A move keeps the contacts the update stored (it does not rewrite them).
        let stored = app
            .deals()
            .await
            .get_deal(authed(
                &rep.token,
                pb::GetDealRequest {
                    name: deal.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stored.contacts, ready(&pipeline, "Skipper").contacts);
        assert!(!stored.contacts.is_empty());
        let last = history(&app, &rep.token, &deal.name).await.pop().unwrap();
        assert_eq!(
            (last.from_stage.as_str(), last.to_stage.as_str()),
            ("qualify", "negotiate")
        );
        assert_eq!(last.direction, History::Forward as i32);
        assert!(!last.overridden);
    }
);

contract_test!(
    preview_lists_the_checklist_and_its_unmet_items_are_what_advance_refuses_with,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let mid = template_pipeline(&app, pb::Segment::MidMarket).await;
        let deal = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                next_step: "Discovery".into(),
                amount: usd(250_000),
                ..deal_in(&mid, "Mid deal")
            },
        )
        .await;
        assert_eq!(deal.stage, "problem-recognized");
        let answer = preview(&app, &rep.token, &deal.name, "business-case-built")
            .await
            .unwrap();
        assert_eq!(
            answer.direction,
            pb::preview_deal_stage_response::Direction::Forward as i32
        );
        assert!(!answer.allowed);
        let checklist: Vec<(String, String, bool)> = answer
            .checks
            .iter()
            .map(|c| {
                (
                    c.stage.clone(),
                    c.criterion.as_ref().unwrap().description.clone(),
                    c.met,
                )
            })
            .collect();
        let pr = subject(&mid, "problem-recognized");
        let se = subject(&mid, "solution-exploring");
        assert_eq!(
            checklist,
            [
                (pr.clone(), "Next step is set".to_string(), true),
                (pr.clone(), "Lead source is set".to_string(), false),
                (pr.clone(), "Need (BANT) is set".to_string(), false),
                (se.clone(), "Amount is greater than zero".to_string(), true),
                (
                    se.clone(),
                    "Close date is today or later".to_string(),
                    false
                ),
                (
                    se.clone(),
                    "A champion is among the contacts".to_string(),
                    false
                ),
                (
                    se.clone(),
                    "Qualification: identified pain is at least yellow".to_string(),
                    false
                ),
            ]
        );
        // The criteria are the pipeline's own, rule and all.
        let stage_criteria: Vec<pb::ExitCriterion> = mid.stages[..2]
            .iter()
            .flat_map(|s| s.exit_criteria.clone())
            .collect();
        let previewed: Vec<pb::ExitCriterion> = answer
            .checks
            .iter()
            .map(|c| c.criterion.clone().unwrap())
            .collect();
        assert_eq!(previewed, stage_criteria);

        let status = move_to(&app, &rep.token, &deal.name, "business-case-built")
            .await
            .unwrap_err();
        assert_eq!(unmet(&status), unmet_checks(&answer));

        // Previewing close won lists every open stage; closing won refuses with the same.
        let won = preview(&app, &rep.token, &deal.name, "closed-won")
            .await
            .unwrap();
        let all: usize = mid.stages.iter().map(|s| s.exit_criteria.len()).sum();
        assert_eq!(won.checks.len(), all);
        let status = close_won(&app, &rep.token, &deal.name).await.unwrap_err();
        assert_eq!(unmet(&status), unmet_checks(&won));

        // Staying put or closing lost needs nothing.
        let here = preview(&app, &rep.token, &deal.name, "problem-recognized")
            .await
            .unwrap();
        assert_eq!(
            here.direction,
            pb::preview_deal_stage_response::Direction::None as i32
        );
        assert!(here.checks.is_empty());
        let lost = preview(&app, &rep.token, &deal.name, "closed-lost")
            .await
            .unwrap();
        assert!(lost.allowed && lost.checks.is_empty());
        let status = preview(&app, &rep.token, &deal.name, "nope")
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["target_stage"]);
        assert_eq!(app.count("stage_history").await, 1, "previews move nothing");
    }
);

contract_test!(
    a_forward_move_with_its_criteria_met_moves_the_deal_and_records_it,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Ready")).await;
        let allowed = preview(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap();
        assert!(allowed.allowed && allowed.checks.iter().all(|c| c.met));
        let moved = move_to(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap();
        assert_eq!(moved.stage, "propose");
        assert_ne!(moved.etag, deal.etag);
        assert!(instant(&moved.stage_enter_time) > instant(&deal.stage_enter_time));
        assert_eq!(moved.update_time, moved.stage_enter_time);
        assert_eq!(moved.create_time, deal.create_time);
        assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), moved);
        let entries = history(&app, &rep.token, &deal.name).await;
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].direction, History::Forward as i32);
        assert_eq!(entries[1].from_stage, "qualify");
        assert_eq!(entries[1].to_stage, "propose");
        assert_eq!(entries[1].actor, rep.name());
        assert_eq!(entries[1].change_time, moved.stage_enter_time);
    }
);

contract_test!(
    backward_moves_are_not_gated_and_are_recorded_as_backward,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Back and forth")).await;
        move_to(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap();
        // The evidence goes away: going back is still free.
        update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                ..Default::default()
            },
            &["next_step", "amount", "contacts"],
        )
        .await
        .unwrap();
        let back = preview(&app, &rep.token, &deal.name, "qualify")
            .await
            .unwrap();
        assert_eq!(
            back.direction,
            pb::preview_deal_stage_response::Direction::Backward as i32
        );
        assert!(back.allowed && back.checks.is_empty());
        let moved = move_to(&app, &rep.token, &deal.name, "qualify")
            .await
            .unwrap();
        assert_eq!(moved.stage, "qualify");
        let last = history(&app, &rep.token, &deal.name).await.pop().unwrap();
        assert_eq!(last.direction, History::Backward as i32);
        assert_eq!(
            (last.from_stage.as_str(), last.to_stage.as_str()),
            ("propose", "qualify")
        );
        assert!(!last.overridden);
    }
);

contract_test!(
    a_move_must_target_another_open_stage_of_the_deals_pipeline,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Targeted")).await;
        for (target, reason) in [
            ("closed-won", "CLOSED_STAGE"),
            ("closed-lost", "CLOSED_STAGE"),
            ("nope", "UNKNOWN_STAGE"),
            ("", "MISSING_FIELD"),
        ] {
            let status = move_to(&app, &rep.token, &deal.name, target)
                .await
                .unwrap_err();
            assert_error(&status, Code::InvalidArgument, reason);
            assert_eq!(violated_fields(&status), ["target_stage"], "{target:?}");
        }
        let status = move_to(&app, &rep.token, &deal.name, "qualify")
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "ALREADY_IN_STAGE");
        assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), deal);
        assert_eq!(app.count("stage_history").await, 1);
    }
);

contract_test!(
    only_a_manager_above_the_owner_overrides_exit_criteria_and_the_justification_is_kept,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Forced")).await;
        let forced = |justification: &str| pb::AdvanceDealStageRequest {
            name: deal.name.clone(),
            target_stage: "propose".into(),
            override_justification: justification.into(),
            ..Default::default()
        };
        let status = advance(&app, &org.rep().token, forced("I know best"))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OVERRIDE_REQUIRES_MANAGER");
        let status = advance(&app, &org.peer_manager.token, forced("Not mine"))
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = advance(&app, &org.manager.token, forced(&"j".repeat(2001)))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["override_justification"]);
        assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), deal);
        assert_eq!(app.count("stage_history").await, 1);

        let moved = advance(
            &app,
            &org.manager.token,
            forced("  Signed LOI; CRM catching up  "),
        )
        .await
        .unwrap();
        assert_eq!(moved.stage, "propose");
        let last = history(&app, &org.rep().token, &deal.name)
            .await
            .pop()
            .unwrap();
        assert!(last.overridden);
        assert_eq!(last.override_justification, "Signed LOI; CRM catching up");
        assert_eq!(last.actor, org.manager.name());
        assert_eq!(last.direction, History::Forward as i32);

        // A leader higher up may override too.
        let moved = advance(
            &app,
            &org.leader.token,
            pb::AdvanceDealStageRequest {
                name: deal.name.clone(),
                target_stage: "negotiate".into(),
                override_justification: "Board approved".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(moved.stage, "negotiate");
        let last = history(&app, &org.rep().token, &deal.name)
            .await
            .pop()
            .unwrap();
        assert!(last.overridden && last.actor == org.leader.name());
    }
);

contract_test!(
    a_retried_advance_returns_the_first_answer_and_moves_once,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Retried")).await;
        let request = pb::AdvanceDealStageRequest {
            name: deal.name.clone(),
            target_stage: "propose".into(),
            etag: deal.etag.clone(),
            request_id: "move-1".into(),
            ..Default::default()
        };
        let first = advance(&app, &rep.token, request.clone()).await.unwrap();
        let second = advance(&app, &rep.token, request.clone()).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(first.stage, "propose");
        assert_eq!(app.count("stage_history").await, 2);
        let moves: Vec<_> = history(&app, &rep.token, &deal.name)
            .await
            .into_iter()
            .filter(|e| e.to_stage == "propose")
            .collect();
        assert_eq!(moves.len(), 1, "exactly one row for the move");

        // Even after the deal moved on, the retry answers the first answer and moves nothing.
        move_to(&app, &rep.token, &deal.name, "qualify")
            .await
            .unwrap();
        let third = advance(&app, &rep.token, request).await.unwrap();
        assert_eq!(third, first);
        assert_eq!(
            get(&app, &rep.token, &deal.name).await.unwrap().stage,
            "qualify"
        );
        assert_eq!(app.count("stage_history").await, 3);
    }
);

contract_test!(
    a_move_with_a_stale_etag_is_aborted_and_changes_nothing,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Stale")).await;
        let updated = update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                next_step: "Second demo".into(),
                ..Default::default()
            },
            &["next_step"],
        )
        .await
        .unwrap();
        let status = advance(
            &app,
            &rep.token,
            pb::AdvanceDealStageRequest {
                name: deal.name.clone(),
                target_stage: "propose".into(),
                etag: deal.etag.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::Aborted, "STALE_ETAG");
        assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), updated);
        let moved = advance(
            &app,
            &rep.token,
            pb::AdvanceDealStageRequest {
                name: deal.name.clone(),
                target_stage: "propose".into(),
                etag: updated.etag.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(moved.stage, "propose");
    }
);

// ---------------------------------------------------------------------------------------------
// Closing.

contract_test!(closing_won_is_gated_like_a_move_to_the_won_stage, |app| {
    let org = org(&app).await;
    let pipeline = gated_pipeline(&app).await;
    let deal = create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            next_step: "Demo".into(),
            amount: usd(80_000),
            ..deal_in(&pipeline, "To win")
        },
    )
    .await;
    let status = close_won(&app, &org.rep().token, &deal.name)
        .await
        .unwrap_err();
    let mut expected = expect(&pipeline, "propose", &PROPOSE);
    expected.extend(expect(&pipeline, "negotiate", &NEGOTIATE));
    assert_eq!(unmet(&status), expected);
    assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), deal);

    update(
        &app,
        &org.rep().token,
        pb::Deal {
            name: deal.name.clone(),
            ..ready(&pipeline, "To win")
        },
        &["contacts", "close_date"],
    )
    .await
    .unwrap();
    update(
        &app,
        &org.manager.token,
        pb::Deal {
            name: deal.name.clone(),
            qualification: vec![item(
                pb::QualificationElement::PaperProcess,
                pb::QualificationStatus::Green,
            )],
            ..Default::default()
        },
        &["qualification"],
    )
    .await
    .unwrap();
    let won = close_won(&app, &org.rep().token, &deal.name).await.unwrap();
    assert_eq!(won.status, DealStatus::Won as i32);
    assert_eq!(won.stage, "closed-won");
    assert_eq!(won.forecast_category, pb::ForecastCategory::Closed as i32);
    assert!(won.close_time.is_some());
    assert_eq!(won.close_time, won.stage_enter_time);
    assert!(won.loss_reason.is_empty());
    assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), won);
    let last = history(&app, &org.rep().token, &deal.name)
        .await
        .pop()
        .unwrap();
    assert_eq!(last.direction, History::Close as i32);
    assert_eq!(
        (last.from_stage.as_str(), last.to_stage.as_str()),
        ("qualify", "closed-won")
    );
});

contract_test!(only_a_manager_above_the_owner_forces_a_close_won, |app| {
    let org = org(&app).await;
    let pipeline = gated_pipeline(&app).await;
    let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Forced win")).await;
    let forced = pb::CloseDealRequest {
        name: deal.name.clone(),
        outcome: Outcome::Won as i32,
        override_justification: "Signed on paper".into(),
        ..Default::default()
    };
    let status = close_deal(&app, &org.rep().token, forced.clone())
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "OVERRIDE_REQUIRES_MANAGER");
    assert_eq!(
        get(&app, &org.rep().token, &deal.name)
            .await
            .unwrap()
            .status,
        DealStatus::Open as i32
    );
    let won = close_deal(&app, &org.manager.token, forced).await.unwrap();
    assert_eq!(won.status, DealStatus::Won as i32);
    let last = history(&app, &org.rep().token, &deal.name)
        .await
        .pop()
        .unwrap();
    assert!(last.overridden);
    assert_eq!(last.override_justification, "Signed on paper");
    assert_eq!(last.direction, History::Close as i32);
});

contract_test!(closing_lost_needs_a_reason_and_is_never_gated, |app| {
    let rep = person(&app, Role::Rep, None).await;
    let pipeline = gated_pipeline(&app).await;
    let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "To lose")).await;
    for reason in ["", "   "] {
        let status = close_lost(&app, &rep.token, &deal.name, reason)
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["loss_reason"], "{reason:?}");
    }
    let status = close_deal(
        &app,
        &rep.token,
        pb::CloseDealRequest {
            name: deal.name.clone(),
            outcome: Outcome::Won as i32,
            loss_reason: "Not for a win".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["loss_reason"]);
    let status = close_deal(
        &app,
        &rep.token,
        pb::CloseDealRequest {
            name: deal.name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["outcome"]);
    assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), deal);

    let lost = close_lost(&app, &rep.token, &deal.name, " Chose a competitor ")
        .await
        .unwrap();
    assert_eq!(lost.status, DealStatus::Lost as i32);
    assert_eq!(lost.stage, "closed-lost");
    assert_eq!(lost.loss_reason, "Chose a competitor");
    assert_eq!(lost.forecast_category, pb::ForecastCategory::Closed as i32);
    assert!(lost.close_time.is_some());
    assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), lost);
    let last = history(&app, &rep.token, &deal.name).await.pop().unwrap();
    assert_eq!(last.direction, History::Close as i32);
    assert_eq!(last.to_stage, "closed-lost");
});

contract_test!(
    a_closed_deal_refuses_updates_moves_and_another_close,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, ready(&pipeline, "Done")).await;
        let lost = close_lost(&app, &org.rep().token, &deal.name, "No budget")
            .await
            .unwrap();
        let rows = app.count("stage_history").await;
        for who in [org.rep(), &org.manager] {
            let status = update(
                &app,
                &who.token,
                pb::Deal {
                    name: deal.name.clone(),
                    next_step: "Try again".into(),
                    ..Default::default()
                },
                &["next_step"],
            )
            .await
            .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "DEAL_CLOSED");
            let status = move_to(&app, &who.token, &deal.name, "propose")
                .await
                .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "DEAL_CLOSED");
            let status = close_won(&app, &who.token, &deal.name).await.unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "DEAL_CLOSED");
            let status = close_lost(&app, &who.token, &deal.name, "Again")
                .await
                .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "DEAL_CLOSED");
        }
        assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), lost);
        assert_eq!(app.count("stage_history").await, rows);
    }
);

// ---------------------------------------------------------------------------------------------
// Leader-owned fields.

contract_test!(
    a_rep_sets_pipeline_best_case_and_omitted_but_not_commit,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Forecast")).await;
        let set = |category: pb::ForecastCategory| pb::Deal {
            name: deal.name.clone(),
            forecast_category: category as i32,
            ..Default::default()
        };
        for category in [
            pb::ForecastCategory::BestCase,
            pb::ForecastCategory::Omitted,
            pb::ForecastCategory::Pipeline,
        ] {
            let updated = update(&app, &rep.token, set(category), &["forecast_category"])
                .await
                .unwrap();
            assert_eq!(updated.forecast_category, category as i32);
        }
        let before = get(&app, &rep.token, &deal.name).await.unwrap();
        let status = update(
            &app,
            &rep.token,
            set(pb::ForecastCategory::Commit),
            &["forecast_category"],
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "COMMIT_REQUIRES_MANAGER");
        assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), before);
        let status = try_create_deal(
            &app,
            &rep.token,
            pb::Deal {
                forecast_category: pb::ForecastCategory::Commit as i32,
                ..deal_in(&pipeline, "Committed from the start")
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "COMMIT_REQUIRES_MANAGER");
        assert_eq!(app.count("deals").await, 1);
    }
);

contract_test!(
    only_a_manager_above_the_owner_moves_a_deal_into_or_out_of_commit,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Commit me")).await;
        let set = |category: pb::ForecastCategory| pb::Deal {
            name: deal.name.clone(),
            forecast_category: category as i32,
            ..Default::default()
        };
        let status = update(
            &app,
            &org.peer_manager.token,
            set(pb::ForecastCategory::Commit),
            &["forecast_category"],
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let committed = update(
            &app,
            &org.manager.token,
            set(pb::ForecastCategory::Commit),
            &["forecast_category"],
        )
        .await
        .unwrap();
        assert_eq!(
            committed.forecast_category,
            pb::ForecastCategory::Commit as i32
        );
        let status = update(
            &app,
            &org.rep().token,
            set(pb::ForecastCategory::BestCase),
            &["forecast_category"],
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "COMMIT_REQUIRES_MANAGER");
        // Other fields of a committed deal stay the rep's.
        let noted = update(
            &app,
            &org.rep().token,
            pb::Deal {
                name: deal.name.clone(),
                next_step: "Legal review".into(),
                ..Default::default()
            },
            &["next_step"],
        )
        .await
        .unwrap();
        assert_eq!(noted.forecast_category, pb::ForecastCategory::Commit as i32);
        let out = update(
            &app,
            &org.leader.token,
            set(pb::ForecastCategory::BestCase),
            &["forecast_category"],
        )
        .await
        .unwrap();
        assert_eq!(out.forecast_category, pb::ForecastCategory::BestCase as i32);
    }
);

contract_test!(closed_is_never_set_by_an_update_or_a_create, |app| {
    let org = org(&app).await;
    let pipeline = gated_pipeline(&app).await;
    let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Not closed")).await;
    for who in [org.rep(), &org.manager] {
        let status = update(
            &app,
            &who.token,
            pb::Deal {
                name: deal.name.clone(),
                forecast_category: pb::ForecastCategory::Closed as i32,
                ..Default::default()
            },
            &["forecast_category"],
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["deal.forecast_category"]);
    }
    let status = try_create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            forecast_category: pb::ForecastCategory::Closed as i32,
            ..deal_in(&pipeline, "Closed at birth")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["deal.forecast_category"]);
    assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), deal);
});

contract_test!(
    green_qualification_is_manager_owned_and_each_item_names_who_set_it,
    |app| {
        use pb::QualificationElement as E;
        use pb::QualificationStatus as S;
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Qualified")).await;
        let set = |items: Vec<pb::QualificationItem>| pb::Deal {
            name: deal.name.clone(),
            qualification: items,
            ..Default::default()
        };
        // Sent out of order on purpose: answers and reads list items as MEDDPICC reads.
        let by_rep = update(
            &app,
            &org.rep().token,
            set(vec![item(E::Champion, S::Yellow), item(E::Metrics, S::Red)]),
            &["qualification"],
        )
        .await
        .unwrap();
        let stamps: Vec<(i32, i32, &str)> = by_rep
            .qualification
            .iter()
            .map(|q| (q.element, q.status, q.set_by.as_str()))
            .collect();
        let rep_name = org.rep().name();
        assert_eq!(
            stamps,
            [
                (E::Metrics as i32, S::Red as i32, rep_name.as_str()),
                (E::Champion as i32, S::Yellow as i32, rep_name.as_str()),
            ]
        );
        assert!(by_rep.qualification.iter().all(|q| q.set_time.is_some()));

        let status = update(
            &app,
            &org.rep().token,
            set(vec![
                item(E::Champion, S::Yellow),
                item(E::Metrics, S::Green),
            ]),
            &["qualification"],
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "GREEN_REQUIRES_MANAGER");
        assert_eq!(
            get(&app, &org.rep().token, &deal.name).await.unwrap(),
            by_rep
        );

        let by_manager = update(
            &app,
            &org.manager.token,
            set(vec![
                item(E::Champion, S::Yellow),
                item(E::Metrics, S::Green),
            ]),
            &["qualification"],
        )
        .await
        .unwrap();
        assert_eq!(by_manager.qualification[0].status, S::Green as i32);
        assert_eq!(by_manager.qualification[0].set_by, org.manager.name());
        assert_eq!(
            by_manager.qualification[1], by_rep.qualification[1],
            "an unchanged item keeps its setter and time"
        );

        // The rep may neither lower nor drop a green item, but may change the others.
        for items in [
            vec![item(E::Champion, S::Yellow), item(E::Metrics, S::Yellow)],
            vec![item(E::Champion, S::Yellow)],
        ] {
            let status = update(&app, &org.rep().token, set(items), &["qualification"])
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "GREEN_REQUIRES_MANAGER");
        }
        let kept = update(
            &app,
            &org.rep().token,
            set(vec![item(E::Champion, S::Red), item(E::Metrics, S::Green)]),
            &["qualification"],
        )
        .await
        .unwrap();
        assert_eq!(kept.qualification[0].set_by, org.manager.name());
        assert_eq!(kept.qualification[1].status, S::Red as i32);
        assert_eq!(kept.qualification[1].set_by, org.rep().name());
    }
);

// ---------------------------------------------------------------------------------------------
// Visibility.

contract_test!(
    a_rep_cannot_see_or_touch_another_reps_deal_which_is_not_found_to_them,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let mine = create_deal(&app, &org.rep().token, ready(&pipeline, "Mine")).await;
        let theirs = create_deal(&app, &org.peer().token, ready(&pipeline, "Theirs")).await;
        let token = &org.rep().token;
        let name = &theirs.name;
        let mut refusals = vec![
            get(&app, token, name).await.unwrap_err(),
            update(
                &app,
                token,
                pb::Deal {
                    name: name.clone(),
                    next_step: "Poach".into(),
                    ..Default::default()
                },
                &["next_step"],
            )
            .await
            .unwrap_err(),
            move_to(&app, token, name, "propose").await.unwrap_err(),
            preview(&app, token, name, "propose").await.unwrap_err(),
            close_won(&app, token, name).await.unwrap_err(),
            close_lost(&app, token, name, "Mine now").await.unwrap_err(),
            try_history(&app, token, name).await.unwrap_err(),
        ];
        // An unknown deal answers exactly the same.
        refusals.push(
            get(&app, token, &format!("deals/{}", uuid::Uuid::now_v7()))
                .await
                .unwrap_err(),
        );
        for status in &refusals {
            assert_error(status, Code::NotFound, "NOT_FOUND");
            assert!(!status.message().contains("Theirs"));
        }
        assert_eq!(get(&app, &org.peer().token, name).await.unwrap(), theirs);
        assert_eq!(
            listed(&app, token, pb::ListDealsRequest::default()).await,
            names(&[&mine])
        );
        let asked_for_peer = listed(
            &app,
            token,
            pb::ListDealsRequest {
                owner: org.peer().name(),
                ..Default::default()
            },
        )
        .await;
        assert!(asked_for_peer.is_empty());
    }
);

contract_test!(
    managers_see_their_subtree_and_not_a_peer_managers_reps,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let reps = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Rep's")).await;
        let managers = create_deal(&app, &org.manager.token, deal_in(&pipeline, "Manager's")).await;
        let peers = create_deal(&app, &org.peer().token, deal_in(&pipeline, "Peer's")).await;
        assert_eq!(
            get(&app, &org.manager.token, &reps.name).await.unwrap(),
            reps
        );
        let status = get(&app, &org.manager.token, &peers.name)
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = get(&app, &org.peer_manager.token, &reps.name)
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = get(&app, &org.rep().token, &managers.name)
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");

        let all = pb::ListDealsRequest::default;
        assert_eq!(
            listed(&app, &org.manager.token, all()).await,
            names(&[&reps, &managers])
        );
        assert_eq!(
            listed(&app, &org.peer_manager.token, all()).await,
            names(&[&peers])
        );
        assert_eq!(
            listed(&app, &org.leader.token, all()).await,
            names(&[&reps, &managers, &peers]),
            "a leader sees the whole subtree, two levels down"
        );
        let filtered = listed(
            &app,
            &org.manager.token,
            pb::ListDealsRequest {
                owner: org.peer().name(),
                ..Default::default()
            },
        )
        .await;
        assert!(
            filtered.is_empty(),
            "an owner filter does not widen the view"
        );
    }
);

contract_test!(
    deal_desk_finance_and_legal_read_every_deal_but_change_none,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let a = create_deal(&app, &org.rep().token, ready(&pipeline, "A")).await;
        let b = create_deal(&app, &org.peer().token, ready(&pipeline, "B")).await;
        for reader in [&org.desk(), &org.finance(), &org.legal()] {
            assert_eq!(get(&app, &reader.token, &a.name).await.unwrap(), a);
            assert_eq!(
                listed(&app, &reader.token, pb::ListDealsRequest::default()).await,
                names(&[&a, &b])
            );
            assert_eq!(history(&app, &reader.token, &b.name).await.len(), 1);
            assert!(
                preview(&app, &reader.token, &b.name, "propose")
                    .await
                    .unwrap()
                    .allowed
            );
            let refusals = [
                update(
                    &app,
                    &reader.token,
                    pb::Deal {
                        name: a.name.clone(),
                        next_step: "Approve".into(),
                        ..Default::default()
                    },
                    &["next_step"],
                )
                .await
                .unwrap_err(),
                move_to(&app, &reader.token, &a.name, "propose")
                    .await
                    .unwrap_err(),
                close_lost(&app, &reader.token, &a.name, "Too risky")
                    .await
                    .unwrap_err(),
            ];
            for status in &refusals {
                assert_error(status, Code::PermissionDenied, "READ_ONLY_ROLE");
            }
        }
        assert_eq!(get(&app, &org.rep().token, &a.name).await.unwrap(), a);
        assert_eq!(app.count("stage_history").await, 2);
    }
);

// ---------------------------------------------------------------------------------------------
// Updates: etags, audit, reassignment.

contract_test!(
    of_two_updates_sent_with_the_same_etag_only_the_first_is_applied,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Contended")).await;
        let with = |next_step: &str| pb::Deal {
            name: deal.name.clone(),
            etag: deal.etag.clone(),
            next_step: next_step.into(),
            ..Default::default()
        };
        let first = update(&app, &rep.token, with("First"), &["next_step"])
            .await
            .unwrap();
        assert_ne!(first.etag, deal.etag);
        let status = update(&app, &rep.token, with("Second"), &["next_step"])
            .await
            .unwrap_err();
        assert_error(&status, Code::Aborted, "STALE_ETAG");
        let read = get(&app, &rep.token, &deal.name).await.unwrap();
        assert_eq!(read.next_step, "First");
        assert_eq!(read, first);
        let status = update(
            &app,
            &rep.token,
            pb::Deal {
                etag: "W/nonsense".into(),
                ..with("Third")
            },
            &["next_step"],
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["deal.etag"]);
    }
);

contract_test!(
    an_update_changes_only_the_masked_fields_and_audits_each_change,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Audited")).await;
        let updated = update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                display_name: deal.display_name.clone(),
                forecast_category: pb::ForecastCategory::BestCase as i32,
                // Not in the mask: ignored.
                account: "Someone Else".into(),
                amount: usd(1),
                ..Default::default()
            },
            &["display_name", "forecast_category"],
        )
        .await
        .unwrap();
        assert_eq!(
            updated.forecast_category,
            pb::ForecastCategory::BestCase as i32
        );
        assert_eq!(updated.account, deal.account);
        assert_eq!(updated.amount, deal.amount);
        assert_eq!(updated.stage, deal.stage);
        let rows = audit_rows(&app, &deal.name).await;
        let rep_id = rep.name().trim_start_matches("users/").to_string();
        assert_eq!(
            rows,
            [(
                rep_id,
                "forecast_category".to_string(),
                "Pipeline".to_string(),
                "BestCase".to_string()
            )],
            "one row per changed field, none for an unchanged one"
        );
        let status = update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                ..Default::default()
            },
            &["stage"],
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["update_mask.paths[0]"]);
    }
);

contract_test!(
    only_a_manager_above_the_owner_reassigns_a_deal_within_their_subtree,
    |app| {
        let org = org(&app).await;
        let other_rep = person(&app, Role::Rep, Some(&org.manager)).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Handover")).await;
        let to = |owner: &Person| pb::Deal {
            name: deal.name.clone(),
            owner: owner.name(),
            ..Default::default()
        };
        let status = update(&app, &org.rep().token, to(&other_rep), &["owner"])
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "REASSIGN_REQUIRES_MANAGER");
        let status = update(&app, &org.manager.token, to(org.peer()), &["owner"])
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OWNER_NOT_ALLOWED");
        assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), deal);
        let moved = update(&app, &org.manager.token, to(&other_rep), &["owner"])
            .await
            .unwrap();
        assert_eq!(moved.owner, other_rep.name());
        let status = get(&app, &org.rep().token, &deal.name).await.unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        assert_eq!(
            get(&app, &other_rep.token, &deal.name).await.unwrap(),
            moved
        );
    }
);

// ---------------------------------------------------------------------------------------------
// Listing.

contract_test!(list_filters_combine_and_the_query_ignores_case, |app| {
    let org = org(&app).await;
    let pipeline = gated_pipeline(&app).await;
    let smb = template_pipeline(&app, pb::Segment::Smb).await;
    let a = create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            amount: usd(100),
            close_date: in_days(10),
            ..deal_in(&pipeline, "Acme - 500 seats")
        },
    )
    .await;
    let b = create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            stage: "propose".into(),
            account: "Globex".into(),
            forecast_category: pb::ForecastCategory::BestCase as i32,
            ..ready(&pipeline, "Globex renewal")
        },
    )
    .await;
    let c = create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            account: "ACME Subsidiary".into(),
            close_date: in_days(20),
            ..deal_in(&smb, "Initech pilot")
        },
    )
    .await;
    let d = create_deal(
        &app,
        &org.peer().token,
        deal_in(&pipeline, "Peer acme deal"),
    )
    .await;
    let e = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Lost one")).await;
    close_lost(&app, &org.rep().token, &e.name, "Went dark")
        .await
        .unwrap();
    let token = &org.leader.token;
    let by = |request: pb::ListDealsRequest| listed(&app, token, request);
    assert_eq!(
        by(pb::ListDealsRequest::default()).await,
        names(&[&a, &b, &c, &d, &e])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            owner: org.peer().name(),
            ..Default::default()
        })
        .await,
        names(&[&d])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            pipeline: pipeline.name.clone(),
            ..Default::default()
        })
        .await,
        names(&[&a, &b, &d, &e])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            pipeline: pipeline.name.clone(),
            stage: "propose".into(),
            ..Default::default()
        })
        .await,
        names(&[&b])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            forecast_category: pb::ForecastCategory::BestCase as i32,
            ..Default::default()
        })
        .await,
        names(&[&b])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            status: DealStatus::Lost as i32,
            ..Default::default()
        })
        .await,
        names(&[&e])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            status: DealStatus::Open as i32,
            ..Default::default()
        })
        .await,
        names(&[&a, &b, &c, &d])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            min_close_date: in_days(10),
            max_close_date: in_days(20),
            ..Default::default()
        })
        .await,
        names(&[&a, &c]),
        "both bounds inclusive"
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            min_close_date: in_days(11),
            ..Default::default()
        })
        .await,
        names(&[&b, &c])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            query: " aCmE ".into(),
            ..Default::default()
        })
        .await,
        // On name (a, d) or account (a, c, e: "Acme Corp", "ACME Subsidiary").
        names(&[&a, &c, &d, &e])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            query: "acme".into(),
            owner: org.rep().name(),
            status: DealStatus::Open as i32,
            ..Default::default()
        })
        .await,
        names(&[&a, &c])
    );
    assert!(
        by(pb::ListDealsRequest {
            query: "100%".into(),
            ..Default::default()
        })
        .await
        .is_empty(),
        "wildcards in the text are literal"
    );
    // Case folds beyond ASCII on both engines.
    let u = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Ünicorn GmbH")).await;
    for text in ["ünicorn", "ÜNICORN", "Ünicorn"] {
        let found = by(pb::ListDealsRequest {
            query: text.into(),
            ..Default::default()
        })
        .await;
        assert_eq!(found, names(&[&u]), "{text}");
    }
    let status = list(
        &app,
        token,
        pb::ListDealsRequest {
            stage: "propose".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["stage"]);
});

/// Four deals of `rep`: amounts 300, 100, none, 200 and close dates in 30, 10, none, 20 days.
async fn four_deals(app: &TestApp, rep: &Person) {
    let pipeline = gated_pipeline(app).await;
    for (name, amount, days) in [
        ("d300", Some(300), Some(30)),
        ("d100", Some(100), Some(10)),
        ("none", None, None),
        ("d200", Some(200), Some(20)),
    ] {
        create_deal(
            app,
            &rep.token,
            pb::Deal {
                amount: amount.and_then(usd),
                close_date: days.and_then(in_days),
                ..deal_in(&pipeline, name)
            },
        )
        .await;
    }
}

contract_test!(
    deals_order_by_creation_or_amount_with_missing_amounts_last,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        four_deals(&app, &rep).await;
        let order = |order_by: &'static str| ordered(&app, &rep.token, order_by);
        assert_eq!(order("").await, ["d300", "d100", "none", "d200"]);
        assert_eq!(
            order("create_time desc").await,
            ["d200", "none", "d100", "d300"]
        );
        assert_eq!(order("amount desc").await, ["d300", "d200", "d100", "none"]);
        assert_eq!(order("amount").await, ["d100", "d200", "d300", "none"]);
        assert_eq!(order("amount asc").await, ["d100", "d200", "d300", "none"]);
        for bad in ["probability", "amount sideways", "amount desc please"] {
            let status = list(
                &app,
                &rep.token,
                pb::ListDealsRequest {
                    order_by: bad.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
            assert_error(&status, Code::InvalidArgument, "UNKNOWN_VALUE");
            assert_eq!(violated_fields(&status), ["order_by"], "{bad:?}");
        }
    }
);

contract_test!(deals_order_by_close_date_soonest_first, |app| {
    let rep = person(&app, Role::Rep, None).await;
    four_deals(&app, &rep).await;
    let dated = |order_by: &str| pb::ListDealsRequest {
        order_by: order_by.into(),
        min_close_date: Some(date(today())),
        ..Default::default()
    };
    let shown = list(&app, &rep.token, dated("close_date"))
        .await
        .unwrap()
        .deals
        .into_iter()
        .map(|d| d.display_name)
        .collect::<Vec<_>>();
    assert_eq!(shown, ["d100", "d200", "d300"]);
    assert_eq!(
        ordered(&app, &rep.token, "close_date").await,
        ["d100", "d200", "d300", "none"]
    );
    assert_eq!(
        ordered(&app, &rep.token, "close_date desc").await,
        ["d300", "d200", "d100", "none"]
    );
});

contract_test!(
    pages_walk_every_deal_exactly_once_and_a_token_keeps_its_filters,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        // Ties and missing amounts on purpose: the walk must cross them.
        let amounts = [
            Some(500),
            Some(200),
            None,
            Some(200),
            Some(900),
            None,
            Some(200),
        ];
        for (i, amount) in amounts.into_iter().enumerate() {
            create_deal(
                &app,
                &rep.token,
                pb::Deal {
                    amount: amount.and_then(usd),
                    ..deal_in(&pipeline, &format!("Deal {i}"))
                },
            )
            .await;
        }
        for order_by in ["", "amount desc", "amount", "update_time desc"] {
            let whole = listed(
                &app,
                &rep.token,
                pb::ListDealsRequest {
                    order_by: order_by.into(),
                    ..Default::default()
                },
            )
            .await;
            assert_eq!(whole.len(), amounts.len());
            let mut walked = Vec::new();
            let mut token = String::new();
            let mut pages = 0;
            loop {
                let page = list(
                    &app,
                    &rep.token,
                    pb::ListDealsRequest {
                        page_size: 3,
                        page_token: token.clone(),
                        order_by: order_by.into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
                assert!(page.deals.len() <= 3);
                walked.extend(page.deals.into_iter().map(|d| d.name));
                pages += 1;
                assert!(pages <= amounts.len(), "the walk ends");
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            assert_eq!(
                walked, whole,
                "{order_by:?}: same deals, same order, once each"
            );
        }

        let first = list(
            &app,
            &rep.token,
            pb::ListDealsRequest {
                page_size: 2,
                order_by: "amount desc".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(!first.next_page_token.is_empty());
        for changed in [
            pb::ListDealsRequest {
                order_by: "amount".into(),
                ..Default::default()
            },
            pb::ListDealsRequest {
                order_by: "amount desc".into(),
                query: "deal".into(),
                ..Default::default()
            },
            pb::ListDealsRequest {
                order_by: "amount desc".into(),
                pipeline: pipeline.name.clone(),
                ..Default::default()
            },
        ] {
            let status = list(
                &app,
                &rep.token,
                pb::ListDealsRequest {
                    page_size: 2,
                    page_token: first.next_page_token.clone(),
                    ..changed
                },
            )
            .await
            .unwrap_err();
            assert_eq!(violated_fields(&status), ["page_token"]);
        }
        let status = list(
            &app,
            &rep.token,
            pb::ListDealsRequest {
                page_size: -1,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["page_size"]);
    }
);

// ---------------------------------------------------------------------------------------------
// Stage history.

contract_test!(
    the_stage_history_lists_every_change_oldest_first_with_who_and_how_much,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(
            &app,
            &org.rep().token,
            pb::Deal {
                amount: usd(100_000),
                close_date: in_days(30),
                ..ready(&pipeline, "Storied")
            },
        )
        .await;
        update(
            &app,
            &org.rep().token,
            pb::Deal {
                name: deal.name.clone(),
                amount: usd(250_000),
                close_date: in_days(45),
                ..Default::default()
            },
            &["amount", "close_date"],
        )
        .await
        .unwrap();
        move_to(&app, &org.rep().token, &deal.name, "propose")
            .await
            .unwrap();
        move_to(&app, &org.manager.token, &deal.name, "qualify")
            .await
            .unwrap();
        close_lost(&app, &org.rep().token, &deal.name, "Budget cut")
            .await
            .unwrap();

        let entries = history(&app, &org.rep().token, &deal.name).await;
        let summary: Vec<Summary> = entries
            .iter()
            .map(|e| {
                (
                    e.direction,
                    e.from_stage.as_str(),
                    e.to_stage.as_str(),
                    e.actor.clone(),
                    e.amount.clone(),
                    e.close_date,
                )
            })
            .collect();
        let (rep, manager) = (org.rep().name(), org.manager.name());
        assert_eq!(
            summary,
            [
                (
                    History::Create as i32,
                    "",
                    "qualify",
                    rep.clone(),
                    usd(100_000),
                    in_days(30)
                ),
                (
                    History::Forward as i32,
                    "qualify",
                    "propose",
                    rep.clone(),
                    usd(250_000),
                    in_days(45)
                ),
                (
                    History::Backward as i32,
                    "propose",
                    "qualify",
                    manager,
                    usd(250_000),
                    in_days(45)
                ),
                (
                    History::Close as i32,
                    "qualify",
                    "closed-lost",
                    rep,
                    usd(250_000),
                    // Closing sets the close date to the day of closing.
                    in_days(0)
                ),
            ]
        );
        assert!(entries.windows(2).all(|w| w[0].sequence < w[1].sequence));
        assert!(
            entries
                .windows(2)
                .all(|w| instant(&w[0].change_time) <= instant(&w[1].change_time))
        );
        assert!(entries.iter().all(|e| !e.overridden));

        // Paged, the same entries.
        let mut deals = app.deals().await;
        let mut walked = Vec::new();
        let mut token = String::new();
        loop {
            let page = deals
                .list_deal_stage_history(authed(
                    &org.rep().token,
                    pb::ListDealStageHistoryRequest {
                        parent: deal.name.clone(),
                        page_size: 3,
                        page_token: token.clone(),
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            walked.extend(page.entries);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(walked, entries);
    }
);

contract_test!(
    a_deal_carries_its_discount_and_refuses_one_out_of_range,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let created = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                discount_bps: 1250,
                ..deal_in(&pipeline, "Discounted")
            },
        )
        .await;
        assert_eq!(created.discount_bps, 1250);
        let updated = update(
            &app,
            &rep.token,
            pb::Deal {
                name: created.name.clone(),
                discount_bps: 10_000,
                ..Default::default()
            },
            &["discount_bps"],
        )
        .await
        .unwrap();
        assert_eq!(updated.discount_bps, 10_000);
        assert_eq!(
            get(&app, &rep.token, &created.name)
                .await
                .unwrap()
                .discount_bps,
            10_000
        );
        for bps in [-1, 10_001] {
            let status = try_create_deal(
                &app,
                &rep.token,
                pb::Deal {
                    discount_bps: bps,
                    ..deal_in(&pipeline, "Too deep")
                },
            )
            .await
            .unwrap_err();
            assert_error(&status, Code::InvalidArgument, "NUMBER_OUT_OF_RANGE");
            assert_eq!(violated_fields(&status), ["deal.discount_bps"]);
            let status = update(
                &app,
                &rep.token,
                pb::Deal {
                    name: created.name.clone(),
                    discount_bps: bps,
                    ..Default::default()
                },
                &["discount_bps"],
            )
            .await
            .unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument);
            assert_eq!(violated_fields(&status), ["deal.discount_bps"]);
        }
        assert_eq!(app.count("deals").await, 1);
        assert_eq!(
            get(&app, &rep.token, &created.name)
                .await
                .unwrap()
                .discount_bps,
            10_000
        );
    }
);
