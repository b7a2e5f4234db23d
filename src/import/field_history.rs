//! The field history an imported deal's source rows imply (DESIGN.md, "Deal history: every
//! change is kept"): each source row is the deal as it stood at that time, so every tracked
//! field that differs from the row before is a change at that row's time, including rows that
//! change only the amount or close date (Salesforce's OpportunityHistory keeps those); see
//! [`deal_history::rows_from_sightings`].

use crate::domain::deal::DealStatus;
use crate::domain::deal_history::Sighting;
use crate::domain::money::Money;
use crate::domain::pipeline::{Stage, StageKind};

pub(super) use crate::domain::deal_history::{first_state, rows_from_sightings as rows};

/// The deal as one source row saw it.
pub(super) fn sighting(
    at: chrono::DateTime<chrono::Utc>,
    stage: &Stage,
    amount: Option<Money>,
    close_date: Option<chrono::NaiveDate>,
) -> Sighting {
    Sighting {
        at,
        stage_id: stage.stage_id.clone(),
        status: match stage.kind {
            StageKind::Open => DealStatus::Open,
            StageKind::Won => DealStatus::Won,
            StageKind::Lost => DealStatus::Lost,
        },
        amount,
        close_date,
    }
}
