//! Imports on SQL: the external ids of imported deals and users, and an import's writes in one
//! transaction (users, links, deals, stage history, the audit row), so a failed import leaves
//! the database as it was.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::CHUNK;
use super::codec::uuid;
use super::deals::{deal_row, history_row, insert_deal_rows, load_deals};
use super::directory::user_row;
use super::entities::{deal, deal_external_id, stage_history, user, user_external_id};
use super::{SqlStore, is_unique_violation, record_audit, storage};
use crate::app::names::{deal_name, user_name};
use crate::app::ports::{AuditEntry, ExistingDeal, ImportPlan, ImportStore};
use crate::app::{AppError, AppResult};
use crate::domain::directory::UserId;
use crate::domain::ids::DealId;

impl ImportStore for SqlStore {
    async fn imported_deals(
        &self,
        source: &str,
        external_ids: &[String],
    ) -> AppResult<HashMap<String, ExistingDeal>> {
        let mut found = HashMap::new();
        for chunk in external_ids.chunks(CHUNK) {
            let links = deal_external_id::Entity::find()
                .filter(deal_external_id::Column::Source.eq(source))
                .filter(deal_external_id::Column::ExternalId.is_in(chunk.to_vec()))
                .all(&self.db)
                .await
                .map_err(storage)?;
            if links.is_empty() {
                continue;
            }
            let ids: Vec<String> = links.iter().map(|l| l.deal_id.clone()).collect();
            let rows = deal::Entity::find()
                .filter(deal::Column::Id.is_in(ids.clone()))
                .all(&self.db)
                .await
                .map_err(storage)?;
            let deals = load_deals(&self.db, rows).await.map_err(storage)?;
            // Rows in id order: the last one seen per deal is its newest.
            let mut last = HashMap::new();
            for row in stage_history::Entity::find()
                .filter(stage_history::Column::DealId.is_in(ids))
                .order_by_asc(stage_history::Column::Id)
                .all(&self.db)
                .await
                .map_err(storage)?
            {
                last.insert(row.deal_id, (row.changed_at, row.to_stage));
            }
            let mut by_id: HashMap<DealId, _> = deals.into_iter().map(|d| (d.id, d)).collect();
            for link in links {
                let id = uuid(&link.deal_id).map_err(storage)?;
                if let Some(deal) = by_id.remove(&id) {
                    found.insert(
                        link.external_id,
                        ExistingDeal {
                            deal,
                            last_change: last.remove(&link.deal_id),
                        },
                    );
                }
            }
        }
        Ok(found)
    }

    async fn imported_users(&self, source: &str) -> AppResult<HashMap<String, UserId>> {
        user_external_id::Entity::find()
            .filter(user_external_id::Column::Source.eq(source))
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(|row| Ok((row.external_id, UserId(uuid(&row.user_id)?))))
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }

    async fn apply_import(
        &self,
        plan: &ImportPlan,
        audits: Vec<AuditEntry>,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> AppResult<()> {
        let now = chrono::Utc::now();
        let txn = self.begin_write().await.map_err(storage)?;
        self.write_import_users(&txn, plan, now).await?;
        write_import_deals(&txn, plan, now, progress).await?;
        for chunk in plan.history.chunks(CHUNK) {
            stage_history::Entity::insert_many(chunk.iter().map(history_row))
                .exec_without_returning(&txn)
                .await
                .map_err(storage)?;
        }
        super::field_history::append(&txn, &plan.fields)
            .await
            .map_err(storage)?;
        for audit in audits {
            record_audit(&txn, audit).await.map_err(storage)?;
        }
        txn.commit().await.map_err(storage)?;
        self.caches.directory_changed(); // new and changed users
        self.caches.deal_routing.clear(); // changed deals
        Ok(())
    }
}

impl SqlStore {
    /// An import's users inside its transaction: new users (managers first), changed users
    /// (each only if still at the version planned on), and their links to the source's ids.
    async fn write_import_users(
        &self,
        txn: &DatabaseTransaction,
        plan: &ImportPlan,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        // Managers come first in the plan, so each manager exists before their reports.
        for new in &plan.new_users {
            user::Entity::insert(user_row(new))
                .exec_without_returning(txn)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e, "email") {
                        AppError::AlreadyExists {
                            kind: "user",
                            field: "email",
                            value: new.profile.email.clone(),
                        }
                    } else {
                        storage(e)
                    }
                })?;
        }
        if !plan.changed_users.is_empty() {
            // Serialises with other changes of the tree (UpdateUser), as they lock it too.
            self.lock_reporting_tree(txn).await.map_err(storage)?;
        }
        for (changed, expected_version) in &plan.changed_users {
            let updated = user::Entity::update_many()
                .set(user_row(changed))
                .filter(user::Column::Id.eq(changed.id.0.to_string()))
                .filter(user::Column::Version.eq(*expected_version))
                .exec(txn)
                .await
                .map_err(storage)?;
            if updated.rows_affected == 0 {
                return Err(AppError::StaleEtag {
                    kind: "user",
                    name: user_name(changed.id),
                });
            }
        }
        for chunk in plan.user_links.chunks(CHUNK) {
            user_external_id::Entity::insert_many(chunk.iter().map(|(external, id)| {
                user_external_id::ActiveModel {
                    source: Set(plan.source.clone()),
                    external_id: Set(external.clone()),
                    user_id: Set(id.0.to_string()),
                    created_at: Set(now),
                }
            }))
            .exec_without_returning(txn)
            .await
            .map_err(|e| concurrent_import(&e, &plan.source))?;
        }
        Ok(())
    }
}

/// An import's deals inside its transaction: new deals, their links to the source's ids, and
/// changed deals (each only if still at the version planned on); `progress` follows them.
async fn write_import_deals(
    txn: &DatabaseTransaction,
    plan: &ImportPlan,
    now: DateTime<Utc>,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> AppResult<()> {
    let total = plan.new_deals.len() + plan.changed_deals.len();
    insert_deal_rows(txn, &plan.new_deals, &|done, _| progress(done, total))
        .await
        .map_err(storage)?;
    for chunk in plan.deal_links.chunks(CHUNK) {
        deal_external_id::Entity::insert_many(chunk.iter().map(|(external, id)| {
            deal_external_id::ActiveModel {
                source: Set(plan.source.clone()),
                external_id: Set(external.clone()),
                deal_id: Set(id.to_string()),
                created_at: Set(now),
            }
        }))
        .exec_without_returning(txn)
        .await
        .map_err(|e| concurrent_import(&e, &plan.source))?;
    }
    for (i, (changed, expected_version)) in plan.changed_deals.iter().enumerate() {
        let updated = deal::Entity::update_many()
            .set(deal_row(changed))
            .filter(deal::Column::Id.eq(changed.id.to_string()))
            .filter(deal::Column::Version.eq(*expected_version))
            .exec(txn)
            .await
            .map_err(storage)?;
        if updated.rows_affected == 0 {
            return Err(AppError::StaleEtag {
                kind: "deal",
                name: deal_name(changed.id),
            });
        }
        if (i + 1) % CHUNK == 0 || i + 1 == plan.changed_deals.len() {
            progress(plan.new_deals.len() + i + 1, total);
        }
    }
    Ok(())
}

/// A link that another import of the same source wrote first: retrying re-plans against it.
fn concurrent_import(err: &DbErr, source: &str) -> AppError {
    if matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    ) {
        AppError::StaleEtag {
            kind: "import of",
            name: source.to_string(),
        }
    } else {
        storage(err.clone())
    }
}
