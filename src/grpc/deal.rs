//! DealService: deals, gated stage moves and stage history.

use tonic::{Request, Response, Status};
use tracing::instrument;

use super::convert::{
    add_unknown_enum, criterion_to, enum_names, mask_paths, parse_etag, parse_name,
    parse_optional_user,
};
use super::request_limits::DEAL_UPDATABLE;
use super::{Paging, authenticate, created, idempotency_key, invalid};
use crate::app::App;
use crate::app::deals::{Closing, DealQuery, MoveTerms, Outcome};
use crate::app::names::{ResourceId, stage_name};
use crate::app::ports::{DealEventRecord, DealFilter, DealOrder, Store, Topic};
use crate::app::roles::require_deal_writer;
use crate::domain::deal::{DealMask, DealStatus};
use crate::domain::directory::UserId;
use crate::domain::gates::{self, Check, Direction};
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::{Problem, Violations};
use crate::proto::{self as pb, deal_service_server::DealService};

mod convert;

pub use convert::deal_to_wire;
use convert::{
    category_from, cursor_key, deal_event_to, deal_id, draft_from, field_change_to,
    field_history_after, field_history_key, history_to_wire, parse_cursor, parse_order,
};
pub(super) use convert::{category_to, date_from, date_to, lead_source_from, lead_source_to};

/// The DealService adapter.
#[derive(Debug, Clone)]
pub struct DealApi<S> {
    app: App<S>,
    /// Turns true when the server stops: open event streams end so shutdown can drain.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl<S> DealApi<S> {
    /// The adapter over `app`; event streams end when `stopping` turns true.
    pub fn new(app: App<S>, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { app, stopping }
    }
}

#[tonic::async_trait]
impl<S: Store> DealService for DealApi<S> {
    #[instrument(skip_all)]
    async fn create_deal(
        &self,
        request: Request<pb::CreateDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_deal_writer(&principal)?;
        let req = request.into_inner();
        let wire = req
            .deal
            .as_ref()
            .ok_or_else(|| invalid(Violations::required("deal")))?;
        let mut v = Violations::new();
        let draft = draft_from(wire, principal.user.id, &mut v);
        let pipeline = parse_name::<PipelineId>("pipeline", &wire.pipeline)
            .map_err(|e| v.extend(e))
            .ok();
        let key = idempotency_key(Some(principal.user.id), "CreateDeal", &req.request_id, &req)?;
        let (Some(pipeline), true) = (pipeline, v.is_empty()) else {
            return Err(invalid(v.prefixed("deal")));
        };
        let stage = Some(wire.stage.clone()).filter(|s| !s.is_empty());
        let result = self
            .app
            .create_deal(&principal, pipeline, stage, draft, key, |d| {
                prost::Message::encode_to_vec(&deal_to_wire(d))
            })
            .await?;
        Ok(Response::new(created(result, deal_to_wire)?))
    }

    #[instrument(skip_all)]
    async fn get_deal(
        &self,
        request: Request<pb::GetDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let id = deal_id("name", &request.get_ref().name)?;
        Ok(Response::new(deal_to_wire(
            &self.app.get_deal(&principal, id).await?,
        )))
    }

    #[instrument(skip_all)]
    async fn list_deals(
        &self,
        request: Request<pb::ListDealsRequest>,
    ) -> Result<Response<pb::ListDealsResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let query = deal_query(&req)?;
        let (order, descending) = (query.order, query.descending);
        let fingerprint = format!(
            "{:?}",
            (
                &req.owner,
                &req.pipeline,
                &req.stage,
                req.forecast_category,
                req.status,
                req.min_close_date,
                req.max_close_date,
                &req.query,
                &req.order_by
            )
        );
        let paging = Paging::parse(req.page_size, &req.page_token, &["ListDeals", &fingerprint])?;
        let cursor = match paging.after.as_deref() {
            None => None,
            Some(key) => Some(
                parse_cursor(key)
                    .ok_or_else(|| invalid(crate::domain::paging::not_a_page_token()))?,
            ),
        };
        let deals = self
            .app
            .list_deals(&principal, query, cursor.as_ref(), paging.limit)
            .await?;
        let next_page_token = paging.next_token(
            deals.len(),
            deals.last().map(|d| cursor_key(d, order, descending)),
        );
        Ok(Response::new(pb::ListDealsResponse {
            deals: deals.iter().map(deal_to_wire).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn update_deal(
        &self,
        request: Request<pb::UpdateDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_deal_writer(&principal)?;
        let req = request.into_inner();
        let wire = req
            .deal
            .as_ref()
            .ok_or_else(|| invalid(Violations::required("deal")))?;
        let mut v = Violations::new();
        let id = parse_name::<DealId>("deal.name", &wire.name)
            .map_err(|e| v.extend(e))
            .ok();
        let etag = parse_etag("deal.etag", &wire.etag)
            .map_err(|e| v.extend(e))
            .ok()
            .flatten();
        let paths = mask_paths(req.update_mask.as_ref(), &DEAL_UPDATABLE)
            .map_err(|e| v.extend(e))
            .unwrap_or_default();
        let mut draft_violations = Violations::new();
        let draft = draft_from(wire, principal.user.id, &mut draft_violations);
        v.extend(draft_violations.prefixed("deal"));
        let (Some(id), true) = (id, v.is_empty()) else {
            return Err(invalid(v));
        };
        let has = |p: &str| paths.contains(&p);
        let mask = DealMask {
            display_name: has("display_name"),
            account: has("account"),
            owner: has("owner"),
            amount: has("amount"),
            close_date: has("close_date"),
            lead_source: has("lead_source"),
            next_step: has("next_step"),
            next_step_date: has("next_step_date"),
            bant: has("bant"),
            confirmed_budget: has("confirmed_budget"),
            discount_bps: has("discount_bps"),
            forecast_category: has("forecast_category"),
            contacts: has("contacts"),
            qualification: has("qualification"),
        };
        let mut draft = draft;
        if mask.owner && wire.owner.is_empty() {
            return Err(invalid(Violations::one_as(
                Problem::MissingField,
                "deal.owner",
                "must name the new owner",
            )));
        }
        if !mask.owner {
            draft.owner_id = principal.user.id;
        }
        let updated = self
            .app
            .update_deal(&principal, id, draft, mask, etag)
            .await?;
        Ok(Response::new(deal_to_wire(&updated)))
    }

    #[instrument(skip_all)]
    async fn advance_deal_stage(
        &self,
        request: Request<pb::AdvanceDealStageRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_deal_writer(&principal)?;
        let req = request.into_inner();
        let id = deal_id("name", &req.name)?;
        if req.target_stage.is_empty() {
            return Err(invalid(Violations::required("target_stage")));
        }
        let etag = parse_etag("etag", &req.etag).map_err(invalid)?;
        let key = idempotency_key(
            Some(principal.user.id),
            "AdvanceDealStage",
            &req.request_id,
            &req,
        )?;
        let result = self
            .app
            .advance_stage(
                &principal,
                id,
                &req.target_stage,
                MoveTerms {
                    etag,
                    justification: &req.override_justification,
                },
                key,
                |d| prost::Message::encode_to_vec(&deal_to_wire(d)),
            )
            .await?;
        Ok(Response::new(created(result, deal_to_wire)?))
    }

    #[instrument(skip_all)]
    async fn preview_deal_stage(
        &self,
        request: Request<pb::PreviewDealStageRequest>,
    ) -> Result<Response<pb::PreviewDealStageResponse>, Status> {
        use pb::preview_deal_stage_response::{Direction as D, Verdict};
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let id = deal_id("name", &req.name)?;
        if req.target_stage.is_empty() {
            return Err(invalid(Violations::required("target_stage")));
        }
        let preview = self
            .app
            .preview_stage(&principal, id, &req.target_stage)
            .await?;
        let check_to = |c: &Check| pb::CriterionCheck {
            stage: stage_name(preview.pipeline_id, &c.stage_id),
            criterion: Some(criterion_to(&c.criterion)),
            met: c.met,
        };
        let plan = &preview.plan;
        Ok(Response::new(pb::PreviewDealStageResponse {
            direction: match plan.direction {
                Direction::Forward => D::Forward,
                Direction::Backward => D::Backward,
                Direction::None => D::None,
            }
            .into(),
            allowed: plan.allowed(),
            checks: plan.checks.iter().map(check_to).collect(),
            unmet_checks: plan.unmet().map(check_to).collect(),
            verdict: match plan.verdict() {
                gates::Verdict::Passes => Verdict::Passes,
                gates::Verdict::Blocked => Verdict::Blocked,
                gates::Verdict::AlreadyInStage => Verdict::AlreadyInStage,
            }
            .into(),
        }))
    }

    #[instrument(skip_all)]
    async fn close_deal(
        &self,
        request: Request<pb::CloseDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_deal_writer(&principal)?;
        let req = request.into_inner();
        let id = deal_id("name", &req.name)?;
        let etag = parse_etag("etag", &req.etag).map_err(invalid)?;
        let outcome = match pb::close_deal_request::Outcome::try_from(req.outcome) {
            Ok(pb::close_deal_request::Outcome::Won) if !req.loss_reason.is_empty() => {
                return Err(invalid(Violations::one_as(
                    Problem::ConflictingFields,
                    "loss_reason",
                    "is only for deals closed lost",
                )));
            }
            Ok(pb::close_deal_request::Outcome::Won) => Outcome::Won,
            Ok(pb::close_deal_request::Outcome::Lost) => Outcome::Lost(req.loss_reason.clone()),
            _ => {
                return Err(invalid(Violations::one_as(
                    Problem::UnknownValue,
                    "outcome",
                    "must be WON or LOST",
                )));
            }
        };
        let mut violations = Violations::new();
        let on = date_from("close_date", req.close_date.as_ref(), &mut violations);
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let closing = Closing { outcome, on };
        let key = idempotency_key(Some(principal.user.id), "CloseDeal", &req.request_id, &req)?;
        let result = self
            .app
            .close_deal(
                &principal,
                id,
                closing,
                MoveTerms {
                    etag,
                    justification: &req.override_justification,
                },
                key,
                |d| prost::Message::encode_to_vec(&deal_to_wire(d)),
            )
            .await?;
        Ok(Response::new(created(result, deal_to_wire)?))
    }

    #[instrument(skip_all)]
    async fn list_deal_stage_history(
        &self,
        request: Request<pb::ListDealStageHistoryRequest>,
    ) -> Result<Response<pb::ListDealStageHistoryResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let id = deal_id("parent", &req.parent)?;
        let paging = Paging::parse(
            req.page_size,
            &req.page_token,
            &["ListDealStageHistory", &req.parent],
        )?;
        let after = paging.after_number()?;
        let entries = self
            .app
            .stage_history(&principal, id, after, paging.limit)
            .await?;
        let next_page_token = paging.next_token(
            entries.len(),
            entries.last().map(|e| e.sequence.to_string()),
        );
        Ok(Response::new(pb::ListDealStageHistoryResponse {
            entries: entries.iter().map(history_to_wire).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn list_deal_field_history(
        &self,
        request: Request<pb::ListDealFieldHistoryRequest>,
    ) -> Result<Response<pb::ListDealFieldHistoryResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let id = deal_id("parent", &req.parent)?;
        let paging = Paging::parse(
            req.page_size,
            &req.page_token,
            &["ListDealFieldHistory", &req.parent],
        )?;
        let after = field_history_after(paging.after.as_deref())?;
        let changes = self
            .app
            .field_history(&principal, id, after, paging.limit)
            .await?;
        let next_page_token =
            paging.next_token(changes.len(), changes.last().map(field_history_key));
        Ok(Response::new(pb::ListDealFieldHistoryResponse {
            changes: changes.iter().map(field_change_to).collect(),
            next_page_token,
        }))
    }

    type WatchDealEventsStream =
        tokio_stream::wrappers::ReceiverStream<Result<pb::DealEvent, Status>>;

    #[instrument(skip_all)]
    async fn watch_deal_events(
        &self,
        request: Request<pb::WatchDealEventsRequest>,
    ) -> Result<Response<Self::WatchDealEventsStream>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let secret = super::bearer(request.metadata())?.map(str::to_owned);
        let req = request.into_inner();
        let mut v = Violations::new();
        if req.after_sequence < 0 {
            v.add_as(
                Problem::NumberOutOfRange,
                "after_sequence",
                "must not be negative",
            );
        }
        fn optional<I: ResourceId>(field: &str, name: &str, v: &mut Violations) -> Option<I> {
            if name.is_empty() {
                None
            } else {
                parse_name(field, name).map_err(|e| v.extend(e)).ok()
            }
        }
        let pipeline = optional::<PipelineId>("pipeline", &req.pipeline, &mut v);
        let owner = optional::<UserId>("owner_subtree", &req.owner_subtree, &mut v);
        let deal = optional::<DealId>("deal", &req.deal, &mut v);
        if !v.is_empty() {
            return Err(invalid(v));
        }
        // Checked now, so that a refused stream fails at once rather than on its first read.
        self.app
            .deal_event_filter(&principal, pipeline, owner, deal)
            .await?;
        let slot = self.app.open_stream(&principal)?;
        let wake = super::Wakeups::of(&self.app, Topic::DealEvents, &self.stopping);
        let app = self.app.clone();
        let read = move |after, events: bool| {
            let (app, secret) = (app.clone(), secret.clone());
            async move {
                // Who the caller is and what they see is read again before news is sent and
                // when the directory changes: a revoked token, a deactivated user, a new role
                // or a new place in the tree applies to the streams already open.
                let principal = app.authenticate(secret.as_deref()).await?;
                let filter = app
                    .deal_event_filter(&principal, pipeline, owner, deal)
                    .await?;
                if !events {
                    return Ok(Vec::new());
                }
                app.deal_events(after, &filter, super::EVENT_BATCH).await
            }
        };
        Ok(Response::new(super::follow(
            req.after_sequence,
            wake,
            slot,
            read,
            |e: &DealEventRecord| e.seq,
            deal_event_to,
        )))
    }
}

/// The filter and order of a ListDeals request, every bad field reported at once.
fn deal_query(req: &pb::ListDealsRequest) -> Result<DealQuery, Status> {
    let mut v = Violations::new();
    let owner = parse_optional_user("owner", &req.owner)
        .map_err(|e| v.extend(e))
        .ok()
        .flatten();
    let pipeline = if req.pipeline.is_empty() {
        None
    } else {
        parse_name::<PipelineId>("pipeline", &req.pipeline)
            .map_err(|e| v.extend(e))
            .ok()
    };
    if !req.stage.is_empty() && req.pipeline.is_empty() {
        v.add_as(
            Problem::ConflictingFields,
            "stage",
            "filtering by stage needs a pipeline",
        );
    }
    let category = match req.forecast_category {
        0 => None,
        value => category_from(value).or_else(|| {
            add_unknown_enum(
                &mut v,
                "forecast_category",
                value,
                "forecast category",
                &enum_names(|e: pb::ForecastCategory| e.as_str_name()),
            );
            None
        }),
    };
    let status = match pb::deal::Status::try_from(req.status) {
        Ok(pb::deal::Status::Unspecified) => None,
        Ok(pb::deal::Status::Open) => Some(DealStatus::Open),
        Ok(pb::deal::Status::Won) => Some(DealStatus::Won),
        Ok(pb::deal::Status::Lost) => Some(DealStatus::Lost),
        Err(_) => {
            add_unknown_enum(
                &mut v,
                "status",
                req.status,
                "deal status",
                &enum_names(|e: pb::deal::Status| e.as_str_name()),
            );
            None
        }
    };
    let close_from = date_from("min_close_date", req.min_close_date.as_ref(), &mut v);
    let close_to = date_from("max_close_date", req.max_close_date.as_ref(), &mut v);
    if req.query.chars().count() > 200 {
        v.add_as(
            Problem::TextTooLong,
            "query",
            format!(
                "must be at most 200 characters, got {}",
                req.query.chars().count()
            ),
        );
    }
    let (order, descending) = parse_order(&req.order_by)
        .map_err(|e| v.extend(e))
        .unwrap_or((DealOrder::CreateTime, false));
    if !v.is_empty() {
        return Err(invalid(v));
    }
    Ok(DealQuery {
        filter: DealFilter {
            owners: owner.map(|o| vec![o]),
            pipeline,
            stage: Some(req.stage.clone()).filter(|s| !s.is_empty()),
            category,
            status,
            close_from,
            close_to,
            query: Some(req.query.trim().to_lowercase()).filter(|q| !q.is_empty()),
        },
        order,
        descending,
    })
}
