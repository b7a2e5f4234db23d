//! Deals, their contacts and qualification items, and the append-only stage and field history
//! on SQL.
//! A page of deals is read with three queries (deals, contacts, qualification) whatever its
//! size; a write replaces the deal's row and children in one transaction with its history and
//! audit rows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::changes::notify_in;
use super::codec::uuid;
use super::codec::*;
use super::entities::{deal, deal_contact, deal_event, deal_qualification, stage_history};
use super::{EventLog, SqlStore, field_history, record_audit, storage};
use crate::app::ports::Topic;
use crate::app::ports::{
    AuditEntry, Created, DealCursor, DealEventDraft, DealEventFilter, DealEventKind,
    DealEventRecord, DealFilter, DealOrder, DealRouting, DealStore, IdempotentWrite, NO_AMOUNT_ASC,
    NO_AMOUNT_DESC, NO_CLOSE_DATE_ASC, NO_CLOSE_DATE_DESC,
};
use crate::app::{AppError, AppResult};
use crate::domain::deal::{Bant, Contact, Deal, DealFields, QualificationItem, StageHistoryEntry};
use crate::domain::deal_history::{self, FieldHistoryEntry};
use crate::domain::directory::UserId;
use crate::domain::money::{Currency, Money};

fn money(minor: Option<i64>, currency: &Option<String>) -> Result<Option<Money>, DbErr> {
    match (minor, currency) {
        (Some(minor), Some(code)) => Ok(Some(Money {
            minor,
            currency: Currency::parse(code).ok_or_else(|| corrupt("currency", code))?,
        })),
        _ => Ok(None),
    }
}

pub(super) fn deal_row(d: &Deal) -> deal::ActiveModel {
    let f = &d.fields;
    deal::ActiveModel {
        id: Set(d.id.to_string()),
        display_name: Set(f.display_name.clone()),
        account: Set(f.account.clone()),
        search_text: Set(format!("{}\n{}", f.display_name, f.account).to_lowercase()),
        owner_id: Set(f.owner_id.0.to_string()),
        pipeline_id: Set(d.pipeline_id.to_string()),
        stage_id: Set(d.stage_id.clone()),
        amount_minor: Set(f.amount.map(|m| m.minor)),
        currency: Set(f.currency().map(|c| c.code().to_string())),
        close_date: Set(f.close_date),
        lead_source: Set(f.lead_source.map(|s| encode_lead_source(s).to_string())),
        next_step: Set(f.next_step.clone()),
        next_step_date: Set(f.next_step_date),
        bant_budget: Set(f.bant.budget.clone()),
        bant_authority: Set(f.bant.authority.clone()),
        bant_need: Set(f.bant.need.clone()),
        bant_timeline: Set(f.bant.timeline.clone()),
        confirmed_budget_minor: Set(f.confirmed_budget.map(|m| m.minor)),
        discount_bps: Set(f.discount_bps as i32),
        forecast_category: Set(encode_category(f.forecast_category).to_string()),
        status: Set(encode_deal_status(d.status).to_string()),
        loss_reason: Set(d.loss_reason.clone()),
        created_at: Set(d.created_at),
        updated_at: Set(d.updated_at),
        stage_entered_at: Set(d.stage_entered_at),
        closed_at: Set(d.closed_at),
        version: Set(d.version),
        // Kept by `field_history::append`, never by a deal's own write.
        close_date_pushes: sea_orm::ActiveValue::NotSet,
    }
}

fn deal_from_row(
    row: deal::Model,
    contacts: Vec<Contact>,
    qualification: Vec<QualificationItem>,
) -> Result<Deal, DbErr> {
    Ok(Deal {
        id: uuid(&row.id)?,
        pipeline_id: uuid(&row.pipeline_id)?,
        stage_id: row.stage_id,
        status: decode_deal_status(&row.status)?,
        loss_reason: row.loss_reason,
        fields: DealFields {
            display_name: row.display_name,
            account: row.account,
            owner_id: UserId(uuid(&row.owner_id)?),
            amount: money(row.amount_minor, &row.currency)?,
            close_date: row.close_date,
            lead_source: row
                .lead_source
                .as_deref()
                .map(decode_lead_source)
                .transpose()?,
            next_step: row.next_step,
            next_step_date: row.next_step_date,
            bant: Bant {
                budget: row.bant_budget,
                authority: row.bant_authority,
                need: row.bant_need,
                timeline: row.bant_timeline,
            },
            confirmed_budget: money(row.confirmed_budget_minor, &row.currency)?,
            discount_bps: row.discount_bps.clamp(0, 10_000) as u32,
            forecast_category: decode_category(&row.forecast_category)?,
            contacts,
            qualification,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
        stage_entered_at: row.stage_entered_at,
        closed_at: row.closed_at,
        version: row.version,
    })
}

/// Assembles deals from their rows, with the children of all of them in two more queries.
pub(super) async fn load_deals<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<deal::Model>,
) -> Result<Vec<Deal>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut contacts: HashMap<String, Vec<Contact>> = HashMap::new();
    for c in deal_contact::Entity::find()
        .filter(deal_contact::Column::DealId.is_in(ids.clone()))
        .order_by_asc(deal_contact::Column::DealId)
        .order_by_asc(deal_contact::Column::Ordinal)
        .all(conn)
        .await?
    {
        contacts
            .entry(c.deal_id.clone())
            .or_default()
            .push(Contact {
                display_name: c.display_name,
                email: c.email,
                title: c.title,
                buying_role: decode_buying_role(&c.buying_role)?,
                department: c.department,
            });
    }
    let mut qualification: HashMap<String, Vec<QualificationItem>> = HashMap::new();
    for q in deal_qualification::Entity::find()
        .filter(deal_qualification::Column::DealId.is_in(ids))
        .all(conn)
        .await?
    {
        qualification
            .entry(q.deal_id.clone())
            .or_default()
            .push(QualificationItem {
                element: decode_element(&q.element)?,
                status: decode_status(&q.status)?,
                set_by: q.set_by.as_deref().map(uuid).transpose()?.map(UserId),
                set_at: q.set_at,
            });
    }
    rows.into_iter()
        .map(|row| {
            let mut items = qualification.remove(&row.id).unwrap_or_default();
            items.sort_by_key(|i| i.element);
            let contacts = contacts.remove(&row.id).unwrap_or_default();
            deal_from_row(row, contacts, items)
        })
        .collect()
}

/// Rows per multi-row insert: each statement stays under SQLite's bound-parameter limit.
pub(super) const CHUNK: usize = 400;

/// Inserts new deals with their contacts and qualification items in multi-row statements,
/// calling `progress(done, total)` after each batch of deals.
pub(super) async fn insert_deal_rows(
    txn: &DatabaseTransaction,
    deals: &[Deal],
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<(), DbErr> {
    let mut done = 0;
    for chunk in deals.chunks(CHUNK) {
        deal::Entity::insert_many(chunk.iter().map(deal_row))
            .exec_without_returning(txn)
            .await?;
        let contacts: Vec<_> = chunk
            .iter()
            .flat_map(|d| {
                d.fields
                    .contacts
                    .iter()
                    .enumerate()
                    .map(|(i, c)| deal_contact::ActiveModel {
                        deal_id: Set(d.id.to_string()),
                        ordinal: Set(i as i32),
                        display_name: Set(c.display_name.clone()),
                        email: Set(c.email.clone()),
                        title: Set(c.title.clone()),
                        buying_role: Set(encode_buying_role(c.buying_role).to_string()),
                        department: Set(c.department.clone()),
                    })
            })
            .collect();
        for part in contacts.chunks(CHUNK) {
            deal_contact::Entity::insert_many(part.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
        let items: Vec<_> = chunk
            .iter()
            .flat_map(|d| {
                d.fields
                    .qualification
                    .iter()
                    .map(|q| deal_qualification::ActiveModel {
                        deal_id: Set(d.id.to_string()),
                        element: Set(encode_element(q.element).to_string()),
                        status: Set(encode_status(q.status).to_string()),
                        set_by: Set(q.set_by.map(|u| u.0.to_string())),
                        set_at: Set(q.set_at),
                    })
            })
            .collect();
        for part in items.chunks(CHUNK) {
            deal_qualification::Entity::insert_many(part.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
        done += chunk.len();
        progress(done, deals.len());
    }
    Ok(())
}

/// Replaces a deal's contacts and qualification items inside `txn`.
async fn write_children(txn: &DatabaseTransaction, d: &Deal, replace: bool) -> Result<(), DbErr> {
    let id = d.id.to_string();
    if replace {
        deal_contact::Entity::delete_many()
            .filter(deal_contact::Column::DealId.eq(id.clone()))
            .exec(txn)
            .await?;
        deal_qualification::Entity::delete_many()
            .filter(deal_qualification::Column::DealId.eq(id.clone()))
            .exec(txn)
            .await?;
    }
    if !d.fields.contacts.is_empty() {
        let rows = d
            .fields
            .contacts
            .iter()
            .enumerate()
            .map(|(i, c)| deal_contact::ActiveModel {
                deal_id: Set(id.clone()),
                ordinal: Set(i as i32),
                display_name: Set(c.display_name.clone()),
                email: Set(c.email.clone()),
                title: Set(c.title.clone()),
                buying_role: Set(encode_buying_role(c.buying_role).to_string()),
                department: Set(c.department.clone()),
            });
        deal_contact::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    if !d.fields.qualification.is_empty() {
        let rows = d
            .fields
            .qualification
            .iter()
            .map(|q| deal_qualification::ActiveModel {
                deal_id: Set(id.clone()),
                element: Set(encode_element(q.element).to_string()),
                status: Set(encode_status(q.status).to_string()),
                set_by: Set(q.set_by.map(|u| u.0.to_string())),
                set_at: Set(q.set_at),
            });
        deal_qualification::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

pub(crate) fn history_row(h: &StageHistoryEntry) -> stage_history::ActiveModel {
    stage_history::ActiveModel {
        deal_id: Set(h.deal_id.to_string()),
        pipeline_id: Set(h.pipeline_id.to_string()),
        from_stage: Set(h.from_stage.clone()),
        to_stage: Set(h.to_stage.clone()),
        changed_at: Set(h.at),
        actor_id: Set(h.actor.map(|a| a.0.to_string())),
        amount_minor: Set(h.amount.map(|m| m.minor)),
        currency: Set(h.amount.map(|m| m.currency.code().to_string())),
        close_date: Set(h.close_date),
        direction: Set(encode_direction(h.direction).to_string()),
        overridden: Set(h.overridden),
        justification: Set(h.justification.clone()),
        ..Default::default()
    }
}

fn history_from_row(row: stage_history::Model) -> Result<StageHistoryEntry, DbErr> {
    Ok(StageHistoryEntry {
        sequence: row.id,
        deal_id: uuid(&row.deal_id)?,
        pipeline_id: uuid(&row.pipeline_id)?,
        from_stage: row.from_stage,
        to_stage: row.to_stage,
        at: row.changed_at,
        actor: row.actor_id.as_deref().map(uuid).transpose()?.map(UserId),
        amount: money(row.amount_minor, &row.currency)?,
        close_date: row.close_date,
        direction: decode_direction(&row.direction)?,
        overridden: row.overridden,
        justification: row.justification,
    })
}

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

    async fn get_deal(&self, id: Uuid) -> AppResult<Option<Deal>> {
        let row = deal::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .map_err(storage)?;
        Ok(load_deals(&self.db, row.into_iter().collect())
            .await
            .map_err(storage)?
            .pop())
    }

    async fn get_deal_routing(&self, id: Uuid) -> AppResult<Option<DealRouting>> {
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
            let (value, id): (SimpleExpr, Uuid) = match cursor {
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
                    name: format!("deals/{}", d.id),
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

    async fn list_field_history(
        &self,
        deal: Uuid,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u64,
    ) -> AppResult<Vec<FieldHistoryEntry>> {
        field_history::of_deal(&self.db, deal, after, limit)
            .await
            .map_err(storage)
    }

    async fn list_stage_history(
        &self,
        deal_id: Uuid,
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

fn encode_event_kind(kind: DealEventKind) -> &'static str {
    match kind {
        DealEventKind::Created => "CREATED",
        DealEventKind::Updated => "UPDATED",
        DealEventKind::StageMoved => "STAGE_MOVED",
        DealEventKind::CategoryChanged => "CATEGORY_CHANGED",
        DealEventKind::Closed => "CLOSED",
        DealEventKind::GateOverridden => "GATE_OVERRIDDEN",
    }
}

fn decode_event_kind(text: &str) -> Result<DealEventKind, DbErr> {
    Ok(match text {
        "CREATED" => DealEventKind::Created,
        "UPDATED" => DealEventKind::Updated,
        "STAGE_MOVED" => DealEventKind::StageMoved,
        "CATEGORY_CHANGED" => DealEventKind::CategoryChanged,
        "CLOSED" => DealEventKind::Closed,
        "GATE_OVERRIDDEN" => DealEventKind::GateOverridden,
        other => return Err(corrupt("deal event kind", other)),
    })
}

/// Appends deal events inside the change's transaction; they are numbered once committed.
async fn append_deal_events(
    txn: &DatabaseTransaction,
    events: Vec<DealEventDraft>,
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let rows = events.into_iter().map(|e| deal_event::ActiveModel {
        seq: Set(None),
        deal_id: Set(e.deal_id.to_string()),
        pipeline_id: Set(e.pipeline_id.to_string()),
        owner_id: Set(e.owner_id.0.to_string()),
        kind: Set(encode_event_kind(e.kind).to_string()),
        actor_id: Set(e.actor.map(|a| a.0.to_string())),
        from_stage: Set(e.from_stage),
        to_stage: Set(e.to_stage),
        direction: Set(e.direction.map(|d| encode_direction(d).to_string())),
        fields: Set(e.fields.join(",")),
        description: Set(e.description),
        created_at: Set(now),
        ..Default::default()
    });
    deal_event::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    notify_in(txn, Topic::DealEvents).await
}

impl SqlStore {
    /// Wakes this process's deal event streams after a write that appended events committed.
    fn deal_events_committed(&self, news: bool, written: &Created<()>) {
        if news && matches!(written, Created::New(())) {
            self.committed(Topic::DealEvents);
        }
    }
}

fn deal_event_from(row: deal_event::Model) -> Result<DealEventRecord, DbErr> {
    Ok(DealEventRecord {
        seq: row.seq.unwrap_or_default(),
        event: DealEventDraft {
            kind: decode_event_kind(&row.kind)?,
            deal_id: uuid(&row.deal_id)?,
            pipeline_id: uuid(&row.pipeline_id)?,
            owner_id: UserId(uuid(&row.owner_id)?),
            actor: row.actor_id.as_deref().map(uuid).transpose()?.map(UserId),
            from_stage: row.from_stage,
            to_stage: row.to_stage,
            direction: row.direction.as_deref().map(decode_direction).transpose()?,
            fields: row
                .fields
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
            description: row.description,
        },
        created_at: row.created_at,
    })
}
