//! Errors that show the way and a preview that reads as a checklist: every INVALID_ARGUMENT
//! names its kind in the ErrorInfo reason, echoes the bad value (cut when long) and lists the
//! valid ones where they are few; periods are read in either case; the discount rule has one
//! wording; PreviewDealStage lists the unmet criteria on their own and gives a verdict.

use dealdesk::domain::directory::Role;
use dealdesk::proto::{self as pb, exit_criterion as ec};
use prost_types::FieldMask;
use tonic::Status;

use crate::contract_test;
use crate::fixtures::{
    Org, create_deal, create_pipeline, create_policy, deal_in, move_to, queue, relation, stage,
    step, usd,
};
use crate::helpers::{Person, TestApp, authed, only_violation};

use pb::approval_step::Mode;
use pb::preview_deal_stage_response::Verdict;

const STAGES: &str = "its stages: discovery, pricing, contract, closed-won, closed-lost";

/// discovery -> pricing (exit: amount > 0 and a next step) -> contract -> won / lost.
async fn pipeline(app: &TestApp) -> pb::Pipeline {
    use pb::stage::Kind;
    create_pipeline(
        app,
        pb::Pipeline {
            display_name: "Guided".into(),
            segment: pb::Segment::Smb as i32,
            stages: vec![
                stage("discovery", 10, Kind::Open, vec![]),
                stage(
                    "pricing",
                    20,
                    Kind::Open,
                    vec![
                        ec::Rule::AmountPositive(ec::AmountPositive {}),
                        ec::Rule::FieldSet(ec::FieldSet {
                            field: pb::DealField::NextStep as i32,
                        }),
                    ],
                ),
                stage("contract", 30, Kind::Open, vec![]),
                stage("closed-won", 100, Kind::Won, vec![]),
                stage("closed-lost", 110, Kind::Lost, vec![]),
            ],
            ..Default::default()
        },
    )
    .await
}

async fn preview(
    app: &TestApp,
    who: &Person,
    deal: &pb::Deal,
    target: &str,
) -> Result<pb::PreviewDealStageResponse, Status> {
    app.deals()
        .await
        .preview_deal_stage(authed(
            &who.token,
            pb::PreviewDealStageRequest {
                name: deal.name.clone(),
                target_stage: target.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn update(
    app: &TestApp,
    who: &Person,
    deal: pb::Deal,
    paths: &[&str],
) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .update_deal(authed(
            &who.token,
            pb::UpdateDealRequest {
                deal: Some(deal),
                update_mask: Some(FieldMask {
                    paths: paths.iter().map(|p| p.to_string()).collect(),
                }),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Stages.

contract_test!(
    an_unknown_target_stage_is_echoed_with_the_stages_of_the_pipeline,
    |app| {
        let rep = Org::builder().build(&app).await.reps.remove(0);
        let pipeline = pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
        let want = (
            "target_stage".to_string(),
            format!("\"nope\" is not a stage of the deal's pipeline ({STAGES})"),
        );
        let moved = move_to(&app, &rep.token, &deal.name, "nope")
            .await
            .unwrap_err();
        assert_eq!(only_violation(&moved, "UNKNOWN_STAGE"), want);
        let previewed = preview(&app, &rep, &deal, "nope").await.unwrap_err();
        assert_eq!(only_violation(&previewed, "UNKNOWN_STAGE"), want);
        let created = app
            .deals()
            .await
            .create_deal(authed(
                &rep.token,
                pb::CreateDealRequest {
                    deal: Some(pb::Deal {
                        stage: "Discovery".into(),
                        ..deal_in(&pipeline, "Globex")
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(
            only_violation(&created, "UNKNOWN_STAGE"),
            (
                "deal.stage".to_string(),
                format!("\"Discovery\" is not a stage of the deal's pipeline ({STAGES})")
            )
        );
    }
);

contract_test!(a_move_to_a_closed_stage_names_the_open_ones, |app| {
    let rep = Org::builder().build(&app).await.reps.remove(0);
    let pipeline = pipeline(&app).await;
    let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
    let status = move_to(&app, &rep.token, &deal.name, "closed-won")
        .await
        .unwrap_err();
    assert_eq!(
        only_violation(&status, "CLOSED_STAGE"),
        (
            "target_stage".to_string(),
            "\"closed-won\" is a closed stage: close deals with CloseDeal \
                 (open stages: discovery, pricing, contract)"
                .to_string()
        )
    );
});

contract_test!(
    a_hostile_target_stage_is_echoed_cut_at_100_characters,
    |app| {
        let rep = Org::builder().build(&app).await.reps.remove(0);
        let pipeline = pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
        let hostile = "x".repeat(1_000_000);
        let status = move_to(&app, &rep.token, &deal.name, &hostile)
            .await
            .unwrap_err();
        let (_, description) = only_violation(&status, "UNKNOWN_STAGE");
        assert_eq!(
            description,
            format!(
                "\"{}\"… is not a stage of the deal's pipeline ({STAGES})",
                "x".repeat(100)
            )
        );
    }
);

// ---------------------------------------------------------------------------------------------
// Periods.

async fn submit_call(
    app: &TestApp,
    who: &Person,
    period: &str,
) -> Result<pb::ForecastCallEvent, Status> {
    app.forecasts()
        .await
        .submit_forecast_call(authed(
            &who.token,
            pb::SubmitForecastCallRequest {
                period: period.into(),
                commit: usd(100_000),
                best_case: usd(200_000),
                note: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

contract_test!(a_quarter_is_read_in_either_case, |app| {
    let rep = Org::builder().build(&app).await.reps.remove(0);
    submit_call(&app, &rep, "2026-q4").await.unwrap();
    let call = app
        .forecasts()
        .await
        .get_forecast_call(authed(
            &rep.token,
            pb::GetForecastCallRequest {
                period: "2026-Q4".into(),
                user: rep.name(),
                as_of_time: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(call.period, "2026-Q4");
    assert_eq!(call.own_commit, usd(100_000));
});

contract_test!(a_bad_period_is_echoed_with_the_shapes_of_a_period, |app| {
    let rep = Org::builder().build(&app).await.reps.remove(0);
    let status = submit_call(&app, &rep, "2026-Q5").await.unwrap_err();
    assert_eq!(
        only_violation(&status, "BAD_PERIOD"),
        (
            "period".to_string(),
            "\"2026-Q5\" is not a period: a month like 2026-11 or a fiscal quarter like 2026-Q4"
                .to_string()
        )
    );
});

// ---------------------------------------------------------------------------------------------
// The discount rule, on deals and on requests.

contract_test!(
    the_discount_rule_has_one_wording_on_deals_and_requests,
    |app| {
        let org = Org::builder().build(&app).await;
        let rep = org.rep();
        let pipeline = pipeline(&app).await;
        let deal = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                amount: usd(5_000_000),
                ..deal_in(&pipeline, "Acme")
            },
        )
        .await;
        let too_deep = update(
            &app,
            rep,
            pb::Deal {
                name: deal.name.clone(),
                discount_bps: 12_000,
                ..Default::default()
            },
            &["discount_bps"],
        )
        .await
        .unwrap_err();
        assert_eq!(
            only_violation(&too_deep, "NUMBER_OUT_OF_RANGE"),
            (
                "deal.discount_bps".to_string(),
                "must be 0 to 10000 basis points, got 12000".to_string()
            )
        );

        // SMB: up to 10% pre-approved, beyond the owner's manager (a policy's last tier
        // reaches 100%, so a request's limit is the deal's).
        create_policy(
            &app,
            &app.admin_token,
            pb::ApprovalPolicy {
                segment: pb::Segment::Smb as i32,
                tiers: vec![
                    pb::DiscountTier {
                        ceiling_bps: 1000,
                        steps: vec![],
                    },
                    pb::DiscountTier {
                        ceiling_bps: 10_000,
                        steps: vec![step(
                            "Manager",
                            vec![relation(pb::approver::Relation::OwnersManager)],
                            Mode::All,
                        )],
                    },
                ],
                legal_step: Some(step("Legal", vec![queue(pb::Role::Legal)], Mode::All)),
                finance_step: Some(step("Finance", vec![queue(pb::Role::Finance)], Mode::All)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        for (bps, want) in [
            (12_000, "must be 0 to 10000 basis points, got 12000"),
            (-5, "must be 0 to 10000 basis points, got -5"),
        ] {
            let status = app
                .deal_desk()
                .await
                .submit_approval_request(authed(
                    &rep.token,
                    pb::SubmitApprovalRequestRequest {
                        deal: deal.name.clone(),
                        discount_bps: bps,
                        ..Default::default()
                    },
                ))
                .await
                .unwrap_err();
            assert_eq!(
                only_violation(&status, "NUMBER_OUT_OF_RANGE"),
                ("discount_bps".to_string(), want.to_string())
            );
        }
    }
);

// ---------------------------------------------------------------------------------------------
// One reason per kind of problem.

contract_test!(
    each_kind_of_violation_has_its_reason_and_echoes_the_value,
    |app| {
        let rep = Org::builder().build(&app).await.reps.remove(0);
        let pipeline = pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
        let mut deals = app.deals().await;
        let get = deals
            .get_deal(authed(
                &rep.token,
                pb::GetDealRequest {
                    name: "deals/42".into(),
                },
            ))
            .await
            .unwrap_err();
        let list = |request: pb::ListDealsRequest| {
            let mut deals = deals.clone();
            let token = rep.token.clone();
            async move { deals.list_deals(authed(&token, request)).await.unwrap_err() }
        };
        let category = list(pb::ListDealsRequest {
            forecast_category: 42,
            ..Default::default()
        })
        .await;
        let token = list(pb::ListDealsRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await;
        let order = list(pb::ListDealsRequest {
            order_by: "size".into(),
            ..Default::default()
        })
        .await;
        let currency = update(
            &app,
            &rep,
            pb::Deal {
                name: deal.name.clone(),
                amount: Some(pb::Money {
                    currency_code: "usdx".into(),
                    amount_minor: 100,
                }),
                ..Default::default()
            },
            &["amount"],
        )
        .await
        .unwrap_err();
        let long = update(
            &app,
            &rep,
            pb::Deal {
                name: deal.name.clone(),
                display_name: "é".repeat(201),
                ..Default::default()
            },
            &["display_name"],
        )
        .await
        .unwrap_err();
        let blank = update(
            &app,
            &rep,
            pb::Deal {
                name: deal.name.clone(),
                display_name: "  ".into(),
                ..Default::default()
            },
            &["display_name"],
        )
        .await
        .unwrap_err();
        let mask = update(
            &app,
            &rep,
            pb::Deal {
                name: deal.name.clone(),
                ..Default::default()
            },
            &["owner_email"],
        )
        .await
        .unwrap_err();
        let cases = [
            (
                &get,
                "BAD_NAME",
                "name",
                "\"deals/42\" is not a resource name like deals/<uuid>".to_string(),
            ),
            (
                &category,
                "UNKNOWN_VALUE",
                "forecast_category",
                "42 is not a known forecast category (one of: FORECAST_CATEGORY_PIPELINE, \
             FORECAST_CATEGORY_BEST_CASE, FORECAST_CATEGORY_COMMIT, FORECAST_CATEGORY_OMITTED, \
             FORECAST_CATEGORY_CLOSED)"
                    .to_string(),
            ),
            (
                &token,
                "BAD_PAGE_TOKEN",
                "page_token",
                "is not a page token of this list".to_string(),
            ),
            (
                &order,
                "UNKNOWN_VALUE",
                "order_by",
                "\"size\" is not an order: create_time, update_time, close_date or amount, \
             optionally followed by desc"
                    .to_string(),
            ),
            (
                &currency,
                "BAD_CURRENCY",
                "deal.amount.currency_code",
                "\"usdx\" is not an ISO 4217 currency code such as USD".to_string(),
            ),
            (
                &long,
                "TEXT_TOO_LONG",
                "deal.display_name",
                "must be at most 200 characters, got 201".to_string(),
            ),
            (
                &blank,
                "MISSING_FIELD",
                "deal.display_name",
                "must not be empty".to_string(),
            ),
            (
                &mask,
                "BAD_UPDATE_MASK",
                "update_mask.paths[0]",
                format!(
                    "\"owner_email\" cannot be updated; allowed: {}",
                    dealdesk_updatable()
                ),
            ),
        ];
        for (status, reason, field, description) in cases {
            assert_eq!(
                only_violation(status, reason),
                (field.to_string(), description),
                "{reason}"
            );
        }
    }
);

/// The paths UpdateDeal takes, as its refusal lists them.
fn dealdesk_updatable() -> String {
    dealdesk::grpc::request_limits::DEAL_UPDATABLE.join(", ")
}

// ---------------------------------------------------------------------------------------------
// The preview as a checklist.

contract_test!(a_preview_lists_the_unmet_criteria_and_its_verdict, |app| {
    let org = Org::builder().staff(&[Role::DealDesk]).build(&app).await;
    let rep = org.rep();
    let pipeline = pipeline(&app).await;
    let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
    let pricing = format!("{}/stages/pricing", pipeline.name);
    let checks = |p: &pb::PreviewDealStageResponse, unmet: bool| -> Vec<(String, String, bool)> {
        let list = if unmet { &p.unmet_checks } else { &p.checks };
        list.iter()
            .map(|c| {
                (
                    c.stage.clone(),
                    c.criterion.clone().unwrap().description,
                    c.met,
                )
            })
            .collect()
    };

    let blocked = preview(&app, rep, &deal, "contract").await.unwrap();
    assert_eq!(blocked.verdict, Verdict::Blocked as i32);
    assert!(!blocked.allowed);
    assert_eq!(
        checks(&blocked, true),
        [
            (
                pricing.clone(),
                "Amount is greater than zero".to_string(),
                false
            ),
            (pricing.clone(), "Next step is set".to_string(), false),
        ]
    );

    update(
        &app,
        rep,
        pb::Deal {
            name: deal.name.clone(),
            next_step: "Pricing call".into(),
            ..Default::default()
        },
        &["next_step"],
    )
    .await
    .unwrap();
    let half = preview(&app, org.desk(), &deal, "contract").await.unwrap();
    assert_eq!(half.verdict, Verdict::Blocked as i32);
    assert_eq!(
        checks(&half, false),
        [
            (
                pricing.clone(),
                "Amount is greater than zero".to_string(),
                false
            ),
            (pricing.clone(), "Next step is set".to_string(), true),
        ]
    );
    assert_eq!(
        checks(&half, true),
        [(
            pricing.clone(),
            "Amount is greater than zero".to_string(),
            false
        )]
    );

    update(
        &app,
        rep,
        pb::Deal {
            name: deal.name.clone(),
            amount: usd(5_000_000),
            ..Default::default()
        },
        &["amount"],
    )
    .await
    .unwrap();
    let passes = preview(&app, rep, &deal, "contract").await.unwrap();
    assert_eq!(passes.verdict, Verdict::Passes as i32);
    assert!(passes.allowed);
    assert!(passes.unmet_checks.is_empty());
    assert_eq!(checks(&passes, false).len(), 2);

    let here = preview(&app, rep, &deal, "discovery").await.unwrap();
    assert_eq!(here.verdict, Verdict::AlreadyInStage as i32);
    assert!(here.unmet_checks.is_empty());
});
