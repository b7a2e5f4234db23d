//! Indexes for pipeline metrics: the deals that moved in a pipeline during a month range are
//! found from `(pipeline_id, changed_at)` without scanning the whole stage history, and the
//! deals closed in a range from `(pipeline_id, status, closed_at)`.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_pipeline_metrics"
    }
}

const INDEXES: [(&str, &str, &[&str]); 2] = [
    (
        "ix_stage_history_pipeline_time",
        "stage_history",
        &["pipeline_id", "changed_at"],
    ),
    (
        "ix_deals_pipeline_closed_at",
        "deals",
        &["pipeline_id", "status", "closed_at"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols) in INDEXES {
            let mut index = Index::create().name(name).table(table).to_owned();
            for col in cols {
                index.col(*col);
            }
            m.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            m.drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
