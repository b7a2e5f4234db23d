use super::*;
use crate::domain::approval::{DiscountTier, Mode, Policy, Route, SizeThreshold, route};
use crate::domain::ids::DelegationId;
use crate::domain::money::usd;
use chrono::TimeZone;
use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use uuid::Uuid;

fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(n))
}

const REP: u128 = 1;
const MANAGER: u128 = 2;
const VP: u128 = 3;
const LEGAL: u128 = 4;
const OTHER_LEGAL: u128 = 5;
const DELEGATE: u128 = 6;

fn step(name: &str, approvers: Vec<Approver>, mode: Mode) -> StepSpec {
    StepSpec {
        name: name.into(),
        approvers,
        mode,
        sla_hours: 24,
    }
}

fn policy(legal_mode: Mode) -> Policy {
    Policy {
        segment: Segment::MidMarket,
        tiers: vec![
            DiscountTier {
                ceiling_bps: 1500,
                steps: vec![],
            },
            DiscountTier {
                ceiling_bps: 2500,
                steps: vec![step(
                    "Sales manager",
                    vec![Approver::OwnersManager],
                    Mode::All,
                )],
            },
            DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![step(
                    "VP of Sales",
                    vec![Approver::LeaderAboveOwner],
                    Mode::All,
                )],
            },
        ],
        size_thresholds: vec![SizeThreshold {
            above: usd(10_000_000),
            step: step("Finance", vec![Approver::Queue(Role::Finance)], Mode::All),
        }],
        playbook: vec!["MUTUAL_NDA".into()],
        legal_step: step(
            "Legal review",
            vec![Approver::Queue(Role::Legal), Approver::OwnersManager],
            legal_mode,
        ),
        payment_days_limit: 45,
        finance_step: step("Finance", vec![Approver::Queue(Role::Finance)], Mode::All),
    }
}

fn t(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, hour, 0, 0).unwrap()
}

fn seats_for(route: &Route) -> Vec<Vec<Seat>> {
    route
        .steps
        .iter()
        .map(|s| {
            s.step
                .approvers
                .iter()
                .map(|a| match a {
                    Approver::OwnersManager => Seat::person(*a, user(MANAGER)),
                    Approver::LeaderAboveOwner => Seat::person(*a, user(VP)),
                    Approver::Queue(role) => Seat::queue(*role),
                })
                .collect()
        })
        .collect()
}

fn submit_with(
    terms: Terms,
    amount: i64,
    legal_mode: Mode,
    earlier: Option<&ApprovalRequest>,
) -> ApprovalRequest {
    let p = policy(legal_mode);
    let r = route(&p, Some(usd(amount)), &terms);
    let seats = seats_for(&r);
    ApprovalRequest::submit(
        Submission {
            id: ApprovalRequestId(Uuid::from_u128(100)),
            deal_id: DealId(Uuid::from_u128(200)),
            requester: user(REP),
            segment: Segment::MidMarket,
            policy_version: 1,
            terms,
            amount: Some(usd(amount)),
            now: t(9),
        },
        &r,
        seats,
        earlier,
    )
}

fn discount(bps: u32) -> Terms {
    Terms {
        discount_bps: bps,
        ..Terms::default()
    }
}

fn submit(bps: u32) -> ApprovalRequest {
    submit_with(discount(bps), 1_000_000, Mode::All, None)
}

fn actor(n: u128, role: Role) -> Actor {
    Actor {
        id: user(n),
        role,
        acting_for: vec![],
    }
}

fn states(r: &ApprovalRequest) -> Vec<StepState> {
    r.steps.iter().map(|s| s.state).collect()
}

#[test]
fn a_discount_within_the_pre_approved_tier_is_approved_at_once() {
    let r = submit(1500);
    assert_eq!(r.state, RequestState::Approved);
    assert!(r.auto_approved && r.steps.is_empty());
    assert_eq!(r.closed_at, Some(t(9)));
}

#[test]
fn steps_are_asked_in_order_and_the_last_approval_approves() {
    let mut r = submit(3000);
    assert_eq!(states(&r), [StepState::Pending, StepState::Waiting]);
    assert_eq!(r.steps[0].due_at, Some(t(9) + Duration::hours(24)));
    let happened = r
        .decide(0, &actor(MANAGER, Role::Manager), true, "ok", t(10))
        .unwrap();
    assert_eq!(
        happened,
        [Happened::StepDecided {
            step: 0,
            approved: true
        }]
    );
    assert_eq!(states(&r), [StepState::Approved, StepState::Pending]);
    assert_eq!(r.steps[1].started_at, Some(t(10)));
    assert_eq!(
        r.decide(1, &actor(VP, Role::Leader), true, "", t(11)),
        Ok(vec![
            Happened::StepDecided {
                step: 1,
                approved: true
            },
            Happened::Approved
        ])
    );
    assert_eq!(r.state, RequestState::Approved);
    assert_eq!(r.closed_at, Some(t(11)));
    assert!(!r.auto_approved);
}

#[test]
fn one_rejection_rejects_the_request_and_cancels_the_rest() {
    let mut r = submit(3000);
    r.decide(0, &actor(MANAGER, Role::Manager), false, "too deep", t(10))
        .unwrap();
    assert_eq!(r.state, RequestState::Rejected);
    assert_eq!(states(&r), [StepState::Rejected, StepState::Cancelled]);
    assert_eq!(
        r.decide(1, &actor(VP, Role::Leader), true, "", t(11)),
        Err(DecideError::NotPending(RequestState::Rejected))
    );
}

#[test]
fn the_requester_never_decides_even_holding_the_role() {
    let terms = Terms {
        non_standard: "Custom SLA".into(),
        ..Terms::default()
    };
    let mut r = submit_with(terms, 1_000_000, Mode::Any, None);
    // The requester holds the legal role: still refused.
    let requester_as_legal = actor(REP, Role::Legal);
    assert_eq!(
        r.decide(0, &requester_as_legal, true, "", t(10)),
        Err(DecideError::OwnRequest)
    );
    assert_eq!(r.steps[0].state, StepState::Pending);
}

#[test]
fn only_the_resolved_approvers_decide_and_a_later_step_waits() {
    let mut r = submit(3000);
    assert_eq!(
        r.decide(0, &actor(VP, Role::Leader), true, "", t(10)),
        Err(DecideError::NotAnApprover)
    );
    assert_eq!(
        r.decide(1, &actor(VP, Role::Leader), true, "", t(10)),
        Err(DecideError::StepWaiting)
    );
    assert_eq!(
        r.decide(5, &actor(VP, Role::Leader), true, "", t(10)),
        Err(DecideError::NoSuchStep)
    );
    r.decide(0, &actor(MANAGER, Role::Manager), true, "", t(10))
        .unwrap();
    assert_eq!(
        r.decide(0, &actor(MANAGER, Role::Manager), true, "", t(10)),
        Err(DecideError::StepDecided(StepState::Approved))
    );
}

fn legal_terms() -> Terms {
    Terms {
        clauses: vec!["UNLIMITED_LIABILITY".into()],
        ..Terms::default()
    }
}

#[test]
fn all_needs_every_seat_and_any_needs_one() {
    let mut all = submit_with(legal_terms(), 1_000_000, Mode::All, None);
    all.decide(0, &actor(LEGAL, Role::Legal), true, "", t(10))
        .unwrap();
    assert_eq!(all.steps[0].state, StepState::Pending);
    // Another legal user holds the same (already approved) queue seat.
    assert_eq!(
        all.decide(0, &actor(OTHER_LEGAL, Role::Legal), true, "", t(10)),
        Err(DecideError::AlreadyDecided)
    );
    all.decide(0, &actor(MANAGER, Role::Manager), true, "", t(11))
        .unwrap();
    assert_eq!(all.state, RequestState::Approved);

    let mut any = submit_with(legal_terms(), 1_000_000, Mode::Any, None);
    any.decide(0, &actor(LEGAL, Role::Legal), true, "", t(10))
        .unwrap();
    assert_eq!(any.state, RequestState::Approved);
    assert!(any.steps[0].seats[1].decision.is_none());
}

#[test]
fn a_delegate_decides_for_the_delegator_and_says_so() {
    let mut r = submit(2000);
    let delegate = Actor {
        id: user(DELEGATE),
        role: Role::Rep,
        acting_for: vec![(user(MANAGER), Role::Manager)],
    };
    r.decide(0, &delegate, true, "on behalf", t(10)).unwrap();
    let decision = r.steps[0].seats[0].decision.clone().unwrap();
    assert_eq!(decision.by, user(DELEGATE));
    assert_eq!(decision.on_behalf_of, Some(user(MANAGER)));
    assert_eq!(r.state, RequestState::Approved);
}

#[test]
fn escalation_happens_once_after_the_due_time() {
    let mut r = submit(2000);
    let due = t(9) + Duration::hours(24);
    assert_eq!(r.overdue(due - Duration::seconds(1)), None);
    assert!(!r.escalate(0, &[vec![user(VP)]], due - Duration::seconds(1)));
    assert_eq!(r.next_due(), Some(due));
    assert_eq!(r.overdue(due), Some(0));
    assert!(r.escalate(0, &[vec![user(VP)]], due));
    assert!(!r.escalate(0, &[vec![user(VP)]], due + Duration::hours(5)));
    assert_eq!(r.steps[0].seats[0].escalated_to, [user(VP)]);
    assert_eq!(r.steps[0].escalated_at, Some(due));
    assert_eq!(r.next_due(), None);
    // The manager it escalated to decides for the approver.
    r.decide(0, &actor(VP, Role::Leader), true, "", due)
        .unwrap();
    assert_eq!(
        r.steps[0].seats[0].decision.as_ref().unwrap().on_behalf_of,
        Some(user(MANAGER))
    );
}

fn approve_all(r: &mut ApprovalRequest) {
    while let Some(i) = r.current_step() {
        let seats = r.steps[i].seats.clone();
        for seat in seats {
            let who = match seat.approver {
                Approver::OwnersManager => actor(MANAGER, Role::Manager),
                Approver::LeaderAboveOwner => actor(VP, Role::Leader),
                Approver::Queue(role) => actor(LEGAL, role),
            };
            if r.current_step() == Some(i) && seat.decision.is_none() {
                let _ = r.decide(i, &who, true, "", t(12));
            }
        }
    }
}

#[test]
fn resubmission_keeps_what_still_covers_and_asks_what_got_riskier() {
    let mut first = submit_with(
        Terms {
            discount_bps: 3000,
            clauses: vec!["UNLIMITED_LIABILITY".into()],
            ..Terms::default()
        },
        1_000_000,
        Mode::All,
        None,
    );
    approve_all(&mut first);
    assert_eq!(first.state, RequestState::Approved);
    // Lower discount, same clause: everything kept, approved at once.
    let lower = submit_with(
        Terms {
            discount_bps: 2800,
            clauses: vec!["UNLIMITED_LIABILITY".into()],
            ..Terms::default()
        },
        1_000_000,
        Mode::All,
        Some(&first),
    );
    assert_eq!(lower.state, RequestState::Approved);
    assert!(lower.auto_approved);
    assert_eq!(lower.resubmits, Some(first.id));
    assert!(lower.steps.iter().all(|s| s.state == StepState::Kept));
    // Higher discount and a larger deal: the discount steps and finance asked again, legal
    // kept.
    let riskier = submit_with(
        Terms {
            discount_bps: 3500,
            clauses: vec!["UNLIMITED_LIABILITY".into()],
            ..Terms::default()
        },
        20_000_000,
        Mode::All,
        Some(&first),
    );
    let summary: Vec<(&str, StepState, &str)> = riskier
        .steps
        .iter()
        .map(|s| (s.spec.name.as_str(), s.state, s.reapproval.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "Sales manager",
                StepState::Pending,
                "asked again: discount rose from 30.0% to 35.0%"
            ),
            (
                "VP of Sales",
                StepState::Waiting,
                "asked again: discount rose from 30.0% to 35.0%"
            ),
            ("Finance", StepState::Waiting, "not approved before"),
            (
                "Legal review",
                StepState::Kept,
                "kept: the earlier approval still covers this request"
            ),
        ]
    );
}

#[test]
fn a_kept_step_carries_what_it_originally_approved() {
    let mut first = submit(2500);
    approve_all(&mut first);
    let second = submit_with(discount(2000), 1_000_000, Mode::All, Some(&first));
    assert_eq!(second.state, RequestState::Approved);
    // 25% was approved by the first request and kept by the second: still covered.
    let third = submit_with(discount(2500), 1_000_000, Mode::All, Some(&second));
    assert_eq!(third.state, RequestState::Approved);
    let fourth = submit_with(discount(2600), 1_000_000, Mode::All, Some(&second));
    assert_eq!(fourth.state, RequestState::Pending);
    assert_eq!(
        fourth.steps[0].reapproval,
        "asked again: discount rose from 25.0% to 26.0%"
    );
    assert_eq!(fourth.steps[1].reapproval, "not approved before");
}

#[test]
fn withdraw_and_supersede_close_only_open_requests() {
    let mut r = submit(3000);
    r.withdraw(t(10)).unwrap();
    assert_eq!(r.state, RequestState::Withdrawn);
    assert_eq!(states(&r), [StepState::Cancelled, StepState::Cancelled]);
    assert_eq!(r.withdraw(t(11)), Err(RequestState::Withdrawn));
    assert_eq!(r.supersede(t(11)), Err(RequestState::Withdrawn));
    let mut approved = submit(1000);
    approved.supersede(t(11)).unwrap();
    assert_eq!(approved.state, RequestState::Superseded);
    assert_eq!(approved.closed_at, Some(t(9)));
}

fn date(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn delegation(from: u128, to: u128, start: u32, end: u32) -> Delegation {
    Delegation {
        id: DelegationId(Uuid::from_u128(from * 1000 + to)),
        delegator: user(from),
        delegate: user(to),
        start: date(start),
        end: date(end),
        creator: user(from),
        created_at: t(9),
    }
}

#[test]
fn a_delegation_covers_its_first_and_last_day_only() {
    let d = delegation(1, 2, 10, 20);
    assert!(!d.covers(date(9)));
    assert!(d.covers(date(10)));
    assert!(d.covers(date(20)));
    assert!(!d.covers(date(21)));
}

#[test]
fn delegations_may_not_close_a_cycle_on_any_day() {
    let existing = vec![delegation(2, 3, 10, 20), delegation(3, 1, 15, 25)];
    // 1 -> 2 -> 3 -> 1 on days 15..=20.
    let err = check_delegation(&delegation(1, 2, 1, 15), &existing).unwrap_err();
    assert_eq!(err.0[0].field, "delegation.delegate");
    assert!(err.0[0].description.contains("2026-11-15"));
    // Ending the day before the cycle would form is fine.
    assert!(check_delegation(&delegation(1, 2, 1, 14), &existing).is_ok());
    // Starting after the chain breaks (3 -> 1 starts on 15, 2 -> 3 ends on 20) is fine.
    assert!(check_delegation(&delegation(1, 2, 21, 30), &existing).is_ok());
    // Direct cycle.
    let err = check_delegation(&delegation(3, 2, 12, 12), &existing).unwrap_err();
    assert_eq!(err.0[0].field, "delegation.delegate");
}

#[test]
fn a_delegation_needs_an_ordered_bounded_range_and_another_person() {
    let fields = |d: Delegation| -> Vec<String> {
        check_delegation(&d, &[])
            .unwrap_err()
            .0
            .into_iter()
            .map(|v| v.field)
            .collect()
    };
    assert_eq!(fields(delegation(1, 1, 10, 10)), ["delegation.delegate"]);
    assert_eq!(fields(delegation(1, 2, 10, 9)), ["delegation.end_date"]);
    let mut long = delegation(1, 2, 1, 1);
    long.end = long.start + Duration::days(MAX_DELEGATION_DAYS);
    assert_eq!(fields(long.clone()), ["delegation.end_date"]);
    long.end = long.start + Duration::days(MAX_DELEGATION_DAYS - 1);
    assert!(check_delegation(&long, &[]).is_ok());
}

#[test]
fn quantiles_interpolate_between_ranks() {
    assert_eq!(quantile(&[], 0.5), 0.0);
    assert_eq!(quantile(&[7.0], 0.9), 7.0);
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    assert_eq!(quantile(&[0.0, 10.0], 0.9), 9.0);
    let ten: Vec<f64> = (1..=10).map(f64::from).collect();
    assert!((quantile(&ten, 0.9) - 9.1).abs() < 1e-9);
}

#[test]
fn metrics_count_auto_approvals_and_time_decided_work() {
    let auto = submit(1000);
    let mut decided = submit(2000);
    decided
        .decide(0, &actor(MANAGER, Role::Manager), true, "", t(13))
        .unwrap();
    let open = submit(2000);
    let m = metrics(&[auto, decided, open]);
    assert_eq!(m.count, 3);
    assert!((m.auto_approved_share - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(m.requests.count, 2);
    assert_eq!(m.requests.decided, 1);
    assert_eq!(m.requests.median_seconds, 4.0 * 3600.0);
    assert_eq!(m.steps.count, 2);
    assert_eq!(m.steps.decided, 1);
    assert_eq!(m.approvers.len(), 1);
    assert_eq!(m.approvers[0].0, Approver::OwnersManager);
    assert_eq!(m.segments.len(), 1);
    assert_eq!(m.segments[0].count, 3);
}

proptest! {
    /// Whatever the order of decisions by whoever, a request never has two decisions from
    /// one person on a seat, never lets the requester decide, and once closed stays closed.
    #[test]
    fn decisions_never_break_the_invariants(
        moves in proptest::collection::vec((0usize..3, 0u128..7, any::<bool>()), 0..20),
        bps in 0u32..10_000,
        any_mode in any::<bool>(),
    ) {
        let mode = if any_mode { Mode::Any } else { Mode::All };
        let mut r = submit_with(
            Terms { discount_bps: bps, ..legal_terms() },
            1_000_000,
            mode,
            None,
        );
        let roles = [Role::Rep, Role::Rep, Role::Manager, Role::Leader, Role::Legal, Role::Legal, Role::Rep];
        for (step, who, approve) in moves {
            let before = r.clone();
            let result = r.decide(step, &actor(who, roles[who as usize]), approve, "", t(12));
            if result.is_err() {
                prop_assert_eq!(&r, &before);
            }
            if before.state != RequestState::Pending {
                prop_assert!(result.is_err());
            }
        }
        for seat in r.steps.iter().flat_map(|s| &s.seats) {
            if let Some(d) = &seat.decision {
                prop_assert_ne!(d.by, user(REP));
            }
        }
        let pending = r.steps.iter().filter(|s| s.state == StepState::Pending).count();
        prop_assert_eq!(pending, usize::from(r.state == RequestState::Pending));
        if r.state == RequestState::Approved {
            prop_assert!(r.steps.iter().all(|s| s.state == StepState::Approved));
        }
    }
}

mod seats;
