//! The demo book's recent history as deal events: the generator's stage history is stored in
//! bulk, which appends no events, so a `WatchDealEvents` reader would start empty. The last
//! [`EVENT_DAYS`] days of it are appended as events, oldest first, each saying when it
//! happened (events are stamped when appended).

use std::collections::HashMap;

use crate::app::ports::{AuditEntry, DealEventDraft, DealEventKind, Store};
use crate::app::{App, AppResult};
use crate::domain::deal::{Deal, HistoryDirection};
use crate::domain::ids::DealId;
use crate::generator::Book;
use chrono::Duration;

/// How many days of the book's history become events.
pub const EVENT_DAYS: i64 = 30;

/// Appends the book's stage changes of the last [`EVENT_DAYS`] days as deal events.
pub(super) async fn history_events<S: Store>(app: &App<S>, book: &Book) -> AppResult<usize> {
    let since = app.now() - Duration::days(EVENT_DAYS);
    let deals: HashMap<DealId, &Deal> = book.deals.iter().map(|d| (d.id, d)).collect();
    let events: Vec<DealEventDraft> = book
        .history
        .iter()
        .filter(|h| h.at >= since)
        .filter_map(|h| {
            let deal = deals.get(&h.deal_id)?;
            let from = h.from_stage.clone().unwrap_or_default();
            let day = h.at.format("%Y-%m-%d %H:%M UTC");
            let (kind, description) = match h.direction {
                HistoryDirection::Create => {
                    (DealEventKind::Created, format!("created in {}", h.to_stage))
                }
                HistoryDirection::Close => (
                    DealEventKind::Closed,
                    format!("closed from {from} to {}", h.to_stage),
                ),
                HistoryDirection::Backward => (
                    DealEventKind::StageMoved,
                    format!("moved back from {from} to {}", h.to_stage),
                ),
                HistoryDirection::Forward => (
                    DealEventKind::StageMoved,
                    format!("moved forward from {from} to {}", h.to_stage),
                ),
            };
            Some(DealEventDraft {
                kind,
                deal_id: deal.id,
                pipeline_id: deal.pipeline_id,
                owner_id: deal.fields.owner_id,
                actor: None,
                from_stage: from,
                to_stage: h.to_stage.clone(),
                direction: (h.direction != HistoryDirection::Create).then_some(h.direction),
                fields: Vec::new(),
                description: format!("{description} (demo history, {day})"),
            })
        })
        .collect();
    let count = events.len();
    let audit = AuditEntry {
        actor: None,
        action: "AppendDemoHistoryEvents",
        resource: "deals".into(),
        detail: format!("{count} deal events from the last {EVENT_DAYS} days of the demo book"),
        change: None,
    };
    app.store.append_history_events(events, audit).await?;
    Ok(count)
}
