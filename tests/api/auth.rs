//! Authentication: every RPC needs a valid bearer token of an active user.

use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use tonic::{Code, Request};

use crate::contract_test;
use crate::fixtures::api_tokens;
use crate::helpers::{assert_error, authed};

contract_test!(a_call_without_a_token_is_unauthenticated, |app| {
    let mut directory = app.directory().await;
    let status = directory
        .get_current_user(pb::GetCurrentUserRequest {})
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "MISSING_CREDENTIALS");
    let mut pipelines = app.pipelines().await;
    let status = pipelines
        .list_pipelines(pb::ListPipelinesRequest::default())
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "MISSING_CREDENTIALS");
});

contract_test!(an_unknown_token_is_unauthenticated, |app| {
    let mut directory = app.directory().await;
    let status = directory
        .get_current_user(authed("ddk_0000", pb::GetCurrentUserRequest {}))
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "UNKNOWN_TOKEN");
});

contract_test!(a_header_that_is_not_bearer_is_unauthenticated, |app| {
    let mut directory = app.directory().await;
    let mut request = Request::new(pb::GetCurrentUserRequest {});
    request.metadata_mut().insert(
        "authorization",
        format!("Basic {}", app.admin_token).parse().unwrap(),
    );
    let status = directory.get_current_user(request).await.unwrap_err();
    assert_error(&status, Code::Unauthenticated, "MALFORMED_CREDENTIALS");
});

contract_test!(a_valid_token_identifies_its_user, |app| {
    let (rep, token) = app.user(Role::Rep, None).await;
    let mut directory = app.directory().await;
    let me = directory
        .get_current_user(authed(&token, pb::GetCurrentUserRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.name, rep.name);
    assert_eq!(me.role, pb::Role::Rep as i32);
});

contract_test!(
    a_revoked_token_is_unauthenticated_and_cannot_be_revoked_twice,
    |app| {
        let (rep, _) = app.user(Role::Rep, None).await;
        let mut directory = app.directory().await;
        let issued = directory
            .create_api_token(authed(
                &app.admin_token,
                pb::CreateApiTokenRequest {
                    parent: rep.name.clone(),
                    api_token: Some(pb::ApiToken {
                        display_name: "laptop".into(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let token = issued.api_token.unwrap();
        directory
            .get_current_user(authed(&issued.secret, pb::GetCurrentUserRequest {}))
            .await
            .unwrap();
        let revoked = directory
            .revoke_api_token(authed(
                &app.admin_token,
                pb::RevokeApiTokenRequest {
                    name: token.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(revoked.revoke_time.is_some());
        let status = directory
            .get_current_user(authed(&issued.secret, pb::GetCurrentUserRequest {}))
            .await
            .unwrap_err();
        assert_error(&status, Code::Unauthenticated, "REVOKED_TOKEN");
        let status = directory
            .revoke_api_token(authed(
                &app.admin_token,
                pb::RevokeApiTokenRequest { name: token.name },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "TOKEN_ALREADY_REVOKED");
        let violations = tonic_types::StatusExt::get_details_precondition_failure(&status)
            .unwrap()
            .violations;
        assert_eq!(violations[0].r#type, "TOKEN_STATE");
    }
);

contract_test!(a_deactivated_users_token_is_unauthenticated, |app| {
    let (rep, token) = app.user(Role::Rep, None).await;
    let mut directory = app.directory().await;
    directory
        .update_user(authed(
            &app.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    name: rep.name.clone(),
                    active: Some(false),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["active".into()],
                }),
            },
        ))
        .await
        .unwrap();
    let status = directory
        .get_current_user(authed(&token, pb::GetCurrentUserRequest {}))
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "INACTIVE_USER");
});

contract_test!(
    tokens_are_stored_only_as_hashes_and_listed_without_secrets,
    |app| {
        let (rep, _) = app.user(Role::Rep, None).await;
        let mut directory = app.directory().await;
        let issued = directory
            .create_api_token(authed(
                &app.admin_token,
                pb::CreateApiTokenRequest {
                    parent: rep.name.clone(),
                    api_token: Some(pb::ApiToken {
                        display_name: "sync job".into(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(issued.secret.starts_with("ddk_"));
        let db = app.app.store.connection();
        use sea_orm::ConnectionTrait;
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT id, user_id, display_name, secret_hash FROM api_tokens".to_string(),
            ))
            .await
            .unwrap();
        for row in &rows {
            for column in ["id", "user_id", "display_name", "secret_hash"] {
                let value: String = row.try_get("", column).unwrap();
                assert!(
                    !value.contains(&issued.secret[4..]),
                    "secret stored in {column}"
                );
            }
        }
        let listed = api_tokens(&app, &rep.name).await;
        assert_eq!(listed.len(), 2, "the harness token and this one");
        assert_eq!(listed[1], issued.api_token.unwrap());
    }
);

contract_test!(only_admins_manage_tokens, |app| {
    let (manager, manager_token) = app.user(Role::Manager, None).await;
    let (rep, _) = app.user(Role::Rep, Some(&manager)).await;
    let mut directory = app.directory().await;
    let before = app.count("api_tokens").await;
    let status = directory
        .create_api_token(authed(
            &manager_token,
            pb::CreateApiTokenRequest {
                parent: rep.name.clone(),
                api_token: Some(pb::ApiToken {
                    display_name: "x".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "ADMIN_ONLY");
    let status = directory
        .list_api_tokens(authed(
            &manager_token,
            pb::ListApiTokensRequest {
                parent: rep.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "ADMIN_ONLY");
    assert_eq!(app.count("api_tokens").await, before);
});
