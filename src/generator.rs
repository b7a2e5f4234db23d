//! A deterministic book of business: deals with years of stage history (forward and backward
//! moves, wins, losses, velocity varying by stage and lead source), generated from a seed.
//!
//! Pure: it returns domain values and writes nothing, so the demo and the benchmarks store them
//! in bulk at whatever size they need. The same seed, people, pipelines and `now` always give
//! the same book. Every stage a deal left forward has its exit criteria met by the deal's
//! fields, so the history is one the gates could have produced. Some open deals carry a
//! discount, and [`approval_requests`] gives those that need one an approval request in any of
//! its states, decided by the people the policy routes to.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use uuid::Uuid;

use crate::domain::approval::{PolicyVersion, Terms, route};
use crate::domain::approval_request::{
    Actor, ApprovalRequest, ChainMember, RequestState, Submission, resolve_seats,
};
use crate::domain::deal::{
    Bant, Contact, Deal, DealFields, DealStatus, ForecastCategory, HistoryDirection, LeadSource,
    QualificationItem, StageHistoryEntry,
};
use crate::domain::directory::{Role, UserId};
use crate::domain::money::{Currency, Money};
use crate::domain::pipeline::{BuyingRole, DealField, ExitCriterion, Pipeline, Segment, StageKind};
use crate::domain::random::Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct BookSpec {
    /// Seed of the random sequence.
    pub seed: u64,
    /// How many deals.
    pub deals: usize,
    /// How many of them are still open at `now`; `None`: as many as the simulated journeys
    /// leave open (about 7%). Journeys that would overfill either side are dropped, so the
    /// open deals keep the ages and stages they naturally have.
    pub open: Option<usize>,
    /// Deals are created over this many days before `now`.
    pub history_days: i64,
    /// The present: nothing happens after it; open deals close after it.
    pub now: DateTime<Utc>,
}

/// The generated deals and their stage history (in time order).
#[derive(Debug, Clone, Default)]
pub struct Book {
    /// The deals.
    pub deals: Vec<Deal>,
    /// Every stage change of every deal, oldest first.
    pub history: Vec<StageHistoryEntry>,
}

const ACCOUNTS: [&str; 24] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Aperture",
    "Massive Dynamic",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Pied Piper",
    "Dunder Mifflin",
    "Sterling Cooper",
    "Bluth",
    "Prestige",
    "Nakatomi",
    "Virtucon",
];
const SUFFIXES: [&str; 8] = [
    "Corp",
    "Labs",
    "Industries",
    "Health",
    "Logistics",
    "Bank",
    "Foods",
    "Systems",
];
const PRODUCTS: [&str; 5] = [
    "Platform",
    "Analytics add-on",
    "Seat expansion",
    "Multi-year renewal",
    "Enterprise tier",
];
const DEPARTMENTS: [&str; 6] = [
    "Finance",
    "IT",
    "Operations",
    "Sales",
    "Legal",
    "Procurement",
];
const LOSS_REASONS: [&str; 5] = [
    "Chose a competitor",
    "No decision",
    "Budget cut",
    "Timing: revisit next year",
    "Built in-house",
];

fn source_speed(source: LeadSource) -> f64 {
    match source {
        LeadSource::Inbound => 0.8,
        LeadSource::Outbound => 1.3,
        LeadSource::Referral => 0.7,
        LeadSource::Partner => 1.0,
        LeadSource::Event => 1.1,
        LeadSource::Expansion => 0.6,
    }
}

fn source_lift(source: LeadSource) -> f64 {
    match source {
        LeadSource::Inbound => 0.05,
        LeadSource::Outbound => -0.10,
        LeadSource::Referral => 0.12,
        LeadSource::Partner => 0.03,
        LeadSource::Event => -0.05,
        LeadSource::Expansion => 0.15,
    }
}

fn segment_profile(segment: Segment) -> (i64, i64, f64, f64) {
    // (smallest amount in dollars, largest, median days per stage, chance to advance a stage)
    match segment {
        Segment::Smb => (4_000, 30_000, 9.0, 0.72),
        Segment::MidMarket => (25_000, 160_000, 14.0, 0.70),
        Segment::Enterprise => (120_000, 1_500_000, 24.0, 0.67),
    }
}

/// Makes `criterion` hold for `fields` (as a deal that met the gate would look).
fn satisfy(criterion: &ExitCriterion, f: &mut DealFields, rng: &mut Rng, at: DateTime<Utc>) {
    let contact = |role: BuyingRole, department: &str, rng: &mut Rng| Contact {
        display_name: format!(
            "{} {}",
            ["Alex", "Sam", "Jordan", "Casey", "Taylor", "Riley"][rng.below(6)],
            ["Kim", "Patel", "Garcia", "Müller", "Okafor", "Smith"][rng.below(6)]
        ),
        email: String::new(),
        title: String::new(),
        buying_role: role,
        department: department.to_string(),
    };
    match *criterion {
        ExitCriterion::FieldSet(field) => match field {
            DealField::Amount => {}
            DealField::CloseDate => {}
            DealField::NextStep => f.next_step = "Follow-up call".into(),
            DealField::NextStepDate => f.next_step_date = Some(at.date_naive() + Duration::days(7)),
            DealField::BantBudget => f.bant.budget = "Budget line identified".into(),
            DealField::BantAuthority => f.bant.authority = "VP signs".into(),
            DealField::BantNeed => f.bant.need = "Replace spreadsheets".into(),
            DealField::BantTimeline => f.bant.timeline = "This quarter".into(),
            DealField::ConfirmedBudget => f.confirmed_budget = f.amount,
            DealField::LeadSource => {}
        },
        ExitCriterion::CloseDateInFuture | ExitCriterion::AmountPositive => {}
        ExitCriterion::ContactWithRole(role) => {
            if !f.contacts.iter().any(|c| c.buying_role == role) {
                let department = DEPARTMENTS[rng.below(DEPARTMENTS.len())];
                f.contacts.push(contact(role, department, rng));
            }
        }
        ExitCriterion::DepartmentsEngaged(n) => {
            for department in DEPARTMENTS.iter().take(usize::from(n)) {
                if !f.contacts.iter().any(|c| c.department == *department) {
                    f.contacts
                        .push(contact(BuyingRole::Influencer, department, rng));
                }
            }
        }
        ExitCriterion::QualificationAtLeast {
            element,
            min_status,
        } => {
            if f.qualification_status(element) < min_status {
                f.qualification.retain(|q| q.element != element);
                f.qualification.push(QualificationItem {
                    element,
                    status: min_status,
                    set_by: None,
                    set_at: at,
                });
            }
        }
        ExitCriterion::NoPendingApproval | ExitCriterion::DiscountCovered => {}
    }
}

/// Generates the book for `pipelines` and `owners` (reps who own deals).
pub fn generate(spec: &BookSpec, pipelines: &[Pipeline], owners: &[UserId]) -> Book {
    let mut rng = Rng::new(spec.seed);
    let mut book = Book::default();
    if pipelines.is_empty() || owners.is_empty() {
        return book;
    }
    let (usd, eur, gbp) = (Currency::USD, Currency::EUR, Currency::GBP);
    // Microseconds: the precision every engine stores.
    let now = spec.now.trunc_subsecs(6);
    let spec = &BookSpec {
        now,
        ..spec.clone()
    };
    let today = now.date_naive();
    let open_wanted = spec.open.unwrap_or(usize::MAX).min(spec.deals);
    let closed_wanted = match spec.open {
        Some(open) => spec.deals.saturating_sub(open),
        None => usize::MAX,
    };
    let (mut open_made, mut closed_made) = (0, 0);
    // Open journeys are about 7% of all; the bound only stops a spec that cannot be met (a
    // history too short to close deals, say) from looping for ever.
    let attempts = spec.deals.saturating_mul(200);
    for n in 0..attempts {
        if book.deals.len() == spec.deals {
            break;
        }
        let pipeline =
            &pipelines[rng.weighted(&[(0usize, 45), (1, 35), (2, 20)]) % pipelines.len()];
        let open_stages: Vec<_> = pipeline
            .spec
            .stages
            .iter()
            .filter(|s| s.kind == StageKind::Open)
            .collect();
        let won = pipeline
            .spec
            .stages
            .iter()
            .find(|s| s.kind == StageKind::Won);
        let lost = pipeline
            .spec
            .stages
            .iter()
            .find(|s| s.kind == StageKind::Lost);
        let (Some(won), Some(lost), false) = (won, lost, open_stages.is_empty()) else {
            continue;
        };
        let source = rng.weighted(&[
            (LeadSource::Inbound, 35),
            (LeadSource::Outbound, 30),
            (LeadSource::Referral, 14),
            (LeadSource::Partner, 12),
            (LeadSource::Event, 6),
            (LeadSource::Expansion, 3),
        ]);
        let (low, high, median_days, advance) = segment_profile(pipeline.spec.segment);
        let currency = rng.weighted(&[(usd, 90), (eur, 7), (gbp, 3)]);
        let dollars = low + ((high - low) as f64 * rng.unit().powi(2)) as i64;
        let amount = Money {
            minor: (dollars / 100 * 100) * 100,
            currency,
        };
        let created = spec.now
            - Duration::minutes((rng.unit() * (spec.history_days * 24 * 60) as f64) as i64);
        let account = format!(
            "{} {}",
            ACCOUNTS[rng.below(ACCOUNTS.len())],
            SUFFIXES[rng.below(SUFFIXES.len())]
        );
        let id = uuid_v7_like(
            Uuid::from_u64_pair(rng.next_u64(), rng.next_u64() ^ n as u64),
            created,
        );
        let mut fields = DealFields {
            display_name: format!("{account} - {}", PRODUCTS[rng.below(PRODUCTS.len())]),
            account,
            owner_id: owners[rng.below(owners.len())],
            amount: Some(amount),
            close_date: None,
            lead_source: Some(source),
            next_step: String::new(),
            next_step_date: None,
            bant: Bant::default(),
            confirmed_budget: None,
            discount_bps: 0,
            forecast_category: ForecastCategory::Pipeline,
            contacts: Vec::new(),
            qualification: Vec::new(),
        };
        let mut events: Vec<(DateTime<Utc>, Option<usize>, usize, HistoryDirection)> = Vec::new();
        // The journey: index into open stages; `open_stages.len()` means won, `+ 1` lost.
        let (won_at, lost_at) = (open_stages.len(), open_stages.len() + 1);
        let mut at = created;
        let mut stage = 0usize;
        events.push((at, None, stage, HistoryDirection::Create));
        let lift = source_lift(source);
        let ended = loop {
            at += Duration::minutes(
                (rng.exponential(median_days * source_speed(source)) * 24.0 * 60.0).max(60.0)
                    as i64,
            );
            if at > spec.now {
                break false;
            }
            let roll = rng.unit();
            let last = stage + 1 == open_stages.len();
            let next = if stage > 0 && roll < 0.06 {
                stage - 1
            } else if roll < 0.06 + (advance + lift).clamp(0.2, 0.95) * 0.94 {
                if last { won_at } else { stage + 1 }
            } else {
                lost_at
            };
            let direction = if next >= won_at {
                HistoryDirection::Close
            } else if next < stage {
                HistoryDirection::Backward
            } else {
                HistoryDirection::Forward
            };
            events.push((at, Some(stage), next, direction));
            if next >= won_at {
                break true;
            }
            stage = next;
        };
        let (made, wanted) = if ended {
            (&mut closed_made, closed_wanted)
        } else {
            (&mut open_made, open_wanted)
        };
        if *made == wanted {
            continue;
        }
        *made += 1;
        // Evidence: every stage left forward had its gate met.
        let highest_left = events
            .iter()
            .filter(|e| {
                e.3 == HistoryDirection::Forward
                    || (e.3 == HistoryDirection::Close && e.2 == won_at)
            })
            .filter_map(|e| e.1)
            .max();
        if let Some(highest) = highest_left {
            for s in &open_stages[..=highest] {
                for c in &s.exit_criteria {
                    satisfy(c, &mut fields, &mut rng, created);
                }
            }
        }
        let (final_at, _, final_stage, _) =
            *events
                .last()
                .unwrap_or(&(created, None, 0, HistoryDirection::Create));
        let (status, stage_id, closed_at) = match (ended, final_stage) {
            (true, s) if s == won_at => (DealStatus::Won, won.stage_id.clone(), Some(final_at)),
            (true, _) => (DealStatus::Lost, lost.stage_id.clone(), Some(final_at)),
            (false, s) => (DealStatus::Open, open_stages[s].stage_id.clone(), None),
        };
        if status == DealStatus::Open {
            // Some of the current stage's evidence is there already.
            for c in &open_stages[final_stage].exit_criteria {
                if rng.chance(0.5) {
                    satisfy(c, &mut fields, &mut rng, final_at);
                }
            }
            fields.close_date = Some(today + Duration::days(3 + rng.below(110) as i64));
            let late = final_stage + 2 >= open_stages.len();
            fields.forecast_category = match (late, rng.unit()) {
                (true, r) if r < 0.4 => ForecastCategory::Commit,
                (true, r) if r < 0.8 => ForecastCategory::BestCase,
                (false, r) if r < 0.15 => ForecastCategory::BestCase,
                (_, r) if r > 0.95 => ForecastCategory::Omitted,
                _ => ForecastCategory::Pipeline,
            };
            fields.next_step = "Follow-up call".into();
            // Most discounts are within what the policy pre-approves; the rest need a request.
            if rng.chance(0.12) {
                let (from, steps) =
                    rng.weighted(&[((500, 11), 50), ((1600, 10), 35), ((2600, 15), 15)]);
                fields.discount_bps = from + 100 * rng.below(steps) as u32;
            }
        } else {
            fields.close_date = closed_at.map(|t| t.date_naive());
            fields.forecast_category = ForecastCategory::Closed;
        }
        fields.qualification.sort_by_key(|item| item.element);
        let close_date_then = fields.close_date;
        let stage_name = |index: usize| -> String {
            if index == won_at {
                won.stage_id.clone()
            } else if index == lost_at {
                lost.stage_id.clone()
            } else {
                open_stages[index].stage_id.clone()
            }
        };
        for (at, from, to, direction) in &events {
            book.history.push(StageHistoryEntry {
                sequence: 0,
                deal_id: id,
                pipeline_id: pipeline.id,
                from_stage: from.map(stage_name),
                to_stage: stage_name(*to),
                at: *at,
                actor: None,
                amount: fields.amount,
                close_date: close_date_then.or(Some(naive(*at))),
                direction: *direction,
                overridden: false,
                justification: String::new(),
            });
        }
        book.deals.push(Deal {
            id,
            pipeline_id: pipeline.id,
            stage_id,
            status,
            loss_reason: if status == DealStatus::Lost {
                LOSS_REASONS[rng.below(LOSS_REASONS.len())].into()
            } else {
                String::new()
            },
            fields,
            created_at: created,
            updated_at: final_at,
            stage_entered_at: final_at,
            closed_at,
            version: 1,
        });
    }
    book.history.sort_by_key(|h| h.at);
    book
}

/// Who the deal desk's requests meet: each owner's reporting chain (nearest manager first) and
/// the people working the role queues (finance, legal).
#[derive(Debug, Clone, Default)]
pub struct DeskPeople {
    /// Owner -> the people above them.
    pub chains: HashMap<UserId, Vec<ChainMember>>,
    /// One person per role queue.
    pub queues: Vec<(Role, UserId)>,
}

/// Approval requests for the open deals of `deals` whose discount needs one under the newest
/// policy of their segment, submitted by the owner at some time before `now`: about 40% still
/// pending (some half-way through their route), 35% approved, 15% rejected, 10% withdrawn.
/// Each step is decided by a person it routes to. Deals whose route cannot be staffed are left
/// without a request.
pub fn approval_requests(
    seed: u64,
    deals: &[Deal],
    pipelines: &[Pipeline],
    policies: &[PolicyVersion],
    people: &DeskPeople,
    now: DateTime<Utc>,
) -> Vec<ApprovalRequest> {
    let mut rng = Rng::new(seed);
    let now = now.trunc_subsecs(6);
    let finance = people.queues.iter().find(|(r, _)| *r == Role::Finance);
    let mut requests = Vec::new();
    for deal in deals {
        let segment = pipelines
            .iter()
            .find(|p| p.id == deal.pipeline_id)
            .map(|p| p.spec.segment);
        let policy = policies
            .iter()
            .filter(|p| Some(p.policy.segment) == segment)
            .max_by_key(|p| p.version);
        let (Some(policy), DealStatus::Open) = (policy, deal.status) else {
            continue;
        };
        if deal.fields.discount_bps == 0 {
            continue;
        }
        let owner = deal.fields.owner_id;
        let terms = Terms {
            discount_bps: deal.fields.discount_bps,
            // Some ask for longer payment terms too, which adds finance to the route.
            payment_days: if finance.is_some() && rng.chance(0.15) {
                60
            } else {
                30
            },
            ..Terms::default()
        };
        let path = route(&policy.policy, deal.fields.amount, &terms);
        if path.auto_approved() {
            continue;
        }
        let chain = people.chains.get(&owner).map(Vec::as_slice).unwrap_or(&[]);
        let Ok(seats) = path
            .steps
            .iter()
            .map(|s| resolve_seats(chain, owner, &s.step.approvers))
            .collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        let outcome = rng.weighted(&[
            (RequestState::Pending, 40),
            (RequestState::Approved, 35),
            (RequestState::Rejected, 15),
            (RequestState::Withdrawn, 10),
        ]);
        // Pending requests are recent (some past their SLA); closed ones a few weeks old.
        let age_hours = match outcome {
            RequestState::Pending => 1.0 + rng.unit() * 72.0,
            _ => 72.0 + rng.unit() * 600.0,
        };
        let submitted = (now - Duration::minutes((age_hours * 60.0) as i64)).max(deal.created_at);
        let id = uuid_v7_like(
            Uuid::from_u64_pair(rng.next_u64(), rng.next_u64()),
            submitted,
        );
        let mut request = ApprovalRequest::submit(
            Submission {
                id,
                deal_id: deal.id,
                requester: owner,
                segment: policy.policy.segment,
                policy_version: policy.version,
                terms,
                amount: deal.fields.amount,
                now: submitted,
            },
            &path,
            seats,
            None,
        );
        let mut at = submitted;
        let mut later = |rng: &mut Rng| {
            at = (at + Duration::minutes(30 + rng.below(20 * 60) as i64)).min(now);
            at
        };
        let steps = request.steps.len();
        let decided = match outcome {
            RequestState::Pending => rng.below(steps),
            RequestState::Approved => steps,
            RequestState::Rejected => rng.below(steps) + 1,
            _ => 0,
        };
        for step in 0..decided {
            let approve = !(outcome == RequestState::Rejected && step + 1 == decided);
            let comment = if approve {
                "Within guidelines for this account"
            } else {
                "Too deep for this segment: come back nearer list"
            };
            // Each undecided seat in turn until the step completes (one on ANY, all on ALL).
            while request.current_step() == Some(step) {
                let Some(actor) = request.steps[step]
                    .seats
                    .iter()
                    .filter(|seat| seat.decision.is_none())
                    .find_map(|seat| {
                        let id = seat.user.or_else(|| {
                            let role = seat.role()?;
                            people.queues.iter().find(|(r, _)| *r == role).map(|p| p.1)
                        })?;
                        Some(Actor {
                            id,
                            role: seat.role().unwrap_or(Role::Manager),
                            acting_for: vec![],
                        })
                    })
                else {
                    break;
                };
                let when = later(&mut rng);
                if request
                    .decide(step, &actor, approve, comment, when)
                    .is_err()
                {
                    break;
                }
            }
        }
        if outcome == RequestState::Withdrawn {
            let when = later(&mut rng);
            let _ = request.withdraw(when);
        }
        requests.push(request);
    }
    requests
}

fn naive(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gates::{ApprovalFacts, plan_move};
    use crate::domain::templates;

    fn pipelines() -> Vec<Pipeline> {
        templates::all()
            .into_iter()
            .enumerate()
            .map(|(i, spec)| Pipeline {
                id: Uuid::from_u128(i as u128 + 1),
                spec,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                version: 1,
            })
            .collect()
    }

    fn spec(seed: u64) -> BookSpec {
        BookSpec {
            seed,
            deals: 600,
            open: None,
            history_days: 730,
            now: DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
                .unwrap()
                .to_utc(),
        }
    }

    fn owners() -> Vec<UserId> {
        (1..=4).map(|i| UserId(Uuid::from_u128(100 + i))).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_book() {
        let a = generate(&spec(7), &pipelines(), &owners());
        let b = generate(&spec(7), &pipelines(), &owners());
        assert_eq!(a.deals, b.deals);
        assert_eq!(a.history, b.history);
        let c = generate(&spec(8), &pipelines(), &owners());
        assert_ne!(a.deals, c.deals);
    }

    #[test]
    fn the_book_looks_like_a_sales_team() {
        let book = generate(&spec(42), &pipelines(), &owners());
        let count = |s| book.deals.iter().filter(|d| d.status == s).count() as f64;
        let (won, lost, open) = (
            count(DealStatus::Won),
            count(DealStatus::Lost),
            count(DealStatus::Open),
        );
        let win_rate = won / (won + lost);
        assert!((0.15..0.5).contains(&win_rate), "win rate {win_rate}");
        assert!(open > 20.0, "some deals are still open: {open}");
        assert!(
            book.history
                .iter()
                .any(|h| h.direction == HistoryDirection::Backward)
        );
        assert!(
            book.history.windows(2).all(|w| w[0].at <= w[1].at),
            "history in time order"
        );
        let now = spec(42).now;
        assert!(book.history.iter().all(|h| h.at <= now));
        for deal in book.deals.iter().filter(|d| d.status == DealStatus::Open) {
            assert!(deal.fields.close_date.unwrap() >= now.date_naive());
        }
    }

    #[test]
    fn every_deal_that_won_met_the_gates_on_its_way() {
        let pipelines = pipelines();
        let book = generate(&spec(3), &pipelines, &owners());
        for deal in book.deals.iter().filter(|d| d.status == DealStatus::Won) {
            let pipeline = pipelines.iter().find(|p| p.id == deal.pipeline_id).unwrap();
            let first = &pipeline.spec.stages[0].stage_id;
            // Judged on the day the deal was created, when its close date was still ahead.
            let mut fields = deal.fields.clone();
            fields.close_date = Some(deal.created_at.date_naive());
            let plan = plan_move(
                &pipeline.spec,
                Some(first),
                &deal.stage_id,
                &fields,
                deal.created_at.date_naive(),
                ApprovalFacts::NONE,
            )
            .unwrap();
            assert!(plan.allowed(), "{:?}", plan.unmet().collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_open_deals_are_as_many_as_asked() {
        let book = generate(
            &BookSpec {
                open: Some(150),
                ..spec(5)
            },
            &pipelines(),
            &owners(),
        );
        let open = book
            .deals
            .iter()
            .filter(|d| d.status == DealStatus::Open)
            .count();
        assert_eq!((book.deals.len(), open), (600, 150));
        let ids: std::collections::HashSet<_> = book.deals.iter().map(|d| d.id).collect();
        assert!(book.history.iter().all(|h| ids.contains(&h.deal_id)));
    }

    fn policies() -> Vec<PolicyVersion> {
        use crate::domain::approval::{Approver, DiscountTier, Mode, Policy, StepSpec};
        let step = |name: &str, approver| StepSpec {
            name: name.into(),
            approvers: vec![approver],
            mode: Mode::Any,
            sla_hours: 24,
        };
        [Segment::Smb, Segment::MidMarket, Segment::Enterprise]
            .into_iter()
            .map(|segment| PolicyVersion {
                version: 1,
                policy: Policy {
                    segment,
                    tiers: vec![
                        DiscountTier {
                            ceiling_bps: 1500,
                            steps: vec![],
                        },
                        DiscountTier {
                            ceiling_bps: 10_000,
                            steps: vec![step("Sales manager", Approver::OwnersManager)],
                        },
                    ],
                    size_thresholds: vec![],
                    playbook: vec![],
                    legal_step: step("Legal review", Approver::Queue(Role::Legal)),
                    payment_days_limit: 45,
                    finance_step: step("Finance", Approver::Queue(Role::Finance)),
                },
                creator: None,
                created_at: Utc::now(),
            })
            .collect()
    }

    fn desk_people() -> DeskPeople {
        let manager = ChainMember {
            id: UserId(Uuid::from_u128(99)),
            role: Role::Manager,
            active: true,
        };
        DeskPeople {
            chains: owners().into_iter().map(|o| (o, vec![manager])).collect(),
            queues: vec![(Role::Finance, UserId(Uuid::from_u128(98)))],
        }
    }

    #[test]
    fn requests_go_to_open_deals_whose_terms_need_approval_in_every_state() {
        let book = generate(
            &BookSpec {
                deals: 3000,
                open: Some(1500),
                ..spec(9)
            },
            &pipelines(),
            &owners(),
        );
        let requests = approval_requests(
            1,
            &book.deals,
            &pipelines(),
            &policies(),
            &desk_people(),
            spec(9).now,
        );
        for request in &requests {
            let deal = book.deals.iter().find(|d| d.id == request.deal_id).unwrap();
            assert_eq!(deal.status, DealStatus::Open);
            // Above what the policy pre-approves, or with payment terms that need finance.
            assert!(deal.fields.discount_bps > 1500 || request.terms.payment_days > 45);
            assert_eq!(request.terms.discount_bps, deal.fields.discount_bps);
            assert!(request.created_at <= spec(9).now);
        }
        for state in [
            RequestState::Pending,
            RequestState::Approved,
            RequestState::Rejected,
            RequestState::Withdrawn,
        ] {
            assert!(
                requests.iter().any(|r| r.state == state),
                "no {state:?} request among {}",
                requests.len()
            );
        }
        let again = approval_requests(
            1,
            &book.deals,
            &pipelines(),
            &policies(),
            &desk_people(),
            spec(9).now,
        );
        assert_eq!(requests, again);
    }
}
