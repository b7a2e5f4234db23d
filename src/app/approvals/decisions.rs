//! Changes to a stored request: deciding a step, withdrawing, escalating overdue steps. Each
//! reads the request, applies the domain's transition and saves it only if nothing changed it
//! since, trying again when a concurrent change won the race.

use chrono::{DateTime, Utc};

use super::request_not_found;
use crate::app::error::Precondition;
use crate::app::names::user_name;
use crate::app::names::{request_name, step_name};
use crate::app::ports::{
    AuditEntry, Created, EventDraft, EventKind, IdempotencyKey, Store, UserFilter,
};
use crate::app::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::Violations;
use crate::domain::approval_request::{ApprovalRequest, DecideError, Happened, Seat};
use crate::domain::directory::{Role, User, UserId};
use crate::domain::ids::ApprovalRequestId;
use crate::domain::text::Note;

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

/// An approver's decision on one step of a request.
#[derive(Debug, Clone, Copy)]
pub struct StepDecision<'a> {
    /// The step, 0-based.
    pub step: usize,
    /// Approve (else reject).
    pub approve: bool,
    /// Why; required to reject.
    pub comment: &'a str,
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
                    "{} {} by {}{}",
                    request.steps[*step].spec.name,
                    if *approved { "approved" } else { "rejected" },
                    user_name(actor),
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

impl<S: Store> App<S> {
    /// Applies `change` to the stored request and saves it, with the events and audit rows
    /// `change` returns, only if the request is still at the version read. A change that lost
    /// a race with another change of the request is applied again to what that one left (up to
    /// [`DECIDE_ATTEMPTS`] times). Idempotent on the key, also against concurrent retries of
    /// itself.
    async fn change_request(
        &self,
        id: ApprovalRequestId,
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
    pub async fn decide_step(
        &self,
        principal: &Principal,
        id: ApprovalRequestId,
        decision: StepDecision<'_>,
        key: Option<IdempotencyKey>,
        respond: impl Fn(&ApprovalRequest) -> Vec<u8>,
    ) -> AppResult<Created<ApprovalRequest>> {
        let StepDecision {
            step,
            approve,
            comment,
        } = decision;
        let mut v = Violations::new();
        v.text::<Note>("comment", comment);
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
        id: ApprovalRequestId,
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
                description: format!("withdrawn by {}", user_name(principal.user.id)),
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
            let to: Vec<String> = targets.iter().flatten().map(|u| user_name(*u)).collect();
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
