//! Forecasting: versioned win-rate snapshots with their per-stage (and per-segment) entries, the
//! exchange-rate table, and the index the closed-won and win-rate queries range over.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_forecast"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("win_rate_snapshots")
                .col(string_len("id", 36).primary_key())
                .col(string_len("pipeline_id", 36))
                .col(big_integer("version"))
                .col(boolean("current"))
                .col(date("window_start"))
                .col(date("window_end"))
                .col(integer("prior_weight"))
                .col(string_len_null("creator_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_win_rate_snapshots_pipeline")
                        .from("win_rate_snapshots", "pipeline_id")
                        .to("pipelines", "id"),
                )
                .to_owned(),
        )
        .await?;
        // One version number per pipeline: two concurrent computations cannot both take it.
        m.create_index(
            Index::create()
                .name("ux_win_rate_snapshots_version")
                .table("win_rate_snapshots")
                .col("pipeline_id")
                .col("version")
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("win_rate_entries")
                .col(string_len("snapshot_id", 36))
                .col(integer("ordinal"))
                // "" for the stage's pipeline-wide rate, else LEAD_SOURCE or TEAM.
                .col(string_len("segment_kind", 16))
                .col(string_len("segment_value", 64))
                .col(string_len("stage_id", 63))
                .col(big_integer("n"))
                .col(big_integer("wins"))
                .col(double_null("raw_rate"))
                .col(double("smoothed_rate"))
                .col(double("wilson_low"))
                .col(double("wilson_high"))
                .col(double_null("value_weighted_rate"))
                .col(double("prior"))
                .primary_key(Index::create().col("snapshot_id").col("ordinal"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_win_rate_entries_snapshot")
                        .from("win_rate_entries", "snapshot_id")
                        .to("win_rate_snapshots", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("exchange_rates")
                .col(string_len("from_currency", 3))
                .col(string_len("to_currency", 3))
                .col(double("rate"))
                .col(timestamp_with_time_zone("updated_at"))
                .primary_key(Index::create().col("from_currency").col("to_currency"))
                .to_owned(),
        )
        .await?;

        m.create_index(
            Index::create()
                .name("ix_deals_status_closed_at")
                .table("deals")
                .col("status")
                .col("closed_at")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_deals_status_closed_at")
                .table("deals")
                .to_owned(),
        )
        .await?;
        for table in ["exchange_rates", "win_rate_entries", "win_rate_snapshots"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
