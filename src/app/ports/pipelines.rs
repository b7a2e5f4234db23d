//! The pipelines' port: pipelines with their stages and exit criteria.

use std::future::Future;
use std::sync::Arc;

use super::{AuditEntry, Created, IdempotentWrite};
use crate::app::AppResult;
use crate::domain::ids::PipelineId;
use crate::domain::pipeline::{Pipeline, Segment};

/// Storage of pipelines and their stages.
pub trait PipelineStore: Send + Sync + 'static {
    /// Inserts a pipeline with its stages and criteria.
    fn insert_pipeline(
        &self,
        pipeline: &Pipeline,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// One pipeline with its stages.
    fn get_pipeline(
        &self,
        id: PipelineId,
    ) -> impl Future<Output = AppResult<Option<Arc<Pipeline>>>> + Send;

    /// Pipelines in id order after `after`, at most `limit`.
    fn list_pipelines(
        &self,
        segment: Option<Segment>,
        after: Option<PipelineId>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<Pipeline>>> + Send;

    /// Replaces a pipeline (its `version` is the new one) if the stored version is still
    /// `expected_version`.
    fn update_pipeline(
        &self,
        pipeline: &Pipeline,
        expected_version: i64,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;
}
