//! Resubmitting a request: which approvals still cover and which steps are asked again.

use super::*;

/// A request for `discount_bps` that replaces `earlier`.
fn resubmit(
    deal: &pb::Deal,
    discount_bps: i32,
    earlier: &pb::ApprovalRequest,
) -> pb::SubmitApprovalRequestRequest {
    pb::SubmitApprovalRequestRequest {
        resubmits: earlier.name.clone(),
        ..ask(deal, discount_bps)
    }
}

fn reapprovals(request: &pb::ApprovalRequest) -> Vec<String> {
    request.steps.iter().map(|s| s.reapproval.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Smart re-approval.

contract_test!(
    a_resubmission_keeps_approvals_that_still_cover_and_asks_again_when_the_discount_rises,
    |app| {
        let d = Desk::new(&app).await;
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve_manager_and_vp(&app, &d, &first).await;

        let lower = submit(&app, &d.rep, resubmit(&d.deal, 2800, &first)).await;
        assert_eq!(lower.state(), State::Approved);
        assert!(lower.auto_approved);
        assert_eq!(lower.resubmits, first.name);
        assert_eq!(step_states(&lower), [StepState::Kept, StepState::Kept]);
        assert_eq!(
            reapprovals(&lower),
            [
                "kept: the earlier approval still covers this request",
                "kept: the earlier approval still covers this request"
            ]
        );
        assert!(lower.close_time.is_some());
        let superseded = stored(&app, &first.name).await;
        assert_eq!(superseded.state(), State::Superseded);
        assert_eq!(
            step_states(&superseded),
            [StepState::Approved, StepState::Approved],
            "its approvals stand"
        );

        let higher = submit(&app, &d.rep, resubmit(&d.deal, 3500, &lower)).await;
        assert_eq!(higher.state(), State::Pending);
        assert!(!higher.auto_approved);
        assert_eq!(
            step_states(&higher),
            [StepState::Pending, StepState::Waiting]
        );
        assert_eq!(
            reapprovals(&higher),
            [
                "asked again: discount rose from 30.0% to 35.0%",
                "asked again: discount rose from 30.0% to 35.0%"
            ]
        );
        assert_eq!(stored(&app, &lower.name).await.state(), State::Superseded);

        // A superseded request is not resubmitted again.
        for earlier in [&first, &lower] {
            let status = try_submit(&app, &d.rep, resubmit(&d.deal, 2000, earlier))
                .await
                .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "NOT_RESUBMITTABLE");
        }
        // Resubmitting a pending request supersedes it and cancels what it still asked.
        let again = submit(&app, &d.rep, resubmit(&d.deal, 3500, &higher)).await;
        assert_eq!(again.state(), State::Pending);
        let replaced = stored(&app, &higher.name).await;
        assert_eq!(replaced.state(), State::Superseded);
        assert_eq!(
            step_states(&replaced),
            [StepState::Cancelled, StepState::Cancelled]
        );
        assert_eq!(app.count("approval_requests").await, 4);
    }
);

contract_test!(
    a_new_clause_on_resubmission_adds_a_legal_step_not_approved_before,
    |app| {
        let d = Desk::new(&app).await;
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve_manager_and_vp(&app, &d, &first).await;
        let with_clause = submit(
            &app,
            &d.rep,
            pb::SubmitApprovalRequestRequest {
                clauses: vec![UNCAPPED.into()],
                ..resubmit(&d.deal, 3000, &first)
            },
        )
        .await;
        assert_eq!(with_clause.state(), State::Pending);
        assert!(!with_clause.auto_approved);
        assert_eq!(
            step_names(&with_clause),
            ["Sales manager", "VP of Sales", "Legal review"]
        );
        assert_eq!(
            step_states(&with_clause),
            [StepState::Kept, StepState::Kept, StepState::Pending]
        );
        assert_eq!(with_clause.steps[2].reapproval, "not approved before");
        assert_eq!(my_queue(&app, &d.legal).await, [with_clause.name.as_str()]);
        assert_eq!(my_queue(&app, &d.manager).await, Vec::<String>::new());
        let approved = approve(&app, &d.legal, &step_of(&with_clause, 3)).await;
        assert_eq!(approved.state(), State::Approved);
    }
);

contract_test!(
    only_a_pending_approved_or_rejected_request_of_the_same_deal_is_resubmitted,
    |app| {
        let d = Desk::new(&app).await;
        let withdrawn = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        try_withdraw(&app, &d.rep, &withdrawn.name).await.unwrap();
        let status = try_submit(&app, &d.rep, resubmit(&d.deal, 2000, &withdrawn))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "NOT_RESUBMITTABLE");

        let elsewhere = d.deal_of_rep(&app, "discovery", 0).await;
        let other_deals = submit(&app, &d.rep, ask(&elsewhere, 2000)).await;
        let status = try_submit(&app, &d.rep, resubmit(&d.deal, 2000, &other_deals))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["resubmits"]);
        assert_eq!(app.count("approval_requests").await, 2);
        assert_eq!(stored(&app, &other_deals.name).await, other_deals);

        // A rejected request may be resubmitted: nothing of it was approved.
        let rejected = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        try_reject(&app, &d.manager, &step_of(&rejected, 1), "too deep")
            .await
            .unwrap();
        let retry = submit(&app, &d.rep, resubmit(&d.deal, 2500, &rejected)).await;
        assert_eq!(retry.state(), State::Pending);
        assert_eq!(reapprovals(&retry), ["not approved before"]);
        assert_eq!(
            stored(&app, &rejected.name).await.state(),
            State::Superseded
        );
    }
);

contract_test!(
    resubmitting_a_partly_approved_request_keeps_its_approved_step_and_supersedes_it,
    |app| {
        let d = Desk::new(&app).await;
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve(&app, &d.manager, &step_of(&first, 1)).await;
        let second = submit(&app, &d.rep, resubmit(&d.deal, 3000, &first)).await;
        assert_eq!(second.state(), State::Pending);
        assert_eq!(step_states(&second), [StepState::Kept, StepState::Pending]);
        assert_eq!(
            reapprovals(&second),
            [
                "kept: the earlier approval still covers this request",
                "not approved before"
            ]
        );
        let superseded = stored(&app, &first.name).await;
        assert_eq!(superseded.state(), State::Superseded);
        assert_eq!(
            step_states(&superseded),
            [StepState::Approved, StepState::Cancelled]
        );
        assert!(superseded.close_time.is_some());
        assert_eq!(my_queue(&app, &d.vp).await, [second.name.as_str()]);
        let status = try_approve(&app, &d.vp, &step_of(&first, 2))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
        let approved = approve(&app, &d.vp, &step_of(&second, 2)).await;
        assert_eq!(approved.state(), State::Approved);
        assert!(!approved.auto_approved);

        // The superseded request is closed in the event log as withdrawn.
        let mut stream = watch(&app, &d.desk, by_deal(&d.deal.name)).await.unwrap();
        let events = take(&mut stream, 6).await;
        assert_eq!(
            summary(&events),
            [
                (Kind::Submitted, first.name.clone(), String::new()),
                (Kind::StepDecided, first.name.clone(), step_of(&first, 1)),
                (Kind::Withdrawn, first.name.clone(), String::new()),
                (Kind::Submitted, second.name.clone(), String::new()),
                (Kind::StepDecided, second.name.clone(), step_of(&second, 2)),
                (Kind::Approved, second.name.clone(), String::new()),
            ]
        );
        assert_eq!(
            events[2].description,
            format!("superseded by {}", second.name)
        );
        assert_increasing(&events);
        quiet(&mut stream).await;
    }
);

contract_test!(two_concurrent_resubmissions_replace_a_request_once, |app| {
    let d = Desk::new(&app).await;
    for round in 0..3 {
        let first = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        approve(&app, &d.manager, &step_of(&first, 1)).await;
        let (a, b) = tokio::join!(
            try_submit(&app, &d.rep, resubmit(&d.deal, 1800, &first)),
            try_submit(&app, &d.rep, resubmit(&d.deal, 1900, &first)),
        );
        let (won, lost) = match (a, b) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
            other => panic!("round {round}: exactly one resubmission must win: {other:?}"),
        };
        let reason = lost.get_details_error_info().unwrap().reason;
        assert!(
            [
                (Code::Aborted, "STALE_ETAG"),
                (Code::FailedPrecondition, "NOT_RESUBMITTABLE")
            ]
            .contains(&(lost.code(), reason.as_str())),
            "round {round}: {lost:?}"
        );
        assert_eq!(won.resubmits, first.name);
        assert_eq!(won.state(), State::Approved);
        assert_eq!(stored(&app, &first.name).await.state(), State::Superseded);
        assert_eq!(
            app.count("approval_requests").await,
            2 * (round + 1),
            "round {round}: one replacement"
        );
    }
});
