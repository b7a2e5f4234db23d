//! DealService: deals, gated stage moves and stage history.

use chrono::{DateTime, NaiveDate};
use tonic::{Request, Response, Status};
use tracing::instrument;
use uuid::Uuid;

use super::convert::{
    buying_role_from, buying_role_to, criterion_to, element_from, element_to, etag, mask_paths,
    parse_etag, parse_name, parse_optional_user, status_from, status_to, timestamp,
};
use super::request_limits::{CONTACTS, DEAL_UPDATABLE, QUALIFICATION};
use super::{Paging, authenticate, created, idempotency_key, invalid};
use crate::app::App;
use crate::app::deals::{Closing, DealQuery, MoveTerms, Outcome};
use crate::app::ports::{
    DealCursor, DealEventKind, DealEventRecord, DealFilter, DealOrder, Store, Topic,
};
use crate::app::roles::require_deal_writer;
use crate::domain::Violations;
use crate::domain::deal::{
    Bant, ContactDraft, Deal, DealDraft, DealMask, DealStatus, ForecastCategory, HistoryDirection,
    LeadSource, QualificationDraft, StageHistoryEntry,
};
use crate::domain::deal_history::{FieldHistoryEntry, FieldValue, TrackedField};
use crate::domain::directory::UserId;
use crate::domain::gates::Direction;
use crate::domain::money::Money;
use crate::proto::{self as pb, deal_service_server::DealService};

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

fn direction_to(d: HistoryDirection) -> pb::stage_history_entry::Direction {
    use pb::stage_history_entry::Direction as D;
    match d {
        HistoryDirection::Create => D::Create,
        HistoryDirection::Forward => D::Forward,
        HistoryDirection::Backward => D::Backward,
        HistoryDirection::Close => D::Close,
    }
}

fn deal_event_to(r: &DealEventRecord) -> pb::DealEvent {
    use pb::deal_event::Kind;
    let e = &r.event;
    pb::DealEvent {
        sequence: r.seq,
        kind: match e.kind {
            DealEventKind::Created => Kind::Created,
            DealEventKind::Updated => Kind::Updated,
            DealEventKind::StageMoved => Kind::StageMoved,
            DealEventKind::CategoryChanged => Kind::CategoryChanged,
            DealEventKind::Closed => Kind::Closed,
            DealEventKind::GateOverridden => Kind::GateOverridden,
        }
        .into(),
        deal: format!("deals/{}", e.deal_id),
        pipeline: format!("pipelines/{}", e.pipeline_id),
        owner: format!("users/{}", e.owner_id.0),
        actor: e
            .actor
            .map(|a| format!("users/{}", a.0))
            .unwrap_or_default(),
        from_stage: e.from_stage.clone(),
        to_stage: e.to_stage.clone(),
        direction: e
            .direction
            .map(direction_to)
            .unwrap_or(pb::stage_history_entry::Direction::Unspecified)
            .into(),
        fields: e.fields.clone(),
        description: e.description.clone(),
        create_time: Some(super::convert::timestamp(r.created_at)),
    }
}

pub(crate) fn date_to(d: NaiveDate) -> crate::proto::google::r#type::Date {
    use chrono::Datelike;
    crate::proto::google::r#type::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// A full calendar date from the wire; unset means none.
pub(crate) fn date_from(
    field: &str,
    d: Option<&crate::proto::google::r#type::Date>,
    v: &mut Violations,
) -> Option<NaiveDate> {
    let d = d?;
    let date = u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .filter(|_| (1..=9999).contains(&d.year));
    if date.is_none() {
        v.add(
            field,
            "must be a full calendar date (year 1-9999, month and day)",
        );
    }
    date
}

fn money_to(m: Money) -> pb::Money {
    pb::Money {
        currency_code: m.currency.code().to_string(),
        amount_minor: m.minor,
    }
}

pub(crate) fn lead_source_from(value: i32) -> Option<LeadSource> {
    Some(match pb::LeadSource::try_from(value).ok()? {
        pb::LeadSource::Unspecified => return None,
        pb::LeadSource::Inbound => LeadSource::Inbound,
        pb::LeadSource::Outbound => LeadSource::Outbound,
        pb::LeadSource::Referral => LeadSource::Referral,
        pb::LeadSource::Partner => LeadSource::Partner,
        pb::LeadSource::Event => LeadSource::Event,
        pb::LeadSource::Expansion => LeadSource::Expansion,
    })
}

pub(crate) fn lead_source_to(s: LeadSource) -> pb::LeadSource {
    match s {
        LeadSource::Inbound => pb::LeadSource::Inbound,
        LeadSource::Outbound => pb::LeadSource::Outbound,
        LeadSource::Referral => pb::LeadSource::Referral,
        LeadSource::Partner => pb::LeadSource::Partner,
        LeadSource::Event => pb::LeadSource::Event,
        LeadSource::Expansion => pb::LeadSource::Expansion,
    }
}

fn category_from(value: i32) -> Option<ForecastCategory> {
    Some(match pb::ForecastCategory::try_from(value).ok()? {
        pb::ForecastCategory::Unspecified => return None,
        pb::ForecastCategory::Pipeline => ForecastCategory::Pipeline,
        pb::ForecastCategory::BestCase => ForecastCategory::BestCase,
        pb::ForecastCategory::Commit => ForecastCategory::Commit,
        pb::ForecastCategory::Omitted => ForecastCategory::Omitted,
        pb::ForecastCategory::Closed => ForecastCategory::Closed,
    })
}

pub(crate) fn category_to(c: ForecastCategory) -> pb::ForecastCategory {
    match c {
        ForecastCategory::Pipeline => pb::ForecastCategory::Pipeline,
        ForecastCategory::BestCase => pb::ForecastCategory::BestCase,
        ForecastCategory::Commit => pb::ForecastCategory::Commit,
        ForecastCategory::Omitted => pb::ForecastCategory::Omitted,
        ForecastCategory::Closed => pb::ForecastCategory::Closed,
    }
}

fn status_of(s: DealStatus) -> pb::deal::Status {
    match s {
        DealStatus::Open => pb::deal::Status::Open,
        DealStatus::Won => pb::deal::Status::Won,
        DealStatus::Lost => pb::deal::Status::Lost,
    }
}

/// A deal on the wire.
pub fn deal_to_wire(d: &Deal) -> pb::Deal {
    let f = &d.fields;
    pb::Deal {
        name: format!("deals/{}", d.id),
        display_name: f.display_name.clone(),
        account: f.account.clone(),
        owner: format!("users/{}", f.owner_id.0),
        pipeline: format!("pipelines/{}", d.pipeline_id),
        stage: d.stage_id.clone(),
        amount: f.amount.map(money_to),
        close_date: f.close_date.map(date_to),
        lead_source: f
            .lead_source
            .map(lead_source_to)
            .unwrap_or(pb::LeadSource::Unspecified)
            .into(),
        next_step: f.next_step.clone(),
        next_step_date: f.next_step_date.map(date_to),
        bant: Some(pb::Bant {
            budget: f.bant.budget.clone(),
            authority: f.bant.authority.clone(),
            need: f.bant.need.clone(),
            timeline: f.bant.timeline.clone(),
        }),
        confirmed_budget: f.confirmed_budget.map(money_to),
        discount_bps: f.discount_bps as i32,
        forecast_category: category_to(f.forecast_category).into(),
        status: status_of(d.status).into(),
        loss_reason: d.loss_reason.clone(),
        contacts: f
            .contacts
            .iter()
            .map(|c| pb::Contact {
                display_name: c.display_name.clone(),
                email: c.email.clone(),
                title: c.title.clone(),
                buying_role: buying_role_to(c.buying_role).into(),
                department: c.department.clone(),
            })
            .collect(),
        qualification: f
            .qualification
            .iter()
            .map(|q| pb::QualificationItem {
                element: element_to(q.element).into(),
                status: status_to(q.status).into(),
                set_by: q
                    .set_by
                    .map(|u| format!("users/{}", u.0))
                    .unwrap_or_default(),
                set_time: Some(timestamp(q.set_at)),
            })
            .collect(),
        create_time: Some(timestamp(d.created_at)),
        update_time: Some(timestamp(d.updated_at)),
        stage_enter_time: Some(timestamp(d.stage_entered_at)),
        close_time: d.closed_at.map(timestamp),
        etag: etag(d.version),
    }
}

fn history_to_wire(h: &StageHistoryEntry) -> pb::StageHistoryEntry {
    pb::StageHistoryEntry {
        sequence: h.sequence,
        from_stage: h.from_stage.clone().unwrap_or_default(),
        to_stage: h.to_stage.clone(),
        change_time: Some(timestamp(h.at)),
        actor: h
            .actor
            .map(|a| format!("users/{}", a.0))
            .unwrap_or_default(),
        amount: h.amount.map(money_to),
        close_date: h.close_date.map(date_to),
        direction: direction_to(h.direction).into(),
        overridden: h.overridden,
        override_justification: h.justification.clone(),
    }
}

fn field_change_to(c: &FieldHistoryEntry) -> pb::FieldChange {
    use pb::field_change::Field;
    use pb::field_value::Value;
    let value = |v: &FieldValue| pb::FieldValue {
        value: Some(match v {
            FieldValue::Amount(minor) => Value::AmountMinor(*minor),
            FieldValue::Currency(c) => Value::CurrencyCode(c.code().to_string()),
            FieldValue::CloseDate(d) => Value::CloseDate(date_to(*d)),
            FieldValue::ForecastCategory(c) => Value::ForecastCategory(category_to(*c).into()),
            FieldValue::Owner(u) => Value::Owner(format!("users/{}", u.0)),
            FieldValue::Stage(s) => Value::Stage(s.clone()),
            FieldValue::Status(s) => Value::Status(status_of(*s).into()),
        }),
    };
    pb::FieldChange {
        sequence: c.sequence,
        field: match c.field {
            TrackedField::Amount => Field::Amount,
            TrackedField::Currency => Field::Currency,
            TrackedField::CloseDate => Field::CloseDate,
            TrackedField::ForecastCategory => Field::ForecastCategory,
            TrackedField::Owner => Field::Owner,
            TrackedField::Stage => Field::Stage,
            TrackedField::Status => Field::Status,
        }
        .into(),
        change_time: Some(timestamp(c.at)),
        actor: c
            .actor
            .map(|a| format!("users/{}", a.0))
            .unwrap_or_default(),
        old_value: c.old.as_ref().map(value),
        new_value: c.new.as_ref().map(value),
    }
}

/// A page token's key for field history: the last change's time (microseconds) and sequence.
fn field_history_key(c: &FieldHistoryEntry) -> String {
    format!("{}:{}", c.at.timestamp_micros(), c.sequence)
}

fn field_history_after(
    key: Option<&str>,
) -> Result<Option<(chrono::DateTime<chrono::Utc>, i64)>, Status> {
    let Some(key) = key else { return Ok(None) };
    key.split_once(':')
        .and_then(|(micros, sequence)| {
            let at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
            Some((at, sequence.parse().ok()?))
        })
        .map(Some)
        .ok_or_else(|| {
            invalid(Violations::one(
                "page_token",
                "is not a page token of this list",
            ))
        })
}

/// A deal draft from the wire; `owner` defaults to `caller`. Paths are relative to the deal.
fn draft_from(w: &pb::Deal, caller: UserId, v: &mut Violations) -> DealDraft {
    let owner = parse_optional_user("owner", &w.owner)
        .map_err(|e| v.extend(e))
        .ok()
        .flatten();
    let lead_source = match w.lead_source {
        0 => None,
        value => {
            let parsed = lead_source_from(value);
            if parsed.is_none() {
                v.add("lead_source", "must be one of the known lead sources");
            }
            parsed
        }
    };
    let forecast_category = match w.forecast_category {
        0 => None,
        value => {
            let parsed = category_from(value);
            if parsed.is_none() {
                v.add("forecast_category", "must be one of the known categories");
            }
            parsed
        }
    };
    let bant = w.bant.clone().unwrap_or_default();
    DealDraft {
        display_name: w.display_name.clone(),
        account: w.account.clone(),
        owner_id: owner.unwrap_or(caller),
        amount: w
            .amount
            .as_ref()
            .map(|m| (m.amount_minor, m.currency_code.clone())),
        close_date: date_from("close_date", w.close_date.as_ref(), v),
        lead_source,
        next_step: w.next_step.clone(),
        next_step_date: date_from("next_step_date", w.next_step_date.as_ref(), v),
        bant: Bant {
            budget: bant.budget,
            authority: bant.authority,
            need: bant.need,
            timeline: bant.timeline,
        },
        confirmed_budget: w
            .confirmed_budget
            .as_ref()
            .map(|m| (m.amount_minor, m.currency_code.clone())),
        discount_bps: w.discount_bps,
        forecast_category,
        contacts: CONTACTS
            .within(v, "contacts", &w.contacts)
            .iter()
            .map(|c| ContactDraft {
                display_name: c.display_name.clone(),
                email: c.email.clone(),
                title: c.title.clone(),
                buying_role: buying_role_from(c.buying_role),
                department: c.department.clone(),
            })
            .collect(),
        qualification: QUALIFICATION
            .within(v, "qualification", &w.qualification)
            .iter()
            .map(|q| QualificationDraft {
                element: element_from(q.element),
                status: status_from(q.status),
            })
            .collect(),
    }
}

fn parse_order(order_by: &str) -> Result<(DealOrder, bool), Violations> {
    let mut words = order_by.split_whitespace();
    let order = match words.next() {
        None | Some("create_time") => DealOrder::CreateTime,
        Some("update_time") => DealOrder::UpdateTime,
        Some("close_date") => DealOrder::CloseDate,
        Some("amount") => DealOrder::Amount,
        Some(_) => {
            return Err(Violations::one(
                "order_by",
                "must be create_time, update_time, close_date or amount, optionally followed by desc",
            ));
        }
    };
    let descending = match words.next() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(Violations::one(
                "order_by",
                "the direction must be asc or desc",
            ));
        }
    };
    if words.next().is_some() {
        return Err(Violations::one("order_by", "orders by one field only"));
    }
    Ok((order, descending))
}

/// The page-token key of a deal in an order.
fn cursor_key(d: &Deal, order: DealOrder, descending: bool) -> String {
    use crate::app::ports as s;
    match order {
        DealOrder::CreateTime => format!("c|{}", d.id),
        DealOrder::UpdateTime => format!("u|{}|{}", d.updated_at.to_rfc3339(), d.id),
        DealOrder::CloseDate => {
            let date = d.fields.close_date.unwrap_or(if descending {
                s::NO_CLOSE_DATE_DESC
            } else {
                s::NO_CLOSE_DATE_ASC
            });
            format!("d|{date}|{}", d.id)
        }
        DealOrder::Amount => {
            let amount = d.fields.amount.map(|m| m.minor).unwrap_or(if descending {
                s::NO_AMOUNT_DESC
            } else {
                s::NO_AMOUNT_ASC
            });
            format!("a|{amount}|{}", d.id)
        }
    }
}

fn parse_cursor(key: &str) -> Option<DealCursor> {
    let parts: Vec<&str> = key.split('|').collect();
    let id = Uuid::parse_str(parts.last()?).ok()?;
    Some(match (parts.first()?, parts.len()) {
        (&"c", 2) => DealCursor::CreateTime(id),
        (&"u", 3) => {
            DealCursor::UpdateTime(DateTime::parse_from_rfc3339(parts[1]).ok()?.to_utc(), id)
        }
        (&"d", 3) => DealCursor::CloseDate(parts[1].parse().ok()?, id),
        (&"a", 3) => DealCursor::Amount(parts[1].parse().ok()?, id),
        _ => return None,
    })
}

fn deal_id(field: &str, name: &str) -> Result<Uuid, Status> {
    parse_name(field, "deals", name).map_err(invalid)
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
            .ok_or_else(|| invalid(Violations::one("deal", "is required")))?;
        let mut v = Violations::new();
        let draft = draft_from(wire, principal.user.id, &mut v);
        let pipeline = parse_name("pipeline", "pipelines", &wire.pipeline)
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
        let mut v = Violations::new();
        let owner = parse_optional_user("owner", &req.owner)
            .map_err(|e| v.extend(e))
            .ok()
            .flatten();
        let pipeline = if req.pipeline.is_empty() {
            None
        } else {
            parse_name("pipeline", "pipelines", &req.pipeline)
                .map_err(|e| v.extend(e))
                .ok()
        };
        if !req.stage.is_empty() && req.pipeline.is_empty() {
            v.add("stage", "filtering by stage needs a pipeline");
        }
        let category = match req.forecast_category {
            0 => None,
            value => category_from(value).or_else(|| {
                v.add("forecast_category", "must be one of the known categories");
                None
            }),
        };
        let status = match pb::deal::Status::try_from(req.status) {
            Ok(pb::deal::Status::Unspecified) => None,
            Ok(pb::deal::Status::Open) => Some(DealStatus::Open),
            Ok(pb::deal::Status::Won) => Some(DealStatus::Won),
            Ok(pb::deal::Status::Lost) => Some(DealStatus::Lost),
            Err(_) => {
                v.add("status", "must be one of the known statuses");
                None
            }
        };
        let close_from = date_from("min_close_date", req.min_close_date.as_ref(), &mut v);
        let close_to = date_from("max_close_date", req.max_close_date.as_ref(), &mut v);
        if req.query.chars().count() > 200 {
            v.add("query", "must be at most 200 characters");
        }
        let (order, descending) = parse_order(&req.order_by)
            .map_err(|e| v.extend(e))
            .unwrap_or((DealOrder::CreateTime, false));
        if !v.is_empty() {
            return Err(invalid(v));
        }
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
            Some(key) => Some(parse_cursor(key).ok_or_else(|| {
                invalid(Violations::one(
                    "page_token",
                    "is not a page token of this list",
                ))
            })?),
        };
        let query = DealQuery {
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
            .ok_or_else(|| invalid(Violations::one("deal", "is required")))?;
        let mut v = Violations::new();
        let id = parse_name("deal.name", "deals", &wire.name)
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
            return Err(invalid(Violations::one(
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
            return Err(invalid(Violations::one("target_stage", "is required")));
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
        use pb::preview_deal_stage_response::Direction as D;
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let id = deal_id("name", &req.name)?;
        if req.target_stage.is_empty() {
            return Err(invalid(Violations::one("target_stage", "is required")));
        }
        let preview = self
            .app
            .preview_stage(&principal, id, &req.target_stage)
            .await?;
        Ok(Response::new(pb::PreviewDealStageResponse {
            direction: match preview.plan.direction {
                Direction::Forward => D::Forward,
                Direction::Backward => D::Backward,
                Direction::None => D::None,
            }
            .into(),
            allowed: preview.plan.allowed(),
            checks: preview
                .plan
                .checks
                .iter()
                .map(|c| pb::CriterionCheck {
                    stage: format!("pipelines/{}/stages/{}", preview.pipeline_id, c.stage_id),
                    criterion: Some(criterion_to(&c.criterion)),
                    met: c.met,
                })
                .collect(),
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
                return Err(invalid(Violations::one(
                    "loss_reason",
                    "is only for deals closed lost",
                )));
            }
            Ok(pb::close_deal_request::Outcome::Won) => Outcome::Won,
            Ok(pb::close_deal_request::Outcome::Lost) => Outcome::Lost(req.loss_reason.clone()),
            _ => return Err(invalid(Violations::one("outcome", "must be WON or LOST"))),
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
            v.add("after_sequence", "must not be negative");
        }
        let optional = |field: &str, collection: &str, name: &str, v: &mut Violations| {
            if name.is_empty() {
                None
            } else {
                parse_name(field, collection, name)
                    .map_err(|e| v.extend(e))
                    .ok()
            }
        };
        let pipeline = optional("pipeline", "pipelines", &req.pipeline, &mut v);
        let owner = optional("owner_subtree", "users", &req.owner_subtree, &mut v).map(UserId);
        let deal = optional("deal", "deals", &req.deal, &mut v);
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
