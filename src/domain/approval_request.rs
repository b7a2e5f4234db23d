//! Approval requests as they move through their route: who may decide a step, how a step
//! completes (ALL or ANY), how one rejection ends the request, escalation past a step's SLA,
//! smart re-approval on resubmission, delegation windows without cycles, and turnaround figures.
//!
//! Pure: the service resolves people (the owner's manager, delegations in force, the managers
//! an overdue step escalates to), loads and stores requests; the rules live here.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::Violations;
use super::approval::{Approved, Cause};
use super::approval::{Approver, Mode, Route, StepSpec, Terms, reapprove};
use super::directory::{Role, UserId};
use super::money::Money;
use super::pipeline::Segment;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RequestState {
    /// Waiting on its current step.
    Pending,
    /// Every step approved, or nothing needed a human.
    Approved,
    /// A step was rejected.
    Rejected,
    /// Its requester withdrew it.
    Withdrawn,
    /// Replaced by a resubmission.
    Superseded,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StepState {
    /// Not asked yet: an earlier step is pending.
    Waiting,
    /// The current step.
    Pending,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Approved by the request it resubmits, and still covering this one.
    Kept,
    /// Never decided: the request closed first.
    Cancelled,
}

/// A decision on a seat.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// Approved or rejected.
    pub approved: bool,
    /// Who decided.
    pub by: UserId,
    /// The seat's approver, when a delegate or escalation target decided for them.
    pub on_behalf_of: Option<UserId>,
    /// Comment.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One approver of a step, resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seat {
    /// Who the policy asked for.
    pub approver: Approver,
    /// The person it resolved to (`None` for a role queue).
    pub user: Option<UserId>,
    /// People the step escalated to, who may now decide this seat too.
    pub escalated_to: Vec<UserId>,
    /// The decision, once made.
    pub decision: Option<Decision>,
}

impl Seat {
    /// A seat for a person.
    pub fn person(approver: Approver, user: UserId) -> Self {
        Seat {
            approver,
            user: Some(user),
            escalated_to: vec![],
            decision: None,
        }
    }

    /// A seat for a role queue.
    pub fn queue(role: Role) -> Self {
        Seat {
            approver: Approver::Queue(role),
            user: None,
            escalated_to: vec![],
            decision: None,
        }
    }

    /// The queue's role, for a role-queue seat.
    pub fn role(&self) -> Option<Role> {
        match self.approver {
            Approver::Queue(role) => Some(role),
            _ => None,
        }
    }
}

/// One step of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// The step as the policy defined it.
    pub spec: StepSpec,
    /// Why it is on the route.
    pub reasons: Vec<String>,
    /// Where it stands.
    pub state: StepState,
    /// Its approvers.
    pub seats: Vec<Seat>,
    /// For a resubmission: why it was kept or asked again.
    pub reapproval: String,
    /// When it was asked.
    pub started_at: Option<DateTime<Utc>>,
    /// When it escalates.
    pub due_at: Option<DateTime<Utc>>,
    /// When it escalated.
    pub escalated_at: Option<DateTime<Utc>>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// What its approval covered: the terms and amount approved (carried over when kept).
    pub approved_terms: Option<(Terms, Option<Money>)>,
}

/// A discount and terms request on a deal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalRequest {
    /// Identifier (UUIDv7).
    pub id: Uuid,
    /// The deal.
    pub deal_id: Uuid,
    /// Who asked.
    pub requester: UserId,
    /// The deal's segment.
    pub segment: Segment,
    /// The policy version routed with.
    pub policy_version: i64,
    /// What is asked.
    pub terms: Terms,
    /// The deal's amount when submitted.
    pub amount: Option<Money>,
    /// Where it stands.
    pub state: RequestState,
    /// Nothing needed a human when it was submitted.
    pub auto_approved: bool,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The request it resubmits.
    pub resubmits: Option<Uuid>,
    /// When submitted.
    pub created_at: DateTime<Utc>,
    /// When it stopped being pending.
    pub closed_at: Option<DateTime<Utc>>,
}

/// What a submission needs besides the route.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Identifier.
    pub id: Uuid,
    /// The deal.
    pub deal_id: Uuid,
    /// Who asks.
    pub requester: UserId,
    /// The deal's segment.
    pub segment: Segment,
    /// The policy version.
    pub policy_version: i64,
    /// What is asked.
    pub terms: Terms,
    /// The deal's amount now.
    pub amount: Option<Money>,
    /// When.
    pub now: DateTime<Utc>,
}

/// Who is deciding, and for whom they may act.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The caller.
    pub id: UserId,
    /// Their role.
    pub role: Role,
    /// People (and their roles) who delegated to the caller for today.
    pub acting_for: Vec<(UserId, Role)>,
}

/// Why a decision was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideError {
    /// The request is no longer pending.
    NotPending(RequestState),
    /// No such step.
    NoSuchStep,
    /// The step was already decided (or kept, or cancelled).
    StepDecided(StepState),
    /// The step is not asked yet.
    StepWaiting,
    /// The requester tried to decide their own request.
    OwnRequest,
    /// The caller is not among the step's approvers (nor their delegate).
    NotAnApprover,
    /// The caller already decided every seat they hold on this step.
    AlreadyDecided,
}

/// What a change did, for the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// A seat of step `step` (0-based) was decided.
    StepDecided {
        /// The step.
        step: usize,
        /// Approved or rejected.
        approved: bool,
    },
    /// The request was approved.
    Approved,
    /// The request was rejected.
    Rejected,
}

impl ApprovalRequest {
    /// A new request along `route`, with each step's seats resolved (`seats[i]` for
    /// `route.steps[i]`). With `earlier` (the request it resubmits), each step an earlier
    /// approval still covers is kept; the first step left is asked at once, and a request with
    /// no step left is approved at once.
    pub fn submit(
        s: Submission,
        route: &Route,
        seats: Vec<Vec<Seat>>,
        earlier: Option<&ApprovalRequest>,
    ) -> ApprovalRequest {
        let approved: Vec<Approved> = earlier
            .map(|e| {
                e.steps
                    .iter()
                    .filter(|st| matches!(st.state, StepState::Approved | StepState::Kept))
                    .filter_map(|st| {
                        st.approved_terms.as_ref().map(|(terms, amount)| Approved {
                            name: st.spec.name.clone(),
                            terms: terms.clone(),
                            amount: *amount,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let decisions = reapprove(route, &s.terms, &approved);
        let steps = decisions
            .into_iter()
            .zip(seats)
            .map(|(re, seats)| {
                let carried = approved
                    .iter()
                    .find(|a| a.name == re.step.step.name)
                    .map(|a| (a.terms.clone(), a.amount));
                Step {
                    spec: re.step.step,
                    reasons: re.step.reasons,
                    state: if re.kept {
                        StepState::Kept
                    } else {
                        StepState::Waiting
                    },
                    seats,
                    reapproval: if earlier.is_some() {
                        re.why
                    } else {
                        String::new()
                    },
                    started_at: None,
                    due_at: None,
                    escalated_at: None,
                    decided_at: None,
                    approved_terms: if re.kept { carried } else { None },
                }
            })
            .collect::<Vec<_>>();
        let auto_approved = steps.iter().all(|st| st.state == StepState::Kept);
        let mut request = ApprovalRequest {
            id: s.id,
            deal_id: s.deal_id,
            requester: s.requester,
            segment: s.segment,
            policy_version: s.policy_version,
            terms: s.terms,
            amount: s.amount,
            state: RequestState::Pending,
            auto_approved,
            steps,
            resubmits: earlier.map(|e| e.id),
            created_at: s.now,
            closed_at: None,
        };
        request.advance(s.now);
        request
    }

    /// Asks the first waiting step, or approves the request when none is left.
    fn advance(&mut self, now: DateTime<Utc>) -> bool {
        match self
            .steps
            .iter_mut()
            .find(|st| st.state == StepState::Waiting)
        {
            Some(step) => {
                step.state = StepState::Pending;
                step.started_at = Some(now);
                step.due_at = Some(now + Duration::hours(i64::from(step.spec.sla_hours)));
                false
            }
            None => {
                self.state = RequestState::Approved;
                self.closed_at = Some(now);
                true
            }
        }
    }

    /// The index of the step being asked, if the request is pending.
    pub fn current_step(&self) -> Option<usize> {
        self.steps
            .iter()
            .position(|st| st.state == StepState::Pending)
    }

    /// The seats of `step` the actor may decide now, each with whom they decide for.
    fn seats_for(&self, step: &Step, actor: &Actor) -> Vec<(usize, Option<UserId>)> {
        step.seats
            .iter()
            .enumerate()
            .filter_map(|(i, seat)| {
                if seat.user == Some(actor.id) {
                    return Some((i, None));
                }
                if let Some(role) = seat.role()
                    && role == actor.role
                {
                    return Some((i, None));
                }
                for (delegator, delegator_role) in &actor.acting_for {
                    if seat.user == Some(*delegator) || seat.role() == Some(*delegator_role) {
                        return Some((i, Some(*delegator)));
                    }
                }
                if seat.escalated_to.contains(&actor.id) {
                    return Some((i, seat.user));
                }
                None
            })
            .collect()
    }

    /// Records the actor's decision on step `index` (0-based): every undecided seat they may
    /// decide gets it. A rejection rejects the request; an approval completes the step on ANY,
    /// or on ALL once every seat approved, and then asks the next step (or approves).
    pub fn decide(
        &mut self,
        index: usize,
        actor: &Actor,
        approve: bool,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Happened>, DecideError> {
        if self.state != RequestState::Pending {
            return Err(DecideError::NotPending(self.state));
        }
        let step = self.steps.get(index).ok_or(DecideError::NoSuchStep)?;
        match step.state {
            StepState::Pending => {}
            StepState::Waiting => return Err(DecideError::StepWaiting),
            other => return Err(DecideError::StepDecided(other)),
        }
        if actor.id == self.requester {
            return Err(DecideError::OwnRequest);
        }
        let mine = self.seats_for(step, actor);
        if mine.is_empty() {
            return Err(DecideError::NotAnApprover);
        }
        let open: Vec<(usize, Option<UserId>)> = mine
            .into_iter()
            .filter(|(i, _)| step.seats[*i].decision.is_none())
            .collect();
        if open.is_empty() {
            return Err(DecideError::AlreadyDecided);
        }
        let terms = self.terms.clone();
        let amount = self.amount;
        let step = &mut self.steps[index];
        for (i, on_behalf_of) in open {
            step.seats[i].decision = Some(Decision {
                approved: approve,
                by: actor.id,
                on_behalf_of,
                comment: comment.to_string(),
                at: now,
            });
        }
        let mut happened = vec![Happened::StepDecided {
            step: index,
            approved: approve,
        }];
        if !approve {
            step.state = StepState::Rejected;
            step.decided_at = Some(now);
            self.close(RequestState::Rejected, now);
            happened.push(Happened::Rejected);
            return Ok(happened);
        }
        let complete = match step.spec.mode {
            Mode::Any => true,
            Mode::All => step
                .seats
                .iter()
                .all(|seat| seat.decision.as_ref().is_some_and(|d| d.approved)),
        };
        if complete {
            step.state = StepState::Approved;
            step.decided_at = Some(now);
            step.approved_terms = Some((terms, amount));
            if self.advance(now) {
                happened.push(Happened::Approved);
            }
        }
        Ok(happened)
    }

    /// Closes a pending request (withdrawn, superseded, rejected): steps not decided are
    /// cancelled.
    fn close(&mut self, state: RequestState, now: DateTime<Utc>) {
        for step in &mut self.steps {
            if matches!(step.state, StepState::Waiting | StepState::Pending) {
                step.state = StepState::Cancelled;
            }
        }
        self.state = state;
        self.closed_at = Some(now);
    }

    /// Withdraws a pending request.
    pub fn withdraw(&mut self, now: DateTime<Utc>) -> Result<(), RequestState> {
        if self.state != RequestState::Pending {
            return Err(self.state);
        }
        self.close(RequestState::Withdrawn, now);
        Ok(())
    }

    /// Marks the request replaced by a resubmission. A withdrawn or already superseded request
    /// cannot be resubmitted.
    pub fn supersede(&mut self, now: DateTime<Utc>) -> Result<(), RequestState> {
        match self.state {
            RequestState::Withdrawn | RequestState::Superseded => Err(self.state),
            RequestState::Pending => {
                self.close(RequestState::Superseded, now);
                Ok(())
            }
            RequestState::Approved | RequestState::Rejected => {
                self.state = RequestState::Superseded;
                Ok(())
            }
        }
    }

    /// When the current step escalates, unless it already has.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let step = &self.steps[self.current_step()?];
        match step.escalated_at {
            Some(_) => None,
            None => step.due_at,
        }
    }

    /// The current step, if it is past its due time at `now` and not yet escalated.
    pub fn overdue(&self, now: DateTime<Utc>) -> Option<usize> {
        let index = self.current_step()?;
        let step = &self.steps[index];
        (step.escalated_at.is_none() && step.due_at.is_some_and(|due| due <= now)).then_some(index)
    }

    /// Escalates step `index`: each undecided seat gains its targets (`targets[i]` for seat i:
    /// the approver's manager) as people who may decide it. Returns false (changing nothing)
    /// when the step is not overdue at `now` or already escalated, so an escalation happens
    /// once.
    pub fn escalate(&mut self, index: usize, targets: &[Vec<UserId>], now: DateTime<Utc>) -> bool {
        if self.overdue(now) != Some(index) {
            return false;
        }
        let step = &mut self.steps[index];
        step.escalated_at = Some(now);
        for (seat, targets) in step.seats.iter_mut().zip(targets) {
            for target in targets {
                if seat.decision.is_none()
                    && seat.user != Some(*target)
                    && !seat.escalated_to.contains(target)
                {
                    seat.escalated_to.push(*target);
                }
            }
        }
        true
    }

    /// Who may decide the current step now (for the approver queue): people by id and role
    /// queues, each once. Delegates are found through the delegations of these people.
    pub fn waiting_on(&self) -> (Vec<UserId>, Vec<Role>) {
        let mut users = Vec::new();
        let mut roles = Vec::new();
        if let Some(index) = self.current_step() {
            for seat in self.steps[index]
                .seats
                .iter()
                .filter(|s| s.decision.is_none())
            {
                users.extend(seat.user);
                users.extend(seat.escalated_to.iter().copied());
                roles.extend(seat.role());
            }
        }
        users.sort();
        users.dedup();
        roles.sort_by_key(|r| *r as u8);
        roles.dedup();
        (users, roles)
    }

    /// Everyone and every role queue on any step, for filtering the event stream.
    pub fn audience(&self) -> (Vec<UserId>, Vec<Role>) {
        let mut users = Vec::new();
        let mut roles = Vec::new();
        for seat in self.steps.iter().flat_map(|s| &s.seats) {
            users.extend(seat.user);
            users.extend(seat.escalated_to.iter().copied());
            roles.extend(seat.role());
        }
        users.sort();
        users.dedup();
        roles.sort_by_key(|r| *r as u8);
        roles.dedup();
        (users, roles)
    }

    /// Whether this request, approved, covers a discount of `bps` on its deal.
    pub fn covers_discount(&self, bps: u32) -> bool {
        self.state == RequestState::Approved && self.terms.discount_bps >= bps
    }
}

/// Someone above a deal's owner in the reporting tree, nearest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainMember {
    /// Who.
    pub id: UserId,
    /// Their role.
    pub role: Role,
    /// Whether they are active.
    pub active: bool,
}

/// Resolves a step's approvers against the owner's `chain` (nearest manager first): the
/// owner's manager, the nearest leader above the owner, or a role queue. The requester and
/// inactive people are skipped, so the requester never approves their own request; an
/// approver nobody can fill is returned as the error.
pub fn resolve_seats(
    chain: &[ChainMember],
    requester: UserId,
    approvers: &[Approver],
) -> Result<Vec<Seat>, Approver> {
    let usable = |m: &&ChainMember| m.id != requester && m.active;
    approvers
        .iter()
        .map(|approver| {
            let found = match approver {
                Approver::Queue(role) => return Ok(Seat::queue(*role)),
                Approver::OwnersManager => chain.iter().find(usable),
                Approver::LeaderAboveOwner => {
                    chain.iter().filter(usable).find(|m| m.role == Role::Leader)
                }
            };
            found
                .map(|m| Seat::person(*approver, m.id))
                .ok_or(*approver)
        })
        .collect()
}

/// Whether a route step needs a discount approval (for the gate's "discount covered").
pub fn is_discount_step(causes: &[Cause]) -> bool {
    causes.iter().any(|c| matches!(c, Cause::Discount { .. }))
}

/// A user's approvals handed to another for a date range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// Identifier.
    pub id: Uuid,
    /// Who delegates.
    pub delegator: UserId,
    /// Who decides for them.
    pub delegate: UserId,
    /// First day, inclusive.
    pub start: NaiveDate,
    /// Last day, inclusive.
    pub end: NaiveDate,
    /// Who created it.
    pub creator: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Delegation {
    /// Whether the delegation is in force on `day`.
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }
}

/// Longest delegation, in days.
pub const MAX_DELEGATION_DAYS: i64 = 366;

/// Checks a new delegation against those already stored: a range in order and at most
/// [`MAX_DELEGATION_DAYS`] long, not to oneself, and no day on which the delegations in force
/// would form a cycle (A to B, B to ... to A).
pub fn check_delegation(new: &Delegation, existing: &[Delegation]) -> Result<(), Violations> {
    let mut v = Violations::new();
    if new.delegate == new.delegator {
        v.add(
            "delegation.delegate",
            "must be someone other than the delegator",
        );
    }
    if new.end < new.start {
        v.add("delegation.end_date", "must be on or after the start date");
    } else if (new.end - new.start).num_days() >= MAX_DELEGATION_DAYS {
        v.add(
            "delegation.end_date",
            format!("must be at most {MAX_DELEGATION_DAYS} days after the start date"),
        );
    }
    if !v.is_empty() {
        return Err(v);
    }
    // The set of delegations in force only changes on a start day or the day after an end:
    // checking each such day inside the new range checks every day.
    let mut days: Vec<NaiveDate> = vec![new.start];
    for d in existing {
        days.push(d.start);
        if let Some(after) = d.end.succ_opt() {
            days.push(after);
        }
    }
    days.retain(|d| new.covers(*d));
    days.sort();
    days.dedup();
    for day in days {
        let in_force: Vec<&Delegation> = existing.iter().filter(|d| d.covers(day)).collect();
        // Can the new delegate reach the delegator through delegations in force that day?
        let mut frontier = vec![new.delegate];
        let mut seen = vec![new.delegate];
        while let Some(user) = frontier.pop() {
            if user == new.delegator {
                v.add(
                    "delegation.delegate",
                    format!("would close a cycle of delegations on {day}"),
                );
                return Err(v);
            }
            for d in in_force.iter().filter(|d| d.delegator == user) {
                if !seen.contains(&d.delegate) {
                    seen.push(d.delegate);
                    frontier.push(d.delegate);
                }
            }
        }
    }
    Ok(())
}

/// Turnaround of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Turnaround {
    /// Counted.
    pub count: i64,
    /// Decided: the durations are over these.
    pub decided: i64,
    /// Median seconds.
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
    /// The segment.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::approval::{DiscountTier, Policy, SizeThreshold, route};
    use crate::domain::money::Currency;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn user(n: u128) -> UserId {
        UserId(Uuid::from_u128(n))
    }

    const REP: u128 = 1;
    const MANAGER: u128 = 2;
    const VP: u128 = 3;
    const LEGAL: u128 = 4;
    const OTHER_LEGAL: u128 = 5;
    const DELEGATE: u128 = 6;

    fn step(name: &str, approvers: Vec<Approver>, mode: Mode) -> StepSpec {
        StepSpec {
            name: name.into(),
            approvers,
            mode,
            sla_hours: 24,
        }
    }

    fn usd(minor: i64) -> Money {
        Money {
            minor,
            currency: Currency::USD,
        }
    }

    fn policy(legal_mode: Mode) -> Policy {
        Policy {
            segment: Segment::MidMarket,
            tiers: vec![
                DiscountTier {
                    ceiling_bps: 1500,
                    steps: vec![],
                },
                DiscountTier {
                    ceiling_bps: 2500,
                    steps: vec![step(
                        "Sales manager",
                        vec![Approver::OwnersManager],
                        Mode::All,
                    )],
                },
                DiscountTier {
                    ceiling_bps: 10_000,
                    steps: vec![step(
                        "VP of Sales",
                        vec![Approver::LeaderAboveOwner],
                        Mode::All,
                    )],
                },
            ],
            size_thresholds: vec![SizeThreshold {
                above: usd(10_000_000),
                step: step("Finance", vec![Approver::Queue(Role::Finance)], Mode::All),
            }],
            playbook: vec!["MUTUAL_NDA".into()],
            legal_step: step(
                "Legal review",
                vec![Approver::Queue(Role::Legal), Approver::OwnersManager],
                legal_mode,
            ),
            payment_days_limit: 45,
            finance_step: step("Finance", vec![Approver::Queue(Role::Finance)], Mode::All),
        }
    }

    fn t(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, hour, 0, 0).unwrap()
    }

    fn seats_for(route: &Route) -> Vec<Vec<Seat>> {
        route
            .steps
            .iter()
            .map(|s| {
                s.step
                    .approvers
                    .iter()
                    .map(|a| match a {
                        Approver::OwnersManager => Seat::person(*a, user(MANAGER)),
                        Approver::LeaderAboveOwner => Seat::person(*a, user(VP)),
                        Approver::Queue(role) => Seat::queue(*role),
                    })
                    .collect()
            })
            .collect()
    }

    fn submit_with(
        terms: Terms,
        amount: i64,
        legal_mode: Mode,
        earlier: Option<&ApprovalRequest>,
    ) -> ApprovalRequest {
        let p = policy(legal_mode);
        let r = route(&p, Some(usd(amount)), &terms);
        let seats = seats_for(&r);
        ApprovalRequest::submit(
            Submission {
                id: Uuid::from_u128(100),
                deal_id: Uuid::from_u128(200),
                requester: user(REP),
                segment: Segment::MidMarket,
                policy_version: 1,
                terms,
                amount: Some(usd(amount)),
                now: t(9),
            },
            &r,
            seats,
            earlier,
        )
    }

    fn discount(bps: u32) -> Terms {
        Terms {
            discount_bps: bps,
            ..Terms::default()
        }
    }

    fn submit(bps: u32) -> ApprovalRequest {
        submit_with(discount(bps), 1_000_000, Mode::All, None)
    }

    fn actor(n: u128, role: Role) -> Actor {
        Actor {
            id: user(n),
            role,
            acting_for: vec![],
        }
    }

    fn states(r: &ApprovalRequest) -> Vec<StepState> {
        r.steps.iter().map(|s| s.state).collect()
    }

    #[test]
    fn a_discount_within_the_pre_approved_tier_is_approved_at_once() {
        let r = submit(1500);
        assert_eq!(r.state, RequestState::Approved);
        assert!(r.auto_approved && r.steps.is_empty());
        assert_eq!(r.closed_at, Some(t(9)));
    }

    #[test]
    fn steps_are_asked_in_order_and_the_last_approval_approves() {
        let mut r = submit(3000);
        assert_eq!(states(&r), [StepState::Pending, StepState::Waiting]);
        assert_eq!(r.steps[0].due_at, Some(t(9) + Duration::hours(24)));
        let happened = r
            .decide(0, &actor(MANAGER, Role::Manager), true, "ok", t(10))
            .unwrap();
        assert_eq!(
            happened,
            [Happened::StepDecided {
                step: 0,
                approved: true
            }]
        );
        assert_eq!(states(&r), [StepState::Approved, StepState::Pending]);
        assert_eq!(r.steps[1].started_at, Some(t(10)));
        assert_eq!(
            r.decide(1, &actor(VP, Role::Leader), true, "", t(11)),
            Ok(vec![
                Happened::StepDecided {
                    step: 1,
                    approved: true
                },
                Happened::Approved
            ])
        );
        assert_eq!(r.state, RequestState::Approved);
        assert_eq!(r.closed_at, Some(t(11)));
        assert!(!r.auto_approved);
    }

    #[test]
    fn one_rejection_rejects_the_request_and_cancels_the_rest() {
        let mut r = submit(3000);
        r.decide(0, &actor(MANAGER, Role::Manager), false, "too deep", t(10))
            .unwrap();
        assert_eq!(r.state, RequestState::Rejected);
        assert_eq!(states(&r), [StepState::Rejected, StepState::Cancelled]);
        assert_eq!(
            r.decide(1, &actor(VP, Role::Leader), true, "", t(11)),
            Err(DecideError::NotPending(RequestState::Rejected))
        );
    }

    #[test]
    fn the_requester_never_decides_even_holding_the_role() {
        let terms = Terms {
            non_standard: "Custom SLA".into(),
            ..Terms::default()
        };
        let mut r = submit_with(terms, 1_000_000, Mode::Any, None);
        // The requester holds the legal role: still refused.
        let requester_as_legal = actor(REP, Role::Legal);
        assert_eq!(
            r.decide(0, &requester_as_legal, true, "", t(10)),
            Err(DecideError::OwnRequest)
        );
        assert_eq!(r.steps[0].state, StepState::Pending);
    }

    #[test]
    fn only_the_resolved_approvers_decide_and_a_later_step_waits() {
        let mut r = submit(3000);
        assert_eq!(
            r.decide(0, &actor(VP, Role::Leader), true, "", t(10)),
            Err(DecideError::NotAnApprover)
        );
        assert_eq!(
            r.decide(1, &actor(VP, Role::Leader), true, "", t(10)),
            Err(DecideError::StepWaiting)
        );
        assert_eq!(
            r.decide(5, &actor(VP, Role::Leader), true, "", t(10)),
            Err(DecideError::NoSuchStep)
        );
        r.decide(0, &actor(MANAGER, Role::Manager), true, "", t(10))
            .unwrap();
        assert_eq!(
            r.decide(0, &actor(MANAGER, Role::Manager), true, "", t(10)),
            Err(DecideError::StepDecided(StepState::Approved))
        );
    }

    fn legal_terms() -> Terms {
        Terms {
            clauses: vec!["UNLIMITED_LIABILITY".into()],
            ..Terms::default()
        }
    }

    #[test]
    fn all_needs_every_seat_and_any_needs_one() {
        let mut all = submit_with(legal_terms(), 1_000_000, Mode::All, None);
        all.decide(0, &actor(LEGAL, Role::Legal), true, "", t(10))
            .unwrap();
        assert_eq!(all.steps[0].state, StepState::Pending);
        // Another legal user holds the same (already approved) queue seat.
        assert_eq!(
            all.decide(0, &actor(OTHER_LEGAL, Role::Legal), true, "", t(10)),
            Err(DecideError::AlreadyDecided)
        );
        all.decide(0, &actor(MANAGER, Role::Manager), true, "", t(11))
            .unwrap();
        assert_eq!(all.state, RequestState::Approved);

        let mut any = submit_with(legal_terms(), 1_000_000, Mode::Any, None);
        any.decide(0, &actor(LEGAL, Role::Legal), true, "", t(10))
            .unwrap();
        assert_eq!(any.state, RequestState::Approved);
        assert!(any.steps[0].seats[1].decision.is_none());
    }

    #[test]
    fn a_delegate_decides_for_the_delegator_and_says_so() {
        let mut r = submit(2000);
        let delegate = Actor {
            id: user(DELEGATE),
            role: Role::Rep,
            acting_for: vec![(user(MANAGER), Role::Manager)],
        };
        r.decide(0, &delegate, true, "on behalf", t(10)).unwrap();
        let decision = r.steps[0].seats[0].decision.clone().unwrap();
        assert_eq!(decision.by, user(DELEGATE));
        assert_eq!(decision.on_behalf_of, Some(user(MANAGER)));
        assert_eq!(r.state, RequestState::Approved);
    }

    #[test]
    fn escalation_happens_once_after_the_due_time() {
        let mut r = submit(2000);
        let due = t(9) + Duration::hours(24);
        assert_eq!(r.overdue(due - Duration::seconds(1)), None);
        assert!(!r.escalate(0, &[vec![user(VP)]], due - Duration::seconds(1)));
        assert_eq!(r.next_due(), Some(due));
        assert_eq!(r.overdue(due), Some(0));
        assert!(r.escalate(0, &[vec![user(VP)]], due));
        assert!(!r.escalate(0, &[vec![user(VP)]], due + Duration::hours(5)));
        assert_eq!(r.steps[0].seats[0].escalated_to, [user(VP)]);
        assert_eq!(r.steps[0].escalated_at, Some(due));
        assert_eq!(r.next_due(), None);
        // The manager it escalated to decides for the approver.
        r.decide(0, &actor(VP, Role::Leader), true, "", due)
            .unwrap();
        assert_eq!(
            r.steps[0].seats[0].decision.as_ref().unwrap().on_behalf_of,
            Some(user(MANAGER))
        );
    }

    fn approve_all(r: &mut ApprovalRequest) {
        while let Some(i) = r.current_step() {
            let seats = r.steps[i].seats.clone();
            for seat in seats {
                let who = match seat.approver {
                    Approver::OwnersManager => actor(MANAGER, Role::Manager),
                    Approver::LeaderAboveOwner => actor(VP, Role::Leader),
                    Approver::Queue(role) => actor(LEGAL, role),
                };
                if r.current_step() == Some(i) && seat.decision.is_none() {
                    let _ = r.decide(i, &who, true, "", t(12));
                }
            }
        }
    }

    #[test]
    fn resubmission_keeps_what_still_covers_and_asks_what_got_riskier() {
        let mut first = submit_with(
            Terms {
                discount_bps: 3000,
                clauses: vec!["UNLIMITED_LIABILITY".into()],
                ..Terms::default()
            },
            1_000_000,
            Mode::All,
            None,
        );
        approve_all(&mut first);
        assert_eq!(first.state, RequestState::Approved);
        // Lower discount, same clause: everything kept, approved at once.
        let lower = submit_with(
            Terms {
                discount_bps: 2800,
                clauses: vec!["UNLIMITED_LIABILITY".into()],
                ..Terms::default()
            },
            1_000_000,
            Mode::All,
            Some(&first),
        );
        assert_eq!(lower.state, RequestState::Approved);
        assert!(lower.auto_approved);
        assert_eq!(lower.resubmits, Some(first.id));
        assert!(lower.steps.iter().all(|s| s.state == StepState::Kept));
        // Higher discount and a larger deal: the discount steps and finance asked again, legal
        // kept.
        let riskier = submit_with(
            Terms {
                discount_bps: 3500,
                clauses: vec!["UNLIMITED_LIABILITY".into()],
                ..Terms::default()
            },
            20_000_000,
            Mode::All,
            Some(&first),
        );
        let summary: Vec<(&str, StepState, &str)> = riskier
            .steps
            .iter()
            .map(|s| (s.spec.name.as_str(), s.state, s.reapproval.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "Sales manager",
                    StepState::Pending,
                    "asked again: discount rose from 30.0% to 35.0%"
                ),
                (
                    "VP of Sales",
                    StepState::Waiting,
                    "asked again: discount rose from 30.0% to 35.0%"
                ),
                ("Finance", StepState::Waiting, "not approved before"),
                (
                    "Legal review",
                    StepState::Kept,
                    "kept: the earlier approval still covers this request"
                ),
            ]
        );
    }

    #[test]
    fn a_kept_step_carries_what_it_originally_approved() {
        let mut first = submit(2500);
        approve_all(&mut first);
        let second = submit_with(discount(2000), 1_000_000, Mode::All, Some(&first));
        assert_eq!(second.state, RequestState::Approved);
        // 25% was approved by the first request and kept by the second: still covered.
        let third = submit_with(discount(2500), 1_000_000, Mode::All, Some(&second));
        assert_eq!(third.state, RequestState::Approved);
        let fourth = submit_with(discount(2600), 1_000_000, Mode::All, Some(&second));
        assert_eq!(fourth.state, RequestState::Pending);
        assert_eq!(
            fourth.steps[0].reapproval,
            "asked again: discount rose from 25.0% to 26.0%"
        );
        assert_eq!(fourth.steps[1].reapproval, "not approved before");
    }

    #[test]
    fn withdraw_and_supersede_close_only_open_requests() {
        let mut r = submit(3000);
        r.withdraw(t(10)).unwrap();
        assert_eq!(r.state, RequestState::Withdrawn);
        assert_eq!(states(&r), [StepState::Cancelled, StepState::Cancelled]);
        assert_eq!(r.withdraw(t(11)), Err(RequestState::Withdrawn));
        assert_eq!(r.supersede(t(11)), Err(RequestState::Withdrawn));
        let mut approved = submit(1000);
        approved.supersede(t(11)).unwrap();
        assert_eq!(approved.state, RequestState::Superseded);
        assert_eq!(approved.closed_at, Some(t(9)));
    }

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn delegation(from: u128, to: u128, start: u32, end: u32) -> Delegation {
        Delegation {
            id: Uuid::from_u128(from * 1000 + to),
            delegator: user(from),
            delegate: user(to),
            start: date(start),
            end: date(end),
            creator: user(from),
            created_at: t(9),
        }
    }

    #[test]
    fn seats_skip_the_requester_and_inactive_people() {
        let member = |n, role, active| ChainMember {
            id: user(n),
            role,
            active,
        };
        // Owner -> manager (inactive) -> VP (the requester) -> CEO (a leader).
        let chain = [
            member(MANAGER, Role::Manager, false),
            member(VP, Role::Leader, true),
            member(7, Role::Leader, true),
        ];
        let seats = resolve_seats(
            &chain,
            user(VP),
            &[
                Approver::OwnersManager,
                Approver::LeaderAboveOwner,
                Approver::Queue(Role::Legal),
            ],
        )
        .unwrap();
        let users: Vec<Option<UserId>> = seats.iter().map(|s| s.user).collect();
        assert_eq!(users, [Some(user(7)), Some(user(7)), None]);
        assert_eq!(seats[2].role(), Some(Role::Legal));
        assert_eq!(
            resolve_seats(&chain[..2], user(VP), &[Approver::LeaderAboveOwner]),
            Err(Approver::LeaderAboveOwner)
        );
    }

    #[test]
    fn a_delegation_covers_its_first_and_last_day_only() {
        let d = delegation(1, 2, 10, 20);
        assert!(!d.covers(date(9)));
        assert!(d.covers(date(10)));
        assert!(d.covers(date(20)));
        assert!(!d.covers(date(21)));
    }

    #[test]
    fn delegations_may_not_close_a_cycle_on_any_day() {
        let existing = vec![delegation(2, 3, 10, 20), delegation(3, 1, 15, 25)];
        // 1 -> 2 -> 3 -> 1 on days 15..=20.
        let err = check_delegation(&delegation(1, 2, 1, 15), &existing).unwrap_err();
        assert_eq!(err.0[0].field, "delegation.delegate");
        assert!(err.0[0].description.contains("2026-11-15"));
        // Ending the day before the cycle would form is fine.
        assert!(check_delegation(&delegation(1, 2, 1, 14), &existing).is_ok());
        // Starting after the chain breaks (3 -> 1 starts on 15, 2 -> 3 ends on 20) is fine.
        assert!(check_delegation(&delegation(1, 2, 21, 30), &existing).is_ok());
        // Direct cycle.
        let err = check_delegation(&delegation(3, 2, 12, 12), &existing).unwrap_err();
        assert_eq!(err.0[0].field, "delegation.delegate");
    }

    #[test]
    fn a_delegation_needs_an_ordered_bounded_range_and_another_person() {
        let fields = |d: Delegation| -> Vec<String> {
            check_delegation(&d, &[])
                .unwrap_err()
                .0
                .into_iter()
                .map(|v| v.field)
                .collect()
        };
        assert_eq!(fields(delegation(1, 1, 10, 10)), ["delegation.delegate"]);
        assert_eq!(fields(delegation(1, 2, 10, 9)), ["delegation.end_date"]);
        let mut long = delegation(1, 2, 1, 1);
        long.end = long.start + Duration::days(MAX_DELEGATION_DAYS);
        assert_eq!(fields(long.clone()), ["delegation.end_date"]);
        long.end = long.start + Duration::days(MAX_DELEGATION_DAYS - 1);
        assert!(check_delegation(&long, &[]).is_ok());
    }

    #[test]
    fn quantiles_interpolate_between_ranks() {
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert_eq!(quantile(&[7.0], 0.9), 7.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[0.0, 10.0], 0.9), 9.0);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((quantile(&ten, 0.9) - 9.1).abs() < 1e-9);
    }

    #[test]
    fn metrics_count_auto_approvals_and_time_decided_work() {
        let auto = submit(1000);
        let mut decided = submit(2000);
        decided
            .decide(0, &actor(MANAGER, Role::Manager), true, "", t(13))
            .unwrap();
        let open = submit(2000);
        let m = metrics(&[auto, decided, open]);
        assert_eq!(m.count, 3);
        assert!((m.auto_approved_share - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.requests.count, 2);
        assert_eq!(m.requests.decided, 1);
        assert_eq!(m.requests.median_seconds, 4.0 * 3600.0);
        assert_eq!(m.steps.count, 2);
        assert_eq!(m.steps.decided, 1);
        assert_eq!(m.approvers.len(), 1);
        assert_eq!(m.approvers[0].0, Approver::OwnersManager);
        assert_eq!(m.segments.len(), 1);
        assert_eq!(m.segments[0].count, 3);
    }

    proptest! {
        /// Whatever the order of decisions by whoever, a request never has two decisions from
        /// one person on a seat, never lets the requester decide, and once closed stays closed.
        #[test]
        fn decisions_never_break_the_invariants(
            moves in proptest::collection::vec((0usize..3, 0u128..7, any::<bool>()), 0..20),
            bps in 0u32..10_000,
            any_mode in any::<bool>(),
        ) {
            let mode = if any_mode { Mode::Any } else { Mode::All };
            let mut r = submit_with(
                Terms { discount_bps: bps, ..legal_terms() },
                1_000_000,
                mode,
                None,
            );
            let roles = [Role::Rep, Role::Rep, Role::Manager, Role::Leader, Role::Legal, Role::Legal, Role::Rep];
            for (step, who, approve) in moves {
                let before = r.clone();
                let result = r.decide(step, &actor(who, roles[who as usize]), approve, "", t(12));
                if result.is_err() {
                    prop_assert_eq!(&r, &before);
                }
                if before.state != RequestState::Pending {
                    prop_assert!(result.is_err());
                }
            }
            for seat in r.steps.iter().flat_map(|s| &s.seats) {
                if let Some(d) = &seat.decision {
                    prop_assert_ne!(d.by, user(REP));
                }
            }
            let pending = r.steps.iter().filter(|s| s.state == StepState::Pending).count();
            prop_assert_eq!(pending, usize::from(r.state == RequestState::Pending));
            if r.state == RequestState::Approved {
                prop_assert!(r.steps.iter().all(|s| s.state == StepState::Approved));
            }
        }
    }
}
