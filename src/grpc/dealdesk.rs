//! DealDeskService: approval policies, route previews, requests and their decisions,
//! delegations, the approval event stream and turnaround metrics.

use tokio::sync::watch;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::convert::{parse_name, role_from};
use super::deal::date_from;
use super::{
    EVENT_BATCH, Paging, Wakeups, authenticate, created, follow, idempotency_key, invalid,
};
use crate::app::App;
use crate::app::approvals::{NewDelegation, StepDecision};
use crate::app::ports::Store;
use crate::app::ports::{ApprovalEventRecord, EventFilter, Topic};
use crate::app::roles::{require_metrics_reader, require_policy_editor, require_requester_role};
use crate::domain::Violations;
use crate::domain::directory::UserId;
use crate::proto::{self as pb, deal_desk_service_server::DealDeskService};

mod convert;

use crate::app::names::policy_name;
use crate::domain::ids::{ApprovalRequestId, DealId};
use convert::{
    cursor_key, delegation_to, event_to, metrics_to, parse_cursor, parse_step_name, policy_from,
    policy_name_from, policy_to, request_state_from, request_to, step_to, terms_from, time_from,
};

/// The DealDeskService adapter.
#[derive(Debug, Clone)]
pub struct DealDeskApi<S> {
    app: App<S>,
    /// Turns true when the server stops: open event streams end so shutdown can drain.
    stopping: watch::Receiver<bool>,
}

impl<S> DealDeskApi<S> {
    /// The adapter over `app`; event streams end when `stopping` turns true.
    pub fn new(app: App<S>, stopping: watch::Receiver<bool>) -> Self {
        Self { app, stopping }
    }
}

impl<S: Store> DealDeskApi<S> {
    /// Approves (`approve`) or rejects the step named in `req`, whose fields are (step,
    /// comment, request id).
    async fn decide<T: prost::Message>(
        &self,
        request: Request<T>,
        fields: fn(&T) -> (&str, &str, &str),
        approve: bool,
    ) -> Result<Response<pb::ApprovalRequest>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let (step_name, comment, request_id) = fields(&req);
        let (id, step) = parse_step_name("step", step_name).map_err(invalid)?;
        let method = if approve {
            "ApproveApprovalStep"
        } else {
            "RejectApprovalStep"
        };
        let key = idempotency_key(Some(principal.user.id), method, request_id, &req)?;
        let result = self
            .app
            .decide_step(
                &principal,
                id,
                StepDecision {
                    step,
                    approve,
                    comment,
                },
                key,
                |r| prost::Message::encode_to_vec(&request_to(r)),
            )
            .await?;
        Ok(Response::new(created(result, request_to)?))
    }
}

#[tonic::async_trait]
impl<S: Store> DealDeskService for DealDeskApi<S> {
    #[instrument(skip_all)]
    async fn create_approval_policy(
        &self,
        request: Request<pb::CreateApprovalPolicyRequest>,
    ) -> Result<Response<pb::ApprovalPolicy>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_policy_editor(&principal)?;
        let req = request.into_inner();
        let wire = req
            .policy
            .as_ref()
            .ok_or_else(|| invalid(Violations::one("policy", "is required")))?;
        let policy = policy_from(wire).map_err(invalid)?;
        let stored = self.app.create_policy(&principal, policy).await?;
        Ok(Response::new(policy_to(&stored)))
    }

    #[instrument(skip_all)]
    async fn get_approval_policy(
        &self,
        request: Request<pb::GetApprovalPolicyRequest>,
    ) -> Result<Response<pb::ApprovalPolicy>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let (segment, version) = policy_name_from(&req.name).map_err(invalid)?;
        let policy = self.app.get_policy(&principal, segment, version).await?;
        Ok(Response::new(policy_to(&policy)))
    }

    #[instrument(skip_all)]
    async fn preview_approval_route(
        &self,
        request: Request<pb::PreviewApprovalRouteRequest>,
    ) -> Result<Response<pb::PreviewApprovalRouteResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let deal = parse_name::<DealId>("deal", &req.deal)
            .map_err(|e| v.extend(e))
            .ok();
        let terms = terms_from(
            req.discount_bps,
            &req.clauses,
            &req.non_standard_terms,
            req.payment_days,
            &mut v,
        );
        let (Some(deal), true) = (deal, v.is_empty()) else {
            return Err(invalid(v));
        };
        let (policy, route) = self.app.preview_route(&principal, deal, terms).await?;
        Ok(Response::new(pb::PreviewApprovalRouteResponse {
            policy: policy_name(policy.policy.segment, policy.version),
            auto_approved: route.auto_approved(),
            steps: route
                .steps
                .iter()
                .map(|s| pb::RouteStep {
                    step: Some(step_to(&s.step)),
                    reasons: s.reasons.clone(),
                })
                .collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn submit_approval_request(
        &self,
        request: Request<pb::SubmitApprovalRequestRequest>,
    ) -> Result<Response<pb::ApprovalRequest>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_requester_role(&principal)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let deal = parse_name::<DealId>("deal", &req.deal)
            .map_err(|e| v.extend(e))
            .ok();
        let resubmits = if req.resubmits.is_empty() {
            None
        } else {
            parse_name::<ApprovalRequestId>("resubmits", &req.resubmits)
                .map_err(|e| v.extend(e))
                .ok()
        };
        let terms = terms_from(
            req.discount_bps,
            &req.clauses,
            &req.non_standard_terms,
            req.payment_days,
            &mut v,
        );
        let key = idempotency_key(
            Some(principal.user.id),
            "SubmitApprovalRequest",
            &req.request_id,
            &req,
        )?;
        let (Some(deal), true) = (deal, v.is_empty()) else {
            return Err(invalid(v));
        };
        let result = self
            .app
            .submit_request(&principal, deal, terms, resubmits, key, |r| {
                prost::Message::encode_to_vec(&request_to(r))
            })
            .await?;
        Ok(Response::new(created(result, request_to)?))
    }

    #[instrument(skip_all)]
    async fn get_approval_request(
        &self,
        request: Request<pb::GetApprovalRequestRequest>,
    ) -> Result<Response<pb::ApprovalRequest>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let id =
            parse_name::<ApprovalRequestId>("name", &request.get_ref().name).map_err(invalid)?;
        Ok(Response::new(request_to(
            &self.app.get_request(&principal, id).await?,
        )))
    }

    #[instrument(skip_all)]
    async fn list_approval_requests(
        &self,
        request: Request<pb::ListApprovalRequestsRequest>,
    ) -> Result<Response<pb::ListApprovalRequestsResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let deal = if req.deal.is_empty() {
            None
        } else {
            parse_name::<DealId>("deal", &req.deal)
                .map_err(|e| v.extend(e))
                .ok()
        };
        if req.deal.is_empty() != req.my_queue {
            v.add("deal", "set exactly one of `deal` and `my_queue`");
        }
        let state = request_state_from(req.state);
        if state.is_none() && req.state != 0 {
            v.add("state", "must be a known request state");
        }
        if state.is_some() && req.my_queue {
            v.add(
                "state",
                "filters a deal's requests; a queue holds pending requests only",
            );
        }
        if !v.is_empty() {
            return Err(invalid(v));
        }
        let query = [
            req.deal.as_str(),
            if req.my_queue { "queue" } else { "" },
            &req.state.to_string(),
            &principal.user.id.0.to_string(),
        ];
        let paging = Paging::parse(req.page_size, &req.page_token, &query)?;
        let after = parse_cursor(&paging)?;
        let requests = match deal {
            Some(deal) => {
                self.app
                    .list_deal_requests(&principal, deal, state, after, paging.limit)
                    .await?
            }
            None => self.app.my_queue(&principal, after, paging.limit).await?,
        };
        let next_page_token = paging.next_token(
            requests.len(),
            requests.last().map(|r| cursor_key(r.created_at, r.id)),
        );
        Ok(Response::new(pb::ListApprovalRequestsResponse {
            approval_requests: requests.iter().map(request_to).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn approve_approval_step(
        &self,
        request: Request<pb::ApproveApprovalStepRequest>,
    ) -> Result<Response<pb::ApprovalRequest>, Status> {
        self.decide(
            request,
            |r: &pb::ApproveApprovalStepRequest| {
                (r.step.as_str(), r.comment.as_str(), r.request_id.as_str())
            },
            true,
        )
        .await
    }

    #[instrument(skip_all)]
    async fn reject_approval_step(
        &self,
        request: Request<pb::RejectApprovalStepRequest>,
    ) -> Result<Response<pb::ApprovalRequest>, Status> {
        self.decide(
            request,
            |r: &pb::RejectApprovalStepRequest| {
                (r.step.as_str(), r.comment.as_str(), r.request_id.as_str())
            },
            false,
        )
        .await
    }

    #[instrument(skip_all)]
    async fn withdraw_approval_request(
        &self,
        request: Request<pb::WithdrawApprovalRequestRequest>,
    ) -> Result<Response<pb::ApprovalRequest>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let id = parse_name::<ApprovalRequestId>("name", &req.name).map_err(invalid)?;
        let key = idempotency_key(
            Some(principal.user.id),
            "WithdrawApprovalRequest",
            &req.request_id,
            &req,
        )?;
        let result = self
            .app
            .withdraw_request(&principal, id, key, |r| {
                prost::Message::encode_to_vec(&request_to(r))
            })
            .await?;
        Ok(Response::new(created(result, request_to)?))
    }

    #[instrument(skip_all)]
    async fn create_delegation(
        &self,
        request: Request<pb::CreateDelegationRequest>,
    ) -> Result<Response<pb::Delegation>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let wire = req
            .delegation
            .as_ref()
            .ok_or_else(|| invalid(Violations::one("delegation", "is required")))?;
        let mut v = Violations::new();
        let delegator = if wire.delegator.is_empty() {
            None
        } else {
            parse_name::<UserId>("delegation.delegator", &wire.delegator)
                .map_err(|e| v.extend(e))
                .ok()
        };
        let delegate = parse_name::<UserId>("delegation.delegate", &wire.delegate)
            .map_err(|e| v.extend(e))
            .ok();
        let start = date_from("delegation.start_date", wire.start_date.as_ref(), &mut v);
        let end = date_from("delegation.end_date", wire.end_date.as_ref(), &mut v);
        if wire.start_date.is_none() {
            v.add("delegation.start_date", "is required");
        }
        if wire.end_date.is_none() {
            v.add("delegation.end_date", "is required");
        }
        let key = idempotency_key(
            Some(principal.user.id),
            "CreateDelegation",
            &req.request_id,
            &req,
        )?;
        let (Some(delegate), Some(start), Some(end), true) = (delegate, start, end, v.is_empty())
        else {
            return Err(invalid(v));
        };
        let result = self
            .app
            .create_delegation(
                &principal,
                NewDelegation {
                    delegator,
                    delegate,
                    start,
                    end,
                },
                key,
                |d| prost::Message::encode_to_vec(&delegation_to(d)),
            )
            .await?;
        Ok(Response::new(created(result, delegation_to)?))
    }

    #[instrument(skip_all)]
    async fn list_delegations(
        &self,
        request: Request<pb::ListDelegationsRequest>,
    ) -> Result<Response<pb::ListDelegationsResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let paging = Paging::parse(
            req.page_size,
            &req.page_token,
            &[&principal.user.id.0.to_string()],
        )?;
        let after = parse_cursor(&paging)?;
        let delegations = self
            .app
            .list_delegations(&principal, after, paging.limit)
            .await?;
        let next_page_token = paging.next_token(
            delegations.len(),
            delegations.last().map(|d| cursor_key(d.created_at, d.id)),
        );
        Ok(Response::new(pb::ListDelegationsResponse {
            delegations: delegations.iter().map(delegation_to).collect(),
            next_page_token,
        }))
    }

    type WatchApprovalEventsStream = ReceiverStream<Result<pb::ApprovalEvent, Status>>;

    #[instrument(skip_all)]
    async fn watch_approval_events(
        &self,
        request: Request<pb::WatchApprovalEventsRequest>,
    ) -> Result<Response<Self::WatchApprovalEventsStream>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let secret = super::bearer(request.metadata())?.map(str::to_owned);
        let req = request.into_inner();
        let mut v = Violations::new();
        if req.after_event_id < 0 {
            v.add("after_event_id", "must not be negative");
        }
        let approver = if req.approver.is_empty() {
            None
        } else {
            parse_name::<UserId>("approver", &req.approver)
                .map_err(|e| v.extend(e))
                .ok()
        };
        let role = match req.role_queue {
            0 => None,
            value => {
                let role = role_from(value);
                if role.is_none() {
                    v.add("role_queue", "must be a known role");
                }
                role
            }
        };
        let deal = if req.deal.is_empty() {
            None
        } else {
            parse_name::<DealId>("deal", &req.deal)
                .map_err(|e| v.extend(e))
                .ok()
        };
        if !v.is_empty() {
            return Err(invalid(v));
        }
        let filter = EventFilter {
            approver,
            role,
            deal,
        };
        self.app.check_watch(&principal, &filter).await?;
        let slot = self.app.open_stream(&principal)?;
        let wake = Wakeups::of(&self.app, Topic::ApprovalEvents, &self.stopping);
        let app = self.app.clone();
        let read = move |after, events: bool| {
            let (app, filter, secret) = (app.clone(), filter.clone(), secret.clone());
            async move {
                // Who the caller is and what they may watch is read again before news is sent
                // and when the directory changes: a revoked token, a deactivated user or a new
                // role applies to open streams.
                let principal = app.authenticate(secret.as_deref()).await?;
                app.check_watch(&principal, &filter).await?;
                if !events {
                    return Ok(Vec::new());
                }
                app.approval_events(after, &filter, EVENT_BATCH).await
            }
        };
        Ok(Response::new(follow(
            req.after_event_id,
            wake,
            slot,
            read,
            |e: &ApprovalEventRecord| e.id,
            event_to,
        )))
    }

    #[instrument(skip_all)]
    async fn get_approval_metrics(
        &self,
        request: Request<pb::GetApprovalMetricsRequest>,
    ) -> Result<Response<pb::ApprovalMetrics>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_metrics_reader(&principal)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let from = time_from("start_time", req.start_time.as_ref(), &mut v);
        let to = time_from("end_time", req.end_time.as_ref(), &mut v);
        let (Some(from), Some(to), true) = (from, to, v.is_empty()) else {
            return Err(invalid(v));
        };
        Ok(Response::new(metrics_to(
            &self.app.approval_metrics(&principal, from, to).await?,
        )))
    }
}
