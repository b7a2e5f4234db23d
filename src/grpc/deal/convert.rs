//! The DealService's wire conversions: deals, contacts, money, history and events to and from
//! their proto messages, and the list order and page cursors of ListDeals.

use chrono::{DateTime, NaiveDate};
use tonic::Status;
use uuid::Uuid;

use super::super::convert::{
    add_unknown_enum, buying_role_from, buying_role_to, element_from, element_to, enum_names, etag,
    parse_name, parse_optional_user, status_from, status_to, timestamp,
};
use super::super::invalid;
use super::super::request_limits::{CONTACTS, QUALIFICATION};
use crate::app::names::{deal_name, pipeline_name, user_name};
use crate::app::ports::{DealCursor, DealEventKind, DealEventRecord, DealOrder};
use crate::domain::deal::{
    Bant, ContactDraft, Deal, DealDraft, DealStatus, ForecastCategory, HistoryDirection,
    LeadSource, QualificationDraft, StageHistoryEntry,
};
use crate::domain::deal_history::{FieldHistoryEntry, FieldValue, TrackedField};
use crate::domain::directory::UserId;
use crate::domain::ids::DealId;
use crate::domain::money::Money;
use crate::domain::wording::echoed;
use crate::domain::{Problem, Violations};
use crate::proto::{self as pb};

pub(super) fn direction_to(d: HistoryDirection) -> pb::stage_history_entry::Direction {
    use pb::stage_history_entry::Direction as D;
    match d {
        HistoryDirection::Create => D::Create,
        HistoryDirection::Forward => D::Forward,
        HistoryDirection::Backward => D::Backward,
        HistoryDirection::Close => D::Close,
    }
}

pub(super) fn deal_event_to(r: &DealEventRecord) -> pb::DealEvent {
    use pb::deal_event::Kind;
    let e = &r.event;
    pb::DealEvent {
        sequence: r.seq,
        kind: match e.kind {
            DealEventKind::Created => Kind::Created,
            DealEventKind::Updated => Kind::Updated,
            DealEventKind::StageMoved => Kind::StageMoved,
            DealEventKind::CategoryChanged => Kind::CategoryChanged,
            DealEventKind::Closed => Kind::Closed,
            DealEventKind::GateOverridden => Kind::GateOverridden,
        }
        .into(),
        deal: deal_name(e.deal_id),
        pipeline: pipeline_name(e.pipeline_id),
        owner: user_name(e.owner_id),
        actor: e.actor.map(user_name).unwrap_or_default(),
        from_stage: e.from_stage.clone(),
        to_stage: e.to_stage.clone(),
        direction: e
            .direction
            .map(direction_to)
            .unwrap_or(pb::stage_history_entry::Direction::Unspecified)
            .into(),
        fields: e.fields.clone(),
        description: e.description.clone(),
        create_time: Some(super::convert::timestamp(r.created_at)),
    }
}

pub(crate) fn date_to(d: NaiveDate) -> crate::proto::google::r#type::Date {
    use chrono::Datelike;
    crate::proto::google::r#type::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// A full calendar date from the wire; unset means none.
pub(crate) fn date_from(
    field: &str,
    d: Option<&crate::proto::google::r#type::Date>,
    v: &mut Violations,
) -> Option<NaiveDate> {
    let d = d?;
    let date = u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .filter(|_| (1..=9999).contains(&d.year));
    if date.is_none() {
        v.add_as(
            Problem::BadDate,
            field,
            format!(
                "{}-{}-{} is not a full calendar date (year 1-9999, month and day)",
                d.year, d.month, d.day
            ),
        );
    }
    date
}

pub(super) fn money_to(m: Money) -> pb::Money {
    pb::Money {
        currency_code: m.currency.code().to_string(),
        amount_minor: m.minor,
    }
}

pub(crate) fn lead_source_from(value: i32) -> Option<LeadSource> {
    Some(match pb::LeadSource::try_from(value).ok()? {
        pb::LeadSource::Unspecified => return None,
        pb::LeadSource::Inbound => LeadSource::Inbound,
        pb::LeadSource::Outbound => LeadSource::Outbound,
        pb::LeadSource::Referral => LeadSource::Referral,
        pb::LeadSource::Partner => LeadSource::Partner,
        pb::LeadSource::Event => LeadSource::Event,
        pb::LeadSource::Expansion => LeadSource::Expansion,
    })
}

pub(crate) fn lead_source_to(s: LeadSource) -> pb::LeadSource {
    match s {
        LeadSource::Inbound => pb::LeadSource::Inbound,
        LeadSource::Outbound => pb::LeadSource::Outbound,
        LeadSource::Referral => pb::LeadSource::Referral,
        LeadSource::Partner => pb::LeadSource::Partner,
        LeadSource::Event => pb::LeadSource::Event,
        LeadSource::Expansion => pb::LeadSource::Expansion,
    }
}

pub(super) fn category_from(value: i32) -> Option<ForecastCategory> {
    Some(match pb::ForecastCategory::try_from(value).ok()? {
        pb::ForecastCategory::Unspecified => return None,
        pb::ForecastCategory::Pipeline => ForecastCategory::Pipeline,
        pb::ForecastCategory::BestCase => ForecastCategory::BestCase,
        pb::ForecastCategory::Commit => ForecastCategory::Commit,
        pb::ForecastCategory::Omitted => ForecastCategory::Omitted,
        pb::ForecastCategory::Closed => ForecastCategory::Closed,
    })
}

pub(crate) fn category_to(c: ForecastCategory) -> pb::ForecastCategory {
    match c {
        ForecastCategory::Pipeline => pb::ForecastCategory::Pipeline,
        ForecastCategory::BestCase => pb::ForecastCategory::BestCase,
        ForecastCategory::Commit => pb::ForecastCategory::Commit,
        ForecastCategory::Omitted => pb::ForecastCategory::Omitted,
        ForecastCategory::Closed => pb::ForecastCategory::Closed,
    }
}

pub(super) fn status_of(s: DealStatus) -> pb::deal::Status {
    match s {
        DealStatus::Open => pb::deal::Status::Open,
        DealStatus::Won => pb::deal::Status::Won,
        DealStatus::Lost => pb::deal::Status::Lost,
    }
}

/// A deal on the wire.
pub fn deal_to_wire(d: &Deal) -> pb::Deal {
    let f = &d.fields;
    pb::Deal {
        name: deal_name(d.id),
        display_name: f.display_name.to_string(),
        account: f.account.to_string(),
        owner: user_name(f.owner_id),
        pipeline: pipeline_name(d.pipeline_id),
        stage: d.stage_id.clone(),
        amount: f.amount.map(money_to),
        close_date: f.close_date.map(date_to),
        lead_source: f
            .lead_source
            .map(lead_source_to)
            .unwrap_or(pb::LeadSource::Unspecified)
            .into(),
        next_step: f.next_step.clone(),
        next_step_date: f.next_step_date.map(date_to),
        bant: Some(pb::Bant {
            budget: f.bant.budget.clone(),
            authority: f.bant.authority.clone(),
            need: f.bant.need.clone(),
            timeline: f.bant.timeline.clone(),
        }),
        confirmed_budget: f.confirmed_budget.map(money_to),
        discount_bps: f.discount_bps as i32,
        forecast_category: category_to(f.forecast_category).into(),
        status: status_of(d.status).into(),
        loss_reason: d.loss_reason.clone(),
        contacts: f
            .contacts
            .iter()
            .map(|c| pb::Contact {
                display_name: c.display_name.clone(),
                email: c.email.clone(),
                title: c.title.clone(),
                buying_role: buying_role_to(c.buying_role).into(),
                department: c.department.clone(),
            })
            .collect(),
        qualification: f
            .qualification
            .iter()
            .map(|q| pb::QualificationItem {
                element: element_to(q.element).into(),
                status: status_to(q.status).into(),
                set_by: q.set_by.map(user_name).unwrap_or_default(),
                set_time: Some(timestamp(q.set_at)),
            })
            .collect(),
        create_time: Some(timestamp(d.created_at)),
        update_time: Some(timestamp(d.updated_at)),
        stage_enter_time: Some(timestamp(d.stage_entered_at)),
        close_time: d.closed_at.map(timestamp),
        etag: etag(d.version),
    }
}

pub(super) fn history_to_wire(h: &StageHistoryEntry) -> pb::StageHistoryEntry {
    pb::StageHistoryEntry {
        sequence: h.sequence,
        from_stage: h.from_stage.clone().unwrap_or_default(),
        to_stage: h.to_stage.clone(),
        change_time: Some(timestamp(h.at)),
        actor: h.actor.map(user_name).unwrap_or_default(),
        amount: h.amount.map(money_to),
        close_date: h.close_date.map(date_to),
        direction: direction_to(h.direction).into(),
        overridden: h.overridden,
        override_justification: h.justification.clone(),
    }
}

pub(super) fn field_change_to(c: &FieldHistoryEntry) -> pb::FieldChange {
    use pb::field_change::Field;
    use pb::field_value::Value;
    let value = |v: &FieldValue| pb::FieldValue {
        value: Some(match v {
            FieldValue::Amount(minor) => Value::AmountMinor(*minor),
            FieldValue::Currency(c) => Value::CurrencyCode(c.code().to_string()),
            FieldValue::CloseDate(d) => Value::CloseDate(date_to(*d)),
            FieldValue::ForecastCategory(c) => Value::ForecastCategory(category_to(*c).into()),
            FieldValue::Owner(u) => Value::Owner(user_name(*u)),
            FieldValue::Stage(s) => Value::Stage(s.clone()),
            FieldValue::Status(s) => Value::Status(status_of(*s).into()),
        }),
    };
    pb::FieldChange {
        sequence: c.sequence,
        field: match c.field {
            TrackedField::Amount => Field::Amount,
            TrackedField::Currency => Field::Currency,
            TrackedField::CloseDate => Field::CloseDate,
            TrackedField::ForecastCategory => Field::ForecastCategory,
            TrackedField::Owner => Field::Owner,
            TrackedField::Stage => Field::Stage,
            TrackedField::Status => Field::Status,
        }
        .into(),
        change_time: Some(timestamp(c.at)),
        actor: c.actor.map(user_name).unwrap_or_default(),
        old_value: c.old.as_ref().map(value),
        new_value: c.new.as_ref().map(value),
    }
}

/// A page token's key for field history: the last change's time (microseconds) and sequence.
pub(super) fn field_history_key(c: &FieldHistoryEntry) -> String {
    format!("{}:{}", c.at.timestamp_micros(), c.sequence)
}

pub(super) fn field_history_after(
    key: Option<&str>,
) -> Result<Option<(chrono::DateTime<chrono::Utc>, i64)>, Status> {
    let Some(key) = key else { return Ok(None) };
    key.split_once(':')
        .and_then(|(micros, sequence)| {
            let at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
            Some((at, sequence.parse().ok()?))
        })
        .map(Some)
        .ok_or_else(|| invalid(crate::domain::paging::not_a_page_token()))
}

/// A deal draft from the wire; `owner` defaults to `caller`. Paths are relative to the deal.
pub(super) fn draft_from(w: &pb::Deal, caller: UserId, v: &mut Violations) -> DealDraft {
    let owner = parse_optional_user("owner", &w.owner)
        .map_err(|e| v.extend(e))
        .ok()
        .flatten();
    let lead_source = match w.lead_source {
        0 => None,
        value => {
            let parsed = lead_source_from(value);
            if parsed.is_none() {
                add_unknown_enum(
                    v,
                    "lead_source",
                    value,
                    "lead source",
                    &enum_names(|e: pb::LeadSource| e.as_str_name()),
                );
            }
            parsed
        }
    };
    let forecast_category = match w.forecast_category {
        0 => None,
        value => {
            let parsed = category_from(value);
            if parsed.is_none() {
                add_unknown_enum(
                    v,
                    "forecast_category",
                    value,
                    "forecast category",
                    &enum_names(|e: pb::ForecastCategory| e.as_str_name()),
                );
            }
            parsed
        }
    };
    let bant = w.bant.clone().unwrap_or_default();
    DealDraft {
        display_name: w.display_name.clone(),
        account: w.account.clone(),
        owner_id: owner.unwrap_or(caller),
        amount: w
            .amount
            .as_ref()
            .map(|m| (m.amount_minor, m.currency_code.clone())),
        close_date: date_from("close_date", w.close_date.as_ref(), v),
        lead_source,
        next_step: w.next_step.clone(),
        next_step_date: date_from("next_step_date", w.next_step_date.as_ref(), v),
        bant: Bant {
            budget: bant.budget,
            authority: bant.authority,
            need: bant.need,
            timeline: bant.timeline,
        },
        confirmed_budget: w
            .confirmed_budget
            .as_ref()
            .map(|m| (m.amount_minor, m.currency_code.clone())),
        discount_bps: w.discount_bps,
        forecast_category,
        contacts: CONTACTS
            .within(v, "contacts", &w.contacts)
            .iter()
            .map(|c| ContactDraft {
                display_name: c.display_name.clone(),
                email: c.email.clone(),
                title: c.title.clone(),
                buying_role: buying_role_from(c.buying_role),
                department: c.department.clone(),
            })
            .collect(),
        qualification: QUALIFICATION
            .within(v, "qualification", &w.qualification)
            .iter()
            .map(|q| QualificationDraft {
                element: element_from(q.element),
                status: status_from(q.status),
            })
            .collect(),
    }
}

pub(super) fn parse_order(order_by: &str) -> Result<(DealOrder, bool), Violations> {
    let mut words = order_by.split_whitespace();
    let order = match words.next() {
        None | Some("create_time") => DealOrder::CreateTime,
        Some("update_time") => DealOrder::UpdateTime,
        Some("close_date") => DealOrder::CloseDate,
        Some("amount") => DealOrder::Amount,
        Some(_) => {
            return Err(Violations::one_as(
                Problem::UnknownValue,
                "order_by",
                format!(
                    "{} is not an order: create_time, update_time, close_date or amount, optionally followed by desc",
                    echoed(order_by)
                ),
            ));
        }
    };
    let descending = match words.next() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(Violations::one_as(
                Problem::UnknownValue,
                "order_by",
                format!(
                    "{} is not an order: the direction must be asc or desc",
                    echoed(order_by)
                ),
            ));
        }
    };
    if words.next().is_some() {
        return Err(Violations::one_as(
            Problem::UnknownValue,
            "order_by",
            format!(
                "{} is not an order: it orders by one field only",
                echoed(order_by)
            ),
        ));
    }
    Ok((order, descending))
}

/// The page-token key of a deal in an order.
pub(super) fn cursor_key(d: &Deal, order: DealOrder, descending: bool) -> String {
    use crate::app::ports as s;
    match order {
        DealOrder::CreateTime => format!("c|{}", d.id),
        DealOrder::UpdateTime => format!("u|{}|{}", d.updated_at.to_rfc3339(), d.id),
        DealOrder::CloseDate => {
            let date = d.fields.close_date.unwrap_or(if descending {
                s::NO_CLOSE_DATE_DESC
            } else {
                s::NO_CLOSE_DATE_ASC
            });
            format!("d|{date}|{}", d.id)
        }
        DealOrder::Amount => {
            let amount = d.fields.amount.map(|m| m.minor).unwrap_or(if descending {
                s::NO_AMOUNT_DESC
            } else {
                s::NO_AMOUNT_ASC
            });
            format!("a|{amount}|{}", d.id)
        }
    }
}

pub(super) fn parse_cursor(key: &str) -> Option<DealCursor> {
    let parts: Vec<&str> = key.split('|').collect();
    let id = DealId(Uuid::parse_str(parts.last()?).ok()?);
    Some(match (parts.first()?, parts.len()) {
        (&"c", 2) => DealCursor::CreateTime(id),
        (&"u", 3) => {
            DealCursor::UpdateTime(DateTime::parse_from_rfc3339(parts[1]).ok()?.to_utc(), id)
        }
        (&"d", 3) => DealCursor::CloseDate(parts[1].parse().ok()?, id),
        (&"a", 3) => DealCursor::Amount(parts[1].parse().ok()?, id),
        _ => return None,
    })
}

pub(super) fn deal_id(field: &str, name: &str) -> Result<DealId, Status> {
    parse_name::<DealId>(field, name).map_err(invalid)
}
