//! PipelineService: stages, typed exit criteria, validation, templates.

use dealdesk::domain::directory::Role;
use dealdesk::proto::{self as pb, exit_criterion as ec};
use prost_types::FieldMask;
use tonic::Code;

use crate::contract_test;
use crate::fixtures::{create_pipeline, stage, try_create_deal};
use crate::helpers::{assert_error, authed, violated_fields};

/// A stage with its buyer evidence and a default probability of `probability` bps.
fn described_stage(
    id: &str,
    position: i32,
    kind: pb::stage::Kind,
    probability: i32,
    criteria: Vec<ec::Rule>,
) -> pb::Stage {
    pb::Stage {
        buyer_evidence: format!("The buyer did {id}"),
        default_probability_bps: probability,
        ..stage(id, position, kind, criteria)
    }
}

/// A valid three-open-stage pipeline.
fn pipeline() -> pb::Pipeline {
    use pb::stage::Kind;
    pb::Pipeline {
        display_name: "Inbound mid-market".into(),
        segment: pb::Segment::MidMarket as i32,
        stages: vec![
            described_stage(
                "problem-recognized",
                1,
                Kind::Open,
                1000,
                vec![ec::Rule::FieldSet(ec::FieldSet {
                    field: pb::DealField::NextStep as i32,
                })],
            ),
            described_stage(
                "business-case-built",
                2,
                Kind::Open,
                4000,
                vec![
                    ec::Rule::ContactWithRole(ec::ContactWithRole {
                        role: pb::BuyingRole::EconomicBuyer as i32,
                    }),
                    ec::Rule::DepartmentsEngaged(ec::DepartmentsEngaged { min_departments: 2 }),
                ],
            ),
            described_stage(
                "decision-pending",
                3,
                Kind::Open,
                7000,
                vec![
                    ec::Rule::QualificationAtLeast(ec::QualificationAtLeast {
                        element: pb::QualificationElement::PaperProcess as i32,
                        min_status: pb::QualificationStatus::Green as i32,
                    }),
                    ec::Rule::DiscountCovered(ec::DiscountCovered {}),
                ],
            ),
            described_stage("closed-won", 10, Kind::Won, 10_000, vec![]),
            described_stage("closed-lost", 11, Kind::Lost, 0, vec![]),
        ],
        ..Default::default()
    }
}

contract_test!(
    an_admin_creates_a_pipeline_that_everyone_reads_back_in_order,
    |app| {
        let mut input = pipeline();
        input.stages.reverse();
        let created = create_pipeline(&app, input).await;
        assert!(created.name.starts_with("pipelines/"));
        let ids: Vec<&str> = created.stages.iter().map(|s| s.stage_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "problem-recognized",
                "business-case-built",
                "decision-pending",
                "closed-won",
                "closed-lost"
            ]
        );
        assert_eq!(
            created.stages[0].name,
            format!("{}/stages/problem-recognized", created.name)
        );
        assert_eq!(
            created.stages[1]
                .exit_criteria
                .iter()
                .map(|c| c.description.as_str())
                .collect::<Vec<_>>(),
            [
                "An economic buyer is among the contacts",
                "Contacts from at least 2 departments are engaged"
            ]
        );
        let (_, rep_token) = app.user(Role::Rep, None).await;
        let read = app
            .pipelines()
            .await
            .get_pipeline(authed(
                &rep_token,
                pb::GetPipelineRequest {
                    name: created.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, created);
    }
);

contract_test!(
    only_admins_change_pipelines_and_nothing_changes_when_refused,
    |app| {
        let existing = create_pipeline(&app, pipeline()).await;
        for role in [
            Role::Rep,
            Role::Manager,
            Role::Leader,
            Role::DealDesk,
            Role::Finance,
            Role::Legal,
        ] {
            let (_, token) = app.user(role, None).await;
            let mut pipelines = app.pipelines().await;
            let status = pipelines
                .create_pipeline(authed(
                    &token,
                    pb::CreatePipelineRequest {
                        pipeline: Some(pipeline()),
                        request_id: String::new(),
                    },
                ))
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "ADMIN_ONLY");
            let status = pipelines
                .update_pipeline(authed(
                    &token,
                    pb::UpdatePipelineRequest {
                        pipeline: Some(pb::Pipeline {
                            name: existing.name.clone(),
                            display_name: "Mine".into(),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["display_name".into()],
                        }),
                    },
                ))
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "ADMIN_ONLY");
        }
        assert_eq!(app.count("pipelines").await, 1);
        let read = app
            .pipelines()
            .await
            .get_pipeline(authed(
                &app.admin_token,
                pb::GetPipelineRequest {
                    name: existing.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, existing);
    }
);

contract_test!(a_pipeline_needs_exactly_one_won_and_one_lost_stage, |app| {
    let mut bad = pipeline();
    bad.stages
        .retain(|s| s.kind != pb::stage::Kind::Lost as i32);
    bad.stages.push(described_stage(
        "won-again",
        12,
        pb::stage::Kind::Won,
        10_000,
        vec![],
    ));
    let status = app
        .pipelines()
        .await
        .create_pipeline(authed(
            &app.admin_token,
            pb::CreatePipelineRequest {
                pipeline: Some(bad),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::InvalidArgument, "BAD_SHAPE");
    assert_eq!(
        violated_fields(&status),
        ["pipeline.stages", "pipeline.stages"]
    );
    assert_eq!(app.count("pipelines").await, 0);
    assert_eq!(app.count("stages").await, 0);
});

contract_test!(
    duplicate_positions_unknown_rules_and_unknown_enums_are_each_reported,
    |app| {
        let mut bad = pipeline();
        bad.segment = 9;
        bad.stages[1].position = 1;
        bad.stages[0].exit_criteria.push(pb::ExitCriterion {
            rule: None,
            description: String::new(),
        });
        bad.stages[0].exit_criteria.push(pb::ExitCriterion {
            rule: Some(ec::Rule::FieldSet(ec::FieldSet { field: 99 })),
            description: String::new(),
        });
        bad.stages[2].owner_role = 0;
        bad.stages[2].exit_criteria.push(pb::ExitCriterion {
            rule: Some(ec::Rule::QualificationAtLeast(ec::QualificationAtLeast {
                element: pb::QualificationElement::Champion as i32,
                min_status: pb::QualificationStatus::Red as i32,
            })),
            description: String::new(),
        });
        let status = app
            .pipelines()
            .await
            .create_pipeline(authed(
                &app.admin_token,
                pb::CreatePipelineRequest {
                    pipeline: Some(bad),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            [
                // Found reading the wire: a criterion without a rule, an unknown enum value.
                "pipeline.stages[0].exit_criteria[1]",
                "pipeline.stages[0].exit_criteria[2].field_set.field",
                // Found by the domain's validation.
                "pipeline.segment",
                "pipeline.stages[1].position",
                "pipeline.stages[2].owner_role",
                "pipeline.stages[2].exit_criteria[2].qualification_at_least.min_status",
            ]
        );
        assert_eq!(app.count("pipelines").await, 0);
    }
);

contract_test!(an_update_replaces_stages_and_honours_the_etag, |app| {
    let created = create_pipeline(&app, pipeline()).await;
    let mut pipelines = app.pipelines().await;
    let mut changed = created.clone();
    changed.stages.remove(1);
    changed.stages[0].exit_criteria.clear();
    let updated = pipelines
        .update_pipeline(authed(
            &app.admin_token,
            pb::UpdatePipelineRequest {
                pipeline: Some(changed),
                update_mask: Some(FieldMask {
                    paths: vec!["stages".into()],
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.stages.len(), 4);
    assert!(updated.stages[0].exit_criteria.is_empty());
    assert_eq!(updated.display_name, created.display_name);
    assert_ne!(updated.etag, created.etag);
    let status = pipelines
        .update_pipeline(authed(
            &app.admin_token,
            pb::UpdatePipelineRequest {
                pipeline: Some(pb::Pipeline {
                    display_name: "Stale".into(),
                    ..created.clone()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["display_name".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::Aborted, "STALE_ETAG");
    let renamed = pipelines
        .update_pipeline(authed(
            &app.admin_token,
            pb::UpdatePipelineRequest {
                pipeline: Some(pb::Pipeline {
                    name: created.name.clone(),
                    display_name: "Renamed".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["display_name".into()],
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.display_name, "Renamed");
    assert_eq!(
        renamed.stages, updated.stages,
        "stages untouched when not in the mask"
    );
    assert_eq!(app.count("stages").await, 4);
});

contract_test!(an_invalid_stage_update_changes_nothing, |app| {
    let created = create_pipeline(&app, pipeline()).await;
    let mut changed = created.clone();
    changed
        .stages
        .retain(|s| s.kind == pb::stage::Kind::Open as i32);
    let status = app
        .pipelines()
        .await
        .update_pipeline(authed(
            &app.admin_token,
            pb::UpdatePipelineRequest {
                pipeline: Some(changed),
                update_mask: Some(FieldMask {
                    paths: vec!["stages".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["pipeline.stages", "pipeline.stages"]
    );
    let read = app
        .pipelines()
        .await
        .get_pipeline(authed(
            &app.admin_token,
            pb::GetPipelineRequest {
                name: created.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
});

contract_test!(a_retried_pipeline_create_returns_the_first_answer, |app| {
    let mut pipelines = app.pipelines().await;
    let request = pb::CreatePipelineRequest {
        pipeline: Some(pipeline()),
        request_id: "pipeline-once".into(),
    };
    let first = pipelines
        .create_pipeline(authed(&app.admin_token, request.clone()))
        .await
        .unwrap()
        .into_inner();
    let second = pipelines
        .create_pipeline(authed(&app.admin_token, request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, second);
    assert_eq!(app.count("pipelines").await, 1);
});

contract_test!(templates_cover_every_segment_and_create_as_is, |app| {
    let (_, rep_token) = app.user(Role::Rep, None).await;
    let mut pipelines = app.pipelines().await;
    let templates = pipelines
        .list_pipeline_templates(authed(&rep_token, pb::ListPipelineTemplatesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .templates;
    let segments: Vec<i32> = templates.iter().map(|t| t.segment).collect();
    assert_eq!(
        segments,
        [
            pb::Segment::Smb as i32,
            pb::Segment::MidMarket as i32,
            pb::Segment::Enterprise as i32
        ]
    );
    assert!(templates[0].stages.len() <= 5, "SMB keeps to five stages");
    for template in templates {
        let created = create_pipeline(&app, template.clone()).await;
        assert_eq!(created.stages.len(), template.stages.len());
        assert_eq!(
            created
                .stages
                .iter()
                .map(|s| &s.exit_criteria)
                .collect::<Vec<_>>(),
            template
                .stages
                .iter()
                .map(|s| &s.exit_criteria)
                .collect::<Vec<_>>()
        );
    }
});

contract_test!(list_filters_by_segment_and_pages, |app| {
    create_pipeline(&app, pipeline()).await;
    create_pipeline(&app, pipeline()).await;
    create_pipeline(
        &app,
        pb::Pipeline {
            segment: pb::Segment::Smb as i32,
            ..pipeline()
        },
    )
    .await;
    let mut pipelines = app.pipelines().await;
    let first = pipelines
        .list_pipelines(authed(
            &app.admin_token,
            pb::ListPipelinesRequest {
                page_size: 1,
                segment: pb::Segment::MidMarket as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.pipelines.len(), 1);
    let second = pipelines
        .list_pipelines(authed(
            &app.admin_token,
            pb::ListPipelinesRequest {
                page_size: 1,
                segment: pb::Segment::MidMarket as i32,
                page_token: first.next_page_token.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.pipelines.len(), 1);
    assert_ne!(second.pipelines[0].name, first.pipelines[0].name);
    let third = pipelines
        .list_pipelines(authed(
            &app.admin_token,
            pb::ListPipelinesRequest {
                page_size: 1,
                segment: pb::Segment::MidMarket as i32,
                page_token: second.next_page_token.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(third.pipelines.is_empty() && third.next_page_token.is_empty());
    let all = pipelines
        .list_pipelines(authed(
            &app.admin_token,
            pb::ListPipelinesRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.pipelines.len(), 3);
    let status = pipelines
        .list_pipelines(authed(
            &app.admin_token,
            pb::ListPipelinesRequest {
                segment: 7,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["segment"]);
    let status = pipelines
        .get_pipeline(authed(
            &app.admin_token,
            pb::GetPipelineRequest {
                name: "pipelines/x".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["name"]);
    let status = pipelines
        .get_pipeline(authed(
            &app.admin_token,
            pb::GetPipelineRequest {
                name: format!("pipelines/{}", uuid::Uuid::now_v7()),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "NOT_FOUND");
});

contract_test!(
    stages_holding_deals_cannot_be_removed_but_can_be_edited_in_place,
    |app| {
        let created = create_pipeline(&app, pipeline()).await;
        let (rep, rep_token) = app.user(Role::Rep, None).await;
        try_create_deal(
            &app,
            &rep_token,
            pb::Deal {
                display_name: "Acme".into(),
                account: "Acme Corp".into(),
                pipeline: created.name.clone(),
                owner: rep.name.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut pipelines = app.pipelines().await;
        let mut without_first = created.clone();
        without_first.stages.remove(0);
        without_first.etag = String::new();
        let status = pipelines
            .update_pipeline(authed(
                &app.admin_token,
                pb::UpdatePipelineRequest {
                    pipeline: Some(without_first),
                    update_mask: Some(FieldMask {
                        paths: vec!["stages".into()],
                    }),
                },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "STAGE_IN_USE");
        let violations = tonic_types::StatusExt::get_details_precondition_failure(&status)
            .unwrap()
            .violations;
        assert_eq!(
            violations[0].subject,
            format!("{}/stages/problem-recognized", created.name)
        );
        // Renaming and reordering in place keeps the deal where it is.
        let mut edited = created.clone();
        edited.stages[0].display_name = "Pain acknowledged".into();
        edited.stages[0].position = 0;
        edited.stages[1].position = 1;
        edited.stages[2].position = 2;
        edited.etag = String::new();
        let updated = pipelines
            .update_pipeline(authed(
                &app.admin_token,
                pb::UpdatePipelineRequest {
                    pipeline: Some(edited),
                    update_mask: Some(FieldMask {
                        paths: vec!["stages".into()],
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(updated.stages[0].display_name, "Pain acknowledged");
        assert_eq!(updated.stages[0].stage_id, "problem-recognized");
    }
);
