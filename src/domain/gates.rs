//! Stage gating: which exit criteria a move must satisfy, and whether a deal meets them.
//!
//! Moving forward from stage A to stage B requires the exit criteria of A and of every open
//! stage between A and B: skipping stages never skips their gates. Creating a deal directly in
//! a later stage is gated like a move from before the first stage. Backward moves are free.

use chrono::NaiveDate;

use super::deal::DealFields;
use super::pipeline::{
    DealField, ExitCriterion, PipelineSpec, QualificationStatus, Stage, StageKind,
};

/// What the deal desk knows about a deal's approvals, for the approval criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalFacts {
    /// Some approval request on the deal is pending.
    pub pending: bool,
    /// The deal's discount is covered by an approved request (true when it has no discount).
    pub discount_covered: bool,
}

impl ApprovalFacts {
    /// A deal with no approval requests and no discount.
    pub const NONE: ApprovalFacts = ApprovalFacts {
        pending: false,
        discount_covered: true,
    };
}

/// Whether `deal` meets `criterion` on `today`.
pub fn holds(
    criterion: &ExitCriterion,
    deal: &DealFields,
    today: NaiveDate,
    approvals: ApprovalFacts,
) -> bool {
    match *criterion {
        ExitCriterion::FieldSet(field) => match field {
            DealField::Amount => deal.amount.is_some(),
            DealField::CloseDate => deal.close_date.is_some(),
            DealField::NextStep => !deal.next_step.is_empty(),
            DealField::NextStepDate => deal.next_step_date.is_some(),
            DealField::BantBudget => !deal.bant.budget.is_empty(),
            DealField::BantAuthority => !deal.bant.authority.is_empty(),
            DealField::BantNeed => !deal.bant.need.is_empty(),
            DealField::BantTimeline => !deal.bant.timeline.is_empty(),
            DealField::ConfirmedBudget => deal.confirmed_budget.is_some(),
            DealField::LeadSource => deal.lead_source.is_some(),
        },
        ExitCriterion::CloseDateInFuture => deal.close_date.is_some_and(|d| d >= today),
        ExitCriterion::AmountPositive => deal.amount.is_some_and(|m| m.minor > 0),
        ExitCriterion::ContactWithRole(role) => deal.contacts.iter().any(|c| c.buying_role == role),
        ExitCriterion::DepartmentsEngaged(n) => {
            let mut departments: Vec<String> = deal
                .contacts
                .iter()
                .map(|c| c.department.to_lowercase())
                .collect();
            departments.sort();
            departments.dedup();
            departments.len() >= usize::from(n)
        }
        ExitCriterion::QualificationAtLeast {
            element,
            min_status,
        } => deal.qualification_status(element) >= min_status.max(QualificationStatus::Yellow),
        ExitCriterion::NoPendingApproval => !approvals.pending,
        ExitCriterion::DiscountCovered => approvals.discount_covered,
    }
}

/// The direction of a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// To a later stage (or into the pipeline at creation): gated.
    Forward,
    /// To an earlier stage: free.
    Backward,
    /// Already there.
    None,
}

/// Whether a planned move would pass now, as a preview tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every check is met (a backward move has none): the move goes through.
    Passes,
    /// Some checks are unmet: refused unless a manager above the owner overrides.
    Blocked,
    /// The deal is already in the target stage: there is nothing to move.
    AlreadyInStage,
}

/// One criterion on a move's path and whether the deal meets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The stage whose exit criterion it is.
    pub stage_id: String,
    pub criterion: ExitCriterion,
    /// Whether it holds.
    pub met: bool,
}

/// What a move needs: its direction and every check on its path, in stage order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovePlan {
    /// Forward, backward or none.
    pub direction: Direction,
    /// Every criterion on the path.
    pub checks: Vec<Check>,
}

impl MovePlan {
    /// Whether every check is met.
    pub fn allowed(&self) -> bool {
        self.checks.iter().all(|c| c.met)
    }

    /// The checks not met.
    pub fn unmet(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.met)
    }

    /// Whether the move would pass now.
    pub fn verdict(&self) -> Verdict {
        if self.direction == Direction::None {
            Verdict::AlreadyInStage
        } else if self.allowed() {
            Verdict::Passes
        } else {
            Verdict::Blocked
        }
    }
}

/// A move's direction and the open stages whose exit criteria it must meet, in stage order
/// (none unless it moves forward to a stage other than lost). `None` when either stage is not
/// in the pipeline.
fn path<'p>(
    pipeline: &'p PipelineSpec,
    from: Option<&str>,
    to: &str,
) -> Option<(Direction, Vec<&'p Stage>)> {
    let target = pipeline.stage(to)?;
    let from_position = match from {
        Some(from) => pipeline.stage(from)?.position,
        None => i32::MIN,
    };
    let direction = match target.position.cmp(&from_position) {
        std::cmp::Ordering::Greater => Direction::Forward,
        std::cmp::Ordering::Less => Direction::Backward,
        std::cmp::Ordering::Equal => Direction::None,
    };
    let gated = direction == Direction::Forward && target.kind != StageKind::Lost;
    let stages = if gated {
        pipeline
            .stages
            .iter()
            .filter(|s| s.kind == StageKind::Open)
            .filter(|s| s.position >= from_position && s.position < target.position)
            .collect()
    } else {
        Vec::new()
    };
    Some((direction, stages))
}

/// Plans a move within `pipeline` from stage `from` (`None`: creating the deal) to `to`.
/// `None` when either stage is not in the pipeline. Moving to the lost stage is never gated.
pub fn plan_move(
    pipeline: &PipelineSpec,
    from: Option<&str>,
    to: &str,
    deal: &DealFields,
    today: NaiveDate,
    approvals: ApprovalFacts,
) -> Option<MovePlan> {
    let (direction, stages) = path(pipeline, from, to)?;
    let checks = stages
        .iter()
        .flat_map(|s| {
            s.exit_criteria.iter().map(|c| Check {
                stage_id: s.stage_id.clone(),
                criterion: *c,
                met: holds(c, deal, today, approvals),
            })
        })
        .collect();
    Some(MovePlan { direction, checks })
}

/// Whether a move's path holds an approval criterion, so that planning it needs the deal
/// desk's [`ApprovalFacts`]; when not, any facts give the same plan (and need no query).
pub fn move_needs_approvals(pipeline: &PipelineSpec, from: Option<&str>, to: &str) -> bool {
    path(pipeline, from, to).is_some_and(|(_, stages)| {
        stages.iter().flat_map(|s| &s.exit_criteria).any(|c| {
            matches!(
                c,
                ExitCriterion::NoPendingApproval | ExitCriterion::DiscountCovered
            )
        })
    })
}

#[cfg(test)]
mod tests;
