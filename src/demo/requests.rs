//! The demo's deal-desk requests: one in every state, then a history of decided requests over
//! the past weeks, each submitted and decided at past instants (through the application's
//! clock) spread over hours and days, so turnaround metrics read like a real desk's.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use crate::app::approvals::StepDecision;
use crate::app::ports::{Created, Store};
use crate::app::{App, AppError, AppResult, Clock, Principal};
use crate::domain::approval::Terms;
use crate::domain::approval_request::ApprovalRequest;
use crate::domain::deal::{Deal, DealStatus};
use crate::domain::directory::{User, UserId};
use crate::domain::ids::{ApprovalRequestId, DealId};
use crate::domain::random::Rng;

/// How many decided requests the history holds besides the one of each state.
const HISTORY_REQUESTS: usize = 24;

/// Where the demo's story stands in time: each action runs at `at`, which only moves forward
/// and stays before `now`.
struct Timeline {
    rng: Rng,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Timeline {
    /// The application reading `at` as the time.
    fn app<S: Store>(&self, app: &App<S>) -> App<S> {
        app.clone().with_clock(Clock::starting_at(self.at))
    }

    /// Starts a request's story `days_ago` days before now (but after the deal's creation).
    fn start(&mut self, deal: &Deal, days_ago: f64) {
        let back = Duration::minutes((days_ago * 24.0 * 60.0) as i64);
        self.at = (self.now - back).max(deal.created_at + Duration::hours(1));
    }

    /// Lets between `min` and `max` hours pass (never up to now).
    fn wait(&mut self, min: f64, max: f64) {
        let hours = min + self.rng.unit() * (max - min);
        let later = self.at + Duration::minutes((hours * 60.0) as i64);
        self.at = later.min(self.now - Duration::minutes(5));
    }
}

/// Deal-desk requests in every state on open demo deals: approved at once, pending, approved by
/// people, rejected, withdrawn, and one superseded by a resubmission the earlier approval still
/// covers; then [`HISTORY_REQUESTS`] decided over the past eight weeks. Returns the deals they
/// were made on.
pub(super) async fn demo_requests<S: Store>(
    app: &App<S>,
    seed: u64,
    people: &[User],
    deals: &[Deal],
) -> AppResult<HashSet<DealId>> {
    let by_id = |id: UserId| people.iter().find(|u| u.id == id);
    let mut open = deals
        .iter()
        .filter(|d| d.status == DealStatus::Open && d.fields.amount.is_some())
        .filter(|d| by_id(d.fields.owner_id).is_some());
    let mut time = Timeline {
        rng: Rng::new(seed ^ 0xDE5C),
        at: app.now(),
        now: app.now(),
    };
    let mut used = HashSet::new();
    for state in 0..7 {
        let Some(deal) = open.next() else {
            return Ok(used);
        };
        used.insert(deal.id);
        one_of_each(app, &mut time, people, deal, state).await?;
    }
    for n in 0..HISTORY_REQUESTS {
        let Some(deal) = open.next() else {
            break;
        };
        used.insert(deal.id);
        time.start(deal, 3.0 + 53.0 * n as f64 / HISTORY_REQUESTS as f64);
        let bps = 1600 + 100 * time.rng.below(20) as u32;
        let request = submit_as_owner(&time.app(app), people, deal, discount(bps), None).await?;
        if time.rng.chance(0.2) {
            time.wait(2.0, 30.0);
            decide_current(app, &time, people, request.id, false).await?;
        } else {
            approve_through(app, &mut time, people, request.id).await?;
        }
    }
    Ok(used)
}

fn discount(bps: u32) -> Terms {
    Terms {
        discount_bps: bps,
        ..Terms::default()
    }
}

/// The request of state number `state` on `deal`: approved at once, pending at its first step,
/// pending at legal, approved by people, rejected by the owner's manager, withdrawn, then
/// approved and resubmitted lower (superseded, the new one keeping the earlier approvals).
async fn one_of_each<S: Store>(
    app: &App<S>,
    time: &mut Timeline,
    people: &[User],
    deal: &Deal,
    state: usize,
) -> AppResult<()> {
    // The pending ones (0 is approved at once) submitted a few hours ago, within their SLA;
    // the decided ones days ago.
    let hours_ago = 2.0 + 4.0 * time.rng.unit();
    let days_ago = if state <= 2 {
        hours_ago / 24.0
    } else {
        2.0 + state as f64
    };
    time.start(deal, days_ago);
    let at = time.app(app);
    match state {
        0 => {
            submit_as_owner(&at, people, deal, discount(500), None).await?;
        }
        1 => {
            submit_as_owner(&at, people, deal, discount(2200), None).await?;
        }
        2 => {
            let terms = Terms {
                clauses: vec!["UNLIMITED_LIABILITY".into()],
                non_standard: "Source code escrow with a named agent".into(),
                ..Terms::default()
            };
            submit_as_owner(&at, people, deal, terms, None).await?;
        }
        3 => {
            let request = submit_as_owner(&at, people, deal, discount(2800), None).await?;
            approve_through(app, time, people, request.id).await?;
        }
        4 => {
            let request = submit_as_owner(&at, people, deal, discount(3500), None).await?;
            time.wait(3.0, 20.0);
            decide_current(app, time, people, request.id, false).await?;
        }
        5 => {
            let request = submit_as_owner(&at, people, deal, discount(2500), None).await?;
            time.wait(1.0, 6.0);
            let owner = by_owner(people, deal)?;
            time.app(app)
                .withdraw_request(&principal(owner), request.id, None, |_| Vec::new())
                .await?;
        }
        _ => {
            let first = submit_as_owner(&at, people, deal, discount(3000), None).await?;
            approve_through(app, time, people, first.id).await?;
            time.wait(4.0, 30.0);
            let at = time.app(app);
            submit_as_owner(&at, people, deal, discount(2700), Some(first.id)).await?;
        }
    }
    Ok(())
}

fn principal(user: &User) -> Principal {
    Principal { user: user.clone() }
}

/// The deal's owner among `people`.
fn by_owner<'p>(people: &'p [User], deal: &Deal) -> AppResult<&'p User> {
    people
        .iter()
        .find(|u| u.id == deal.fields.owner_id)
        .ok_or_else(|| AppError::Storage("a demo deal's owner is not a demo person".into()))
}

/// Who decides `seat`s of a step: its person, or the first holder of its role queue.
fn approvers_of<'p>(people: &'p [User], request: &ApprovalRequest, step: usize) -> Vec<&'p User> {
    request.steps[step]
        .seats
        .iter()
        .filter_map(|seat| match (seat.user, seat.role()) {
            (Some(user), _) => people.iter().find(|u| u.id == user),
            (None, Some(role)) => people.iter().find(|u| u.profile.role == role),
            (None, None) => None,
        })
        .collect()
}

/// Decides the current step of a request as its first approver, at the timeline's time.
async fn decide_current<S: Store>(
    app: &App<S>,
    time: &Timeline,
    people: &[User],
    id: ApprovalRequestId,
    approve: bool,
) -> AppResult<()> {
    let Some((request, _)) = app.store.get_request(id).await? else {
        return Ok(());
    };
    let Some(step) = request.current_step() else {
        return Ok(());
    };
    if let Some(approver) = approvers_of(people, &request, step).first() {
        let comment = if approve {
            "approved (demo)"
        } else {
            "Too deep for this quarter; try 25%"
        };
        let decision = StepDecision {
            step,
            approve,
            comment,
        };
        time.app(app)
            .decide_step(&principal(approver), id, decision, None, |_| Vec::new())
            .await?;
    }
    Ok(())
}

/// Approves the current step of a request as each of its approvers, until it closes, each
/// decision a few working hours to a day and a half after the one before.
async fn approve_through<S: Store>(
    app: &App<S>,
    time: &mut Timeline,
    people: &[User],
    id: ApprovalRequestId,
) -> AppResult<()> {
    for _ in 0..10 {
        let Some((request, _)) = app.store.get_request(id).await? else {
            return Ok(());
        };
        let Some(step) = request.current_step() else {
            return Ok(());
        };
        for approver in approvers_of(people, &request, step) {
            time.wait(1.0, 36.0);
            let decision = StepDecision {
                step,
                approve: true,
                comment: "approved (demo)",
            };
            // A seat another decision already closed (ANY steps) refuses: nothing to do.
            let _ = time
                .app(app)
                .decide_step(&principal(approver), id, decision, None, |_| Vec::new())
                .await;
        }
    }
    Ok(())
}

/// Submits `terms` on `deal` as its owner (one of `people`).
async fn submit_as_owner<S: Store>(
    app: &App<S>,
    people: &[User],
    deal: &Deal,
    terms: Terms,
    resubmits: Option<ApprovalRequestId>,
) -> AppResult<ApprovalRequest> {
    let owner = by_owner(people, deal)?;
    match app
        .submit_request(&principal(owner), deal.id, terms, resubmits, None, |_| {
            Vec::new()
        })
        .await?
    {
        Created::New(request) => Ok(request),
        Created::Replayed(_) => Err(AppError::Storage("demo request replayed".into())),
    }
}
