//! The deal desk's rows: policy and request documents, the approver queue index, and the
//! writes a request's change shares (its queue, its events, its versioned update).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
};

use crate::app::AppError;
use crate::app::names::request_name;
use crate::app::ports::Topic;
use crate::app::ports::{Created, EventDraft, EventKind};
use crate::domain::approval::{Policy, PolicyVersion};
use crate::domain::approval_request::{ApprovalRequest, Delegation, RequestState};
use crate::domain::directory::{Role, UserId};
use crate::persistence::changes::notify_in;
use crate::persistence::codec::uuid;
use crate::persistence::codec::{corrupt, encode_role, encode_segment};
use crate::persistence::entities::{
    approval_event, approval_policy, approval_queue, approval_request, delegation,
};
use crate::persistence::{SqlStore, storage};

pub(super) fn from_row(row: approval_policy::Model) -> Result<PolicyVersion, DbErr> {
    let policy: Policy = serde_json::from_str(&row.document)
        .map_err(|e| corrupt("policy document", &e.to_string()))?;
    let creator = row
        .creator_id
        .as_deref()
        .map(|id| uuid(id).map(UserId))
        .transpose()?;
    Ok(PolicyVersion {
        version: row.version,
        policy,
        creator,
        created_at: row.created_at,
    })
}

pub(super) fn encode_state(state: RequestState) -> &'static str {
    match state {
        RequestState::Pending => "PENDING",
        RequestState::Approved => "APPROVED",
        RequestState::Rejected => "REJECTED",
        RequestState::Withdrawn => "WITHDRAWN",
        RequestState::Superseded => "SUPERSEDED",
    }
}

fn encode_kind(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Submitted => "SUBMITTED",
        EventKind::StepDecided => "STEP_DECIDED",
        EventKind::Escalated => "ESCALATED",
        EventKind::Approved => "APPROVED",
        EventKind::Rejected => "REJECTED",
        EventKind::Withdrawn => "WITHDRAWN",
    }
}

pub(super) fn decode_kind(text: &str) -> Result<EventKind, DbErr> {
    Ok(match text {
        "SUBMITTED" => EventKind::Submitted,
        "STEP_DECIDED" => EventKind::StepDecided,
        "ESCALATED" => EventKind::Escalated,
        "APPROVED" => EventKind::Approved,
        "REJECTED" => EventKind::Rejected,
        "WITHDRAWN" => EventKind::Withdrawn,
        other => return Err(corrupt("event kind", other)),
    })
}

/// The queue key of a user.
pub(super) fn user_key(user: UserId) -> String {
    format!("user:{}", user.0)
}

/// The queue key of a role queue.
pub(super) fn role_key(role: Role) -> String {
    format!("role:{}", encode_role(role))
}

fn document(request: &ApprovalRequest) -> Result<String, AppError> {
    serde_json::to_string(request).map_err(|e| AppError::Storage(e.to_string()))
}

pub(super) fn request_from(row: approval_request::Model) -> Result<ApprovalRequest, DbErr> {
    serde_json::from_str(&row.document).map_err(|e| corrupt("request document", &e.to_string()))
}

pub(super) fn delegation_from(row: delegation::Model) -> Result<Delegation, DbErr> {
    Ok(Delegation {
        id: uuid(&row.id)?,
        delegator: UserId(uuid(&row.delegator_id)?),
        delegate: UserId(uuid(&row.delegate_id)?),
        start: row.start_date,
        end: row.end_date,
        creator: UserId(uuid(&row.creator_id)?),
        created_at: row.created_at,
    })
}

/// Who a pending request's current step waits on, as queue rows (none once it is closed).
pub(super) fn queue_rows(request: &ApprovalRequest) -> Vec<approval_queue::ActiveModel> {
    if request.state != RequestState::Pending {
        return Vec::new();
    }
    let (users, roles) = request.waiting_on();
    users
        .into_iter()
        .map(user_key)
        .chain(roles.into_iter().map(role_key))
        .map(|key| approval_queue::ActiveModel {
            request_id: Set(request.id.to_string()),
            waiting_on: Set(key),
            created_at: Set(request.created_at),
        })
        .collect()
}

/// A new request's row.
pub(super) fn request_row(
    request: &ApprovalRequest,
) -> Result<approval_request::ActiveModel, AppError> {
    Ok(approval_request::ActiveModel {
        id: Set(request.id.to_string()),
        deal_id: Set(request.deal_id.to_string()),
        requester_id: Set(request.requester.0.to_string()),
        segment: Set(encode_segment(request.segment).to_string()),
        state: Set(encode_state(request.state).to_string()),
        discount_bps: Set(request.terms.discount_bps as i32),
        created_at: Set(request.created_at),
        next_due_at: Set(request.next_due()),
        lock_version: Set(1),
        document: Set(document(request)?),
    })
}

/// Newest first after `(created_at, id)`.
pub(super) fn before(
    created: impl ColumnTrait,
    id: impl ColumnTrait,
    after: Option<(DateTime<Utc>, impl std::fmt::Display)>,
) -> Condition {
    match after {
        None => Condition::all(),
        Some((at, last)) => Condition::any().add(created.lt(at)).add(
            Condition::all()
                .add(created.eq(at))
                .add(id.lt(last.to_string())),
        ),
    }
}

impl SqlStore {
    /// Rewrites who a request's current step waits on.
    pub(super) async fn write_queue(
        &self,
        txn: &DatabaseTransaction,
        request: &ApprovalRequest,
    ) -> Result<(), DbErr> {
        approval_queue::Entity::delete_many()
            .filter(approval_queue::Column::RequestId.eq(request.id.to_string()))
            .exec(txn)
            .await?;
        let rows = queue_rows(request);
        if !rows.is_empty() {
            approval_queue::Entity::insert_many(rows)
                .exec_without_returning(txn)
                .await?;
        }
        Ok(())
    }

    /// Appends events; they are numbered once committed (see [`SqlStore::sequence_events`]).
    pub(super) async fn append_events(
        &self,
        txn: &DatabaseTransaction,
        events: Vec<EventDraft>,
    ) -> Result<(), DbErr> {
        if events.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        for event in events {
            let (users, roles) = &event.audience;
            let mut audience = String::from(" ");
            for key in users
                .iter()
                .map(|u| user_key(*u))
                .chain(roles.iter().map(|r| role_key(*r)))
            {
                audience.push_str(&key);
                audience.push(' ');
            }
            approval_event::Entity::insert(approval_event::ActiveModel {
                request_id: Set(event.request_id.to_string()),
                deal_id: Set(event.deal_id.to_string()),
                kind: Set(encode_kind(event.kind).to_string()),
                step: Set(event.step.map(|s| s as i32)),
                actor_id: Set(event.actor.map(|a| a.0.to_string())),
                description: Set(event.description),
                audience: Set(audience),
                created_at: Set(now),
                ..Default::default()
            })
            .exec_without_returning(txn)
            .await?;
        }
        notify_in(txn, Topic::ApprovalEvents).await
    }

    /// Wakes this process's approval event streams after a write that appended events
    /// committed.
    pub(super) fn approval_events_committed(&self, news: bool, written: &Created<()>) {
        if news && matches!(written, Created::New(())) {
            self.committed(Topic::ApprovalEvents);
        }
    }

    /// Saves `request` if it is still at `version`; ABORTED otherwise.
    pub(super) async fn update_request(
        &self,
        txn: &DatabaseTransaction,
        request: &ApprovalRequest,
        version: i64,
    ) -> Result<(), AppError> {
        let result = approval_request::Entity::update_many()
            .col_expr(
                approval_request::Column::State,
                Expr::value(encode_state(request.state)),
            )
            .col_expr(
                approval_request::Column::NextDueAt,
                Expr::value(request.next_due()),
            )
            .col_expr(
                approval_request::Column::LockVersion,
                Expr::value(version + 1),
            )
            .col_expr(
                approval_request::Column::Document,
                Expr::value(document(request)?),
            )
            .filter(approval_request::Column::Id.eq(request.id.to_string()))
            .filter(approval_request::Column::LockVersion.eq(version))
            .exec(txn)
            .await
            .map_err(storage)?;
        if result.rows_affected != 1 {
            return Err(AppError::StaleEtag {
                kind: "approval request",
                name: request_name(request.id),
            });
        }
        self.write_queue(txn, request).await.map_err(storage)
    }
}
