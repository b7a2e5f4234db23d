//! Deals with their contacts and qualification items, the append-only stage history, and
//! field-level audit columns (field, old value, new value).

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_deals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("deals")
                .col(string_len("id", 36).primary_key())
                .col(string_len("display_name", 200))
                .col(string_len("account", 200))
                // Name and account lower-cased by the service (Unicode-aware, unlike SQLite's
                // lower()), for the case-insensitive text filter on both engines.
                .col(text("search_text"))
                .col(string_len("owner_id", 36))
                .col(string_len("pipeline_id", 36))
                .col(string_len("stage_id", 63))
                .col(big_integer_null("amount_minor"))
                .col(string_len_null("currency", 3))
                .col(date_null("close_date"))
                .col(string_len_null("lead_source", 16))
                .col(string_len("next_step", 500))
                .col(date_null("next_step_date"))
                .col(text("bant_budget"))
                .col(text("bant_authority"))
                .col(text("bant_need"))
                .col(text("bant_timeline"))
                .col(big_integer_null("confirmed_budget_minor"))
                .col(string_len("forecast_category", 16))
                .col(string_len("status", 8))
                .col(string_len("loss_reason", 500))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone("stage_entered_at"))
                .col(timestamp_with_time_zone_null("closed_at"))
                .col(big_integer("version"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_deals_owner")
                        .from("deals", "owner_id")
                        .to("users", "id"),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_deals_stage")
                        .from("deals", ("pipeline_id", "stage_id"))
                        .to("stages", ("pipeline_id", "stage_id")),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("ix_deals_owner", &["owner_id", "id"][..]),
            ("ix_deals_pipeline_stage", &["pipeline_id", "stage_id"][..]),
            ("ix_deals_status_close_date", &["status", "close_date"][..]),
        ] {
            let mut index = Index::create().name(name).table("deals").to_owned();
            for col in cols {
                index.col(*col);
            }
            m.create_index(index).await?;
        }

        m.create_table(
            Table::create()
                .table("deal_contacts")
                .col(string_len("deal_id", 36))
                .col(integer("ordinal"))
                .col(string_len("display_name", 200))
                .col(string_len("email", 254))
                .col(string_len("title", 200))
                .col(string_len("buying_role", 32))
                .col(string_len("department", 100))
                .primary_key(Index::create().col("deal_id").col("ordinal"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_deal_contacts_deal")
                        .from("deal_contacts", "deal_id")
                        .to("deals", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("deal_qualification")
                .col(string_len("deal_id", 36))
                .col(string_len("element", 32))
                .col(string_len("status", 16))
                .col(string_len_null("set_by", 36))
                .col(timestamp_with_time_zone("set_at"))
                .primary_key(Index::create().col("deal_id").col("element"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_deal_qualification_deal")
                        .from("deal_qualification", "deal_id")
                        .to("deals", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("stage_history")
                .col(big_pk_auto("id"))
                .col(string_len("deal_id", 36))
                .col(string_len("pipeline_id", 36))
                .col(string_len_null("from_stage", 63))
                .col(string_len("to_stage", 63))
                .col(timestamp_with_time_zone("changed_at"))
                .col(string_len_null("actor_id", 36))
                .col(big_integer_null("amount_minor"))
                .col(string_len_null("currency", 3))
                .col(date_null("close_date"))
                .col(string_len("direction", 8))
                .col(boolean("overridden"))
                .col(text("justification"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_stage_history_deal")
                        .from("stage_history", "deal_id")
                        .to("deals", "id"),
                )
                .to_owned(),
        )
        .await?;
        // Reading one deal's history in order; and the per-deal set of stages visited (the
        // win-rate cohort) from the index alone.
        m.create_index(
            Index::create()
                .name("ix_stage_history_deal")
                .table("stage_history")
                .col("deal_id")
                .col("id")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_stage_history_deal_to_stage")
                .table("stage_history")
                .col("deal_id")
                .col("to_stage")
                .to_owned(),
        )
        .await?;

        for column in ["field", "old_value", "new_value"] {
            m.alter_table(
                Table::alter()
                    .table("audit_events")
                    .add_column(text_null(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["field", "old_value", "new_value"] {
            m.alter_table(
                Table::alter()
                    .table("audit_events")
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        for table in [
            "stage_history",
            "deal_qualification",
            "deal_contacts",
            "deals",
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
