//! Built-in pipeline templates: buyer-centric stages for SMB, mid-market and enterprise.
//!
//! Stages are named for what the buyer has done, and each exit criterion asks for evidence of
//! it. Enterprise adds multi-stakeholder checkpoints (departments engaged, economic buyer,
//! legal and procurement); SMB keeps to five stages in all.

use super::directory::Role;
use super::pipeline::{
    BuyingRole as B, DealField as F, ExitCriterion as C, PipelineSpec, QualificationElement as Q,
    QualificationStatus as S, Segment, Stage, StageKind,
};

#[allow(clippy::too_many_arguments)] // each template stage reads best as one row
fn open(
    position: i32,
    stage_id: &str,
    display_name: &str,
    buyer_evidence: &str,
    owner_role: Role,
    probability: u16,
    stale_after_days: u16,
    exit_criteria: Vec<C>,
) -> Stage {
    Stage {
        stage_id: stage_id.into(),
        display_name: display_name.into(),
        buyer_evidence: buyer_evidence.into(),
        owner_role,
        default_probability_bps: probability,
        stale_after_days: Some(stale_after_days),
        kind: StageKind::Open,
        position,
        exit_criteria,
    }
}

fn closed(position: i32, won: bool) -> Stage {
    Stage {
        stage_id: if won { "closed-won" } else { "closed-lost" }.into(),
        display_name: if won { "Closed Won" } else { "Closed Lost" }.into(),
        buyer_evidence: if won {
            "The buyer has signed the order form."
        } else {
            "The buyer chose another path or no decision."
        }
        .into(),
        owner_role: Role::Rep,
        default_probability_bps: if won { 10_000 } else { 0 },
        stale_after_days: None,
        kind: if won { StageKind::Won } else { StageKind::Lost },
        position,
        exit_criteria: vec![],
    }
}

const PROBLEM: &str =
    "The buyer has acknowledged a problem worth solving and agreed to explore it.";
const EXPLORING: &str = "The buyer is evaluating solutions, including ours, against their need.";
const REQUIREMENTS: &str =
    "The buyer has written down requirements and the people who will judge them.";
const BUSINESS_CASE: &str =
    "The buyer has built (with us) a business case their economic buyer has seen.";
const DECISION: &str = "The buyer has chosen us pending signature: paper process under way.";

/// The SMB template: five stages in all, light gates.
pub fn smb() -> PipelineSpec {
    PipelineSpec {
        display_name: "SMB".into(),
        segment: Segment::Smb,
        stages: vec![
            open(
                10,
                "problem-recognized",
                "Problem Recognized",
                PROBLEM,
                Role::Rep,
                1500,
                14,
                vec![C::FieldSet(F::NextStep), C::FieldSet(F::LeadSource)],
            ),
            open(
                20,
                "solution-exploring",
                "Solution Exploring",
                EXPLORING,
                Role::Rep,
                4000,
                21,
                vec![
                    C::AmountPositive,
                    C::CloseDateInFuture,
                    C::ContactWithRole(B::DecisionMaker),
                ],
            ),
            open(
                30,
                "decision-pending",
                "Decision Pending",
                DECISION,
                Role::Rep,
                7000,
                14,
                vec![
                    C::FieldSet(F::ConfirmedBudget),
                    C::NoPendingApproval,
                    C::DiscountCovered,
                ],
            ),
            closed(100, true),
            closed(110, false),
        ],
    }
}

/// The mid-market template.
pub fn mid_market() -> PipelineSpec {
    PipelineSpec {
        display_name: "Mid-market".into(),
        segment: Segment::MidMarket,
        stages: vec![
            open(
                10,
                "problem-recognized",
                "Problem Recognized",
                PROBLEM,
                Role::Rep,
                1000,
                21,
                vec![
                    C::FieldSet(F::NextStep),
                    C::FieldSet(F::LeadSource),
                    C::FieldSet(F::BantNeed),
                ],
            ),
            open(
                20,
                "solution-exploring",
                "Solution Exploring",
                EXPLORING,
                Role::Rep,
                2500,
                30,
                vec![
                    C::AmountPositive,
                    C::CloseDateInFuture,
                    C::ContactWithRole(B::Champion),
                    C::QualificationAtLeast {
                        element: Q::IdentifiedPain,
                        min_status: S::Yellow,
                    },
                ],
            ),
            open(
                30,
                "business-case-built",
                "Business Case Built",
                BUSINESS_CASE,
                Role::Rep,
                5000,
                30,
                vec![
                    C::ContactWithRole(B::EconomicBuyer),
                    C::FieldSet(F::BantBudget),
                    C::QualificationAtLeast {
                        element: Q::Metrics,
                        min_status: S::Yellow,
                    },
                    C::QualificationAtLeast {
                        element: Q::DecisionProcess,
                        min_status: S::Yellow,
                    },
                ],
            ),
            open(
                40,
                "decision-pending",
                "Decision Pending",
                DECISION,
                Role::Manager,
                7500,
                21,
                vec![
                    C::FieldSet(F::ConfirmedBudget),
                    C::QualificationAtLeast {
                        element: Q::EconomicBuyer,
                        min_status: S::Green,
                    },
                    C::NoPendingApproval,
                    C::DiscountCovered,
                ],
            ),
            closed(100, true),
            closed(110, false),
        ],
    }
}

/// The enterprise template: multi-stakeholder checkpoints at every step.
pub fn enterprise() -> PipelineSpec {
    PipelineSpec {
        display_name: "Enterprise".into(),
        segment: Segment::Enterprise,
        stages: vec![
            open(
                10,
                "problem-recognized",
                "Problem Recognized",
                PROBLEM,
                Role::Rep,
                500,
                30,
                vec![
                    C::FieldSet(F::NextStep),
                    C::FieldSet(F::NextStepDate),
                    C::FieldSet(F::LeadSource),
                    C::QualificationAtLeast {
                        element: Q::IdentifiedPain,
                        min_status: S::Yellow,
                    },
                ],
            ),
            open(
                20,
                "solution-exploring",
                "Solution Exploring",
                EXPLORING,
                Role::Rep,
                1500,
                45,
                vec![
                    C::AmountPositive,
                    C::CloseDateInFuture,
                    C::ContactWithRole(B::Champion),
                    C::ContactWithRole(B::Technical),
                    C::DepartmentsEngaged(2),
                ],
            ),
            open(
                30,
                "requirements-defined",
                "Requirements Defined",
                REQUIREMENTS,
                Role::Rep,
                3000,
                45,
                vec![
                    C::QualificationAtLeast {
                        element: Q::DecisionCriteria,
                        min_status: S::Yellow,
                    },
                    C::QualificationAtLeast {
                        element: Q::DecisionProcess,
                        min_status: S::Yellow,
                    },
                    C::QualificationAtLeast {
                        element: Q::Champion,
                        min_status: S::Green,
                    },
                    C::QualificationAtLeast {
                        element: Q::Competition,
                        min_status: S::Yellow,
                    },
                    C::DepartmentsEngaged(3),
                ],
            ),
            open(
                40,
                "business-case-built",
                "Business Case Built",
                BUSINESS_CASE,
                Role::Manager,
                5000,
                45,
                vec![
                    C::ContactWithRole(B::EconomicBuyer),
                    C::ContactWithRole(B::DecisionMaker),
                    C::FieldSet(F::BantBudget),
                    C::FieldSet(F::BantAuthority),
                    C::FieldSet(F::BantTimeline),
                    C::QualificationAtLeast {
                        element: Q::Metrics,
                        min_status: S::Green,
                    },
                    C::QualificationAtLeast {
                        element: Q::EconomicBuyer,
                        min_status: S::Green,
                    },
                ],
            ),
            open(
                50,
                "decision-pending",
                "Decision Pending",
                DECISION,
                Role::Leader,
                7500,
                30,
                vec![
                    C::FieldSet(F::ConfirmedBudget),
                    C::ContactWithRole(B::Legal),
                    C::ContactWithRole(B::Procurement),
                    C::QualificationAtLeast {
                        element: Q::PaperProcess,
                        min_status: S::Green,
                    },
                    C::NoPendingApproval,
                    C::DiscountCovered,
                ],
            ),
            closed(100, true),
            closed(110, false),
        ],
    }
}

/// Every template, in segment order.
pub fn all() -> Vec<PipelineSpec> {
    vec![smb(), mid_market(), enterprise()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pipeline::{PipelineDraft, StageDraft};

    /// Templates go through the same validation as any caller's pipeline.
    fn revalidate(spec: &PipelineSpec) -> PipelineSpec {
        PipelineSpec::parse(PipelineDraft {
            display_name: spec.display_name.clone(),
            segment: Some(spec.segment),
            stages: spec.stages.iter().map(StageDraft::from).collect(),
        })
        .unwrap()
    }

    #[test]
    fn every_template_is_a_valid_pipeline() {
        for template in all() {
            assert_eq!(revalidate(&template), template);
        }
    }

    #[test]
    fn smb_has_at_most_five_stages() {
        assert!(smb().stages.len() <= 5);
    }

    #[test]
    fn open_stage_priors_rise_through_the_pipeline() {
        for template in all() {
            let priors: Vec<u16> = template
                .stages
                .iter()
                .filter(|s| s.kind == StageKind::Open)
                .map(|s| s.default_probability_bps)
                .collect();
            assert!(priors.windows(2).all(|w| w[0] < w[1]), "{priors:?}");
        }
    }

    #[test]
    fn enterprise_needs_several_stakeholders_before_a_decision() {
        let spec = enterprise();
        let gates: Vec<C> = spec
            .stages
            .iter()
            .flat_map(|s| s.exit_criteria.clone())
            .collect();
        assert!(gates.contains(&C::DepartmentsEngaged(3)));
        for role in [B::EconomicBuyer, B::Champion, B::Legal, B::Procurement] {
            assert!(gates.contains(&C::ContactWithRole(role)), "{role:?}");
        }
    }
}
