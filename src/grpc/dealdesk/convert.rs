//! The DealDeskService's wire conversions: approval policies and their steps, requests, seats,
//! delegations, events, turnaround metrics, deal terms, step names and page cursors.

use chrono::{DateTime, Utc};
use tonic::Status;
use uuid::Uuid;

use super::super::convert::{parse_name, role_from, role_to, segment_from, segment_to, timestamp};
use super::super::deal::date_to;
use super::super::request_limits::{
    APPROVERS, CLAUSES, PLAYBOOK, SIZE_THRESHOLDS, TIER_STEPS, TIERS,
};
use super::super::{Paging, invalid};
use crate::app::names::{deal_name, policy_name, request_name, segment_slug, step_name, user_name};
use crate::app::ports::{ApprovalEventRecord, EventKind};
use crate::domain::Violations;
use crate::domain::approval::{
    Approver, DiscountTier, Mode, Policy, PolicyVersion, SizeThreshold, StepSpec, Terms,
};
use crate::domain::approval_request::{
    ApprovalRequest, Delegation, Metrics, RequestState, Seat, StepState, Turnaround,
};
use crate::domain::ids::ApprovalRequestId;
use crate::domain::money::{Currency, Money};
use crate::domain::pipeline::Segment;
use crate::proto::{self as pb};

pub(super) fn step_from(
    field: &str,
    wire: Option<&pb::ApprovalStep>,
    v: &mut Violations,
) -> StepSpec {
    let Some(wire) = wire else {
        v.add(field, "is required");
        return StepSpec {
            name: String::new(),
            approvers: vec![],
            mode: Mode::All,
            sla_hours: 0,
        };
    };
    let approvers = APPROVERS
        .within(v, &format!("{field}.approvers"), &wire.approvers)
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

pub(super) fn step_to(s: &StepSpec) -> pb::ApprovalStep {
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

pub(super) fn policy_from(wire: &pb::ApprovalPolicy) -> Result<Policy, Violations> {
    let mut v = Violations::new();
    let segment = segment_from(wire.segment);
    if segment.is_none() {
        v.add("policy.segment", "must be SMB, MID_MARKET or ENTERPRISE");
    }
    let tiers = TIERS
        .within(&mut v, "policy.tiers", &wire.tiers)
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
            steps: TIER_STEPS
                .within(&mut v, &format!("policy.tiers[{i}].steps"), &t.steps)
                .iter()
                .enumerate()
                .map(|(j, s)| step_from(&format!("policy.tiers[{i}].steps[{j}]"), Some(s), &mut v))
                .collect(),
        })
        .collect();
    let size_thresholds = SIZE_THRESHOLDS
        .within(&mut v, "policy.size_thresholds", &wire.size_thresholds)
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
        playbook: PLAYBOOK
            .within(&mut v, "policy.playbook", &wire.playbook)
            .to_vec(),
        legal_step,
        payment_days_limit,
        finance_step,
    };
    // The domain's own rules (tiers, steps, roles) are checked by the use case.
    v.into_result(policy)
}

pub(super) fn policy_to(p: &PolicyVersion) -> pb::ApprovalPolicy {
    let policy = &p.policy;
    pb::ApprovalPolicy {
        name: policy_name(policy.segment, p.version),
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
        creator: p.creator.map(user_name).unwrap_or_default(),
        create_time: Some(timestamp(p.created_at)),
    }
}

pub(super) fn approver_to(a: &Approver) -> pb::Approver {
    use pb::approver::{Approver as A, Relation};
    pb::Approver {
        approver: Some(match a {
            Approver::OwnersManager => A::Relation(Relation::OwnersManager.into()),
            Approver::LeaderAboveOwner => A::Relation(Relation::LeaderAboveOwner.into()),
            Approver::Queue(role) => A::RoleQueue(role_to(*role).into()),
        }),
    }
}

pub(super) fn request_state_to(state: RequestState) -> pb::approval_request::State {
    use pb::approval_request::State;
    match state {
        RequestState::Pending => State::Pending,
        RequestState::Approved => State::Approved,
        RequestState::Rejected => State::Rejected,
        RequestState::Withdrawn => State::Withdrawn,
        RequestState::Superseded => State::Superseded,
    }
}

pub(super) fn request_state_from(value: i32) -> Option<RequestState> {
    use pb::approval_request::State;
    match State::try_from(value).ok()? {
        State::Unspecified => None,
        State::Pending => Some(RequestState::Pending),
        State::Approved => Some(RequestState::Approved),
        State::Rejected => Some(RequestState::Rejected),
        State::Withdrawn => Some(RequestState::Withdrawn),
        State::Superseded => Some(RequestState::Superseded),
    }
}

pub(super) fn step_state_to(state: StepState) -> pb::approval_request_step::State {
    use pb::approval_request_step::State;
    match state {
        StepState::Waiting => State::Waiting,
        StepState::Pending => State::Pending,
        StepState::Approved => State::Approved,
        StepState::Rejected => State::Rejected,
        StepState::Kept => State::Kept,
        StepState::Cancelled => State::Cancelled,
    }
}

pub(super) fn seat_to(seat: &Seat) -> pb::ApprovalSeat {
    pb::ApprovalSeat {
        approver: Some(approver_to(&seat.approver)),
        user: seat.user.map(user_name).unwrap_or_default(),
        role: seat
            .role()
            .map(role_to)
            .unwrap_or(pb::Role::Unspecified)
            .into(),
        escalated_to: seat.escalated_to.iter().map(|u| user_name(*u)).collect(),
        decision: seat.decision.as_ref().map(|d| pb::ApprovalDecision {
            approved: d.approved,
            decided_by: user_name(d.by),
            on_behalf_of: d.on_behalf_of.map(user_name).unwrap_or_default(),
            comment: d.comment.clone(),
            decide_time: Some(timestamp(d.at)),
        }),
    }
}

/// Parses `approvalPolicies/{segment}/versions/{version}` (the form [`policy_name`] writes) into
/// the segment and the version, `None` for `latest`.
pub(super) fn policy_name_from(name: &str) -> Result<(Segment, Option<i64>), Violations> {
    let malformed = || {
        Violations::one(
            "name",
            "must be approvalPolicies/{segment}/versions/{version}, the segment smb, \
             mid-market or enterprise, the version a positive number or latest",
        )
    };
    let mut parts = name.split('/');
    let (Some("approvalPolicies"), Some(slug), Some("versions"), Some(version), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed());
    };
    let segment = [Segment::Smb, Segment::MidMarket, Segment::Enterprise]
        .into_iter()
        .find(|s| segment_slug(*s) == slug)
        .ok_or_else(malformed)?;
    let version = match version {
        "latest" => None,
        digits => match digits.parse::<i64>() {
            Ok(n) if n > 0 && !digits.starts_with('+') => Some(n),
            _ => return Err(malformed()),
        },
    };
    Ok((segment, version))
}

/// The wire form of a request.
pub fn request_to(r: &ApprovalRequest) -> pb::ApprovalRequest {
    pb::ApprovalRequest {
        name: request_name(r.id),
        deal: deal_name(r.deal_id),
        requester: user_name(r.requester),
        policy: policy_name(r.segment, r.policy_version),
        discount_bps: r.terms.discount_bps as i32,
        clauses: r.terms.clauses.clone(),
        non_standard_terms: r.terms.non_standard.clone(),
        payment_days: r.terms.payment_days as i32,
        amount: r.amount.map(|m| pb::Money {
            currency_code: m.currency.code().to_string(),
            amount_minor: m.minor,
        }),
        state: request_state_to(r.state).into(),
        auto_approved: r.auto_approved,
        steps: r
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| pb::ApprovalRequestStep {
                name: step_name(r.id, i),
                step: Some(step_to(&s.spec)),
                reasons: s.reasons.clone(),
                state: step_state_to(s.state).into(),
                seats: s.seats.iter().map(seat_to).collect(),
                reapproval: s.reapproval.clone(),
                start_time: s.started_at.map(timestamp),
                due_time: s.due_at.map(timestamp),
                escalate_time: s.escalated_at.map(timestamp),
                decide_time: s.decided_at.map(timestamp),
            })
            .collect(),
        resubmits: r.resubmits.map(request_name).unwrap_or_default(),
        create_time: Some(timestamp(r.created_at)),
        close_time: r.closed_at.map(timestamp),
    }
}

pub(super) fn delegation_to(d: &Delegation) -> pb::Delegation {
    pb::Delegation {
        name: format!("delegations/{}", d.id),
        delegator: user_name(d.delegator),
        delegate: user_name(d.delegate),
        start_date: Some(date_to(d.start)),
        end_date: Some(date_to(d.end)),
        creator: user_name(d.creator),
        create_time: Some(timestamp(d.created_at)),
    }
}

pub(super) fn event_to(e: &ApprovalEventRecord) -> pb::ApprovalEvent {
    use pb::approval_event::Kind;
    pb::ApprovalEvent {
        id: e.id,
        kind: match e.kind {
            EventKind::Submitted => Kind::Submitted,
            EventKind::StepDecided => Kind::StepDecided,
            EventKind::Escalated => Kind::Escalated,
            EventKind::Approved => Kind::Approved,
            EventKind::Rejected => Kind::Rejected,
            EventKind::Withdrawn => Kind::Withdrawn,
        }
        .into(),
        approval_request: request_name(e.request_id),
        deal: deal_name(e.deal_id),
        step: e
            .step
            .map(|s| step_name(e.request_id, s))
            .unwrap_or_default(),
        actor: e.actor.map(user_name).unwrap_or_default(),
        description: e.description.clone(),
        create_time: Some(timestamp(e.created_at)),
    }
}

pub(super) fn turnaround_to(t: &Turnaround) -> pb::Turnaround {
    pb::Turnaround {
        count: t.count,
        decided: t.decided,
        median_seconds: t.median_seconds,
        p90_seconds: t.p90_seconds,
    }
}

pub(super) fn metrics_to(m: &Metrics) -> pb::ApprovalMetrics {
    pb::ApprovalMetrics {
        count: m.count,
        auto_approved_share: m.auto_approved_share,
        requests: Some(turnaround_to(&m.requests)),
        steps: Some(turnaround_to(&m.steps)),
        segments: m
            .segments
            .iter()
            .map(|s| pb::SegmentTurnaround {
                segment: segment_to(s.segment).into(),
                count: s.count,
                auto_approved_share: s.auto_approved_share,
                requests: Some(turnaround_to(&s.requests)),
            })
            .collect(),
        approvers: m
            .approvers
            .iter()
            .map(|(a, t)| pb::ApproverTurnaround {
                approver: Some(approver_to(a)),
                steps: Some(turnaround_to(t)),
            })
            .collect(),
    }
}

/// The terms of a request from the wire, each number checked.
pub(super) fn terms_from(
    discount_bps: i32,
    clauses: &[String],
    non_standard: &str,
    payment_days: i32,
    v: &mut Violations,
) -> Terms {
    let discount_bps = u32::try_from(discount_bps).unwrap_or_else(|_| {
        v.add("discount_bps", "must not be negative");
        0
    });
    let payment_days = u32::try_from(payment_days).unwrap_or_else(|_| {
        v.add("payment_days", "must not be negative");
        0
    });
    Terms {
        discount_bps,
        clauses: CLAUSES.within(v, "clauses", clauses).to_vec(),
        non_standard: non_standard.to_string(),
        payment_days,
    }
}

/// `approvalRequests/{id}/steps/{n}` as (id, 0-based index).
pub(super) fn parse_step_name(
    field: &str,
    name: &str,
) -> Result<(ApprovalRequestId, usize), Violations> {
    let bad = || {
        Violations::one(
            field,
            "must be `approvalRequests/{id}/steps/{n}` with n from 1",
        )
    };
    let (request, n) = name.rsplit_once("/steps/").ok_or_else(bad)?;
    let id = parse_name::<ApprovalRequestId>(field, request).map_err(|_| bad())?;
    let n: usize = n.parse().map_err(|_| bad())?;
    if n == 0 || n > 1000 {
        return Err(bad());
    }
    Ok((id, n - 1))
}

/// A page cursor of newest-first lists: `{created micros}:{uuid}`.
pub(super) fn cursor_key(at: DateTime<Utc>, id: impl std::fmt::Display) -> String {
    format!("{}:{id}", at.timestamp_micros())
}

pub(super) fn parse_cursor<I: From<Uuid>>(
    paging: &Paging,
) -> Result<Option<(DateTime<Utc>, I)>, Status> {
    let bad = || {
        invalid(Violations::one(
            "page_token",
            "is not a page token of this list",
        ))
    };
    paging
        .after
        .as_deref()
        .map(|key| {
            let (micros, id) = key.split_once(':').ok_or_else(bad)?;
            let at = micros
                .parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(bad)?;
            Ok((at, Uuid::parse_str(id).map_err(|_| bad())?.into()))
        })
        .transpose()
}

pub(super) fn time_from(
    field: &str,
    t: Option<&prost_types::Timestamp>,
    v: &mut Violations,
) -> Option<DateTime<Utc>> {
    let Some(t) = t else {
        v.add(field, "is required");
        return None;
    };
    let at = u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos));
    if at.is_none() {
        v.add(field, "must be a valid timestamp");
    }
    at
}
