//! A deal's append-only stage history rows, and the field changes between two versions for the
//! audit trail.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Deal, DealFields};
use crate::domain::directory::UserId;
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::money::Money;

/// What kind of stage change a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistoryDirection {
    /// The deal was created in `to_stage`.
    Create,
    /// Moved to a later stage.
    Forward,
    /// Moved to an earlier stage.
    Backward,
    /// Closed won or lost.
    Close,
}

/// One append-only row of a deal's stage history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageHistoryEntry {
    /// Increasing sequence over the whole service (0 until stored).
    pub sequence: i64,
    /// The deal.
    pub deal_id: DealId,
    /// Its pipeline.
    pub pipeline_id: PipelineId,
    /// The stage left (`None` on create).
    pub from_stage: Option<String>,
    /// The stage entered.
    pub to_stage: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`None` for imports and generators).
    pub actor: Option<UserId>,
    /// The amount at that moment.
    pub amount: Option<Money>,
    /// The close date at that moment.
    pub close_date: Option<NaiveDate>,
    /// Create, forward, backward or close.
    pub direction: HistoryDirection,
    /// Whether unmet criteria were overridden.
    pub overridden: bool,
    /// The override's justification (empty otherwise).
    pub justification: String,
}

impl StageHistoryEntry {
    /// The row recording `deal` entering its current stage from `from`.
    pub fn of(
        deal: &Deal,
        from: Option<String>,
        direction: HistoryDirection,
        actor: Option<UserId>,
        justification: Option<String>,
    ) -> Self {
        StageHistoryEntry {
            sequence: 0,
            deal_id: deal.id,
            pipeline_id: deal.pipeline_id,
            from_stage: from,
            to_stage: deal.stage_id.clone(),
            at: deal.stage_entered_at,
            actor,
            amount: deal.fields.amount,
            close_date: deal.fields.close_date,
            direction,
            overridden: justification.is_some(),
            justification: justification.unwrap_or_default(),
        }
    }
}

/// The fields that differ between two versions, as (field, old, new) in words, for the audit
/// trail.
pub fn changed_fields(old: &DealFields, new: &DealFields) -> Vec<(&'static str, String, String)> {
    fn money(m: &Option<Money>) -> String {
        m.map(|m| format!("{} {}", m.minor, m.currency))
            .unwrap_or_default()
    }
    fn date(d: &Option<NaiveDate>) -> String {
        d.map(|d| d.to_string()).unwrap_or_default()
    }
    let mut changes = Vec::new();
    let mut diff = |field, a: String, b: String| {
        if a != b {
            changes.push((field, a, b));
        }
    };
    diff(
        "display_name",
        old.display_name.to_string(),
        new.display_name.to_string(),
    );
    diff("account", old.account.to_string(), new.account.to_string());
    diff(
        "owner",
        old.owner_id.0.to_string(),
        new.owner_id.0.to_string(),
    );
    diff("amount", money(&old.amount), money(&new.amount));
    diff("close_date", date(&old.close_date), date(&new.close_date));
    diff(
        "lead_source",
        format!("{:?}", old.lead_source),
        format!("{:?}", new.lead_source),
    );
    diff("next_step", old.next_step.clone(), new.next_step.clone());
    diff(
        "next_step_date",
        date(&old.next_step_date),
        date(&new.next_step_date),
    );
    diff("bant", format!("{:?}", old.bant), format!("{:?}", new.bant));
    diff(
        "confirmed_budget",
        money(&old.confirmed_budget),
        money(&new.confirmed_budget),
    );
    diff(
        "discount_bps",
        old.discount_bps.to_string(),
        new.discount_bps.to_string(),
    );
    diff(
        "forecast_category",
        format!("{:?}", old.forecast_category),
        format!("{:?}", new.forecast_category),
    );
    let statuses = |f: &DealFields| {
        f.qualification
            .iter()
            .map(|q| format!("{}={}", q.element.label(), q.status.label()))
            .collect::<Vec<_>>()
            .join(",")
    };
    diff("qualification", statuses(old), statuses(new));
    if old.contacts != new.contacts {
        changes.push((
            "contacts",
            format!("{} contacts", old.contacts.len()),
            format!("{} contacts (changed)", new.contacts.len()),
        ));
    }
    changes
}
