//! The deal event log behind `WatchDealEvents`: append-only, written in the same transaction as
//! the change it records. `seq` numbers rows in commit order (assigned after commit by the
//! service's sequencer), so a watcher resuming after the last number it saw misses nothing.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_deal_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("deal_events")
                .col(big_pk_auto("id"))
                .col(big_integer_null("seq"))
                .col(string_len("deal_id", 36))
                .col(string_len("pipeline_id", 36))
                .col(string_len("owner_id", 36))
                .col(string_len("kind", 24))
                .col(string_len_null("actor_id", 36))
                .col(string_len("from_stage", 63))
                .col(string_len("to_stage", 63))
                .col(string_len_null("direction", 16))
                // Field names changed, comma-separated.
                .col(text("fields"))
                .col(text("description"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_deal_events_seq")
                .table("deal_events")
                .col("seq")
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("deal_events").to_owned())
            .await
    }
}
