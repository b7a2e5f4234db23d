//! The rows of the call table for PipelineService.

use super::*;

/// The calls of PipelineService, in the matrix's order.
pub(super) fn calls() -> Vec<Call> {
    vec![
        call!(
            "PipelineService.CreatePipeline",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .create_pipeline(req(
                            token,
                            pb::CreatePipelineRequest {
                                pipeline: Some(matrix_pipeline(&format!("Matrix {}", unique()))),
                                request_id: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.GetPipeline",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .get_pipeline(req(
                            token,
                            pb::GetPipelineRequest {
                                name: org.pipeline.name.clone(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.ListPipelines",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                pipelines
                    .list_pipelines(req(
                        token,
                        pb::ListPipelinesRequest {
                            page_size: 500,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| {
                        r.into_inner()
                            .pipelines
                            .iter()
                            .any(|p| p.name == org.pipeline.name)
                    })
            }
        ),
        call!(
            "PipelineService.UpdatePipeline",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .update_pipeline(req(
                            token,
                            pb::UpdatePipelineRequest {
                                pipeline: Some(pb::Pipeline {
                                    name: org.spare.name.clone(),
                                    display_name: format!("Spare {}", unique()),
                                    ..Default::default()
                                }),
                                update_mask: mask(&["display_name"]),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.ListPipelineTemplates",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .list_pipeline_templates(req(token, pb::ListPipelineTemplatesRequest {}))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.GetPipelineMetrics",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                let rep = org.rep.name();
                done(
                    pipelines
                        .get_pipeline_metrics(req(
                            token,
                            pb::GetPipelineMetricsRequest {
                                pipeline: org.pipeline.name.clone(),
                                start_month: "2026-01".into(),
                                end_month: "2026-06".into(),
                                owner: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
    ]
}
