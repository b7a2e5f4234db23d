//! Partial covering indexes for the forecast: the open deals closing in a period and the deals
//! won in one are each read from an index alone, whatever the size of the closed book.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0012_forecast_indexes"
    }
}

/// Both engines accept this SQL as written; the WHERE clause is matched literally by the
/// queries in src/persistence/forecast.rs. `status` leads although the WHERE fixes it: SQLite
/// reads a partial index alone (as a covering index) only when it holds every column the query
/// names, and with it the planner prefers these to `ix_deals_status_close_date`.
const INDEXES: [(&str, &str); 2] = [
    (
        "ix_deals_open_closing",
        "ON deals (status, close_date, owner_id, pipeline_id, stage_id, forecast_category, currency, \
         amount_minor) WHERE status = 'OPEN'",
    ),
    (
        "ix_deals_won_closed",
        "ON deals (status, closed_at, owner_id, currency, amount_minor) WHERE status = 'WON'",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, definition) in INDEXES {
            m.get_connection()
                .execute_unprepared(&format!("CREATE INDEX {name} {definition}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            m.drop_index(Index::drop().name(name).table("deals").to_owned())
                .await?;
        }
        Ok(())
    }
}
