use super::*;
use proptest::prelude::*;

fn stage(id: &str, position: i32, kind: StageKind) -> StageDraft {
    StageDraft {
        stage_id: id.into(),
        display_name: id.to_uppercase(),
        buyer_evidence: String::new(),
        owner_role: Some(Role::Rep),
        default_probability_bps: match kind {
            StageKind::Won => 10_000,
            StageKind::Lost => 0,
            StageKind::Open => 2_000,
        },
        stale_after_days: None,
        kind: Some(kind),
        position,
        exit_criteria: vec![],
    }
}

fn draft(stages: Vec<StageDraft>) -> PipelineDraft {
    PipelineDraft {
        display_name: "Mid-market".into(),
        segment: Some(Segment::MidMarket),
        stages,
    }
}

fn fields(violations: &Violations) -> Vec<&str> {
    violations.0.iter().map(|v| v.field.as_str()).collect()
}

#[test]
fn stages_are_sorted_by_position() {
    let spec = PipelineSpec::parse(draft(vec![
        stage("won", 10, StageKind::Won),
        stage("b", 2, StageKind::Open),
        stage("lost", 11, StageKind::Lost),
        stage("a", 1, StageKind::Open),
    ]))
    .unwrap();
    let ids: Vec<&str> = spec.stages.iter().map(|s| s.stage_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "won", "lost"]);
}

#[test]
fn a_pipeline_without_exactly_one_won_and_one_lost_stage_is_rejected() {
    let err = PipelineSpec::parse(draft(vec![
        stage("a", 1, StageKind::Open),
        stage("won", 2, StageKind::Won),
        stage("won2", 3, StageKind::Won),
    ]))
    .unwrap_err();
    let descriptions: Vec<&str> = err.0.iter().map(|v| v.description.as_str()).collect();
    assert_eq!(
        descriptions,
        [
            "must have exactly one WON stage",
            "must have exactly one LOST stage"
        ]
    );
}

#[test]
fn duplicate_positions_and_ids_are_named_by_index() {
    let err = PipelineSpec::parse(draft(vec![
        stage("a", 1, StageKind::Open),
        stage("a", 1, StageKind::Open),
        stage("won", 2, StageKind::Won),
        stage("lost", 3, StageKind::Lost),
    ]))
    .unwrap_err();
    assert_eq!(fields(&err), ["stages[1].stage_id", "stages[1].position"]);
}

#[test]
fn closed_stages_must_come_last_and_have_no_criteria() {
    let mut won = stage("won", 2, StageKind::Won);
    won.exit_criteria = vec![ExitCriterion::AmountPositive];
    let err = PipelineSpec::parse(draft(vec![
        stage("a", 1, StageKind::Open),
        won,
        stage("lost", 3, StageKind::Lost),
    ]))
    .unwrap_err();
    assert_eq!(fields(&err), ["stages[1].exit_criteria"]);
    let err = PipelineSpec::parse(draft(vec![
        stage("a", 5, StageKind::Open),
        stage("won", 0, StageKind::Won),
        stage("lost", 3, StageKind::Lost),
    ]))
    .unwrap_err();
    assert_eq!(fields(&err), ["stages"]);
}

#[test]
fn unknown_enums_bad_slugs_and_ranges_are_each_reported() {
    let mut bad = stage("Bad Id", 1, StageKind::Open);
    bad.owner_role = None;
    bad.kind = None;
    bad.default_probability_bps = 10_001;
    bad.stale_after_days = Some(0);
    let err = PipelineSpec::parse(PipelineDraft {
        display_name: String::new(),
        segment: None,
        stages: vec![
            bad,
            stage("won", 2, StageKind::Won),
            stage("lost", 3, StageKind::Lost),
        ],
    })
    .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "display_name",
            "segment",
            "stages[0].stage_id",
            "stages[0].owner_role",
            "stages[0].default_probability_bps",
            "stages[0].kind",
            "stages[0].stale_after_days",
            "stages",
        ]
    );
}

#[test]
fn criteria_parameters_are_checked() {
    let mut a = stage("a", 1, StageKind::Open);
    a.exit_criteria = vec![
        ExitCriterion::DepartmentsEngaged(0),
        ExitCriterion::QualificationAtLeast {
            element: QualificationElement::Champion,
            min_status: QualificationStatus::Red,
        },
        ExitCriterion::AmountPositive,
        ExitCriterion::AmountPositive,
    ];
    let err = PipelineSpec::parse(draft(vec![
        a,
        stage("won", 2, StageKind::Won),
        stage("lost", 3, StageKind::Lost),
    ]))
    .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "stages[0].exit_criteria[0].departments_engaged.min_departments",
            "stages[0].exit_criteria[1].qualification_at_least.min_status",
            "stages[0].exit_criteria[3]",
        ]
    );
}

#[test]
fn criteria_describe_themselves_for_checklists() {
    assert_eq!(
        ExitCriterion::ContactWithRole(BuyingRole::EconomicBuyer).description(),
        "An economic buyer is among the contacts"
    );
    assert_eq!(
        ExitCriterion::FieldSet(DealField::NextStep).description(),
        "Next step is set"
    );
    assert_eq!(
        ExitCriterion::QualificationAtLeast {
            element: QualificationElement::Champion,
            min_status: QualificationStatus::Green
        }
        .description(),
        "Qualification: champion is at least green"
    );
}

proptest! {
    /// Whatever order the stages arrive in, a valid pipeline comes out sorted by position
    /// with its open stages first.
    #[test]
    fn valid_pipelines_come_out_sorted(open in 1usize..8, seed in any::<u64>()) {
        let mut stages: Vec<StageDraft> = (0..open)
            .map(|i| stage(&format!("s{i}"), i as i32 * 10, StageKind::Open))
            .collect();
        stages.push(stage("won", 1000, StageKind::Won));
        stages.push(stage("lost", 1001, StageKind::Lost));
        let n = stages.len();
        stages.rotate_left((seed as usize) % n);
        let spec = PipelineSpec::parse(draft(stages)).unwrap();
        prop_assert!(spec.stages.windows(2).all(|w| w[0].position < w[1].position));
        prop_assert_eq!(spec.stages.len(), open + 2);
        prop_assert!(spec.stages[..open].iter().all(|s| s.kind == StageKind::Open));
    }
}
