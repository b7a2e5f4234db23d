//! How the planner reads what the exports leave implicit: rows of one instant, a missing
//! creation time, owners named by display name, amounts with too many decimals.

use super::*;

fn display_named(name: &str, email: &str) -> User {
    let mut u = user(email, Role::Rep);
    u.profile.display_name = name.to_string().try_into().unwrap();
    u
}

fn stored_history(plan: &ImportPlan) -> Vec<(Option<&str>, &str, HistoryDirection, DateTime<Utc>)> {
    plan.history
        .iter()
        .map(|h| {
            (
                h.from_stage.as_deref(),
                h.to_stage.as_str(),
                h.direction,
                h.at,
            )
        })
        .collect()
}

#[test]
fn rows_of_one_instant_follow_the_stage_order_not_the_file_order() {
    let w = World::new(MAPPING);
    // Created and qualified in the same second, then proposed and won in the same second:
    // the file lists each pair backwards.
    let plan = w
        .plan(&book(
            vec![deal("006A", "Closed Won", 2)],
            vec![
                change("006A", "Qualification", "2026-01-10T09:00:00Z", 2),
                change("006A", "Prospecting", "2026-01-10T09:00:00Z", 3),
                change("006A", "Closed Won", "2026-03-01T10:00:00Z", 4),
                change("006A", "Proposal", "2026-03-01T10:00:00Z", 5),
            ],
        ))
        .unwrap();
    assert_eq!(
        moves(&plan),
        [
            (None, "problem-recognized", Create),
            (Some("problem-recognized"), "solution-exploring", Forward),
            (Some("solution-exploring"), "decision-pending", Forward),
            (Some("decision-pending"), "closed-won", Close),
        ]
    );
}

#[test]
fn a_reversed_history_file_plans_the_same_as_the_original() {
    let w = World::new(MAPPING);
    let rows = vec![
        change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2),
        change("006A", "Qualification", "2026-01-10T09:00:00Z", 3),
        change("006A", "Proposal", "2026-02-01T00:00:00Z", 4),
        change("006A", "Qualification", "2026-02-15T00:00:00Z", 5),
        change("006A", "Proposal", "2026-03-01T10:00:00Z", 6),
        change("006A", "Closed Lost", "2026-03-01T10:00:00Z", 7),
        change("006B", "Prospecting", "2026-01-10T09:00:00Z", 8),
        change("006B", "Proposal", "2026-01-10T09:00:00Z", 9),
    ];
    let deals = || vec![deal("006A", "Closed Lost", 2), deal("006B", "Proposal", 3)];
    let original = w.plan(&book(deals(), rows.clone())).unwrap();
    let reversed = w
        .plan(&book(deals(), rows.into_iter().rev().collect()))
        .unwrap();
    assert_eq!(stored_history(&original), stored_history(&reversed));
    assert_eq!(original.fields.len(), reversed.fields.len());
    let fields = |p: &ImportPlan| -> Vec<String> {
        p.fields
            .iter()
            .map(|f| format!("{:?} {:?} {:?} {}", f.field, f.old, f.new, f.at))
            .collect()
    };
    assert_eq!(fields(&original), fields(&reversed));
    assert_eq!(
        moves(&original)[..2],
        [
            (None, "problem-recognized", Create),
            (Some("problem-recognized"), "solution-exploring", Forward),
        ]
    );
}

#[test]
fn a_deal_without_a_creation_time_was_created_at_its_first_history_row() {
    let w = World::new(MAPPING);
    let mut d = deal("G-1", "Qualification", 2);
    d.created_at = None;
    let plan = w
        .plan(&book(
            vec![d],
            vec![
                change("G-1", "Qualification", "2026-02-01T00:00:00Z", 3),
                change("G-1", "Prospecting", "2026-01-20T08:00:00Z", 2),
            ],
        ))
        .unwrap();
    assert_eq!(plan.new_deals[0].created_at, t("2026-01-20T08:00:00Z"));
}

#[test]
fn without_history_a_deal_was_created_at_the_start_of_its_close_date_in_the_orgs_zone() {
    let mut w = World::new(MAPPING);
    w.zone = chrono_tz::Tz::America__Chicago;
    let mut won = deal("G-1", "Closed Won", 2);
    won.created_at = None;
    won.close_date = Some("2026-03-15".parse().unwrap());
    let mut open = deal("G-2", "Prospecting", 3);
    open.created_at = None;
    open.close_date = None;
    let plan = w.plan(&book(vec![won, open], vec![])).unwrap();
    // Chicago is UTC-5 on 15 March 2026 (daylight saving time began on the 8th).
    assert_eq!(plan.new_deals[0].created_at, t("2026-03-15T05:00:00Z"));
    assert_eq!(
        plan.new_deals[1].created_at,
        t("2026-11-22T12:00:00Z"),
        "nothing says when: the import's time"
    );
}

#[test]
fn owners_are_found_by_a_unique_display_name() {
    let mut w = World::new(MAPPING);
    let cara = display_named("Cara Cruz", "cara@example.com");
    w.users.push(cara.clone());
    let mut d = deal("1", "Prospecting", 2);
    d.owner = " cara cruz".into();
    let plan = w.plan(&book(vec![d], vec![])).unwrap();
    assert_eq!(plan.new_deals[0].fields.owner_id, cara.id);
}

#[test]
fn a_display_name_several_users_share_is_a_bad_row_naming_them() {
    let mut w = World::new(MAPPING);
    w.users
        .push(display_named("Sam Lee", "sam.lee@example.com"));
    w.users
        .push(display_named("Sam Lee", "samuel.lee@example.com"));
    let mut d = deal("1", "Prospecting", 2);
    d.owner = "Sam Lee".into();
    assert_eq!(
        errors(w.plan(&book(vec![d], vec![]))),
        [
            "Opportunity.csv:2: OwnerId: \"Sam Lee\" is the display name of 2 users (sam.lee@example.com, samuel.lee@example.com): map it to one of them in \"owners\""
        ]
    );
}

#[test]
fn an_amount_with_more_decimals_than_its_currency_is_refused_or_rounded_half_up() {
    let mut d = deal("1", "problem-recognized", 2);
    d.currency = Some("PEN".into());
    d.amount = Some(Amount::parse("1520.125").unwrap());
    let refused = World::new(MAPPING);
    assert_eq!(
        errors(refused.plan(&book(vec![d.clone()], vec![]))),
        [
            "Opportunity.csv:2: Amount: \"1520.125\" has more decimals than PEN has (2): round it in the export, or set \"round_amounts\": true in the mapping"
        ]
    );
    let rounding = World::new(r#"{"round_amounts":true}"#);
    let plan = rounding.plan(&book(vec![d], vec![])).unwrap();
    assert_eq!(plan.new_deals[0].fields.amount.unwrap().minor, 152_013);
}
