//! Stage moves and closes: preview a move, advance a deal to another open stage (gated
//! forward, free backward, overridable by a manager with a justification) or close it won or
//! lost, each idempotent on its request id.

use chrono::{DateTime, NaiveDate, Utc};

use super::{closed_deal, deal_event, deal_name, gate_failure};
use crate::app::error::Precondition;
use crate::app::ports::{
    AuditEntry, Created, DealEventDraft, DealEventKind, FieldChange, IdempotencyKey, Store,
};
use crate::app::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::Violations;
use crate::domain::deal::{
    Deal, DealStatus, ForecastCategory, HistoryDirection, StageHistoryEntry,
};
use crate::domain::directory::UserId;
use crate::domain::gates::{ApprovalFacts, Direction, MovePlan, move_needs_approvals, plan_move};
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::pipeline::{Pipeline, PipelineSpec, StageKind};

/// How a deal closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Won.
    Won,
    /// Lost, with its reason.
    Lost(String),
}

/// How a deal closes, and on which day of the org's calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    /// Won or lost.
    pub outcome: Outcome,
    /// The day the contract was signed (won) or the deal was lost; `None`: today in the org's
    /// zone. A won deal's revenue is booked on it.
    pub on: Option<NaiveDate>,
}

/// What a preview answers.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The pipeline, for naming stages.
    pub pipeline_id: PipelineId,
    /// The move's direction and every exit criterion on the way, met or not.
    pub plan: MovePlan,
}

/// What a caller sends with a move or a close besides where to: the version of the deal it read
/// and a manager's justification for passing unmet exit criteria.
#[derive(Debug, Clone, Copy, Default)]
pub struct MoveTerms<'a> {
    /// The version the caller read (`None`: whichever is stored); another -> ABORTED.
    pub etag: Option<i64>,
    /// Why unmet exit criteria may be passed (empty: they may not).
    pub justification: &'a str,
}

/// A move as [`App::move_deal`] carries it out: the deal as read, where it goes, and on what
/// terms.
struct Move<'a> {
    /// The deal as the caller may change it.
    deal: Deal,
    /// Whether the caller is a manager or leader above its owner (who may override gates).
    leader: bool,
    /// The stage it goes to.
    target: &'a str,
    /// How it closes, when the move closes it.
    closing: Option<Closing>,
    /// The version the caller read.
    etag: Option<i64>,
    /// The checked justification, if one was given.
    justification: Option<String>,
}

/// Refuses a move of a deal changed since the caller read it, of a closed deal, or with a
/// justification from someone who may not override.
fn check_movable(mv: &Move<'_>) -> AppResult<()> {
    let deal = &mv.deal;
    if mv.etag.is_some_and(|v| v != deal.version) {
        return Err(AppError::StaleEtag {
            kind: "deal",
            name: deal_name(deal.id),
        });
    }
    if deal.status != DealStatus::Open {
        return Err(closed_deal(deal));
    }
    if mv.justification.is_some() && !mv.leader {
        return Err(AppError::denied(
            "OVERRIDE_REQUIRES_MANAGER",
            "only a manager or leader above the owner may override exit criteria",
        ));
    }
    Ok(())
}

/// What a move writes beside the deal: its history row, audit row and events.
struct MoveRecord<'a> {
    /// Who moved it.
    actor: UserId,
    /// The deal as read.
    before: &'a Deal,
    /// The deal as moved.
    after: &'a Deal,
    /// Which way it went.
    direction: HistoryDirection,
    /// The justification, when the move passed unmet criteria on it.
    justification: Option<&'a str>,
    /// How many criteria it passed unmet.
    unmet: usize,
}

impl MoveRecord<'_> {
    fn history(&self) -> StageHistoryEntry {
        StageHistoryEntry::of(
            self.after,
            Some(self.before.stage_id.clone()),
            self.direction,
            Some(self.actor),
            self.justification.map(str::to_string),
        )
    }

    fn audit(&self) -> Vec<AuditEntry> {
        let (deal, moved) = (self.before, self.after);
        vec![AuditEntry {
            actor: Some(self.actor),
            action: if moved.status == DealStatus::Open {
                "AdvanceDealStage"
            } else {
                "CloseDeal"
            },
            resource: deal_name(deal.id),
            detail: self
                .justification
                .map(|j| format!("override: {j}"))
                .unwrap_or_default(),
            change: Some(FieldChange {
                field: "stage".into(),
                old: deal.stage_id.clone(),
                new: moved.stage_id.clone(),
            }),
        }]
    }

    fn events(&self) -> Vec<DealEventDraft> {
        let (deal, moved, direction) = (self.before, self.after, self.direction);
        let mut events = vec![DealEventDraft {
            from_stage: deal.stage_id.clone(),
            direction: Some(direction),
            description: match moved.status {
                DealStatus::Open => format!(
                    "moved {} from {} to {}",
                    if direction == HistoryDirection::Backward {
                        "back"
                    } else {
                        "forward"
                    },
                    deal.stage_id,
                    moved.stage_id
                ),
                DealStatus::Won => format!("closed won from {}", deal.stage_id),
                DealStatus::Lost => format!("closed lost: {}", moved.loss_reason),
            },
            ..deal_event(
                moved,
                if moved.status == DealStatus::Open {
                    DealEventKind::StageMoved
                } else {
                    DealEventKind::Closed
                },
                self.actor,
            )
        }];
        if let Some(justification) = self.justification {
            events.push(DealEventDraft {
                from_stage: deal.stage_id.clone(),
                direction: Some(direction),
                description: format!(
                    "moved past {} unmet exit criteria: {justification}",
                    self.unmet
                ),
                ..deal_event(moved, DealEventKind::GateOverridden, self.actor)
            });
        }
        events
    }
}

fn check_justification(justification: &str) -> AppResult<Option<String>> {
    let trimmed = justification.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().count() > 2000 {
        return Err(AppError::invalid_field(
            "override_justification",
            "must be at most 2000 characters",
        ));
    }
    Ok(Some(trimmed.to_string()))
}

impl<S: Store> App<S> {
    /// What a move (or close won) to `target` needs, without moving.
    pub async fn preview_stage(
        &self,
        principal: &Principal,
        id: DealId,
        target: &str,
    ) -> AppResult<Preview> {
        let (deal, _) = self.visible_deal(principal, id).await?;
        let pipeline = self.pipeline_of(deal.pipeline_id).await?;
        let today = self.today();
        let approvals = self
            .move_approval_facts(&pipeline.spec, &deal, target)
            .await?;
        let plan = plan_move(
            &pipeline.spec,
            Some(&deal.stage_id),
            target,
            &deal.fields,
            today,
            approvals,
        )
        .ok_or_else(|| {
            AppError::invalid_field("target_stage", "is not a stage of the deal's pipeline")
        })?;
        Ok(Preview {
            pipeline_id: pipeline.id,
            plan,
        })
    }

    /// What the deal desk knows of `deal`'s approvals, read only when moving it to `target`
    /// meets an approval criterion on the way (any facts plan the other moves the same).
    async fn move_approval_facts(
        &self,
        pipeline: &PipelineSpec,
        deal: &Deal,
        target: &str,
    ) -> AppResult<ApprovalFacts> {
        if !move_needs_approvals(pipeline, Some(&deal.stage_id), target) {
            return Ok(ApprovalFacts::NONE);
        }
        self.approval_facts(Some(deal.id), pipeline.segment, deal.fields.discount_bps)
            .await
    }

    /// One attempt at [`App::advance_stage`].
    async fn advance_stage_once(
        &self,
        principal: &Principal,
        id: DealId,
        target: &str,
        terms: MoveTerms<'_>,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let justification = check_justification(terms.justification)?;
        let (deal, leader) = self.writable_deal(principal, id).await?;
        let pipeline = self.pipeline_of(deal.pipeline_id).await?;
        match pipeline.spec.stage(target) {
            None => {
                return Err(AppError::invalid_field(
                    "target_stage",
                    "is not a stage of the deal's pipeline",
                ));
            }
            Some(stage) if stage.kind != StageKind::Open => {
                return Err(AppError::invalid_field(
                    "target_stage",
                    "is a closed stage: close deals with CloseDeal",
                ));
            }
            Some(_) => {}
        }
        let mv = Move {
            deal,
            leader,
            target,
            closing: None,
            etag: terms.etag,
            justification,
        };
        self.move_deal(principal, &pipeline, mv, key, respond).await
    }

    /// One attempt at [`App::close_deal`].
    async fn close_deal_once(
        &self,
        principal: &Principal,
        id: DealId,
        closing: Closing,
        terms: MoveTerms<'_>,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let justification = check_justification(terms.justification)?;
        if let Outcome::Lost(reason) = &closing.outcome {
            let mut violations = Violations::new();
            violations.text::<crate::domain::text::LossReason>("loss_reason", reason);
            if justification.is_some() {
                violations.add(
                    "override_justification",
                    "closing lost is never gated: nothing to override",
                );
            }
            if !violations.is_empty() {
                return Err(AppError::invalid(violations));
            }
        }
        let (deal, leader) = self.writable_deal(principal, id).await?;
        self.check_closing_day(&deal, closing.on)?;
        let pipeline = self.pipeline_of(deal.pipeline_id).await?;
        let kind = if closing.outcome == Outcome::Won {
            StageKind::Won
        } else {
            StageKind::Lost
        };
        let target = pipeline
            .spec
            .stages
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.stage_id.clone())
            .ok_or_else(|| AppError::Storage("pipeline without a closed stage".into()))?;
        let mv = Move {
            deal,
            leader,
            target: &target,
            closing: Some(closing),
            etag: terms.etag,
            justification,
        };
        self.move_deal(principal, &pipeline, mv, key, respond).await
    }

    /// Moves an open deal to another open stage, gated forward, free backward. Idempotent on
    /// the key, also against concurrent retries of itself.
    pub async fn advance_stage(
        &self,
        principal: &Principal,
        id: DealId,
        target: &str,
        terms: MoveTerms<'_>,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        let retry = key.clone();
        let result = self
            .advance_stage_once(principal, id, target, terms, key, respond)
            .await;
        self.or_replayed(result, retry.as_ref()).await
    }

    /// Closes an open deal: won is gated like a move to the won stage; lost needs a reason.
    /// Idempotent on the key, also against concurrent retries of itself.
    pub async fn close_deal(
        &self,
        principal: &Principal,
        id: DealId,
        closing: Closing,
        terms: MoveTerms<'_>,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        let retry = key.clone();
        let result = self
            .close_deal_once(principal, id, closing, terms, key, respond)
            .await;
        self.or_replayed(result, retry.as_ref()).await
    }

    /// The shared path of advance and close: plan, gate, override, record.
    async fn move_deal(
        &self,
        principal: &Principal,
        pipeline: &Pipeline,
        mv: Move<'_>,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        check_movable(&mv)?;
        let at = self.now();
        let plan = self.plan_gated_move(pipeline, &mv, at).await?;
        let overridden = !plan.allowed();
        let direction = match (&mv.closing, plan.direction) {
            (Some(_), _) => HistoryDirection::Close,
            (None, Direction::Backward) => HistoryDirection::Backward,
            (None, _) => HistoryDirection::Forward,
        };
        let Move {
            deal,
            target,
            closing,
            justification,
            ..
        } = mv;
        let moved = self.moved_deal(&deal, target, closing, at);
        let justification = justification.filter(|_| overridden);
        let record = MoveRecord {
            actor: principal.user.id,
            before: &deal,
            after: &moved,
            direction,
            justification: justification.as_deref(),
            unmet: plan.unmet().count(),
        };
        let (history, audit, events) = (record.history(), record.audit(), record.events());
        let write = idempotent_write(key, || respond(&moved));
        Ok(
            match self
                .store
                .save_deal(&moved, &deal, Some(&history), events, audit, write)
                .await?
            {
                Created::New(()) => Created::New(moved),
                Created::Replayed(saved) => Created::Replayed(saved),
            },
        )
    }

    /// The move's plan, refused when the deal is already in the target stage or when it
    /// fails a gate with no justification to pass it.
    async fn plan_gated_move(
        &self,
        pipeline: &Pipeline,
        mv: &Move<'_>,
        at: DateTime<Utc>,
    ) -> AppResult<MovePlan> {
        let (deal, target) = (&mv.deal, mv.target);
        let approvals = self
            .move_approval_facts(&pipeline.spec, deal, target)
            .await?;
        let plan = plan_move(
            &pipeline.spec,
            Some(&deal.stage_id),
            target,
            &deal.fields,
            self.calendar.day_of(at),
            approvals,
        )
        .ok_or_else(|| {
            AppError::invalid_field("target_stage", "is not a stage of the deal's pipeline")
        })?;
        if plan.direction == Direction::None {
            return Err(AppError::FailedPrecondition {
                reason: "ALREADY_IN_STAGE",
                message: format!("{} is already in stage {target}", deal_name(deal.id)),
                violations: vec![Precondition {
                    kind: "DEAL_STAGE".into(),
                    subject: deal_name(deal.id),
                    description: format!("the deal is already in {target}"),
                }],
            });
        }
        if !plan.allowed() && mv.justification.is_none() {
            return Err(gate_failure(pipeline.id, &plan));
        }
        Ok(plan)
    }

    /// `deal` in `target` as of `at`, closed as `closing` says when the move closes it.
    fn moved_deal(
        &self,
        deal: &Deal,
        target: &str,
        closing: Option<Closing>,
        at: DateTime<Utc>,
    ) -> Deal {
        let mut moved = Deal {
            stage_id: target.to_string(),
            stage_entered_at: at,
            updated_at: at,
            version: deal.version + 1,
            ..deal.clone()
        };
        if let Some(closing) = closing {
            moved.status = match closing.outcome {
                Outcome::Won => DealStatus::Won,
                Outcome::Lost(reason) => {
                    moved.loss_reason = reason.trim().to_string();
                    DealStatus::Lost
                }
            };
            moved.closed_at = Some(at);
            // The booking date: revenue won counts in the period of this day.
            moved.fields.close_date = Some(closing.on.unwrap_or(self.calendar.day_of(at)));
            moved.fields.forecast_category = ForecastCategory::Closed;
        }
        moved
    }

    /// A given closing day must be a day the deal existed on: not after today in the org's
    /// zone, not before the day it was created.
    fn check_closing_day(&self, deal: &Deal, on: Option<NaiveDate>) -> AppResult<()> {
        let Some(on) = on else { return Ok(()) };
        let (created, today) = (self.calendar.day_of(deal.created_at), self.today());
        if on > today {
            return Err(AppError::invalid_field(
                "close_date",
                format!("{on} is after today ({today} in the org's time zone)"),
            ));
        }
        if on < created {
            return Err(AppError::invalid_field(
                "close_date",
                format!("{on} is before the deal was created ({created})"),
            ));
        }
        Ok(())
    }
}
