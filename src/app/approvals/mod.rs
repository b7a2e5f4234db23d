//! Deal-desk requests: submit (with smart re-approval), read, watch and measure; deciding,
//! withdrawing and escalating are in [`decisions`], delegating in [`delegations`]. The rules are
//! in `domain::approval_request`; here, who may do what, how approvers are resolved from the
//! reporting tree, and the transactions.

mod decisions;
mod delegations;

pub use decisions::StepDecision;
pub use delegations::NewDelegation;

use crate::domain::Problem;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::error::Precondition;
use super::names::{deal_name, request_name};
use super::ports::{
    ApprovalEventRecord, AuditEntry, Created, DeskFilter, EventDraft, EventFilter, EventKind,
    IdempotencyKey, RequestFilter, Store,
};
use super::roles::{require_desk_reader, require_metrics_reader};
use super::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::approval::{Approver, Route, Terms, check_terms, route};
use crate::domain::approval_request::{
    Actor, ApprovalRequest, ChainMember, Metrics, RequestState, Seat, Submission, metrics,
    resolve_route,
};
use crate::domain::deal::{Access, Deal, DealStatus};
use crate::domain::directory::{Role, UserId};
use crate::domain::gates::ApprovalFacts;
use crate::domain::ids::{ApprovalRequestId, DealId, PipelineId};
use crate::domain::money::Money;
use crate::domain::pipeline::Segment;

fn request_not_found(id: ApprovalRequestId) -> AppError {
    AppError::NotFound {
        kind: "approval request",
        name: request_name(id),
    }
}

fn submitted_event(request: &ApprovalRequest, actor: UserId) -> Vec<EventDraft> {
    let mut description = match request.current_step() {
        Some(i) => format!("submitted; waiting on {}", request.steps[i].spec.name),
        None => "submitted and approved at once".to_string(),
    };
    if let Some(earlier) = request.resubmits {
        description.push_str(&format!(" (resubmits {})", request_name(earlier)));
    }
    let mut events = vec![EventDraft {
        kind: EventKind::Submitted,
        request_id: request.id,
        deal_id: request.deal_id,
        step: None,
        actor: Some(actor),
        description,
        audience: request.audience(),
    }];
    if request.state == RequestState::Approved {
        events.push(EventDraft {
            kind: EventKind::Approved,
            step: None,
            description: if request.steps.is_empty() {
                "nothing needs a human: approved by the policy".into()
            } else {
                "every step kept from the earlier approval".into()
            },
            ..events[0].clone()
        });
    }
    events
}

/// Refuses a submission by someone who may not submit on the deal, or on a closed deal.
fn check_submittable(principal: &Principal, deal: &Deal, access: Access) -> AppResult<()> {
    if !matches!(access, Access::Write { .. }) && principal.role() != Role::DealDesk {
        return Err(AppError::denied(
            "REQUESTER_ROLE",
            format!(
                "a {} does not submit deal-desk requests",
                principal.role().as_str()
            ),
        ));
    }
    if deal.status != DealStatus::Open {
        return Err(AppError::FailedPrecondition {
            reason: "DEAL_CLOSED",
            message: "the deal is closed: nothing is left to approve".into(),
            violations: vec![Precondition {
                kind: "DEAL_STATUS".into(),
                subject: deal_name(deal.id),
                description: "the deal must be open".into(),
            }],
        });
    }
    Ok(())
}

/// `earlier` superseded at `at` by its resubmission `request`, with the event saying so.
fn superseded_by(
    mut earlier: ApprovalRequest,
    request: &ApprovalRequest,
    actor: UserId,
    at: DateTime<Utc>,
) -> AppResult<(ApprovalRequest, EventDraft)> {
    earlier.supersede(at).map_err(|_| AppError::StaleEtag {
        kind: "approval request",
        name: request_name(earlier.id),
    })?;
    let withdrawn = EventDraft {
        kind: EventKind::Withdrawn,
        request_id: earlier.id,
        deal_id: earlier.deal_id,
        step: None,
        actor: Some(actor),
        description: format!("superseded by {}", request_name(request.id)),
        audience: earlier.audience(),
    };
    Ok((earlier, withdrawn))
}

impl<S: Store> App<S> {
    /// The people above `owner`, nearest first, as approver resolution needs them. Loaded once
    /// per submission, for every step.
    pub(crate) async fn approver_chain(&self, owner: UserId) -> AppResult<Vec<ChainMember>> {
        let mut chain = Vec::new();
        for id in self.store.reporting_chain(owner).await? {
            if let Some(user) = self.store.get_user(id).await? {
                chain.push(ChainMember {
                    id: user.id,
                    role: user.profile.role,
                    active: user.profile.active,
                });
            }
        }
        Ok(chain)
    }

    /// Submits a request on a deal (or resubmits an earlier one), routed by the segment's newest
    /// policy. Idempotent on the key.
    pub async fn submit_request(
        &self,
        principal: &Principal,
        deal_id: DealId,
        terms: Terms,
        resubmits: Option<ApprovalRequestId>,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&ApprovalRequest) -> Vec<u8>,
    ) -> AppResult<Created<ApprovalRequest>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let (deal, access) = self.visible_deal(principal, deal_id).await?;
        check_submittable(principal, &deal, access)?;
        let (policy, mut route) = self
            .route_for(principal, deal.pipeline_id, deal.fields.amount, &terms)
            .await?;
        let earlier = self.resubmitted(deal.id, resubmits).await?;
        let seats = self.seats_of(principal, &deal, &mut route).await?;
        let at = self.now();
        let request = ApprovalRequest::submit(
            Submission {
                id: ApprovalRequestId(self.ids.id()),
                deal_id: deal.id,
                requester: principal.user.id,
                segment: policy.policy.segment,
                policy_version: policy.version,
                terms,
                amount: deal.fields.amount,
                now: at,
            },
            &route,
            seats,
            earlier.as_ref().map(|(r, _)| r),
        );
        let mut events = Vec::new();
        let superseded = match earlier {
            Some((earlier, version)) => {
                let (earlier, withdrawn) = superseded_by(earlier, &request, principal.user.id, at)?;
                events.push(withdrawn);
                Some((earlier, version))
            }
            None => None,
        };
        events.extend(submitted_event(&request, principal.user.id));
        let audit = vec![AuditEntry {
            actor: Some(principal.user.id),
            action: "SubmitApprovalRequest",
            resource: request_name(request.id),
            detail: format!(
                "{} discount {} bps, {:?}",
                deal_name(deal.id),
                request.terms.discount_bps,
                request.state
            ),
            change: None,
        }];
        let write = idempotent_write(key, || respond(&request));
        let result = self
            .store
            .insert_request(
                &request,
                superseded.as_ref().map(|(r, v)| (r, *v)),
                events,
                audit,
                write,
            )
            .await?;
        Ok(match result {
            Created::New(()) => Created::New(request),
            Created::Replayed(saved) => Created::Replayed(saved),
        })
    }

    /// The request a submission resubmits, with its version: one on the same deal that is
    /// still pending, approved or rejected.
    async fn resubmitted(
        &self,
        deal_id: DealId,
        resubmits: Option<ApprovalRequestId>,
    ) -> AppResult<Option<(ApprovalRequest, i64)>> {
        let Some(id) = resubmits else {
            return Ok(None);
        };
        let (earlier, version) = self
            .store
            .get_request(id)
            .await?
            .filter(|(r, _)| r.deal_id == deal_id)
            .ok_or_else(|| {
                AppError::invalid_field(
                    Problem::UnknownReference,
                    "resubmits",
                    "must name a request on the same deal",
                )
            })?;
        if matches!(
            earlier.state,
            RequestState::Withdrawn | RequestState::Superseded
        ) {
            return Err(AppError::FailedPrecondition {
                reason: "NOT_RESUBMITTABLE",
                message: format!(
                    "the request is {:?}: resubmit the request that replaced it, or \
                     submit a new one",
                    earlier.state
                ),
                violations: vec![Precondition {
                    kind: "REQUEST_STATE".into(),
                    subject: request_name(earlier.id),
                    description: "must be pending, approved or rejected".into(),
                }],
            });
        }
        Ok(Some((earlier, version)))
    }

    /// Who sits on each step of `route` for a request on `deal`, resolved from its owner's
    /// reporting chain (read only when some step needs it); a step rerouted away from the
    /// requester gets a reason saying where it goes and why.
    async fn seats_of(
        &self,
        principal: &Principal,
        deal: &Deal,
        route: &mut Route,
    ) -> AppResult<Vec<Vec<Seat>>> {
        let chain = if route.steps.is_empty() {
            Vec::new()
        } else {
            self.approver_chain(deal.fields.owner_id).await?
        };
        let seats = resolve_route(&chain, principal.user.id, route);
        route
            .steps
            .iter()
            .zip(seats)
            .map(|(step, seats)| seats.map_err(|missing| no_approver(&step.step.name, missing)))
            .collect()
    }

    /// Whether the principal may see a request: its deal is visible to them, or they are (or
    /// act for) one of its approvers.
    async fn may_see(&self, principal: &Principal, request: &ApprovalRequest) -> AppResult<bool> {
        if self.visible_deal(principal, request.deal_id).await.is_ok() {
            return Ok(true);
        }
        let actor = self.actor(principal).await?;
        let (users, roles) = request.audience();
        Ok(users.contains(&actor.id)
            || roles.contains(&actor.role)
            || actor
                .acting_for
                .iter()
                .any(|(u, r)| users.contains(u) || roles.contains(r)))
    }

    /// The principal as an approver today, with the delegations in force to them.
    async fn actor(&self, principal: &Principal) -> AppResult<Actor> {
        Ok(Actor {
            id: principal.user.id,
            role: principal.role(),
            acting_for: self
                .store
                .delegators_of(principal.user.id, self.today())
                .await?,
        })
    }

    /// One request the principal may see.
    pub async fn get_request(
        &self,
        principal: &Principal,
        id: ApprovalRequestId,
    ) -> AppResult<ApprovalRequest> {
        let (request, _) = self
            .store
            .get_request(id)
            .await?
            .ok_or_else(|| request_not_found(id))?;
        if self.may_see(principal, &request).await? {
            Ok(request)
        } else {
            Err(request_not_found(id))
        }
    }

    /// The requests of a visible deal, newest first.
    pub async fn list_deal_requests(
        &self,
        principal: &Principal,
        deal: DealId,
        state: Option<RequestState>,
        after: Option<(DateTime<Utc>, ApprovalRequestId)>,
        limit: u64,
    ) -> AppResult<Vec<ApprovalRequest>> {
        self.visible_deal(principal, deal).await?;
        self.store
            .list_requests(RequestFilter::Deal(deal, state), after, limit)
            .await
    }

    /// The principal's queue: pending requests (not their own) whose current step waits on
    /// them, their role queue, or someone who delegated to them today.
    pub async fn my_queue(
        &self,
        principal: &Principal,
        after: Option<(DateTime<Utc>, ApprovalRequestId)>,
        limit: u64,
    ) -> AppResult<Vec<ApprovalRequest>> {
        let actor = self.actor(principal).await?;
        let mut users = vec![actor.id];
        let mut roles = vec![actor.role];
        for (user, role) in &actor.acting_for {
            users.push(*user);
            roles.push(*role);
        }
        roles.retain(|r| matches!(r, Role::DealDesk | Role::Finance | Role::Legal));
        self.store
            .list_requests(
                RequestFilter::Queue {
                    users,
                    roles,
                    requester_not: actor.id,
                },
                after,
                limit,
            )
            .await
    }

    /// Every request of the desk that passes `filter`, newest first: for deal desk, finance,
    /// legal and admins (`DESK_READERS_ONLY` for the others).
    pub async fn desk_requests(
        &self,
        principal: &Principal,
        filter: DeskFilter,
        after: Option<(DateTime<Utc>, ApprovalRequestId)>,
        limit: u64,
    ) -> AppResult<Vec<ApprovalRequest>> {
        require_desk_reader(principal)?;
        self.store
            .list_requests(RequestFilter::Desk(filter), after, limit)
            .await
    }

    /// Checks the principal may watch events with `filter`: a deal they can see, themselves
    /// (or someone below them) as approver, a role queue they hold; everything for deal desk,
    /// finance, legal and admins.
    pub async fn check_watch(&self, principal: &Principal, filter: &EventFilter) -> AppResult<()> {
        let role = principal.role();
        let reviewer = matches!(role, Role::DealDesk | Role::Admin);
        if let Some(deal) = filter.deal {
            self.visible_deal(principal, deal).await?;
        }
        if let Some(approver) = filter.approver
            && approver != principal.user.id
            && !reviewer
            && !self
                .store
                .reporting_chain(approver)
                .await?
                .contains(&principal.user.id)
        {
            return Err(AppError::denied(
                "WATCH_SCOPE",
                "you may watch your own approvals or those of people below you",
            ));
        }
        if let Some(queue) = filter.role
            && queue != role
            && !reviewer
        {
            return Err(AppError::denied(
                "WATCH_SCOPE",
                format!("you do not hold the {} role", queue.as_str()),
            ));
        }
        let unfiltered =
            filter.deal.is_none() && filter.approver.is_none() && filter.role.is_none();
        if unfiltered
            && !matches!(
                role,
                Role::DealDesk | Role::Finance | Role::Legal | Role::Admin
            )
        {
            return Err(AppError::denied(
                "WATCH_SCOPE",
                "filter by deal, approver or role queue: only deal desk, finance, legal and \
                 admins watch every request",
            ));
        }
        Ok(())
    }

    /// Events after `after` matching `filter` (already checked with [`Self::check_watch`]).
    pub async fn approval_events(
        &self,
        after: i64,
        filter: &EventFilter,
        limit: u64,
    ) -> AppResult<Vec<ApprovalEventRecord>> {
        self.store.approval_events(after, filter, limit).await
    }

    /// Turnaround of requests submitted in `[from, to)`.
    pub async fn approval_metrics(
        &self,
        principal: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> AppResult<Metrics> {
        require_metrics_reader(principal)?;
        if to <= from {
            return Err(AppError::invalid_field(
                Problem::BadDate,
                "end_time",
                "must be after start_time",
            ));
        }
        if to - from > Duration::days(366) {
            return Err(AppError::invalid_field(
                Problem::BadDate,
                "end_time",
                "must be at most 366 days after start_time",
            ));
        }
        Ok(metrics(&self.store.requests_submitted(from, to).await?))
    }

    /// What the gates know about a deal's approvals: a pending request blocks "no pending
    /// approval"; the discount is covered when it is within the segment's pre-approved tier
    /// (no discount without a policy) or an approved request covers it.
    pub(super) async fn approval_facts(
        &self,
        deal: Option<DealId>,
        segment: Segment,
        discount_bps: u32,
    ) -> AppResult<ApprovalFacts> {
        let (pending, approved) = match deal {
            Some(id) => self.store.deal_approvals(id).await?,
            None => (false, None),
        };
        let pre_approved = self
            .store
            .get_policy(segment, None)
            .await?
            .and_then(|p| p.policy.tiers.first().map(|t| t.ceiling_bps))
            .unwrap_or(0);
        Ok(ApprovalFacts {
            pending,
            discount_covered: discount_bps <= pre_approved
                || approved.is_some_and(|bps| bps >= discount_bps),
        })
    }

    /// The newest policy of the pipeline's segment and the route of `terms` on a deal of
    /// `amount` in it.
    pub(super) async fn route_for(
        &self,
        principal: &Principal,
        pipeline_id: PipelineId,
        amount: Option<Money>,
        terms: &Terms,
    ) -> AppResult<(
        Arc<crate::domain::approval::PolicyVersion>,
        crate::domain::approval::Route,
    )> {
        let pipeline = self.get_pipeline(principal, pipeline_id).await?;
        let policy = self
            .store
            .get_policy(pipeline.spec.segment, None)
            .await?
            .ok_or_else(|| AppError::FailedPrecondition {
                reason: "NO_APPROVAL_POLICY",
                message: format!(
                    "no approval policy for the {:?} segment yet",
                    pipeline.spec.segment
                ),
                violations: vec![Precondition {
                    kind: "APPROVAL_POLICY".into(),
                    subject: format!("{:?}", pipeline.spec.segment),
                    description: "an admin or deal desk must create the segment's policy".into(),
                }],
            })?;
        check_terms(&policy.policy, terms).map_err(AppError::invalid)?;
        let route = route(&policy.policy, amount, terms);
        Ok((policy, route))
    }
}

fn no_approver(step_name: &str, missing: Approver) -> AppError {
    AppError::FailedPrecondition {
        reason: "NO_APPROVER",
        message: format!(
            "nobody can approve {step_name:?}: the deal's owner has no {} other than the \
             requester",
            match missing {
                Approver::OwnersManager => "active manager",
                _ => "active leader above them",
            }
        ),
        violations: vec![Precondition {
            kind: "APPROVER".into(),
            subject: step_name.to_string(),
            description: "the reporting tree must name an approver".into(),
        }],
    }
}
