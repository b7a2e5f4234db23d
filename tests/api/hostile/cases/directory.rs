//! DirectoryService: a valid request of each RPC and the single faults that make it refused.

use super::*;

pub(in crate::hostile) fn directory(fx: &Arc<Fixture>, f: &mut Families) {
    let create = valid::create_user;
    f.credentials("DirectoryService/CreateUser", create(fx, &mut Rng::new(0)));
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateUser",
        "create user: bad field",
        move |rng| {
            let mut r = create(&x, rng);
            let user = r.user.as_mut().unwrap();
            let expect = match rng.below(8) {
                0 => {
                    r.user = None;
                    field("user")
                }
                1 => {
                    user.display_name = huge(rng);
                    field("user.display_name")
                }
                2 => {
                    user.display_name = control_text(rng);
                    field("user.display_name")
                }
                3 => {
                    user.email = pick(
                        rng,
                        &["not-an-email", "a@", "@b", "a b@c.d", "a@b\u{202e}.com"],
                    )
                    .to_string();
                    field("user.email")
                }
                4 => {
                    user.role = bad_enum(rng);
                    field("user.role")
                }
                5 => {
                    user.role = 0;
                    field("user.role")
                }
                6 => {
                    user.manager = bad_name(rng, "users");
                    field("user.manager")
                }
                _ => {
                    user.email = huge(rng);
                    field("user.email")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateUser",
        "create user: not admin",
        move |rng| {
            let callers = [&x.rep, &x.manager, &x.desk];
            let caller = *pick(rng, &callers);
            (
                as_(caller),
                create(&x, rng),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateUser",
        "create user: taken email",
        move |rng| {
            let mut r = create(&x, rng);
            r.user.as_mut().unwrap().email = x.rep.user.email.to_uppercase();
            (admin(&x), r, Expect::Code(Code::AlreadyExists))
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateUser",
        "create user: unknown manager",
        move |rng| {
            let mut r = create(&x, rng);
            r.user.as_mut().unwrap().manager = format!("users/{}", unknown_id(rng));
            (admin(&x), r, field("user.manager"))
        },
    );

    let get = |fx: &Fixture| pb::GetUserRequest {
        name: fx.manager.name(),
    };
    f.credentials("DirectoryService/GetUser", get(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/GetUser",
        "get user: bad name",
        move |rng| {
            (
                as_(&x.rep),
                pb::GetUserRequest {
                    name: bad_name(rng, "users"),
                },
                field("name"),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/GetUser",
        "get user: unknown",
        move |rng| {
            (
                as_(&x.rep),
                pb::GetUserRequest {
                    name: format!("users/{}", unknown_id(rng)),
                },
                Expect::Code(Code::NotFound),
            )
        },
    );
    f.credentials(
        "DirectoryService/GetCurrentUser",
        pb::GetCurrentUserRequest {},
    );

    f.credentials(
        "DirectoryService/ListUsers",
        pb::ListUsersRequest::default(),
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/ListUsers",
        "list users: bad filter",
        move |rng| {
            let mut r = pb::ListUsersRequest::default();
            let expect = match rng.below(2) {
                0 => {
                    r.role = bad_enum(rng);
                    field("role")
                }
                _ => {
                    r.manager = bad_name(rng, "users");
                    field("manager")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let update = |fx: &Fixture| pb::UpdateUserRequest {
        user: Some(pb::User {
            name: fx.other_rep.name(),
            display_name: "Renamed".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["display_name".into()],
        }),
    };
    f.credentials("DirectoryService/UpdateUser", update(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/UpdateUser",
        "update user: bad field",
        move |rng| {
            let mut r = update(&x);
            let user = r.user.as_mut().unwrap();
            let expect = match rng.below(8) {
                0 => {
                    r.update_mask = None;
                    field("update_mask")
                }
                1 => {
                    r.update_mask = Some(FieldMask {
                        paths: vec!["etag".into()],
                    });
                    field("update_mask.paths[0]")
                }
                2 => {
                    user.name = bad_name(rng, "users");
                    field("user.name")
                }
                3 => {
                    user.display_name = huge(rng);
                    field("user.display_name")
                }
                4 => {
                    user.etag = malformed_etag(rng);
                    field("user.etag")
                }
                5 => {
                    user.etag = "\"999999\"".into();
                    Expect::Code(Code::Aborted)
                }
                6 => {
                    // Under oneself: a cycle.
                    user.manager = user.name.clone();
                    r.update_mask = Some(FieldMask {
                        paths: vec!["manager".into()],
                    });
                    field("user.manager")
                }
                _ => {
                    r.user = None;
                    field("user")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/UpdateUser",
        "update user: not admin",
        move |_| {
            (
                as_(&x.manager),
                update(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/UpdateUser",
        "update user: unknown",
        move |rng| {
            let mut r = update(&x);
            r.user.as_mut().unwrap().name = format!("users/{}", unknown_id(rng));
            (admin(&x), r, Expect::Code(Code::NotFound))
        },
    );

    let token = |fx: &Fixture| pb::CreateApiTokenRequest {
        parent: fx.other_rep.name(),
        api_token: Some(pb::ApiToken {
            display_name: "t".into(),
            ..Default::default()
        }),
    };
    f.credentials("DirectoryService/CreateApiToken", token(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateApiToken",
        "create token: bad field",
        move |rng| {
            let mut r = token(&x);
            let expect = match rng.below(4) {
                0 => {
                    r.parent = bad_name(rng, "users");
                    field("parent")
                }
                1 => {
                    r.api_token = None;
                    field("api_token")
                }
                2 => {
                    r.api_token.as_mut().unwrap().display_name = huge(rng);
                    field("api_token.display_name")
                }
                _ => {
                    r.api_token.as_mut().unwrap().display_name = control_text(rng);
                    field("api_token.display_name")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateApiToken",
        "create token: not admin",
        move |_| {
            // A rep minting a token for someone else.
            (as_(&x.rep), token(&x), Expect::Code(Code::PermissionDenied))
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateApiToken",
        "create token: unknown user",
        move |rng| {
            let mut r = token(&x);
            r.parent = format!("users/{}", unknown_id(rng));
            (admin(&x), r, Expect::Code(Code::NotFound))
        },
    );

    let list = valid::list_api_tokens;
    f.credentials("DirectoryService/ListApiTokens", list(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/ListApiTokens",
        "list tokens: bad field",
        move |rng| {
            let mut r = list(&x);
            r.parent = bad_name(rng, "users");
            let expect = field("parent");
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/ListApiTokens",
        "list tokens: not admin",
        move |_| {
            (
                as_(&x.manager),
                list(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );

    let revoke = |fx: &Fixture| pb::RevokeApiTokenRequest {
        name: fx.live_token.clone(),
    };
    f.credentials("DirectoryService/RevokeApiToken", revoke(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/RevokeApiToken",
        "revoke token: bad name",
        move |rng| {
            let name = match rng.below(3) {
                0 => bad_name(rng, "users"),
                1 => format!("{}/apiTokens/{}", x.rep.name(), "not-a-uuid"),
                _ => format!("{}/apiTokens/{}\0", x.rep.name(), unknown_id(rng)),
            };
            (admin(&x), pb::RevokeApiTokenRequest { name }, field("name"))
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/RevokeApiToken",
        "revoke token: unknown",
        move |rng| {
            let name = format!("{}/apiTokens/{}", x.rep.name(), unknown_id(rng));
            (
                admin(&x),
                pb::RevokeApiTokenRequest { name },
                Expect::Code(Code::NotFound),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/RevokeApiToken",
        "revoke token: not admin",
        move |_| {
            (
                as_(&x.other_rep),
                revoke(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );
}
