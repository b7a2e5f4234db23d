//! One deal's simulated journey: the buyer's steps through the stages and the rep's view of
//! them. The buyer takes time in each stage (slower in larger segments, for larger deals and
//! for colder lead sources; some small inbound buyers have decided before they call) and may be
//! lost at each stage's end, more often when the deal is large, old or pushed. The rep names a
//! close date from an optimistic sense of the pace and pushes it when it comes near (or has
//! passed; now and then only weeks later, the deal overdue meanwhile, and then often gives it
//! up), re-scopes the amount now and then, and gives a discount at signing.
//!
//! Nothing here is a rate per stage: in-period win rates, slips and cycle lengths are what this
//! process produces, so a model that learns them is not judged against its own formula.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};

use crate::domain::deal::{ForecastCategory, HistoryDirection, LeadSource};
use crate::domain::pipeline::Segment;
use crate::domain::random::Rng;

/// How a segment buys.
#[derive(Debug, Clone, Copy)]
pub(super) struct Profile {
    /// The smallest amount, in dollars.
    pub low: i64,
    /// The largest amount, in dollars.
    pub high: i64,
    /// Median days the smallest deal's buyer spends in a stage (the largest take twice as
    /// long).
    pub stage_days: f64,
    /// The chance to be lost at a stage's end for the smallest deal with an average fit.
    pub base_loss: f64,
    /// What the largest deal adds to that chance.
    pub size_loss: f64,
    /// The share of the smallest inbound deals whose buyer has decided before the first call.
    pub fast_share: f64,
    /// The chance that a won deal signs below its pipeline amount.
    pub discount_chance: f64,
}

/// Enterprise is slow, large and haggled over; SMB fast, small and often bought outright.
pub(super) fn profile(segment: Segment) -> Profile {
    match segment {
        Segment::Smb => Profile {
            low: 4_000,
            high: 30_000,
            stage_days: 8.0,
            base_loss: 0.19,
            size_loss: 0.20,
            fast_share: 0.35,
            discount_chance: 0.35,
        },
        Segment::MidMarket => Profile {
            low: 25_000,
            high: 160_000,
            stage_days: 15.0,
            base_loss: 0.16,
            size_loss: 0.16,
            fast_share: 0.12,
            discount_chance: 0.5,
        },
        Segment::Enterprise => Profile {
            low: 120_000,
            high: 1_500_000,
            stage_days: 26.0,
            base_loss: 0.14,
            size_loss: 0.13,
            fast_share: 0.0,
            discount_chance: 0.7,
        },
    }
}

/// How much longer than usual a buyer from this source takes per stage.
pub(super) fn source_speed(source: LeadSource) -> f64 {
    match source {
        LeadSource::Inbound => 0.8,
        LeadSource::Outbound => 1.3,
        LeadSource::Referral => 0.7,
        LeadSource::Partner => 1.0,
        LeadSource::Event => 1.1,
        LeadSource::Expansion => 0.6,
    }
}

/// How much less often a buyer from this source is lost at a stage's end.
fn source_lift(source: LeadSource) -> f64 {
    match source {
        LeadSource::Inbound => 0.03,
        LeadSource::Outbound => -0.06,
        LeadSource::Referral => 0.07,
        LeadSource::Partner => 0.02,
        LeadSource::Event => -0.03,
        LeadSource::Expansion => 0.09,
    }
}

/// How likely a buyer from this source came already decided (they came to us).
fn source_readiness(source: LeadSource) -> f64 {
    match source {
        LeadSource::Inbound | LeadSource::Expansion => 1.0,
        LeadSource::Referral => 0.5,
        _ => 0.0,
    }
}

/// What the journey needs to know of the deal.
#[derive(Debug, Clone, Copy)]
pub(super) struct Buyer {
    /// When the deal was created.
    pub created: DateTime<Utc>,
    /// How many open stages its pipeline has.
    pub stages: usize,
    /// Its segment's profile.
    pub profile: Profile,
    /// Its lead source.
    pub source: LeadSource,
    /// Its amount at creation, in minor units.
    pub amount: i64,
    /// Where the amount sits in the segment's range: 0 the smallest, 1 the largest.
    pub size: f64,
}

/// The tracked fields the journey moves. `stage` indexes the open stages; `stages` means won,
/// `stages + 1` lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tracked {
    pub stage: usize,
    /// The amount in minor units.
    pub amount: i64,
    /// The rep's close date (the booking date once closed).
    pub close_date: NaiveDate,
    /// The forecast category.
    pub category: ForecastCategory,
}

/// One change after creation. The changes of one instant come in the order their field
/// history rows are written (amount, close date, category, stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// The amount changed.
    Amount {
        at: DateTime<Utc>,
        old: i64,
        new: i64,
    },
    /// The close date changed: a push while open, the booking date at a close.
    CloseDate {
        at: DateTime<Utc>,
        old: NaiveDate,
        new: NaiveDate,
    },
    /// The forecast category changed.
    Category {
        at: DateTime<Utc>,
        old: ForecastCategory,
        new: ForecastCategory,
    },
    /// The deal moved or closed.
    Stage {
        at: DateTime<Utc>,
        from: usize,
        to: usize,
        direction: HistoryDirection,
    },
}

/// How the journey went: the deal at creation and at the end, and the changes between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Journey {
    /// The tracked fields at creation.
    pub first: Tracked,
    /// The tracked fields at the end (at `now` for an open deal).
    pub last: Tracked,
    /// When it closed, if it did.
    pub closed_at: Option<DateTime<Utc>>,
    /// Lost when the rep gave up at a close date rather than at a buyer's step.
    pub gave_up: bool,
    /// When it entered its last stage.
    pub stage_entered_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Journey {
    /// Whether it closed before `now`.
    pub fn closed(&self) -> bool {
        self.closed_at.is_some()
    }
}

/// The buyer's pace and the rep's sense of it.
struct Pace {
    /// Median days the buyer spends in a stage.
    buyer_days: f64,
    /// Days the rep expects per stage left; grows toward the truth with each push.
    rep_days: f64,
    /// The buyer's whole expected cycle, in days: age is measured against it.
    cycle_days: f64,
}

/// The journey under way: the deal as it stands and the changes so far.
struct Walk<'a> {
    buyer: &'a Buyer,
    pace: Pace,
    /// How well the product fits the buyer: the same through the journey.
    fit: f64,
    /// The deal's tracked fields as they stand.
    deal: Tracked,
    /// The last change (or the creation).
    at: DateTime<Utc>,
    /// When the deal entered its stage.
    entered: DateTime<Utc>,
    pushes: u32,
    /// Whether the rep has called the deal's category on reaching the late stages.
    called_late: bool,
    /// Whether the buyer went quiet for weeks in this stage: they come back less often.
    quiet: bool,
    steps: &'a mut Vec<Step>,
}

/// Simulates `buyer`'s journey up to `now`, writing its changes to `steps` (cleared first).
/// Three clocks run: the buyer's next step, the rep's next look at the close date, and (for
/// some deals) a re-scoping of the amount; whichever comes first happens.
pub(super) fn simulate(
    buyer: &Buyer,
    now: DateTime<Utc>,
    rng: &mut Rng,
    steps: &mut Vec<Step>,
) -> Journey {
    steps.clear();
    let mut walk = Walk::start(buyer, rng, steps);
    let first = walk.deal;
    let mut stage_end = walk.at + span(walk.stage_days(rng));
    let mut push_at = push_due(first.close_date, walk.at, rng);
    let mut rescope_at = rng
        .chance(0.2)
        .then(|| walk.at + span(walk.pace.cycle_days * rng.unit()));
    let (closed_at, gave_up) = loop {
        let rescope = rescope_at.filter(|r| *r <= stage_end && *r <= push_at);
        let next = rescope.unwrap_or(stage_end.min(push_at));
        // Open at `now` as the rep left it: a close date that passed since their last look
        // stays passed (the deal is overdue until they look again).
        if next > now {
            break (None, false);
        }
        walk.at = next;
        if rescope.is_some() {
            walk.rescope(rng);
            rescope_at = None;
        } else if push_at < stage_end {
            // The rep's date came before the buyer's step: push it, or give up on the deal.
            let age = walk.age();
            let overdue = (next.date_naive() - walk.deal.close_date).num_days();
            if rng.chance(give_up_chance(walk.pushes, age, overdue)) {
                walk.close(false, rng);
                break (Some(next), true);
            }
            walk.push(next.date_naive(), rng);
            push_at = push_due(walk.deal.close_date, next, rng);
        } else {
            let pushes = walk.pushes;
            if walk.buyer_step(rng) {
                break (Some(next), false);
            }
            if walk.pushes != pushes {
                push_at = push_due(walk.deal.close_date, next, rng);
            }
            stage_end = next + span(walk.stage_days(rng));
        }
    };
    Journey {
        first,
        last: walk.deal,
        closed_at,
        gave_up,
        stage_entered_at: walk.entered,
        updated_at: walk.steps.last().map_or(buyer.created, Step::at),
    }
}

impl<'a> Walk<'a> {
    /// The deal at creation: the buyer's pace, and the rep's close date from a hopeful sense
    /// of it (they know the segment, the source and a buyer in a hurry, but only half of how
    /// size slows a buyer down).
    fn start(buyer: &'a Buyer, rng: &mut Rng, steps: &'a mut Vec<Step>) -> Walk<'a> {
        let p = buyer.profile;
        let ready = p.fast_share * source_readiness(buyer.source) * (1.0 - buyer.size);
        let hurry = if rng.chance(ready) { 0.15 } else { 1.0 };
        let base = p.stage_days * source_speed(buyer.source) * hurry;
        let pace = Pace {
            buyer_days: base * (1.0 + buyer.size),
            rep_days: base * (1.0 + 0.5 * buyer.size) * (0.8 + 0.6 * rng.unit()),
            cycle_days: base * (1.0 + buyer.size) * buyer.stages as f64,
        };
        let fit = rng.unit();
        let deal = Tracked {
            stage: 0,
            amount: buyer.amount,
            close_date: buyer.created.date_naive() + days(estimate(&pace, buyer.stages, rng)),
            category: rng.weighted(&[
                (ForecastCategory::Pipeline, 85),
                (ForecastCategory::BestCase, 12),
                (ForecastCategory::Omitted, 3),
            ]),
        };
        Walk {
            buyer,
            pace,
            fit,
            deal,
            at: buyer.created,
            entered: buyer.created,
            pushes: 0,
            called_late: false,
            quiet: false,
            steps,
        }
    }

    /// Days the buyer spends in the stage they enter: log-normally spread around their pace, and
    /// now and then much longer, when they go quiet for weeks (a reorganisation, a budget
    /// freeze).
    fn stage_days(&mut self, rng: &mut Rng) -> f64 {
        let days = lognormal(self.pace.buyer_days, rng);
        self.quiet = rng.chance(0.12);
        match self.quiet {
            true => days + lognormal(45.0, rng),
            false => days,
        }
    }

    /// The buyer's age now as a share of the cycle expected of them.
    fn age(&self) -> f64 {
        (self.at - self.buyer.created).num_minutes() as f64 / (self.pace.cycle_days * 1440.0)
    }

    /// The buyer finishes the stage: back a stage now and then, lost, won at the last stage,
    /// or forward. True when the deal closed.
    fn buyer_step(&mut self, rng: &mut Rng) -> bool {
        let quiet = if self.quiet { 0.25 } else { 0.0 };
        let loss = (loss_chance(self.buyer, self.fit, self.pushes, self.age()) + quiet).min(0.9);
        self.entered = self.at;
        if self.deal.stage > 0 && rng.chance(0.05) {
            self.move_to(self.deal.stage - 1, HistoryDirection::Backward);
            false
        } else if rng.chance(loss) {
            self.close(false, rng);
            true
        } else if self.deal.stage + 1 == self.buyer.stages {
            self.close(true, rng);
            true
        } else {
            // Leaving forward asks for a close date not yet past: the rep fixes it then.
            if self.deal.close_date < self.at.date_naive() {
                self.push(self.at.date_naive(), rng);
            }
            if self.deal.stage + 3 >= self.buyer.stages && !self.called_late {
                // Reaching the late stages, the rep calls the deal.
                self.called_late = true;
                let call = rng.weighted(&[
                    (ForecastCategory::Commit, 40),
                    (ForecastCategory::BestCase, 40),
                    (ForecastCategory::Pipeline, 15),
                    (ForecastCategory::Omitted, 5),
                ]);
                self.set_category(call);
            }
            self.move_to(self.deal.stage + 1, HistoryDirection::Forward);
            false
        }
    }

    /// The rep moves the close date to their new estimate of the stages left: never less than
    /// five days on, nor before `floor`, often the end of that month. Each push teaches them
    /// a little of the buyer's real pace.
    fn push(&mut self, floor: NaiveDate, rng: &mut Rng) {
        let left = self.buyer.stages.saturating_sub(self.deal.stage).max(1);
        let guess = self.at.date_naive() + days(estimate(&self.pace, left, rng).max(5));
        let mut new = guess.max(self.deal.close_date + days(5)).max(floor);
        if rng.chance(0.35) {
            new = month_end(new);
        }
        self.set_close_date(new);
        self.pushes += 1;
        self.pace.rep_days += (self.pace.buyer_days - self.pace.rep_days).max(0.0) * 0.3;
    }

    /// The amount is re-scoped: more often cut than grown, in whole hundreds.
    fn rescope(&mut self, rng: &mut Rng) {
        let factor = if rng.chance(0.6) {
            0.6 + 0.35 * rng.unit()
        } else {
            1.05 + 0.45 * rng.unit()
        };
        let new =
            (((self.deal.amount as f64 * factor) / 10_000.0).round() as i64 * 10_000).max(10_000);
        self.set_amount(new);
    }

    /// Closes the deal: a won deal books its amount less any discount given at signing (larger
    /// deals are haggled over harder); either way the close date becomes the day it closed.
    fn close(&mut self, won: bool, rng: &mut Rng) {
        if won && rng.chance(self.buyer.profile.discount_chance) {
            let bps = 200 + rng.below(600 + (1200.0 * self.buyer.size) as usize) as i64;
            self.set_amount((self.deal.amount * (10_000 - bps) / 10_000 / 100 * 100).max(100));
        }
        self.set_close_date(self.at.date_naive());
        self.set_category(ForecastCategory::Closed);
        let to = self.buyer.stages + usize::from(!won);
        self.move_to(to, HistoryDirection::Close);
    }

    fn set_amount(&mut self, new: i64) {
        let (at, old) = (self.at, self.deal.amount);
        if old != new {
            self.steps.push(Step::Amount { at, old, new });
            self.deal.amount = new;
        }
    }

    fn set_close_date(&mut self, new: NaiveDate) {
        let (at, old) = (self.at, self.deal.close_date);
        if old != new {
            self.steps.push(Step::CloseDate { at, old, new });
            self.deal.close_date = new;
        }
    }

    fn set_category(&mut self, new: ForecastCategory) {
        let (at, old) = (self.at, self.deal.category);
        if old != new {
            self.steps.push(Step::Category { at, old, new });
            self.deal.category = new;
        }
    }

    fn move_to(&mut self, to: usize, direction: HistoryDirection) {
        let (at, from) = (self.at, self.deal.stage);
        self.steps.push(Step::Stage {
            at,
            from,
            to,
            direction,
        });
        self.deal.stage = to;
    }
}

impl Step {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match *self {
            Step::Amount { at, .. }
            | Step::CloseDate { at, .. }
            | Step::Category { at, .. }
            | Step::Stage { at, .. } => at,
        }
    }
}

/// The chance to be lost at a stage's end: higher for larger deals, poorer fits, colder
/// sources, deals older than their cycle, and deals already pushed.
fn loss_chance(buyer: &Buyer, fit: f64, pushes: u32, age: f64) -> f64 {
    let p = buyer.profile;
    (p.base_loss + p.size_loss * buyer.size + 0.2 * (0.5 - fit) - source_lift(buyer.source)
        + 0.12 * (age - 1.0).clamp(0.0, 3.0)
        + 0.03 * f64::from(pushes))
    .clamp(0.02, 0.9)
}

/// The chance that the rep, facing a close date that has come (`overdue` days ago), closes the
/// deal lost instead: a deal left overdue for months is often cleaned up when it is looked at.
fn give_up_chance(pushes: u32, age: f64, overdue: i64) -> f64 {
    let neglected = 0.3 * (overdue as f64 / 90.0).clamp(0.0, 1.0);
    (0.04 + 0.04 * f64::from(pushes) + 0.1 * (age - 1.0).clamp(0.0, 3.0) + neglected).min(0.6)
}

/// Days the rep expects the `stages_left` to take.
fn estimate(pace: &Pace, stages_left: usize, rng: &mut Rng) -> i64 {
    (pace.rep_days * stages_left as f64 * (0.7 + 0.6 * rng.unit())).ceil() as i64 + 1
}

/// When the rep looks at `close_date` again: most in the days before it, many only after it
/// has passed, and some not for weeks or months (the deal sits overdue in the CRM until the
/// buyer moves or the rep looks); never within a day of the last change.
fn push_due(close_date: NaiveDate, after: DateTime<Utc>, rng: &mut Rng) -> DateTime<Utc> {
    let day = close_date.and_time(NaiveTime::MIN).and_utc();
    let minutes = match rng.unit() {
        u if u < 0.2 => (1440.0 * (10.0 + lognormal(30.0, rng))) as i64,
        u if u < 0.52 => 1440 * (1 + rng.below(10) as i64) + rng.below(1440) as i64,
        _ => rng.below(3 * 1440) as i64 - 2 * 1440,
    };
    (day + Duration::minutes(minutes)).max(after + Duration::days(1))
}

/// Log-normally spread around `median` days (a few long waits, no negative ones).
fn lognormal(median: f64, rng: &mut Rng) -> f64 {
    let (u, v) = (1.0 - rng.unit(), rng.unit());
    let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
    median * (0.6 * normal).exp()
}

/// `days` as a duration of at least an hour.
fn span(days: f64) -> Duration {
    Duration::minutes((days * 1440.0).max(60.0) as i64)
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// The last day of `date`'s month.
fn month_end(date: NaiveDate) -> NaiveDate {
    let (y, m) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .unwrap_or(date)
}
