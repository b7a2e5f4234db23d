//! Deal-desk routing: given a policy version, a deal's amount and a request (discount and
//! terms), the route of approval steps and the reason for each; and smart re-approval, which
//! keeps a step approved while what it approved still covers the resubmitted request.
//!
//! Pure: the service resolves approvers (the owner's manager, the leader above, role queues)
//! and stores decisions; this module only decides what must be asked and why.

use super::directory::Role;
use super::money::Money;
use super::pipeline::Segment;
use super::{Violations, check_text, within_limit};

/// Who approves a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Approver {
    /// The deal owner's manager.
    OwnersManager,
    /// The nearest leader above the owner.
    LeaderAboveOwner,
    /// Anyone holding a role (deal desk, finance or legal).
    Queue(Role),
}

/// How a step with several approvers completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// Every approver must approve.
    All,
    /// One approval is enough.
    Any,
}

/// One step a policy can add.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepSpec {
    /// What people call it ("VP of Sales", "Legal review").
    pub name: String,
    /// Who approves.
    pub approvers: Vec<Approver>,
    /// All or any.
    pub mode: Mode,
    /// Hours before the step escalates.
    pub sla_hours: u32,
}

/// A discount tier: discounts up to `ceiling_bps` (inclusive) need the steps of this tier and
/// of every tier below it. The first tier has no steps: it is pre-approved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiscountTier {
    /// Highest discount of the tier, in basis points.
    pub ceiling_bps: u32,
    /// Steps this tier adds.
    pub steps: Vec<StepSpec>,
}

/// Deals above `above` need `step`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SizeThreshold {
    /// The amount a deal must exceed.
    pub above: Money,
    /// The step it adds.
    pub step: StepSpec,
}

/// A segment's approval policy (one version of it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// The segment it governs.
    pub segment: Segment,
    /// Discount tiers, ceilings increasing, the last at 10000.
    pub tiers: Vec<DiscountTier>,
    /// Size thresholds, increasing.
    pub size_thresholds: Vec<SizeThreshold>,
    /// Clause codes of the legal playbook: pre-approved modifications.
    pub playbook: Vec<String>,
    /// Who reviews clauses outside the playbook and free-text terms.
    pub legal_step: StepSpec,
    /// Longest payment terms without finance, in days.
    pub payment_days_limit: u32,
    /// Who approves longer payment terms.
    pub finance_step: StepSpec,
}

/// One stored version of a segment's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// Version, from 1 per segment.
    pub version: i64,
    /// The policy.
    pub policy: Policy,
    /// Who made it (`None`: the CLI or demo).
    pub creator: Option<super::directory::UserId>,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Terms {
    /// Discount off list price, basis points.
    pub discount_bps: u32,
    /// Clause codes asked for (playbook or not).
    pub clauses: Vec<String>,
    /// Free-text non-standard terms (empty: none).
    pub non_standard: String,
    /// Payment terms, days.
    pub payment_days: u32,
}

/// Why a step is on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The discount is above the previous tier's ceiling.
    Discount {
        /// Asked.
        bps: u32,
        /// The ceiling it exceeds.
        ceiling_bps: u32,
    },
    /// The deal is above a size threshold (or in a currency it cannot be compared with).
    Size {
        /// The deal's amount.
        amount: Money,
        /// The threshold.
        above: Money,
    },
    /// Clauses outside the playbook, or free-text terms.
    Legal {
        /// Clauses outside the playbook.
        clauses: Vec<String>,
        /// Whether free-text terms were asked for.
        free_text: bool,
    },
    /// Payment terms beyond the limit.
    Payment {
        /// Asked.
        days: u32,
        /// The limit.
        limit: u32,
    },
}

/// One step of a route, with every reason it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteStep {
    /// The step.
    pub step: StepSpec,
    /// Why, in order.
    pub causes: Vec<Cause>,
    /// The reasons in words ("discount 22.0% exceeds the 15.0% pre-approved for mid-market:
    /// VP of Sales").
    pub reasons: Vec<String>,
}

/// The steps a request must pass; none means the policy approves it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// In order.
    pub steps: Vec<RouteStep>,
}

impl Route {
    /// Nothing needs a human.
    pub fn auto_approved(&self) -> bool {
        self.steps.is_empty()
    }
}

fn percent(bps: u32) -> String {
    format!("{}.{}%", bps / 100, (bps % 100) / 10)
}

/// An amount in words: `1000000.00 USD`.
fn money_text(m: Money) -> String {
    let digits = m.currency.minor_digits();
    if digits == 0 {
        return format!("{} {}", m.minor, m.currency);
    }
    let scale = 10i64.pow(digits as u32);
    format!(
        "{}.{:0width$} {}",
        m.minor / scale,
        (m.minor % scale).abs(),
        m.currency,
        width = digits as usize
    )
}

fn segment_name(segment: Segment) -> &'static str {
    match segment {
        Segment::Smb => "SMB",
        Segment::MidMarket => "mid-market",
        Segment::Enterprise => "enterprise",
    }
}

/// The route of `terms` on a deal of `amount` under `policy`. A discount above the last
/// ceiling cannot be routed (the caller refuses it first, see [`check_terms`]).
pub fn route(policy: &Policy, amount: Option<Money>, terms: &Terms) -> Route {
    let mut steps: Vec<RouteStep> = Vec::new();
    let mut add = |step: &StepSpec, cause: Cause, reason: String| {
        let reason = format!("{reason}: {}", step.name);
        match steps
            .iter_mut()
            .find(|s| s.step.name == step.name && s.step.approvers == step.approvers)
        {
            Some(existing) => {
                existing.causes.push(cause);
                existing.reasons.push(reason);
            }
            None => steps.push(RouteStep {
                step: step.clone(),
                causes: vec![cause],
                reasons: vec![reason],
            }),
        }
    };
    let pre_approved = policy.tiers.first().map(|t| t.ceiling_bps).unwrap_or(0);
    for (i, tier) in policy.tiers.iter().enumerate().skip(1) {
        let below = policy.tiers[i - 1].ceiling_bps;
        if terms.discount_bps <= below {
            break;
        }
        for step in &tier.steps {
            let reason = if below == pre_approved {
                format!(
                    "discount {} exceeds the {} pre-approved for {}",
                    percent(terms.discount_bps),
                    percent(below),
                    segment_name(policy.segment)
                )
            } else {
                format!(
                    "discount {} exceeds {}",
                    percent(terms.discount_bps),
                    percent(below)
                )
            };
            add(
                step,
                Cause::Discount {
                    bps: terms.discount_bps,
                    ceiling_bps: below,
                },
                reason,
            );
        }
    }
    if let Some(amount) = amount {
        for threshold in &policy.size_thresholds {
            let (over, reason) = if amount.currency != threshold.above.currency {
                (
                    true,
                    format!(
                        "amount in {} cannot be compared with the {} threshold",
                        amount.currency, threshold.above.currency
                    ),
                )
            } else {
                (
                    amount.minor > threshold.above.minor,
                    format!(
                        "deal size {} exceeds {}",
                        money_text(amount),
                        money_text(threshold.above)
                    ),
                )
            };
            if over {
                add(
                    &threshold.step,
                    Cause::Size {
                        amount,
                        above: threshold.above,
                    },
                    reason,
                );
            }
        }
    }
    let mut outside: Vec<String> = terms
        .clauses
        .iter()
        .filter(|c| !policy.playbook.contains(c))
        .cloned()
        .collect();
    outside.sort();
    outside.dedup();
    let free_text = !terms.non_standard.trim().is_empty();
    if !outside.is_empty() || free_text {
        let mut parts = Vec::new();
        if !outside.is_empty() {
            parts.push(format!(
                "clauses outside the legal playbook ({})",
                outside.join(", ")
            ));
        }
        if free_text {
            parts.push("non-standard terms".to_string());
        }
        add(
            &policy.legal_step,
            Cause::Legal {
                clauses: outside,
                free_text,
            },
            parts.join(" and "),
        );
    }
    if terms.payment_days > policy.payment_days_limit {
        let reason = format!(
            "payment in {} days exceeds the {}-day limit",
            terms.payment_days, policy.payment_days_limit
        );
        add(
            &policy.finance_step,
            Cause::Payment {
                days: terms.payment_days,
                limit: policy.payment_days_limit,
            },
            reason,
        );
    }
    Route { steps }
}

/// Most clause codes in one request's terms.
pub const MAX_CLAUSES: usize = 50;
/// Most discount tiers in a policy.
pub const MAX_TIERS: usize = 20;
/// Most steps one tier adds.
pub const MAX_TIER_STEPS: usize = 10;
/// Most approvers of one step.
pub const MAX_APPROVERS: usize = 10;
/// Most size thresholds in a policy.
pub const MAX_SIZE_THRESHOLDS: usize = 10;
/// Most clause codes in a policy's playbook.
pub const MAX_PLAYBOOK: usize = 200;

const CLAUSE_CODE_RULE: &str = "must be 1 to 64 of A-Z, 0-9 and _";

/// A clause code such as `MUTUAL_NDA`: 1 to 64 of A-Z, 0-9 and _.
fn is_clause_code(clause: &str) -> bool {
    !clause.is_empty()
        && clause.len() <= 64
        && clause
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Problems with a request's terms under a policy.
pub fn check_terms(policy: &Policy, terms: &Terms) -> Result<(), Violations> {
    let mut v = Violations::new();
    let max = policy.tiers.last().map(|t| t.ceiling_bps).unwrap_or(0);
    if terms.discount_bps > max {
        v.add(
            "discount_bps",
            format!("must be at most {max} basis points"),
        );
    }
    if terms.payment_days > 3650 {
        v.add("payment_days", "must be at most 3650 days");
    }
    let clauses = within_limit(
        &mut v,
        "clauses",
        &terms.clauses,
        MAX_CLAUSES,
        "clause codes",
    );
    // Requested clauses are stored and shown to approvers: the same codes as the playbook's.
    for (i, clause) in clauses.iter().enumerate() {
        if !is_clause_code(clause) {
            v.add(format!("clauses[{i}]"), CLAUSE_CODE_RULE);
        }
    }
    check_text(
        &mut v,
        "non_standard_terms",
        &terms.non_standard,
        10_000,
        false,
    );
    v.into_result(())
}

fn check_step(field: &str, step: &StepSpec, v: &mut Violations) {
    check_text(v, &format!("{field}.name"), &step.name, 100, true);
    if step.approvers.is_empty() {
        v.add(
            format!("{field}.approvers"),
            "must name at least one approver",
        );
    }
    let approvers = within_limit(
        v,
        &format!("{field}.approvers"),
        &step.approvers,
        MAX_APPROVERS,
        "approvers",
    );
    for (i, approver) in approvers.iter().enumerate() {
        if let Approver::Queue(role) = approver
            && !matches!(role, Role::DealDesk | Role::Finance | Role::Legal)
        {
            v.add(
                format!("{field}.approvers[{i}]"),
                "a role queue must be DEAL_DESK, FINANCE or LEGAL",
            );
        }
    }
    if !(1..=720).contains(&step.sla_hours) {
        v.add(
            format!("{field}.sla_hours"),
            "must be between 1 and 720 hours",
        );
    }
}

/// Validates a policy: tiers ordered without overlap and ending at 100%, a pre-approved first
/// tier, every other tier adding steps, steps with known approvers, thresholds increasing.
pub fn check_policy(policy: &Policy) -> Result<(), Violations> {
    let mut v = Violations::new();
    if policy.tiers.len() < 2 {
        v.add(
            "tiers",
            "must have a pre-approved tier and at least one tier above it",
        );
    }
    for (i, tier) in within_limit(&mut v, "tiers", &policy.tiers, MAX_TIERS, "tiers")
        .iter()
        .enumerate()
    {
        let field = format!("tiers[{i}]");
        if i == 0 && !tier.steps.is_empty() {
            v.add(
                format!("{field}.steps"),
                "the first tier is pre-approved: it has no steps",
            );
        }
        if i > 0 && tier.steps.is_empty() {
            v.add(format!("{field}.steps"), "must add at least one step");
        }
        if i > 0 && tier.ceiling_bps <= policy.tiers[i - 1].ceiling_bps {
            v.add(
                format!("{field}.ceiling_bps"),
                "must be above the previous tier's ceiling (tiers may not overlap)",
            );
        }
        let steps = within_limit(
            &mut v,
            &format!("{field}.steps"),
            &tier.steps,
            MAX_TIER_STEPS,
            "steps",
        );
        for (j, step) in steps.iter().enumerate() {
            check_step(&format!("{field}.steps[{j}]"), step, &mut v);
        }
    }
    if let Some(last) = policy.tiers.last()
        && last.ceiling_bps != 10_000
    {
        v.add(
            format!("tiers[{}].ceiling_bps", policy.tiers.len() - 1),
            "the last tier must reach 10000 (100%)",
        );
    }
    let thresholds = within_limit(
        &mut v,
        "size_thresholds",
        &policy.size_thresholds,
        MAX_SIZE_THRESHOLDS,
        "size thresholds",
    );
    for (i, threshold) in thresholds.iter().enumerate() {
        let field = format!("size_thresholds[{i}]");
        if threshold.above.minor <= 0 {
            v.add(format!("{field}.above"), "must be greater than zero");
        }
        if i > 0 && threshold.above.minor <= policy.size_thresholds[i - 1].above.minor {
            v.add(
                format!("{field}.above"),
                "must be above the previous threshold",
            );
        }
        check_step(&format!("{field}.step"), &threshold.step, &mut v);
    }
    let playbook = within_limit(
        &mut v,
        "playbook",
        &policy.playbook,
        MAX_PLAYBOOK,
        "clause codes",
    );
    for (i, clause) in playbook.iter().enumerate() {
        if !is_clause_code(clause) {
            v.add(format!("playbook[{i}]"), CLAUSE_CODE_RULE);
        }
        if policy.playbook[..i].contains(clause) {
            v.add(format!("playbook[{i}]"), "repeats an earlier clause");
        }
    }
    check_step("legal_step", &policy.legal_step, &mut v);
    check_step("finance_step", &policy.finance_step, &mut v);
    if policy.payment_days_limit > 3650 {
        v.add("payment_days_limit", "must be at most 3650 days");
    }
    v.into_result(())
}

/// What an approved step approved: the request and amount it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// The step's name.
    pub name: String,
    /// The terms approved.
    pub terms: Terms,
    /// The amount approved.
    pub amount: Option<Money>,
}

/// Whether a step of the new route is kept from an earlier approval or asked again, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reapproval {
    /// The step.
    pub step: RouteStep,
    /// Kept approved.
    pub kept: bool,
    /// Why, in words.
    pub why: String,
}

/// Smart re-approval: each step of `new_route` stays approved when an earlier approval of the
/// same step still covers what the step is there for (discount no higher, no new clauses or
/// free text, amount no larger, payment no longer); otherwise it is asked again, saying what got
/// riskier.
pub fn reapprove(new_route: &Route, terms: &Terms, approved: &[Approved]) -> Vec<Reapproval> {
    new_route
        .steps
        .iter()
        .map(|step| {
            let Some(before) = approved.iter().find(|a| a.name == step.step.name) else {
                return Reapproval {
                    step: step.clone(),
                    kept: false,
                    why: "not approved before".into(),
                };
            };
            let mut riskier = Vec::new();
            for cause in &step.causes {
                match cause {
                    Cause::Discount { bps, .. } if *bps > before.terms.discount_bps => riskier
                        .push(format!(
                            "discount rose from {} to {}",
                            percent(before.terms.discount_bps),
                            percent(*bps)
                        )),
                    Cause::Size { amount: now, .. } => match before.amount {
                        Some(was) if was.currency == now.currency && now.minor <= was.minor => {}
                        Some(was) => riskier.push(format!(
                            "amount rose from {} to {}",
                            money_text(was),
                            money_text(*now)
                        )),
                        None => riskier.push("the amount was not set when approved".into()),
                    },
                    Cause::Legal { clauses, free_text } => {
                        let new: Vec<&String> = clauses
                            .iter()
                            .filter(|c| !before.terms.clauses.contains(c))
                            .collect();
                        if !new.is_empty() {
                            riskier.push(format!(
                                "new clauses {}",
                                new.iter()
                                    .map(|c| c.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                        if *free_text
                            && terms.non_standard.trim() != before.terms.non_standard.trim()
                        {
                            riskier.push("the non-standard terms changed".into());
                        }
                    }
                    Cause::Payment { days, .. } if *days > before.terms.payment_days => riskier
                        .push(format!(
                            "payment terms rose from {} to {} days",
                            before.terms.payment_days, days
                        )),
                    _ => {}
                }
            }
            if riskier.is_empty() {
                Reapproval {
                    step: step.clone(),
                    kept: true,
                    why: "kept: the earlier approval still covers this request".into(),
                }
            } else {
                Reapproval {
                    step: step.clone(),
                    kept: false,
                    why: format!("asked again: {}", riskier.join("; ")),
                }
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)] // amounts read as dollars_cents
mod tests {
    use super::*;
    use crate::domain::money::Currency;
    use proptest::prelude::*;

    fn step(name: &str, approvers: Vec<Approver>) -> StepSpec {
        StepSpec {
            name: name.into(),
            approvers,
            mode: Mode::All,
            sla_hours: 24,
        }
    }

    fn usd(minor: i64) -> Money {
        Money {
            minor,
            currency: Currency::USD,
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
}
