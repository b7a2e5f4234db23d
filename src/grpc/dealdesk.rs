//! DealDeskService: approval policies and route previews.

use tonic::{Request, Response, Status};
use tracing::instrument;

use super::convert::{parse_name, role_from, role_to, segment_from, segment_to, timestamp};
use super::{authenticate, invalid};
use crate::app::App;
use crate::app::ports::Store;
use crate::domain::Violations;
use crate::domain::approval::{
    Approver, DiscountTier, Mode, Policy, PolicyVersion, SizeThreshold, StepSpec, Terms,
};
use crate::domain::money::{Currency, Money};
use crate::domain::pipeline::Segment;
use crate::proto::{self as pb, deal_desk_service_server::DealDeskService};

/// The DealDeskService adapter.
#[derive(Debug, Clone)]
pub struct DealDeskApi<S> {
    app: App<S>,
}

impl<S> DealDeskApi<S> {
    /// The adapter over `app`.
    pub fn new(app: App<S>) -> Self {
        Self { app }
    }
}

fn segment_slug(segment: Segment) -> &'static str {
    match segment {
        Segment::Smb => "smb",
        Segment::MidMarket => "mid-market",
        Segment::Enterprise => "enterprise",
    }
}

fn step_from(field: &str, wire: Option<&pb::ApprovalStep>, v: &mut Violations) -> StepSpec {
    let Some(wire) = wire else {
        v.add(field, "is required");
        return StepSpec {
            name: String::new(),
            approvers: vec![],
            mode: Mode::All,
            sla_hours: 0,
        };
    };
    let approvers = wire
        .approvers
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            use pb::approver::{Approver as A, Relation};
            let parsed = match a.approver {
                Some(A::Relation(r)) => match Relation::try_from(r) {
                    Ok(Relation::OwnersManager) => Some(Approver::OwnersManager),
                    Ok(Relation::LeaderAboveOwner) => Some(Approver::LeaderAboveOwner),
                    _ => None,
                },
                Some(A::RoleQueue(r)) => role_from(r).map(Approver::Queue),
                None => None,
            };
            if parsed.is_none() {
                v.add(
                    format!("{field}.approvers[{i}]"),
                    "must be a known relation or role queue",
                );
            }
            parsed
        })
        .collect();
    let mode = match pb::approval_step::Mode::try_from(wire.mode) {
        Ok(pb::approval_step::Mode::Any) => Mode::Any,
        Ok(_) => Mode::All,
        Err(_) => {
            v.add(format!("{field}.mode"), "must be ALL or ANY");
            Mode::All
        }
    };
    StepSpec {
        name: wire.name.clone(),
        approvers,
        mode,
        sla_hours: u32::try_from(wire.sla_hours).unwrap_or(0),
    }
}

fn step_to(s: &StepSpec) -> pb::ApprovalStep {
    use pb::approver::{Approver as A, Relation};
    pb::ApprovalStep {
        name: s.name.clone(),
        approvers: s
            .approvers
            .iter()
            .map(|a| pb::Approver {
                approver: Some(match a {
                    Approver::OwnersManager => A::Relation(Relation::OwnersManager.into()),
                    Approver::LeaderAboveOwner => A::Relation(Relation::LeaderAboveOwner.into()),
                    Approver::Queue(role) => A::RoleQueue(role_to(*role).into()),
                }),
            })
            .collect(),
        mode: match s.mode {
            Mode::All => pb::approval_step::Mode::All,
            Mode::Any => pb::approval_step::Mode::Any,
        }
        .into(),
        sla_hours: s.sla_hours as i32,
    }
}

fn policy_from(wire: &pb::ApprovalPolicy) -> Result<Policy, Violations> {
    let mut v = Violations::new();
    let segment = segment_from(wire.segment);
    if segment.is_none() {
        v.add("policy.segment", "must be SMB, MID_MARKET or ENTERPRISE");
    }
    let tiers = wire
        .tiers
        .iter()
        .enumerate()
        .map(|(i, t)| DiscountTier {
            ceiling_bps: u32::try_from(t.ceiling_bps).unwrap_or_else(|_| {
                v.add(
                    format!("policy.tiers[{i}].ceiling_bps"),
                    "must not be negative",
                );
                0
            }),
            steps: t
                .steps
                .iter()
                .enumerate()
                .map(|(j, s)| step_from(&format!("policy.tiers[{i}].steps[{j}]"), Some(s), &mut v))
                .collect(),
        })
        .collect();
    let size_thresholds = wire
        .size_thresholds
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let above = t.above.as_ref().and_then(|m| {
                Currency::parse(&m.currency_code).map(|c| Money {
                    minor: m.amount_minor,
                    currency: c,
                })
            });
            if above.is_none() {
                v.add(
                    format!("policy.size_thresholds[{i}].above"),
                    "must be an amount in an ISO 4217 currency",
                );
            }
            SizeThreshold {
                above: above.unwrap_or(Money {
                    minor: 0,
                    currency: Currency::USD,
                }),
                step: step_from(
                    &format!("policy.size_thresholds[{i}].step"),
                    t.step.as_ref(),
                    &mut v,
                ),
            }
        })
        .collect();
    let legal_step = step_from("policy.legal_step", wire.legal_step.as_ref(), &mut v);
    let finance_step = step_from("policy.finance_step", wire.finance_step.as_ref(), &mut v);
    let payment_days_limit = u32::try_from(wire.payment_days_limit).unwrap_or_else(|_| {
        v.add("policy.payment_days_limit", "must not be negative");
        0
    });
    let policy = Policy {
        segment: segment.unwrap_or(Segment::Smb),
        tiers,
        size_thresholds,
        playbook: wire.playbook.clone(),
        legal_step,
        payment_days_limit,
        finance_step,
    };
    // The domain's own rules (tiers, steps, roles) are checked by the use case.
    v.into_result(policy)
}

fn policy_to(p: &PolicyVersion) -> pb::ApprovalPolicy {
    let policy = &p.policy;
    pb::ApprovalPolicy {
        name: format!(
            "approvalPolicies/{}/versions/{}",
            segment_slug(policy.segment),
            p.version
        ),
        segment: segment_to(policy.segment).into(),
        version: p.version,
        tiers: policy
            .tiers
            .iter()
            .map(|t| pb::DiscountTier {
                ceiling_bps: t.ceiling_bps as i32,
                steps: t.steps.iter().map(step_to).collect(),
            })
            .collect(),
        size_thresholds: policy
            .size_thresholds
            .iter()
            .map(|t| pb::SizeThreshold {
                above: Some(pb::Money {
                    currency_code: t.above.currency.code().to_string(),
                    amount_minor: t.above.minor,
                }),
                step: Some(step_to(&t.step)),
            })
            .collect(),
        playbook: policy.playbook.clone(),
        legal_step: Some(step_to(&policy.legal_step)),
        payment_days_limit: policy.payment_days_limit as i32,
        finance_step: Some(step_to(&policy.finance_step)),
        creator: p
            .creator
            .map(|c| format!("users/{}", c.0))
            .unwrap_or_default(),
        create_time: Some(timestamp(p.created_at)),
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
        let mut v = Violations::new();
        let segment = segment_from(req.segment);
        if segment.is_none() {
            v.add("segment", "must be SMB, MID_MARKET or ENTERPRISE");
        }
        if req.version < 0 {
            v.add("version", "must not be negative");
        }
        let (Some(segment), true) = (segment, v.is_empty()) else {
            return Err(invalid(v));
        };
        let version = (req.version > 0).then_some(req.version);
        Ok(Response::new(policy_to(
            &self.app.get_policy(&principal, segment, version).await?,
        )))
    }

    #[instrument(skip_all)]
    async fn preview_approval_route(
        &self,
        request: Request<pb::PreviewApprovalRouteRequest>,
    ) -> Result<Response<pb::PreviewApprovalRouteResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let deal = parse_name("deal", "deals", &req.deal)
            .map_err(|e| v.extend(e))
            .ok();
        let discount_bps = u32::try_from(req.discount_bps).unwrap_or_else(|_| {
            v.add("discount_bps", "must not be negative");
            0
        });
        let payment_days = u32::try_from(req.payment_days).unwrap_or_else(|_| {
            v.add("payment_days", "must not be negative");
            0
        });
        let (Some(deal), true) = (deal, v.is_empty()) else {
            return Err(invalid(v));
        };
        let terms = Terms {
            discount_bps,
            clauses: req.clauses.clone(),
            non_standard: req.non_standard_terms.clone(),
            payment_days,
        };
        let (policy, route) = self.app.preview_route(&principal, deal, terms).await?;
        Ok(Response::new(pb::PreviewApprovalRouteResponse {
            policy: policy_to(&policy).name,
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
}
