//! Pipelines and stages: ordered stages named for what the buyer has done, each with typed exit
//! criteria that a deal must meet before it leaves the stage forward.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::directory::Role;
use super::text::{DisplayName, Note};
use super::{Problem, Violations, within_limit, wording};
use crate::domain::ids::PipelineId;

/// The market segment a pipeline serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Segment {
    /// Small business.
    Smb,
    /// Mid-market.
    MidMarket,
    Enterprise,
}

/// Whether a stage is open or terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageKind {
    /// Deals here are still open.
    Open,
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

/// Deal fields a [`ExitCriterion::FieldSet`] can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DealField {
    Amount,
    CloseDate,
    NextStep,
    NextStepDate,
    BantBudget,
    BantAuthority,
    BantNeed,
    BantTimeline,
    ConfirmedBudget,
    LeadSource,
}

impl DealField {
    /// The field as people say it.
    pub fn label(self) -> &'static str {
        match self {
            DealField::Amount => "amount",
            DealField::CloseDate => "close date",
            DealField::NextStep => "next step",
            DealField::NextStepDate => "next step date",
            DealField::BantBudget => "budget (BANT)",
            DealField::BantAuthority => "authority (BANT)",
            DealField::BantNeed => "need (BANT)",
            DealField::BantTimeline => "timeline (BANT)",
            DealField::ConfirmedBudget => "confirmed budget",
            DealField::LeadSource => "lead source",
        }
    }
}

/// The role a buyer-side contact plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuyingRole {
    EconomicBuyer,
    Champion,
    DecisionMaker,
    Influencer,
    /// Technical evaluator.
    Technical,
    Legal,
    Procurement,
}

impl BuyingRole {
    /// The role as people say it.
    pub fn label(self) -> &'static str {
        match self {
            BuyingRole::EconomicBuyer => "an economic buyer",
            BuyingRole::Champion => "a champion",
            BuyingRole::DecisionMaker => "a decision maker",
            BuyingRole::Influencer => "an influencer",
            BuyingRole::Technical => "a technical evaluator",
            BuyingRole::Legal => "a legal contact",
            BuyingRole::Procurement => "a procurement contact",
        }
    }
}

/// A MEDDPICC element, ordered as the acronym reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QualificationElement {
    Metrics,
    EconomicBuyer,
    DecisionCriteria,
    DecisionProcess,
    PaperProcess,
    IdentifiedPain,
    Champion,
    Competition,
}

impl QualificationElement {
    /// The element as people say it.
    pub fn label(self) -> &'static str {
        match self {
            QualificationElement::Metrics => "metrics",
            QualificationElement::EconomicBuyer => "economic buyer",
            QualificationElement::DecisionCriteria => "decision criteria",
            QualificationElement::DecisionProcess => "decision process",
            QualificationElement::PaperProcess => "paper process",
            QualificationElement::IdentifiedPain => "identified pain",
            QualificationElement::Champion => "champion",
            QualificationElement::Competition => "competition",
        }
    }
}

/// How well a qualification element is established; ordered unknown < red < yellow < green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QualificationStatus {
    /// Not assessed.
    Unknown,
    /// A known gap.
    Red,
    /// Partly established.
    Yellow,
    /// Verified by a manager or leader.
    Green,
}

impl QualificationStatus {
    /// The status as people say it.
    pub fn label(self) -> &'static str {
        match self {
            QualificationStatus::Unknown => "unknown",
            QualificationStatus::Red => "red",
            QualificationStatus::Yellow => "yellow",
            QualificationStatus::Green => "green",
        }
    }
}

/// A typed rule a deal must satisfy before leaving a stage forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCriterion {
    /// A field must be set.
    FieldSet(DealField),
    /// Close date today or later.
    CloseDateInFuture,
    /// Amount greater than zero.
    AmountPositive,
    /// A contact with this buying role exists.
    ContactWithRole(BuyingRole),
    /// Contacts from at least this many departments.
    DepartmentsEngaged(u8),
    /// A qualification element at least at this status (yellow or green).
    QualificationAtLeast {
        element: QualificationElement,
        /// The minimum status.
        min_status: QualificationStatus,
    },
    /// No approval request pending.
    NoPendingApproval,
    /// The discount is covered by an approved request.
    DiscountCovered,
}

/// Most departments a criterion may ask for.
pub const MAX_DEPARTMENTS: u8 = 20;

impl ExitCriterion {
    /// The rule in words, for checklists.
    pub fn description(&self) -> String {
        match self {
            ExitCriterion::FieldSet(field) => format!("{} is set", capitalise(field.label())),
            ExitCriterion::CloseDateInFuture => "Close date is today or later".into(),
            ExitCriterion::AmountPositive => "Amount is greater than zero".into(),
            ExitCriterion::ContactWithRole(role) => {
                capitalise(&format!("{} is among the contacts", role.label()))
            }
            ExitCriterion::DepartmentsEngaged(n) => {
                format!("Contacts from at least {n} departments are engaged")
            }
            ExitCriterion::QualificationAtLeast {
                element,
                min_status,
            } => format!(
                "Qualification: {} is at least {}",
                element.label(),
                min_status.label()
            ),
            ExitCriterion::NoPendingApproval => "No deal-desk approval is pending".into(),
            ExitCriterion::DiscountCovered => {
                "The discount is covered by an approved deal-desk request".into()
            }
        }
    }

    /// Problems with the rule's own parameters.
    fn check(&self, field: &str, violations: &mut Violations) {
        match *self {
            ExitCriterion::DepartmentsEngaged(n) if n == 0 || n > MAX_DEPARTMENTS => violations
                .add_as(
                    Problem::NumberOutOfRange,
                    format!("{field}.departments_engaged.min_departments"),
                    format!("must be between 1 and {MAX_DEPARTMENTS}"),
                ),
            ExitCriterion::QualificationAtLeast { min_status, .. }
                if min_status < QualificationStatus::Yellow =>
            {
                violations.add_as(
                    Problem::UnknownValue,
                    format!("{field}.qualification_at_least.min_status"),
                    "must be YELLOW or GREEN",
                )
            }
            _ => {}
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Probability in basis points, 0 to 10000.
pub type Bps = u16;

/// A stage as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Slug, unique in the pipeline.
    pub stage_id: String,
    /// Name shown to users.
    pub display_name: String,
    /// The buyer evidence that puts a deal here.
    pub buyer_evidence: String,
    /// The role that usually works this stage.
    pub owner_role: Role,
    /// Prior win probability.
    pub default_probability_bps: Bps,
    /// Staleness threshold, if set.
    pub stale_after_days: Option<u16>,
    /// Open, won or lost.
    pub kind: StageKind,
    /// Order in the pipeline.
    pub position: i32,
    /// What must be true to leave forward.
    pub exit_criteria: Vec<ExitCriterion>,
}

/// A stage as received: enum-typed fields are `None` when unset or unknown, and problems the
/// wire conversion found (unknown criterion kinds) are already in `violations`.
#[derive(Debug, Clone, Default)]
pub struct StageDraft {
    /// Slug as sent.
    pub stage_id: String,
    /// Display name as sent.
    pub display_name: String,
    /// Buyer evidence as sent.
    pub buyer_evidence: String,
    /// Owner role, if known.
    pub owner_role: Option<Role>,
    /// Prior as sent.
    pub default_probability_bps: i32,
    /// Staleness as sent.
    pub stale_after_days: Option<i32>,
    /// Kind, if known.
    pub kind: Option<StageKind>,
    /// Position as sent.
    pub position: i32,
    /// Criteria that converted.
    pub exit_criteria: Vec<ExitCriterion>,
}

impl From<&Stage> for StageDraft {
    /// A stored stage back as a draft, to re-validate a pipeline when other fields change.
    fn from(s: &Stage) -> Self {
        StageDraft {
            stage_id: s.stage_id.clone(),
            display_name: s.display_name.clone(),
            buyer_evidence: s.buyer_evidence.clone(),
            owner_role: Some(s.owner_role),
            default_probability_bps: s.default_probability_bps.into(),
            stale_after_days: s.stale_after_days.map(i32::from),
            kind: Some(s.kind),
            position: s.position,
            exit_criteria: s.exit_criteria.clone(),
        }
    }
}

/// The caller-set part of a pipeline, validated: at least one open stage, then exactly one won
/// and one lost stage; unique ids and positions; stages sorted by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSpec {
    /// Name shown to users.
    pub display_name: String,
    /// Segment served.
    pub segment: Segment,
    /// Stages in position order.
    pub stages: Vec<Stage>,
}

/// A pipeline as received.
#[derive(Debug, Clone, Default)]
pub struct PipelineDraft {
    /// Display name as sent.
    pub display_name: String,
    /// Segment, if known.
    pub segment: Option<Segment>,
    /// Stages as sent.
    pub stages: Vec<StageDraft>,
}

/// Most stages in one pipeline.
pub const MAX_STAGES: usize = 30;
/// Most exit criteria on one stage.
pub const MAX_CRITERIA: usize = 30;

impl PipelineSpec {
    /// Validates a draft, reporting every problem with its field path.
    pub fn parse(draft: PipelineDraft) -> Result<PipelineSpec, Violations> {
        let mut violations = Violations::new();
        violations.text::<DisplayName>("display_name", &draft.display_name);
        if draft.segment.is_none() {
            violations.add_as(
                Problem::UnknownValue,
                "segment",
                "must be SMB, MID_MARKET or ENTERPRISE",
            );
        }
        let stages = parse_stages(draft.stages, &mut violations);
        match (draft.segment, stages) {
            (Some(segment), Some(stages)) if violations.is_empty() => Ok(PipelineSpec {
                display_name: draft.display_name.trim().to_string(),
                segment,
                stages,
            }),
            _ => Err(violations),
        }
    }

    /// The stage with this id.
    pub fn stage(&self, stage_id: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.stage_id == stage_id)
    }

    /// The refusal of `value` in `field`, not a stage of this pipeline (`UNKNOWN_STAGE`):
    /// `"nope" is not a stage of the deal's pipeline (its stages: discovery, proposal)`.
    pub fn not_a_stage(&self, field: &str, value: &str) -> Violations {
        Violations::one_as(
            Problem::UnknownStage,
            field,
            wording::not_one_of(
                value,
                "a stage of the deal's pipeline",
                "its stages",
                self.stages.iter().map(|s| s.stage_id.as_str()),
            ),
        )
    }

    /// The refusal of `value` in `field`, a closed stage where an open one is needed
    /// (`CLOSED_STAGE`), naming the open ones: `"closed-won" is a closed stage: close deals
    /// with CloseDeal (open stages: discovery, proposal)`.
    pub fn closed_stage(&self, field: &str, value: &str, how: &str) -> Violations {
        Violations::one_as(
            Problem::ClosedStage,
            field,
            format!(
                "{} is a closed stage: {how} (open stages: {})",
                wording::echoed(value),
                wording::listed(
                    self.stages
                        .iter()
                        .filter(|s| s.kind == StageKind::Open)
                        .map(|s| s.stage_id.as_str())
                )
            ),
        )
    }
}

fn parse_stages(drafts: Vec<StageDraft>, violations: &mut Violations) -> Option<Vec<Stage>> {
    if drafts.len() > MAX_STAGES {
        violations.add_as(
            Problem::TooMany,
            "stages",
            format!("must have at most {MAX_STAGES} stages"),
        );
        return None;
    }
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut positions: HashMap<i32, usize> = HashMap::new();
    let shape: Vec<(StageKind, i32)> = drafts
        .iter()
        .filter_map(|d| d.kind.map(|kind| (kind, d.position)))
        .collect();
    let mut stages = Vec::with_capacity(drafts.len());
    for (i, draft) in drafts.into_iter().enumerate() {
        let field = format!("stages[{i}]");
        if let Some(first) = ids.insert(draft.stage_id.clone(), i) {
            violations.add_as(
                Problem::DuplicateValue,
                format!("{field}.stage_id"),
                format!("duplicates the id of stages[{first}]"),
            );
        }
        if let Some(first) = positions.insert(draft.position, i) {
            violations.add_as(
                Problem::DuplicateValue,
                format!("{field}.position"),
                format!("duplicates the position of stages[{first}]"),
            );
        }
        if let Some(stage) = parse_stage(draft, &field, violations) {
            stages.push(stage);
        }
    }
    check_shape(&shape, violations);
    stages.sort_by_key(|s| s.position);
    Some(stages)
}

fn parse_stage(draft: StageDraft, field: &str, violations: &mut Violations) -> Option<Stage> {
    let before = violations.count();
    if !is_slug(&draft.stage_id) {
        violations.add_as(
            Problem::BadText,
            format!("{field}.stage_id"),
            "must be 1 to 63 lower-case letters, digits or '-', starting with a letter",
        );
    }
    violations.text::<DisplayName>(&format!("{field}.display_name"), &draft.display_name);
    violations.text::<Note>(&format!("{field}.buyer_evidence"), &draft.buyer_evidence);
    if draft.owner_role.is_none() {
        violations.add_as(
            Problem::UnknownValue,
            format!("{field}.owner_role"),
            "must be one of the known roles",
        );
    }
    if !(0..=10_000).contains(&draft.default_probability_bps) {
        violations.add_as(
            Problem::NumberOutOfRange,
            format!("{field}.default_probability_bps"),
            "must be between 0 and 10000 basis points",
        );
    }
    match draft.kind {
        None => violations.add_as(
            Problem::UnknownValue,
            format!("{field}.kind"),
            "must be OPEN, WON or LOST",
        ),
        Some(StageKind::Won) if draft.default_probability_bps != 10_000 => violations.add_as(
            Problem::ConflictingFields,
            format!("{field}.default_probability_bps"),
            "the won stage's probability must be 10000",
        ),
        Some(StageKind::Lost) if draft.default_probability_bps != 0 => violations.add_as(
            Problem::ConflictingFields,
            format!("{field}.default_probability_bps"),
            "the lost stage's probability must be 0",
        ),
        Some(StageKind::Won | StageKind::Lost) if !draft.exit_criteria.is_empty() => violations
            .add_as(
                Problem::ConflictingFields,
                format!("{field}.exit_criteria"),
                "a closed stage has no exit criteria",
            ),
        _ => {}
    }
    if let Some(days) = draft.stale_after_days
        && !(1..=3650).contains(&days)
    {
        violations.add_as(
            Problem::NumberOutOfRange,
            format!("{field}.stale_after_days"),
            "must be between 1 and 3650 days when set",
        );
    }
    let criteria = within_limit(
        violations,
        &format!("{field}.exit_criteria"),
        &draft.exit_criteria,
        MAX_CRITERIA,
        "criteria",
    );
    let mut seen = HashSet::new();
    for (j, criterion) in criteria.iter().enumerate() {
        let at = format!("{field}.exit_criteria[{j}]");
        criterion.check(&at, violations);
        if !seen.insert(*criterion) {
            violations.add_as(
                Problem::DuplicateValue,
                at,
                "repeats an earlier criterion of this stage",
            );
        }
    }
    if violations.count() != before {
        return None;
    }
    Some(Stage {
        stage_id: draft.stage_id,
        display_name: draft.display_name.trim().to_string(),
        buyer_evidence: draft.buyer_evidence.trim().to_string(),
        owner_role: draft.owner_role?,
        default_probability_bps: u16::try_from(draft.default_probability_bps).ok()?,
        stale_after_days: draft.stale_after_days.and_then(|d| u16::try_from(d).ok()),
        kind: draft.kind?,
        position: draft.position,
        exit_criteria: draft.exit_criteria,
    })
}

/// At least one open stage, exactly one won and one lost, and the closed stages last. Judged on
/// every stage whose kind is known, valid or not, so one bad stage does not cascade.
fn check_shape(stages: &[(StageKind, i32)], violations: &mut Violations) {
    let count = |kind| stages.iter().filter(|(k, _)| *k == kind).count();
    if count(StageKind::Open) == 0 {
        violations.add_as(
            Problem::BadShape,
            "stages",
            "must have at least one OPEN stage",
        );
    }
    if count(StageKind::Won) != 1 {
        violations.add_as(
            Problem::BadShape,
            "stages",
            "must have exactly one WON stage",
        );
    }
    if count(StageKind::Lost) != 1 {
        violations.add_as(
            Problem::BadShape,
            "stages",
            "must have exactly one LOST stage",
        );
    }
    let last_open = stages
        .iter()
        .filter(|(k, _)| *k == StageKind::Open)
        .map(|(_, p)| *p)
        .max();
    let first_closed = stages
        .iter()
        .filter(|(k, _)| *k != StageKind::Open)
        .map(|(_, p)| *p)
        .min();
    if let (Some(open), Some(closed)) = (last_open, first_closed)
        && closed < open
    {
        violations.add_as(
            Problem::BadShape,
            "stages",
            "the WON and LOST stages must come after every OPEN stage",
        );
    }
}

fn is_slug(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// A pipeline as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// Identifier (UUIDv7).
    pub id: PipelineId,
    /// The caller-set fields.
    pub spec: PipelineSpec,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change.
    pub version: i64,
}

#[cfg(test)]
mod tests;
