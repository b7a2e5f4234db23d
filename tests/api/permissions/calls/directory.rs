//! The rows of the call table for DirectoryService.

use super::*;

/// The calls of DirectoryService, in the matrix's order.
pub(super) fn calls() -> Vec<Call> {
    vec![
        call!(
            "DirectoryService.CreateUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .create_user(req(
                            token,
                            pb::CreateUserRequest {
                                user: Some(new_user(
                                    &format!("new-{}@test.example", unique()),
                                    pb::Role::Rep,
                                )),
                                request_id: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.GetUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                let rep = org.rep.name();
                done(
                    directory
                        .get_user(req(token, pb::GetUserRequest { name: rep }))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.GetCurrentUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .get_current_user(req(token, pb::GetCurrentUserRequest {}))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.ListUsers",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                let rep = org.rep.name();
                directory
                    .list_users(req(
                        token,
                        pb::ListUsersRequest {
                            manager: org.manager.name(),
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| r.into_inner().users.iter().any(|u| u.name == rep))
            }
        ),
        call!(
            "DirectoryService.UpdateUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .update_user(req(
                            token,
                            pb::UpdateUserRequest {
                                user: Some(pb::User {
                                    name: org.standin.name(),
                                    display_name: format!("Stand-in {}", unique()),
                                    ..Default::default()
                                }),
                                update_mask: mask(&["display_name"]),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.CreateApiToken",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .create_api_token(req(
                            token,
                            pb::CreateApiTokenRequest {
                                parent: org.standin.name(),
                                api_token: Some(pb::ApiToken {
                                    display_name: "matrix".into(),
                                    ..Default::default()
                                }),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.ListApiTokens",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                let rep = org.rep.name();
                directory
                    .list_api_tokens(req(
                        token,
                        pb::ListApiTokensRequest {
                            parent: rep,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| !r.into_inner().api_tokens.is_empty())
            }
        ),
        call!(
            "DirectoryService.RevokeApiToken",
            Needs::Token,
            |org, fresh, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .revoke_api_token(req(
                            token,
                            pb::RevokeApiTokenRequest {
                                name: fresh.token.clone(),
                            },
                        ))
                        .await,
                )
            }
        ),
    ]
}
