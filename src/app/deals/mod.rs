//! Deal use cases: visibility, creating and updating deals (leader-owned fields, reassigning),
//! stage history and the deal event stream's filter. Stage moves and closes are in [`moves`].

mod moves;

pub use moves::{Closing, MoveTerms, Outcome, Preview};

use crate::domain::Problem;
use chrono::{DateTime, Utc};

use super::error::Precondition;
use super::names::{deal_name, stage_name};
use super::ports::{
    AuditEntry, Created, DealCursor, DealEventDraft, DealEventFilter, DealEventKind,
    DealEventRecord, DealFilter, DealOrder, FieldChange, IdempotencyKey, Store,
};
use super::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::Violations;
use crate::domain::deal::{
    Access, Deal, DealDraft, DealFields, DealMask, DealStatus, HistoryDirection, StageHistoryEntry,
    access, changed_fields, check_leader_owned, merge_fields,
};
use crate::domain::deal_history::FieldHistoryEntry;
use crate::domain::directory::{Role, UserId};
use crate::domain::gates::{MovePlan, plan_move};
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::pipeline::{Pipeline, StageKind};

pub(super) fn not_found(id: DealId) -> AppError {
    AppError::NotFound {
        kind: "deal",
        name: deal_name(id),
    }
}

fn refused(refusal: crate::domain::deal::Refusal) -> AppError {
    AppError::denied(refusal.reason, refusal.message)
}

/// A requested listing.
#[derive(Debug, Clone)]
pub struct DealQuery {
    /// Filters (owners here is the caller's owner filter, visibility is added).
    pub filter: DealFilter,
    /// The field the deals are sorted by.
    pub order: DealOrder,
    /// Largest, latest or newest first.
    pub descending: bool,
}

/// A deal event about `deal` (as it is after the change) by `actor`; callers fill in the rest.
fn deal_event(deal: &Deal, kind: DealEventKind, actor: UserId) -> DealEventDraft {
    DealEventDraft {
        kind,
        deal_id: deal.id,
        pipeline_id: deal.pipeline_id,
        owner_id: deal.fields.owner_id,
        actor: Some(actor),
        from_stage: String::new(),
        to_stage: deal.stage_id.clone(),
        direction: None,
        fields: Vec::new(),
        description: String::new(),
    }
}

/// The checklist of unmet criteria as precondition violations.
fn gate_failure(pipeline_id: PipelineId, plan: &MovePlan) -> AppError {
    let violations: Vec<Precondition> = plan
        .unmet()
        .map(|check| Precondition {
            kind: "EXIT_CRITERION".into(),
            subject: stage_name(pipeline_id, &check.stage_id),
            description: check.criterion.description(),
        })
        .collect();
    AppError::FailedPrecondition {
        reason: "EXIT_CRITERIA_NOT_MET",
        message: format!(
            "{} exit criteria are not met: {}",
            violations.len(),
            violations
                .iter()
                .map(|v| v.description.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        violations,
    }
}

fn closed_deal(deal: &Deal) -> AppError {
    AppError::FailedPrecondition {
        reason: "DEAL_CLOSED",
        message: format!("{} is closed", deal_name(deal.id)),
        violations: vec![Precondition {
            kind: "DEAL_STATUS".into(),
            subject: deal_name(deal.id),
            description: "the deal is closed; closed deals do not change".into(),
        }],
    }
}

/// A new deal's checked parts.
struct NewDeal {
    /// The pipeline it goes into.
    pipeline: std::sync::Arc<Pipeline>,
    /// The open stage it starts in.
    stage_id: String,
    /// Its fields, merged from the draft.
    fields: DealFields,
    /// When it is created.
    at: DateTime<Utc>,
}

/// The stage a deal is created in: the one asked for if it is open, else the pipeline's first
/// open stage; `None`, with the violation added, when there is none to use.
fn creation_stage(
    pipeline: Option<&Pipeline>,
    stage: Option<String>,
    violations: &mut Violations,
) -> Option<String> {
    match (pipeline, stage) {
        (None, _) => {
            violations.add_as(
                Problem::UnknownReference,
                "deal.pipeline",
                "no such pipeline",
            );
            None
        }
        (Some(p), None) => p
            .spec
            .stages
            .iter()
            .find(|s| s.kind == StageKind::Open)
            .map(|s| s.stage_id.clone()),
        (Some(p), Some(stage)) => match p.spec.stage(&stage) {
            Some(s) if s.kind == StageKind::Open => Some(stage),
            Some(_) => {
                violations.extend(p.spec.closed_stage(
                    "deal.stage",
                    &stage,
                    "a deal is created in an open stage; close it with CloseDeal",
                ));
                None
            }
            None => {
                violations.extend(p.spec.not_a_stage("deal.stage", &stage));
                None
            }
        },
    }
}

/// What creating `deal` writes beside it: its first history row, audit row and event.
fn creation_records(
    deal: &Deal,
    actor: UserId,
) -> (StageHistoryEntry, Vec<AuditEntry>, Vec<DealEventDraft>) {
    let history = StageHistoryEntry::of(deal, None, HistoryDirection::Create, Some(actor), None);
    let audit = vec![AuditEntry {
        actor: Some(actor),
        action: "CreateDeal",
        resource: deal_name(deal.id),
        detail: format!("in stage {}", deal.stage_id),
        change: None,
    }];
    let events = vec![DealEventDraft {
        description: format!("created in {}", deal.stage_id),
        ..deal_event(deal, DealEventKind::Created, actor)
    }];
    (history, audit, events)
}

/// What an update of `updated` by `actor` writes beside it: an audit row per changed field, an
/// event naming them, and one more when the forecast category changed.
fn update_records(
    updated: &Deal,
    changes: &[(&'static str, String, String)],
    actor: UserId,
) -> (Vec<AuditEntry>, Vec<DealEventDraft>) {
    let audit = changes
        .iter()
        .cloned()
        .map(|(field, old, new)| AuditEntry {
            actor: Some(actor),
            action: "UpdateDeal",
            resource: deal_name(updated.id),
            detail: String::new(),
            change: Some(FieldChange {
                field: field.to_string(),
                old,
                new,
            }),
        })
        .collect();
    let mut events = Vec::new();
    if !changes.is_empty() {
        events.push(DealEventDraft {
            fields: changes.iter().map(|(f, _, _)| f.to_string()).collect(),
            description: format!(
                "updated {}",
                changes
                    .iter()
                    .map(|(f, _, _)| *f)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ..deal_event(updated, DealEventKind::Updated, actor)
        });
    }
    if let Some((_, old, new)) = changes.iter().find(|(f, _, _)| *f == "forecast_category") {
        events.push(DealEventDraft {
            fields: vec!["forecast_category".into()],
            description: format!("forecast category {old} -> {new}"),
            ..deal_event(updated, DealEventKind::CategoryChanged, actor)
        });
    }
    (audit, events)
}

impl<S: Store> App<S> {
    /// The principal's access to deals owned by `owner`.
    pub(super) async fn access_to(
        &self,
        principal: &Principal,
        owner: UserId,
    ) -> AppResult<Access> {
        let chain = match principal.role() {
            Role::Manager | Role::Leader => self.store.reporting_chain(owner).await?,
            _ => Vec::new(),
        };
        Ok(access(principal.user.id, principal.role(), owner, &chain))
    }

    /// A deal the principal may see, with their access; NOT_FOUND otherwise.
    pub(super) async fn visible_deal(
        &self,
        principal: &Principal,
        id: DealId,
    ) -> AppResult<(Deal, Access)> {
        let deal = self
            .store
            .get_deal(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        match self.access_to(principal, deal.fields.owner_id).await? {
            Access::None => Err(not_found(id)),
            access => Ok((deal, access)),
        }
    }

    /// A deal the principal may change: `leader` tells whether they are above its owner.
    async fn writable_deal(&self, principal: &Principal, id: DealId) -> AppResult<(Deal, bool)> {
        match self.visible_deal(principal, id).await? {
            (deal, Access::Write { leader }) => Ok((deal, leader)),
            _ => Err(AppError::denied(
                "READ_ONLY_ROLE",
                format!(
                    "a {} reads deals but does not change them",
                    principal.role().as_str()
                ),
            )),
        }
    }

    pub(super) async fn pipeline_of(&self, id: PipelineId) -> AppResult<std::sync::Arc<Pipeline>> {
        self.store
            .get_pipeline(id)
            .await?
            .ok_or_else(|| AppError::Storage(format!("pipeline {id} of a deal is missing")))
    }

    /// Creates a deal in `stage` (first open stage if `None`), gated by every stage before it.
    pub async fn create_deal(
        &self,
        principal: &Principal,
        pipeline_id: PipelineId,
        stage: Option<String>,
        draft: DealDraft,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Deal) -> Vec<u8>,
    ) -> AppResult<Created<Deal>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let leader = self.may_create_for(principal, draft.owner_id).await?;
        let NewDeal {
            pipeline,
            stage_id,
            fields,
            at,
        } = self
            .check_new_deal(principal, pipeline_id, stage, draft)
            .await?;
        check_leader_owned(None, &fields, leader).map_err(refused)?;
        let plan = plan_move(
            &pipeline.spec,
            None,
            &stage_id,
            &fields,
            self.calendar.day_of(at),
            self.approval_facts(None, pipeline.spec.segment, fields.discount_bps)
                .await?,
        )
        .ok_or_else(|| AppError::Storage("planned stage vanished".into()))?;
        if !plan.allowed() {
            return Err(gate_failure(pipeline.id, &plan));
        }
        let deal = Deal {
            id: DealId(self.ids.id()),
            pipeline_id: pipeline.id,
            stage_id,
            status: DealStatus::Open,
            loss_reason: String::new(),
            fields,
            created_at: at,
            updated_at: at,
            stage_entered_at: at,
            closed_at: None,
            version: 1,
        };
        let (history, audit, events) = creation_records(&deal, principal.user.id);
        let write = idempotent_write(key, || respond(&deal));
        Ok(
            match self
                .store
                .insert_deal(&deal, &history, events, audit, write)
                .await?
            {
                Created::New(()) => Created::New(deal),
                Created::Replayed(saved) => Created::Replayed(saved),
            },
        )
    }

    /// Whether the principal may create deals for `owner`: `Ok(leader)`, telling whether they
    /// are above the owner.
    async fn may_create_for(&self, principal: &Principal, owner: UserId) -> AppResult<bool> {
        match self.access_to(principal, owner).await? {
            Access::Write { leader } => Ok(leader),
            Access::Read => Err(AppError::denied(
                "READ_ONLY_ROLE",
                format!("a {} does not create deals", principal.role().as_str()),
            )),
            Access::None => Err(AppError::denied(
                "OWNER_NOT_ALLOWED",
                "you may create deals only for yourself or people below you",
            )),
        }
    }

    /// The new deal's pipeline, stage and fields, every problem with them found at once.
    async fn check_new_deal(
        &self,
        principal: &Principal,
        pipeline_id: PipelineId,
        stage: Option<String>,
        draft: DealDraft,
    ) -> AppResult<NewDeal> {
        let mut violations = Violations::new();
        match self.store.get_user(draft.owner_id).await? {
            Some(user) if user.profile.active => {}
            _ => violations.add_as(
                Problem::UnknownReference,
                "deal.owner",
                "must be an active user",
            ),
        }
        let pipeline = self.store.get_pipeline(pipeline_id).await?;
        let stage_id = creation_stage(pipeline.as_deref(), stage, &mut violations);
        let at = self.now();
        let today = self.calendar.day_of(at);
        let fields = merge_fields(
            None,
            draft,
            DealMask::all(),
            today,
            Some(principal.user.id),
            at,
        )
        .map_err(|v| violations.extend(v.prefixed("deal")))
        .ok();
        let (Some(pipeline), Some(stage_id), Some(fields), true) =
            (pipeline, stage_id, fields, violations.is_empty())
        else {
            return Err(AppError::invalid(violations));
        };
        Ok(NewDeal {
            pipeline,
            stage_id,
            fields,
            at,
        })
    }

    /// One deal the principal may see.
    pub async fn get_deal(&self, principal: &Principal, id: DealId) -> AppResult<Deal> {
        Ok(self.visible_deal(principal, id).await?.0)
    }

    /// A page of the deals the principal may see.
    pub async fn list_deals(
        &self,
        principal: &Principal,
        mut query: DealQuery,
        after: Option<&DealCursor>,
        limit: u64,
    ) -> AppResult<Vec<Deal>> {
        let visible = match principal.role() {
            Role::Rep => Some(vec![principal.user.id]),
            Role::Manager | Role::Leader => Some(self.store.subtree(principal.user.id).await?),
            Role::DealDesk | Role::Finance | Role::Legal | Role::Admin => None,
        };
        query.filter.owners = match (visible, query.filter.owners.take()) {
            (None, wanted) => wanted,
            (Some(visible), None) => Some(visible),
            (Some(visible), Some(wanted)) => {
                Some(wanted.into_iter().filter(|o| visible.contains(o)).collect())
            }
        };
        self.store
            .list_deals(&query.filter, query.order, query.descending, after, limit)
            .await
    }

    /// Changes the masked fields of an open deal.
    pub async fn update_deal(
        &self,
        principal: &Principal,
        id: DealId,
        draft: DealDraft,
        mask: DealMask,
        etag: Option<i64>,
    ) -> AppResult<Deal> {
        let (current, leader) = self.writable_deal(principal, id).await?;
        if etag.is_some_and(|v| v != current.version) {
            return Err(AppError::StaleEtag {
                kind: "deal",
                name: deal_name(id),
            });
        }
        if current.status != DealStatus::Open {
            return Err(closed_deal(&current));
        }
        let at = self.now();
        let fields = merge_fields(
            Some(&current.fields),
            draft,
            mask,
            self.calendar.day_of(at),
            Some(principal.user.id),
            at,
        )
        .map_err(|v| AppError::invalid(v.prefixed("deal")))?;
        if fields.owner_id != current.fields.owner_id {
            self.check_reassignment(principal, leader, fields.owner_id)
                .await?;
        }
        check_leader_owned(Some(&current.fields), &fields, leader).map_err(refused)?;
        let changes = changed_fields(&current.fields, &fields);
        let updated = Deal {
            fields,
            updated_at: at,
            version: current.version + 1,
            ..current.clone()
        };
        let (audit, events) = update_records(&updated, &changes, principal.user.id);
        self.store
            .save_deal(&updated, &current, None, events, audit, None)
            .await?;
        Ok(updated)
    }

    /// Refuses giving a deal to `new_owner` unless the principal leads its owner (or is an
    /// admin), and the new owner is active and someone they may give deals to.
    async fn check_reassignment(
        &self,
        principal: &Principal,
        leader: bool,
        new_owner: UserId,
    ) -> AppResult<()> {
        let may_reassign = leader || principal.role() == Role::Admin;
        if !may_reassign {
            return Err(AppError::denied(
                "REASSIGN_REQUIRES_MANAGER",
                "only a manager or leader above the owner (or an admin) reassigns a deal",
            ));
        }
        match self.store.get_user(new_owner).await? {
            Some(user) if user.profile.active => {}
            _ => {
                return Err(AppError::invalid_field(
                    Problem::UnknownReference,
                    "deal.owner",
                    "must be an active user",
                ));
            }
        }
        if !matches!(
            self.access_to(principal, new_owner).await?,
            Access::Write { .. }
        ) {
            return Err(AppError::denied(
                "OWNER_NOT_ALLOWED",
                "the new owner must be you or someone below you",
            ));
        }
        Ok(())
    }

    /// A page of a visible deal's field history, after the change at (time, sequence) `after`.
    pub async fn field_history(
        &self,
        principal: &Principal,
        id: DealId,
        after: Option<(chrono::DateTime<chrono::Utc>, i64)>,
        limit: u64,
    ) -> AppResult<Vec<FieldHistoryEntry>> {
        self.visible_deal(principal, id).await?;
        self.store.list_field_history(id, after, limit).await
    }

    /// A page of a visible deal's stage history.
    pub async fn stage_history(
        &self,
        principal: &Principal,
        id: DealId,
        after: Option<i64>,
        limit: u64,
    ) -> AppResult<Vec<StageHistoryEntry>> {
        self.visible_deal(principal, id).await?;
        self.store.list_stage_history(id, after, limit).await
    }

    /// The filter of a deal event stream, narrowed to what the principal may see: a deal they
    /// see, an owner subtree they see (a rep: themself), a pipeline; without an owner, a rep
    /// gets their own deals and a manager or leader their subtree.
    pub async fn deal_event_filter(
        &self,
        principal: &Principal,
        pipeline: Option<PipelineId>,
        owner: Option<UserId>,
        deal: Option<DealId>,
    ) -> AppResult<DealEventFilter> {
        if let Some(deal) = deal {
            self.visible_deal(principal, deal).await?;
        }
        if let Some(pipeline) = pipeline {
            self.get_pipeline(principal, pipeline).await?;
        }
        let me = principal.user.id;
        let owners = match (principal.role(), owner) {
            (Role::Rep, Some(owner)) if owner != me => {
                return Err(AppError::denied(
                    "SCOPE_NOT_VISIBLE",
                    "a rep follows only their own deals",
                ));
            }
            (Role::Rep, _) => Some(vec![me]),
            (Role::Manager | Role::Leader, owner) => {
                let root = owner.unwrap_or(me);
                if root != me && !self.store.reporting_chain(root).await?.contains(&me) {
                    return Err(AppError::denied(
                        "SCOPE_NOT_VISIBLE",
                        "managers and leaders follow the deals of their own subtree",
                    ));
                }
                Some(self.store.subtree(root).await?)
            }
            (_, Some(owner)) => Some(self.store.subtree(owner).await?),
            (_, None) => None,
        };
        Ok(DealEventFilter {
            pipeline,
            owners,
            deal,
        })
    }

    /// Deal events after `after` matching a filter from [`Self::deal_event_filter`].
    pub async fn deal_events(
        &self,
        after: i64,
        filter: &DealEventFilter,
        limit: u64,
    ) -> AppResult<Vec<DealEventRecord>> {
        self.store.deal_events(after, filter, limit).await
    }
}
