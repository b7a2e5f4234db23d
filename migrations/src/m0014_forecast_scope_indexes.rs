//! Indexes in the order each forecast scope reads: the org's open deals by month of close (on
//! SQLite), and a few owners' won deals by owner.
//!
//! SQLite has no hash aggregation: with the open deals by month of close, then in the order the
//! org forecast groups them, it adds a period's groups up as it reads the index, month by month,
//! instead of sorting the period's deals into a temporary B-tree. PostgreSQL hashes its groups
//! and needs no such index. A manager's closed-won sums seek each owner's won deals of the
//! period instead of ranging over everyone's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_forecast_scope_indexes"
    }
}

/// The month expression must match the query's (`MONTH` in src/persistence/forecast.rs) for
/// SQLite to use the index; dates are stored as `YYYY-MM-DD`. `status` leads both for the
/// reason given in m0012.
const OPEN_BY_MONTH: &str = "CREATE INDEX ix_deals_open_by_month ON deals (status, \
     substr(close_date, 1, 7), pipeline_id, stage_id, forecast_category, currency, close_date, \
     amount_minor) WHERE status = 'OPEN'";
const WON_BY_OWNER: &str = "CREATE INDEX ix_deals_won_by_owner ON deals (status, owner_id, \
     closed_at, currency, amount_minor) WHERE status = 'WON'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if m.get_database_backend() == DatabaseBackend::Sqlite {
            db.execute_unprepared(OPEN_BY_MONTH).await?;
        }
        db.execute_unprepared(WON_BY_OWNER).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_deals_won_by_owner")
            .await?;
        if m.get_database_backend() == DatabaseBackend::Sqlite {
            db.execute_unprepared("DROP INDEX IF EXISTS ix_deals_open_by_month")
                .await?;
        }
        Ok(())
    }
}
