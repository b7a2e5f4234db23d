//! Deals carry their discount off list price (basis points), compared by the "discount
//! covered" stage criterion with the deal-desk requests approved for the deal.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_deal_discount"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("deals")
                .add_column(integer("discount_bps").default(0))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("deals")
                .drop_column("discount_bps")
                .to_owned(),
        )
        .await
    }
}
