//! How domain enums are spelled in the database: stable UPPER_SNAKE strings, so rows stay
//! readable in SQL and independent of the API's enum numbers.

use sea_orm::DbErr;

use crate::domain::deal::{DealStatus, ForecastCategory, HistoryDirection, LeadSource};
use crate::domain::directory::Role;
use crate::domain::pipeline::{
    BuyingRole, DealField, QualificationElement, QualificationStatus, Segment, StageKind,
};

/// A stored value no code path writes: the row was edited by hand or by a newer version.
pub(crate) fn corrupt(kind: &str, value: &str) -> DbErr {
    DbErr::Type(format!("unknown {kind} {value:?} in the database"))
}

/// A stored id, as a `Uuid` or as the domain's id type it is.
pub(crate) fn uuid<I: From<uuid::Uuid>>(text: &str) -> Result<I, DbErr> {
    uuid::Uuid::parse_str(text)
        .map(I::from)
        .map_err(|_| corrupt("uuid", text))
}

/// A stored bounded text ([`crate::domain::text`]); one its type refuses was not written by
/// this code.
pub(crate) fn stored_text<T: TryFrom<String>>(kind: &str, text: String) -> Result<T, DbErr> {
    T::try_from(text.clone()).map_err(|_| corrupt(kind, &text))
}

macro_rules! codec {
    ($ty:ty, $encode:ident, $decode:ident, { $($variant:path => $text:literal),* $(,)? }) => {
        pub(crate) fn $encode(value: $ty) -> &'static str {
            match value { $($variant => $text),* }
        }

        pub(crate) fn $decode(text: &str) -> Result<$ty, DbErr> {
            match text {
                $($text => Ok($variant),)*
                other => Err(corrupt(stringify!($ty), other)),
            }
        }
    };
}

pub(crate) fn encode_role(role: Role) -> &'static str {
    role.as_str()
}

pub(crate) fn decode_role(text: &str) -> Result<Role, DbErr> {
    Role::parse(text).ok_or_else(|| corrupt("Role", text))
}

codec!(Segment, encode_segment, decode_segment, {
    Segment::Smb => "SMB",
    Segment::MidMarket => "MID_MARKET",
    Segment::Enterprise => "ENTERPRISE",
});

codec!(StageKind, encode_stage_kind, decode_stage_kind, {
    StageKind::Open => "OPEN",
    StageKind::Won => "WON",
    StageKind::Lost => "LOST",
});

codec!(DealField, encode_deal_field, decode_deal_field, {
    DealField::Amount => "AMOUNT",
    DealField::CloseDate => "CLOSE_DATE",
    DealField::NextStep => "NEXT_STEP",
    DealField::NextStepDate => "NEXT_STEP_DATE",
    DealField::BantBudget => "BANT_BUDGET",
    DealField::BantAuthority => "BANT_AUTHORITY",
    DealField::BantNeed => "BANT_NEED",
    DealField::BantTimeline => "BANT_TIMELINE",
    DealField::ConfirmedBudget => "CONFIRMED_BUDGET",
    DealField::LeadSource => "LEAD_SOURCE",
});

codec!(BuyingRole, encode_buying_role, decode_buying_role, {
    BuyingRole::EconomicBuyer => "ECONOMIC_BUYER",
    BuyingRole::Champion => "CHAMPION",
    BuyingRole::DecisionMaker => "DECISION_MAKER",
    BuyingRole::Influencer => "INFLUENCER",
    BuyingRole::Technical => "TECHNICAL",
    BuyingRole::Legal => "LEGAL",
    BuyingRole::Procurement => "PROCUREMENT",
});

codec!(QualificationElement, encode_element, decode_element, {
    QualificationElement::Metrics => "METRICS",
    QualificationElement::EconomicBuyer => "ECONOMIC_BUYER",
    QualificationElement::DecisionCriteria => "DECISION_CRITERIA",
    QualificationElement::DecisionProcess => "DECISION_PROCESS",
    QualificationElement::PaperProcess => "PAPER_PROCESS",
    QualificationElement::IdentifiedPain => "IDENTIFIED_PAIN",
    QualificationElement::Champion => "CHAMPION",
    QualificationElement::Competition => "COMPETITION",
});

codec!(QualificationStatus, encode_status, decode_status, {
    QualificationStatus::Unknown => "UNKNOWN",
    QualificationStatus::Red => "RED",
    QualificationStatus::Yellow => "YELLOW",
    QualificationStatus::Green => "GREEN",
});

codec!(LeadSource, encode_lead_source, decode_lead_source, {
    LeadSource::Inbound => "INBOUND",
    LeadSource::Outbound => "OUTBOUND",
    LeadSource::Referral => "REFERRAL",
    LeadSource::Partner => "PARTNER",
    LeadSource::Event => "EVENT",
    LeadSource::Expansion => "EXPANSION",
});

codec!(ForecastCategory, encode_category, decode_category, {
    ForecastCategory::Pipeline => "PIPELINE",
    ForecastCategory::BestCase => "BEST_CASE",
    ForecastCategory::Commit => "COMMIT",
    ForecastCategory::Omitted => "OMITTED",
    ForecastCategory::Closed => "CLOSED",
});

codec!(DealStatus, encode_deal_status, decode_deal_status, {
    DealStatus::Open => "OPEN",
    DealStatus::Won => "WON",
    DealStatus::Lost => "LOST",
});

codec!(HistoryDirection, encode_direction, decode_direction, {
    HistoryDirection::Create => "CREATE",
    HistoryDirection::Forward => "FORWARD",
    HistoryDirection::Backward => "BACKWARD",
    HistoryDirection::Close => "CLOSE",
});
