//! Forecast snapshots keep the period forecast beside the classic figure: its open part (each
//! deal's amount x q) and the not-yet-created term. Snapshots taken before have neither: they
//! were the classic forecast, so their period forecast reads as their weighted pipeline and
//! their not-yet-created term as 0 (both columns stay NULL).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0018_forecast_snapshot_model"
    }
}

const COLUMNS: [&str; 2] = ["period_forecast", "not_yet_created"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for column in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table("forecast_snapshots")
                    .add_column(big_integer_null(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table("forecast_snapshots")
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
