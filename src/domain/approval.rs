//! Deal-desk routing: given a policy version, a deal's amount and a request (discount and
//! terms), the route of approval steps and the reason for each. Smart re-approval, which keeps a
//! step approved while what it approved still covers the resubmitted request, is in
//! [`reapproval`]; the checks of terms and policies in [`checks`].
//!
//! Pure: the service resolves approvers (the owner's manager, the leader above, role queues)
//! and stores decisions; this module only decides what must be asked and why.

mod checks;
mod reapproval;

pub use checks::{
    MAX_APPROVERS, MAX_CLAUSES, MAX_PLAYBOOK, MAX_SIZE_THRESHOLDS, MAX_TIER_STEPS, MAX_TIERS,
    check_policy, check_terms,
};
pub use reapproval::{Approved, Reapproval, reapprove};

use super::directory::Role;
use super::money::Money;
use super::pipeline::Segment;

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
        limit: u32,
    },
}

/// One step of a route, with every reason it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteStep {
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
    discount_steps(policy, terms, &mut add);
    if let Some(amount) = amount {
        size_steps(policy, amount, &mut add);
    }
    legal_step(policy, terms, &mut add);
    payment_step(policy, terms, &mut add);
    Route { steps }
}

/// The steps of every discount tier above the one the discount falls in.
fn discount_steps(policy: &Policy, terms: &Terms, add: &mut impl FnMut(&StepSpec, Cause, String)) {
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
}

/// The step of every size threshold the amount is over (or cannot be compared with).
fn size_steps(policy: &Policy, amount: Money, add: &mut impl FnMut(&StepSpec, Cause, String)) {
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
                format!("deal size {} exceeds {}", amount, threshold.above),
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

/// The legal step, for clauses outside the playbook or non-standard terms.
fn legal_step(policy: &Policy, terms: &Terms, add: &mut impl FnMut(&StepSpec, Cause, String)) {
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
}

/// The finance step, for payment later than the policy's limit.
fn payment_step(policy: &Policy, terms: &Terms, add: &mut impl FnMut(&StepSpec, Cause, String)) {
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
}

#[cfg(test)]
mod tests;
