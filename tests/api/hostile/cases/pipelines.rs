//! PipelineService: a valid request of each RPC and the single faults that make it refused.

use super::*;

pub(in crate::hostile) fn pipelines(fx: &Arc<Fixture>, f: &mut Families) {
    let create = valid::create_pipeline;
    f.credentials("PipelineService/CreatePipeline", create(fx));
    let x = fx.clone();
    f.add(
        "PipelineService/CreatePipeline",
        "create pipeline: bad field",
        move |rng| {
            let mut r = create(&x);
            let p = r.pipeline.as_mut().unwrap();
            let expect = match rng.below(11) {
                0 => {
                    r.pipeline = None;
                    field("pipeline")
                }
                1 => {
                    p.display_name = huge(rng);
                    field("pipeline.display_name")
                }
                2 => {
                    p.segment = bad_enum(rng);
                    field("pipeline.segment")
                }
                3 => {
                    p.stages.clear();
                    field("pipeline.stages")
                }
                4 => {
                    // Hundreds of stages.
                    let open = p.stages[0].clone();
                    p.stages = (0..31 + rng.below(200))
                        .map(|i| pb::Stage {
                            stage_id: format!("s{i}"),
                            position: i as i32,
                            ..open.clone()
                        })
                        .collect();
                    field("pipeline.stages")
                }
                5 => {
                    p.stages[0].stage_id =
                        pick(rng, &["Upper", "1digit", "has space", "é", "a\0"]).to_string();
                    field("pipeline.stages[0].stage_id")
                }
                6 => {
                    p.stages[0].default_probability_bps =
                        *pick(rng, &[-1, 10_001, i32::MAX, i32::MIN]);
                    field("pipeline.stages[0].default_probability_bps")
                }
                7 => {
                    p.stages[0].kind = bad_enum(rng);
                    field("pipeline.stages[0].kind")
                }
                8 => {
                    p.stages[0].exit_criteria = vec![pb::ExitCriterion::default()];
                    field("pipeline.stages[0].exit_criteria[0]")
                }
                9 => {
                    p.stages[0].exit_criteria = vec![pb::ExitCriterion {
                        rule: Some(ec::Rule::DepartmentsEngaged(ec::DepartmentsEngaged {
                            min_departments: *pick(rng, &[0, -1, 21, i32::MAX, i32::MIN]),
                        })),
                        description: String::new(),
                    }];
                    field("pipeline.stages[0].exit_criteria[0].departments_engaged.min_departments")
                }
                _ => {
                    p.stages[0].stale_after_days = Some(*pick(rng, &[0, -1, 3651, i32::MAX]));
                    field("pipeline.stages[0].stale_after_days")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/CreatePipeline",
        "create pipeline: not admin",
        move |rng| {
            let callers = [&x.rep, &x.manager, &x.desk];
            let caller = *pick(rng, &callers);
            (
                as_(caller),
                create(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );

    f.credentials(
        "PipelineService/GetPipeline",
        pb::GetPipelineRequest {
            name: fx.pipeline.clone(),
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/GetPipeline",
        "get pipeline: bad or unknown",
        move |rng| {
            if rng.below(2) == 0 {
                let name = bad_name(rng, "pipelines");
                (as_(&x.rep), pb::GetPipelineRequest { name }, field("name"))
            } else {
                let name = format!("pipelines/{}", unknown_id(rng));
                (
                    as_(&x.rep),
                    pb::GetPipelineRequest { name },
                    Expect::Code(Code::NotFound),
                )
            }
        },
    );

    f.credentials(
        "PipelineService/ListPipelines",
        pb::ListPipelinesRequest::default(),
    );
    let x = fx.clone();
    f.add(
        "PipelineService/ListPipelines",
        "list pipelines: bad field",
        move |rng| {
            let r = pb::ListPipelinesRequest {
                segment: bad_enum(rng),
                ..Default::default()
            };
            (as_(&x.rep), r, field("segment"))
        },
    );

    let update = |fx: &Fixture| pb::UpdatePipelineRequest {
        pipeline: Some(pb::Pipeline {
            name: fx.pipeline.clone(),
            display_name: "Renamed".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["display_name".into()],
        }),
    };
    f.credentials("PipelineService/UpdatePipeline", update(fx));
    let x = fx.clone();
    f.add(
        "PipelineService/UpdatePipeline",
        "update pipeline: bad field",
        move |rng| {
            let mut r = update(&x);
            let p = r.pipeline.as_mut().unwrap();
            let expect = match rng.below(7) {
                0 => {
                    r.update_mask = None;
                    field("update_mask")
                }
                1 => {
                    r.update_mask = Some(FieldMask {
                        paths: vec!["name".into()],
                    });
                    field("update_mask.paths[0]")
                }
                2 => {
                    p.name = bad_name(rng, "pipelines");
                    field("pipeline.name")
                }
                3 => {
                    p.etag = malformed_etag(rng);
                    field("pipeline.etag")
                }
                4 => {
                    p.etag = "\"424242\"".into();
                    Expect::Code(Code::Aborted)
                }
                5 => {
                    r.update_mask = Some(FieldMask {
                        paths: vec!["stages".into()],
                    });
                    field("pipeline.stages")
                }
                _ => {
                    p.display_name = control_text(rng);
                    field("pipeline.display_name")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/UpdatePipeline",
        "update pipeline: not admin",
        move |_| {
            (
                as_(&x.manager),
                update(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/UpdatePipeline",
        "update pipeline: unknown",
        move |rng| {
            let mut r = update(&x);
            r.pipeline.as_mut().unwrap().name = format!("pipelines/{}", unknown_id(rng));
            (admin(&x), r, Expect::Code(Code::NotFound))
        },
    );

    f.credentials(
        "PipelineService/ListPipelineTemplates",
        pb::ListPipelineTemplatesRequest {},
    );

    let metrics = |fx: &Fixture| pb::GetPipelineMetricsRequest {
        pipeline: fx.pipeline.clone(),
        start_month: "2026-01".into(),
        end_month: "2026-03".into(),
        ..Default::default()
    };
    f.credentials("PipelineService/GetPipelineMetrics", metrics(fx));
    let x = fx.clone();
    f.add(
        "PipelineService/GetPipelineMetrics",
        "pipeline metrics: bad field",
        move |rng| {
            let mut r = metrics(&x);
            let expect = match rng.below(9) {
                0 => {
                    r.pipeline = bad_name(rng, "pipelines");
                    field("pipeline")
                }
                1 => {
                    r.start_month = bad_period(rng);
                    field("start_month")
                }
                2 => {
                    r.end_month = pick(rng, &["2026-13", "2026-Q1", "", "2025-12"]).to_string();
                    field("end_month")
                }
                3 => {
                    r.end_month = "2030-01".into();
                    field("end_month")
                }
                4 => {
                    r.lead_source = bad_enum(rng);
                    field("lead_source")
                }
                5 => {
                    r.segment = bad_enum(rng);
                    field("segment")
                }
                6 => {
                    r.stale_after_days = Some(*pick(rng, &[0, -1, 3651, i32::MIN]));
                    field("stale_after_days")
                }
                7 => {
                    r.max_stale_deals = bad_page_size(rng);
                    field("max_stale_deals")
                }
                _ => {
                    r.scope = bad_name(rng, "users");
                    field("scope")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/GetPipelineMetrics",
        "pipeline metrics: beyond view",
        move |rng| {
            let mut r = metrics(&x);
            if rng.below(2) == 0 {
                r.scope = x.other_rep.name();
            } else {
                r.scope = "org".into();
            }
            (as_(&x.rep), r, Expect::Code(Code::PermissionDenied))
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/GetPipelineMetrics",
        "pipeline metrics: unknown",
        move |rng| {
            let mut r = metrics(&x);
            r.pipeline = format!("pipelines/{}", unknown_id(rng));
            (as_(&x.rep), r, Expect::Code(Code::NotFound))
        },
    );
}
