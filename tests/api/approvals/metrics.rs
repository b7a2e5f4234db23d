//! Approval metrics: requests, auto-approvals and decided work.

use super::*;

async fn try_metrics(
    app: &TestApp,
    who: &Person,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<pb::ApprovalMetrics, Status> {
    app.deal_desk()
        .await
        .get_approval_metrics(authed(
            &who.token,
            pb::GetApprovalMetricsRequest {
                start_time: timestamp(start),
                end_time: timestamp(end),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// (count, decided) of a turnaround, after checking its times are sane.
#[track_caller]
fn counted(t: &Option<pb::Turnaround>) -> (i64, i64) {
    let t = t.as_ref().expect("a turnaround");
    assert!(t.median_seconds >= 0.0, "{t:?}");
    assert!(t.p90_seconds >= t.median_seconds, "{t:?}");
    (t.count, t.decided)
}

// ---------------------------------------------------------------------------------------------
// Metrics.

contract_test!(
    metrics_count_requests_auto_approvals_and_decided_work,
    |app| {
        let d = Desk::new(&app).await;
        let start = Utc::now() - chrono::Duration::hours(1);
        let end = Utc::now() + chrono::Duration::hours(1);
        let empty = try_metrics(&app, &d.desk, start, end).await.unwrap();
        assert_eq!((empty.count, empty.auto_approved_share), (0, 0.0));
        assert!(empty.segments.is_empty() && empty.approvers.is_empty());

        submit(&app, &d.rep, ask(&d.deal, 1000)).await; // auto-approved
        let decided = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        approve(&app, &d.manager, &step_of(&decided, 1)).await;
        let half = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve(&app, &d.manager, &step_of(&half, 1)).await; // the VP step stays pending

        let m = try_metrics(&app, &d.desk, start, end).await.unwrap();
        assert_eq!(m.count, 3);
        assert_eq!(m.auto_approved_share, 1.0 / 3.0);
        assert_eq!(
            counted(&m.requests),
            (2, 1),
            "two needed a human, one decided"
        );
        assert_eq!(counted(&m.steps), (3, 2), "three steps asked, two decided");
        assert_eq!(m.segments.len(), 1);
        assert_eq!(m.segments[0].segment(), pb::Segment::MidMarket);
        assert_eq!(m.segments[0].count, 3);
        assert_eq!(m.segments[0].auto_approved_share, 1.0 / 3.0);
        assert_eq!(counted(&m.segments[0].requests), (2, 1));
        let steps_of = |m: &pb::ApprovalMetrics, r: Relation| {
            let found: Vec<&pb::ApproverTurnaround> = m
                .approvers
                .iter()
                .filter(|a| a.approver == Some(relation(r)))
                .collect();
            assert_eq!(found.len(), 1, "{r:?} once in {:?}", m.approvers);
            counted(&found[0].steps)
        };
        assert_eq!(m.approvers.len(), 2);
        assert_eq!(steps_of(&m, Relation::OwnersManager), (2, 2));
        assert_eq!(steps_of(&m, Relation::LeaderAboveOwner), (1, 0));

        // A rejection is decided too.
        let rejected = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        try_reject(&app, &d.manager, &step_of(&rejected, 1), "no")
            .await
            .unwrap();
        for who in [&d.desk, &d.finance, &d.legal, &d.vp, &d.admin] {
            let m = try_metrics(&app, who, start, end).await.unwrap();
            assert_eq!(m.count, 4);
            assert_eq!(m.auto_approved_share, 0.25);
            assert_eq!(counted(&m.requests), (3, 2));
            assert_eq!(counted(&m.steps), (4, 3));
            assert_eq!(steps_of(&m, Relation::OwnersManager), (3, 3));
        }

        // Requests outside the range are not counted.
        let before = try_metrics(&app, &d.desk, start - chrono::Duration::days(2), start)
            .await
            .unwrap();
        assert_eq!(before.count, 0);

        // Another segment is counted apart, in segment order.
        create_policy(
            &app,
            &app.admin_token,
            pb::ApprovalPolicy {
                segment: pb::Segment::Smb as i32,
                ..policy()
            },
        )
        .await
        .unwrap();
        let smb = create_pipeline(&app, gated_pipeline(pb::Segment::Smb)).await;
        let small = create_deal(
            &app,
            &d.rep.token,
            priced_deal(&smb, "Small", "discovery", 0),
        )
        .await;
        submit(&app, &d.rep, ask(&small, 1000)).await;
        let m = try_metrics(&app, &d.desk, start, end).await.unwrap();
        assert_eq!(m.count, 5);
        assert_eq!(m.auto_approved_share, 2.0 / 5.0);
        let segments: Vec<(pb::Segment, i64, f64)> = m
            .segments
            .iter()
            .map(|s| (s.segment(), s.count, s.auto_approved_share))
            .collect();
        assert_eq!(
            segments,
            [
                (pb::Segment::Smb, 1, 1.0),
                (pb::Segment::MidMarket, 4, 0.25)
            ]
        );
        assert_eq!(counted(&m.segments[0].requests), (0, 0));
        assert_eq!(counted(&m.segments[1].requests), (3, 2));

        for who in [&d.rep, &d.manager] {
            let status = try_metrics(&app, who, start, end).await.unwrap_err();
            assert_error(&status, Code::PermissionDenied, "METRICS_READERS_ONLY");
        }
        for (from, to) in [(end, start), (start, start)] {
            let status = try_metrics(&app, &d.desk, from, to).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["end_time"]);
        }
        let status = app
            .deal_desk()
            .await
            .get_approval_metrics(authed(
                &d.desk.token,
                pb::GetApprovalMetricsRequest::default(),
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["start_time", "end_time"]);
        let status = try_metrics(&app, &d.desk, start, start + chrono::Duration::days(367))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["end_time"]);
    }
);
