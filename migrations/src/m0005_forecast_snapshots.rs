//! Forecast snapshots: a period's forecast and calls frozen at a moment, for accuracy later.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_forecast_snapshots"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("forecast_snapshots")
                .col(string_len("id", 36).primary_key())
                .col(string_len("period", 8))
                // "org" or a user id.
                .col(string_len("scope", 36))
                .col(string_len("currency", 3))
                .col(timestamp_with_time_zone("taken_at"))
                .col(string_len_null("taker_id", 36))
                .col(big_integer("closed_won"))
                .col(big_integer("weighted_pipeline"))
                .col(big_integer("commit_amount"))
                .col(big_integer("best_case"))
                .col(big_integer("pipeline_amount"))
                .col(big_integer("omitted"))
                .col(big_integer("open_deals"))
                .col(big_integer("p10"))
                .col(big_integer("p50"))
                .col(big_integer("p90"))
                .col(integer("range_samples"))
                .col(big_integer("range_seed"))
                .col(double("range_error"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_forecast_snapshots_period_scope")
                .table("forecast_snapshots")
                .col("period")
                .col("scope")
                .col("taken_at")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("forecast_snapshot_calls")
                .col(string_len("snapshot_id", 36))
                .col(string_len("user_id", 36))
                .col(big_integer_null("own_commit"))
                .col(big_integer_null("manager_commit"))
                .primary_key(Index::create().col("snapshot_id").col("user_id"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_forecast_snapshot_calls_snapshot")
                        .from("forecast_snapshot_calls", "snapshot_id")
                        .to("forecast_snapshots", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["forecast_snapshot_calls", "forecast_snapshots"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
