//! Deal-desk requests: submit (with smart re-approval), decide, withdraw, delegate, escalate,
//! watch and measure. The rules are in `domain::approval_request`; here, who may do what, how
//! approvers are resolved from the reporting tree, and the transactions.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::error::Precondition;
use super::ports::{
    ApprovalEventRecord, AuditEntry, Created, EventDraft, EventFilter, EventKind, IdempotencyKey,
    RequestFilter, Store, UserFilter,
};
use super::roles::require_metrics_reader;
use super::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::approval::{Approver, Terms, check_terms, route};
use crate::domain::approval_request::{
    Actor, ApprovalRequest, ChainMember, DecideError, Delegation, Happened, Metrics, RequestState,
    Seat, Submission, check_delegation, metrics, resolve_seats,
};
use crate::domain::check_text;
use crate::domain::deal::{Access, DealStatus};
use crate::domain::directory::{Role, User, UserId};
use crate::domain::gates::ApprovalFacts;
use crate::domain::money::Money;
use crate::domain::{Violations, pipeline::Segment};

/// `approvalRequests/{id}`.
pub fn request_name(id: Uuid) -> String {
    format!("approvalRequests/{id}")
}

/// `approvalRequests/{id}/steps/{n}` for the 0-based step `index`.
pub fn step_name(id: Uuid, index: usize) -> String {
    format!("approvalRequests/{id}/steps/{}", index + 1)
}

fn request_not_found(id: Uuid) -> AppError {
    AppError::NotFound {
        kind: "approval request",
        name: request_name(id),
    }
}

fn closed(request: &ApprovalRequest, what: &str) -> AppError {
    AppError::FailedPrecondition {
        reason: "REQUEST_CLOSED",
        message: format!("the request is {:?}: it cannot be {what}", request.state),
        violations: vec![Precondition {
            kind: "REQUEST_STATE".into(),
            subject: request_name(request.id),
            description: "the request must be pending".into(),
        }],
    }
}

/// Attempts at a decision that lost a race with another change of the same request.
const DECIDE_ATTEMPTS: usize = 5;

/// The event log entries for what a decision did.
fn events_of(
    request: &ApprovalRequest,
    happened: &[Happened],
    actor: UserId,
    comment: &str,
) -> Vec<EventDraft> {
    let event = |kind, step: Option<usize>, description: String| EventDraft {
        kind,
        request_id: request.id,
        deal_id: request.deal_id,
        step,
        actor: Some(actor),
        description,
        audience: request.audience(),
    };
    happened
        .iter()
        .map(|h| match h {
            Happened::StepDecided { step, approved } => event(
                EventKind::StepDecided,
                Some(*step),
                format!(
                    "{} {} by users/{}{}",
                    request.steps[*step].spec.name,
                    if *approved { "approved" } else { "rejected" },
                    actor.0,
                    if comment.is_empty() {
                        String::new()
                    } else {
                        format!(": {comment}")
                    }
                ),
            ),
            Happened::Approved => event(
                EventKind::Approved,
                None,
                "every step approved: the request is approved".into(),
            ),
            Happened::Rejected => event(
                EventKind::Rejected,
                None,
                "a step was rejected: the request is rejected".into(),
            ),
        })
        .collect()
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

impl<S: Store> App<S> {
    /// The people above `owner`, nearest first, as approver resolution needs them. Loaded once
    /// per submission, for every step.
    async fn approver_chain(&self, owner: UserId) -> AppResult<Vec<ChainMember>> {
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
        deal_id: Uuid,
        terms: Terms,
        resubmits: Option<Uuid>,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&ApprovalRequest) -> Vec<u8>,
    ) -> AppResult<Created<ApprovalRequest>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let (deal, access) = self.visible_deal(principal, deal_id).await?;
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
                    subject: format!("deals/{}", deal.id),
                    description: "the deal must be open".into(),
                }],
            });
        }
        let (policy, route) = self
            .route_for(principal, deal.pipeline_id, deal.fields.amount, &terms)
            .await?;
        let earlier = match resubmits {
            None => None,
            Some(id) => {
                let (earlier, version) = self
                    .store
                    .get_request(id)
                    .await?
                    .filter(|(r, _)| r.deal_id == deal.id)
                    .ok_or_else(|| {
                        AppError::invalid_field("resubmits", "must name a request on the same deal")
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
                Some((earlier, version))
            }
        };
        let chain = if route.steps.is_empty() {
            Vec::new()
        } else {
            self.approver_chain(deal.fields.owner_id).await?
        };
        let seats = route
            .steps
            .iter()
            .map(|step| {
                resolve_seats(&chain, principal.user.id, &step.step.approvers)
                    .map_err(|missing| no_approver(&step.step.name, missing))
            })
            .collect::<AppResult<Vec<_>>>()?;
        let at = self.now();
        let request = ApprovalRequest::submit(
            Submission {
                id: Uuid::now_v7(),
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
            Some((mut earlier, version)) => {
                earlier.supersede(at).map_err(|_| AppError::StaleEtag {
                    kind: "approval request",
                    name: request_name(earlier.id),
                })?;
                events.push(EventDraft {
                    kind: EventKind::Withdrawn,
                    request_id: earlier.id,
                    deal_id: earlier.deal_id,
                    step: None,
                    actor: Some(principal.user.id),
                    description: format!("superseded by {}", request_name(request.id)),
                    audience: earlier.audience(),
                });
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
                "deals/{} discount {} bps, {:?}",
                deal.id, request.terms.discount_bps, request.state
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
    pub async fn get_request(&self, principal: &Principal, id: Uuid) -> AppResult<ApprovalRequest> {
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
        deal: Uuid,
        state: Option<RequestState>,
        after: Option<(DateTime<Utc>, Uuid)>,
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
        after: Option<(DateTime<Utc>, Uuid)>,
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

    /// Applies `change` to the stored request and saves it, with the events and audit rows
    /// `change` returns, only if the request is still at the version read. A change that lost
    /// a race with another change of the request is applied again to what that one left (up to
    /// [`DECIDE_ATTEMPTS`] times). Idempotent on the key, also against concurrent retries of
    /// itself.
    async fn change_request(
        &self,
        id: Uuid,
        key: Option<IdempotencyKey>,
        respond: impl Fn(&ApprovalRequest) -> Vec<u8>,
        change: impl Fn(&mut ApprovalRequest) -> AppResult<(Vec<EventDraft>, Vec<AuditEntry>)>,
    ) -> AppResult<Created<ApprovalRequest>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let result = async {
            for _ in 0..DECIDE_ATTEMPTS {
                let (mut request, version) = self
                    .store
                    .get_request(id)
                    .await?
                    .ok_or_else(|| request_not_found(id))?;
                let (events, audit) = change(&mut request)?;
                let write = idempotent_write(key.clone(), || respond(&request));
                match self
                    .store
                    .save_request(&request, version, events, audit, write)
                    .await
                {
                    Ok(Created::New(())) => return Ok(Created::New(request)),
                    Ok(Created::Replayed(saved)) => return Ok(Created::Replayed(saved)),
                    Err(AppError::StaleEtag { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(AppError::StaleEtag {
                kind: "approval request",
                name: request_name(id),
            })
        }
        .await;
        self.or_replayed(result, key.as_ref()).await
    }

    /// Approves or rejects step `step` (0-based) of a request. Idempotent on the key, also
    /// against concurrent retries of itself; concurrent decisions by different approvers are
    /// applied one after the other, never both on a step one of them completed.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_step(
        &self,
        principal: &Principal,
        id: Uuid,
        step: usize,
        approve: bool,
        comment: &str,
        key: Option<IdempotencyKey>,
        respond: impl Fn(&ApprovalRequest) -> Vec<u8>,
    ) -> AppResult<Created<ApprovalRequest>> {
        let mut v = Violations::new();
        check_text(&mut v, "comment", comment, 2000, false);
        if !approve && comment.trim().is_empty() {
            v.add("comment", "is required to reject: say why");
        }
        if !v.is_empty() {
            return Err(AppError::invalid(v));
        }
        // Someone who may not see the request learns nothing of it, not even that it exists:
        // NOT_FOUND, as GetApprovalRequest answers them. Who may see it does not change
        // between attempts, so it is checked once, up front.
        self.get_request(principal, id).await?;
        let actor = self.actor(principal).await?;
        self.change_request(id, key, respond, |request| {
            let happened = request
                .decide(step, &actor, approve, comment, self.now())
                .map_err(|e| decide_error(request, step, e))?;
            let audit = vec![AuditEntry {
                actor: Some(actor.id),
                action: if approve {
                    "ApproveApprovalStep"
                } else {
                    "RejectApprovalStep"
                },
                resource: step_name(id, step),
                detail: comment.to_string(),
                change: None,
            }];
            Ok((events_of(request, &happened, actor.id, comment), audit))
        })
        .await
    }

    /// Withdraws a pending request: its requester, deal desk or an admin.
    pub async fn withdraw_request(
        &self,
        principal: &Principal,
        id: Uuid,
        key: Option<IdempotencyKey>,
        respond: impl Fn(&ApprovalRequest) -> Vec<u8>,
    ) -> AppResult<Created<ApprovalRequest>> {
        // Who may withdraw does not change between attempts: checked once, up front.
        let request = self.get_request(principal, id).await?;
        if request.requester != principal.user.id
            && !matches!(principal.role(), Role::DealDesk | Role::Admin)
        {
            return Err(AppError::denied(
                "NOT_THE_REQUESTER",
                "only the requester, deal desk or an admin withdraws a request",
            ));
        }
        self.change_request(id, key, respond, |request| {
            request
                .withdraw(self.now())
                .map_err(|_| closed(request, "withdrawn"))?;
            let events = vec![EventDraft {
                kind: EventKind::Withdrawn,
                request_id: id,
                deal_id: request.deal_id,
                step: None,
                actor: Some(principal.user.id),
                description: format!("withdrawn by users/{}", principal.user.id.0),
                audience: request.audience(),
            }];
            let audit = vec![AuditEntry {
                actor: Some(principal.user.id),
                action: "WithdrawApprovalRequest",
                resource: request_name(id),
                detail: String::new(),
                change: None,
            }];
            Ok((events, audit))
        })
        .await
    }

    /// Escalates every step past its SLA at `now` to the approvers' managers (for a role queue:
    /// the managers of the role's active holders). Safe to run on several replicas at once:
    /// each escalation is saved only if the request did not change since it was read, so a
    /// step escalates once. Returns how many steps this call escalated.
    pub async fn escalate_overdue(&self, now: DateTime<Utc>) -> AppResult<usize> {
        let mut escalated = 0;
        for id in self.store.overdue_requests(now, 200).await? {
            let Some((mut request, version)) = self.store.get_request(id).await? else {
                continue;
            };
            let Some(index) = request.overdue(now) else {
                continue;
            };
            let mut targets = Vec::new();
            for seat in &request.steps[index].seats {
                targets.push(self.escalation_targets(seat).await?);
            }
            if !request.escalate(index, &targets, now) {
                continue;
            }
            let step = &request.steps[index];
            let to: Vec<String> = targets
                .iter()
                .flatten()
                .map(|u| format!("users/{}", u.0))
                .collect();
            let description = format!(
                "{} passed its {}-hour SLA; escalated to {}",
                step.spec.name,
                step.spec.sla_hours,
                if to.is_empty() {
                    "nobody (no manager above the approvers)".to_string()
                } else {
                    to.join(", ")
                }
            );
            let events = vec![EventDraft {
                kind: EventKind::Escalated,
                request_id: id,
                deal_id: request.deal_id,
                step: Some(index),
                actor: None,
                description: description.clone(),
                audience: request.audience(),
            }];
            let audit = vec![AuditEntry {
                actor: None,
                action: "EscalateApprovalStep",
                resource: step_name(id, index),
                detail: description,
                change: None,
            }];
            match self
                .store
                .save_request(&request, version, events, audit, None)
                .await
            {
                Ok(_) => escalated += 1,
                // Another replica (or a decision) changed the request first.
                Err(AppError::StaleEtag { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(escalated)
    }

    /// Whom an undecided seat escalates to: the approver's manager, or for a role queue the
    /// managers of the role's active holders (read with the holders, no query per holder).
    async fn escalation_targets(&self, seat: &Seat) -> AppResult<Vec<UserId>> {
        let holders: Vec<User> = match (seat.user, seat.role()) {
            (Some(user), _) => self.store.get_user(user).await?.into_iter().collect(),
            (None, Some(role)) => {
                let filter = UserFilter {
                    manager: None,
                    role: Some(role),
                };
                self.store.list_users(filter, None, 100).await?
            }
            (None, None) => vec![],
        };
        let mut managers = Vec::new();
        for holder in holders
            .iter()
            .filter(|u| seat.user.is_some() || u.profile.active)
        {
            if let Some(manager) = holder.profile.manager_id
                && !managers.contains(&manager)
            {
                managers.push(manager);
            }
        }
        Ok(managers)
    }

    /// Delegates the approvals of `delegation.delegator` (the caller, or anyone for an admin)
    /// to another active user for a date range, refusing ranges that would close a cycle.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_delegation(
        &self,
        principal: &Principal,
        delegator: Option<UserId>,
        delegate: UserId,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Delegation) -> Vec<u8>,
    ) -> AppResult<Created<Delegation>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let delegator = delegator.unwrap_or(principal.user.id);
        if delegator != principal.user.id && principal.role() != Role::Admin {
            return Err(AppError::denied(
                "OWN_DELEGATIONS_ONLY",
                "only an admin delegates someone else's approvals",
            ));
        }
        let active = |u: Option<User>| u.is_some_and(|u| u.profile.active);
        if !active(self.store.get_user(delegator).await?) {
            return Err(AppError::invalid_field(
                "delegation.delegator",
                "must be an active user",
            ));
        }
        if !active(self.store.get_user(delegate).await?) {
            return Err(AppError::invalid_field(
                "delegation.delegate",
                "must be an active user",
            ));
        }
        let delegation = Delegation {
            id: Uuid::now_v7(),
            delegator,
            delegate,
            start,
            end,
            creator: principal.user.id,
            created_at: self.now(),
        };
        check_delegation(&delegation, &[]).map_err(AppError::invalid)?;
        let audit = AuditEntry {
            actor: Some(principal.user.id),
            action: "CreateDelegation",
            resource: format!("delegations/{}", delegation.id),
            detail: format!(
                "users/{} to users/{} from {} to {}",
                delegator.0, delegate.0, start, end
            ),
            change: None,
        };
        let write = idempotent_write(key, || respond(&delegation));
        let check = |existing: &[Delegation]| {
            check_delegation(&delegation, existing).map_err(AppError::invalid)
        };
        Ok(
            match self
                .store
                .insert_delegation(&delegation, check, audit, write)
                .await?
            {
                Created::New(()) => Created::New(delegation),
                Created::Replayed(saved) => Created::Replayed(saved),
            },
        )
    }

    /// Delegations given by or to the caller; deal desk and admins see every one.
    pub async fn list_delegations(
        &self,
        principal: &Principal,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> AppResult<Vec<Delegation>> {
        let user = match principal.role() {
            Role::Admin | Role::DealDesk => None,
            _ => Some(principal.user.id),
        };
        self.store.list_delegations(user, after, limit).await
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
                "end_time",
                "must be after start_time",
            ));
        }
        if to - from > Duration::days(366) {
            return Err(AppError::invalid_field(
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
        deal: Option<Uuid>,
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
        pipeline_id: Uuid,
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

fn decide_error(request: &ApprovalRequest, step: usize, err: DecideError) -> AppError {
    let failed = |reason, message: String, description: &str| AppError::FailedPrecondition {
        reason,
        message,
        violations: vec![Precondition {
            kind: "STEP_STATE".into(),
            subject: step_name(request.id, step),
            description: description.into(),
        }],
    };
    match err {
        DecideError::NotPending(_) => closed(request, "decided"),
        DecideError::NoSuchStep => AppError::NotFound {
            kind: "approval step",
            name: step_name(request.id, step),
        },
        DecideError::StepDecided(state) => failed(
            "STEP_DECIDED",
            format!("the step is already {state:?}"),
            "the step must be pending",
        ),
        DecideError::StepWaiting => failed(
            "STEP_NOT_STARTED",
            "an earlier step is still pending".into(),
            "steps are decided in order",
        ),
        DecideError::AlreadyDecided => failed(
            "ALREADY_DECIDED",
            "you already decided this step; the other approvers are still asked".into(),
            "each approver decides once",
        ),
        DecideError::OwnRequest => AppError::denied(
            "OWN_REQUEST",
            "the requester never approves or rejects their own request",
        ),
        DecideError::NotAnApprover => AppError::denied(
            "NOT_AN_APPROVER",
            "you are not an approver of this step (nor their delegate)",
        ),
    }
}
