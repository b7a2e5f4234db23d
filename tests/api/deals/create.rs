//! CreateDeal: who creates for whom, where a deal starts, bad values, idempotent retries.

use super::*;

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
        for (deal, fields) in cases {
            let status = try_create_deal(&app, &rep.token, deal.clone())
                .await
                .unwrap_err();
            assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
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
