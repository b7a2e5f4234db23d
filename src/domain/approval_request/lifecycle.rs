//! How a request moves through its route: submission (with smart re-approval of a resubmission),
//! decisions on seats (ALL or ANY, one rejection ends it), withdrawal and supersession, and
//! escalation past a step's SLA.

use chrono::{DateTime, Duration, Utc};

use super::{
    Actor, ApprovalRequest, DecideError, Decision, Happened, RequestState, Seat, Step, StepState,
    Submission,
};
use crate::domain::approval::{Approved, Mode, Route, reapprove};
use crate::domain::directory::{Role, UserId};

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
