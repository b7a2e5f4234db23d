//! Each period-rate table names the currency its size bands compare amounts in: the one most
//! of the pipeline's closed deals are in, so a pipeline in euros is learned without any exchange
//! rate. Tables learned before were banded in US dollars, which the default keeps true.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0022_size_band_currency"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("period_rate_tables")
                .add_column(string_len("size_currency", 3).default("USD"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("period_rate_tables")
                .drop_column("size_currency")
                .to_owned(),
        )
        .await
    }
}
