//! Deal-desk storage on SQL: policy versions and requests as JSON documents beside the columns
//! filtered on, the approver queue index, delegations and the approval event log. The rows
//! and the writes a request's change shares are in [`rows`].

mod rows;

use rows::{
    before, decode_kind, delegation_from, encode_state, from_row, queue_rows, request_from,
    request_row, role_key, user_key,
};

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::codec::uuid;
use super::codec::{decode_role, encode_segment};
use super::entities::{
    approval_event, approval_policy, approval_queue, approval_request, deal, delegation, user,
};
use super::{EventLog, Lock, SqlStore, is_unique_violation, record_audit, storage};
use crate::app::ports::{
    ApprovalEventRecord, AuditEntry, Created, DealDeskStore, EventDraft, EventFilter,
    IdempotentWrite, RequestFilter,
};
use crate::app::{AppError, AppResult};
use crate::domain::approval::PolicyVersion;
use crate::domain::approval_request::{ApprovalRequest, Delegation, RequestState};
use crate::domain::directory::{Role, UserId};
use crate::domain::ids::{ApprovalRequestId, DealId, DelegationId};
use crate::domain::pipeline::Segment;

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

    async fn get_request(
        &self,
        id: ApprovalRequestId,
    ) -> AppResult<Option<(ApprovalRequest, i64)>> {
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
        after: Option<(DateTime<Utc>, ApprovalRequestId)>,
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

    async fn overdue_requests(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> AppResult<Vec<ApprovalRequestId>> {
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

    async fn deal_approvals(&self, deal: DealId) -> AppResult<(bool, Option<u32>)> {
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
        after: Option<(DateTime<Utc>, DelegationId)>,
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
