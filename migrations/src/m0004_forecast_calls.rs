//! Forecast calls: the append-only events of submissions, adjustments and deal judgments.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_forecast_calls"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("forecast_call_events")
                .col(big_pk_auto("id"))
                .col(string_len("period", 8))
                .col(string_len("subject_id", 36))
                .col(string_len("author_id", 36))
                .col(string_len("kind", 8))
                .col(big_integer_null("commit_minor"))
                .col(big_integer_null("best_case_minor"))
                .col(string_len_null("currency", 3))
                .col(string_len_null("deal_id", 36))
                .col(boolean("include"))
                .col(text("note"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_forecast_call_events_subject")
                .table("forecast_call_events")
                .col("period")
                .col("subject_id")
                .col("id")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("forecast_call_events").to_owned())
            .await
    }
}
