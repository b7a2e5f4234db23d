//! Approval requests: the request, its steps and seats, and who fills a step's seats. How a
//! request moves through its route is in [`lifecycle`] (a step completes on ALL or ANY, one
//! rejection ends the request, escalation past a step's SLA, smart re-approval on
//! resubmission); delegation windows without cycles in [`delegation`]; turnaround figures in
//! [`turnaround`].
//!
//! Pure: the service resolves people (the owner's manager, delegations in force, the managers
//! an overdue step escalates to), loads and stores requests; the rules live here.

mod delegation;
mod lifecycle;
mod turnaround;

pub use delegation::{Delegation, MAX_DELEGATION_DAYS, check_delegation};
pub use turnaround::{Metrics, SegmentTurnaround, Turnaround, metrics, quantile};

use chrono::{DateTime, Utc};

use super::approval::{Approver, Cause, Route, StepSpec, Terms};
use super::directory::{Role, UserId};
use super::money::Money;
use super::pipeline::Segment;
use crate::domain::ids::{ApprovalRequestId, DealId};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RequestState {
    /// Waiting on its current step.
    Pending,
    /// Every step approved, or nothing needed a human.
    Approved,
    /// A step was rejected.
    Rejected,
    /// Its requester withdrew it.
    Withdrawn,
    /// Replaced by a resubmission.
    Superseded,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StepState {
    /// Not asked yet: an earlier step is pending.
    Waiting,
    /// The current step.
    Pending,
    Approved,
    Rejected,
    /// Approved by the request it resubmits, and still covering this one.
    Kept,
    /// Never decided: the request closed first.
    Cancelled,
}

/// A decision on a seat.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// Approved or rejected.
    pub approved: bool,
    /// Who decided.
    pub by: UserId,
    /// The seat's approver, when a delegate or escalation target decided for them.
    pub on_behalf_of: Option<UserId>,
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One approver of a step, resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seat {
    /// Who the policy asked for.
    pub approver: Approver,
    /// The person it resolved to (`None` for a role queue).
    pub user: Option<UserId>,
    /// People the step escalated to, who may now decide this seat too.
    pub escalated_to: Vec<UserId>,
    /// The decision, once made.
    pub decision: Option<Decision>,
}

impl Seat {
    /// A seat for a person.
    pub fn person(approver: Approver, user: UserId) -> Self {
        Seat {
            approver,
            user: Some(user),
            escalated_to: vec![],
            decision: None,
        }
    }

    /// A seat for a role queue.
    pub fn queue(role: Role) -> Self {
        Seat {
            approver: Approver::Queue(role),
            user: None,
            escalated_to: vec![],
            decision: None,
        }
    }

    /// The queue's role, for a role-queue seat.
    pub fn role(&self) -> Option<Role> {
        match self.approver {
            Approver::Queue(role) => Some(role),
            _ => None,
        }
    }
}

/// One step of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// The step as the policy defined it.
    pub spec: StepSpec,
    /// Why it is on the route.
    pub reasons: Vec<String>,
    /// Where it stands.
    pub state: StepState,
    /// Its approvers.
    pub seats: Vec<Seat>,
    /// For a resubmission: why it was kept or asked again.
    pub reapproval: String,
    /// When it was asked.
    pub started_at: Option<DateTime<Utc>>,
    /// When it escalates.
    pub due_at: Option<DateTime<Utc>>,
    /// When it escalated.
    pub escalated_at: Option<DateTime<Utc>>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// What its approval covered: the terms and amount approved (carried over when kept).
    pub approved_terms: Option<(Terms, Option<Money>)>,
}

/// A discount and terms request on a deal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalRequest {
    /// Identifier (UUIDv7).
    pub id: ApprovalRequestId,
    /// The deal.
    pub deal_id: DealId,
    /// Who asked.
    pub requester: UserId,
    /// The deal's segment.
    pub segment: Segment,
    /// The policy version routed with.
    pub policy_version: i64,
    /// What is asked.
    pub terms: Terms,
    /// The deal's amount when submitted.
    pub amount: Option<Money>,
    /// Where it stands.
    pub state: RequestState,
    /// Nothing needed a human when it was submitted.
    pub auto_approved: bool,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The request it resubmits.
    pub resubmits: Option<ApprovalRequestId>,
    /// When submitted.
    pub created_at: DateTime<Utc>,
    /// When it stopped being pending.
    pub closed_at: Option<DateTime<Utc>>,
}

/// What a submission needs besides the route.
#[derive(Debug, Clone)]
pub struct Submission {
    pub id: ApprovalRequestId,
    /// The deal.
    pub deal_id: DealId,
    /// Who asks.
    pub requester: UserId,
    /// The deal's segment.
    pub segment: Segment,
    pub policy_version: i64,
    /// What is asked.
    pub terms: Terms,
    /// The deal's amount now.
    pub amount: Option<Money>,
    /// When.
    pub now: DateTime<Utc>,
}

/// Who is deciding, and for whom they may act.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The caller.
    pub id: UserId,
    pub role: Role,
    /// People (and their roles) who delegated to the caller for today.
    pub acting_for: Vec<(UserId, Role)>,
}

/// Why a decision was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideError {
    /// The request is no longer pending.
    NotPending(RequestState),
    NoSuchStep,
    /// The step was already decided (or kept, or cancelled).
    StepDecided(StepState),
    /// The step is not asked yet.
    StepWaiting,
    /// The requester tried to decide their own request.
    OwnRequest,
    /// The caller is not among the step's approvers (nor their delegate).
    NotAnApprover,
    /// The caller already decided every seat they hold on this step.
    AlreadyDecided,
}

/// What a change did, for the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// A seat of step `step` (0-based) was decided.
    StepDecided {
        step: usize,
        /// Approved or rejected.
        approved: bool,
    },
    /// The request was approved.
    Approved,
    /// The request was rejected.
    Rejected,
}

/// Someone above a deal's owner in the reporting tree, nearest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainMember {
    /// Who.
    pub id: UserId,
    pub role: Role,
    /// Whether they are active.
    pub active: bool,
}

/// Where a step went because the approver it resolved to is the requester, who never approves
/// their own request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reroute {
    /// To the next active person above the requester in the reporting tree.
    Above(UserId),
    /// Nobody active is above the requester: to the deal desk queue.
    DealDeskQueue,
}

impl Reroute {
    /// Why the step goes where it goes, for the route's reasons.
    pub fn reason(&self, approver: Approver) -> String {
        let whom = match approver {
            Approver::OwnersManager => "the owner's manager",
            Approver::LeaderAboveOwner => "the leader above the owner",
            Approver::Queue(_) => "the approver",
        };
        match self {
            Reroute::Above(user) => format!(
                "{whom} is the requester, who never approves their own request: it goes to \
                 the next person above them, users/{}",
                user.0
            ),
            Reroute::DealDeskQueue => format!(
                "{whom} is the requester, who never approves their own request, and nobody is \
                 above them: it goes to the deal desk queue"
            ),
        }
    }
}

/// A step's approver, resolved: the seat, and where it went instead of to the requester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSeat {
    pub seat: Seat,
    /// `Some` when the approver the policy names is the requester.
    pub reroute: Option<Reroute>,
}

/// Resolves a step's approvers against the owner's `chain` (nearest manager first): the
/// owner's nearest active manager, the nearest active leader above the owner, or a role queue.
/// Where that is the requester, the seat goes to the next active person above them, and where
/// there is none, to the deal desk queue (the requester never approves their own request). An
/// approver the tree has nobody for is returned as the error.
pub fn resolve_step(
    chain: &[ChainMember],
    requester: UserId,
    approvers: &[Approver],
) -> Result<Vec<ResolvedSeat>, Approver> {
    approvers
        .iter()
        .map(|approver| {
            let at = match approver {
                Approver::Queue(role) => {
                    return Ok(ResolvedSeat {
                        seat: Seat::queue(*role),
                        reroute: None,
                    });
                }
                Approver::OwnersManager => chain.iter().position(|m| m.active),
                Approver::LeaderAboveOwner => chain
                    .iter()
                    .position(|m| m.active && m.role == Role::Leader),
            }
            .ok_or(*approver)?;
            if chain[at].id != requester {
                return Ok(ResolvedSeat {
                    seat: Seat::person(*approver, chain[at].id),
                    reroute: None,
                });
            }
            Ok(match chain[at + 1..].iter().find(|m| m.active) {
                Some(above) => ResolvedSeat {
                    seat: Seat::person(*approver, above.id),
                    reroute: Some(Reroute::Above(above.id)),
                },
                None => ResolvedSeat {
                    seat: Seat::queue(Role::DealDesk),
                    reroute: Some(Reroute::DealDeskQueue),
                },
            })
        })
        .collect()
}

/// The seats of [`resolve_step`], without where they were rerouted.
pub fn resolve_seats(
    chain: &[ChainMember],
    requester: UserId,
    approvers: &[Approver],
) -> Result<Vec<Seat>, Approver> {
    Ok(resolve_step(chain, requester, approvers)?
        .into_iter()
        .map(|resolved| resolved.seat)
        .collect())
}

/// Resolves every step of `route` ([`resolve_step`]), one answer per step, and adds to the
/// reasons of each step that goes elsewhere than to the requester why it goes where it goes.
pub fn resolve_route(
    chain: &[ChainMember],
    requester: UserId,
    route: &mut Route,
) -> Vec<Result<Vec<Seat>, Approver>> {
    route
        .steps
        .iter_mut()
        .map(|step| {
            let resolved = resolve_step(chain, requester, &step.step.approvers)?;
            for (approver, seat) in step.step.approvers.iter().zip(&resolved) {
                if let Some(reroute) = seat.reroute {
                    step.reasons.push(reroute.reason(*approver));
                }
            }
            Ok(resolved.into_iter().map(|r| r.seat).collect())
        })
        .collect()
}

/// Whether a route step needs a discount approval (for the gate's "discount covered").
pub fn is_discount_step(causes: &[Cause]) -> bool {
    causes.iter().any(|c| matches!(c, Cause::Discount { .. }))
}

#[cfg(test)]
mod tests;
