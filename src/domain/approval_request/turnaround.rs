//! Approval turnaround: time per request and per step, overall and by segment.

use chrono::{DateTime, Utc};

use super::{ApprovalRequest, RequestState, Step};
use crate::domain::approval::Approver;
use crate::domain::pipeline::Segment;

/// Turnaround of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Turnaround {
    /// Counted.
    pub count: i64,
    /// Decided: the durations are over these.
    pub decided: i64,
    pub median_seconds: f64,
    /// 90th percentile seconds.
    pub p90_seconds: f64,
}

/// The `p`-th quantile (0..=1) of sorted values, linearly interpolated between the closest
/// ranks (the median of an even count is the mean of the middle two); 0 for none.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let rank = p * (n - 1) as f64;
            let low = rank.floor() as usize;
            let high = rank.ceil() as usize;
            sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
        }
    }
}

impl Turnaround {
    /// Figures over `count` items of which `durations` (seconds) were decided.
    pub fn of(count: i64, mut durations: Vec<f64>) -> Self {
        durations.sort_by(f64::total_cmp);
        Turnaround {
            count,
            decided: durations.len() as i64,
            median_seconds: quantile(&durations, 0.5),
            p90_seconds: quantile(&durations, 0.9),
        }
    }
}

/// Turnaround of one segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentTurnaround {
    pub segment: Segment,
    /// Requests.
    pub count: i64,
    /// Share approved at once.
    pub auto_approved_share: f64,
    /// Time per request needing a human.
    pub requests: Turnaround,
}

/// Approval turnaround over a set of requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Requests.
    pub count: i64,
    /// Share approved at once.
    pub auto_approved_share: f64,
    /// Time per request needing a human.
    pub requests: Turnaround,
    /// Time per step.
    pub steps: Turnaround,
    /// By segment (those with requests), in segment order.
    pub segments: Vec<SegmentTurnaround>,
    /// By approver kind, in first-seen order.
    pub approvers: Vec<(Approver, Turnaround)>,
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

fn request_turnaround(requests: &[&ApprovalRequest]) -> (f64, Turnaround) {
    let auto = requests.iter().filter(|r| r.auto_approved).count();
    let share = if requests.is_empty() {
        0.0
    } else {
        auto as f64 / requests.len() as f64
    };
    let human: Vec<&&ApprovalRequest> = requests.iter().filter(|r| !r.auto_approved).collect();
    let durations = human
        .iter()
        .filter(|r| matches!(r.state, RequestState::Approved | RequestState::Rejected))
        .filter_map(|r| r.closed_at.map(|at| seconds(r.created_at, at)))
        .collect();
    (share, Turnaround::of(human.len() as i64, durations))
}

/// Turnaround of `requests`: time per request runs from submission to approval or rejection
/// (requests that needed a human; withdrawn and superseded ones count but have no time), time
/// per step from the step being asked to its decision (kept steps are not counted).
pub fn metrics(requests: &[ApprovalRequest]) -> Metrics {
    let all: Vec<&ApprovalRequest> = requests.iter().collect();
    let (auto_approved_share, request_figures) = request_turnaround(&all);
    let mut segments = Vec::new();
    for segment in [Segment::Smb, Segment::MidMarket, Segment::Enterprise] {
        let of: Vec<&ApprovalRequest> = all
            .iter()
            .copied()
            .filter(|r| r.segment == segment)
            .collect();
        if of.is_empty() {
            continue;
        }
        let (share, figures) = request_turnaround(&of);
        segments.push(SegmentTurnaround {
            segment,
            count: of.len() as i64,
            auto_approved_share: share,
            requests: figures,
        });
    }
    let asked: Vec<&Step> = requests
        .iter()
        .flat_map(|r| &r.steps)
        .filter(|s| s.started_at.is_some())
        .collect();
    let step_time = |s: &&Step| match (s.started_at, s.decided_at) {
        (Some(from), Some(to)) => Some(seconds(from, to)),
        _ => None,
    };
    let steps = Turnaround::of(
        asked.len() as i64,
        asked.iter().filter_map(step_time).collect(),
    );
    let mut kinds: Vec<Approver> = Vec::new();
    for approver in asked.iter().flat_map(|s| s.spec.approvers.iter()) {
        if !kinds.contains(approver) {
            kinds.push(*approver);
        }
    }
    let approvers = kinds
        .into_iter()
        .map(|kind| {
            let of: Vec<&&Step> = asked
                .iter()
                .filter(|s| s.spec.approvers.contains(&kind))
                .collect();
            let durations = of.iter().copied().filter_map(step_time).collect();
            (kind, Turnaround::of(of.len() as i64, durations))
        })
        .collect();
    Metrics {
        count: requests.len() as i64,
        auto_approved_share,
        requests: request_figures,
        steps,
        segments,
        approvers,
    }
}
