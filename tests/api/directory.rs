//! DirectoryService: users, the reporting tree, the update and create conventions.

use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use tonic::Code;

use crate::contract_test;
use crate::fixtures::{mask, new_user};
use crate::helpers::{assert_error, authed, violated_fields};

contract_test!(an_admin_creates_a_user_that_reads_back_identically, |app| {
    let mut directory = app.directory().await;
    let created = directory
        .create_user(authed(
            &app.admin_token,
            pb::CreateUserRequest {
                user: Some(pb::User {
                    manager: app.admin.name.clone(),
                    ..new_user(" Nia@Example.COM ", pb::Role::Rep)
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(created.name.starts_with("users/"));
    assert_eq!(created.email, "nia@example.com");
    assert_eq!(created.manager, app.admin.name);
    assert_eq!(created.etag, "\"1\"");
    assert_eq!(created.active, Some(true), "active unless told otherwise");
    assert!(created.create_time.is_some() && created.update_time == created.create_time);
    let read = directory
        .get_user(authed(
            &app.admin_token,
            pb::GetUserRequest {
                name: created.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
});

contract_test!(
    creating_a_user_writes_an_audit_row_naming_the_admin,
    |app| {
        let mut directory = app.directory().await;
        let created = directory
            .create_user(authed(
                &app.admin_token,
                pb::CreateUserRequest {
                    user: Some(new_user("audit@example.com", pb::Role::Rep)),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let db = app.app.store.connection();
        use sea_orm::ConnectionTrait;
        let row = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                db.get_database_backend(),
                match app.backend {
                    crate::helpers::Backend::Sqlite => {
                        "SELECT actor_id, action FROM audit_events WHERE resource = ?"
                    }
                    crate::helpers::Backend::Postgres => {
                        "SELECT actor_id, action FROM audit_events WHERE resource = $1"
                    }
                },
                [created.name.clone().into()],
            ))
            .await
            .unwrap()
            .expect("an audit row");
        let actor: String = row.try_get("", "actor_id").unwrap();
        let action: String = row.try_get("", "action").unwrap();
        assert_eq!(format!("users/{actor}"), app.admin.name);
        assert_eq!(action, "CreateUser");
    }
);

contract_test!(
    non_admins_cannot_create_or_update_users_and_nothing_changes,
    |app| {
        let mut directory = app.directory().await;
        for role in [
            Role::Rep,
            Role::Manager,
            Role::Leader,
            Role::DealDesk,
            Role::Finance,
            Role::Legal,
        ] {
            let (me, token) = app.user(role, None).await;
            let before = app.count("users").await;
            let status = directory
                .create_user(authed(
                    &token,
                    pb::CreateUserRequest {
                        user: Some(new_user("x@example.com", pb::Role::Rep)),
                        request_id: String::new(),
                    },
                ))
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "ADMIN_ONLY");
            let status = directory
                .update_user(authed(
                    &token,
                    pb::UpdateUserRequest {
                        user: Some(pb::User {
                            name: me.name.clone(),
                            role: pb::Role::Admin as i32,
                            ..Default::default()
                        }),
                        update_mask: mask(&["role"]),
                    },
                ))
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "ADMIN_ONLY");
            assert_eq!(app.count("users").await, before);
        }
    }
);

contract_test!(everyone_may_read_the_directory, |app| {
    let (_, token) = app.user(Role::Rep, None).await;
    let mut directory = app.directory().await;
    let admin = directory
        .get_user(authed(
            &token,
            pb::GetUserRequest {
                name: app.admin.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(admin.email, "admin@test.example");
});

contract_test!(
    bad_user_fields_are_all_reported_and_nothing_is_created,
    |app| {
        let mut directory = app.directory().await;
        let before = app.count("users").await;
        let status = directory
            .create_user(authed(
                &app.admin_token,
                pb::CreateUserRequest {
                    user: Some(pb::User {
                        display_name: " ".into(),
                        email: "nope".into(),
                        role: 42,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "MISSING_FIELD");
        assert_eq!(
            violated_fields(&status),
            ["user.display_name", "user.email", "user.role"]
        );
        let status = directory
            .create_user(authed(
                &app.admin_token,
                pb::CreateUserRequest {
                    user: None,
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["user"]);
        let status = directory
            .create_user(authed(
                &app.admin_token,
                pb::CreateUserRequest {
                    user: Some(pb::User {
                        manager: "users/not-a-uuid".into(),
                        ..new_user("m@example.com", pb::Role::Rep)
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["user.manager"]);
        let status = directory
            .create_user(authed(
                &app.admin_token,
                pb::CreateUserRequest {
                    user: Some(pb::User {
                        manager: format!("users/{}", uuid::Uuid::now_v7()),
                        ..new_user("m@example.com", pb::Role::Rep)
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["user.manager"]);
        assert_eq!(app.count("users").await, before);
    }
);

contract_test!(a_taken_email_is_already_exists, |app| {
    let mut directory = app.directory().await;
    let status = directory
        .create_user(authed(
            &app.admin_token,
            pb::CreateUserRequest {
                user: Some(new_user("ADMIN@test.example", pb::Role::Rep)),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::AlreadyExists, "ALREADY_EXISTS");
});

contract_test!(
    a_retried_create_returns_the_first_answer_and_creates_once,
    |app| {
        let mut directory = app.directory().await;
        let request = pb::CreateUserRequest {
            user: Some(new_user("once@example.com", pb::Role::Rep)),
            request_id: "9b1d6c1e-retry".into(),
        };
        let first = directory
            .create_user(authed(&app.admin_token, request.clone()))
            .await
            .unwrap()
            .into_inner();
        let before = app.count("users").await;
        let second = directory
            .create_user(authed(&app.admin_token, request.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(second, first);
        assert_eq!(app.count("users").await, before);
        let status = directory
            .create_user(authed(
                &app.admin_token,
                pb::CreateUserRequest {
                    user: Some(new_user("other@example.com", pb::Role::Rep)),
                    ..request
                },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "REQUEST_ID_REUSED");
        assert_eq!(violated_fields(&status), ["request_id"]);
        assert_eq!(app.count("users").await, before);
    }
);

contract_test!(concurrent_retries_of_one_create_create_once, |app| {
    let request = pb::CreateUserRequest {
        user: Some(new_user("race@example.com", pb::Role::Rep)),
        request_id: "race-1".into(),
    };
    let before = app.count("users").await;
    let mut calls = Vec::new();
    for _ in 0..8 {
        let mut directory = app.directory().await;
        let request = authed(&app.admin_token, request.clone());
        calls.push(tokio::spawn(async move {
            directory.create_user(request).await.map(|r| r.into_inner())
        }));
    }
    let mut names = Vec::new();
    for call in calls {
        names.push(call.await.unwrap().expect("every retry succeeds").name);
    }
    names.dedup();
    assert_eq!(names.len(), 1, "all retries answer with the same user");
    assert_eq!(app.count("users").await, before + 1);
});

contract_test!(
    an_update_changes_only_masked_fields_and_a_stale_etag_is_aborted,
    |app| {
        let (rep, _) = app.user(Role::Rep, None).await;
        let mut directory = app.directory().await;
        let current = directory
            .get_user(authed(
                &app.admin_token,
                pb::GetUserRequest {
                    name: rep.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let updated = directory
            .update_user(authed(
                &app.admin_token,
                pb::UpdateUserRequest {
                    user: Some(pb::User {
                        name: rep.name.clone(),
                        display_name: "Renamed".into(),
                        email: "ignored@example.com".into(),
                        etag: current.etag.clone(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["display_name"]),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(updated.display_name, "Renamed");
        assert_eq!(updated.email, current.email);
        assert_eq!(updated.role, current.role);
        assert_ne!(updated.etag, current.etag);
        let status = directory
            .update_user(authed(
                &app.admin_token,
                pb::UpdateUserRequest {
                    user: Some(pb::User {
                        name: rep.name.clone(),
                        display_name: "Lost".into(),
                        etag: current.etag,
                        ..Default::default()
                    }),
                    update_mask: mask(&["display_name"]),
                },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::Aborted, "STALE_ETAG");
        let read = directory
            .get_user(authed(
                &app.admin_token,
                pb::GetUserRequest {
                    name: rep.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, updated);
    }
);

contract_test!(bad_update_masks_and_names_are_invalid, |app| {
    let (rep, _) = app.user(Role::Rep, None).await;
    let mut directory = app.directory().await;
    let status = directory
        .update_user(authed(
            &app.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    name: rep.name.clone(),
                    ..Default::default()
                }),
                update_mask: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["update_mask"]);
    let status = directory
        .update_user(authed(
            &app.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    name: "people/1".into(),
                    etag: "v9".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name", "create_time"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["user.name", "user.etag", "update_mask.paths[1]"]
    );
    let status = directory
        .get_user(authed(
            &app.admin_token,
            pb::GetUserRequest {
                name: format!("users/{}", uuid::Uuid::now_v7()),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "NOT_FOUND");
});

contract_test!(a_manager_cycle_in_the_reporting_tree_is_refused, |app| {
    let (leader, _) = app.user(Role::Leader, None).await;
    let (manager, _) = app.user(Role::Manager, Some(&leader)).await;
    let (rep, _) = app.user(Role::Rep, Some(&manager)).await;
    let mut directory = app.directory().await;
    for (user, new_manager) in [(&leader, &rep), (&leader, &manager), (&manager, &manager)] {
        let status = directory
            .update_user(authed(
                &app.admin_token,
                pb::UpdateUserRequest {
                    user: Some(pb::User {
                        name: user.name.clone(),
                        manager: new_manager.name.clone(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["manager"]),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            ["user.manager"],
            "{} under {}",
            user.name,
            new_manager.name
        );
    }
    // Moving the rep directly under the leader is fine.
    let moved = directory
        .update_user(authed(
            &app.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    name: rep.name.clone(),
                    manager: leader.name.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["manager"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.manager, leader.name);
});

contract_test!(list_pages_through_every_user_once, |app| {
    let (manager, _) = app.user(Role::Manager, None).await;
    for _ in 0..5 {
        app.user(Role::Rep, Some(&manager)).await;
    }
    let mut directory = app.directory().await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = directory
            .list_users(authed(
                &app.admin_token,
                pb::ListUsersRequest {
                    page_size: 2,
                    page_token: token,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.users.len() <= 2);
        seen.extend(page.users.into_iter().map(|u| u.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 7, "admin, manager and five reps");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7);
    let reports = directory
        .list_users(authed(
            &app.admin_token,
            pb::ListUsersRequest {
                manager: manager.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reports.users.len(), 5);
    assert!(
        reports
            .users
            .iter()
            .all(|u| u.manager == manager.name && u.role == pb::Role::Rep as i32)
    );
    let managers = directory
        .list_users(authed(
            &app.admin_token,
            pb::ListUsersRequest {
                role: pb::Role::Manager as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = managers.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, [manager.name.as_str()]);
});

contract_test!(bad_page_sizes_and_tokens_are_invalid, |app| {
    let mut directory = app.directory().await;
    let status = directory
        .list_users(authed(
            &app.admin_token,
            pb::ListUsersRequest {
                page_size: -1,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["page_size"]);
    let status = directory
        .list_users(authed(
            &app.admin_token,
            pb::ListUsersRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["page_token"]);
    app.user(Role::Rep, None).await;
    let page = directory
        .list_users(authed(
            &app.admin_token,
            pb::ListUsersRequest {
                page_size: 1,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let status = directory
        .list_users(authed(
            &app.admin_token,
            pb::ListUsersRequest {
                page_size: 1,
                page_token: page.next_page_token,
                role: pb::Role::Rep as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["page_token"]);
});
