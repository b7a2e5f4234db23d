//! Learning the period rates reads a pipeline's deals a page at a time in id order: without an
//! index on (pipeline, id) every page sorted the whole pipeline (quadratic on a large org).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0021_deals_by_pipeline_and_id"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS ix_deals_pipeline_id ON deals (pipeline_id, id)",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_deals_pipeline_id")
            .await
            .map(|_| ())
    }
}
