//! The generated book, judged as a specification: consistent histories, the gates met, and the
//! behaviours real pipelines show (pushes, slips, size and segment effects, fast wins).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use super::*;
use crate::domain::approval::PolicyVersion;
use crate::domain::approval_request::{ChainMember, RequestState};
use crate::domain::deal_history::{DealState, as_of};
use crate::domain::directory::Role;
use crate::domain::gates::{ApprovalFacts, plan_move};
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::period_rate::OVERDUE_DAYS;
use crate::domain::pipeline::Segment;
use crate::domain::templates;

fn pipelines() -> Vec<Pipeline> {
    templates::all()
        .into_iter()
        .enumerate()
        .map(|(i, spec)| Pipeline {
            id: PipelineId(Uuid::from_u128(i as u128 + 1)),
            spec,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        })
        .collect()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
        .unwrap()
        .to_utc()
}

fn spec(seed: u64) -> BookSpec {
    BookSpec {
        seed,
        deals: 600,
        open: None,
        history_days: 730,
        now: now(),
    }
}

fn owners() -> Vec<UserId> {
    (1..=4).map(|i| UserId(Uuid::from_u128(100 + i))).collect()
}

/// A book large enough for shares per segment to be steady.
fn large_book() -> Book {
    generate(
        &BookSpec {
            deals: 6000,
            ..spec(11)
        },
        &pipelines(),
        &owners(),
    )
}

/// Each deal's field history rows, in order.
fn rows_by_deal(book: &Book) -> HashMap<DealId, Vec<FieldHistoryEntry>> {
    let mut rows: HashMap<DealId, Vec<FieldHistoryEntry>> = HashMap::new();
    for row in &book.field_history {
        rows.entry(row.deal_id).or_default().push(row.clone());
    }
    rows
}

/// The close-date rows of `rows` written while the deal stayed open: its pushes (a close
/// writes a status row at the same instant).
fn pushes(rows: &[FieldHistoryEntry]) -> impl Iterator<Item = &FieldHistoryEntry> {
    rows.iter().filter(|r| {
        r.field == TrackedField::CloseDate
            && !rows
                .iter()
                .any(|s| s.field == TrackedField::Status && s.at == r.at)
    })
}

/// The close date each deal had at creation (its create row records it).
fn first_close_dates(book: &Book) -> HashMap<DealId, NaiveDate> {
    book.history
        .iter()
        .filter(|h| h.direction == HistoryDirection::Create)
        .map(|h| (h.deal_id, h.close_date.unwrap()))
        .collect()
}

fn month(date: NaiveDate) -> (i32, u32) {
    (date.year(), date.month())
}

#[test]
fn the_same_seed_gives_the_same_book() {
    let a = generate(&spec(7), &pipelines(), &owners());
    let b = generate(&spec(7), &pipelines(), &owners());
    assert_eq!(a.deals, b.deals);
    assert_eq!(a.history, b.history);
    assert_eq!(a.field_history, b.field_history);
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
    assert!(
        book.field_history.windows(2).all(|w| w[0].at <= w[1].at),
        "field history in time order"
    );
    assert!(book.history.iter().all(|h| h.at <= now()));
    assert!(book.field_history.iter().all(|h| h.at <= now()));
}

/// The deal rebuilt from its field history as of each of its stage changes has the stage,
/// amount and close date that change recorded.
#[test]
fn the_field_history_agrees_with_every_stage_change() {
    let book = generate(&spec(21), &pipelines(), &owners());
    let rows = rows_by_deal(&book);
    let deals: HashMap<DealId, &Deal> = book.deals.iter().map(|d| (d.id, d)).collect();
    assert!(rows.keys().all(|id| deals.contains_key(id)));
    for change in &book.history {
        let deal = deals[&change.deal_id];
        let deal_rows = rows.get(&deal.id).map(Vec::as_slice).unwrap_or(&[]);
        let then = as_of(&DealState::of(deal), deal.created_at, deal_rows, change.at).unwrap();
        assert_eq!(then.stage_id, change.to_stage, "{change:?}");
        assert_eq!(then.money(), change.amount, "{change:?}");
        assert_eq!(then.close_date, change.close_date, "{change:?}");
        let status = match change.direction {
            HistoryDirection::Close if deal.status == DealStatus::Won => DealStatus::Won,
            HistoryDirection::Close => DealStatus::Lost,
            _ => DealStatus::Open,
        };
        assert_eq!(then.status, status, "{change:?}");
    }
    // Every deal's rows: the stage moves and closes are there, the rest are field changes.
    let moves = book
        .history
        .iter()
        .filter(|h| h.direction != HistoryDirection::Create)
        .count();
    let stage_rows = book
        .field_history
        .iter()
        .filter(|r| r.field == TrackedField::Stage)
        .count();
    assert_eq!(stage_rows, moves);
    assert!(book.field_history.iter().all(|r| r.actor.is_none()));
}

#[test]
fn every_push_moves_the_close_date_later() {
    let book = generate(&spec(4), &pipelines(), &owners());
    let rows = rows_by_deal(&book);
    let mut seen = 0;
    for deal_rows in rows.values() {
        for push in pushes(deal_rows) {
            seen += 1;
            match (&push.old, &push.new) {
                (Some(FieldValue::CloseDate(old)), Some(FieldValue::CloseDate(new))) => {
                    assert!(new > old, "{push:?}")
                }
                other => panic!("a push without both dates: {other:?}"),
            }
        }
    }
    assert!(seen > 100, "only {seen} pushes");
}

/// Reps name dates earlier than the buyer's pace: a share of won deals was pushed, and some
/// were booked after the month their first close date was in.
#[test]
fn reps_push_many_won_deals_and_some_slip_out_of_their_first_month() {
    let book = large_book();
    let rows = rows_by_deal(&book);
    let first = first_close_dates(&book);
    let won: Vec<&Deal> = book
        .deals
        .iter()
        .filter(|d| d.status == DealStatus::Won)
        .collect();
    let share = |n: usize| n as f64 / won.len() as f64;
    let pushed = won
        .iter()
        .filter(|d| rows.get(&d.id).is_some_and(|r| pushes(r).next().is_some()))
        .count();
    let slipped = won
        .iter()
        .filter(|d| month(d.fields.close_date.unwrap()) > month(first[&d.id]))
        .count();
    let twice = won
        .iter()
        .filter(|d| rows.get(&d.id).is_some_and(|r| pushes(r).count() >= 2))
        .count();
    assert!(
        (0.2..0.7).contains(&share(pushed)),
        "pushed {}",
        share(pushed)
    );
    assert!(
        (0.15..0.6).contains(&share(slipped)),
        "slipped {}",
        share(slipped)
    );
    assert!(share(twice) > 0.05, "pushed twice {}", share(twice));
}

/// The most days a deal's close date had passed, while it stayed open, when it was next changed
/// (pushed, or closed).
fn days_overdue(rows: &[FieldHistoryEntry]) -> i64 {
    rows.iter()
        .filter_map(|r| match (r.field, &r.old) {
            (TrackedField::CloseDate, Some(FieldValue::CloseDate(old))) => {
                Some((r.at.date_naive() - *old).num_days())
            }
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Some reps leave a passed close date alone for weeks: the deal sits overdue in the CRM until
/// the buyer moves or the rep looks, and such deals are won less often than the others.
#[test]
fn some_deals_sit_overdue_for_weeks_and_win_less_often() {
    let book = large_book();
    let rows = rows_by_deal(&book);
    let closed: Vec<&Deal> = book
        .deals
        .iter()
        .filter(|d| d.status != DealStatus::Open)
        .collect();
    let (neglected, kept): (Vec<&Deal>, Vec<&Deal>) = closed
        .iter()
        .partition(|d| rows.get(&d.id).is_some_and(|r| days_overdue(r) >= 30));
    let share = neglected.len() as f64 / closed.len() as f64;
    assert!((0.02..0.3).contains(&share), "overdue for 30 days {share}");
    let win_rate = |deals: &[&Deal]| {
        let won = deals.iter().filter(|d| d.status == DealStatus::Won).count();
        won as f64 / deals.len() as f64
    };
    let (late, others) = (win_rate(&neglected), win_rate(&kept));
    assert!(late > 0.0 && late < others, "won {late} against {others}");
}

#[test]
fn larger_deals_win_less_often_than_smaller_ones_in_the_same_segment() {
    let book = large_book();
    let first_amount: HashMap<DealId, i64> = book
        .history
        .iter()
        .filter(|h| h.direction == HistoryDirection::Create)
        .map(|h| (h.deal_id, h.amount.unwrap().minor))
        .collect();
    for pipeline in pipelines() {
        let mut closed: Vec<(i64, bool)> = book
            .deals
            .iter()
            .filter(|d| d.pipeline_id == pipeline.id && d.status != DealStatus::Open)
            .map(|d| (first_amount[&d.id], d.status == DealStatus::Won))
            .collect();
        closed.sort_unstable();
        let third = closed.len() / 3;
        let win_rate =
            |deals: &[(i64, bool)]| deals.iter().filter(|d| d.1).count() as f64 / third as f64;
        let (small, large) = (
            win_rate(&closed[..third]),
            win_rate(&closed[closed.len() - third..]),
        );
        assert!(
            large + 0.05 < small,
            "{}: smallest third wins {small}, largest {large}",
            pipeline.spec.display_name
        );
    }
}

#[test]
fn some_deals_are_created_and_won_in_the_same_month() {
    let book = generate(&spec(13), &pipelines(), &owners());
    let won: Vec<&Deal> = book
        .deals
        .iter()
        .filter(|d| d.status == DealStatus::Won)
        .collect();
    let same_month = won
        .iter()
        .filter(|d| month(d.created_at.date_naive()) == month(d.fields.close_date.unwrap()))
        .count();
    let share = same_month as f64 / won.len() as f64;
    assert!(
        (0.05..0.6).contains(&share),
        "created and won in a month: {share}"
    );
}

#[test]
fn enterprise_buyers_take_longer_than_smb_buyers() {
    let book = large_book();
    let pipelines = pipelines();
    let median_cycle = |segment: Segment| {
        let pipeline = pipelines
            .iter()
            .find(|p| p.spec.segment == segment)
            .unwrap();
        let mut days: Vec<i64> = book
            .deals
            .iter()
            .filter(|d| d.pipeline_id == pipeline.id && d.status == DealStatus::Won)
            .map(|d| (d.closed_at.unwrap() - d.created_at).num_days())
            .collect();
        days.sort_unstable();
        days[days.len() / 2]
    };
    let (smb, mid, enterprise) = (
        median_cycle(Segment::Smb),
        median_cycle(Segment::MidMarket),
        median_cycle(Segment::Enterprise),
    );
    assert!(smb < mid && mid < enterprise, "{smb} {mid} {enterprise}");
}

/// At `now` an open deal is dated as its rep left it: most today or later, some a few days or
/// weeks past (the rep has not looked since), as in a real CRM; a rep never sets a date that
/// has passed. A closed deal is dated its booking day.
#[test]
fn some_open_deals_are_overdue_now_and_closed_deals_are_dated_their_booking_day() {
    let book = large_book();
    let rows = rows_by_deal(&book);
    let today = now().date_naive();
    let mut open = 0;
    let mut overdue = Vec::new();
    for deal in &book.deals {
        let close = deal.fields.close_date.unwrap();
        match deal.closed_at {
            None if close < today => overdue.push((deal, (today - close).num_days())),
            None => open += 1,
            Some(at) => assert_eq!(close, at.date_naive()),
        }
    }
    let share = overdue.len() as f64 / (open + overdue.len()) as f64;
    assert!((0.03..0.4).contains(&share), "overdue now {share}");
    for (deal, _) in &overdue {
        let set_at = rows.get(&deal.id).and_then(|r| {
            r.iter()
                .filter(|r| r.field == TrackedField::CloseDate)
                .map(|r| r.at)
                .max()
        });
        let set_at = set_at.unwrap_or(deal.created_at);
        assert!(set_at.date_naive() <= deal.fields.close_date.unwrap());
    }
    let longest = overdue.iter().map(|(_, days)| *days).max().unwrap_or(0);
    assert!(longest < OVERDUE_DAYS, "overdue for {longest} days");
}

/// A discount at signing is an amount row at the close; it never raises the amount.
#[test]
fn won_deals_often_book_less_than_their_pipeline_amount() {
    let book = generate(&spec(19), &pipelines(), &owners());
    let rows = rows_by_deal(&book);
    let won: Vec<&Deal> = book
        .deals
        .iter()
        .filter(|d| d.status == DealStatus::Won)
        .collect();
    let mut discounted = 0;
    for deal in &won {
        let at = deal.closed_at.unwrap();
        let signing = rows[&deal.id]
            .iter()
            .find(|r| r.field == TrackedField::Amount && r.at == at);
        if let Some(row) = signing {
            let (Some(FieldValue::Amount(old)), Some(FieldValue::Amount(new))) =
                (&row.old, &row.new)
            else {
                panic!("{row:?}")
            };
            assert!(new < old && *new >= old * 8 / 10 - 100, "{row:?}");
            discounted += 1;
        }
    }
    let share = discounted as f64 / won.len() as f64;
    assert!(
        (0.2..0.8).contains(&share),
        "discounted at signing: {share}"
    );
    assert!(
        book.field_history
            .iter()
            .any(|r| r.field == TrackedField::Amount
                && book
                    .deals
                    .iter()
                    .any(|d| d.id == r.deal_id && d.closed_at != Some(r.at))),
        "some amounts change mid-journey"
    );
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

/// A deal leaving a stage forward had a close date not yet past, as the gate asks.
#[test]
fn every_forward_move_has_a_close_date_not_yet_past() {
    let book = generate(&spec(23), &pipelines(), &owners());
    for change in &book.history {
        if change.direction == HistoryDirection::Forward {
            assert!(
                change.close_date.unwrap() >= change.at.date_naive(),
                "{change:?}"
            );
        }
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
    assert!(book.field_history.iter().all(|h| ids.contains(&h.deal_id)));
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
        now(),
    );
    for request in &requests {
        let deal = book.deals.iter().find(|d| d.id == request.deal_id).unwrap();
        assert_eq!(deal.status, DealStatus::Open);
        // Above what the policy pre-approves, or with payment terms that need finance.
        assert!(deal.fields.discount_bps > 1500 || request.terms.payment_days > 45);
        assert_eq!(request.terms.discount_bps, deal.fields.discount_bps);
        assert!(request.created_at <= now());
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
        now(),
    );
    assert_eq!(requests, again);
}
