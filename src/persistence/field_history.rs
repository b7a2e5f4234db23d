//! The deals' field history on SQL: rows written beside the change they record (in the same
//! transaction), read back per deal in order for listings and as-of rebuilds.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::codec::{
    corrupt, decode_category, decode_deal_status, encode_category, encode_deal_status,
};
use super::deals::CHUNK;
use super::entities::field_history;
use crate::domain::deal_history::{FieldHistoryEntry, FieldValue, TrackedField};
use crate::domain::directory::UserId;
use crate::domain::money::Currency;

fn uuid(text: &str) -> Result<Uuid, DbErr> {
    Uuid::parse_str(text).map_err(|_| corrupt("uuid", text))
}

/// A value as text: amounts in minor units, dates `YYYY-MM-DD`, the deals table's codes.
fn encode(value: &FieldValue) -> String {
    match value {
        FieldValue::Amount(minor) => minor.to_string(),
        FieldValue::Currency(c) => c.code().to_string(),
        FieldValue::CloseDate(d) => d.format("%Y-%m-%d").to_string(),
        FieldValue::ForecastCategory(c) => encode_category(*c).to_string(),
        FieldValue::Owner(u) => u.0.to_string(),
        FieldValue::Stage(s) => s.clone(),
        FieldValue::Status(s) => encode_deal_status(*s).to_string(),
    }
}

fn decode(field: TrackedField, text: &str) -> Result<FieldValue, DbErr> {
    let bad = || corrupt(field.name(), text);
    Ok(match field {
        TrackedField::Amount => FieldValue::Amount(text.parse().map_err(|_| bad())?),
        TrackedField::Currency => FieldValue::Currency(Currency::parse(text).ok_or_else(bad)?),
        TrackedField::CloseDate => FieldValue::CloseDate(
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?,
        ),
        TrackedField::ForecastCategory => FieldValue::ForecastCategory(decode_category(text)?),
        TrackedField::Owner => FieldValue::Owner(UserId(uuid(text)?)),
        TrackedField::Stage => FieldValue::Stage(text.to_string()),
        TrackedField::Status => FieldValue::Status(decode_deal_status(text)?),
    })
}

fn row(entry: &FieldHistoryEntry) -> field_history::ActiveModel {
    field_history::ActiveModel {
        deal_id: Set(entry.deal_id.to_string()),
        changed_at: Set(entry.at),
        actor_id: Set(entry.actor.map(|a| a.0.to_string())),
        field: Set(entry.field.name().to_string()),
        old_value: Set(entry.old.as_ref().map(encode)),
        new_value: Set(entry.new.as_ref().map(encode)),
        ..Default::default()
    }
}

fn entry(row: field_history::Model) -> Result<FieldHistoryEntry, DbErr> {
    let field = TrackedField::parse(&row.field).ok_or_else(|| corrupt("field", &row.field))?;
    let value = |text: Option<String>| text.map(|t| decode(field, &t)).transpose();
    Ok(FieldHistoryEntry {
        sequence: row.id,
        deal_id: uuid(&row.deal_id)?,
        at: row.changed_at,
        actor: row.actor_id.as_deref().map(uuid).transpose()?.map(UserId),
        field,
        old: value(row.old_value)?,
        new: value(row.new_value)?,
    })
}

/// Appends `entries` in their order (so rows of one instant keep it).
pub(super) async fn append<C: ConnectionTrait>(
    db: &C,
    entries: &[FieldHistoryEntry],
) -> Result<(), DbErr> {
    for chunk in entries.chunks(CHUNK) {
        field_history::Entity::insert_many(chunk.iter().map(row))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// One deal's rows in history order (time, then write order), after sequence `after`.
pub(super) async fn of_deal<C: ConnectionTrait>(
    db: &C,
    deal: Uuid,
    after: Option<(chrono::DateTime<chrono::Utc>, i64)>,
    limit: u64,
) -> Result<Vec<FieldHistoryEntry>, DbErr> {
    use field_history::Column as C;
    let mut query = field_history::Entity::find()
        .filter(C::DealId.eq(deal.to_string()))
        .order_by_asc(C::ChangedAt)
        .order_by_asc(C::Id)
        .limit(limit);
    if let Some((at, id)) = after {
        query = query.filter(
            sea_orm::Condition::any()
                .add(C::ChangedAt.gt(at))
                .add(sea_orm::Condition::all().add(C::ChangedAt.eq(at)).add(C::Id.gt(id))),
        );
    }
    query.all(db).await?.into_iter().map(entry).collect()
}

/// Every row of `deals`, per deal in history order.
pub(super) async fn of_deals<C: ConnectionTrait>(
    db: &C,
    deals: &[Uuid],
) -> Result<HashMap<Uuid, Vec<FieldHistoryEntry>>, DbErr> {
    use field_history::Column as C;
    let mut by_deal: HashMap<Uuid, Vec<FieldHistoryEntry>> = HashMap::new();
    for chunk in deals.chunks(CHUNK) {
        let rows = field_history::Entity::find()
            .filter(C::DealId.is_in(chunk.iter().map(Uuid::to_string)))
            .order_by_asc(C::ChangedAt)
            .order_by_asc(C::Id)
            .all(db)
            .await?;
        for row in rows {
            let entry = entry(row)?;
            by_deal.entry(entry.deal_id).or_default().push(entry);
        }
    }
    Ok(by_deal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::deal::{DealStatus, ForecastCategory};

    #[test]
    fn every_kind_of_value_reads_back_as_written() {
        let values = [
            FieldValue::Amount(-12_345),
            FieldValue::Currency(Currency::USD),
            FieldValue::CloseDate(chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap()),
            FieldValue::ForecastCategory(ForecastCategory::BestCase),
            FieldValue::Owner(UserId(Uuid::from_u128(7))),
            FieldValue::Stage("decision-pending".into()),
            FieldValue::Status(DealStatus::Won),
        ];
        for value in values {
            assert_eq!(decode(value.field(), &encode(&value)).unwrap(), value);
        }
    }
}
