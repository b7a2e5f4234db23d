//! The forecast's indexes hold what the period forecast reads: an open deal's close-date
//! pushes so far (its segment, m0019) and a won deal's creation instant (the not-yet-created
//! term counts the revenue of deals created after each past point). Without them every read
//! of a period's deals went from the index to the table row by row.
//!
//! Each index is rebuilt under its own name with the column appended, so that the queries
//! naming them (`INDEXED BY` on SQLite) and m0012-m0015's reasons for their order still hold.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0020_period_forecast_indexes"
    }
}

/// `(name, columns before, column added, WHERE)`, per engine; SQLite's lead with `status` for
/// the reason given in m0012.
type Index = (&'static str, &'static str, &'static str, &'static str);

const OPEN: &str = "status = 'OPEN'";
const WON: &str = "status = 'WON'";

const SQLITE: [Index; 5] = [
    (
        "ix_deals_open_closing",
        "status, close_date, owner_id, pipeline_id, stage_id, forecast_category, currency, \
         amount_minor",
        "close_date_pushes",
        OPEN,
    ),
    (
        "ix_deals_open_by_owner",
        "status, owner_id, pipeline_id, stage_id, forecast_category, currency, close_date, \
         amount_minor",
        "close_date_pushes",
        OPEN,
    ),
    (
        "ix_deals_open_by_month",
        "status, substr(close_date, 1, 7), pipeline_id, stage_id, forecast_category, currency, \
         close_date, amount_minor",
        "close_date_pushes",
        OPEN,
    ),
    (
        "ix_deals_won_booked",
        "status, close_date, owner_id, currency, amount_minor",
        "created_at",
        WON,
    ),
    (
        "ix_deals_won_booked_by_owner",
        "status, owner_id, close_date, currency, amount_minor",
        "created_at",
        WON,
    ),
];

const POSTGRES: [Index; 4] = [
    (
        "ix_deals_open_closing",
        "close_date, pipeline_id, stage_id, forecast_category, currency, owner_id, amount_minor",
        "close_date_pushes",
        OPEN,
    ),
    (
        "ix_deals_open_by_owner",
        "owner_id, close_date, pipeline_id, stage_id, forecast_category, currency, amount_minor",
        "close_date_pushes",
        OPEN,
    ),
    (
        "ix_deals_won_booked",
        "close_date, owner_id, currency, amount_minor",
        "created_at",
        WON,
    ),
    (
        "ix_deals_won_booked_by_owner",
        "owner_id, close_date, currency, amount_minor",
        "created_at",
        WON,
    ),
];

fn indexes(backend: DatabaseBackend) -> &'static [Index] {
    match backend {
        DatabaseBackend::Postgres => &POSTGRES,
        _ => &SQLITE,
    }
}

async fn rebuild(m: &SchemaManager<'_>, with_added: bool) -> Result<(), DbErr> {
    let db = m.get_connection();
    for (name, columns, added, filter) in indexes(m.get_database_backend()) {
        let columns = match with_added {
            true => format!("{columns}, {added}"),
            false => String::from(*columns),
        };
        // One call, so both run on one connection: another one of SQLite's pool would still
        // have the dropped index in its cached schema and refuse the name as taken.
        db.execute_unprepared(&format!(
            "DROP INDEX {name}; CREATE INDEX {name} ON deals ({columns}) WHERE {filter}"
        ))
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(m, true).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(m, false).await
    }
}
