//! Forecast call events (submissions, adjustments, judgements), on SQL: appended, never changed.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::currency;
use crate::app::AppResult;
use crate::app::ports::AuditEntry;
use crate::domain::call::{CallEvent, CallEventKind};
use crate::domain::directory::UserId;
use crate::domain::money::Money;
use crate::persistence::codec::{corrupt, uuid};
use crate::persistence::entities::forecast_call_event;
use crate::persistence::{SqlStore, record_audit, storage};

pub(super) async fn append_call_event(
    store: &SqlStore,
    e: &CallEvent,
    audit: AuditEntry,
) -> AppResult<CallEvent> {
    let txn = store.begin_write().await.map_err(storage)?;
    let kind = match e.kind {
        CallEventKind::Submit => "SUBMIT",
        CallEventKind::Adjust => "ADJUST",
        CallEventKind::Judge => "JUDGE",
    };
    let inserted = forecast_call_event::Entity::insert(forecast_call_event::ActiveModel {
        period: Set(e.period.clone()),
        subject_id: Set(e.subject.0.to_string()),
        author_id: Set(e.author.0.to_string()),
        kind: Set(kind.to_string()),
        commit_minor: Set(e.commit.map(|m| m.minor)),
        best_case_minor: Set(e.best_case.map(|m| m.minor)),
        currency: Set(e.commit.map(|m| m.currency.code().to_string())),
        deal_id: Set(e.deal.map(|d| d.to_string())),
        include: Set(e.include),
        note: Set(e.note.clone()),
        created_at: Set(e.at),
        ..Default::default()
    })
    .exec(&txn)
    .await
    .map_err(storage)?;
    record_audit(&txn, audit).await.map_err(storage)?;
    txn.commit().await.map_err(storage)?;
    Ok(CallEvent {
        sequence: inserted.last_insert_id,
        ..e.clone()
    })
}

pub(super) async fn call_events(
    store: &SqlStore,
    period: &str,
    subjects: Option<&[UserId]>,
    as_of: DateTime<Utc>,
) -> AppResult<Vec<CallEvent>> {
    let mut query = forecast_call_event::Entity::find()
        .filter(forecast_call_event::Column::Period.eq(period))
        .filter(forecast_call_event::Column::CreatedAt.lte(as_of));
    if let Some(subjects) = subjects {
        query = query.filter(
            forecast_call_event::Column::SubjectId
                .is_in(subjects.iter().map(|s| s.0.to_string()).collect::<Vec<_>>()),
        );
    }
    let rows = query
        .order_by_asc(forecast_call_event::Column::Id)
        .all(&store.db)
        .await
        .map_err(storage)?;
    rows.into_iter()
        .map(|r| {
            let currency = r.currency.as_deref().map(currency).transpose()?;
            let money = |minor: Option<i64>| {
                minor
                    .zip(currency)
                    .map(|(minor, currency)| Money { minor, currency })
            };
            Ok(CallEvent {
                sequence: r.id,
                kind: match r.kind.as_str() {
                    "SUBMIT" => CallEventKind::Submit,
                    "ADJUST" => CallEventKind::Adjust,
                    "JUDGE" => CallEventKind::Judge,
                    other => return Err(corrupt("call event kind", other)),
                },
                period: r.period,
                subject: UserId(uuid(&r.subject_id)?),
                author: UserId(uuid(&r.author_id)?),
                commit: money(r.commit_minor),
                best_case: money(r.best_case_minor),
                deal: r.deal_id.as_deref().map(uuid).transpose()?,
                include: r.include,
                note: r.note,
                at: r.created_at,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(storage)
}
