//! Exchange rates, on SQL, read through the store's cache (emptied when one is set).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, DbErr, EntityTrait, QueryOrder, sea_query::OnConflict};

use super::currency;
use crate::app::AppResult;
use crate::app::ports::AuditEntry;
use crate::domain::money::ExchangeRate;
use crate::persistence::entities::exchange_rate;
use crate::persistence::{SqlStore, record_audit, storage};

pub(super) async fn set_exchange_rate(
    store: &SqlStore,
    rate: &ExchangeRate,
    at: DateTime<Utc>,
    audit: AuditEntry,
) -> AppResult<()> {
    let txn = store.begin_write().await.map_err(storage)?;
    exchange_rate::Entity::insert(exchange_rate::ActiveModel {
        from_currency: Set(rate.from.code().to_string()),
        to_currency: Set(rate.to.code().to_string()),
        rate: Set(rate.rate),
        updated_at: Set(at),
    })
    .on_conflict(
        OnConflict::columns([
            exchange_rate::Column::FromCurrency,
            exchange_rate::Column::ToCurrency,
        ])
        .update_columns([
            exchange_rate::Column::Rate,
            exchange_rate::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await
    .map_err(storage)?;
    record_audit(&txn, audit).await.map_err(storage)?;
    txn.commit().await.map_err(storage)?;
    store.caches.exchange_rates.clear();
    Ok(())
}

pub(super) async fn exchange_rates(
    store: &SqlStore,
) -> AppResult<Vec<(ExchangeRate, DateTime<Utc>)>> {
    store
        .caches
        .exchange_rates
        .get_or_load((), async {
            let rows = exchange_rate::Entity::find()
                .order_by_asc(exchange_rate::Column::FromCurrency)
                .order_by_asc(exchange_rate::Column::ToCurrency)
                .all(&store.db)
                .await
                .map_err(storage)?;
            rows.into_iter()
                .map(|r| {
                    Ok((
                        ExchangeRate {
                            from: currency(&r.from_currency)?,
                            to: currency(&r.to_currency)?,
                            rate: r.rate,
                        },
                        r.updated_at,
                    ))
                })
                .collect::<Result<_, DbErr>>()
                .map_err(storage)
        })
        .await
}
