//! Reading requests: who sees one, a deal's requests, my queue.

use super::*;

// ---------------------------------------------------------------------------------------------
// Reading and listing.

contract_test!(
    a_request_is_read_by_those_who_see_its_deal_or_decide_it,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        for who in [
            &d.rep, &d.manager, &d.vp, &d.desk, &d.legal, &d.finance, &d.admin,
        ] {
            assert_eq!(try_read(&app, who, &request.name).await.unwrap(), request);
        }
        for who in [&d.peer, &d.other_manager] {
            let status = try_read(&app, who, &request.name).await.unwrap_err();
            assert_error(&status, Code::NotFound, "NOT_FOUND");
        }
        let missing = format!("approvalRequests/{}", uuid::Uuid::now_v7());
        let status = try_read(&app, &d.rep, &missing).await.unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = try_read(&app, &d.rep, "approvalRequests/x")
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["name"]);
    }
);

contract_test!(
    a_deals_requests_list_newest_first_by_state_and_page_by_page,
    |app| {
        let d = Desk::new(&app).await;
        let auto = submit(&app, &d.rep, ask(&d.deal, 1000)).await;
        let manager_only = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        let deep = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        let withdrawn = submit(&app, &d.rep, ask(&d.deal, 2200)).await;
        try_withdraw(&app, &d.rep, &withdrawn.name).await.unwrap();
        let elsewhere = d.deal_of_rep(&app, "discovery", 0).await;
        let other = submit(&app, &d.rep, ask(&elsewhere, 2000)).await;

        let newest_first = vec![
            withdrawn.name.clone(),
            deep.name.clone(),
            manager_only.name.clone(),
            auto.name.clone(),
        ];
        assert_eq!(
            of_deal(&app, &d.rep, &d.deal, State::Unspecified).await,
            newest_first
        );
        assert_eq!(
            of_deal(&app, &d.manager, &d.deal, State::Pending).await,
            [deep.name.clone(), manager_only.name.clone()]
        );
        assert_eq!(
            of_deal(&app, &d.desk, &d.deal, State::Approved).await,
            [auto.name.as_str()]
        );
        assert_eq!(
            of_deal(&app, &d.rep, &d.deal, State::Withdrawn).await,
            [withdrawn.name.as_str()]
        );
        assert_eq!(
            of_deal(&app, &d.rep, &elsewhere, State::Unspecified).await,
            [other.name.as_str()]
        );

        // One at a time, following the tokens.
        let mut walked = Vec::new();
        let mut token = String::new();
        for _ in 0..10 {
            let page = try_list(
                &app,
                &d.rep,
                pb::ListApprovalRequestsRequest {
                    deal: d.deal.name.clone(),
                    page_size: 1,
                    page_token: token.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            assert!(page.approval_requests.len() <= 1);
            walked.extend(names(&page.approval_requests));
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        assert!(token.is_empty(), "the walk ends");
        assert_eq!(walked, newest_first);

        // Exactly one of deal and my_queue.
        for request in [
            pb::ListApprovalRequestsRequest::default(),
            pb::ListApprovalRequestsRequest {
                deal: d.deal.name.clone(),
                my_queue: true,
                ..Default::default()
            },
        ] {
            let status = try_list(&app, &d.rep, request).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["deal"]);
        }
        let status = try_list(
            &app,
            &d.peer,
            pb::ListApprovalRequestsRequest {
                deal: d.deal.name.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
    }
);

contract_test!(
    my_queue_holds_what_waits_on_me_or_my_role_never_my_own_requests,
    |app| {
        let d = Desk::new(&app).await;
        let to_manager = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        let to_legal = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        // The manager's own request waits on the VP, never on the manager.
        let by_manager = submit(&app, &d.manager, ask(&d.deal, 2000)).await;

        assert_eq!(my_queue(&app, &d.manager).await, [to_manager.name.as_str()]);
        assert_eq!(my_queue(&app, &d.vp).await, [by_manager.name.as_str()]);
        assert_eq!(my_queue(&app, &d.legal).await, [to_legal.name.as_str()]);
        assert_eq!(my_queue(&app, &d.legal2).await, [to_legal.name.as_str()]);
        for who in [&d.rep, &d.finance, &d.desk, &d.other_manager, &d.peer] {
            assert_eq!(my_queue(&app, who).await, Vec::<String>::new());
        }

        approve(&app, &d.manager, &step_of(&to_manager, 1)).await;
        assert_eq!(my_queue(&app, &d.manager).await, Vec::<String>::new());
        assert_eq!(
            my_queue(&app, &d.vp).await,
            [by_manager.name.clone(), to_manager.name.clone()],
            "newest first"
        );
        approve(&app, &d.legal2, &step_of(&to_legal, 1)).await;
        assert_eq!(my_queue(&app, &d.legal).await, Vec::<String>::new());

        let status = try_list(
            &app,
            &d.vp,
            pb::ListApprovalRequestsRequest {
                my_queue: true,
                state: State::Pending as i32,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["state"]);
    }
);
