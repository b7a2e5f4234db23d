//! Indexes in the order each engine reads a forecast's scope.
//!
//! SQLite has no hash aggregation: with the open deals by month of close, then in the order the
//! org forecast groups them, it adds a period's groups up as it reads the index, month by month,
//! instead of sorting the period's deals into a temporary B-tree. A manager's closed-won sums
//! seek each owner's won deals of the period instead of ranging over everyone's.
//!
//! PostgreSQL hashes its groups, but it drops from an index scan's conditions what the index's
//! own WHERE implies: m0012's and m0013's indexes, led by `status` for SQLite's sake, were
//! scanned from their first entry with the close date (or owner) checked on each. On PostgreSQL
//! they are replaced by the same indexes without `status`, which seek the period (or each
//! owner's period) directly (the timings are in BENCHMARKS.md).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_forecast_scope_indexes"
    }
}

/// The month expression must match the query's (`MONTH` in src/persistence/forecast.rs) for
/// SQLite to use the index; dates are stored as `YYYY-MM-DD`. `status` leads for the reason
/// given in m0012.
const SQLITE: [&str; 2] = [
    "CREATE INDEX ix_deals_open_by_month ON deals (status, substr(close_date, 1, 7), \
     pipeline_id, stage_id, forecast_category, currency, close_date, amount_minor) \
     WHERE status = 'OPEN'",
    "CREATE INDEX ix_deals_won_by_owner ON deals (status, owner_id, closed_at, currency, \
     amount_minor) WHERE status = 'WON'",
];

/// m0012's and m0013's indexes without `status`, and a few owners' won deals by owner.
const POSTGRES: [&str; 7] = [
    "DROP INDEX ix_deals_open_closing",
    "DROP INDEX ix_deals_won_closed",
    "DROP INDEX ix_deals_open_by_owner",
    "CREATE INDEX ix_deals_open_closing ON deals (close_date, pipeline_id, stage_id, \
     forecast_category, currency, owner_id, amount_minor) WHERE status = 'OPEN'",
    "CREATE INDEX ix_deals_won_closed ON deals (closed_at, owner_id, currency, amount_minor) \
     WHERE status = 'WON'",
    "CREATE INDEX ix_deals_open_by_owner ON deals (owner_id, close_date, pipeline_id, stage_id, \
     forecast_category, currency, amount_minor) WHERE status = 'OPEN'",
    "CREATE INDEX ix_deals_won_by_owner ON deals (owner_id, closed_at, currency, amount_minor) \
     WHERE status = 'WON'",
];

/// Back to m0013's state on PostgreSQL.
const POSTGRES_DOWN: [&str; 7] = [
    "DROP INDEX ix_deals_won_by_owner",
    "DROP INDEX ix_deals_open_by_owner",
    "DROP INDEX ix_deals_won_closed",
    "DROP INDEX ix_deals_open_closing",
    "CREATE INDEX ix_deals_open_closing ON deals (status, close_date, owner_id, pipeline_id, \
     stage_id, forecast_category, currency, amount_minor) WHERE status = 'OPEN'",
    "CREATE INDEX ix_deals_won_closed ON deals (status, closed_at, owner_id, currency, \
     amount_minor) WHERE status = 'WON'",
    "CREATE INDEX ix_deals_open_by_owner ON deals (status, owner_id, pipeline_id, stage_id, \
     forecast_category, currency, close_date, amount_minor) WHERE status = 'OPEN'",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match m.get_database_backend() {
            DatabaseBackend::Postgres => &POSTGRES,
            _ => &SQLITE,
        };
        for sql in statements {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match m.get_database_backend() {
            DatabaseBackend::Postgres => &POSTGRES_DOWN,
            _ => &[
                "DROP INDEX ix_deals_won_by_owner",
                "DROP INDEX ix_deals_open_by_month",
            ],
        };
        for sql in statements {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
