//! Deal-desk approval policies: immutable versions per segment. Each version is one document
//! (the typed policy, serialised by the service) so that a version never changes once written.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_approval_policies"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("approval_policies")
                .col(string_len("segment", 16))
                .col(big_integer("version"))
                .col(text("document"))
                .col(string_len_null("creator_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("segment").col("version"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("approval_policies").to_owned())
            .await
    }
}
