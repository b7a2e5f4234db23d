//! A deterministic book of business, generated from a seed: deals with years of stage history
//! and field history, simulated the way real pipelines behave rather than drawn from the rates
//! a forecast would learn (see [`journey`]): reps name optimistic close dates and push them,
//! some more than once and often out of the period, and leave some overdue for weeks (at `now`
//! too: an open deal is dated as its rep left it); larger, older and pushed deals are lost more
//! often; enterprise buyers are slow and SMB buyers fast, some created and won within a month;
//! amounts are re-scoped, and won deals often sign at a discount.
//!
//! Pure: it returns domain values and writes nothing, so the demo and the benchmarks store them
//! in bulk at whatever size they need. The same seed, people, pipelines and `now` always give
//! the same book. The field history agrees with the stage history: the deal rebuilt as of any
//! stage change has the stage, amount and close date that change recorded. Every stage a deal
//! left forward has its exit criteria met by the deal's fields, so the history is one the gates
//! could have produced. Some open deals carry a discount, and [`approval_requests`] gives those
//! that need one an approval request in any of its states, decided by the people the policy
//! routes to.

mod desk;
mod evidence;
mod journey;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use uuid::Uuid;

pub use desk::{DeskPeople, approval_requests};

use crate::domain::deal::{
    Bant, Deal, DealFields, DealStatus, HistoryDirection, LeadSource, StageHistoryEntry,
};
use crate::domain::deal_history::{FieldHistoryEntry, FieldValue, TrackedField};
use crate::domain::directory::UserId;
use crate::domain::ids::DealId;
use crate::domain::money::{Currency, Money};
use crate::domain::pipeline::{Pipeline, Stage, StageKind};
use crate::domain::random::Rng;
use crate::domain::text::{AccountName, DisplayName};
use evidence::{ACCOUNTS, LOSS_REASONS, PRODUCTS, SUFFIXES, satisfy};
use journey::{Buyer, Journey, Step};

/// What to generate.
#[derive(Debug, Clone)]
pub struct BookSpec {
    /// Seed of the random sequence.
    pub seed: u64,
    /// How many deals.
    pub deals: usize,
    /// How many of them are still open at `now`; `None`: as many as the simulated journeys
    /// leave open (about 9%). Journeys that would overfill either side are dropped, so the
    /// open deals keep the ages and stages they naturally have.
    pub open: Option<usize>,
    /// Deals are created over this many days before `now`.
    pub history_days: i64,
    /// The present: nothing happens after it; open deals' close dates are not before its date.
    pub now: DateTime<Utc>,
}

/// The generated deals and their histories.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub deals: Vec<Deal>,
    /// Every stage change of every deal, oldest first.
    pub history: Vec<StageHistoryEntry>,
    /// Every change of every deal's tracked fields after its creation (close-date pushes,
    /// re-scoped amounts, categories, stage moves, closes), oldest first, without actor; a
    /// deal's rows of one instant in the order a write records them.
    pub field_history: Vec<FieldHistoryEntry>,
}

/// A pipeline's stages as the journey indexes them: its open stages in order, then won, then
/// lost.
struct Lane<'p> {
    pipeline: &'p Pipeline,
    open: Vec<&'p Stage>,
    won: &'p Stage,
    lost: &'p Stage,
}

impl<'p> Lane<'p> {
    /// `None` for a pipeline a deal cannot go through (no open, won or lost stage).
    fn of(pipeline: &'p Pipeline) -> Option<Lane<'p>> {
        let stages = &pipeline.spec.stages;
        let kind = |k| stages.iter().find(|s| s.kind == k);
        let open: Vec<_> = stages
            .iter()
            .filter(|s| s.kind == StageKind::Open)
            .collect();
        Some(Lane {
            pipeline,
            won: kind(StageKind::Won)?,
            lost: kind(StageKind::Lost)?,
            open: (!open.is_empty()).then_some(open)?,
        })
    }

    /// The stage at journey index `index`.
    fn stage(&self, index: usize) -> &'p Stage {
        match index.checked_sub(self.open.len()) {
            None => self.open[index],
            Some(0) => self.won,
            Some(_) => self.lost,
        }
    }

    fn stage_id(&self, index: usize) -> String {
        self.stage(index).stage_id.clone()
    }
}

/// A deal's draws before its journey: who, what, how much, when.
struct Draft {
    id: DealId,
    owner: UserId,
    source: LeadSource,
    amount: Money,
    account: (usize, usize),
    product: usize,
    buyer: Buyer,
}

/// Generates the book for `pipelines` and `owners` (reps who own deals).
pub fn generate(spec: &BookSpec, pipelines: &[Pipeline], owners: &[UserId]) -> Book {
    let mut rng = Rng::new(spec.seed);
    let mut book = Book::default();
    if pipelines.is_empty() || owners.is_empty() {
        return book;
    }
    // Microseconds: the precision every engine stores.
    let now = spec.now.trunc_subsecs(6);
    let lanes: Vec<Option<Lane>> = pipelines.iter().map(Lane::of).collect();
    let open_wanted = spec.open.unwrap_or(usize::MAX).min(spec.deals);
    let closed_wanted = match spec.open {
        Some(open) => spec.deals.saturating_sub(open),
        None => usize::MAX,
    };
    let (mut open_made, mut closed_made) = (0, 0);
    let mut steps = Vec::new();
    // Open journeys are about 9% of all; the bound only stops a spec that cannot be met (a
    // history too short to close deals, say) from looping for ever.
    let attempts = spec.deals.saturating_mul(200);
    for n in 0..attempts {
        if book.deals.len() == spec.deals {
            break;
        }
        let pick = rng.weighted(&[(0usize, 45), (1, 35), (2, 20)]) % lanes.len();
        let Some(lane) = &lanes[pick] else {
            continue;
        };
        let draft = draft(&mut rng, lane, spec, now, owners, n);
        let journey = journey::simulate(&draft.buyer, now, &mut rng, &mut steps);
        let (made, wanted) = if journey.closed() {
            (&mut closed_made, closed_wanted)
        } else {
            (&mut open_made, open_wanted)
        };
        if *made == wanted {
            continue;
        }
        *made += 1;
        record(&mut book, lane, &draft, &journey, &steps);
        let deal = deal(&mut rng, lane, draft, &journey, &steps);
        book.deals.push(deal);
    }
    // Stable: a deal's rows of one instant keep their order.
    book.history.sort_by_key(|h| h.at);
    book.field_history.sort_by_key(|h| h.at);
    book
}

/// Draws a deal's pipeline-side facts: source, amount (most deals small for their segment),
/// creation time, names, owner and id.
fn draft(
    rng: &mut Rng,
    lane: &Lane,
    spec: &BookSpec,
    now: DateTime<Utc>,
    owners: &[UserId],
    n: usize,
) -> Draft {
    let source = rng.weighted(&[
        (LeadSource::Inbound, 35),
        (LeadSource::Outbound, 30),
        (LeadSource::Referral, 14),
        (LeadSource::Partner, 12),
        (LeadSource::Event, 6),
        (LeadSource::Expansion, 3),
    ]);
    let profile = journey::profile(lane.pipeline.spec.segment);
    let currency = rng.weighted(&[(Currency::USD, 90), (Currency::EUR, 7), (Currency::GBP, 3)]);
    let size = rng.unit().powi(2);
    let dollars = profile.low + ((profile.high - profile.low) as f64 * size) as i64;
    let amount = Money {
        minor: (dollars / 100 * 100) * 100,
        currency,
    };
    let created =
        now - Duration::minutes((rng.unit() * (spec.history_days * 24 * 60) as f64) as i64);
    let account = (rng.below(ACCOUNTS.len()), rng.below(SUFFIXES.len()));
    let product = rng.below(PRODUCTS.len());
    let id = DealId(uuid_v7_like(
        Uuid::from_u64_pair(rng.next_u64(), rng.next_u64() ^ n as u64),
        created,
    ));
    Draft {
        id,
        owner: owners[rng.below(owners.len())],
        source,
        amount,
        account,
        product,
        buyer: Buyer {
            created,
            stages: lane.open.len(),
            profile,
            source,
            amount: amount.minor,
            size,
        },
    }
}

/// Appends the journey's stage history and field history to the book: each stage row with the
/// amount and close date the deal had at that moment.
fn record(book: &mut Book, lane: &Lane, draft: &Draft, journey: &Journey, steps: &[Step]) {
    let currency = draft.amount.currency;
    let mut state = journey.first;
    let stage_row =
        |at, from: Option<usize>, to, direction, state: journey::Tracked| StageHistoryEntry {
            sequence: 0,
            deal_id: draft.id,
            pipeline_id: lane.pipeline.id,
            from_stage: from.map(|f| lane.stage_id(f)),
            to_stage: lane.stage_id(to),
            at,
            actor: None,
            amount: Some(Money {
                minor: state.amount,
                currency,
            }),
            close_date: Some(state.close_date),
            direction,
            overridden: false,
            justification: String::new(),
        };
    let created = draft.buyer.created;
    book.history
        .push(stage_row(created, None, 0, HistoryDirection::Create, state));
    let field_row = |at, field, old, new| FieldHistoryEntry {
        sequence: 0,
        deal_id: draft.id,
        at,
        actor: None,
        field,
        old: Some(old),
        new: Some(new),
    };
    for step in steps {
        let row = match *step {
            Step::Amount { at, old, new } => {
                state.amount = new;
                let (old, new) = (FieldValue::Amount(old), FieldValue::Amount(new));
                field_row(at, TrackedField::Amount, old, new)
            }
            Step::CloseDate { at, old, new } => {
                state.close_date = new;
                let (old, new) = (FieldValue::CloseDate(old), FieldValue::CloseDate(new));
                field_row(at, TrackedField::CloseDate, old, new)
            }
            Step::Category { at, old, new } => {
                state.category = new;
                let (old, new) = (
                    FieldValue::ForecastCategory(old),
                    FieldValue::ForecastCategory(new),
                );
                field_row(at, TrackedField::ForecastCategory, old, new)
            }
            Step::Stage {
                at,
                from,
                to,
                direction,
            } => {
                state.stage = to;
                book.history
                    .push(stage_row(at, Some(from), to, direction, state));
                let (old, new) = (
                    FieldValue::Stage(lane.stage_id(from)),
                    FieldValue::Stage(lane.stage_id(to)),
                );
                book.field_history
                    .push(field_row(at, TrackedField::Stage, old, new));
                if direction != HistoryDirection::Close {
                    continue;
                }
                let status = status_at(lane, to);
                let (old, new) = (
                    FieldValue::Status(DealStatus::Open),
                    FieldValue::Status(status),
                );
                field_row(at, TrackedField::Status, old, new)
            }
        };
        book.field_history.push(row);
    }
}

/// The status of a deal at journey index `index`.
fn status_at(lane: &Lane, index: usize) -> DealStatus {
    match index.checked_sub(lane.open.len()) {
        None => DealStatus::Open,
        Some(0) => DealStatus::Won,
        Some(_) => DealStatus::Lost,
    }
}

/// The deal as the journey left it, with the evidence every stage it left forward asked for.
fn deal(rng: &mut Rng, lane: &Lane, draft: Draft, journey: &Journey, steps: &[Step]) -> Deal {
    let last = journey.last;
    let account = format!(
        "{} {}",
        ACCOUNTS[draft.account.0], SUFFIXES[draft.account.1]
    );
    // The names are made of the short words in the tables above: within every limit.
    let display_name = DisplayName::try_from(format!("{account} - {}", PRODUCTS[draft.product]))
        .expect("a generated deal name is a display name");
    let account = AccountName::try_from(account).expect("a generated account is an account name");
    let mut fields = DealFields {
        display_name,
        account,
        owner_id: draft.owner,
        amount: Some(Money {
            minor: last.amount,
            currency: draft.amount.currency,
        }),
        close_date: Some(last.close_date),
        lead_source: Some(draft.source),
        next_step: String::new(),
        next_step_date: None,
        bant: Bant::default(),
        confirmed_budget: None,
        discount_bps: 0,
        forecast_category: last.category,
        contacts: Vec::new(),
        qualification: Vec::new(),
    };
    let created = draft.buyer.created;
    let highest_left = steps
        .iter()
        .filter_map(|step| match *step {
            Step::Stage {
                from,
                to,
                direction: HistoryDirection::Forward | HistoryDirection::Close,
                ..
            } if to < lane.open.len() + 1 => Some(from),
            _ => None,
        })
        .max();
    if let Some(highest) = highest_left {
        for stage in &lane.open[..=highest] {
            for c in &stage.exit_criteria {
                satisfy(c, &mut fields, rng, created);
            }
        }
    }
    let status = status_at(lane, last.stage);
    if status == DealStatus::Open {
        open_deal_extras(
            rng,
            &mut fields,
            lane.stage(last.stage),
            journey.stage_entered_at,
        );
    }
    fields.qualification.sort_by_key(|item| item.element);
    let loss_reason = match status {
        DealStatus::Lost if journey.gave_up => LOSS_REASONS[1 + 2 * rng.below(2)].into(),
        DealStatus::Lost => LOSS_REASONS[rng.below(LOSS_REASONS.len())].into(),
        _ => String::new(),
    };
    Deal {
        id: draft.id,
        pipeline_id: lane.pipeline.id,
        stage_id: lane.stage_id(last.stage),
        status,
        loss_reason,
        fields,
        created_at: created,
        updated_at: journey.updated_at,
        stage_entered_at: journey.stage_entered_at,
        closed_at: journey.closed_at,
        version: 1,
    }
}

/// An open deal has some of its current stage's evidence already, a next step, and now and
/// then a discount: most within what the policy pre-approves, the rest needing a request.
fn open_deal_extras(rng: &mut Rng, fields: &mut DealFields, stage: &Stage, entered: DateTime<Utc>) {
    for c in &stage.exit_criteria {
        if rng.chance(0.5) {
            satisfy(c, fields, rng, entered);
        }
    }
    fields.next_step = "Follow-up call".into();
    if rng.chance(0.12) {
        let (from, steps) = rng.weighted(&[((500, 11), 50), ((1600, 10), 35), ((2600, 15), 15)]);
        fields.discount_bps = from + 100 * rng.below(steps) as u32;
    }
}

/// A UUIDv7-shaped id for a past time (sortable by creation, like ids the service assigns).
fn uuid_v7_like(random: Uuid, at: DateTime<Utc>) -> Uuid {
    let mut bytes = *random.as_bytes();
    let millis = at.timestamp_millis().max(0) as u64;
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = (bytes[6] & 0x0F) | 0x70;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    Uuid::from_bytes(bytes)
}
