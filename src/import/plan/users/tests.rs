use super::super::tests::{World, book, deal, errors, person, user};
use crate::domain::directory::Role;
use crate::import::report::lines;
use crate::import::{Location, SourceRole};

fn role(id: &str, name: &str, parent: &str, forecast_user: &str, line: u64) -> SourceRole {
    SourceRole {
        at: Location::line("UserRole.csv", line),
        external_id: id.into(),
        name: name.into(),
        parent: parent.into(),
        forecast_user: forecast_user.into(),
    }
}

/// (e-mail, role, manager's e-mail) of each created user, in creation order.
fn created(plan: &crate::import::ImportPlan) -> Vec<(String, Role, String)> {
    plan.new_users
        .iter()
        .map(|u| {
            let manager = u
                .profile
                .manager_id
                .and_then(|m| plan.new_users.iter().find(|n| n.id == m))
                .map(|m| m.profile.email.clone())
                .unwrap_or_default();
            (u.profile.email.clone(), u.profile.role, manager)
        })
        .collect()
}

fn c(email: &str, role: Role, manager: &str) -> (String, Role, String) {
    (email.into(), role, manager.into())
}

#[test]
fn users_without_a_manager_id_take_managers_and_roles_from_the_role_tree() {
    let w = World::new(r#"{"create_users":true}"#);
    let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
    rows.deals[0].owner = "r1".into();
    rows.roles = vec![
        role("R-VP", "Director Comercial", "", "", 2),
        role("R-MGR", "Gerente Regional", "R-VP", "m1", 3),
        role("R-REP", "Ejecutivo", "R-MGR", "", 4),
    ];
    rows.users = vec![
        person("vp", "R-VP", 2),
        person("m1", "R-MGR", 3),
        person("m2", "R-MGR", 4),
        person("r1", "R-REP", 5),
    ];
    let plan = w.plan(&rows).unwrap();
    assert_eq!(
        created(&plan),
        [
            c("vp@example.com", Role::Leader, ""),
            c("m1@example.com", Role::Manager, "vp@example.com"),
            c("m2@example.com", Role::Rep, "m1@example.com"),
            c("r1@example.com", Role::Rep, "m1@example.com"),
        ],
        "the forecast user manages their role's holders and the roles below; they report \
             to the nearest role above holding a seller"
    );
    assert!(plan.manager_choices.is_empty());
}

#[test]
fn a_top_manager_is_a_leader_and_a_manager_of_managers_too() {
    let w = World::new(r#"{"create_users":true}"#);
    let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
    rows.deals[0].owner = "rep".into();
    let mut rep = person("rep", "", 2);
    rep.manager = "boss".into();
    rows.users = vec![rep, person("boss", "", 3)];
    let plan = w.plan(&rows).unwrap();
    assert_eq!(
        created(&plan),
        [
            c("boss@example.com", Role::Leader, ""),
            c("rep@example.com", Role::Rep, "boss@example.com"),
        ]
    );
}

#[test]
fn non_sellers_are_skipped_and_counted_by_reason() {
    let w = World::new(r#"{"create_users":true}"#);
    let mut rows = book(
        vec![
            deal("1", "problem-recognized", 2),
            deal("2", "problem-recognized", 3),
        ],
        vec![],
    );
    rows.deals[0].owner = "seller".into();
    rows.deals[1].owner = "gone-with-deals".into();
    let mut partner = person("partner", "", 3);
    partner.user_type = "PowerPartner".into();
    let mut integration = person("int", "", 4);
    integration.name = "Integration User".into();
    let mut automated = person("auto", "", 5);
    automated.profile = "Automated Process".into();
    let mut gone = person("gone", "", 6);
    gone.active = false;
    let mut gone_with_deals = person("gone-with-deals", "", 7);
    gone_with_deals.active = false;
    rows.users = vec![
        person("seller", "", 2),
        partner,
        integration,
        automated,
        gone,
        gone_with_deals,
    ];
    let plan = w.plan(&rows).unwrap();
    let emails: Vec<&str> = plan
        .new_users
        .iter()
        .map(|u| u.profile.email.as_str())
        .collect();
    assert_eq!(
        emails,
        ["seller@example.com", "gone-with-deals@example.com"]
    );
    assert_eq!(
        lines(&plan.dropped.to_vec())
            .into_iter()
            .filter(|l| l.starts_with("user"))
            .collect::<Vec<_>>(),
        [
            "user skipped (not a seller): 'integration or automated user' 2, \
              'UserType PowerPartner' 1, 'inactive, owns no deal' 1"
        ]
    );
}

#[test]
fn a_manager_id_naming_a_skipped_user_gives_way_to_the_role_tree() {
    let w = World::new(r#"{"create_users":true}"#);
    let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
    rows.deals[0].owner = "rep".into();
    rows.roles = vec![
        role("R-MGR", "Gerente", "", "gone", 2),
        role("R-REP", "Ejecutivo", "R-MGR", "", 3),
    ];
    let mut gone = person("gone", "R-MGR", 2);
    gone.active = false;
    let mut rep = person("rep", "R-REP", 3);
    rep.manager = "gone".into();
    rows.users = vec![gone, rep, person("boss", "R-MGR", 4)];
    let plan = w.plan(&rows).unwrap();
    assert_eq!(
        created(&plan),
        [
            c("boss@example.com", Role::Leader, ""),
            c("rep@example.com", Role::Rep, "boss@example.com"),
        ]
    );
    assert_eq!(
        lines(&plan.dropped.to_vec()),
        [
            "ForecastUserId names no active seller of the User file (ignored): 'gone' 1",
            "ManagerId names a skipped user (role tree used instead): 'gone' 1",
            "user skipped (not a seller): 'inactive, owns no deal' 1",
        ]
    );
}

#[test]
fn a_deal_owned_by_a_skipped_user_says_to_map_it() {
    let w = World::new(r#"{"create_users":true}"#);
    let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
    rows.deals[0].owner = "int".into();
    let mut integration = person("int", "", 2);
    integration.name = "Integration User".into();
    rows.users = vec![integration];
    assert_eq!(
        errors(w.plan(&rows)),
        [
            "Opportunity.csv:2: OwnerId: \"int\" is a User file row skipped as not a seller \
              (integration or automated user): map it to a user in \"owners\""
        ]
    );
}

#[test]
fn several_holders_of_a_role_the_choice_is_reported() {
    let w = World::new(r#"{"create_users":true}"#);
    let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
    rows.deals[0].owner = "r1".into();
    rows.roles = vec![
        role("R-MGR", "Gerente", "", "", 2),
        role("R-REP", "Ejecutivo", "R-MGR", "", 3),
    ];
    let mut late = person("m1", "R-MGR", 2);
    late.created_at = Some("2024-01-01T00:00:00Z".parse().unwrap());
    let mut early = person("m2", "R-MGR", 3);
    early.created_at = Some("2020-01-01T00:00:00Z".parse().unwrap());
    rows.users = vec![late, early, person("r1", "R-REP", 4)];
    let plan = w.plan(&rows).unwrap();
    assert_eq!(
        created(&plan)[2],
        c("r1@example.com", Role::Rep, "m2@example.com")
    );
    assert_eq!(plan.manager_choices.len(), 1);
    assert_eq!(plan.manager_choices[0].chosen, "m2@example.com");
    let named = World::new(r#"{"create_users":true,"role_managers":{"Gerente":"m1"}}"#)
        .plan(&rows)
        .unwrap();
    assert_eq!(
        created(&named)[2],
        c("r1@example.com", Role::Rep, "m1@example.com")
    );
    assert!(named.manager_choices.is_empty());
}

/// Ann (a REP here, managed by nobody) is in the User file under Victor, who is new.
fn ann_under_victor(mapping: &str) -> (World, crate::import::SourceBook) {
    let mut w = World::new(mapping);
    w.users[0].version = 3;
    w.users.push(user("admin@example.com", Role::Admin));
    let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
    rows.deals[0].owner = "ann".into();
    let mut ann = person("ann", "", 2);
    ann.manager = "victor".into();
    let mut admin = person("admin", "", 3);
    admin.manager = "victor".into();
    rows.users = vec![ann, admin, person("victor", "", 4)];
    (w, rows)
}

#[test]
fn existing_users_are_not_changed_without_update_users_but_listed() {
    let (w, rows) = ann_under_victor(r#"{"create_users":true}"#);
    let plan = w.plan(&rows).unwrap();
    assert!(plan.changed_users.is_empty());
    let listed: Vec<(&str, &str, &str, &str, bool)> = plan
        .user_changes
        .iter()
        .map(|c| {
            (
                c.email.as_str(),
                c.field,
                c.now.as_str(),
                c.source.as_str(),
                c.applied,
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "ann@example.com",
                "manager",
                "",
                "victor@example.com",
                false
            ),
            (
                "admin@example.com",
                "manager",
                "",
                "victor@example.com",
                false
            ),
        ],
        "an admin's role is not a seller's: it is not compared"
    );
    assert_eq!(created(&plan), [c("victor@example.com", Role::Leader, "")]);
}

#[test]
fn update_users_applies_the_sources_managers_and_roles() {
    let (w, rows) = ann_under_victor(r#"{"create_users":true,"update_users":true}"#);
    let plan = w.plan(&rows).unwrap();
    let victor = plan.new_users[0].id;
    let (ann, version) = &plan.changed_users[0];
    assert_eq!(*version, 3);
    assert_eq!(ann.version, 4);
    assert_eq!(
        (ann.profile.role, ann.profile.manager_id),
        (Role::Rep, Some(victor))
    );
    assert_eq!(plan.changed_users[1].0.profile.role, Role::Admin);
    assert!(plan.user_changes.iter().all(|c| c.applied));
}

#[test]
fn a_change_that_would_close_a_loop_with_users_here_is_refused() {
    // Carl, not in the file, reports to Ann here; the file puts Ann under Carl.
    let mut w = World::new(r#"{"update_users":true}"#);
    let mut carl = user("carl@example.com", Role::Manager);
    carl.profile.manager_id = Some(w.users[0].id);
    w.users.push(carl);
    let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
    rows.deals[0].owner = "ann".into();
    let mut ann = person("ann", "", 2);
    ann.manager = "carl@example.com".into();
    rows.users = vec![ann];
    assert_eq!(
        errors(w.plan(&rows)),
        ["User.csv:2: ManagerId: would close a loop in the reporting tree with the users here"]
    );
}
