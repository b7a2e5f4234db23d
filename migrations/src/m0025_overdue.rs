//! Period-rate tables learn the overdue rates too: the chance that an open deal dated before
//! the period forecast (its close date passed while it stayed open) is booked in it. Each table
//! keeps its overdue share and the prior of its overdue cells, which sit beside its cells, flagged as the pull-in
//! cells are. Tables learned before learned none: a share of 0 and no overdue cell say exactly
//! that (nothing overdue is counted). A forecast snapshot keeps its overdue part; those taken
//! before had none (NULL reads as 0).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0025_overdue"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("period_rate_tables")
                .add_column(double("overdue_share").default(0.0))
                .to_owned(),
        )
        .await?;
        // One column per statement: SQLite alters one thing at a time.
        m.alter_table(
            Table::alter()
                .table("period_rate_tables")
                .add_column(double("overdue_prior").default(0.0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("period_rate_cells")
                .add_column(boolean("dated_earlier").default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("forecast_snapshots")
                .add_column(big_integer_null("overdue"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("forecast_snapshots")
                .drop_column("overdue")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("period_rate_cells")
                .drop_column("dated_earlier")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("period_rate_tables")
                .drop_column("overdue_prior")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("period_rate_tables")
                .drop_column("overdue_share")
                .to_owned(),
        )
        .await
    }
}
