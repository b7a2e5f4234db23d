//! The open deals by owner, in the order the forecast groups them: SQLite adds the groups up
//! as it reads the index instead of sorting them in a temporary B-tree, and a subtree's forecast
//! seeks its owners instead of reading the whole org's quarter.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_forecast_owner_index"
    }
}

/// `status` leads for the reason given in m0012 (SQLite reads a partial index alone only when it
/// holds the column of its WHERE clause); then the forecast's GROUP BY columns in its order; the
/// close date and the amount are read from the index too. m0012's `ix_deals_open_closing` stays:
/// sums over the whole org by stage (the suite's baseline) read the period's range from it.
const INDEX: &str = "CREATE INDEX ix_deals_open_by_owner ON deals (status, owner_id, pipeline_id, \
     stage_id, forecast_category, currency, close_date, amount_minor) WHERE status = 'OPEN'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared(INDEX).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_deals_open_by_owner")
                .table("deals")
                .to_owned(),
        )
        .await
    }
}
