//! Each deal keeps its close-date pushes so far (changes of its close date into a later month,
//! from its field history), so that the forecast weighs open deals by their pushes segment
//! without reading the field history of each (a correlated read per deal, for each of a large
//! org's open deals in the quarter). Written wherever field history is appended; backfilled
//! here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0019_close_date_pushes"
    }
}

/// The count, for the deals that ever had their close date changed.
const BACKFILL: &str = "UPDATE deals SET close_date_pushes = ( \
        SELECT COUNT(*) FROM field_history fh WHERE fh.deal_id = deals.id \
          AND fh.field = 'close_date' AND substr(fh.new_value, 1, 7) > substr(fh.old_value, 1, 7)) \
     WHERE id IN (SELECT deal_id FROM field_history WHERE field = 'close_date')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("deals")
                .add_column(integer("close_date_pushes").default(0))
                .to_owned(),
        )
        .await?;
        m.get_connection().execute_unprepared(BACKFILL).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("deals")
                .drop_column("close_date_pushes")
                .to_owned(),
        )
        .await
    }
}
