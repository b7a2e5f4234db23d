//! Who sees which deal: reps their own, managers their subtree, read-only roles everything.

use super::*;

// ---------------------------------------------------------------------------------------------
// Visibility.

contract_test!(
    a_rep_cannot_see_or_touch_another_reps_deal_which_is_not_found_to_them,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let mine = create_deal(&app, &org.rep().token, ready(&pipeline, "Mine")).await;
        let theirs = create_deal(&app, &org.peer().token, ready(&pipeline, "Theirs")).await;
        let token = &org.rep().token;
        let name = &theirs.name;
        let mut refusals = vec![
            get(&app, token, name).await.unwrap_err(),
            update(
                &app,
                token,
                pb::Deal {
                    name: name.clone(),
                    next_step: "Poach".into(),
                    ..Default::default()
                },
                &["next_step"],
            )
            .await
            .unwrap_err(),
            move_to(&app, token, name, "propose").await.unwrap_err(),
            preview(&app, token, name, "propose").await.unwrap_err(),
            close_won(&app, token, name).await.unwrap_err(),
            close_lost(&app, token, name, "Mine now").await.unwrap_err(),
            try_history(&app, token, name).await.unwrap_err(),
        ];
        // An unknown deal answers exactly the same.
        refusals.push(
            get(&app, token, &format!("deals/{}", uuid::Uuid::now_v7()))
                .await
                .unwrap_err(),
        );
        for status in &refusals {
            assert_error(status, Code::NotFound, "NOT_FOUND");
            assert!(!status.message().contains("Theirs"));
        }
        assert_eq!(get(&app, &org.peer().token, name).await.unwrap(), theirs);
        assert_eq!(
            listed(&app, token, pb::ListDealsRequest::default()).await,
            names(&[&mine])
        );
        let asked_for_peer = listed(
            &app,
            token,
            pb::ListDealsRequest {
                owner: org.peer().name(),
                ..Default::default()
            },
        )
        .await;
        assert!(asked_for_peer.is_empty());
    }
);

contract_test!(
    managers_see_their_subtree_and_not_a_peer_managers_reps,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let reps = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Rep's")).await;
        let managers = create_deal(&app, &org.manager.token, deal_in(&pipeline, "Manager's")).await;
        let peers = create_deal(&app, &org.peer().token, deal_in(&pipeline, "Peer's")).await;
        assert_eq!(
            get(&app, &org.manager.token, &reps.name).await.unwrap(),
            reps
        );
        let status = get(&app, &org.manager.token, &peers.name)
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = get(&app, &org.peer_manager.token, &reps.name)
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = get(&app, &org.rep().token, &managers.name)
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");

        let all = pb::ListDealsRequest::default;
        assert_eq!(
            listed(&app, &org.manager.token, all()).await,
            names(&[&reps, &managers])
        );
        assert_eq!(
            listed(&app, &org.peer_manager.token, all()).await,
            names(&[&peers])
        );
        assert_eq!(
            listed(&app, &org.leader.token, all()).await,
            names(&[&reps, &managers, &peers]),
            "a leader sees the whole subtree, two levels down"
        );
        let filtered = listed(
            &app,
            &org.manager.token,
            pb::ListDealsRequest {
                owner: org.peer().name(),
                ..Default::default()
            },
        )
        .await;
        assert!(
            filtered.is_empty(),
            "an owner filter does not widen the view"
        );
    }
);

contract_test!(
    deal_desk_finance_and_legal_read_every_deal_but_change_none,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let a = create_deal(&app, &org.rep().token, ready(&pipeline, "A")).await;
        let b = create_deal(&app, &org.peer().token, ready(&pipeline, "B")).await;
        for reader in [&org.desk(), &org.finance(), &org.legal()] {
            assert_eq!(get(&app, &reader.token, &a.name).await.unwrap(), a);
            assert_eq!(
                listed(&app, &reader.token, pb::ListDealsRequest::default()).await,
                names(&[&a, &b])
            );
            assert_eq!(history(&app, &reader.token, &b.name).await.len(), 1);
            assert!(
                preview(&app, &reader.token, &b.name, "propose")
                    .await
                    .unwrap()
                    .allowed
            );
            let refusals = [
                update(
                    &app,
                    &reader.token,
                    pb::Deal {
                        name: a.name.clone(),
                        next_step: "Approve".into(),
                        ..Default::default()
                    },
                    &["next_step"],
                )
                .await
                .unwrap_err(),
                move_to(&app, &reader.token, &a.name, "propose")
                    .await
                    .unwrap_err(),
                close_lost(&app, &reader.token, &a.name, "Too risky")
                    .await
                    .unwrap_err(),
            ];
            for status in &refusals {
                assert_error(status, Code::PermissionDenied, "READ_ONLY_ROLE");
            }
        }
        assert_eq!(get(&app, &org.rep().token, &a.name).await.unwrap(), a);
        assert_eq!(app.count("stage_history").await, 2);
    }
);
