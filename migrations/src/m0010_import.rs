//! Imports remember where each deal and user came from: the source's external id, unique per
//! source (`salesforce`, `hubspot`, or the name a mapping gives), so that importing the same
//! files again updates what the first import created instead of creating it twice.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_import"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("deal_external_ids")
                .col(string_len("source", 32))
                .col(string_len("external_id", 255))
                .col(string_len("deal_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("source").col("external_id"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_deal_external_ids_deal")
                        .from("deal_external_ids", "deal_id")
                        .to("deals", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // A deal has one id per source.
        m.create_index(
            Index::create()
                .name("ux_deal_external_ids_deal_source")
                .table("deal_external_ids")
                .col("deal_id")
                .col("source")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("user_external_ids")
                .col(string_len("source", 32))
                .col(string_len("external_id", 255))
                .col(string_len("user_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("source").col("external_id"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_external_ids_user")
                        .from("user_external_ids", "user_id")
                        .to("users", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["user_external_ids", "deal_external_ids"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
