//! The deals' field history on SQL: rows written beside the change they record (in the same
//! transaction), read back per deal in order for listings and as-of rebuilds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};

use super::CHUNK;
use super::codec::uuid;
use super::codec::{
    corrupt, decode_category, decode_deal_status, encode_category, encode_deal_status,
};
use super::entities::{deal, field_history};
use crate::app::ports::TimelinePage;
use crate::domain::deal_history::{DealState, FieldHistoryEntry, FieldValue, TrackedField};
use crate::domain::directory::UserId;
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::money::Currency;
use crate::domain::period_rate::DealTimeline;

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
    // Each deal whose close date changed recounts its pushes so far (m0019), in the same
    // transaction: the forecast reads the count from the deal's row.
    let mut redated: Vec<String> = entries
        .iter()
        .filter(|e| e.field == TrackedField::CloseDate)
        .map(|e| e.deal_id.to_string())
        .collect();
    redated.sort();
    redated.dedup();
    for chunk in redated.chunks(CHUNK) {
        let backend = db.get_database_backend();
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "UPDATE deals SET close_date_pushes = ( \
                SELECT COUNT(*) FROM field_history fh WHERE fh.deal_id = deals.id \
                  AND fh.field = 'close_date' \
                  AND substr(fh.new_value, 1, 7) > substr(fh.old_value, 1, 7)) \
             WHERE id IN ({})",
            list.join(", ")
        );
        let values: Vec<sea_orm::Value> = chunk.iter().map(|id| id.clone().into()).collect();
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await?;
    }
    Ok(())
}

/// One deal's rows in history order (time, then write order), after sequence `after`.
pub(super) async fn of_deal<C: ConnectionTrait>(
    db: &C,
    deal: DealId,
    after: Option<(DateTime<Utc>, i64)>,
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
            sea_orm::Condition::any().add(C::ChangedAt.gt(at)).add(
                sea_orm::Condition::all()
                    .add(C::ChangedAt.eq(at))
                    .add(C::Id.gt(id)),
            ),
        );
    }
    query.all(db).await?.into_iter().map(entry).collect()
}

/// Every row of `deals`, per deal in history order.
pub(super) async fn of_deals<C: ConnectionTrait>(
    db: &C,
    deals: &[DealId],
) -> Result<HashMap<DealId, Vec<FieldHistoryEntry>>, DbErr> {
    use field_history::Column as C;
    let mut by_deal: HashMap<DealId, Vec<FieldHistoryEntry>> = HashMap::new();
    for chunk in deals.chunks(CHUNK) {
        let rows = field_history::Entity::find()
            .filter(C::DealId.is_in(chunk.iter().map(DealId::to_string)))
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

/// See [`crate::app::ports::ForecastStore::deal_timelines`].
pub(super) async fn timelines<C: ConnectionTrait>(
    db: &C,
    pipeline: Option<PipelineId>,
    owners: Option<&[UserId]>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    page: Option<TimelinePage>,
) -> Result<Vec<(PipelineId, DealTimeline)>, DbErr> {
    use deal::Column as D;
    let mut query = deal::Entity::find().filter(D::CreatedAt.lt(to)).filter(
        Condition::any()
            .add(D::ClosedAt.is_null())
            .add(D::ClosedAt.gte(from)),
    );
    if let Some(pipeline) = pipeline {
        query = query.filter(D::PipelineId.eq(pipeline.to_string()));
    }
    if let Some(owners) = owners {
        // Deals that changed hands are rebuilt too: their owner then may be in the scope.
        let reassigned = field_history::Entity::find()
            .select_only()
            .column(field_history::Column::DealId)
            .filter(field_history::Column::Field.eq(TrackedField::Owner.name()))
            .into_query();
        query = query.filter(
            Condition::any()
                .add(D::OwnerId.is_in(owners.iter().map(|o| o.0.to_string())))
                .add(D::Id.in_subquery(reassigned)),
        );
    }
    if let Some(page) = page {
        if let Some(after) = page.after {
            query = query.filter(D::Id.gt(after.to_string()));
        }
        query = query.order_by_asc(D::Id).limit(page.limit);
    }
    let rows = query.all(db).await?;
    let ids: Vec<DealId> = rows.iter().map(|r| uuid(&r.id)).collect::<Result<_, _>>()?;
    let mut history = of_deals(db, &ids).await?;
    rows.into_iter()
        .zip(ids)
        .map(|(row, id)| {
            let amount = row.amount_minor;
            let currency = row
                .currency
                .as_deref()
                .map(|c| Currency::parse(c).ok_or_else(|| corrupt("currency", c)))
                .transpose()?;
            let timeline = DealTimeline {
                deal_id: id,
                created_at: row.created_at,
                current: DealState {
                    owner_id: UserId(uuid(&row.owner_id)?),
                    stage_id: row.stage_id,
                    status: decode_deal_status(&row.status)?,
                    amount: amount.filter(|_| currency.is_some()),
                    currency: currency.filter(|_| amount.is_some()),
                    close_date: row.close_date,
                    category: decode_category(&row.forecast_category)?,
                },
                rows: history.remove(&id).unwrap_or_default(),
            };
            Ok((uuid(&row.pipeline_id)?, timeline))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

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
