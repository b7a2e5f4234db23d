//! Approve, reject and withdraw: step order, all and any steps, concurrent decisions.

use super::*;

/// The policy with a legal step asked of both the legal queue and the owner's manager.
fn joint_legal_policy(mode: Mode) -> pb::ApprovalPolicy {
    pb::ApprovalPolicy {
        legal_step: Some(step(
            "Legal review",
            vec![queue(pb::Role::Legal), relation(Relation::OwnersManager)],
            mode,
        )),
        ..policy()
    }
}

// ---------------------------------------------------------------------------------------------
// Deciding.

contract_test!(
    steps_are_decided_in_order_and_the_last_approval_approves,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;

        let status = try_approve(&app, &d.vp, &step_of(&request, 2))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "STEP_NOT_STARTED");
        let status = try_approve(&app, &d.vp, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "NOT_AN_APPROVER");
        // Legal and deal desk see the request but hold no seat of the step; a manager outside
        // the owner's chain does not even learn that it exists.
        for outsider in [&d.legal, &d.desk] {
            let status = try_approve(&app, outsider, &step_of(&request, 1))
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "NOT_AN_APPROVER");
        }
        let status = try_approve(&app, &d.other_manager, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = try_approve(&app, &d.rep, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OWN_REQUEST");
        let status = try_approve(&app, &d.manager, &step_of(&request, 9))
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = app
            .deal_desk()
            .await
            .approve_approval_step(authed(
                &d.manager.token,
                approval(&step_of(&request, 1), &"x".repeat(2001)),
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["comment"]);
        for bad in [
            format!("{}/steps/0", request.name),
            format!("{}/steps/one", request.name),
            request.name.clone(),
        ] {
            let status = try_approve(&app, &d.manager, &bad).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["step"]);
        }
        assert_eq!(
            stored(&app, &request.name).await,
            request,
            "nothing changed"
        );

        // The manager approves step 1, with a request id: a retry gets the same answer.
        let mut manager_client = app.deal_desk().await;
        let keyed = pb::ApproveApprovalStepRequest {
            request_id: "approve-1".into(),
            ..approval(&step_of(&request, 1), "within budget")
        };
        let after_first = manager_client
            .approve_approval_step(authed(&d.manager.token, keyed.clone()))
            .await
            .unwrap()
            .into_inner();
        let retried = manager_client
            .approve_approval_step(authed(&d.manager.token, keyed))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(retried, after_first);
        assert_eq!(after_first.state(), State::Pending);
        assert_eq!(
            step_states(&after_first),
            [StepState::Approved, StepState::Pending]
        );
        let decided = decisions(&after_first, 1);
        assert_eq!(decided.len(), 1);
        assert!(decided[0].approved);
        assert_eq!(decided[0].decided_by, d.manager.name());
        assert_eq!(decided[0].on_behalf_of, "");
        assert_eq!(decided[0].comment, "within budget");
        assert_eq!(after_first.steps[0].decide_time, decided[0].decide_time);
        assert_eq!(
            after_first.steps[1].start_time, after_first.steps[0].decide_time,
            "the next step is asked when the previous completes"
        );
        assert!(after_first.close_time.is_none());

        let status = try_approve(&app, &d.manager, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "STEP_DECIDED");
        let status = try_reject(&app, &d.manager, &step_of(&request, 1), "changed my mind")
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "STEP_DECIDED");

        let approved = approve(&app, &d.vp, &step_of(&request, 2)).await;
        assert_eq!(approved.state(), State::Approved);
        assert!(!approved.auto_approved);
        assert_eq!(
            step_states(&approved),
            [StepState::Approved, StepState::Approved]
        );
        assert_eq!(approved.close_time, approved.steps[1].decide_time);
        assert!(approved.close_time.is_some());
        assert_eq!(stored(&app, &request.name).await, approved);

        let status = try_approve(&app, &d.vp, &step_of(&request, 2))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
    }
);

contract_test!(
    one_rejection_rejects_the_request_and_cancels_the_rest,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        for comment in ["", "   "] {
            let status = try_reject(&app, &d.manager, &step_of(&request, 1), comment)
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), ["comment"]);
        }
        let status = try_reject(&app, &d.vp, &step_of(&request, 1), "no")
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "NOT_AN_APPROVER");
        let rejected = try_reject(&app, &d.manager, &step_of(&request, 1), "too deep")
            .await
            .unwrap();
        assert_eq!(rejected.state(), State::Rejected);
        assert_eq!(
            step_states(&rejected),
            [StepState::Rejected, StepState::Cancelled]
        );
        let decided = decisions(&rejected, 1);
        assert_eq!(decided.len(), 1);
        assert!(!decided[0].approved);
        assert_eq!(decided[0].comment, "too deep");
        assert!(rejected.close_time.is_some());
        assert_eq!(rejected.close_time, rejected.steps[0].decide_time);
        for n in [1, 2] {
            let status = try_approve(&app, &d.vp, &step_of(&request, n))
                .await
                .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
        }
        assert_eq!(stored(&app, &request.name).await, rejected);
    }
);

contract_test!(the_requester_never_decides_their_own_request, |app| {
    let d = Desk::new(&app).await;
    // A manager submits on their rep's deal: the owner's manager is the requester, so the
    // seat goes to the manager's own manager.
    let request = submit(&app, &d.manager, ask(&d.deal, 3000)).await;
    let seats: Vec<String> = request
        .steps
        .iter()
        .map(|s| s.seats[0].user.clone())
        .collect();
    assert_eq!(seats, [d.vp.name(), d.vp.name()]);
    let status = try_approve(&app, &d.manager, &step_of(&request, 1))
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "OWN_REQUEST");
    approve(&app, &d.vp, &step_of(&request, 1)).await;
    let approved = approve(&app, &d.vp, &step_of(&request, 2)).await;
    assert_eq!(approved.state(), State::Approved);

    // Deal desk submits terms that deal desk's own queue approves: not them.
    let mut desk_finance = policy();
    desk_finance.finance_step = Some(step(
        "Deal desk terms",
        vec![queue(pb::Role::DealDesk)],
        Mode::All,
    ));
    create_policy(&app, &app.admin_token, desk_finance)
        .await
        .unwrap();
    let terms = submit(
        &app,
        &d.desk,
        pb::SubmitApprovalRequestRequest {
            payment_days: 90,
            ..ask(&d.deal, 0)
        },
    )
    .await;
    assert_eq!(step_names(&terms), ["Deal desk terms"]);
    assert_eq!(terms.steps[0].seats[0].role(), pb::Role::DealDesk);
    let status = try_approve(&app, &d.desk, &step_of(&terms, 1))
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "OWN_REQUEST");
    let status = try_reject(&app, &d.desk, &step_of(&terms, 1), "mine")
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "OWN_REQUEST");
    assert!(!my_queue(&app, &d.desk).await.contains(&terms.name));
    assert_eq!(my_queue(&app, &d.desk2).await, [terms.name.as_str()]);
    let approved = approve(&app, &d.desk2, &step_of(&terms, 1)).await;
    assert_eq!(approved.state(), State::Approved);
    assert_eq!(decisions(&approved, 1)[0].decided_by, d.desk2.name());
});

contract_test!(
    an_all_step_needs_every_approver_and_an_any_step_one,
    |app| {
        let d = Desk::without_policy(&app).await;
        create_policy(&app, &app.admin_token, joint_legal_policy(Mode::All))
            .await
            .unwrap();
        let all = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        assert_eq!(step_names(&all), ["Legal review"]);
        let seats: Vec<(String, pb::Role)> = all.steps[0]
            .seats
            .iter()
            .map(|s| (s.user.clone(), s.role()))
            .collect();
        assert_eq!(
            seats,
            [
                (String::new(), pb::Role::Legal),
                (d.manager.name(), pb::Role::Unspecified)
            ]
        );
        let half = approve(&app, &d.legal, &step_of(&all, 1)).await;
        assert_eq!(half.state(), State::Pending);
        assert_eq!(half.steps[0].state(), StepState::Pending);
        assert_eq!(decisions(&half, 1).len(), 1);
        // Legal's seat is decided: neither the same person nor another legal user decides it
        // again.
        for who in [&d.legal, &d.legal2] {
            let status = try_approve(&app, who, &step_of(&all, 1)).await.unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "ALREADY_DECIDED");
        }
        assert_eq!(my_queue(&app, &d.legal2).await, Vec::<String>::new());
        assert_eq!(my_queue(&app, &d.manager).await, [all.name.as_str()]);
        let done = approve(&app, &d.manager, &step_of(&all, 1)).await;
        assert_eq!(done.state(), State::Approved);
        let by: Vec<String> = decisions(&done, 1)
            .into_iter()
            .map(|x| x.decided_by)
            .collect();
        assert_eq!(by, [d.legal.name(), d.manager.name()]);

        create_policy(&app, &app.admin_token, joint_legal_policy(Mode::Any))
            .await
            .unwrap();
        let any = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        assert_eq!(
            any.steps[0].step.as_ref().unwrap().mode(),
            Mode::Any,
            "the step as the policy defines it"
        );
        let done = approve(&app, &d.legal2, &step_of(&any, 1)).await;
        assert_eq!(done.state(), State::Approved);
        assert_eq!(done.steps[0].state(), StepState::Approved);
        assert!(done.steps[0].seats[1].decision.is_none());
        let status = try_approve(&app, &d.manager, &step_of(&any, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
    }
);

contract_test!(concurrent_approvals_of_an_any_step_count_once, |app| {
    let d = Desk::without_policy(&app).await;
    create_policy(&app, &app.admin_token, joint_legal_policy(Mode::Any))
        .await
        .unwrap();
    for round in 0..4 {
        let request = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        let step = step_of(&request, 1);
        let (mut a, mut b) = (app.deal_desk().await, app.deal_desk().await);
        let (legal, manager) = tokio::join!(
            a.approve_approval_step(authed(&d.legal.token, approval(&step, "legal ok"))),
            b.approve_approval_step(authed(&d.manager.token, approval(&step, "mgr ok"))),
        );
        let (won, lost) = match (legal, manager) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won.into_inner(), lost),
            other => panic!("round {round}: exactly one approval must succeed: {other:?}"),
        };
        assert_eq!(lost.code(), Code::FailedPrecondition, "{lost:?}");
        let reason = lost.get_details_error_info().unwrap().reason;
        assert!(
            ["STEP_DECIDED", "REQUEST_CLOSED"].contains(&reason.as_str()),
            "round {round}: {lost:?}"
        );
        assert_eq!(won.state(), State::Approved);
        let stored = stored(&app, &request.name).await;
        assert_eq!(stored, won, "round {round}");
        assert_eq!(
            decisions(&stored, 1).len(),
            1,
            "round {round}: one decision"
        );
    }
});

contract_test!(concurrent_approvals_of_an_all_step_both_count, |app| {
    let d = Desk::without_policy(&app).await;
    create_policy(&app, &app.admin_token, joint_legal_policy(Mode::All))
        .await
        .unwrap();
    for round in 0..4 {
        let request = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        let step = step_of(&request, 1);
        let (mut a, mut b) = (app.deal_desk().await, app.deal_desk().await);
        let (legal, manager) = tokio::join!(
            a.approve_approval_step(authed(&d.legal.token, approval(&step, "legal ok"))),
            b.approve_approval_step(authed(&d.manager.token, approval(&step, "mgr ok"))),
        );
        let (legal, manager) = (
            legal
                .unwrap_or_else(|e| panic!("round {round}: {e:?}"))
                .into_inner(),
            manager
                .unwrap_or_else(|e| panic!("round {round}: {e:?}"))
                .into_inner(),
        );
        // Whichever was saved last saw the other's decision and approved the request.
        let states = [legal.state(), manager.state()];
        assert!(
            states.contains(&State::Approved) && states.contains(&State::Pending),
            "round {round}: {states:?}"
        );
        let stored = stored(&app, &request.name).await;
        assert_eq!(stored.state(), State::Approved);
        let mut by: Vec<String> = decisions(&stored, 1)
            .into_iter()
            .map(|x| x.decided_by)
            .collect();
        by.sort();
        let mut expected = vec![d.legal.name(), d.manager.name()];
        expected.sort();
        assert_eq!(by, expected, "round {round}");
    }
});

contract_test!(
    concurrent_retries_of_one_decision_or_withdrawal_get_one_answer,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        let keyed = pb::ApproveApprovalStepRequest {
            request_id: "approve-once".into(),
            ..approval(&step_of(&request, 1), "ok")
        };
        let (mut a, mut b, mut c) = (
            app.deal_desk().await,
            app.deal_desk().await,
            app.deal_desk().await,
        );
        let (x, y, z) = tokio::join!(
            a.approve_approval_step(authed(&d.manager.token, keyed.clone())),
            b.approve_approval_step(authed(&d.manager.token, keyed.clone())),
            c.approve_approval_step(authed(&d.manager.token, keyed.clone())),
        );
        let (x, y, z) = (
            x.unwrap().into_inner(),
            y.unwrap().into_inner(),
            z.unwrap().into_inner(),
        );
        assert_eq!(x, y);
        assert_eq!(y, z);
        let after = stored(&app, &request.name).await;
        assert_eq!(after, x);
        assert_eq!(
            step_states(&after),
            [StepState::Approved, StepState::Pending]
        );
        assert_eq!(decisions(&after, 1).len(), 1);

        let keyed = pb::WithdrawApprovalRequestRequest {
            name: request.name.clone(),
            request_id: "withdraw-once".into(),
        };
        let (x, y, z) = tokio::join!(
            a.withdraw_approval_request(authed(&d.rep.token, keyed.clone())),
            b.withdraw_approval_request(authed(&d.rep.token, keyed.clone())),
            c.withdraw_approval_request(authed(&d.rep.token, keyed.clone())),
        );
        let (x, y, z) = (
            x.unwrap().into_inner(),
            y.unwrap().into_inner(),
            z.unwrap().into_inner(),
        );
        assert_eq!(x.state(), State::Withdrawn);
        assert_eq!(x, y);
        assert_eq!(y, z);
        assert_eq!(stored(&app, &request.name).await, x);
    }
);

// ---------------------------------------------------------------------------------------------
// Withdrawing.

contract_test!(
    the_requester_deal_desk_or_an_admin_withdraw_a_pending_request_once,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        for who in [&d.manager, &d.vp] {
            let status = try_withdraw(&app, who, &request.name).await.unwrap_err();
            assert_error(&status, Code::PermissionDenied, "NOT_THE_REQUESTER");
        }
        let status = try_withdraw(&app, &d.peer, &request.name)
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        assert_eq!(stored(&app, &request.name).await, request);

        let withdrawn = try_withdraw(&app, &d.rep, &request.name).await.unwrap();
        assert_eq!(withdrawn.state(), State::Withdrawn);
        assert_eq!(
            step_states(&withdrawn),
            [StepState::Cancelled, StepState::Cancelled]
        );
        assert!(withdrawn.close_time.is_some());
        assert_eq!(stored(&app, &request.name).await, withdrawn);
        let status = try_withdraw(&app, &d.rep, &request.name).await.unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
        let status = try_approve(&app, &d.manager, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
        assert_eq!(my_queue(&app, &d.manager).await, Vec::<String>::new());

        for who in [&d.desk, &d.admin] {
            let request = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
            let withdrawn = try_withdraw(&app, who, &request.name).await.unwrap();
            assert_eq!(withdrawn.state(), State::Withdrawn);
        }
        let auto = submit(&app, &d.rep, ask(&d.deal, 500)).await;
        let status = try_withdraw(&app, &d.rep, &auto.name).await.unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
    }
);
