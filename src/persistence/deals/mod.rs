//! Deals, their contacts and qualification items, and the append-only stage and field history
//! on SQL.
//! A page of deals is read with three queries (deals, contacts, qualification) whatever its
//! size; a write replaces the deal's row and children in one transaction with its history and
//! audit rows. The rows are in [`rows`], the deal event log in [`events`].

mod events;
mod rows;

use events::{append_deal_events, deal_event_from};
pub(crate) use rows::history_row;
pub(in crate::persistence) use rows::{deal_row, insert_deal_rows, load_deals};
use rows::{history_from_row, money, write_children};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, DbErr, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
};

use super::codec::uuid;
use super::codec::*;
use super::entities::{deal, deal_event, stage_history};
use super::{CHUNK, EventLog, SqlStore, field_history, record_audit, storage};
use crate::app::names::deal_name;
use crate::app::ports::{
    AuditEntry, Created, DealCursor, DealEventDraft, DealEventFilter, DealEventRecord, DealFilter,
    DealOrder, DealRouting, DealStore, IdempotentWrite, NO_AMOUNT_ASC, NO_AMOUNT_DESC,
    NO_CLOSE_DATE_ASC, NO_CLOSE_DATE_DESC,
};
use crate::app::{AppError, AppResult};
use crate::domain::deal::{Deal, StageHistoryEntry};
use crate::domain::deal_history::{self, FieldHistoryEntry};
use crate::domain::directory::UserId;
use crate::domain::ids::DealId;

/// The sort key of an order, with its stand-in for missing values.
fn sort_key(order: DealOrder, descending: bool) -> SimpleExpr {
    match order {
        DealOrder::CreateTime => Expr::col(deal::Column::Id),
        DealOrder::UpdateTime => Expr::col(deal::Column::UpdatedAt),
        DealOrder::CloseDate => Func::coalesce([
            Expr::col(deal::Column::CloseDate),
            Expr::val(if descending {
                NO_CLOSE_DATE_DESC
            } else {
                NO_CLOSE_DATE_ASC
            }),
        ])
        .into(),
        DealOrder::Amount => Func::coalesce([
            Expr::col(deal::Column::AmountMinor),
            Expr::val(if descending {
                NO_AMOUNT_DESC
            } else {
                NO_AMOUNT_ASC
            }),
        ])
        .into(),
    }
}

impl DealStore for SqlStore {
    async fn reporting_chain(&self, user_id: UserId) -> AppResult<Vec<UserId>> {
        // On every manager's deal access check: walked in the cached tree.
        Ok(self.tree().await?.chain(user_id))
    }

    async fn subtree(&self, root: UserId) -> AppResult<Vec<UserId>> {
        Ok(self.tree().await?.subtree(root))
    }

    async fn insert_deal(
        &self,
        d: &Deal,
        history: &StageHistoryEntry,
        events: Vec<DealEventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        let news = !events.is_empty();
        self.write_once(audit, idempotency, async |txn| {
            deal::Entity::insert(deal_row(d))
                .exec_without_returning(txn)
                .await
                .map_err(storage)?;
            write_children(txn, d, false).await.map_err(storage)?;
            stage_history::Entity::insert(history_row(history))
                .exec_without_returning(txn)
                .await
                .map_err(storage)?;
            append_deal_events(txn, events).await.map_err(storage)
        })
        .await
        .inspect(|written| self.deal_events_committed(news, written))
    }

    async fn get_deal(&self, id: DealId) -> AppResult<Option<Deal>> {
        let row = deal::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .map_err(storage)?;
        Ok(load_deals(&self.db, row.into_iter().collect())
            .await
            .map_err(storage)?
            .pop())
    }

    async fn get_deal_routing(&self, id: DealId) -> AppResult<Option<DealRouting>> {
        let cache = &self.caches.deal_routing;
        if let Some(routing) = cache.get(&id) {
            return Ok(Some(routing));
        }
        let ticket = cache.ticket();
        let row: Option<(String, String, Option<i64>, Option<String>)> =
            deal::Entity::find_by_id(id.to_string())
                .select_only()
                .columns([
                    deal::Column::OwnerId,
                    deal::Column::PipelineId,
                    deal::Column::AmountMinor,
                    deal::Column::Currency,
                ])
                .into_tuple()
                .one(&self.db)
                .await
                .map_err(storage)?;
        let Some((owner, pipeline, amount, currency)) = row else {
            return Ok(None);
        };
        let routing = DealRouting {
            owner_id: UserId(uuid(&owner).map_err(storage)?),
            pipeline_id: uuid(&pipeline).map_err(storage)?,
            amount: money(amount, &currency).map_err(storage)?,
        };
        cache.put(id, routing.clone(), ticket);
        Ok(Some(routing))
    }

    async fn list_deals(
        &self,
        filter: &DealFilter,
        order: DealOrder,
        descending: bool,
        after: Option<&DealCursor>,
        limit: u64,
    ) -> AppResult<Vec<Deal>> {
        let mut query = deal::Entity::find();
        if let Some(owners) = &filter.owners {
            query = query.filter(
                deal::Column::OwnerId
                    .is_in(owners.iter().map(|o| o.0.to_string()).collect::<Vec<_>>()),
            );
        }
        if let Some(pipeline) = filter.pipeline {
            query = query.filter(deal::Column::PipelineId.eq(pipeline.to_string()));
        }
        if let Some(stage) = &filter.stage {
            query = query.filter(deal::Column::StageId.eq(stage.clone()));
        }
        if let Some(category) = filter.category {
            query = query.filter(deal::Column::ForecastCategory.eq(encode_category(category)));
        }
        if let Some(status) = filter.status {
            query = query.filter(deal::Column::Status.eq(encode_deal_status(status)));
        }
        if let Some(from) = filter.close_from {
            query = query.filter(deal::Column::CloseDate.gte(from));
        }
        if let Some(to) = filter.close_to {
            query = query.filter(deal::Column::CloseDate.lte(to));
        }
        if let Some(text) = &filter.query {
            let escaped = text
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            query = query.filter(
                Expr::col(deal::Column::SearchText)
                    .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
            );
        }
        let key = sort_key(order, descending);
        if let Some(cursor) = after {
            let (value, id): (SimpleExpr, DealId) = match cursor {
                DealCursor::CreateTime(id) => (Expr::val(id.to_string()), *id),
                DealCursor::UpdateTime(at, id) => (Expr::val(*at), *id),
                DealCursor::CloseDate(date, id) => (Expr::val(*date), *id),
                DealCursor::Amount(amount, id) => (Expr::val(*amount), *id),
            };
            let id_col = Expr::col(deal::Column::Id);
            let after_id = id.to_string();
            query = query.filter(if descending {
                Condition::any().add(key.clone().lt(value.clone())).add(
                    Condition::all()
                        .add(key.clone().eq(value))
                        .add(id_col.lt(after_id)),
                )
            } else {
                Condition::any().add(key.clone().gt(value.clone())).add(
                    Condition::all()
                        .add(key.clone().eq(value))
                        .add(id_col.gt(after_id)),
                )
            });
        }
        let direction = if descending { Order::Desc } else { Order::Asc };
        let rows = query
            .order_by(key, direction.clone())
            .order_by(deal::Column::Id, direction)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(storage)?;
        load_deals(&self.db, rows).await.map_err(storage)
    }

    async fn save_deal(
        &self,
        d: &Deal,
        previous: &Deal,
        history: Option<&StageHistoryEntry>,
        events: Vec<DealEventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        let children_changed = d.fields.contacts != previous.fields.contacts
            || d.fields.qualification != previous.fields.qualification;
        let actor = audit.first().and_then(|a| a.actor);
        let field_changes = deal_history::changes_between(previous, d, actor);
        let news = !events.is_empty();
        self.write_once(audit, idempotency, async |txn| {
            let updated = deal::Entity::update_many()
                .set(deal_row(d))
                .filter(deal::Column::Id.eq(d.id.to_string()))
                .filter(deal::Column::Version.eq(previous.version))
                .exec(txn)
                .await
                .map_err(storage)?;
            if updated.rows_affected == 0 {
                return Err(AppError::StaleEtag {
                    kind: "deal",
                    name: deal_name(d.id),
                });
            }
            if children_changed {
                write_children(txn, d, true).await.map_err(storage)?;
            }
            if let Some(history) = history {
                stage_history::Entity::insert(history_row(history))
                    .exec_without_returning(txn)
                    .await
                    .map_err(storage)?;
            }
            field_history::append(txn, &field_changes)
                .await
                .map_err(storage)?;
            append_deal_events(txn, events).await.map_err(storage)
        })
        .await
        .inspect(|written| {
            self.caches.deal_routing.forget(&d.id);
            self.deal_events_committed(news, written);
        })
    }

    async fn deal_events(
        &self,
        after: i64,
        filter: &DealEventFilter,
        limit: u64,
    ) -> AppResult<Vec<DealEventRecord>> {
        use deal_event::Column as C;
        self.sequence_events(EventLog::Deals)
            .await
            .map_err(storage)?;
        let mut query = deal_event::Entity::find()
            .filter(C::Seq.gt(after))
            .order_by_asc(C::Seq)
            .limit(limit);
        if let Some(deal) = filter.deal {
            query = query.filter(C::DealId.eq(deal.to_string()));
        }
        if let Some(pipeline) = filter.pipeline {
            query = query.filter(C::PipelineId.eq(pipeline.to_string()));
        }
        if let Some(owners) = &filter.owners {
            query = query.filter(
                C::OwnerId.is_in(owners.iter().map(|o| o.0.to_string()).collect::<Vec<_>>()),
            );
        }
        let rows = query.all(&self.db).await.map_err(storage)?;
        rows.into_iter()
            .map(deal_event_from)
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }

    async fn insert_book(
        &self,
        deals: &[Deal],
        history: &[StageHistoryEntry],
        fields: &[FieldHistoryEntry],
        audit: AuditEntry,
    ) -> AppResult<()> {
        let txn = self.begin_write().await.map_err(storage)?;
        insert_deal_rows(&txn, deals, &|_, _| {})
            .await
            .map_err(storage)?;
        for chunk in history.chunks(CHUNK) {
            stage_history::Entity::insert_many(chunk.iter().map(history_row))
                .exec_without_returning(&txn)
                .await
                .map_err(storage)?;
        }
        field_history::append(&txn, fields).await.map_err(storage)?;
        record_audit(&txn, audit).await.map_err(storage)?;
        txn.commit().await.map_err(storage)
    }

    async fn append_history_events(
        &self,
        events: Vec<DealEventDraft>,
        audit: AuditEntry,
    ) -> AppResult<()> {
        let news = !events.is_empty();
        let txn = self.begin_write().await.map_err(storage)?;
        append_deal_events(&txn, events).await.map_err(storage)?;
        record_audit(&txn, audit).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        self.deal_events_committed(news, &Created::New(()));
        Ok(())
    }

    async fn list_field_history(
        &self,
        deal: DealId,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u64,
    ) -> AppResult<Vec<FieldHistoryEntry>> {
        field_history::of_deal(&self.db, deal, after, limit)
            .await
            .map_err(storage)
    }

    async fn list_stage_history(
        &self,
        deal_id: DealId,
        after: Option<i64>,
        limit: u64,
    ) -> AppResult<Vec<StageHistoryEntry>> {
        let mut query = stage_history::Entity::find()
            .filter(stage_history::Column::DealId.eq(deal_id.to_string()))
            .order_by_asc(stage_history::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(stage_history::Column::Id.gt(after));
        }
        let rows = query.all(&self.db).await.map_err(storage)?;
        rows.into_iter()
            .map(history_from_row)
            .collect::<Result<_, _>>()
            .map_err(storage)
    }
}
