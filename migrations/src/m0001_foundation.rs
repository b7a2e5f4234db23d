//! Foundation: users, API tokens, pipelines with stages and exit criteria, the audit trail and
//! idempotency keys. Identifiers are UUIDv7 text (sortable by creation time on every engine).

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_foundation"
    }
}

fn id(col: &'static str) -> ColumnDef {
    string_len(col, 36)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("users")
                .col(id("id").primary_key())
                .col(string_len("display_name", 200))
                .col(string_len("email", 254).unique_key())
                .col(string_len("role", 16))
                .col(string_len_null("manager_id", 36))
                .col(boolean("active"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_users_manager")
                        .from("users", "manager_id")
                        .to("users", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_users_manager")
                .table("users")
                .col("manager_id")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("api_tokens")
                .col(id("id").primary_key())
                .col(id("user_id"))
                .col(string_len("display_name", 200))
                .col(string_len("secret_hash", 64).unique_key())
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_api_tokens_user")
                        .from("api_tokens", "user_id")
                        .to("users", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_api_tokens_user")
                .table("api_tokens")
                .col("user_id")
                .col("id")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("pipelines")
                .col(id("id").primary_key())
                .col(string_len("display_name", 200))
                .col(string_len("segment", 16))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("stages")
                .col(id("pipeline_id"))
                .col(string_len("stage_id", 63))
                .col(integer("position"))
                .col(string_len("display_name", 200))
                .col(text("buyer_evidence"))
                .col(string_len("owner_role", 16))
                .col(integer("default_probability_bps"))
                .col(integer_null("stale_after_days"))
                .col(string_len("kind", 8))
                .primary_key(Index::create().col("pipeline_id").col("stage_id"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_stages_pipeline")
                        .from("stages", "pipeline_id")
                        .to("pipelines", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // Not unique: positions are validated unique per pipeline before every write, and an
        // update that reorders stages in place would trip a unique index half-way.
        m.create_index(
            Index::create()
                .name("ix_stages_position")
                .table("stages")
                .col("pipeline_id")
                .col("position")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("exit_criteria")
                .col(id("pipeline_id"))
                .col(string_len("stage_id", 63))
                .col(integer("ordinal"))
                .col(string_len("kind", 32))
                .col(string_len_null("deal_field", 32))
                .col(string_len_null("buying_role", 32))
                .col(integer_null("min_departments"))
                .col(string_len_null("qualification_element", 32))
                .col(string_len_null("min_status", 16))
                .primary_key(
                    Index::create()
                        .col("pipeline_id")
                        .col("stage_id")
                        .col("ordinal"),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_exit_criteria_stage")
                        .from("exit_criteria", ("pipeline_id", "stage_id"))
                        .to("stages", ("pipeline_id", "stage_id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("audit_events")
                .col(big_pk_auto("id"))
                .col(string_len_null("actor_id", 36))
                .col(string_len("action", 64))
                .col(string_len("resource", 200))
                .col(text("detail"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_events_resource")
                .table("audit_events")
                .col("resource")
                .col("id")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("idempotency_keys")
                // The caller's user id, or "" for the operator's CLI.
                .col(string_len("actor_id", 36))
                .col(string_len("method", 64))
                .col(string_len("request_id", 128))
                .col(string_len("fingerprint", 64))
                .col(blob("response"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(
                    Index::create()
                        .col("actor_id")
                        .col("method")
                        .col("request_id"),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "idempotency_keys",
            "audit_events",
            "exit_criteria",
            "stages",
            "pipelines",
            "api_tokens",
            "users",
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
