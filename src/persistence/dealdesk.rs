//! Deal-desk policies on SQL: each version one immutable JSON document.

use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::codec::{corrupt, encode_segment};
use super::entities::approval_policy;
use super::{SqlStore, is_unique_violation, record_audit, storage};
use crate::app::ports::{AuditEntry, DealDeskStore};
use crate::app::{AppError, AppResult};
use crate::domain::approval::{Policy, PolicyVersion};
use crate::domain::directory::UserId;
use crate::domain::pipeline::Segment;

fn from_row(row: approval_policy::Model) -> Result<PolicyVersion, DbErr> {
    let policy: Policy = serde_json::from_str(&row.document)
        .map_err(|e| corrupt("policy document", &e.to_string()))?;
    let creator = row
        .creator_id
        .as_deref()
        .map(|id| {
            Uuid::parse_str(id)
                .map(UserId)
                .map_err(|_| corrupt("uuid", id))
        })
        .transpose()?;
    Ok(PolicyVersion {
        version: row.version,
        policy,
        creator,
        created_at: row.created_at,
    })
}

impl DealDeskStore for SqlStore {
    async fn insert_policy(&self, p: &PolicyVersion, audit: AuditEntry) -> AppResult<()> {
        let document =
            serde_json::to_string(&p.policy).map_err(|e| AppError::Storage(e.to_string()))?;
        let txn = self.begin_write().await.map_err(storage)?;
        approval_policy::Entity::insert(approval_policy::ActiveModel {
            segment: Set(encode_segment(p.policy.segment).to_string()),
            version: Set(p.version),
            document: Set(document),
            creator_id: Set(p.creator.map(|c| c.0.to_string())),
            created_at: Set(p.created_at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e, "approval_policies") {
                AppError::StaleEtag {
                    kind: "approval policy",
                    name: format!("version {}", p.version),
                }
            } else {
                storage(e)
            }
        })?;
        record_audit(&txn, audit).await.map_err(storage)?;
        txn.commit().await.map_err(storage)
    }

    async fn get_policy(
        &self,
        segment: Segment,
        version: Option<i64>,
    ) -> AppResult<Option<PolicyVersion>> {
        let mut query = approval_policy::Entity::find()
            .filter(approval_policy::Column::Segment.eq(encode_segment(segment)))
            .order_by_desc(approval_policy::Column::Version);
        if let Some(version) = version {
            query = query.filter(approval_policy::Column::Version.eq(version));
        }
        let row = query.one(&self.db).await.map_err(storage)?;
        row.map(from_row).transpose().map_err(storage)
    }
}
