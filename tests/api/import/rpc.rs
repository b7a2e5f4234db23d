//! ImportHistory from Salesforce exports: what is written, reimports, validate-only, bad files, who
//! may import.

use super::*;

/// Mid-market's policy: no discount, standard terms and 45 days' payment approve at once; deals
/// above 62,000.00 USD go to finance.
fn large_deals_need_finance() -> pb::ApprovalPolicy {
    let finance = step("Finance", vec![queue(pb::Role::Finance)], Mode::Unspecified);
    pb::ApprovalPolicy {
        segment: pb::Segment::MidMarket as i32,
        tiers: vec![
            pb::DiscountTier {
                ceiling_bps: 1500,
                steps: vec![],
            },
            pb::DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![finance.clone()],
            },
        ],
        size_thresholds: vec![pb::SizeThreshold {
            above: Some(pb::Money {
                currency_code: "USD".into(),
                amount_minor: 6_200_000,
            }),
            step: Some(finance.clone()),
        }],
        legal_step: Some(step(
            "Legal",
            vec![queue(pb::Role::Legal)],
            Mode::Unspecified,
        )),
        payment_days_limit: 45,
        finance_step: Some(finance),
        ..Default::default()
    }
}

contract_test!(
    salesforce_exports_import_deals_users_and_stage_history,
    |app| {
        let pipeline = mid_market(&app).await;
        let report = import(&app, pipeline, &mapping("salesforce"), &salesforce())
            .await
            .unwrap();
        assert_eq!(report.source, "salesforce");
        assert!(!report.validate_only);
        // 10 opportunities + 38 history rows + 4 users; the deleted opportunity and its one
        // history row are skipped.
        assert_eq!(counts(&report), (52, 2, 9, 0, 0, 33, 4));
        assert_eq!(
            dropped(&report),
            [
                "forecast category of a closed deal ignored (CLOSED kept): 'Omitted' 2",
                "history row of a skipped deal skipped: 'OpportunityHistory.csv' 1",
                "row deleted in the source (IsDeleted) skipped: 'Opportunity.csv' 1",
            ]
        );

        // The User file's tree: Victoria leads Morgan, who manages Riley and Robin.
        let user = |email: &'static str| {
            let store = app.app.store.clone();
            async move { store.find_user_by_email(email).await.unwrap().unwrap() }
        };
        let (vp, manager, riley, robin) = (
            user("victoria.vance@acme-sales.example").await,
            user("morgan.miles@acme-sales.example").await,
            user("riley.reed@acme-sales.example").await,
            user("robin.rowe@acme-sales.example").await,
        );
        assert_eq!(
            (vp.profile.role, vp.profile.manager_id),
            (Role::Leader, None)
        );
        assert_eq!(
            (manager.profile.role, manager.profile.manager_id),
            (Role::Manager, Some(vp.id))
        );
        assert_eq!(
            (riley.profile.role, riley.profile.manager_id),
            (Role::Rep, Some(manager.id))
        );
        assert_eq!(robin.profile.manager_id, Some(manager.id));

        // A lost deal that went back a stage before it was lost.
        let initech = deal(&app, "Initech - Analytics add-on").await;
        assert_eq!(initech.status(), pb::deal::Status::Lost);
        assert_eq!(initech.loss_reason, "Chose a competitor");
        assert_eq!(initech.owner, user_name(&robin));
        assert_eq!(initech.account, "Initech");
        assert_eq!(initech.lead_source(), pb::LeadSource::Partner);
        assert_eq!(initech.forecast_category(), pb::ForecastCategory::Closed);
        assert_eq!(
            initech.amount,
            Some(pb::Money {
                currency_code: "USD".into(),
                amount_minor: 4_500_000
            })
        );
        assert_eq!(
            history(&app, &initech).await,
            [
                h("", "problem-recognized", Create, "2026-04-01T08:00"),
                h(
                    "problem-recognized",
                    "solution-exploring",
                    Forward,
                    "2026-04-20T09:00"
                ),
                h(
                    "solution-exploring",
                    "business-case-built",
                    Forward,
                    "2026-05-15T13:00"
                ),
                h(
                    "business-case-built",
                    "solution-exploring",
                    Backward,
                    "2026-06-01T10:00"
                ),
                h(
                    "solution-exploring",
                    "closed-lost",
                    Close,
                    "2026-07-03T17:00"
                ),
            ]
        );
        let closed = initech.close_time.unwrap();
        assert_eq!(
            closed.seconds, 1_783_098_000,
            "closed at its Closed Lost row"
        );

        // An open deal: two source stages map to decision-pending, and the amount-only row of
        // 2026-11-05 is not a move; each row keeps the amount of its time.
        let stark = deal(&app, "Stark - Enterprise tier").await;
        assert_eq!(stark.status(), pb::deal::Status::Open);
        assert_eq!(stark.stage, "decision-pending");
        assert_eq!(stark.forecast_category(), pb::ForecastCategory::Commit);
        assert_eq!(stark.amount.as_ref().unwrap().amount_minor, 25_000_000);
        assert_eq!(stark.close_date.unwrap().day, 15);
        let rows = app
            .deals()
            .await
            .list_deal_stage_history(authed(
                &app.admin_token,
                pb::ListDealStageHistoryRequest {
                    parent: stark.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .entries;
        let amounts: Vec<i64> = rows
            .iter()
            .map(|e| e.amount.as_ref().unwrap().amount_minor)
            .collect();
        assert_eq!(amounts, [20_000_000, 20_000_000, 20_000_000, 22_000_000]);
        assert!(
            rows.iter().all(|e| e.actor.is_empty()),
            "imports have no actor"
        );

        // One audit row for the import.
        assert_eq!(
            app.count("audit_events WHERE action = 'ImportHistory'")
                .await,
            1
        );
    }
);

contract_test!(
    reimporting_the_same_files_duplicates_nothing_and_updates_values,
    |app| {
        let pipeline = mid_market(&app).await;
        import(&app, pipeline, &mapping("salesforce"), &salesforce())
            .await
            .unwrap();
        let before = stored(&app).await;
        let again = import(&app, pipeline, &mapping("salesforce"), &salesforce())
            .await
            .unwrap();
        assert_eq!(counts(&again), (52, 2, 0, 0, 9, 0, 0));
        let after = stored(&app).await;
        assert_eq!(before[..5], after[..5], "deals, history, users and links");
        assert_eq!(after[5], before[5] + 1, "only the import's audit row");

        // The CRM moved Wayne forward and raised its amount.
        let wayne = deal(&app, "Wayne - Platform").await;
        let desk = DealDeskServiceClient::connect(format!("http://{}", app.addr))
            .await
            .unwrap();
        desk.clone()
            .create_approval_policy(authed(
                &app.admin_token,
                pb::CreateApprovalPolicyRequest {
                    policy: Some(large_deals_need_finance()),
                },
            ))
            .await
            .unwrap();
        let preview = || {
            let (mut desk, deal) = (desk.clone(), wayne.name.clone());
            let token = app.admin_token.clone();
            async move {
                desk.preview_approval_route(authed(
                    &token,
                    pb::PreviewApprovalRouteRequest {
                        deal,
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .auto_approved
            }
        };
        assert!(preview().await, "60,000.00 is not above the threshold");
        let mut files = salesforce();
        let opportunities = String::from_utf8(files[0].bytes.clone()).unwrap().replace(
            "\"Wayne - Platform\",\"Qualification\",\"60000.00\"",
            "\"Wayne - Platform\",\"Value Proposition\",\"65000.00\"",
        );
        files[0].bytes = opportunities.into_bytes();
        files[1].bytes.extend_from_slice(
        b"\"0081000000E003\",\"false\",\"0061000000WAYN\",\"005RP00000C1\",\"2026-11-20T10:00:00.000Z\",\"Value Proposition\",\"65000.00\",\"32500.00\",\"2026-12-20\",\"50\",\"Best Case\"\n",
    );
        let changed = import(&app, pipeline, &mapping("salesforce"), &files)
            .await
            .unwrap();
        assert_eq!(counts(&changed), (53, 2, 0, 1, 8, 1, 0));
        let now = stored(&app).await;
        assert_eq!(now[0], before[0], "no new deal");
        assert_eq!(now[1], before[1] + 1, "one new history row");
        let updated = deal(&app, "Wayne - Platform").await;
        assert_eq!(updated.name, wayne.name);
        assert_ne!(updated.etag, wayne.etag);
        assert_eq!(updated.stage, "business-case-built");
        assert_eq!(updated.amount.as_ref().unwrap().amount_minor, 6_500_000);
        assert!(
            !preview().await,
            "the preview routes on the imported amount at once"
        );
        assert_eq!(
            history(&app, &updated).await.last().unwrap(),
            &h(
                "solution-exploring",
                "business-case-built",
                Forward,
                "2026-11-20T10:00"
            )
        );
    }
);

contract_test!(
    validate_only_reports_what_an_import_would_do_and_writes_nothing,
    |app| {
        let pipeline = mid_market(&app).await;
        let before = stored(&app).await;
        let report = send(
            &app,
            &app.admin_token,
            messages(pipeline, &mapping("salesforce"), &salesforce(), true),
        )
        .await
        .unwrap();
        assert!(report.validate_only);
        assert_eq!(counts(&report), (52, 2, 9, 0, 0, 33, 4));
        assert_eq!(stored(&app).await, before);
    }
);

contract_test!(
    a_bad_file_changes_nothing_and_each_bad_row_is_named_by_file_and_line,
    |app| {
        let pipeline = mid_market(&app).await;
        import(&app, pipeline, &mapping("salesforce"), &salesforce())
            .await
            .unwrap();
        let before = stored(&app).await;
        let bad = vec![
            upload(
                "Opportunity.csv",
                Kind::SalesforceOpportunity,
                "salesforce/bad/Opportunity.csv",
            ),
            upload(
                "OpportunityHistory.csv",
                Kind::SalesforceOpportunityHistory,
                "salesforce/bad/OpportunityHistory.csv",
            ),
            upload("User.csv", Kind::SalesforceUser, "salesforce/User.csv"),
        ];
        let status = import(&app, pipeline, &mapping("salesforce"), &bad)
            .await
            .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "IMPORT_ROWS_INVALID");
        assert!(
            status
                .message()
                .starts_with("7 bad rows (7 problems) of 13 read; nothing was imported"),
            "{status:?}"
        );
        let violations = violations(&status);
        let found: Vec<(&str, &str)> = violations
            .iter()
            .map(|(field, description)| {
                (
                    field.as_str(),
                    description.split(':').next().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("Opportunity.csv:3", "Amount"),
                ("Opportunity.csv:4", "StageName"),
                ("Opportunity.csv:5", "OwnerId"),
                ("Opportunity.csv:6", "CloseDate"),
                ("Opportunity.csv:7", "has 2 fields where the header has 14"),
                ("OpportunityHistory.csv:3", "OpportunityId"),
                ("OpportunityHistory.csv:4", "CreatedDate"),
            ]
        );
        assert_eq!(
            violations[0].1,
            "Amount: \"12,5x\" is not an amount (digits with an optional decimal point, like 1250.50)"
        );
        assert_eq!(
            violations[5].1,
            "OpportunityId: \"0061000000ZZZZ\" is not a deal of the deals file"
        );
        assert_eq!(stored(&app).await, before, "nothing written, no audit row");

        // A validate-only run answers the same.
        let dry = send(
            &app,
            &app.admin_token,
            messages(pipeline, &mapping("salesforce"), &bad, true),
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&dry).len(), 7);
    }
);

contract_test!(only_admins_import, |app| {
    let pipeline = mid_market(&app).await;
    let leader = person(&app, Role::Leader, None).await;
    let manager = person(&app, Role::Manager, Some(&leader)).await;
    let rep: Person = person(&app, Role::Rep, Some(&manager)).await;
    for who in [&leader, &manager, &rep] {
        let status = send(
            &app,
            &who.token,
            messages(pipeline, &mapping("salesforce"), &salesforce(), false),
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "ADMIN_ONLY");
    }
    assert_eq!(app.count("deals").await, 0);
    let status = send(&app, "nope", vec![]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
});

contract_test!(the_stream_starts_with_settings_naming_a_pipeline, |app| {
    let pipeline = mid_market(&app).await;
    let mut chunk_first = messages(pipeline, "", &salesforce(), false);
    chunk_first.remove(0);
    let status = send(&app, &app.admin_token, chunk_first).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["settings"]);

    let mut no_kind = messages(pipeline, "", &salesforce(), false);
    if let Some(Part::FileChunk(chunk)) = &mut no_kind[1].part {
        chunk.kind = Kind::Unspecified as i32;
    }
    let status = send(&app, &app.admin_token, no_kind).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["file_chunk.kind"]);

    let unknown = messages(Uuid::now_v7(), "", &salesforce(), false);
    let status = send(&app, &app.admin_token, unknown).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["pipeline"]);

    let status = import(&app, pipeline, "{\"stages\": [", &salesforce())
        .await
        .unwrap_err();
    assert_error(&status, Code::InvalidArgument, "IMPORT_ROWS_INVALID");
    assert_eq!(violated_fields(&status), ["mapping:1"]);

    let status = import(&app, pipeline, "", &salesforce()[1..])
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["files"]);
});

// Health knows the new service.
contract_test!(health_serves_the_import_service, |app| {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let channel = Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let mut status = 0;
    for _ in 0..50 {
        if let Ok(answer) = health
            .check(HealthCheckRequest {
                service: "dealdesk.v1.ImportService".into(),
            })
            .await
        {
            status = answer.into_inner().status;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
});
