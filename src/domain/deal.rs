//! Deals: the values a deal holds (its fields, contacts, qualification, status). Writes are
//! validated and merged in [`draft`], who may do what is in [`access`], and the stage history
//! rows in [`stage_history`].

mod access;
mod draft;
mod stage_history;

pub use access::{Access, Refusal, access, check_leader_owned};
pub use draft::{
    ContactDraft, DealDraft, DealMask, MAX_CONTACTS, MAX_QUALIFICATION_ITEMS, QualificationDraft,
    merge_fields,
};
pub use stage_history::{HistoryDirection, StageHistoryEntry, changed_fields};

use chrono::{DateTime, NaiveDate, Utc};

use super::directory::UserId;
use super::money::{Currency, Money};
use super::pipeline::{BuyingRole, QualificationElement, QualificationStatus};
use super::text::{AccountName, DisplayName};
use crate::domain::ids::{DealId, PipelineId};

/// Where a deal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadSource {
    /// The buyer came to us.
    Inbound,
    /// We reached out.
    Outbound,
    /// Referred.
    Referral,
    /// Through a partner.
    Partner,
    /// From an event.
    Event,
    /// An existing customer buying more.
    Expansion,
}

impl LeadSource {
    /// Every source.
    pub const ALL: [LeadSource; 6] = [
        LeadSource::Inbound,
        LeadSource::Outbound,
        LeadSource::Referral,
        LeadSource::Partner,
        LeadSource::Event,
        LeadSource::Expansion,
    ];
}

/// A deal's forecast category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForecastCategory {
    /// Open and possible.
    Pipeline,
    /// Upside.
    BestCase,
    /// Committed (leader-owned).
    Commit,
    /// Left out.
    Omitted,
    /// Closed: set by the system.
    Closed,
}

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DealStatus {
    /// In an open stage.
    Open,
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

/// A buyer-side contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Name.
    pub display_name: String,
    /// E-mail (may be empty).
    pub email: String,
    /// Title (may be empty).
    pub title: String,
    pub buying_role: BuyingRole,
    pub department: String,
}

/// The status of one MEDDPICC element, with who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualificationItem {
    pub element: QualificationElement,
    pub status: QualificationStatus,
    /// Who set it (`None` for imported or generated data).
    pub set_by: Option<UserId>,
    /// When.
    pub set_at: DateTime<Utc>,
}

/// BANT notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bant {
    pub budget: String,
    pub authority: String,
    pub need: String,
    pub timeline: String,
}

/// The fields of a deal its owner and managers keep, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealFields {
    /// Name.
    pub display_name: DisplayName,
    /// The account (the buying company).
    pub account: AccountName,
    /// Owning rep.
    pub owner_id: UserId,
    /// Value, if known.
    pub amount: Option<Money>,
    /// Expected close date.
    pub close_date: Option<NaiveDate>,
    pub lead_source: Option<LeadSource>,
    pub next_step: String,
    pub next_step_date: Option<NaiveDate>,
    /// BANT notes.
    pub bant: Bant,
    /// Confirmed budget, in the deal's currency.
    pub confirmed_budget: Option<Money>,
    /// Discount off list price, basis points (0 to 10000).
    pub discount_bps: u32,
    pub forecast_category: ForecastCategory,
    pub contacts: Vec<Contact>,
    /// Qualification items, at most one per element, in element order.
    pub qualification: Vec<QualificationItem>,
}

impl DealFields {
    /// The deal's currency: of its amount, else of its confirmed budget.
    pub fn currency(&self) -> Option<Currency> {
        self.amount
            .or(self.confirmed_budget)
            .map(|money| money.currency)
    }

    /// The status of one qualification element (unknown when absent).
    pub fn qualification_status(&self, element: QualificationElement) -> QualificationStatus {
        self.qualification
            .iter()
            .find(|item| item.element == element)
            .map(|item| item.status)
            .unwrap_or(QualificationStatus::Unknown)
    }
}

/// A deal as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// Identifier (UUIDv7).
    pub id: DealId,
    /// Its pipeline.
    pub pipeline_id: PipelineId,
    /// Its current stage.
    pub stage_id: String,
    /// Open, won or lost.
    pub status: DealStatus,
    /// Why it was lost.
    pub loss_reason: String,
    /// The kept fields.
    pub fields: DealFields,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When it entered its stage.
    pub stage_entered_at: DateTime<Utc>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Incremented on every change.
    pub version: i64,
}

#[cfg(test)]
mod tests;
