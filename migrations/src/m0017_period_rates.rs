//! The period win rates q learned with each win-rate snapshot (DESIGN.md, "Learning q, the
//! period win rate"): per snapshot and kind of period (month, quarter), the table's settings,
//! its cells and each past period's booked against expected revenue.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0017_period_rates"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let snapshot_fk = |table: &str| {
            ForeignKey::create()
                .name(format!("fk_{table}_snapshot"))
                .from(table.to_string(), "snapshot_id")
                .to("win_rate_snapshots", "id")
                .to_owned()
        };
        m.create_table(
            Table::create()
                .table("period_rate_tables")
                .col(string_len("snapshot_id", 36))
                .col(string_len("kind", 8))
                .col(timestamp_with_time_zone("learned_at"))
                .col(integer("window_days"))
                .col(integer("prior_weight"))
                .col(big_integer_null("size_cut_low"))
                .col(big_integer_null("size_cut_high"))
                .col(double("in_period_share"))
                .primary_key(Index::create().col("snapshot_id").col("kind"))
                .foreign_key(&mut snapshot_fk("period_rate_tables"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("period_rate_cells")
                .col(big_pk_auto("id"))
                .col(string_len("snapshot_id", 36))
                .col(string_len("kind", 8))
                .col(string_len("stage_id", 63))
                .col(small_integer("horizon_bucket"))
                .col(small_integer_null("size_band"))
                .col(small_integer_null("pushes"))
                .col(big_integer("observations"))
                .col(big_integer("deals"))
                .col(big_integer("deals_won_in_period"))
                .col(double("outcome_sum"))
                .col(big_integer("won_in_period"))
                .col(double("in_period_win_share"))
                .col(double("raw"))
                .col(double("prior"))
                .col(double("q"))
                .col(double("wilson_low"))
                .col(double("wilson_high"))
                .foreign_key(&mut snapshot_fk("period_rate_cells"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_period_rate_cells_snapshot")
                .table("period_rate_cells")
                .col("snapshot_id")
                .col("id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("period_rate_outcomes")
                .col(string_len("snapshot_id", 36))
                .col(string_len("kind", 8))
                .col(date("first_day"))
                .col(double("booked"))
                .col(double("expected"))
                .primary_key(
                    Index::create()
                        .col("snapshot_id")
                        .col("kind")
                        .col("first_day"),
                )
                .foreign_key(&mut snapshot_fk("period_rate_outcomes"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "period_rate_outcomes",
            "period_rate_cells",
            "period_rate_tables",
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
