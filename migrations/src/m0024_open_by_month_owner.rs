//! On SQLite, m0014's index of open deals by month of close holds each deal's owner too, after
//! the columns a forecast groups by: a scope of many owners then reads its period in the index's
//! order as the org does (`persistence/forecast/packed.rs`), each deal's owner beside its amount,
//! where without it every deal would cost a lookup of its row. PostgreSQL has no such index.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0024_open_by_month_owner"
    }
}

const BEFORE: &str = "status, substr(close_date, 1, 7), pipeline_id, stage_id, forecast_category, \
                      currency, close_date, amount_minor, close_date_pushes";
const AFTER: &str = "status, substr(close_date, 1, 7), pipeline_id, stage_id, forecast_category, \
                     currency, owner_id, close_date, amount_minor, close_date_pushes";

async fn rebuild(m: &SchemaManager<'_>, columns: &str) -> Result<(), DbErr> {
    if m.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(());
    }
    // One call, so both run on one connection (as in m0020).
    m.get_connection()
        .execute_unprepared(&format!(
            "DROP INDEX ix_deals_open_by_month; \
             CREATE INDEX ix_deals_open_by_month ON deals ({columns}) WHERE status = 'OPEN'"
        ))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(m, AFTER).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(m, BEFORE).await
    }
}
