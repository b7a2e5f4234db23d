//! Whose deals the metrics cover, the filters that narrow them, and bad input.

use super::*;

contract_test!(a_rep_sees_metrics_over_their_own_deals_only, |app| {
    let book = book(&app).await;
    let m = metrics(&app, &book.rep1.token, ask(&book.pipeline))
        .await
        .unwrap();
    // R1 owns A, B and F. Evaluate in the range: A, B, F entered; A advanced.
    let total = m.total.as_ref().unwrap();
    assert_eq!(
        conversion(total)[1],
        (s("evaluate"), 3, 1, r(Some(1.0 / 3.0)))
    );
    // Closed: A won, B lost.
    assert_eq!(
        closed(total.closed.as_ref().unwrap()),
        (1, 1, Some(0.5), Some(30.0))
    );
    // Only F of R1's deals is stale; the thresholds are the stages', whoever asks.
    assert_eq!(m.stale_deal_count, 1);
    assert_eq!(m.stale_deals[0].owner, book.rep1.name());
    let org = metrics(&app, &book.deal_desk.token, ask(&book.pipeline))
        .await
        .unwrap();
    assert_eq!(m.stale_thresholds, org.stale_thresholds);
    // Naming themselves is the same view; the org or a colleague is refused.
    let own = metrics(
        &app,
        &book.rep1.token,
        pb::GetPipelineMetricsRequest {
            scope: book.rep1.name(),
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap();
    assert_eq!(own.total, m.total);
    for scope in ["org".to_string(), book.rep2.name()] {
        let err = metrics(
            &app,
            &book.rep1.token,
            pb::GetPipelineMetricsRequest {
                scope,
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap_err();
        assert_error(&err, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
    }
    let err = metrics(
        &app,
        &book.rep1.token,
        pb::GetPipelineMetricsRequest {
            owner: book.rep2.name(),
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
});

contract_test!(
    a_manager_sees_their_subtree_and_may_narrow_it_to_one_owner,
    |app| {
        let book = book(&app).await;
        let m = metrics(&app, &book.manager.token, ask(&book.pipeline))
            .await
            .unwrap();
        // M's subtree is R1 and R2: E (R3) is left out. January discover: A, B entered, both
        // advanced; stays A 10, B 20, C 20: median 20. Nothing of theirs closed in January.
        let january = &m.months[0];
        assert_eq!(conversion(january)[0], (s("discover"), 2, 2, Some(1.0)));
        assert_eq!(
            velocity(january)[0],
            (s("discover"), 3, 0, Some(0.0), Some(20.0))
        );
        assert_eq!(closed(january.closed.as_ref().unwrap()), (0, 0, None, None));
        assert!(january.by_lead_source.is_empty());
        // January's close-date changes without E's: A and C, both pushed.
        assert_eq!(pushes(january), (2, 2, 2, Some(1.0), Some(17.5)));

        // One owner, R2 (C and D): evaluate entered by C and D, both advanced.
        let m = metrics(
            &app,
            &book.manager.token,
            pb::GetPipelineMetricsRequest {
                owner: book.rep2.name(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap();
        let total = m.total.as_ref().unwrap();
        assert_eq!(conversion(total)[1], (s("evaluate"), 2, 2, Some(1.0)));
        assert_eq!(
            closed(total.closed.as_ref().unwrap()),
            (1, 0, Some(1.0), Some(10.0))
        );
        assert_eq!(m.stale_deal_count, 1);

        // R3 is not below M.
        let err = metrics(
            &app,
            &book.manager.token,
            pb::GetPipelineMetricsRequest {
                owner: book.rep3.name(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap_err();
        assert_error(&err, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
        // An owner outside the scope named is a contradiction in the request.
        let err = metrics(
            &app,
            &book.manager.token,
            pb::GetPipelineMetricsRequest {
                scope: book.rep1.name(),
                owner: book.rep2.name(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&err), ["owner"]);
        // Deal desk reads everyone's, R3 included.
        let m = metrics(
            &app,
            &book.deal_desk.token,
            pb::GetPipelineMetricsRequest {
                scope: "org".into(),
                owner: book.rep3.name(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap();
        assert_eq!(
            closed(m.total.unwrap().closed.as_ref().unwrap()),
            (0, 1, Some(0.0), None)
        );
    }
);

contract_test!(lead_source_and_segment_filters_narrow_the_deals, |app| {
    let book = book(&app).await;
    // Inbound: A, C, E (and G, which moved only this month). Discover in the range: A and E
    // entered (C in December), A advanced. Closed: A won, E lost.
    let m = metrics(
        &app,
        &app.admin_token,
        pb::GetPipelineMetricsRequest {
            lead_source: pb::LeadSource::Inbound as i32,
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap();
    let total = m.total.as_ref().unwrap();
    assert_eq!(conversion(total)[0], (s("discover"), 2, 1, Some(0.5)));
    assert_eq!(
        closed(total.closed.as_ref().unwrap()),
        (1, 1, Some(0.5), Some(30.0))
    );
    // Of the stale deals, only C is inbound.
    assert_eq!(m.stale_deal_count, 1);

    // The pipeline serves SMB: the same segment keeps everything, another keeps nothing.
    let smb = metrics(
        &app,
        &app.admin_token,
        pb::GetPipelineMetricsRequest {
            segment: pb::Segment::Smb as i32,
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap();
    let everything = metrics(&app, &app.admin_token, ask(&book.pipeline))
        .await
        .unwrap();
    assert_eq!(smb.total, everything.total);
    let enterprise = metrics(
        &app,
        &app.admin_token,
        pb::GetPipelineMetricsRequest {
            segment: pb::Segment::Enterprise as i32,
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap();
    let total = enterprise.total.as_ref().unwrap();
    assert!(total.stages.iter().all(|s| s.entered == 0 && s.exits == 0));
    assert_eq!(closed(total.closed.as_ref().unwrap()), (0, 0, None, None));
    assert_eq!(pushes(total), (0, 0, 0, None, None));
    assert_eq!(
        (enterprise.stale_deal_count, enterprise.stale_deals.len()),
        (0, 0)
    );
});

contract_test!(
    bad_input_names_every_field_and_unknown_resources_are_not_found,
    |app| {
        let book = book(&app).await;
        let err = metrics(
            &app,
            &app.admin_token,
            pb::GetPipelineMetricsRequest {
                pipeline: "pipelines/nope".into(),
                start_month: "2025-13".into(),
                end_month: "2025-Q1".into(),
                scope: "team".into(),
                owner: "people/1".into(),
                lead_source: 99,
                segment: 42,
                stale_after_days: Some(0),
                max_stale_deals: -1,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            violated_fields(&err),
            [
                "pipeline",
                "start_month",
                "end_month",
                "scope",
                "owner",
                "lead_source",
                "segment",
                "stale_after_days",
                "max_stale_deals"
            ]
        );
        // The end before the start; then 25 months.
        for (start, end) in [("2025-03", "2025-02"), ("2024-01", "2026-01")] {
            let err = metrics(
                &app,
                &app.admin_token,
                pb::GetPipelineMetricsRequest {
                    start_month: start.into(),
                    end_month: end.into(),
                    ..ask(&book.pipeline)
                },
            )
            .await
            .unwrap_err();
            assert_eq!(violated_fields(&err), ["end_month"]);
        }
        // Twenty-four months are fine.
        let m = metrics(
            &app,
            &app.admin_token,
            pb::GetPipelineMetricsRequest {
                start_month: "2024-03".into(),
                end_month: "2026-02".into(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap();
        assert_eq!(m.months.len(), 24);
        let unknown = format!("pipelines/{}", uuid::Uuid::now_v7());
        let err = metrics(&app, &app.admin_token, ask(&unknown))
            .await
            .unwrap_err();
        assert_error(&err, Code::NotFound, "NOT_FOUND");
        let err = metrics(
            &app,
            &app.admin_token,
            pb::GetPipelineMetricsRequest {
                owner: format!("users/{}", uuid::Uuid::now_v7()),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap_err();
        assert_error(&err, Code::NotFound, "NOT_FOUND");
        // Without a token there is nothing to see.
        let err = app
            .pipelines()
            .await
            .get_pipeline_metrics(ask(&book.pipeline))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
);
