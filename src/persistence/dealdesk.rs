//! Deal-desk storage on SQL: policy versions and requests as JSON documents beside the columns
//! filtered on, the approver queue index, delegations and the approval event log.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::changes::notify_in;
use super::codec::uuid;
use super::codec::{corrupt, decode_role, encode_role, encode_segment};
use super::entities::{
    approval_event, approval_policy, approval_queue, approval_request, deal, delegation, user,
};
use super::{EventLog, Lock, SqlStore, is_unique_violation, record_audit, storage};
use crate::app::ports::Topic;
use crate::app::ports::{
    ApprovalEventRecord, AuditEntry, Created, DealDeskStore, EventDraft, EventFilter, EventKind,
    IdempotentWrite, RequestFilter,
};
use crate::app::{AppError, AppResult};
use crate::domain::approval::{Policy, PolicyVersion};
use crate::domain::approval_request::{ApprovalRequest, Delegation, RequestState};
use crate::domain::directory::{Role, UserId};
use crate::domain::pipeline::Segment;

fn from_row(row: approval_policy::Model) -> Result<PolicyVersion, DbErr> {
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

fn encode_state(state: RequestState) -> &'static str {
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

fn decode_kind(text: &str) -> Result<EventKind, DbErr> {
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
fn user_key(user: UserId) -> String {
    format!("user:{}", user.0)
}

/// The queue key of a role queue.
fn role_key(role: Role) -> String {
    format!("role:{}", encode_role(role))
}

fn document(request: &ApprovalRequest) -> Result<String, AppError> {
    serde_json::to_string(request).map_err(|e| AppError::Storage(e.to_string()))
}

fn request_from(row: approval_request::Model) -> Result<ApprovalRequest, DbErr> {
    serde_json::from_str(&row.document).map_err(|e| corrupt("request document", &e.to_string()))
}

fn delegation_from(row: delegation::Model) -> Result<Delegation, DbErr> {
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
fn queue_rows(request: &ApprovalRequest) -> Vec<approval_queue::ActiveModel> {
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
fn request_row(request: &ApprovalRequest) -> Result<approval_request::ActiveModel, AppError> {
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
fn before(
    created: impl ColumnTrait,
    id: impl ColumnTrait,
    after: Option<(DateTime<Utc>, Uuid)>,
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
    async fn write_queue(
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
    async fn append_events(
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
    fn approval_events_committed(&self, news: bool, written: &Created<()>) {
        if news && matches!(written, Created::New(())) {
            self.committed(Topic::ApprovalEvents);
        }
    }

    /// Saves `request` if it is still at `version`; ABORTED otherwise.
    async fn update_request(
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
                name: format!("approvalRequests/{}", request.id),
            });
        }
        self.write_queue(txn, request).await.map_err(storage)
    }
}

impl DealDeskStore for SqlStore {
    async fn insert_policy(&self, p: &PolicyVersion, audit: AuditEntry) -> AppResult<()> {
        let document =
            serde_json::to_string(&p.policy).map_err(|e| AppError::Storage(e.to_string()))?;
        let txn = self.begin_write().await.map_err(storage)?;
        approval_policy::Entity::insert(approval_policy::ActiveModel {
            segment: Set(encode_segment(p.policy.segment).to_string()),
            version: Set(p.version),
            document: Set(document),
            creator_id: Set(p.creator.map(|c| c.0.to_string())),
            created_at: Set(p.created_at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e, "approval_policies") {
                AppError::StaleEtag {
                    kind: "approval policy",
                    name: format!("version {}", p.version),
                }
            } else {
                storage(e)
            }
        })?;
        record_audit(&txn, audit).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        self.caches.policies.clear();
        Ok(())
    }

    async fn get_policy(
        &self,
        segment: Segment,
        version: Option<i64>,
    ) -> AppResult<Option<Arc<PolicyVersion>>> {
        let cache = &self.caches.policies;
        let newest = version.is_none();
        if newest && let Some(policy) = cache.get(&segment) {
            return Ok(policy);
        }
        let ticket = cache.ticket();
        let mut query = approval_policy::Entity::find()
            .filter(approval_policy::Column::Segment.eq(encode_segment(segment)))
            .order_by_desc(approval_policy::Column::Version);
        if let Some(version) = version {
            query = query.filter(approval_policy::Column::Version.eq(version));
        }
        let row = query.one(&self.db).await.map_err(storage)?;
        let policy = row
            .map(from_row)
            .transpose()
            .map_err(storage)?
            .map(Arc::new);
        if newest {
            cache.put(segment, policy.clone(), ticket);
        }
        Ok(policy)
    }

    async fn insert_request(
        &self,
        request: &ApprovalRequest,
        supersedes: Option<(&ApprovalRequest, i64)>,
        events: Vec<EventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        let row = request_row(request)?;
        let news = !events.is_empty();
        self.write_once(audit, idempotency, async |txn| {
            if let Some((earlier, version)) = supersedes {
                self.update_request(txn, earlier, version).await?;
            }
            // A pending request changes what the deal's gates allow: bumping the deal's version
            // makes a stage move that checked the gates before this commit fail its versioned
            // save (ABORTED) instead of passing "no pending approval" on stale facts.
            deal::Entity::update_many()
                .col_expr(
                    deal::Column::Version,
                    sea_orm::sea_query::ExprTrait::add(Expr::col(deal::Column::Version), 1),
                )
                .filter(deal::Column::Id.eq(request.deal_id.to_string()))
                .exec(txn)
                .await
                .map_err(storage)?;
            approval_request::Entity::insert(row)
                .exec_without_returning(txn)
                .await
                .map_err(storage)?;
            self.write_queue(txn, request).await.map_err(storage)?;
            self.append_events(txn, events).await.map_err(storage)
        })
        .await
        .inspect(|written| self.approval_events_committed(news, written))
    }

    async fn insert_requests(
        &self,
        requests: &[ApprovalRequest],
        audit: AuditEntry,
    ) -> AppResult<()> {
        // Rows are small beside a deal's, but the document is long: a few hundred per statement.
        const CHUNK: usize = 200;
        let txn = self.begin_write().await.map_err(storage)?;
        for chunk in requests.chunks(CHUNK) {
            let rows = chunk
                .iter()
                .map(request_row)
                .collect::<AppResult<Vec<_>>>()?;
            approval_request::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .map_err(storage)?;
            let queue: Vec<_> = chunk.iter().flat_map(queue_rows).collect();
            if !queue.is_empty() {
                approval_queue::Entity::insert_many(queue)
                    .exec_without_returning(&txn)
                    .await
                    .map_err(storage)?;
            }
        }
        record_audit(&txn, audit).await.map_err(storage)?;
        txn.commit().await.map_err(storage)
    }

    async fn get_request(&self, id: Uuid) -> AppResult<Option<(ApprovalRequest, i64)>> {
        let row = approval_request::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(|row| {
            let version = row.lock_version;
            request_from(row).map(|r| (r, version))
        })
        .transpose()
        .map_err(storage)
    }

    async fn save_request(
        &self,
        request: &ApprovalRequest,
        version: i64,
        events: Vec<EventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        let news = !events.is_empty();
        self.write_once(audit, idempotency, async |txn| {
            self.update_request(txn, request, version).await?;
            self.append_events(txn, events).await.map_err(storage)
        })
        .await
        .inspect(|written| self.approval_events_committed(news, written))
    }

    async fn list_requests(
        &self,
        filter: RequestFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> AppResult<Vec<ApprovalRequest>> {
        use approval_request::Column as C;
        let mut query = approval_request::Entity::find()
            .filter(before(C::CreatedAt, C::Id, after))
            .order_by_desc(C::CreatedAt)
            .order_by_desc(C::Id)
            .limit(limit);
        match filter {
            RequestFilter::Deal(deal, state) => {
                query = query.filter(C::DealId.eq(deal.to_string()));
                if let Some(state) = state {
                    query = query.filter(C::State.eq(encode_state(state)));
                }
            }
            RequestFilter::Queue {
                users,
                roles,
                requester_not,
            } => {
                let keys: Vec<String> = users
                    .into_iter()
                    .map(user_key)
                    .chain(roles.into_iter().map(role_key))
                    .collect();
                query = query
                    .filter(C::State.eq(encode_state(RequestState::Pending)))
                    .filter(C::RequesterId.ne(requester_not.0.to_string()))
                    .filter(
                        C::Id.in_subquery(
                            Query::select()
                                .column(approval_queue::Column::RequestId)
                                .from(approval_queue::Entity)
                                .and_where(approval_queue::Column::WaitingOn.is_in(keys))
                                .to_owned(),
                        ),
                    );
            }
        }
        let rows = query.all(&self.db).await.map_err(storage)?;
        rows.into_iter()
            .map(request_from)
            .collect::<Result<_, _>>()
            .map_err(storage)
    }

    async fn overdue_requests(&self, now: DateTime<Utc>, limit: u64) -> AppResult<Vec<Uuid>> {
        use approval_request::Column as C;
        let rows = approval_request::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(C::State.eq(encode_state(RequestState::Pending)))
            .filter(C::NextDueAt.lte(now))
            .order_by_asc(C::NextDueAt)
            .limit(limit)
            .into_tuple::<String>()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|id| uuid(id))
            .collect::<Result<_, _>>()
            .map_err(storage)
    }

    async fn requests_submitted(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> AppResult<Vec<ApprovalRequest>> {
        use approval_request::Column as C;
        let rows = approval_request::Entity::find()
            .filter(C::CreatedAt.gte(from))
            .filter(C::CreatedAt.lt(to))
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(request_from)
            .collect::<Result<_, _>>()
            .map_err(storage)
    }

    async fn deal_approvals(&self, deal: Uuid) -> AppResult<(bool, Option<u32>)> {
        use approval_request::Column as C;
        let rows: Vec<(String, i32)> = approval_request::Entity::find()
            .select_only()
            .column(C::State)
            .column(C::DiscountBps)
            .filter(C::DealId.eq(deal.to_string()))
            .filter(C::State.is_in([
                encode_state(RequestState::Pending),
                encode_state(RequestState::Approved),
            ]))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        let pending = rows
            .iter()
            .any(|(state, _)| state == encode_state(RequestState::Pending));
        let approved = rows
            .iter()
            .filter(|(state, _)| state == encode_state(RequestState::Approved))
            .map(|(_, bps)| (*bps).max(0) as u32)
            .max();
        Ok((pending, approved))
    }

    async fn insert_delegation(
        &self,
        d: &Delegation,
        check: impl FnOnce(&[Delegation]) -> AppResult<()> + Send,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        use delegation::Column as C;
        self.write_once(vec![audit], idempotency, async |txn| {
            self.advisory_lock(txn, Lock::Delegations)
                .await
                .map_err(storage)?;
            let overlapping = delegation::Entity::find()
                .filter(C::StartDate.lte(d.end))
                .filter(C::EndDate.gte(d.start))
                .all(txn)
                .await
                .map_err(storage)?
                .into_iter()
                .map(delegation_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage)?;
            check(&overlapping)?;
            delegation::Entity::insert(delegation::ActiveModel {
                id: Set(d.id.to_string()),
                delegator_id: Set(d.delegator.0.to_string()),
                delegate_id: Set(d.delegate.0.to_string()),
                start_date: Set(d.start),
                end_date: Set(d.end),
                creator_id: Set(d.creator.0.to_string()),
                created_at: Set(d.created_at),
            })
            .exec_without_returning(txn)
            .await
            .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn list_delegations(
        &self,
        user: Option<UserId>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> AppResult<Vec<Delegation>> {
        use delegation::Column as C;
        let mut query = delegation::Entity::find()
            .filter(before(C::CreatedAt, C::Id, after))
            .order_by_desc(C::CreatedAt)
            .order_by_desc(C::Id)
            .limit(limit);
        if let Some(user) = user {
            let id = user.0.to_string();
            query = query.filter(
                Condition::any()
                    .add(C::DelegatorId.eq(id.clone()))
                    .add(C::DelegateId.eq(id)),
            );
        }
        let rows = query.all(&self.db).await.map_err(storage)?;
        rows.into_iter()
            .map(delegation_from)
            .collect::<Result<_, _>>()
            .map_err(storage)
    }

    async fn delegators_of(
        &self,
        delegate: UserId,
        day: NaiveDate,
    ) -> AppResult<Vec<(UserId, Role)>> {
        use delegation::Column as C;
        let delegators: Vec<String> = delegation::Entity::find()
            .select_only()
            .column(C::DelegatorId)
            .filter(C::DelegateId.eq(delegate.0.to_string()))
            .filter(C::StartDate.lte(day))
            .filter(C::EndDate.gte(day))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        if delegators.is_empty() {
            return Ok(vec![]);
        }
        let users = user::Entity::find()
            .filter(user::Column::Id.is_in(delegators))
            .filter(user::Column::Active.eq(true))
            .all(&self.db)
            .await
            .map_err(storage)?;
        users
            .into_iter()
            .map(|u| Ok((UserId(uuid(&u.id)?), decode_role(&u.role)?)))
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }

    async fn approval_events(
        &self,
        after: i64,
        filter: &EventFilter,
        limit: u64,
    ) -> AppResult<Vec<ApprovalEventRecord>> {
        use approval_event::Column as C;
        self.sequence_events(EventLog::Approvals)
            .await
            .map_err(storage)?;
        let mut query = approval_event::Entity::find()
            .filter(C::Seq.gt(after))
            .order_by_asc(C::Seq)
            .limit(limit);
        if let Some(deal) = filter.deal {
            query = query.filter(C::DealId.eq(deal.to_string()));
        }
        if let Some(user) = filter.approver {
            query = query.filter(C::Audience.contains(format!(" {} ", user_key(user))));
        }
        if let Some(role) = filter.role {
            query = query.filter(C::Audience.contains(format!(" {} ", role_key(role))));
        }
        let rows = query.all(&self.db).await.map_err(storage)?;
        rows.into_iter()
            .map(|row| {
                Ok(ApprovalEventRecord {
                    id: row.seq.unwrap_or_default(),
                    kind: decode_kind(&row.kind)?,
                    request_id: uuid(&row.request_id)?,
                    deal_id: uuid(&row.deal_id)?,
                    step: row.step.map(|s| s.max(0) as usize),
                    actor: row.actor_id.as_deref().map(uuid).transpose()?.map(UserId),
                    description: row.description,
                    created_at: row.created_at,
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }
}
