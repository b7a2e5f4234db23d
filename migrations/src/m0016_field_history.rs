//! `field_history`: every change of a deal's amount, currency, close date, forecast category,
//! owner, stage and status, append-only (DESIGN.md, "Deal history: every change is kept").
//!
//! Existing deals get the rows their stage history implies: each move's stage, and the amount,
//! currency and close date wherever they differ from the move before; the close's status and
//! category; and, at the close (or last update), where today's values differ from the last
//! move's. The category a deal had before its close was not kept: those rows say PIPELINE.
//! Values are text: amounts in minor units, dates `YYYY-MM-DD`, the codes the deals table uses.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0016_field_history"
    }
}

const INSERT: &str =
    "INSERT INTO field_history (deal_id, changed_at, actor_id, field, old_value, new_value) ";

/// Each stage-history row beside the one before it, per deal.
const MOVES: &str = "(SELECT h.deal_id, h.changed_at, h.actor_id, h.direction, \
        CAST(h.amount_minor AS TEXT) AS amount, h.currency, CAST(h.close_date AS TEXT) AS close_date, \
        LAG(CAST(h.amount_minor AS TEXT)) OVER w AS prev_amount, \
        LAG(h.currency) OVER w AS prev_currency, \
        LAG(CAST(h.close_date AS TEXT)) OVER w AS prev_close_date, \
        ROW_NUMBER() OVER w AS n \
     FROM stage_history h WINDOW w AS (PARTITION BY h.deal_id ORDER BY h.id)) m";

/// Each deal's last stage-history row beside the deal as it is, stamped with the later of the
/// deal's close (or last update) and that row.
const LAST: &str = "(SELECT d.id AS deal_id, \
        CASE WHEN COALESCE(d.closed_at, d.updated_at) > h.changed_at \
             THEN COALESCE(d.closed_at, d.updated_at) ELSE h.changed_at END AS changed_at, \
        CAST(h.amount_minor AS TEXT) AS prev_amount, h.currency AS prev_currency, \
        CAST(h.close_date AS TEXT) AS prev_close_date, \
        CAST(d.amount_minor AS TEXT) AS amount, d.currency, CAST(d.close_date AS TEXT) AS close_date \
     FROM deals d JOIN stage_history h ON h.id = \
        (SELECT MAX(l.id) FROM stage_history l WHERE l.deal_id = d.id)) m";

fn backfill() -> Vec<String> {
    let mut sql = vec![format!(
        "{INSERT} SELECT deal_id, changed_at, actor_id, 'stage', from_stage, to_stage \
         FROM stage_history WHERE from_stage IS NOT NULL ORDER BY id"
    )];
    for (field, value, prev) in [
        ("amount", "amount", "prev_amount"),
        ("currency", "currency", "prev_currency"),
        ("close_date", "close_date", "prev_close_date"),
    ] {
        sql.push(format!(
            "{INSERT} SELECT deal_id, changed_at, actor_id, '{field}', {prev}, {value} FROM {MOVES} \
             WHERE m.n > 1 AND {prev} IS DISTINCT FROM {value} ORDER BY changed_at"
        ));
    }
    sql.push(format!(
        "{INSERT} SELECT h.deal_id, h.changed_at, h.actor_id, 'status', 'OPEN', d.status \
         FROM stage_history h JOIN deals d ON d.id = h.deal_id \
         WHERE h.direction = 'CLOSE' AND d.status <> 'OPEN' ORDER BY h.id"
    ));
    sql.push(format!(
        "{INSERT} SELECT h.deal_id, h.changed_at, h.actor_id, 'forecast_category', 'PIPELINE', \
         'CLOSED' FROM stage_history h JOIN deals d ON d.id = h.deal_id \
         WHERE h.direction = 'CLOSE' AND d.forecast_category = 'CLOSED' ORDER BY h.id"
    ));
    for (field, value, prev) in [
        ("amount", "amount", "prev_amount"),
        ("currency", "currency", "prev_currency"),
        ("close_date", "close_date", "prev_close_date"),
    ] {
        sql.push(format!(
            "{INSERT} SELECT deal_id, changed_at, NULL, '{field}', {prev}, {value} FROM {LAST} \
             WHERE {prev} IS DISTINCT FROM {value} ORDER BY changed_at"
        ));
    }
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("field_history")
                .col(big_pk_auto("id"))
                .col(string_len("deal_id", 36))
                .col(timestamp_with_time_zone("changed_at"))
                .col(string_len_null("actor_id", 36))
                .col(string_len("field", 24))
                .col(text_null("old_value"))
                .col(text_null("new_value"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_field_history_deal")
                        .from("field_history", "deal_id")
                        .to("deals", "id"),
                )
                .to_owned(),
        )
        .await?;
        // One deal's rows in order, for its listing and its rebuild.
        m.create_index(
            Index::create()
                .name("ix_field_history_deal")
                .table("field_history")
                .col("deal_id")
                .col("changed_at")
                .col("id")
                .to_owned(),
        )
        .await?;
        for sql in backfill() {
            m.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("field_history").to_owned())
            .await
    }
}
