//! Pipelines, stages and exit criteria on SQL. A pipeline is read with three queries (pipelines,
//! their stages, their criteria) whatever the page size; stages are replaced whole on update.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

use super::codec::*;
use super::entities::{deal, exit_criterion, pipeline, stage};
use super::{SqlStore, record_audit, storage};
use crate::app::error::Precondition;
use crate::app::names::{pipeline_name, stage_name};
use crate::app::ports::{AuditEntry, Created, IdempotentWrite, PipelineStore};
use crate::app::{AppError, AppResult};
use crate::domain::ids::PipelineId;
use crate::domain::pipeline::{ExitCriterion, Pipeline, PipelineSpec, Segment, Stage};

fn criterion_row(
    pipeline_id: &str,
    stage_id: &str,
    ordinal: usize,
    c: &ExitCriterion,
) -> exit_criterion::ActiveModel {
    let (kind, field, role, departments, element, status) = match *c {
        ExitCriterion::FieldSet(f) => (
            "FIELD_SET",
            Some(encode_deal_field(f)),
            None,
            None,
            None,
            None,
        ),
        ExitCriterion::CloseDateInFuture => ("CLOSE_DATE_IN_FUTURE", None, None, None, None, None),
        ExitCriterion::AmountPositive => ("AMOUNT_POSITIVE", None, None, None, None, None),
        ExitCriterion::ContactWithRole(r) => (
            "CONTACT_WITH_ROLE",
            None,
            Some(encode_buying_role(r)),
            None,
            None,
            None,
        ),
        ExitCriterion::DepartmentsEngaged(n) => (
            "DEPARTMENTS_ENGAGED",
            None,
            None,
            Some(i32::from(n)),
            None,
            None,
        ),
        ExitCriterion::QualificationAtLeast {
            element,
            min_status,
        } => (
            "QUALIFICATION_AT_LEAST",
            None,
            None,
            None,
            Some(encode_element(element)),
            Some(encode_status(min_status)),
        ),
        ExitCriterion::NoPendingApproval => ("NO_PENDING_APPROVAL", None, None, None, None, None),
        ExitCriterion::DiscountCovered => ("DISCOUNT_COVERED", None, None, None, None, None),
    };
    exit_criterion::ActiveModel {
        pipeline_id: Set(pipeline_id.to_string()),
        stage_id: Set(stage_id.to_string()),
        ordinal: Set(ordinal as i32),
        kind: Set(kind.to_string()),
        deal_field: Set(field.map(str::to_string)),
        buying_role: Set(role.map(str::to_string)),
        min_departments: Set(departments),
        qualification_element: Set(element.map(str::to_string)),
        min_status: Set(status.map(str::to_string)),
    }
}

fn criterion_from_row(row: &exit_criterion::Model) -> Result<ExitCriterion, DbErr> {
    let need =
        |value: &Option<String>, what: &str| value.clone().ok_or_else(|| corrupt(what, "NULL"));
    Ok(match row.kind.as_str() {
        "FIELD_SET" => {
            ExitCriterion::FieldSet(decode_deal_field(&need(&row.deal_field, "deal_field")?)?)
        }
        "CLOSE_DATE_IN_FUTURE" => ExitCriterion::CloseDateInFuture,
        "AMOUNT_POSITIVE" => ExitCriterion::AmountPositive,
        "CONTACT_WITH_ROLE" => ExitCriterion::ContactWithRole(decode_buying_role(&need(
            &row.buying_role,
            "buying_role",
        )?)?),
        "DEPARTMENTS_ENGAGED" => {
            let n = row
                .min_departments
                .ok_or_else(|| corrupt("min_departments", "NULL"))?;
            ExitCriterion::DepartmentsEngaged(
                u8::try_from(n).map_err(|_| corrupt("min_departments", &n.to_string()))?,
            )
        }
        "QUALIFICATION_AT_LEAST" => ExitCriterion::QualificationAtLeast {
            element: decode_element(&need(&row.qualification_element, "qualification_element")?)?,
            min_status: decode_status(&need(&row.min_status, "min_status")?)?,
        },
        "NO_PENDING_APPROVAL" => ExitCriterion::NoPendingApproval,
        "DISCOUNT_COVERED" => ExitCriterion::DiscountCovered,
        other => return Err(corrupt("exit criterion kind", other)),
    })
}

fn stage_row(pipeline_id: &str, s: &Stage) -> stage::ActiveModel {
    stage::ActiveModel {
        pipeline_id: Set(pipeline_id.to_string()),
        stage_id: Set(s.stage_id.clone()),
        position: Set(s.position),
        display_name: Set(s.display_name.clone()),
        buyer_evidence: Set(s.buyer_evidence.clone()),
        owner_role: Set(encode_role(s.owner_role).to_string()),
        default_probability_bps: Set(i32::from(s.default_probability_bps)),
        stale_after_days: Set(s.stale_after_days.map(i32::from)),
        kind: Set(encode_stage_kind(s.kind).to_string()),
    }
}

async fn insert_stages(
    txn: &DatabaseTransaction,
    pipeline_id: &str,
    stages: &[Stage],
) -> Result<(), DbErr> {
    stage::Entity::insert_many(stages.iter().map(|s| stage_row(pipeline_id, s)))
        .exec_without_returning(txn)
        .await?;
    insert_criteria(txn, pipeline_id, stages).await
}

async fn insert_criteria(
    txn: &DatabaseTransaction,
    pipeline_id: &str,
    stages: &[Stage],
) -> Result<(), DbErr> {
    let criteria: Vec<_> = stages
        .iter()
        .flat_map(|s| {
            s.exit_criteria
                .iter()
                .enumerate()
                .map(|(i, c)| criterion_row(pipeline_id, &s.stage_id, i, c))
        })
        .collect();
    if !criteria.is_empty() {
        exit_criterion::Entity::insert_many(criteria)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Replaces a pipeline's stages in place: kept stages are updated, new ones inserted, removed
/// ones deleted. Deals point at their stage, so a stage that holds deals can be neither removed
/// nor turned into another kind (FAILED_PRECONDITION naming each).
async fn replace_stages(
    txn: &DatabaseTransaction,
    pipeline_id: &str,
    stages: &[Stage],
) -> AppResult<()> {
    let existing = stage::Entity::find()
        .filter(stage::Column::PipelineId.eq(pipeline_id))
        .all(txn)
        .await
        .map_err(storage)?;
    let occupied: Vec<String> = deal::Entity::find()
        .select_only()
        .column(deal::Column::StageId)
        .distinct()
        .filter(deal::Column::PipelineId.eq(pipeline_id))
        .into_tuple()
        .all(txn)
        .await
        .map_err(storage)?;
    let mut blocked = Vec::new();
    for old in &existing {
        let replacement = stages.iter().find(|s| s.stage_id == old.stage_id);
        let changes_kind = replacement.is_some_and(|s| encode_stage_kind(s.kind) != old.kind);
        if occupied.contains(&old.stage_id) && (replacement.is_none() || changes_kind) {
            blocked.push(Precondition {
                kind: "STAGE_IN_USE".into(),
                subject: stage_name(pipeline_id, &old.stage_id),
                description: if changes_kind {
                    "deals are in this stage: its kind cannot change".into()
                } else {
                    "deals are in this stage: move them before removing it".into()
                },
            });
        }
    }
    if !blocked.is_empty() {
        return Err(AppError::FailedPrecondition {
            reason: "STAGE_IN_USE",
            message: format!("{} stages hold deals", blocked.len()),
            violations: blocked,
        });
    }
    exit_criterion::Entity::delete_many()
        .filter(exit_criterion::Column::PipelineId.eq(pipeline_id))
        .exec(txn)
        .await
        .map_err(storage)?;
    let removed: Vec<String> = existing
        .iter()
        .filter(|old| !stages.iter().any(|s| s.stage_id == old.stage_id))
        .map(|old| old.stage_id.clone())
        .collect();
    if !removed.is_empty() {
        stage::Entity::delete_many()
            .filter(stage::Column::PipelineId.eq(pipeline_id))
            .filter(stage::Column::StageId.is_in(removed))
            .exec(txn)
            .await
            .map_err(storage)?;
    }
    let (kept, new): (Vec<&Stage>, Vec<&Stage>) = stages
        .iter()
        .partition(|s| existing.iter().any(|old| old.stage_id == s.stage_id));
    for s in kept {
        stage::Entity::update(stage_row(pipeline_id, s))
            .exec(txn)
            .await
            .map_err(storage)?;
    }
    if !new.is_empty() {
        stage::Entity::insert_many(new.into_iter().map(|s| stage_row(pipeline_id, s)))
            .exec_without_returning(txn)
            .await
            .map_err(storage)?;
    }
    insert_criteria(txn, pipeline_id, stages)
        .await
        .map_err(storage)
}

/// Assembles pipelines from their rows (stages and criteria of every pipeline in `rows`).
async fn load_pipelines<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<pipeline::Model>,
) -> Result<Vec<Pipeline>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let stage_rows = stage::Entity::find()
        .filter(stage::Column::PipelineId.is_in(ids.clone()))
        .order_by_asc(stage::Column::PipelineId)
        .order_by_asc(stage::Column::Position)
        .all(conn)
        .await?;
    let criteria_rows = exit_criterion::Entity::find()
        .filter(exit_criterion::Column::PipelineId.is_in(ids))
        .order_by_asc(exit_criterion::Column::PipelineId)
        .order_by_asc(exit_criterion::Column::StageId)
        .order_by_asc(exit_criterion::Column::Ordinal)
        .all(conn)
        .await?;
    let mut criteria: HashMap<(String, String), Vec<ExitCriterion>> = HashMap::new();
    for row in &criteria_rows {
        criteria
            .entry((row.pipeline_id.clone(), row.stage_id.clone()))
            .or_default()
            .push(criterion_from_row(row)?);
    }
    let mut stages: HashMap<String, Vec<Stage>> = HashMap::new();
    for row in stage_rows {
        let exit_criteria = criteria
            .remove(&(row.pipeline_id.clone(), row.stage_id.clone()))
            .unwrap_or_default();
        stages
            .entry(row.pipeline_id.clone())
            .or_default()
            .push(Stage {
                stage_id: row.stage_id,
                display_name: row.display_name,
                buyer_evidence: row.buyer_evidence,
                owner_role: decode_role(&row.owner_role)?,
                default_probability_bps: u16::try_from(row.default_probability_bps).map_err(
                    |_| corrupt("probability", &row.default_probability_bps.to_string()),
                )?,
                stale_after_days: row.stale_after_days.and_then(|d| u16::try_from(d).ok()),
                kind: decode_stage_kind(&row.kind)?,
                position: row.position,
                exit_criteria,
            });
    }
    rows.into_iter()
        .map(|row| {
            Ok(Pipeline {
                id: uuid(&row.id)?,
                spec: PipelineSpec {
                    display_name: row.display_name,
                    segment: decode_segment(&row.segment)?,
                    stages: stages.remove(&row.id).unwrap_or_default(),
                },
                created_at: row.created_at,
                updated_at: row.updated_at,
                version: row.version,
            })
        })
        .collect()
}

impl PipelineStore for SqlStore {
    async fn insert_pipeline(
        &self,
        new: &Pipeline,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        self.write_once(vec![audit], idempotency, async |txn| {
            let id = new.id.to_string();
            pipeline::Entity::insert(pipeline::ActiveModel {
                id: Set(id.clone()),
                display_name: Set(new.spec.display_name.clone()),
                segment: Set(encode_segment(new.spec.segment).to_string()),
                created_at: Set(new.created_at),
                updated_at: Set(new.updated_at),
                version: Set(new.version),
            })
            .exec_without_returning(txn)
            .await
            .map_err(storage)?;
            insert_stages(txn, &id, &new.spec.stages)
                .await
                .map_err(storage)
        })
        .await
        .inspect(|_| self.caches.pipelines_changed())
    }

    async fn get_pipeline(&self, id: PipelineId) -> AppResult<Option<Arc<Pipeline>>> {
        let cache = &self.caches.pipelines;
        if let Some(pipeline) = cache.get(&id) {
            return Ok(Some(pipeline));
        }
        let ticket = cache.ticket();
        let row = pipeline::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .map_err(storage)?;
        let rows = row.into_iter().collect();
        let pipeline = load_pipelines(&self.db, rows)
            .await
            .map_err(storage)?
            .pop()
            .map(Arc::new);
        if let Some(pipeline) = &pipeline {
            cache.put(id, pipeline.clone(), ticket);
        }
        Ok(pipeline)
    }

    async fn list_pipelines(
        &self,
        segment: Option<Segment>,
        after: Option<PipelineId>,
        limit: u64,
    ) -> AppResult<Vec<Pipeline>> {
        let load = async {
            let mut query = pipeline::Entity::find()
                .order_by_asc(pipeline::Column::Id)
                .limit(limit);
            if let Some(segment) = segment {
                query = query.filter(pipeline::Column::Segment.eq(encode_segment(segment)));
            }
            if let Some(after) = after {
                query = query.filter(pipeline::Column::Id.gt(after.to_string()));
            }
            let rows = query.all(&self.db).await.map_err(storage)?;
            load_pipelines(&self.db, rows).await.map_err(storage)
        };
        self.caches
            .pipeline_pages
            .get_or_load((segment, after, limit), load)
            .await
    }

    async fn update_pipeline(
        &self,
        updated: &Pipeline,
        expected_version: i64,
        audit: AuditEntry,
    ) -> AppResult<()> {
        let id = updated.id.to_string();
        let txn = self.begin_write().await.map_err(storage)?;
        let result = pipeline::Entity::update_many()
            .col_expr(
                pipeline::Column::DisplayName,
                Expr::value(updated.spec.display_name.clone()),
            )
            .col_expr(
                pipeline::Column::Segment,
                Expr::value(encode_segment(updated.spec.segment)),
            )
            .col_expr(pipeline::Column::UpdatedAt, Expr::value(updated.updated_at))
            .col_expr(pipeline::Column::Version, Expr::value(updated.version))
            .filter(pipeline::Column::Id.eq(id.clone()))
            .filter(pipeline::Column::Version.eq(expected_version))
            .exec(&txn)
            .await
            .map_err(storage)?;
        if result.rows_affected == 0 {
            return Err(AppError::StaleEtag {
                kind: "pipeline",
                name: pipeline_name(updated.id),
            });
        }
        replace_stages(&txn, &id, &updated.spec.stages).await?;
        record_audit(&txn, audit).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        self.caches.pipelines_changed();
        Ok(())
    }
}
