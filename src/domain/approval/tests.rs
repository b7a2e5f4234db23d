#![allow(clippy::inconsistent_digit_grouping)] // amounts read as dollars_cents
use super::*;
use crate::domain::money::{Currency, usd};
use proptest::prelude::*;

fn step(name: &str, approvers: Vec<Approver>) -> StepSpec {
    StepSpec {
        name: name.into(),
        approvers,
        mode: Mode::All,
        sla_hours: 24,
    }
}

/// Mid-market: 15% pre-approved; to 25% the manager; to 40% adds the VP; beyond, the CFO.
fn policy() -> Policy {
    Policy {
        segment: Segment::MidMarket,
        tiers: vec![
            DiscountTier {
                ceiling_bps: 1500,
                steps: vec![],
            },
            DiscountTier {
                ceiling_bps: 2500,
                steps: vec![step("Sales manager", vec![Approver::OwnersManager])],
            },
            DiscountTier {
                ceiling_bps: 4000,
                steps: vec![step("VP of Sales", vec![Approver::LeaderAboveOwner])],
            },
            DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![step("CFO", vec![Approver::Queue(Role::Finance)])],
            },
        ],
        size_thresholds: vec![SizeThreshold {
            above: usd(100_000_00),
            step: step("Finance", vec![Approver::Queue(Role::Finance)]),
        }],
        playbook: vec!["MUTUAL_NDA".into(), "NET_45".into()],
        legal_step: step("Legal review", vec![Approver::Queue(Role::Legal)]),
        payment_days_limit: 45,
        finance_step: step("Finance", vec![Approver::Queue(Role::Finance)]),
    }
}

fn names(route: &Route) -> Vec<&str> {
    route.steps.iter().map(|s| s.step.name.as_str()).collect()
}

fn terms(discount_bps: u32) -> Terms {
    Terms {
        discount_bps,
        ..Terms::default()
    }
}

#[test]
fn each_tier_boundary_is_approved_at_and_escalated_just_above() {
    let p = policy();
    let cases: [(u32, &[&str]); 7] = [
        (0, &[]),
        (1500, &[]),
        (1501, &["Sales manager"]),
        (2500, &["Sales manager"]),
        (2501, &["Sales manager", "VP of Sales"]),
        (4000, &["Sales manager", "VP of Sales"]),
        (4001, &["Sales manager", "VP of Sales", "CFO"]),
    ];
    for (bps, expected) in cases {
        let r = route(&p, Some(usd(1_000_00)), &terms(bps));
        assert_eq!(names(&r), expected, "{bps} bps");
        assert_eq!(r.auto_approved(), expected.is_empty());
    }
}

#[test]
fn reasons_say_what_exceeded_what() {
    let r = route(&policy(), None, &terms(2200));
    assert_eq!(
        r.steps[0].reasons,
        ["discount 22.0% exceeds the 15.0% pre-approved for mid-market: Sales manager"]
    );
    let r = route(&policy(), None, &terms(3000));
    assert_eq!(
        r.steps[1].reasons,
        ["discount 30.0% exceeds 25.0%: VP of Sales"]
    );
}

#[test]
fn a_deal_above_the_size_threshold_adds_finance_and_one_at_it_does_not() {
    assert_eq!(
        names(&route(&policy(), Some(usd(100_000_00)), &terms(0))),
        Vec::<&str>::new()
    );
    let r = route(&policy(), Some(usd(100_000_01)), &terms(0));
    assert_eq!(names(&r), ["Finance"]);
    assert_eq!(
        r.steps[0].reasons,
        ["deal size 100000.01 USD exceeds 100000.00 USD: Finance"]
    );
    let euro = Money {
        minor: 1,
        currency: Currency::EUR,
    };
    assert_eq!(
        names(&route(&policy(), Some(euro), &terms(0))),
        ["Finance"],
        "incomparable currency: ask"
    );
}

#[test]
fn playbook_clauses_stay_pre_approved_and_others_go_to_legal() {
    let playbook = Terms {
        clauses: vec!["MUTUAL_NDA".into()],
        ..Terms::default()
    };
    assert!(route(&policy(), None, &playbook).auto_approved());
    let other = Terms {
        clauses: vec!["MUTUAL_NDA".into(), "UNCAPPED_LIABILITY".into()],
        ..Terms::default()
    };
    let r = route(&policy(), None, &other);
    assert_eq!(names(&r), ["Legal review"]);
    assert_eq!(
        r.steps[0].reasons,
        ["clauses outside the legal playbook (UNCAPPED_LIABILITY): Legal review"]
    );
    let free = Terms {
        non_standard: "Most-favoured-nation pricing".into(),
        ..Terms::default()
    };
    assert_eq!(names(&route(&policy(), None, &free)), ["Legal review"]);
}

#[test]
fn long_payment_terms_go_to_finance_merged_with_a_size_step() {
    let t = Terms {
        payment_days: 60,
        ..Terms::default()
    };
    let r = route(&policy(), Some(usd(200_000_00)), &t);
    assert_eq!(names(&r), ["Finance"], "one Finance step with two reasons");
    assert_eq!(r.steps[0].reasons.len(), 2);
    assert!(
        route(
            &policy(),
            None,
            &Terms {
                payment_days: 45,
                ..Terms::default()
            }
        )
        .auto_approved()
    );
}

#[test]
fn invalid_policies_report_every_problem() {
    let mut p = policy();
    p.tiers[0].steps = vec![step("Nobody", vec![])];
    p.tiers[2].ceiling_bps = 2000;
    p.tiers[3].ceiling_bps = 9000;
    p.tiers[1].steps[0]
        .approvers
        .push(Approver::Queue(Role::Rep));
    p.legal_step.sla_hours = 0;
    let fields: Vec<String> = check_policy(&p)
        .unwrap_err()
        .0
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        [
            "tiers[0].steps",
            "tiers[0].steps[0].approvers",
            "tiers[1].steps[0].approvers[1]",
            "tiers[2].ceiling_bps",
            "tiers[3].ceiling_bps",
            "legal_step.sla_hours",
        ]
    );
    assert!(check_policy(&policy()).is_ok());
}

#[test]
fn requested_clauses_must_be_clause_codes() {
    let mut t = terms(0);
    t.clauses = vec!["MUTUAL_NDA".into(), "del\u{7f}".into(), "X".repeat(65)];
    let fields: Vec<String> = check_terms(&policy(), &t)
        .unwrap_err()
        .0
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["clauses[1]", "clauses[2]"]);
}

#[test]
fn terms_above_the_last_ceiling_are_refused() {
    let mut p = policy();
    p.tiers.last_mut().unwrap().ceiling_bps = 5000;
    assert_eq!(
        check_terms(&p, &terms(5001)).unwrap_err().0[0].field,
        "discount_bps"
    );
    assert!(check_terms(&p, &terms(5000)).is_ok());
}

#[test]
fn smart_reapproval_keeps_what_still_covers_and_reasks_what_got_riskier() {
    let p = policy();
    let first = Terms {
        discount_bps: 3000,
        payment_days: 30,
        ..Terms::default()
    };
    let approved: Vec<Approved> = route(&p, Some(usd(50_000_00)), &first)
        .steps
        .iter()
        .map(|s| Approved {
            name: s.step.name.clone(),
            terms: first.clone(),
            amount: Some(usd(50_000_00)),
        })
        .collect();
    // Lower discount: both steps kept.
    let lower = Terms {
        discount_bps: 2800,
        ..first.clone()
    };
    let again = reapprove(&route(&p, Some(usd(50_000_00)), &lower), &lower, &approved);
    assert!(again.iter().all(|r| r.kept), "{again:?}");
    // Higher discount past the VP's tier: the manager and VP re-asked, the CFO is new.
    let higher = Terms {
        discount_bps: 4500,
        ..first.clone()
    };
    let again = reapprove(
        &route(&p, Some(usd(50_000_00)), &higher),
        &higher,
        &approved,
    );
    let kept: Vec<(&str, bool)> = again
        .iter()
        .map(|r| (r.step.step.name.as_str(), r.kept))
        .collect();
    assert_eq!(
        kept,
        [
            ("Sales manager", false),
            ("VP of Sales", false),
            ("CFO", false)
        ]
    );
    assert_eq!(
        again[0].why,
        "asked again: discount rose from 30.0% to 45.0%"
    );
    assert_eq!(again[2].why, "not approved before");
    // A new clause adds legal without touching the discount steps.
    let clause = Terms {
        clauses: vec!["UNCAPPED_LIABILITY".into()],
        ..first.clone()
    };
    let again = reapprove(
        &route(&p, Some(usd(50_000_00)), &clause),
        &clause,
        &approved,
    );
    let kept: Vec<(&str, bool)> = again
        .iter()
        .map(|r| (r.step.step.name.as_str(), r.kept))
        .collect();
    assert_eq!(
        kept,
        [
            ("Sales manager", true),
            ("VP of Sales", true),
            ("Legal review", false)
        ]
    );
}

proptest! {
    /// A bigger discount never needs fewer steps, and a discount at or under the
    /// pre-approved ceiling never needs any (without size, terms or payment).
    #[test]
    fn routes_grow_with_the_discount(a in 0u32..=10_000, b in 0u32..=10_000) {
        let p = policy();
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let (small, large) = (route(&p, None, &terms(low)), route(&p, None, &terms(high)));
        prop_assert!(small.steps.len() <= large.steps.len());
        prop_assert!(names(&small).iter().all(|n| names(&large).contains(n)));
        prop_assert_eq!(route(&p, None, &terms(low.min(1500))).auto_approved(), true);
    }
}
