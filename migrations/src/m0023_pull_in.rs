//! Period-rate tables learn the pull-in rates too: the chance that an open deal dated in the
//! period after the one forecast is booked in it. Each table keeps its pull-in share, and its
//! pull-in cells sit beside its cells, flagged. Tables learned before learned no pull-in: a
//! share of 0 and no pull-in cell say exactly that (nothing is pulled in). A forecast snapshot
//! keeps its pulled-in part; those taken before had none (NULL reads as 0).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0023_pull_in"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("period_rate_tables")
                .add_column(double("pull_in_share").default(0.0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("period_rate_cells")
                .add_column(boolean("dated_later").default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("forecast_snapshots")
                .add_column(big_integer_null("pulled_in"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("forecast_snapshots")
                .drop_column("pulled_in")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("period_rate_cells")
                .drop_column("dated_later")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("period_rate_tables")
                .drop_column("pull_in_share")
                .to_owned(),
        )
        .await
    }
}
