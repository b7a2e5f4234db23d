use super::*;
use crate::domain::deal::{Bant, Contact, ForecastCategory, QualificationItem};
use crate::domain::directory::{Role, UserId};
use crate::domain::money::{Currency, Money};
use crate::domain::pipeline::{BuyingRole, QualificationElement, Segment, Stage};
use crate::domain::templates;
use chrono::Utc;
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn empty_deal() -> DealFields {
    DealFields {
        display_name: "Acme".to_string().try_into().unwrap(),
        account: "Acme Corp".to_string().try_into().unwrap(),
        owner_id: UserId::generate(),
        amount: None,
        close_date: None,
        lead_source: None,
        next_step: String::new(),
        next_step_date: None,
        bant: Bant::default(),
        confirmed_budget: None,
        discount_bps: 0,
        forecast_category: ForecastCategory::Pipeline,
        contacts: vec![],
        qualification: vec![],
    }
}

fn contact(role: BuyingRole, department: &str) -> Contact {
    Contact {
        display_name: "Pat".into(),
        email: String::new(),
        title: String::new(),
        buying_role: role,
        department: department.into(),
    }
}

#[test]
fn a_forward_move_lists_every_unmet_criterion_of_every_stage_it_leaves() {
    let pipeline = templates::mid_market();
    let plan = plan_move(
        &pipeline,
        Some("problem-recognized"),
        "business-case-built",
        &empty_deal(),
        today(),
        ApprovalFacts::NONE,
    )
    .unwrap();
    assert_eq!(plan.direction, Direction::Forward);
    let unmet: Vec<(&str, String)> = plan
        .unmet()
        .map(|c| (c.stage_id.as_str(), c.criterion.description()))
        .collect();
    assert_eq!(
        unmet,
        [
            ("problem-recognized", "Next step is set".to_string()),
            ("problem-recognized", "Lead source is set".to_string()),
            ("problem-recognized", "Need (BANT) is set".to_string()),
            (
                "solution-exploring",
                "Amount is greater than zero".to_string()
            ),
            (
                "solution-exploring",
                "Close date is today or later".to_string()
            ),
            (
                "solution-exploring",
                "A champion is among the contacts".to_string()
            ),
            (
                "solution-exploring",
                "Qualification: identified pain is at least yellow".to_string()
            ),
        ]
    );
}

#[test]
fn backward_moves_and_closing_lost_are_not_gated() {
    let pipeline = templates::enterprise();
    let back = plan_move(
        &pipeline,
        Some("decision-pending"),
        "problem-recognized",
        &empty_deal(),
        today(),
        ApprovalFacts::NONE,
    )
    .unwrap();
    assert_eq!(back.direction, Direction::Backward);
    assert!(back.allowed() && back.checks.is_empty());
    let lost = plan_move(
        &pipeline,
        Some("problem-recognized"),
        "closed-lost",
        &empty_deal(),
        today(),
        ApprovalFacts::NONE,
    )
    .unwrap();
    assert!(lost.allowed());
}

#[test]
fn closing_won_checks_every_remaining_open_stage() {
    let pipeline = templates::smb();
    let plan = plan_move(
        &pipeline,
        Some("solution-exploring"),
        "closed-won",
        &empty_deal(),
        today(),
        ApprovalFacts::NONE,
    )
    .unwrap();
    let stages: Vec<&str> = plan.checks.iter().map(|c| c.stage_id.as_str()).collect();
    assert_eq!(
        stages,
        [
            "solution-exploring",
            "solution-exploring",
            "solution-exploring",
            "decision-pending",
            "decision-pending",
            "decision-pending"
        ]
    );
}

#[test]
fn creating_in_a_later_stage_is_gated_by_every_stage_before_it() {
    let pipeline = templates::smb();
    let plan = plan_move(
        &pipeline,
        None,
        "solution-exploring",
        &empty_deal(),
        today(),
        ApprovalFacts::NONE,
    )
    .unwrap();
    assert_eq!(
        plan.unmet().count(),
        2,
        "the two criteria of problem-recognized"
    );
    let first = plan_move(
        &pipeline,
        None,
        "problem-recognized",
        &empty_deal(),
        today(),
        ApprovalFacts::NONE,
    )
    .unwrap();
    assert!(first.allowed());
}

#[test]
fn unknown_stages_have_no_plan() {
    let pipeline = templates::smb();
    assert!(
        plan_move(
            &pipeline,
            Some("nope"),
            "closed-won",
            &empty_deal(),
            today(),
            ApprovalFacts::NONE
        )
        .is_none()
    );
    assert!(
        plan_move(
            &pipeline,
            None,
            "nope",
            &empty_deal(),
            today(),
            ApprovalFacts::NONE
        )
        .is_none()
    );
}

#[test]
fn criteria_hold_exactly_when_the_evidence_is_there() {
    let mut deal = empty_deal();
    let usd = Currency::parse("USD").unwrap();
    let none = ApprovalFacts::NONE;
    assert!(!holds(&ExitCriterion::AmountPositive, &deal, today(), none));
    deal.amount = Some(Money {
        minor: 100,
        currency: usd,
    });
    assert!(holds(&ExitCriterion::AmountPositive, &deal, today(), none));
    deal.close_date = today().pred_opt();
    assert!(!holds(
        &ExitCriterion::CloseDateInFuture,
        &deal,
        today(),
        none
    ));
    deal.close_date = Some(today());
    assert!(holds(
        &ExitCriterion::CloseDateInFuture,
        &deal,
        today(),
        none
    ));
    deal.contacts = vec![
        contact(BuyingRole::Champion, "IT"),
        contact(BuyingRole::Technical, "it"),
    ];
    assert!(
        !holds(&ExitCriterion::DepartmentsEngaged(2), &deal, today(), none),
        "departments compare case-insensitively"
    );
    deal.contacts
        .push(contact(BuyingRole::EconomicBuyer, "Finance"));
    assert!(holds(
        &ExitCriterion::DepartmentsEngaged(2),
        &deal,
        today(),
        none
    ));
    assert!(holds(
        &ExitCriterion::ContactWithRole(BuyingRole::EconomicBuyer),
        &deal,
        today(),
        none
    ));
    let green = ExitCriterion::QualificationAtLeast {
        element: QualificationElement::Champion,
        min_status: QualificationStatus::Green,
    };
    let yellow = ExitCriterion::QualificationAtLeast {
        element: QualificationElement::Champion,
        min_status: QualificationStatus::Yellow,
    };
    deal.qualification = vec![QualificationItem {
        element: QualificationElement::Champion,
        status: QualificationStatus::Yellow,
        set_by: None,
        set_at: Utc::now(),
    }];
    assert!(holds(&yellow, &deal, today(), none) && !holds(&green, &deal, today(), none));
    assert!(!holds(
        &ExitCriterion::NoPendingApproval,
        &deal,
        today(),
        ApprovalFacts {
            pending: true,
            discount_covered: true
        }
    ));
    assert!(!holds(
        &ExitCriterion::DiscountCovered,
        &deal,
        today(),
        ApprovalFacts {
            pending: false,
            discount_covered: false
        }
    ));
}

/// A small pipeline of `open` stages whose criteria come from `pool` by `picks`.
fn pipeline_from(open: usize, picks: &[Vec<usize>]) -> PipelineSpec {
    let pool = criteria_pool();
    let mut stages: Vec<Stage> = (0..open)
        .map(|i| Stage {
            stage_id: format!("s{i}"),
            display_name: format!("S{i}"),
            buyer_evidence: String::new(),
            owner_role: Role::Rep,
            default_probability_bps: 1000,
            stale_after_days: None,
            kind: StageKind::Open,
            position: i as i32 * 10,
            exit_criteria: {
                let mut chosen: Vec<ExitCriterion> =
                    picks[i].iter().map(|p| pool[p % pool.len()]).collect();
                chosen.dedup();
                chosen
            },
        })
        .collect();
    for (id, kind, position) in [
        ("won", StageKind::Won, 1000),
        ("lost", StageKind::Lost, 1001),
    ] {
        stages.push(Stage {
            stage_id: id.into(),
            display_name: id.into(),
            buyer_evidence: String::new(),
            owner_role: Role::Rep,
            default_probability_bps: if kind == StageKind::Won { 10_000 } else { 0 },
            stale_after_days: None,
            kind,
            position,
            exit_criteria: vec![],
        });
    }
    PipelineSpec {
        display_name: "P".into(),
        segment: Segment::Smb,
        stages,
    }
}

fn criteria_pool() -> Vec<ExitCriterion> {
    vec![
        ExitCriterion::AmountPositive,
        ExitCriterion::CloseDateInFuture,
        ExitCriterion::FieldSet(DealField::NextStep),
        ExitCriterion::ContactWithRole(BuyingRole::EconomicBuyer),
        ExitCriterion::DepartmentsEngaged(2),
        ExitCriterion::QualificationAtLeast {
            element: QualificationElement::Metrics,
            min_status: QualificationStatus::Yellow,
        },
        ExitCriterion::NoPendingApproval,
        ExitCriterion::DiscountCovered,
    ]
}

fn deal_from(flags: [bool; 6]) -> DealFields {
    let mut deal = empty_deal();
    if flags[0] {
        deal.amount = Some(Money {
            minor: 5,
            currency: Currency::parse("EUR").unwrap(),
        });
    }
    if flags[1] {
        deal.close_date = Some(today());
    }
    if flags[2] {
        deal.next_step = "demo".into();
    }
    if flags[3] {
        deal.contacts
            .push(contact(BuyingRole::EconomicBuyer, "Finance"));
    }
    if flags[4] {
        deal.contacts.push(contact(BuyingRole::Technical, "IT"));
    }
    if flags[5] {
        deal.qualification.push(QualificationItem {
            element: QualificationElement::Metrics,
            status: QualificationStatus::Green,
            set_by: None,
            set_at: Utc::now(),
        });
    }
    deal
}

proptest! {
    /// For random pipelines and deals, a forward move is allowed exactly when every
    /// criterion of every stage from the current one up to (not including) the target
    /// holds: skipping stages never skips their gates.
    #[test]
    fn a_forward_move_succeeds_exactly_when_every_criterion_on_the_path_holds(
        open in 2usize..7,
        picks in proptest::collection::vec(proptest::collection::vec(0usize..7, 0..4), 7),
        flags in any::<[bool; 6]>(),
        pending in any::<bool>(),
        from in 0usize..7,
        to in 0usize..8,
    ) {
        let pipeline = pipeline_from(open, &picks);
        let deal = deal_from(flags);
        let approvals = ApprovalFacts { pending, discount_covered: true };
        let from = from % open;
        let to = to % (open + 1); // `open` means the won stage
        prop_assume!(to > from);
        let target = if to == open { "won".to_string() } else { format!("s{to}") };
        let plan = plan_move(&pipeline, Some(&format!("s{from}")), &target, &deal, today(), approvals).unwrap();
        let expected = (from..to).all(|i| {
            pipeline.stages[i].exit_criteria.iter().all(|c| holds(c, &deal, today(), approvals))
        });
        prop_assert_eq!(plan.direction, Direction::Forward);
        prop_assert_eq!(plan.allowed(), expected);
        let gated_stages: usize = (from..to).map(|i| pipeline.stages[i].exit_criteria.len()).sum();
        prop_assert_eq!(plan.checks.len(), gated_stages);
    }

    /// A move whose path holds no approval criterion plans the same whatever the deal
    /// desk's facts (so the app skips reading them); one whose path holds one is told so.
    #[test]
    fn approval_facts_matter_only_to_moves_that_need_them(
        open in 2usize..7,
        picks in proptest::collection::vec(proptest::collection::vec(0usize..8, 0..4), 7),
        flags in any::<[bool; 6]>(),
        facts in any::<[bool; 4]>(),
        from in 0usize..7,
        to in 0usize..9,
    ) {
        let pipeline = pipeline_from(open, &picks);
        let deal = deal_from(flags);
        let from = format!("s{}", from % open);
        let to = match to % (open + 2) {
            t if t == open => "won".to_string(),
            t if t == open + 1 => "lost".to_string(),
            t => format!("s{t}"),
        };
        let plan = |approvals| plan_move(&pipeline, Some(&from), &to, &deal, today(), approvals).unwrap();
        let a = ApprovalFacts { pending: facts[0], discount_covered: facts[1] };
        let b = ApprovalFacts { pending: facts[2], discount_covered: facts[3] };
        let on_path = plan(a).checks.iter().any(|c| matches!(
            c.criterion,
            ExitCriterion::NoPendingApproval | ExitCriterion::DiscountCovered
        ));
        prop_assert_eq!(move_needs_approvals(&pipeline, Some(&from), &to), on_path);
        if !on_path {
            prop_assert_eq!(plan(a), plan(b));
        }
    }
}

#[test]
fn a_preview_passes_when_every_check_is_met_and_is_blocked_by_any_unmet_one() {
    let check = |met| Check {
        stage_id: "qualify".into(),
        criterion: ExitCriterion::AmountPositive,
        met,
    };
    let plan = |direction, checks| MovePlan { direction, checks };
    assert_eq!(
        plan(Direction::Forward, vec![check(true)]).verdict(),
        Verdict::Passes
    );
    assert_eq!(plan(Direction::Backward, vec![]).verdict(), Verdict::Passes);
    let blocked = plan(Direction::Forward, vec![check(true), check(false)]);
    assert_eq!(blocked.verdict(), Verdict::Blocked);
    assert_eq!(blocked.unmet().collect::<Vec<_>>(), vec![&check(false)]);
    assert_eq!(
        plan(Direction::None, vec![]).verdict(),
        Verdict::AlreadyInStage
    );
}
