//! PipelineService: pipelines, stages and exit criteria; its metrics are served by
//! `pipeline_metrics`.

use tonic::{Request, Response, Status};
use tracing::instrument;

use super::convert::{
    criterion_from, criterion_to, etag, mask_paths, parse_etag, parse_name, role_from, role_to,
    segment_from, segment_to, stage_kind_from, stage_kind_to, timestamp,
};
use super::request_limits::{EXIT_CRITERIA, PIPELINE_UPDATABLE, STAGES};
use super::{Paging, authenticate, created, idempotency_key, invalid};
use crate::app::App;
use crate::app::names::pipeline_name;
use crate::app::pipelines::PipelineMask;
use crate::app::ports::Store;
use crate::app::roles::require_pipeline_editor;
use crate::domain::Violations;
use crate::domain::ids::PipelineId;
use crate::domain::pipeline::{Pipeline, PipelineDraft, PipelineSpec, StageDraft};
use crate::proto::{self as pb, pipeline_service_server::PipelineService};

/// The PipelineService adapter.
#[derive(Debug, Clone)]
pub struct PipelineApi<S> {
    app: App<S>,
}

impl<S> PipelineApi<S> {
    /// The adapter over `app`.
    pub fn new(app: App<S>) -> Self {
        Self { app }
    }
}

/// A pipeline's caller-set fields on the wire (`name` is the pipeline's, empty for templates).
fn spec_to_wire(name: &str, spec: &PipelineSpec) -> pb::Pipeline {
    pb::Pipeline {
        name: name.to_string(),
        display_name: spec.display_name.clone(),
        segment: segment_to(spec.segment).into(),
        stages: spec
            .stages
            .iter()
            .map(|s| pb::Stage {
                name: if name.is_empty() {
                    String::new()
                } else {
                    format!("{name}/stages/{}", s.stage_id)
                },
                stage_id: s.stage_id.clone(),
                display_name: s.display_name.clone(),
                buyer_evidence: s.buyer_evidence.clone(),
                owner_role: role_to(s.owner_role).into(),
                default_probability_bps: s.default_probability_bps.into(),
                stale_after_days: s.stale_after_days.map(i32::from),
                kind: stage_kind_to(s.kind).into(),
                position: s.position,
                exit_criteria: s.exit_criteria.iter().map(criterion_to).collect(),
            })
            .collect(),
        create_time: None,
        update_time: None,
        etag: String::new(),
    }
}

/// A stored pipeline on the wire.
pub fn pipeline_to_wire(pipeline: &Pipeline) -> pb::Pipeline {
    pb::Pipeline {
        create_time: Some(timestamp(pipeline.created_at)),
        update_time: Some(timestamp(pipeline.updated_at)),
        etag: etag(pipeline.version),
        ..spec_to_wire(&pipeline_name(pipeline.id), &pipeline.spec)
    }
}

/// A pipeline draft from the wire, with the violations the conversion found (criteria of
/// unknown kinds), paths relative to the pipeline.
fn draft_from(wire: &pb::Pipeline) -> (PipelineDraft, Violations) {
    let mut violations = Violations::new();
    let stages = STAGES
        .within(&mut violations, "stages", &wire.stages)
        .iter()
        .enumerate()
        .map(|(i, s)| StageDraft {
            stage_id: s.stage_id.clone(),
            display_name: s.display_name.clone(),
            buyer_evidence: s.buyer_evidence.clone(),
            owner_role: role_from(s.owner_role),
            default_probability_bps: s.default_probability_bps,
            stale_after_days: s.stale_after_days,
            kind: stage_kind_from(s.kind),
            position: s.position,
            exit_criteria: EXIT_CRITERIA
                .within(
                    &mut violations,
                    &format!("stages[{i}].exit_criteria"),
                    &s.exit_criteria,
                )
                .iter()
                .enumerate()
                .filter_map(|(j, c)| {
                    criterion_from(&format!("stages[{i}].exit_criteria[{j}]"), c)
                        .map_err(|v| violations.extend(v))
                        .ok()
                })
                .collect(),
        })
        .collect();
    let draft = PipelineDraft {
        display_name: wire.display_name.clone(),
        segment: segment_from(wire.segment),
        stages,
    };
    (draft, violations)
}

#[tonic::async_trait]
impl<S: Store> PipelineService for PipelineApi<S> {
    #[instrument(skip_all)]
    async fn create_pipeline(
        &self,
        request: Request<pb::CreatePipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_pipeline_editor(&principal)?;
        let req = request.into_inner();
        let pipeline = req
            .pipeline
            .as_ref()
            .ok_or_else(|| invalid(Violations::one("pipeline", "is required")))?;
        let (draft, violations) = draft_from(pipeline);
        let key = idempotency_key(
            Some(principal.user.id),
            "CreatePipeline",
            &req.request_id,
            &req,
        )?;
        let result = self
            .app
            .create_pipeline(&principal, draft, violations, key, |p| {
                prost::Message::encode_to_vec(&pipeline_to_wire(p))
            })
            .await?;
        Ok(Response::new(created(result, pipeline_to_wire)?))
    }

    #[instrument(skip_all)]
    async fn get_pipeline(
        &self,
        request: Request<pb::GetPipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let id = parse_name::<PipelineId>("name", &request.get_ref().name).map_err(invalid)?;
        let pipeline = self.app.get_pipeline(&principal, id).await?;
        Ok(Response::new(pipeline_to_wire(&pipeline)))
    }

    #[instrument(skip_all)]
    async fn list_pipelines(
        &self,
        request: Request<pb::ListPipelinesRequest>,
    ) -> Result<Response<pb::ListPipelinesResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let segment = match req.segment {
            0 => None,
            value => Some(segment_from(value).ok_or_else(|| {
                invalid(Violations::one(
                    "segment",
                    "must be one of the known segments",
                ))
            })?),
        };
        let segment_filter = req.segment.to_string();
        let paging = Paging::parse(
            req.page_size,
            &req.page_token,
            &["ListPipelines", &segment_filter],
        )?;
        let pipelines = self
            .app
            .list_pipelines(&principal, segment, paging.after_uuid()?, paging.limit)
            .await?;
        let next_page_token =
            paging.next_token(pipelines.len(), pipelines.last().map(|p| p.id.to_string()));
        Ok(Response::new(pb::ListPipelinesResponse {
            pipelines: pipelines.iter().map(pipeline_to_wire).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn update_pipeline(
        &self,
        request: Request<pb::UpdatePipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_pipeline_editor(&principal)?;
        let req = request.into_inner();
        let pipeline = req
            .pipeline
            .as_ref()
            .ok_or_else(|| invalid(Violations::one("pipeline", "is required")))?;
        let mut violations = Violations::new();
        let id = parse_name::<PipelineId>("pipeline.name", &pipeline.name)
            .map_err(|v| violations.extend(v))
            .ok();
        let etag = parse_etag("pipeline.etag", &pipeline.etag)
            .map_err(|v| violations.extend(v))
            .ok()
            .flatten();
        let paths = mask_paths(req.update_mask.as_ref(), &PIPELINE_UPDATABLE)
            .map_err(|v| violations.extend(v))
            .unwrap_or_default();
        let Some(id) = id else {
            return Err(invalid(violations));
        };
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let mask = PipelineMask {
            display_name: paths.contains(&"display_name"),
            segment: paths.contains(&"segment"),
            stages: paths.contains(&"stages"),
        };
        let (draft, mut wire_violations) = draft_from(pipeline);
        if !mask.stages {
            wire_violations = Violations::new();
        }
        let updated = self
            .app
            .update_pipeline(&principal, id, draft, wire_violations, mask, etag)
            .await?;
        Ok(Response::new(pipeline_to_wire(&updated)))
    }

    #[instrument(skip_all)]
    async fn list_pipeline_templates(
        &self,
        request: Request<pb::ListPipelineTemplatesRequest>,
    ) -> Result<Response<pb::ListPipelineTemplatesResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let templates = self.app.pipeline_templates(&principal);
        Ok(Response::new(pb::ListPipelineTemplatesResponse {
            templates: templates.iter().map(|t| spec_to_wire("", t)).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn get_pipeline_metrics(
        &self,
        request: Request<pb::GetPipelineMetricsRequest>,
    ) -> Result<Response<pb::PipelineMetrics>, Status> {
        super::pipeline_metrics::get_pipeline_metrics(&self.app, request).await
    }
}
