//! The checks of what is written: a request's terms under a policy, and a policy itself (tiers,
//! steps, thresholds), with the limits they are held to.

use super::{Approver, Policy, StepSpec, Terms};
use crate::domain::directory::Role;
use crate::domain::wording::discount_out_of_range;
use crate::domain::{Problem, Violations, check_text, within_limit};

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
        v.add_as(
            Problem::NumberOutOfRange,
            "discount_bps",
            discount_out_of_range(max, terms.discount_bps.into()),
        );
    }
    if terms.payment_days > 3650 {
        v.add_as(
            Problem::NumberOutOfRange,
            "payment_days",
            "must be at most 3650 days",
        );
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
            v.add_as(Problem::BadText, format!("clauses[{i}]"), CLAUSE_CODE_RULE);
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
        v.add_as(
            Problem::MissingField,
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
            v.add_as(
                Problem::UnknownValue,
                format!("{field}.approvers[{i}]"),
                "a role queue must be DEAL_DESK, FINANCE or LEGAL",
            );
        }
    }
    if !(1..=720).contains(&step.sla_hours) {
        v.add_as(
            Problem::NumberOutOfRange,
            format!("{field}.sla_hours"),
            "must be between 1 and 720 hours",
        );
    }
}

/// A pre-approved first tier, then tiers adding steps, ceilings rising to 100%.
fn check_tiers(policy: &Policy, v: &mut Violations) {
    if policy.tiers.len() < 2 {
        v.add_as(
            Problem::BadShape,
            "tiers",
            "must have a pre-approved tier and at least one tier above it",
        );
    }
    for (i, tier) in within_limit(v, "tiers", &policy.tiers, MAX_TIERS, "tiers")
        .iter()
        .enumerate()
    {
        let field = format!("tiers[{i}]");
        if i == 0 && !tier.steps.is_empty() {
            v.add_as(
                Problem::BadShape,
                format!("{field}.steps"),
                "the first tier is pre-approved: it has no steps",
            );
        }
        if i > 0 && tier.steps.is_empty() {
            v.add_as(
                Problem::BadShape,
                format!("{field}.steps"),
                "must add at least one step",
            );
        }
        if i > 0 && tier.ceiling_bps <= policy.tiers[i - 1].ceiling_bps {
            v.add_as(
                Problem::BadShape,
                format!("{field}.ceiling_bps"),
                "must be above the previous tier's ceiling (tiers may not overlap)",
            );
        }
        let steps = within_limit(
            v,
            &format!("{field}.steps"),
            &tier.steps,
            MAX_TIER_STEPS,
            "steps",
        );
        for (j, step) in steps.iter().enumerate() {
            check_step(&format!("{field}.steps[{j}]"), step, v);
        }
    }
    if let Some(last) = policy.tiers.last()
        && last.ceiling_bps != 10_000
    {
        v.add_as(
            Problem::BadShape,
            format!("tiers[{}].ceiling_bps", policy.tiers.len() - 1),
            "the last tier must reach 10000 (100%)",
        );
    }
}

/// Validates a policy: tiers ordered without overlap and ending at 100%, a pre-approved first
/// tier, every other tier adding steps, steps with known approvers, thresholds increasing.
pub fn check_policy(policy: &Policy) -> Result<(), Violations> {
    let mut v = Violations::new();
    check_tiers(policy, &mut v);
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
            v.add_as(
                Problem::BadMoney,
                format!("{field}.above"),
                "must be greater than zero",
            );
        }
        if i > 0 && threshold.above.minor <= policy.size_thresholds[i - 1].above.minor {
            v.add_as(
                Problem::BadShape,
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
            v.add_as(Problem::BadText, format!("playbook[{i}]"), CLAUSE_CODE_RULE);
        }
        if policy.playbook[..i].contains(clause) {
            v.add_as(
                Problem::DuplicateValue,
                format!("playbook[{i}]"),
                "repeats an earlier clause",
            );
        }
    }
    check_step("legal_step", &policy.legal_step, &mut v);
    check_step("finance_step", &policy.finance_step, &mut v);
    if policy.payment_days_limit > 3650 {
        v.add_as(
            Problem::NumberOutOfRange,
            "payment_days_limit",
            "must be at most 3650 days",
        );
    }
    v.into_result(())
}
