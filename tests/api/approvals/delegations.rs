//! Delegations: deciding for someone else, and the cycles and ranges refused.

use super::*;

/// A delegation of the caller's approvals to `delegate` from `start` to `end` days from today.
fn delegation(delegate: &Person, start: i64, end: i64) -> pb::Delegation {
    pb::Delegation {
        delegate: delegate.name(),
        start_date: in_days(start),
        end_date: in_days(end),
        ..Default::default()
    }
}

async fn try_delegate(
    app: &TestApp,
    who: &Person,
    delegation: pb::Delegation,
) -> Result<pb::Delegation, Status> {
    app.deal_desk()
        .await
        .create_delegation(authed(
            &who.token,
            pb::CreateDelegationRequest {
                delegation: Some(delegation),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn delegations_seen_by(app: &TestApp, who: &Person) -> Vec<String> {
    app.deal_desk()
        .await
        .list_delegations(authed(
            &who.token,
            pb::ListDelegationsRequest {
                page_size: 500,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .delegations
        .into_iter()
        .map(|d| d.name)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Delegation.

contract_test!(
    a_delegate_decides_for_the_delegator_only_while_the_delegation_is_in_force,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        let future = person(&app, Role::Manager, Some(&d.vp)).await;
        let past = person(&app, Role::Manager, Some(&d.vp)).await;
        let stand_in = person(&app, Role::Manager, Some(&d.vp)).await;

        let starts_tomorrow = try_delegate(&app, &d.manager, delegation(&future, 1, 5))
            .await
            .unwrap();
        let ended_yesterday = try_delegate(&app, &d.manager, delegation(&past, -5, -1))
            .await
            .unwrap();
        // Out of force, a delegation gives neither the seat nor the sight of the request.
        for who in [&future, &past] {
            assert_eq!(my_queue(&app, who).await, Vec::<String>::new());
            let status = try_approve(&app, who, &step_of(&request, 1))
                .await
                .unwrap_err();
            assert_error(&status, Code::NotFound, "NOT_FOUND");
        }

        let today = try_delegate(&app, &d.manager, delegation(&stand_in, 0, 2))
            .await
            .unwrap();
        assert!(today.name.starts_with("delegations/"));
        assert_eq!(today.delegator, d.manager.name(), "the caller by default");
        assert_eq!(today.delegate, stand_in.name());
        assert_eq!(today.creator, d.manager.name());
        assert_eq!((today.start_date, today.end_date), (in_days(0), in_days(2)));
        assert_eq!(my_queue(&app, &stand_in).await, [request.name.as_str()]);
        // The delegate can read the request they may decide.
        assert_eq!(
            try_read(&app, &stand_in, &request.name).await.unwrap(),
            request
        );

        let approved = approve(&app, &stand_in, &step_of(&request, 1)).await;
        assert_eq!(approved.state(), State::Approved);
        let decided = decisions(&approved, 1);
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0].decided_by, stand_in.name());
        assert_eq!(decided[0].on_behalf_of, d.manager.name());
        assert_eq!(approved.steps[0].seats[0].user, d.manager.name());

        assert_eq!(
            delegations_seen_by(&app, &d.manager).await,
            [
                today.name.clone(),
                ended_yesterday.name.clone(),
                starts_tomorrow.name.clone()
            ]
        );
        assert_eq!(
            delegations_seen_by(&app, &stand_in).await,
            [today.name.as_str()]
        );
        assert_eq!(delegations_seen_by(&app, &d.desk).await.len(), 3);
        assert_eq!(
            delegations_seen_by(&app, &d.rep).await,
            Vec::<String>::new()
        );
    }
);

contract_test!(
    a_delegate_of_a_role_queue_holder_decides_for_the_queue,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        try_delegate(&app, &d.legal, delegation(&d.other_manager, 0, 0))
            .await
            .unwrap();
        assert_eq!(
            my_queue(&app, &d.other_manager).await,
            [request.name.as_str()]
        );
        let approved = approve(&app, &d.other_manager, &step_of(&request, 1)).await;
        assert_eq!(approved.state(), State::Approved);
        let decided = decisions(&approved, 1);
        assert_eq!(decided[0].decided_by, d.other_manager.name());
        assert_eq!(decided[0].on_behalf_of, d.legal.name());
    }
);

contract_test!(
    delegations_refuse_cycles_self_reversed_ranges_and_other_peoples_approvals,
    |app| {
        let d = Desk::new(&app).await;
        try_delegate(&app, &d.manager, delegation(&d.vp, 0, 10))
            .await
            .unwrap();
        // B -> A over days A -> B covers: a cycle.
        let status = try_delegate(&app, &d.vp, delegation(&d.manager, 5, 20))
            .await
            .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "BAD_SHAPE");
        assert_eq!(violated_fields(&status), ["delegation.delegate"]);
        // After A -> B ends, B -> A is fine.
        try_delegate(&app, &d.vp, delegation(&d.manager, 11, 20))
            .await
            .unwrap();
        // A -> B -> C, then C -> A: a longer cycle.
        try_delegate(&app, &d.vp, delegation(&d.other_manager, 0, 3))
            .await
            .unwrap();
        let status = try_delegate(&app, &d.other_manager, delegation(&d.manager, 2, 2))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["delegation.delegate"]);

        let status = try_delegate(&app, &d.legal, delegation(&d.legal, 0, 1))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["delegation.delegate"]);
        let status = try_delegate(&app, &d.legal, delegation(&d.legal2, 3, 2))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["delegation.end_date"]);
        let status = try_delegate(
            &app,
            &d.legal,
            pb::Delegation {
                start_date: None,
                ..delegation(&d.legal2, 0, 1)
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["delegation.start_date"]);

        let someone_elses = pb::Delegation {
            delegator: d.manager.name(),
            ..delegation(&d.peer, 30, 31)
        };
        let status = try_delegate(&app, &d.rep, someone_elses.clone())
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OWN_DELEGATIONS_ONLY");
        let by_admin = try_delegate(&app, &d.admin, someone_elses).await.unwrap();
        assert_eq!(by_admin.delegator, d.manager.name());
        assert_eq!(by_admin.creator, d.admin.name());
        assert_eq!(app.count("delegations").await, 4);
    }
);

contract_test!(
    two_opposite_delegations_created_at_once_never_form_a_cycle,
    |app| {
        let d = Desk::new(&app).await;
        for round in 0..3 {
            let a = person(&app, Role::Manager, Some(&d.vp)).await;
            let b = person(&app, Role::Manager, Some(&d.vp)).await;
            let (ab, ba) = tokio::join!(
                try_delegate(&app, &a, delegation(&b, 0, 7)),
                try_delegate(&app, &b, delegation(&a, 3, 9)),
            );
            let refused = match (ab, ba) {
                (Ok(_), Err(refused)) | (Err(refused), Ok(_)) => refused,
                other => panic!("round {round}: exactly one delegation must be refused: {other:?}"),
            };
            assert_eq!(
                violated_fields(&refused),
                ["delegation.delegate"],
                "round {round}"
            );
            assert_eq!(app.count("delegations").await, round + 1);
        }
    }
);
