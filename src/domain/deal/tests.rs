use super::*;
use crate::domain::Violations;
use crate::domain::directory::Role;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn draft(owner: UserId) -> DealDraft {
    DealDraft {
        display_name: "Acme - 500 seats".into(),
        account: "Acme".into(),
        owner_id: owner,
        amount: Some((5_000_000, "USD".into())),
        close_date: Some(today()),
        lead_source: Some(LeadSource::Inbound),
        next_step: "Demo".into(),
        next_step_date: None,
        bant: Bant::default(),
        confirmed_budget: None,
        discount_bps: 0,
        forecast_category: None,
        contacts: vec![],
        qualification: vec![],
    }
}

#[test]
fn a_discount_is_between_0_and_10000_basis_points() {
    let owner = UserId::generate();
    for (bps, ok) in [(0, true), (10_000, true), (-1, false), (10_001, false)] {
        let mut d = draft(owner);
        d.discount_bps = bps;
        match create(d) {
            Ok(fields) => {
                assert!(ok, "{bps} accepted");
                assert_eq!(i64::from(fields.discount_bps), i64::from(bps));
            }
            Err(v) => {
                assert!(!ok, "{bps} refused");
                assert_eq!(v.0[0].field, "discount_bps");
            }
        }
    }
}

fn create(d: DealDraft) -> Result<DealFields, Violations> {
    merge_fields(None, d, DealMask::all(), today(), None, Utc::now())
}

fn fields(v: &Violations) -> Vec<&str> {
    v.0.iter().map(|v| v.field.as_str()).collect()
}

#[test]
fn a_new_deal_defaults_to_the_pipeline_category() {
    let deal = create(draft(UserId::generate())).unwrap();
    assert_eq!(deal.forecast_category, ForecastCategory::Pipeline);
    assert_eq!(deal.currency().unwrap().code(), "USD");
}

#[test]
fn bad_values_are_each_reported() {
    let mut d = draft(UserId::generate());
    d.display_name = String::new();
    d.amount = Some((-1, "usd".into()));
    d.close_date = today().pred_opt();
    d.forecast_category = Some(ForecastCategory::Closed);
    d.contacts = vec![ContactDraft::default()];
    d.qualification = vec![QualificationDraft {
        element: None,
        status: Some(QualificationStatus::Red),
    }];
    let err = create(d).unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "display_name",
            "amount.currency_code",
            "amount.amount_minor",
            "close_date",
            "forecast_category",
            "contacts[0].display_name",
            "contacts[0].department",
            "contacts[0].buying_role",
            "qualification[0].element",
        ]
    );
}

#[test]
fn the_confirmed_budget_must_be_in_the_deals_currency() {
    let mut d = draft(UserId::generate());
    d.confirmed_budget = Some((100, "EUR".into()));
    assert_eq!(
        fields(&create(d).unwrap_err()),
        ["confirmed_budget.currency_code"]
    );
}

#[test]
fn a_past_close_date_is_only_checked_when_it_is_set() {
    let mut current = create(draft(UserId::generate())).unwrap();
    current.close_date = today().pred_opt();
    let mut d = draft(current.owner_id);
    d.next_step = "Send proposal".into();
    let mask = DealMask {
        next_step: true,
        ..Default::default()
    };
    let merged = merge_fields(Some(&current), d.clone(), mask, today(), None, Utc::now()).unwrap();
    assert_eq!(merged.next_step, "Send proposal");
    d.close_date = today().pred_opt();
    let mask = DealMask {
        close_date: true,
        ..Default::default()
    };
    assert!(merge_fields(Some(&current), d, mask, today(), None, Utc::now()).is_err());
}

#[test]
fn changed_qualification_items_are_stamped_with_the_actor() {
    let current = create(draft(UserId::generate())).unwrap();
    let actor = UserId::generate();
    let mut d = draft(current.owner_id);
    d.qualification = vec![QualificationDraft {
        element: Some(QualificationElement::Champion),
        status: Some(QualificationStatus::Yellow),
    }];
    let mask = DealMask {
        qualification: true,
        ..Default::default()
    };
    let merged = merge_fields(
        Some(&current),
        d.clone(),
        mask,
        today(),
        Some(actor),
        Utc::now(),
    )
    .unwrap();
    assert_eq!(merged.qualification[0].set_by, Some(actor));
    let again = merge_fields(
        Some(&merged),
        d,
        mask,
        today(),
        Some(UserId::generate()),
        Utc::now(),
    )
    .unwrap();
    assert_eq!(
        again.qualification[0].set_by,
        Some(actor),
        "unchanged items keep their stamp"
    );
}

#[test]
fn reps_see_only_their_own_deals_and_managers_their_subtree() {
    let (rep, other, manager, leader) = (
        UserId::generate(),
        UserId::generate(),
        UserId::generate(),
        UserId::generate(),
    );
    let chain = [manager, leader];
    assert_eq!(
        access(rep, Role::Rep, rep, &chain),
        Access::Write { leader: false }
    );
    assert_eq!(access(other, Role::Rep, rep, &chain), Access::None);
    assert_eq!(
        access(manager, Role::Manager, rep, &chain),
        Access::Write { leader: true }
    );
    assert_eq!(
        access(leader, Role::Leader, rep, &chain),
        Access::Write { leader: true }
    );
    assert_eq!(access(other, Role::Manager, rep, &chain), Access::None);
    assert_eq!(
        access(manager, Role::Manager, manager, &[leader]),
        Access::Write { leader: false }
    );
    for role in [Role::DealDesk, Role::Finance, Role::Legal] {
        assert_eq!(access(other, role, rep, &chain), Access::Read);
    }
    assert_eq!(
        access(other, Role::Admin, rep, &chain),
        Access::Write { leader: false }
    );
}

#[test]
fn commit_is_leader_owned_both_ways() {
    let pipeline = create(draft(UserId::generate())).unwrap();
    let commit = DealFields {
        forecast_category: ForecastCategory::Commit,
        ..pipeline.clone()
    };
    let best = DealFields {
        forecast_category: ForecastCategory::BestCase,
        ..pipeline.clone()
    };
    assert!(check_leader_owned(Some(&pipeline), &best, false).is_ok());
    assert_eq!(
        check_leader_owned(Some(&pipeline), &commit, false)
            .unwrap_err()
            .reason,
        "COMMIT_REQUIRES_MANAGER"
    );
    assert_eq!(
        check_leader_owned(Some(&commit), &best, false)
            .unwrap_err()
            .reason,
        "COMMIT_REQUIRES_MANAGER"
    );
    assert!(
        check_leader_owned(Some(&commit), &commit, false).is_ok(),
        "no change, no refusal"
    );
    assert!(check_leader_owned(Some(&pipeline), &commit, true).is_ok());
    assert!(check_leader_owned(None, &commit, false).is_err());
}

#[test]
fn green_is_leader_owned_both_ways() {
    let base = create(draft(UserId::generate())).unwrap();
    let item = |status| QualificationItem {
        element: QualificationElement::Metrics,
        status,
        set_by: None,
        set_at: Utc::now(),
    };
    let yellow = DealFields {
        qualification: vec![item(QualificationStatus::Yellow)],
        ..base.clone()
    };
    let green = DealFields {
        qualification: vec![item(QualificationStatus::Green)],
        ..base.clone()
    };
    assert!(check_leader_owned(Some(&base), &yellow, false).is_ok());
    assert_eq!(
        check_leader_owned(Some(&yellow), &green, false)
            .unwrap_err()
            .reason,
        "GREEN_REQUIRES_MANAGER"
    );
    assert_eq!(
        check_leader_owned(Some(&green), &yellow, false)
            .unwrap_err()
            .reason,
        "GREEN_REQUIRES_MANAGER"
    );
    assert!(
        check_leader_owned(Some(&green), &base, false).is_err(),
        "clearing green"
    );
    assert!(check_leader_owned(Some(&yellow), &green, true).is_ok());
}
