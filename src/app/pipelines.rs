//! Pipeline use cases: everyone reads pipelines, only admins change them.

use super::names::pipeline_name;
use super::ports::{AuditEntry, Created, IdempotencyKey, Store};
use super::roles::require_pipeline_editor;
use super::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::directory::UserId;
use crate::domain::ids::PipelineId;
use crate::domain::pipeline::{Pipeline, PipelineDraft, PipelineSpec, Segment, StageDraft};
use crate::domain::templates;

/// Which fields of a pipeline an update changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineMask {
    /// `display_name`.
    pub display_name: bool,
    /// `segment`.
    pub segment: bool,
    /// `stages` (the whole list).
    pub stages: bool,
}

fn parse_spec(
    draft: PipelineDraft,
    mut violations: crate::domain::Violations,
) -> AppResult<PipelineSpec> {
    match PipelineSpec::parse(draft) {
        Ok(spec) if violations.is_empty() => Ok(spec),
        Ok(_) => Err(AppError::invalid(violations.prefixed("pipeline"))),
        Err(more) => {
            violations.extend(more);
            Err(AppError::invalid(violations.prefixed("pipeline")))
        }
    }
}

impl<S: Store> App<S> {
    /// Creates a pipeline. Admin only; idempotent on the key. `wire_violations` are problems the
    /// wire conversion already found (unknown criterion kinds), reported with the domain's.
    pub async fn create_pipeline(
        &self,
        principal: &Principal,
        draft: PipelineDraft,
        wire_violations: crate::domain::Violations,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Pipeline) -> Vec<u8>,
    ) -> AppResult<Created<Pipeline>> {
        require_pipeline_editor(principal)?;
        let spec = parse_spec(draft, wire_violations)?;
        self.create_pipeline_as(Some(principal.user.id), spec, key, respond)
            .await
    }

    /// Creates a validated pipeline on behalf of `actor` (`None`: the operator's CLI).
    pub async fn create_pipeline_as(
        &self,
        actor: Option<UserId>,
        spec: PipelineSpec,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Pipeline) -> Vec<u8>,
    ) -> AppResult<Created<Pipeline>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let now = self.now();
        let pipeline = Pipeline {
            id: PipelineId(self.ids.id()),
            spec,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let audit = AuditEntry {
            actor,
            action: "CreatePipeline",
            resource: pipeline_name(pipeline.id),
            detail: format!("{} stages", pipeline.spec.stages.len()),
            change: None,
        };
        let write = idempotent_write(key, || respond(&pipeline));
        Ok(
            match self.store.insert_pipeline(&pipeline, audit, write).await? {
                Created::New(()) => Created::New(pipeline),
                Created::Replayed(saved) => Created::Replayed(saved),
            },
        )
    }

    /// One pipeline; everyone may read pipelines.
    pub async fn get_pipeline(
        &self,
        _principal: &Principal,
        id: PipelineId,
    ) -> AppResult<std::sync::Arc<Pipeline>> {
        self.store
            .get_pipeline(id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                kind: "pipeline",
                name: pipeline_name(id),
            })
    }

    /// A page of pipelines.
    pub async fn list_pipelines(
        &self,
        _principal: &Principal,
        segment: Option<Segment>,
        after: Option<PipelineId>,
        limit: u64,
    ) -> AppResult<Vec<Pipeline>> {
        self.store.list_pipelines(segment, after, limit).await
    }

    /// Changes the masked fields of a pipeline. Admin only; `etag` is the expected version.
    pub async fn update_pipeline(
        &self,
        principal: &Principal,
        id: PipelineId,
        changes: PipelineDraft,
        wire_violations: crate::domain::Violations,
        mask: PipelineMask,
        etag: Option<i64>,
    ) -> AppResult<Pipeline> {
        require_pipeline_editor(principal)?;
        let current = self.get_pipeline(principal, id).await?;
        if etag.is_some_and(|v| v != current.version) {
            return Err(AppError::StaleEtag {
                kind: "pipeline",
                name: pipeline_name(id),
            });
        }
        let was = &current.spec;
        let merged = PipelineDraft {
            display_name: if mask.display_name {
                changes.display_name
            } else {
                was.display_name.clone()
            },
            segment: if mask.segment {
                changes.segment
            } else {
                Some(was.segment)
            },
            stages: if mask.stages {
                changes.stages
            } else {
                was.stages.iter().map(StageDraft::from).collect()
            },
        };
        let spec = parse_spec(merged, wire_violations)?;
        let updated = Pipeline {
            id,
            spec,
            created_at: current.created_at,
            updated_at: self.now(),
            version: current.version + 1,
        };
        let fields = [
            (mask.display_name, "display_name"),
            (mask.segment, "segment"),
            (mask.stages, "stages"),
        ];
        let audit = AuditEntry {
            actor: Some(principal.user.id),
            action: "UpdatePipeline",
            resource: pipeline_name(id),
            detail: fields
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, f)| *f)
                .collect::<Vec<_>>()
                .join(","),
            change: None,
        };
        self.store
            .update_pipeline(&updated, current.version, audit)
            .await?;
        Ok(updated)
    }

    /// The built-in templates.
    pub fn pipeline_templates(&self, _principal: &Principal) -> Vec<PipelineSpec> {
        templates::all()
    }
}
