//! WatchApprovalEvents: order, resumption, live escalations, and what each watcher may see.

use super::*;

/// Events of requests on which `approver` is an approver.
fn by_approver(approver: &Person) -> pb::WatchApprovalEventsRequest {
    pb::WatchApprovalEventsRequest {
        approver: approver.name(),
        ..Default::default()
    }
}

/// Events of requests with a step for `role`'s queue.
fn by_queue(role: pb::Role) -> pb::WatchApprovalEventsRequest {
    pb::WatchApprovalEventsRequest {
        role_queue: role as i32,
        ..Default::default()
    }
}

fn watch_all(after_event_id: i64) -> pb::WatchApprovalEventsRequest {
    pb::WatchApprovalEventsRequest {
        after_event_id,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The event stream.

contract_test!(
    events_stream_in_order_and_resume_after_the_last_seen_id_without_loss,
    |app| {
        let d = Desk::new(&app).await;
        let mut stream = watch(&app, &d.desk, watch_all(0)).await.unwrap();
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve(&app, &d.manager, &step_of(&first, 1)).await;
        approve(&app, &d.vp, &step_of(&first, 2)).await;
        let seen = take(&mut stream, 2).await;
        assert_eq!(
            summary(&seen),
            [
                (Kind::Submitted, first.name.clone(), String::new()),
                (Kind::StepDecided, first.name.clone(), step_of(&first, 1)),
            ]
        );
        assert_eq!(seen[0].actor, d.rep.name());
        assert_eq!(seen[0].deal, d.deal.name);
        assert_eq!(seen[1].actor, d.manager.name());
        assert!(seen[1].create_time.is_some());
        drop(stream);

        let second = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        try_withdraw(&app, &d.rep, &second.name).await.unwrap();
        let mut resumed = watch(&app, &d.desk, watch_all(seen[1].id)).await.unwrap();
        let rest = take(&mut resumed, 4).await;
        assert_eq!(
            summary(&rest),
            [
                (Kind::StepDecided, first.name.clone(), step_of(&first, 2)),
                (Kind::Approved, first.name.clone(), String::new()),
                (Kind::Submitted, second.name.clone(), String::new()),
                (Kind::Withdrawn, second.name.clone(), String::new()),
            ]
        );
        assert!(rest[0].id > seen[1].id);
        assert_eq!(rest[0].actor, d.vp.name());
        assert_eq!(rest[3].actor, d.rep.name());
        quiet(&mut resumed).await;

        // Live: a change made now arrives on the open stream, and nothing else.
        let third = submit(&app, &d.rep, ask(&d.deal, 1000)).await;
        let live = take_within(&mut resumed, 2, Duration::from_secs(5)).await;
        assert_eq!(
            summary(&live),
            [
                (Kind::Submitted, third.name.clone(), String::new()),
                (Kind::Approved, third.name.clone(), String::new()),
            ]
        );
        quiet(&mut resumed).await;

        // From the start: the same events with the same ids, each once.
        let mut everything = watch(&app, &d.desk, watch_all(0)).await.unwrap();
        let all = take(&mut everything, 8).await;
        quiet(&mut everything).await;
        let mut expected = seen.clone();
        expected.extend(rest.clone());
        expected.extend(live.clone());
        assert_eq!(all, expected);
        assert_increasing(&all);
    }
);

contract_test!(escalations_and_rejections_are_streamed_live, |app| {
    let d = Desk::new(&app).await;
    let mut stream = watch(&app, &d.rep, by_deal(&d.deal.name)).await.unwrap();
    quiet(&mut stream).await;
    let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
    let live = Duration::from_secs(5);
    let submitted = take_within(&mut stream, 1, live).await;
    assert_eq!(submitted[0].kind(), Kind::Submitted);
    let escalated = app
        .app
        .escalate_overdue(Utc::now() + chrono::Duration::hours(25))
        .await
        .unwrap();
    assert_eq!(escalated, 1);
    let event = take_within(&mut stream, 1, live).await;
    assert_eq!(
        summary(&event),
        [(Kind::Escalated, request.name.clone(), step_of(&request, 1))]
    );
    assert_eq!(event[0].actor, "", "the server escalates");
    try_reject(&app, &d.manager, &step_of(&request, 1), "no")
        .await
        .unwrap();
    let events = take_within(&mut stream, 2, live).await;
    assert_eq!(
        summary(&events),
        [
            (
                Kind::StepDecided,
                request.name.clone(),
                step_of(&request, 1)
            ),
            (Kind::Rejected, request.name.clone(), String::new()),
        ]
    );
    let mut all = submitted;
    all.extend(event);
    all.extend(events);
    assert_increasing(&all);
    quiet(&mut stream).await;
});

contract_test!(watchers_see_only_what_their_filter_and_role_allow, |app| {
    let d = Desk::new(&app).await;
    let clause_deal = d.deal_of_rep(&app, "discovery", 0).await;
    let peers_deal = d.deal_of_peer(&app).await;
    let discount = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
    let clause = submit(&app, &d.rep, ask_clause(&clause_deal)).await;
    let peers = submit(&app, &d.peer, ask(&peers_deal, 2000)).await;

    let requests_seen = |events: Vec<pb::ApprovalEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.approval_request).collect()
    };
    let cases: Vec<(&Person, pb::WatchApprovalEventsRequest, Vec<String>)> = vec![
        (&d.rep, by_deal(&d.deal.name), vec![discount.name.clone()]),
        (
            &d.manager,
            by_approver(&d.manager),
            vec![discount.name.clone()],
        ),
        (&d.vp, by_approver(&d.vp), vec![discount.name.clone()]),
        (
            &d.vp,
            by_approver(&d.other_manager),
            vec![peers.name.clone()],
        ),
        (
            &d.legal,
            by_queue(pb::Role::Legal),
            vec![clause.name.clone()],
        ),
        (
            &d.desk,
            pb::WatchApprovalEventsRequest {
                deal: clause_deal.name.clone(),
                ..by_queue(pb::Role::Legal)
            },
            vec![clause.name.clone()],
        ),
        (
            &d.desk,
            pb::WatchApprovalEventsRequest {
                deal: d.deal.name.clone(),
                ..by_queue(pb::Role::Legal)
            },
            vec![],
        ),
        (
            &d.desk,
            watch_all(0),
            vec![
                discount.name.clone(),
                clause.name.clone(),
                peers.name.clone(),
            ],
        ),
        (
            &d.finance,
            watch_all(0),
            vec![
                discount.name.clone(),
                clause.name.clone(),
                peers.name.clone(),
            ],
        ),
    ];
    for (who, request, expected) in cases {
        let mut stream = watch(&app, who, request.clone())
            .await
            .unwrap_or_else(|e| panic!("{request:?}: {e:?}"));
        let events = take(&mut stream, expected.len()).await;
        assert!(events.iter().all(|e| e.kind() == Kind::Submitted));
        assert_eq!(requests_seen(events), expected, "{request:?}");
        quiet(&mut stream).await;
    }

    let refusals: Vec<(&Person, pb::WatchApprovalEventsRequest)> = vec![
        (&d.rep, watch_all(0)),
        (&d.manager, watch_all(0)),
        (&d.vp, watch_all(0)),
        (&d.rep, by_approver(&d.peer)),
        (&d.rep, by_approver(&d.manager)),
        (&d.manager, by_approver(&d.peer)),
        (&d.rep, by_queue(pb::Role::Legal)),
        (&d.finance, by_queue(pb::Role::Legal)),
    ];
    for (who, request) in refusals {
        let status = watch(&app, who, request.clone()).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "WATCH_SCOPE");
    }
    let status = watch(&app, &d.rep, by_deal(&peers_deal.name))
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "NOT_FOUND");
    let status = watch(&app, &d.desk, watch_all(-1)).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["after_event_id"]);
});
