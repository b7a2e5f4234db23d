//! The deal event log: events appended inside the change's transaction, numbered once
//! committed, read back in sequence.

use sea_orm::{ActiveValue::Set, DatabaseTransaction, DbErr, EntityTrait};

use crate::app::ports::Topic;
use crate::app::ports::{Created, DealEventDraft, DealEventKind, DealEventRecord};
use crate::domain::directory::UserId;
use crate::persistence::SqlStore;
use crate::persistence::changes::notify_in;
use crate::persistence::codec::uuid;
use crate::persistence::codec::*;
use crate::persistence::entities::deal_event;

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
pub(super) async fn append_deal_events(
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
    pub(super) fn deal_events_committed(&self, news: bool, written: &Created<()>) {
        if news && matches!(written, Created::New(())) {
            self.committed(Topic::DealEvents);
        }
    }
}

pub(super) fn deal_event_from(row: deal_event::Model) -> Result<DealEventRecord, DbErr> {
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
