//! Event streams end when their watcher loses the right to see them.

use super::*;

/// The next item of a stream that should end: its error, or a panic naming what came instead.
async fn ending<T: std::fmt::Debug>(stream: &mut Streaming<T>) -> Status {
    match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
        Ok(Err(status)) => status,
        Ok(Ok(item)) => panic!("the stream went on after its credentials died: {item:?}"),
        Err(_) => panic!("the stream neither ended nor sent anything within 10 s"),
    }
}

contract_test!(
    a_deal_event_stream_ends_when_its_user_is_deactivated,
    |app| {
        let org = Matrix::build(&app).await;
        let mut stream = org
            .c
            .deals
            .clone()
            .watch_deal_events(authed(
                &org.rep.token,
                pb::WatchDealEventsRequest {
                    deal: org.deal.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(stream.message().await.unwrap().is_some());
        org.c
            .directory
            .clone()
            .update_user(authed(
                &org.admin.token,
                pb::UpdateUserRequest {
                    user: Some(pb::User {
                        name: org.rep.name(),
                        active: Some(false),
                        ..Default::default()
                    }),
                    update_mask: mask(&["active"]),
                },
            ))
            .await
            .unwrap();
        org.c
            .deals
            .clone()
            .update_deal(authed(
                &org.admin.token,
                pb::UpdateDealRequest {
                    deal: Some(pb::Deal {
                        name: org.deal.name.clone(),
                        next_step: "Written after the rep left".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["next_step"]),
                },
            ))
            .await
            .unwrap();

        let status = ending(&mut stream).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
);

contract_test!(
    an_approval_event_stream_ends_when_its_token_is_revoked,
    |app| {
        let org = Matrix::build(&app).await;
        let mut stream = org
            .c
            .desk
            .clone()
            .watch_approval_events(authed(
                &org.rep.token,
                pb::WatchApprovalEventsRequest {
                    deal: org.deal.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(stream.message().await.unwrap().is_some());
        revoke_api_tokens(&app, &org.rep.name()).await;
        org.c
            .desk
            .clone()
            .approve_approval_step(authed(
                &org.manager.token,
                pb::ApproveApprovalStepRequest {
                    step: format!("{}/steps/1", org.request.name),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();

        // Drain what was sent before the revocation was seen: the stream may hold the submission's
        // events still; it must end before (or instead of) delivering the approval.
        loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
                Ok(Err(status)) => {
                    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                    break;
                }
                Ok(Ok(Some(event))) => assert_eq!(
                    event.kind(),
                    pb::approval_event::Kind::Submitted,
                    "an event written after the revocation reached the revoked token"
                ),
                Ok(Ok(None)) => panic!("the stream ended without an error"),
                Err(_) => panic!("the stream neither ended nor sent anything within 10 s"),
            }
        }
    }
);

/// Changes a user's `path` field as the admin.
async fn change_user(org: &Matrix, user: pb::User, path: &str) {
    org.c
        .directory
        .clone()
        .update_user(authed(
            &org.admin.token,
            pb::UpdateUserRequest {
                user: Some(user),
                update_mask: mask(&[path]),
            },
        ))
        .await
        .unwrap();
}

contract_test!(
    a_deal_event_stream_ends_when_its_watcher_is_no_longer_above_the_owner,
    |app| {
        let org = Matrix::build(&app).await;
        let mut stream = org
            .c
            .deals
            .clone()
            .watch_deal_events(authed(
                &org.manager.token,
                pb::WatchDealEventsRequest {
                    deal: org.deal.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(stream.message().await.unwrap().is_some());
        // The rep moves to another team: their deal is no longer the manager's to see.
        let other_manager = org.tokens["other_manager"].clone().unwrap();
        let other_manager = org
            .c
            .directory
            .clone()
            .get_current_user(authed(&other_manager, pb::GetCurrentUserRequest {}))
            .await
            .unwrap()
            .into_inner();
        change_user(
            &org,
            pb::User {
                name: org.rep.name(),
                manager: other_manager.name,
                ..Default::default()
            },
            "manager",
        )
        .await;
        org.c
            .deals
            .clone()
            .update_deal(authed(
                &org.admin.token,
                pb::UpdateDealRequest {
                    deal: Some(pb::Deal {
                        name: org.deal.name.clone(),
                        next_step: "Written after the move".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["next_step"]),
                },
            ))
            .await
            .unwrap();

        let status = ending(&mut stream).await;
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
);

contract_test!(
    an_unfiltered_approval_stream_ends_when_its_watcher_loses_the_role,
    |app| {
        let org = Matrix::build(&app).await;
        let mut stream = org
            .c
            .desk
            .clone()
            .watch_approval_events(authed(
                &org.deal_desk.token,
                pb::WatchApprovalEventsRequest::default(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(stream.message().await.unwrap().is_some());
        change_user(
            &org,
            pb::User {
                name: org.deal_desk.name(),
                role: pb::Role::Rep as i32,
                ..Default::default()
            },
            "role",
        )
        .await;
        org.c
            .desk
            .clone()
            .approve_approval_step(authed(
                &org.manager.token,
                pb::ApproveApprovalStepRequest {
                    step: format!("{}/steps/1", org.request.name),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();

        loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
                Ok(Err(status)) => {
                    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
                    break;
                }
                Ok(Ok(Some(event))) => assert_eq!(
                    event.kind(),
                    pb::approval_event::Kind::Submitted,
                    "an event written after the demotion reached the former deal desk"
                ),
                Ok(Ok(None)) => panic!("the stream ended without an error"),
                Err(_) => panic!("the stream neither ended nor sent anything within 10 s"),
            }
        }
    }
);
