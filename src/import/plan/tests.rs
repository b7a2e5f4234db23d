use super::*;
use crate::domain::deal::{DealStatus, ForecastCategory, HistoryDirection};
use crate::domain::directory::{Role, UserProfile};
use crate::domain::templates;
use crate::import::values::Amount;
use crate::import::{SourceDeal, SourceFormat, SourceStageChange, SourceUser};

/// Same-instant rows, creation defaults, owners by display name, rounding (issue 19).
mod reading;

pub(crate) fn t(text: &str) -> DateTime<Utc> {
    crate::import::values::parse_time(text).unwrap()
}

pub(crate) fn smb() -> Pipeline {
    Pipeline {
        id: crate::domain::ids::PipelineId::generate(),
        spec: templates::smb(),
        created_at: t("2025-01-01"),
        updated_at: t("2025-01-01"),
        version: 1,
    }
}

pub(crate) fn user(email: &str, role: Role) -> User {
    User {
        id: UserId::generate(),
        profile: UserProfile {
            display_name: email.to_string().try_into().unwrap(),
            email: email.into(),
            role,
            manager_id: None,
            active: true,
        },
        created_at: t("2025-01-01"),
        updated_at: t("2025-01-01"),
        version: 1,
    }
}

pub(crate) fn deal(id: &str, stage: &str, line: u64) -> SourceDeal {
    SourceDeal {
        at: Location::line("Opportunity.csv", line),
        external_id: id.into(),
        name: format!("Deal {id}"),
        account: "Acme".into(),
        owner: "ann@example.com".into(),
        amount: Some(Amount::parse("1000").unwrap()),
        currency: None,
        close_date: Some("2026-06-30".parse().unwrap()),
        stage: stage.into(),
        closed_won: None,
        lead_source: String::new(),
        forecast_category: String::new(),
        created_at: Some(t("2026-01-10T09:00:00Z")),
        loss_reason: String::new(),
        source_pipeline: String::new(),
        category_column: None,
        account_id: String::new(),
    }
}

pub(crate) fn change(deal: &str, stage: &str, at: &str, line: u64) -> SourceStageChange {
    SourceStageChange {
        at: Location::line("OpportunityHistory.csv", line),
        deal: deal.into(),
        stage: stage.into(),
        changed_at: t(at),
        amount: None,
        close_date: None,
    }
}

pub(crate) fn book(deals: Vec<SourceDeal>, changes: Vec<SourceStageChange>) -> SourceBook {
    SourceBook {
        rows_read: deals.len() + changes.len(),
        deals,
        changes,
        ..SourceBook::new(SourceFormat::Salesforce, Default::default())
    }
}

pub(crate) struct World {
    pub(crate) pipeline: Pipeline,
    pub(crate) mapping: Mapping,
    pub(crate) users: Vec<User>,
    pub(crate) links: HashMap<String, UserId>,
    pub(crate) existing: HashMap<String, ExistingDeal>,
    pub(crate) zone: chrono_tz::Tz,
}

impl World {
    pub(crate) fn new(mapping: &str) -> Self {
        World {
            pipeline: smb(),
            mapping: Mapping::parse("mapping.json", mapping).unwrap(),
            users: vec![user("ann@example.com", Role::Rep)],
            links: HashMap::new(),
            existing: HashMap::new(),
            zone: chrono_tz::Tz::UTC,
        }
    }

    pub(crate) fn plan(&self, book: &SourceBook) -> Result<ImportPlan, Vec<RowError>> {
        plan(
            book,
            &PlanContext {
                pipeline: &self.pipeline,
                mapping: &self.mapping,
                users: &self.users,
                user_links: &self.links,
                existing: &self.existing,
                now: t("2026-11-22T12:00:00Z"),
                zone: self.zone,
            },
        )
    }

    /// Stores a plan's new deals as an earlier import would have.
    pub(crate) fn store(&mut self, plan: &ImportPlan) {
        for d in &plan.new_deals {
            let last = plan
                .history
                .iter()
                .rfind(|h| h.deal_id == d.id)
                .map(|h| (h.at, h.to_stage.clone()));
            let (external, _) = plan.deal_links.iter().find(|(_, id)| *id == d.id).unwrap();
            self.existing.insert(
                external.clone(),
                ExistingDeal {
                    deal: d.clone(),
                    last_change: last,
                },
            );
        }
    }
}

pub(crate) const MAPPING: &str = r#"{"stages":{"Prospecting":"problem-recognized","Qualification":"solution-exploring","Proposal":"decision-pending"}}"#;

/// A User-file row: a standard, active seller of the role `role` with no ManagerId.
pub(crate) fn person(id: &str, role: &str, line: u64) -> crate::import::SourceUser {
    crate::import::SourceUser {
        at: Location::line("User.csv", line),
        external_id: id.into(),
        name: format!("Person {id}"),
        email: format!("{id}@example.com"),
        manager: String::new(),
        active: true,
        role: role.into(),
        user_type: "Standard".into(),
        profile: "Standard User".into(),
        created_at: None,
    }
}

fn moves(plan: &ImportPlan) -> Vec<(Option<&str>, &str, HistoryDirection)> {
    plan.history
        .iter()
        .map(|h| (h.from_stage.as_deref(), h.to_stage.as_str(), h.direction))
        .collect()
}

pub(crate) fn errors(result: Result<ImportPlan, Vec<RowError>>) -> Vec<String> {
    result
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

use HistoryDirection::{Backward, Close, Create, Forward};

#[test]
fn history_rows_become_moves_in_time_order_with_directions_from_stage_positions() {
    let w = World::new(MAPPING);
    let plan = w
        .plan(&book(
            vec![deal("006A", "Closed Won", 2)],
            vec![
                // Out of order on purpose; the amount-only row keeps the stage.
                change("006A", "Proposal", "2026-03-01T00:00:00Z", 4),
                change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2),
                change("006A", "Qualification", "2026-02-01T00:00:00Z", 3),
                change("006A", "Qualification", "2026-03-10T00:00:00Z", 5),
                change("006A", "Qualification", "2026-03-20T00:00:00Z", 6),
                change("006A", "Closed Won", "2026-04-01T00:00:00Z", 7),
            ],
        ))
        .unwrap();
    assert_eq!(
        moves(&plan),
        [
            (None, "problem-recognized", Create),
            (Some("problem-recognized"), "solution-exploring", Forward),
            (Some("solution-exploring"), "decision-pending", Forward),
            (Some("decision-pending"), "solution-exploring", Backward),
            (Some("solution-exploring"), "closed-won", Close),
        ]
    );
    let d = &plan.new_deals[0];
    assert_eq!(d.status, DealStatus::Won);
    assert_eq!(d.closed_at, Some(t("2026-04-01T00:00:00Z")));
    assert_eq!(d.fields.forecast_category, ForecastCategory::Closed);
    assert_eq!(d.fields.amount.unwrap().minor, 100_000);
    assert_eq!(plan.deal_links, [("006A".to_string(), d.id)]);
}

#[test]
fn a_deal_without_history_is_created_in_its_stage_or_created_then_closed() {
    let w = World::new(MAPPING);
    let mut lost = deal("006L", "Closed Lost", 3);
    lost.loss_reason = String::new();
    let plan = w
        .plan(&book(vec![deal("006O", "Qualification", 2), lost], vec![]))
        .unwrap();
    assert_eq!(
        moves(&plan),
        [
            (None, "solution-exploring", Create),
            (None, "problem-recognized", Create),
            (Some("problem-recognized"), "closed-lost", Close),
        ]
    );
    let lost = &plan.new_deals[1];
    assert_eq!(
        lost.closed_at,
        Some(t("2026-06-30T00:00:00Z")),
        "closed on its close date"
    );
    assert_eq!(lost.loss_reason, "not recorded in salesforce");
}

#[test]
fn an_open_deal_whose_history_ends_in_another_stage_is_a_bad_row() {
    let w = World::new(MAPPING);
    let found = errors(w.plan(&book(
        vec![deal("006A", "Proposal", 2)],
        vec![change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2)],
    )));
    assert_eq!(
        found,
        [
            "Opportunity.csv:2: StageName: the deal is in \"decision-pending\" but its history ends in \"problem-recognized\""
        ]
    );
}

#[test]
fn every_bad_row_is_reported_with_file_line_and_column() {
    let w = World::new(MAPPING);
    let mut unmapped = deal("006B", "Negotiation", 3);
    unmapped.owner = "005X".into();
    let mut disagreeing = deal("006C", "Closed Won", 4);
    disagreeing.closed_won = Some((true, false));
    let found = errors(w.plan(&book(
        vec![
            deal("006A", "Prospecting", 2),
            unmapped,
            disagreeing,
            deal("006A", "Prospecting", 5),
        ],
        vec![
            change("006Z", "Prospecting", "2026-01-10T09:00:00Z", 2),
            change("006A", "Discovery", "2026-01-10T09:00:00Z", 3),
        ],
    )));
    let stages = "(stages: problem-recognized, solution-exploring, decision-pending, closed-won, closed-lost)";
    assert_eq!(
            found,
            [
                format!("OpportunityHistory.csv:3: StageName: \"Discovery\" is not mapped to a stage of the pipeline: add it to \"stages\" in the mapping {stages}"),
                format!("Opportunity.csv:3: StageName: \"Negotiation\" is not mapped to a stage of the pipeline: add it to \"stages\" in the mapping {stages}"),
                "Opportunity.csv:3: OwnerId: \"005X\" is not mapped to a user: add it to \"owners\" in the mapping, or send the User file (with \"create_users\": true to create missing users)".to_string(),
                "Opportunity.csv:4: IsClosed: IsClosed true and IsWon false disagree with \"Closed Won\", which maps to the won stage \"closed-won\"".to_string(),
                "Opportunity.csv:5: Id: \"006A\" repeats the deal of line 2".to_string(),
                "OpportunityHistory.csv:2: OpportunityId: \"006Z\" is not a deal of the deals file".to_string(),
            ]
        );
}

#[test]
fn reimporting_the_same_rows_changes_nothing() {
    let mut w = World::new(MAPPING);
    let rows = book(
        vec![deal("006A", "Proposal", 2)],
        vec![
            change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2),
            change("006A", "Proposal", "2026-02-10T09:00:00Z", 3),
        ],
    );
    let first = w.plan(&rows).unwrap();
    w.store(&first);
    let again = w.plan(&rows).unwrap();
    assert_eq!(
        (
            again.new_deals.len(),
            again.changed_deals.len(),
            again.unchanged_deals
        ),
        (0, 0, 1)
    );
    assert!(again.history.is_empty() && again.deal_links.is_empty());
}

#[test]
fn a_reimport_updates_values_and_appends_only_later_history() {
    let mut w = World::new(MAPPING);
    let first = w
        .plan(&book(
            vec![deal("006A", "Qualification", 2)],
            vec![
                change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2),
                change("006A", "Qualification", "2026-02-10T09:00:00Z", 3),
            ],
        ))
        .unwrap();
    w.store(&first);
    let mut later = deal("006A", "Closed Won", 2);
    later.amount = Some(Amount::parse("1500").unwrap());
    let second = w
        .plan(&book(
            vec![later],
            vec![
                change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2),
                change("006A", "Qualification", "2026-02-10T09:00:00Z", 3),
                change("006A", "Closed Won", "2026-05-01T00:00:00Z", 4),
            ],
        ))
        .unwrap();
    let (updated, version) = &second.changed_deals[0];
    assert_eq!(*version, 1);
    assert_eq!(updated.version, 2);
    assert_eq!(updated.id, first.new_deals[0].id);
    assert_eq!(updated.fields.amount.unwrap().minor, 150_000);
    assert_eq!(updated.status, DealStatus::Won);
    assert_eq!(updated.closed_at, Some(t("2026-05-01T00:00:00Z")));
    assert_eq!(
        moves(&second),
        [(Some("solution-exploring"), "closed-won", Close)]
    );
}

#[test]
fn a_stage_changed_here_is_moved_back_to_the_sources_at_import_time() {
    let mut w = World::new(MAPPING);
    let rows = book(vec![deal("006A", "Qualification", 2)], vec![]);
    let first = w.plan(&rows).unwrap();
    w.store(&first);
    let stored = w.existing.get_mut("006A").unwrap();
    stored.deal.stage_id = "decision-pending".into();
    stored.last_change = Some((t("2026-11-01T00:00:00Z"), "decision-pending".into()));
    let second = w.plan(&rows).unwrap();
    assert_eq!(
        moves(&second),
        [(Some("decision-pending"), "solution-exploring", Backward)]
    );
    assert_eq!(second.history[0].at, t("2026-11-22T12:00:00Z"));
}

#[test]
fn owners_resolve_through_the_mapping_the_user_file_and_email() {
    let mut w = World::new(r#"{"owners":{"005M":"ann@example.com"}}"#);
    let bob = user("bob@example.com", Role::Rep);
    w.users.push(bob.clone());
    let mut rows = book(
        vec![
            deal("1", "problem-recognized", 2),
            deal("2", "problem-recognized", 3),
            deal("3", "problem-recognized", 4),
        ],
        vec![],
    );
    rows.deals[0].owner = "005M".into();
    rows.deals[1].owner = "005B".into();
    rows.deals[2].owner = "BOB@example.com".into();
    rows.users.push(SourceUser {
        at: Location::line("User.csv", 2),
        external_id: "005B".into(),
        name: "Bob".into(),
        email: "Bob@Example.com".into(),
        manager: String::new(),
        active: true,
        role: String::new(),
        user_type: String::new(),
        profile: String::new(),
        created_at: None,
    });
    let plan = w.plan(&rows).unwrap();
    let owners: Vec<UserId> = plan.new_deals.iter().map(|d| d.fields.owner_id).collect();
    assert_eq!(owners, [w.users[0].id, bob.id, bob.id]);
    assert_eq!(plan.user_links, [("005B".to_string(), bob.id)]);
    assert!(
        plan.new_users.is_empty(),
        "without create_users nobody is created"
    );
}

#[test]
fn an_owner_that_is_nobody_here_is_a_bad_row_saying_what_to_do() {
    let w = World::new(r#"{"owners":{"Zed":"zed@example.com"}}"#);
    let mut rows = book(
        vec![
            deal("1", "problem-recognized", 2),
            deal("2", "problem-recognized", 3),
        ],
        vec![],
    );
    rows.deals[0].owner = "cat@example.com".into();
    rows.deals[1].owner = "Zed".into();
    assert_eq!(
        errors(w.plan(&rows)),
        [
            "Opportunity.csv:2: OwnerId: \"cat@example.com\" is not the e-mail of a user here: create the user, or map the e-mail in \"owners\"",
            "Opportunity.csv:3: OwnerId: \"Zed\" is mapped to zed@example.com, who is not a user here (create them first)",
        ]
    );
}

#[test]
fn create_users_builds_the_reporting_tree_managers_first() {
    let w = World::new(r#"{"create_users":true}"#);
    let person = |id: &str, manager: &str, line| SourceUser {
        at: Location::line("User.csv", line),
        external_id: id.into(),
        name: format!("Person {id}"),
        email: format!("{id}@example.com"),
        manager: manager.into(),
        active: true,
        role: String::new(),
        user_type: String::new(),
        profile: String::new(),
        created_at: None,
    };
    let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
    rows.deals[0].owner = "rep".into();
    rows.users = vec![
        person("rep", "mgr", 2),
        person("mgr", "vp", 3),
        person("vp", "", 4),
        person("solo", "", 5),
    ];
    let plan = w.plan(&rows).unwrap();
    let created: Vec<(&str, Role)> = plan
        .new_users
        .iter()
        .map(|u| (u.profile.email.as_str(), u.profile.role))
        .collect();
    assert_eq!(
        created,
        [
            ("vp@example.com", Role::Leader),
            ("solo@example.com", Role::Rep),
            ("mgr@example.com", Role::Manager),
            ("rep@example.com", Role::Rep),
        ]
    );
    let id = |email: &str| {
        plan.new_users
            .iter()
            .find(|u| u.profile.email == email)
            .unwrap()
            .id
    };
    assert_eq!(
        plan.new_users[3].profile.manager_id,
        Some(id("mgr@example.com"))
    );
    assert_eq!(
        plan.new_users[2].profile.manager_id,
        Some(id("vp@example.com"))
    );
    assert_eq!(plan.new_deals[0].fields.owner_id, id("rep@example.com"));
    assert_eq!(plan.user_links.len(), 4);
}

#[test]
fn a_reporting_loop_in_the_user_file_is_refused() {
    let w = World::new(r#"{"create_users":true}"#);
    let person = |id: &str, manager: &str, line| SourceUser {
        at: Location::line("User.csv", line),
        external_id: id.into(),
        name: format!("Person {id}"),
        email: format!("{id}@example.com"),
        manager: manager.into(),
        active: true,
        role: String::new(),
        user_type: String::new(),
        profile: String::new(),
        created_at: None,
    };
    let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
    rows.users = vec![person("a", "b", 2), person("b", "a", 3)];
    let found = errors(w.plan(&rows));
    assert_eq!(
        found,
        [
            "User.csv:2: ManagerId: closes a loop in the reporting tree",
            "User.csv:3: ManagerId: closes a loop in the reporting tree",
        ]
    );
}

#[test]
fn deals_of_other_source_pipelines_are_skipped_with_their_history() {
    let w = World::new(r#"{"source_pipelines":["Sales"]}"#);
    let mut other = deal("2", "problem-recognized", 3);
    other.source_pipeline = "Renewals".into();
    let mut sales = deal("1", "problem-recognized", 2);
    sales.source_pipeline = "sales".into();
    let plan = w
        .plan(&book(
            vec![sales, other],
            vec![change("2", "problem-recognized", "2026-01-10T09:00:00Z", 2)],
        ))
        .unwrap();
    assert_eq!(plan.new_deals.len(), 1);
    assert_eq!(plan.rows_skipped, 2);
}
