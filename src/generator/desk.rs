//! Deal-desk requests for a generated book: the open deals whose discount needs approval, each
//! routed by its segment's policy and decided, part way or in full, by the people it reaches.

use std::collections::HashMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use uuid::Uuid;

use super::uuid_v7_like;
use crate::domain::approval::{PolicyVersion, Terms, route};
use crate::domain::approval_request::{
    Actor, ApprovalRequest, ChainMember, RequestState, Submission, resolve_seats,
};
use crate::domain::deal::{Deal, DealStatus};
use crate::domain::directory::{Role, UserId};
use crate::domain::ids::ApprovalRequestId;
use crate::domain::pipeline::Pipeline;
use crate::domain::random::Rng;

/// Who the deal desk's requests meet: each owner's reporting chain (nearest manager first) and
/// the people working the role queues (finance, legal).
#[derive(Debug, Clone, Default)]
pub struct DeskPeople {
    /// Owner -> the people above them.
    pub chains: HashMap<UserId, Vec<ChainMember>>,
    /// One person per role queue.
    pub queues: Vec<(Role, UserId)>,
}

/// Approval requests for the open deals of `deals` whose discount needs one under the newest
/// policy of their segment, submitted by the owner at some time before `now`: about 40% still
/// pending (some half-way through their route), 35% approved, 15% rejected, 10% withdrawn.
/// Each step is decided by a person it routes to. Deals whose route cannot be staffed are left
/// without a request.
pub fn approval_requests(
    seed: u64,
    deals: &[Deal],
    pipelines: &[Pipeline],
    policies: &[PolicyVersion],
    people: &DeskPeople,
    now: DateTime<Utc>,
) -> Vec<ApprovalRequest> {
    let mut rng = Rng::new(seed);
    let now = now.trunc_subsecs(6);
    let finance = people.queues.iter().find(|(r, _)| *r == Role::Finance);
    let mut requests = Vec::new();
    for deal in deals {
        let policy = latest_policy(deal, pipelines, policies);
        let (Some(policy), DealStatus::Open) = (policy, deal.status) else {
            continue;
        };
        if deal.fields.discount_bps == 0 {
            continue;
        }
        let owner = deal.fields.owner_id;
        let terms = Terms {
            discount_bps: deal.fields.discount_bps,
            // Some ask for longer payment terms too, which adds finance to the route.
            payment_days: if finance.is_some() && rng.chance(0.15) {
                60
            } else {
                30
            },
            ..Terms::default()
        };
        let path = route(&policy.policy, deal.fields.amount, &terms);
        if path.auto_approved() {
            continue;
        }
        let chain = people.chains.get(&owner).map(Vec::as_slice).unwrap_or(&[]);
        let Ok(seats) = path
            .steps
            .iter()
            .map(|s| resolve_seats(chain, owner, &s.step.approvers))
            .collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        let outcome = rng.weighted(&[
            (RequestState::Pending, 40),
            (RequestState::Approved, 35),
            (RequestState::Rejected, 15),
            (RequestState::Withdrawn, 10),
        ]);
        // Pending requests are recent (some past their SLA); closed ones a few weeks old.
        let age_hours = match outcome {
            RequestState::Pending => 1.0 + rng.unit() * 72.0,
            _ => 72.0 + rng.unit() * 600.0,
        };
        let submitted = (now - Duration::minutes((age_hours * 60.0) as i64)).max(deal.created_at);
        let id = ApprovalRequestId(uuid_v7_like(
            Uuid::from_u64_pair(rng.next_u64(), rng.next_u64()),
            submitted,
        ));
        let mut request = ApprovalRequest::submit(
            Submission {
                id,
                deal_id: deal.id,
                requester: owner,
                segment: policy.policy.segment,
                policy_version: policy.version,
                terms,
                amount: deal.fields.amount,
                now: submitted,
            },
            &path,
            seats,
            None,
        );
        decide_as_drawn(&mut request, outcome, submitted, people, &mut rng, now);
        requests.push(request);
    }
    requests
}

/// The newest policy version of the deal's pipeline's segment.
fn latest_policy<'p>(
    deal: &Deal,
    pipelines: &[Pipeline],
    policies: &'p [PolicyVersion],
) -> Option<&'p PolicyVersion> {
    let segment = pipelines
        .iter()
        .find(|p| p.id == deal.pipeline_id)
        .map(|p| p.spec.segment);
    policies
        .iter()
        .filter(|p| Some(p.policy.segment) == segment)
        .max_by_key(|p| p.version)
}

/// Decides `request` the way `outcome` was drawn: steps approved (or the last one rejected) by
/// their seats in turn, at times drawn after `submitted` and no later than `now`, then
/// withdrawn if so drawn.
fn decide_as_drawn(
    request: &mut ApprovalRequest,
    outcome: RequestState,
    submitted: DateTime<Utc>,
    people: &DeskPeople,
    rng: &mut Rng,
    now: DateTime<Utc>,
) {
    let mut at = submitted;
    let mut later = |rng: &mut Rng| {
        at = (at + Duration::minutes(30 + rng.below(20 * 60) as i64)).min(now);
        at
    };
    let steps = request.steps.len();
    let decided = match outcome {
        RequestState::Pending => rng.below(steps),
        RequestState::Approved => steps,
        RequestState::Rejected => rng.below(steps) + 1,
        _ => 0,
    };
    for step in 0..decided {
        let approve = !(outcome == RequestState::Rejected && step + 1 == decided);
        let comment = if approve {
            "Within guidelines for this account"
        } else {
            "Too deep for this segment: come back nearer list"
        };
        // Each undecided seat in turn until the step completes (one on ANY, all on ALL).
        while request.current_step() == Some(step) {
            let Some(actor) = next_actor(request, step, people) else {
                break;
            };
            let when = later(rng);
            if request
                .decide(step, &actor, approve, comment, when)
                .is_err()
            {
                break;
            }
        }
    }
    if outcome == RequestState::Withdrawn {
        let when = later(rng);
        let _ = request.withdraw(when);
    }
}

/// The next undecided seat of `step` as an actor: its person, or the holder of its role queue.
fn next_actor(request: &ApprovalRequest, step: usize, people: &DeskPeople) -> Option<Actor> {
    request.steps[step]
        .seats
        .iter()
        .filter(|seat| seat.decision.is_none())
        .find_map(|seat| {
            let id = seat.user.or_else(|| {
                let role = seat.role()?;
                people.queues.iter().find(|(r, _)| *r == role).map(|p| p.1)
            })?;
            Some(Actor {
                id,
                role: seat.role().unwrap_or(Role::Manager),
                acting_for: vec![],
            })
        })
}
