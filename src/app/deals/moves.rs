//! Stage moves and closes: preview a move, advance a deal to another open stage (gated
//! forward, free backward, overridable by a manager with a justification) or close it won or
//! lost, each idempotent on its request id.

use chrono::NaiveDate;
use uuid::Uuid;

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
use crate::domain::gates::{ApprovalFacts, Direction, MovePlan, move_needs_approvals, plan_move};
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
    pub pipeline_id: Uuid,
    /// The plan.
    pub plan: MovePlan,
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
        id: Uuid,
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
    #[allow(clippy::too_many_arguments)]
    async fn advance_stage_once(
        &self,
        principal: &Principal,
        id: Uuid,
        target: &str,
        etag: Option<i64>,
        justification: &str,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let justification = check_justification(justification)?;
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
        self.move_deal(
            principal,
            deal,
            &pipeline,
            target,
            etag,
            justification,
            leader,
            None,
            key,
            respond,
        )
        .await
    }

    /// One attempt at [`App::close_deal`].
    #[allow(clippy::too_many_arguments)]
    async fn close_deal_once(
        &self,
        principal: &Principal,
        id: Uuid,
        closing: Closing,
        etag: Option<i64>,
        justification: &str,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let justification = check_justification(justification)?;
        if let Outcome::Lost(reason) = &closing.outcome {
            let mut violations = Violations::new();
            crate::domain::check_text(&mut violations, "loss_reason", reason, 500, true);
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
        self.move_deal(
            principal,
            deal,
            &pipeline,
            &target,
            etag,
            justification,
            leader,
            Some(closing),
            key,
            respond,
        )
        .await
    }

    /// Moves an open deal to another open stage, gated forward, free backward. Idempotent on
    /// the key, also against concurrent retries of itself.
    #[allow(clippy::too_many_arguments)]
    pub async fn advance_stage(
        &self,
        principal: &Principal,
        id: Uuid,
        target: &str,
        etag: Option<i64>,
        justification: &str,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        let retry = key.clone();
        let result = self
            .advance_stage_once(principal, id, target, etag, justification, key, respond)
            .await;
        self.or_replayed(result, retry.as_ref()).await
    }

    /// Closes an open deal: won is gated like a move to the won stage; lost needs a reason.
    /// Idempotent on the key, also against concurrent retries of itself.
    #[allow(clippy::too_many_arguments)]
    pub async fn close_deal(
        &self,
        principal: &Principal,
        id: Uuid,
        closing: Closing,
        etag: Option<i64>,
        justification: &str,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        let retry = key.clone();
        let result = self
            .close_deal_once(principal, id, closing, etag, justification, key, respond)
            .await;
        self.or_replayed(result, retry.as_ref()).await
    }

    /// The shared path of advance and close: plan, gate, override, record.
    #[allow(clippy::too_many_arguments)]
    async fn move_deal(
        &self,
        principal: &Principal,
        deal: Deal,
        pipeline: &Pipeline,
        target: &str,
        etag: Option<i64>,
        justification: Option<String>,
        leader: bool,
        closing: Option<Closing>,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        if etag.is_some_and(|v| v != deal.version) {
            return Err(AppError::StaleEtag {
                kind: "deal",
                name: deal_name(deal.id),
            });
        }
        if deal.status != DealStatus::Open {
            return Err(closed_deal(&deal));
        }
        if justification.is_some() && !leader {
            return Err(AppError::denied(
                "OVERRIDE_REQUIRES_MANAGER",
                "only a manager or leader above the owner may override exit criteria",
            ));
        }
        let at = self.now();
        let approvals = self
            .move_approval_facts(&pipeline.spec, &deal, target)
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
        let overridden = !plan.allowed();
        if overridden && justification.is_none() {
            return Err(gate_failure(pipeline.id, &plan));
        }
        let direction = match (&closing, plan.direction) {
            (Some(_), _) => HistoryDirection::Close,
            (None, Direction::Backward) => HistoryDirection::Backward,
            (None, _) => HistoryDirection::Forward,
        };
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
        let justification = justification.filter(|_| overridden);
        let history = StageHistoryEntry::of(
            &moved,
            Some(deal.stage_id.clone()),
            direction,
            Some(principal.user.id),
            justification.clone(),
        );
        let audit = vec![AuditEntry {
            actor: Some(principal.user.id),
            action: if moved.status == DealStatus::Open {
                "AdvanceDealStage"
            } else {
                "CloseDeal"
            },
            resource: deal_name(deal.id),
            detail: justification
                .as_ref()
                .map(|j| format!("override: {j}"))
                .unwrap_or_default(),
            change: Some(FieldChange {
                field: "stage".into(),
                old: deal.stage_id.clone(),
                new: moved.stage_id.clone(),
            }),
        }];
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
                &moved,
                if moved.status == DealStatus::Open {
                    DealEventKind::StageMoved
                } else {
                    DealEventKind::Closed
                },
                principal.user.id,
            )
        }];
        if let Some(justification) = &justification {
            events.push(DealEventDraft {
                from_stage: deal.stage_id.clone(),
                direction: Some(direction),
                description: format!(
                    "moved past {} unmet exit criteria: {justification}",
                    plan.unmet().count()
                ),
                ..deal_event(&moved, DealEventKind::GateOverridden, principal.user.id)
            });
        }
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
