//! A won deal's revenue is booked on its close date (DESIGN.md, "The org's calendar and the
//! booking date"), no longer at the instant of its close move.
//!
//! Deals closed through the API kept the rep's expected close date; their booking date becomes
//! the (UTC) day they were closed, which is where their revenue counted before. Imported deals
//! keep the source's close date (the CRM's booking date); a closed deal without one gets the day
//! of its close move. The indexes that found won deals by `closed_at` find them by `close_date`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_booking_date"
    }
}

/// Closed deals whose close move had an actor were closed through the API.
const CLOSED_HERE: &str = "close_date IS NULL OR EXISTS (SELECT 1 FROM stage_history h \
     WHERE h.deal_id = deals.id AND h.direction = 'CLOSE' AND h.actor_id IS NOT NULL)";

/// SQLite keeps instants as UTC text (`YYYY-MM-DD hh:mm:ss...`); the date is its first ten
/// characters, as dates are stored.
fn statements(backend: DatabaseBackend) -> Vec<String> {
    let day = match backend {
        DatabaseBackend::Postgres => "CAST(closed_at AT TIME ZONE 'UTC' AS DATE)",
        _ => "substr(closed_at, 1, 10)",
    };
    let mut sql = vec![format!(
        "UPDATE deals SET close_date = {day} \
         WHERE status <> 'OPEN' AND closed_at IS NOT NULL AND ({CLOSED_HERE})"
    )];
    let indexes: &[&str] = match backend {
        DatabaseBackend::Postgres => &[
            "DROP INDEX ix_deals_won_closed",
            "DROP INDEX ix_deals_won_by_owner",
            "CREATE INDEX ix_deals_won_booked ON deals (close_date, owner_id, currency, \
             amount_minor) WHERE status = 'WON'",
            "CREATE INDEX ix_deals_won_booked_by_owner ON deals (owner_id, close_date, currency, \
             amount_minor) WHERE status = 'WON'",
        ],
        _ => &[
            "DROP INDEX ix_deals_won_closed",
            "DROP INDEX ix_deals_won_by_owner",
            "CREATE INDEX ix_deals_won_booked ON deals (status, close_date, owner_id, currency, \
             amount_minor) WHERE status = 'WON'",
            "CREATE INDEX ix_deals_won_booked_by_owner ON deals (status, owner_id, close_date, currency, \
             amount_minor) WHERE status = 'WON'",
        ],
    };
    sql.extend(indexes.iter().map(|s| String::from(*s)));
    sql.push(
        "CREATE INDEX ix_deals_pipeline_booked ON deals (pipeline_id, status, close_date)".into(),
    );
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for sql in statements(m.get_database_backend()) {
            m.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let lead = match m.get_database_backend() {
            DatabaseBackend::Postgres => "",
            _ => "status, ",
        };
        let sql = [
            "DROP INDEX ix_deals_pipeline_booked".to_string(),
            "DROP INDEX ix_deals_won_booked_by_owner".to_string(),
            "DROP INDEX ix_deals_won_booked".to_string(),
            format!(
                "CREATE INDEX ix_deals_won_closed ON deals ({lead}closed_at, owner_id, currency, \
                 amount_minor) WHERE status = 'WON'"
            ),
            format!(
                "CREATE INDEX ix_deals_won_by_owner ON deals ({lead}owner_id, closed_at, currency, \
                 amount_minor) WHERE status = 'WON'"
            ),
        ];
        for sql in sql {
            m.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}
