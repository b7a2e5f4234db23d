//! GetForecast's period forecast: open deals weighed by the snapshot's period rates q (by stage,
//! days left, size band and close-date pushes so far), the not-yet-created term learned from
//! the last months, the classic figure beside them, and the method named. The server's clock
//! stands at 10 July 2025, 12:00 UTC, over a hand-built book.

use dealdesk::app::Clock;
use dealdesk::domain::deal::{
    Bant, Deal, DealFields, DealStatus, ForecastCategory, HistoryDirection, StageHistoryEntry,
};
use dealdesk::domain::deal_history::{
    FieldHistoryEntry, FieldValue, TrackedField, rows_from_stage_history,
};
use dealdesk::domain::directory::Role;
use dealdesk::domain::ids::{DealId, PipelineId};
use dealdesk::proto as pb;
use dealdesk::startup::Application;

use crate::accuracy::{closed_book, june_closed, pipeline};
use crate::contract_test;
use crate::fixtures::{Book, at, domain_usd, pipeline_uuid};
use crate::helpers::{TestApp, authed, user_id};

const NOW: &str = "2025-07-10T12:00:00Z";

/// An open deal in `s1` created at `created` closing on `close`, with a close-date move at
/// `moved` from `first_close` when given.
fn open_deal(
    pipeline: uuid::Uuid,
    owner: &pb::User,
    amount: i64,
    created: &str,
    close: &str,
    moved: Option<(&str, &str)>,
) -> (Deal, Vec<StageHistoryEntry>, Vec<FieldHistoryEntry>) {
    let day = |d: &str| d.parse::<chrono::NaiveDate>().unwrap();
    let deal = Deal {
        id: DealId::generate(),
        pipeline_id: PipelineId(pipeline),
        stage_id: "s1".into(),
        status: DealStatus::Open,
        loss_reason: String::new(),
        fields: DealFields {
            display_name: format!("open {amount}").try_into().unwrap(),
            account: "Open Corp".to_string().try_into().unwrap(),
            owner_id: user_id(&owner.name),
            amount: Some(domain_usd(amount)),
            close_date: Some(day(close)),
            lead_source: None,
            next_step: String::new(),
            next_step_date: None,
            bant: Bant::default(),
            confirmed_budget: None,
            discount_bps: 0,
            forecast_category: ForecastCategory::Pipeline,
            contacts: vec![],
            qualification: vec![],
        },
        created_at: at(created),
        updated_at: at(moved.map_or(created, |m| m.0)),
        stage_entered_at: at(created),
        closed_at: None,
        version: 1,
    };
    let first_close = moved.map_or(close, |m| m.1);
    let history = vec![StageHistoryEntry {
        sequence: 0,
        deal_id: deal.id,
        pipeline_id: PipelineId(pipeline),
        from_stage: None,
        to_stage: "s1".into(),
        at: at(created),
        actor: None,
        amount: Some(domain_usd(amount)),
        close_date: Some(day(first_close)),
        direction: HistoryDirection::Create,
        overridden: false,
        justification: String::new(),
    }];
    // The rows up to the move (the deal as first dated), then the move itself.
    let mut first = deal.clone();
    first.fields.close_date = Some(day(first_close));
    let mut fields = rows_from_stage_history(&first, &history);
    if let Some((when, from)) = moved {
        fields.push(FieldHistoryEntry {
            sequence: 0,
            deal_id: deal.id,
            at: at(when),
            actor: None,
            field: TrackedField::CloseDate,
            old: Some(FieldValue::CloseDate(day(from))),
            new: Some(FieldValue::CloseDate(day(close))),
        });
    }
    (deal, history, fields)
}

/// q as the snapshot's month table gives it for a deal in `s1`, `days_left` before the end of
/// its month, of `amount` USD minor units with `pushes` pushes so far: the cell of the bucket
/// with the band and the pushes, else the band's, else the bucket's, else the stage's prior
/// (its win rate x the table's in-period share).
fn q_of(snapshot: &pb::WinRateSnapshot, days_left: i32, amount: i64, pushes: i32) -> f64 {
    let table = snapshot
        .period_rates
        .iter()
        .find(|t| t.kind == pb::period_rate_table::Kind::Month as i32)
        .expect("a month table");
    let bucket = [0, 7, 14, 30, 60]
        .into_iter()
        .filter(|start| days_left >= *start)
        .max()
        .unwrap_or(0);
    let band = match table.size_cuts.as_slice() {
        [low, _] if amount <= *low => 0,
        [_, high] if amount <= *high => 1,
        [_, _] => 2,
        _ => 0,
    };
    let cell = |size_band: Option<i32>, push: Option<i32>| {
        table.cells.iter().find(|c| {
            c.stage == "s1"
                && c.horizon_from_days == bucket
                && c.size_band == size_band
                && c.pushes == push
        })
    };
    let rate = snapshot
        .stages
        .iter()
        .find(|s| s.stage_id == "s1")
        .unwrap()
        .smoothed_rate;
    cell(Some(band), Some(pushes.min(2)))
        .or_else(|| cell(Some(band), None))
        .or_else(|| cell(None, None))
        .map_or(rate * table.in_period_share, |c| c.q)
}

fn weigh(amount: i64, p: f64) -> i64 {
    (amount as f64 * p + 0.5).floor() as i64
}

/// The figures of `user`'s line in a forecast's breakdown by report.
fn report(f: &pb::Forecast, user: &pb::User) -> pb::ForecastFigures {
    f.by_report
        .iter()
        .find(|r| r.user == user.name)
        .and_then(|r| r.figures)
        .unwrap()
}

/// GetForecast of July 2025 for `scope`.
/// Takes the org's forecast snapshot of `period` as the admin, then lists the period's org
/// snapshots: (taken, listed).
async fn org_snapshot(
    app: &TestApp,
    period: &str,
) -> (pb::ForecastSnapshot, Vec<pb::ForecastSnapshot>) {
    let taken = app
        .forecasts()
        .await
        .snapshot_forecast(authed(
            &app.admin_token,
            pb::SnapshotForecastRequest {
                period: period.into(),
                scope: "org".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let listed = app
        .forecasts()
        .await
        .list_forecast_snapshots(authed(
            &app.admin_token,
            pb::ListForecastSnapshotsRequest {
                period: period.into(),
                scope: "org".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    (taken, listed.snapshots)
}

async fn forecast(app: &TestApp, token: &str, scope: &str) -> pb::Forecast {
    forecast_of(app, token, scope, "2025-07").await
}

/// GetForecast of `period` for `scope`.
async fn forecast_of(app: &TestApp, token: &str, scope: &str, period: &str) -> pb::Forecast {
    app.forecasts()
        .await
        .get_forecast(authed(
            token,
            pb::GetForecastRequest {
                period: period.into(),
                scope: scope.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

/// ComputeWinRates of `pipeline` now, with the default window, as the admin.
async fn compute_win_rates(app: &TestApp, pipeline: &str) -> pb::WinRateSnapshot {
    app.forecasts()
        .await
        .compute_win_rates(authed(
            &app.admin_token,
            pb::ComputeWinRatesRequest {
                pipeline: pipeline.to_string(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

contract_test!(
    get_forecast_weighs_open_deals_by_period_rates_and_adds_the_not_yet_created_term,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let rep1 = app.user(Role::Rep, Some(&manager.0)).await;
        let rep2 = app.user(Role::Rep, Some(&manager.0)).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        // Closed in June: A (rep 1, 100.00) won; B (rep 2, 200.00) lost; C (rep 2, 400.00,
        // created on the 5th) won; and D (rep 1, 300.00, created on the 15th) won on the 28th.
        let mut closed = june_closed(&rep1.0, &rep2.0);
        closed.push((
            &rep1.0,
            30_000,
            "2025-06-15T09:00:00Z",
            "2025-06-30",
            true,
            "2025-06-28T12:00:00Z",
        ));
        let mut book = closed_book(pid, &closed);
        // Open: E and E' (rep 1, 1,000.00 each) closing on 25 and 20 July; F (rep 2, 500.00)
        // dated 25 June, pushed to 25 July on 20 June (one push); G (rep 1, 50.00) closing in
        // August.
        for (owner, amount, created, close, moved) in [
            (&rep1.0, 100_000, "2025-07-01T09:00:00Z", "2025-07-25", None),
            (&rep1.0, 100_000, "2025-07-02T09:00:00Z", "2025-07-20", None),
            (
                &rep2.0,
                50_000,
                "2025-06-01T09:00:00Z",
                "2025-07-25",
                Some(("2025-06-20T09:00:00Z", "2025-06-25")),
            ),
            (&rep1.0, 5_000, "2025-06-02T09:00:00Z", "2025-08-15", None),
        ] {
            book.add(open_deal(pid, owner, amount, created, close, moved));
        }
        book.insert(&app).await;

        // Without a snapshot: the classic forecast at the stage's default (50%), nothing for
        // deals not created yet.
        let classic = forecast(&app, &manager.1, &manager.0.name).await;
        assert_eq!(classic.method, pb::ForecastMethod::StageWeighted as i32);
        assert_eq!(classic.not_yet_created, None);
        let totals = classic.totals.unwrap();
        assert_eq!(totals.weighted_pipeline, 2 * 50_000 + 25_000);
        assert_eq!(totals.period_forecast, 125_000);
        assert_eq!(
            (totals.expected, totals.classic_expected),
            (125_000, 125_000)
        );

        let snapshot = compute_win_rates(&app, &pipeline.name).await;
        let f = forecast(&app, &manager.1, &manager.0.name).await;
        assert_eq!(f.method, pb::ForecastMethod::PeriodForecast as i32);
        assert!(f.stage_weighted_pipelines.is_empty());
        // 10 July to 31 July: 21 days left.
        assert_eq!(f.horizon_days, 21);
        let rate = snapshot.stages.iter().find(|s| s.stage_id == "s1").unwrap();
        let (q_e, q_f) = (
            q_of(&snapshot, 21, 100_000, 0),
            q_of(&snapshot, 21, 50_000, 1),
        );
        let (e, f_) = (weigh(100_000, q_e), weigh(50_000, q_f));
        let classic_e = weigh(100_000, rate.smoothed_rate);
        let classic_f = weigh(50_000, rate.smoothed_rate);
        // The not-yet-created term: as of the start of 10 July (9 days into it), each of the 12
        // months before counts the deals booked in it that were created more than 9 days into
        // it: only D
        // (created 15 June, booked 28 June), rep 1's. Rep 1's mean: 30,000 / 12 = 2,500.
        let new = f.not_yet_created.clone().unwrap();
        assert_eq!(new.expected, 2_500);
        let past: Vec<(String, i64)> = new
            .past_periods
            .iter()
            .map(|p| (p.period.clone(), p.revenue))
            .collect();
        let mut months: Vec<(String, i64)> = (0..12)
            .map(|i| {
                let (y, m) = if i < 6 { (2024, 7 + i) } else { (2025, i - 5) };
                (format!("{y}-{m:02}"), 0)
            })
            .collect();
        months[11].1 = 30_000;
        assert_eq!(past, months);
        let totals = f.totals.unwrap();
        assert_eq!(totals.closed_won, 0);
        assert_eq!(totals.weighted_pipeline, 2 * classic_e + classic_f);
        assert_eq!(totals.classic_expected, 2 * classic_e + classic_f);
        assert_eq!(totals.period_forecast, 2 * e + f_);
        assert_eq!(totals.not_yet_created, 2_500);
        assert_eq!(totals.expected, 2 * e + f_ + 2_500);
        assert_eq!(totals.open_deals, 3);
        // Each rep's part: rep 1 has E, E' and the whole term, rep 2 has F.
        let (one, two) = (report(&f, &rep1.0), report(&f, &rep2.0));
        assert_eq!(
            (one.period_forecast, one.not_yet_created, one.expected),
            (2 * e, 2_500, 2 * e + 2_500)
        );
        assert_eq!(
            (two.period_forecast, two.not_yet_created, two.expected),
            (f_, 0, f_)
        );
        let s1 = &f.by_stage[0];
        assert_eq!(
            (s1.weighted, s1.period_weighted),
            (2 * classic_e + classic_f, 2 * e + f_)
        );
        let range = f.range.unwrap();
        assert!(
            range.p10 <= range.p50 && range.p50 <= range.p90,
            "{range:?}"
        );
        assert!(range.p90 <= 250_000 + 30_000, "{range:?}");

        // The org's forecast, added up in the database by segment, agrees deal for deal.
        let org = forecast(&app, &app.admin_token, "org").await;
        assert_eq!(org.totals, f.totals);
        assert_eq!(org.not_yet_created, f.not_yet_created);
        // Its range needed the deals one by one after their groups (E and E' are one group):
        // asked again, it reads them one by one only, and answers the same, range and all.
        assert_eq!(forecast(&app, &app.admin_token, "org").await, org);

        // The term is read once per scope and day: H (rep 2, 600.00, created on 20 June, won on
        // the 25th), booked since, is not in today's term, and is in tomorrow's (rep 2's mean
        // 60,000 / 12 = 5,000).
        closed_book(
            pid,
            &[(
                &rep2.0,
                60_000,
                "2025-06-20T09:00:00Z",
                "2025-06-25",
                true,
                "2025-06-25T12:00:00Z",
            )],
        )
        .insert(&app)
        .await;
        let today = forecast(&app, &app.admin_token, "org").await;
        assert_eq!(today.not_yet_created, org.not_yet_created);
        let tomorrow = app
            .app
            .clone()
            .with_clock(Clock::starting_at(at(NOW) + chrono::Duration::days(1)));
        let admin = tomorrow.authenticate(Some(&app.admin_token)).await.unwrap();
        let next = tomorrow
            .forecast(
                &admin,
                dealdesk::domain::period::Period::parse("2025-07").unwrap(),
                dealdesk::app::forecast::Scope::Org,
                &[],
                dealdesk::domain::money::Currency::USD,
            )
            .await
            .unwrap();
        assert_eq!(next.not_yet_created.map(|n| n.expected), Some(7_500));
    }
);

contract_test!(
    timelines_read_in_pages_are_the_timelines_read_at_once,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        use dealdesk::app::ports::{ForecastStore, TimelinePage};
        let manager = app.user(Role::Manager, None).await;
        let rep1 = app.user(Role::Rep, Some(&manager.0)).await;
        let rep2 = app.user(Role::Rep, Some(&manager.0)).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        let mut book = closed_book(pid, &june_closed(&rep1.0, &rep2.0));
        for (amount, close, moved) in [
            (100_000, "2025-07-25", None),
            (
                50_000,
                "2025-07-25",
                Some(("2025-06-20T09:00:00Z", "2025-06-25")),
            ),
            (5_000, "2025-08-15", None),
        ] {
            book.add(open_deal(
                pid,
                &rep1.0,
                amount,
                "2025-06-01T09:00:00Z",
                close,
                moved,
            ));
        }
        let count = book.deals.len();
        book.insert(&app).await;
        let store = &app.app.store;
        let window = (at("2025-01-01T00:00:00Z"), at(NOW));
        let mut whole = store
            .deal_timelines(Some(PipelineId(pid)), None, window, None)
            .await
            .unwrap();
        whole.sort_by_key(|(_, deal)| deal.deal_id);
        assert_eq!(whole.len(), count);
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = TimelinePage { after, limit: 2 };
            let next = store
                .deal_timelines(Some(PipelineId(pid)), None, window, Some(page))
                .await
                .unwrap();
            assert!(next.len() <= 2);
            let Some((_, last)) = next.last() else { break };
            after = Some(last.deal_id);
            paged.extend(next);
        }
        assert_eq!(paged, whole);
    }
);

/// The book of a pipeline with every amount in euros instead of dollars.
fn in_euros(mut book: Book) -> Book {
    use dealdesk::domain::money::Currency;
    let eur = |m: &mut Option<dealdesk::domain::money::Money>| {
        if let Some(m) = m {
            m.currency = Currency::EUR;
        }
    };
    book.deals
        .iter_mut()
        .for_each(|d| eur(&mut d.fields.amount));
    book.history.iter_mut().for_each(|h| eur(&mut h.amount));
    for row in &mut book.fields {
        for value in [&mut row.old, &mut row.new] {
            if let Some(FieldValue::Currency(c)) = value {
                *c = Currency::EUR;
            }
        }
    }
    book
}

contract_test!(
    a_pipeline_in_euros_learns_what_the_same_pipeline_in_dollars_learns_without_any_rate,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let rep1 = app.user(Role::Rep, Some(&manager.0)).await;
        let rep2 = app.user(Role::Rep, Some(&manager.0)).await;
        // The same book twice: closed in June, and one deal open since 1 June dated 25 July.
        let book = |pid| {
            let mut book = closed_book(pid, &june_closed(&rep1.0, &rep2.0));
            book.add(open_deal(
                pid,
                &rep1.0,
                100_000,
                "2025-06-01T09:00:00Z",
                "2025-07-25",
                None,
            ));
            book
        };
        let mut learned = Vec::new();
        for euros in [false, true] {
            let pipeline = pipeline(&app).await;
            let pid = pipeline_uuid(&pipeline);
            let book = match euros {
                true => in_euros(book(pid)),
                false => book(pid),
            };
            book.insert(&app).await;
            let snapshot = compute_win_rates(&app, &pipeline.name).await;
            learned.push(snapshot.period_rates);
        }
        let (dollars, euros) = (&learned[0], &learned[1]);
        assert_eq!(dollars.len(), 2);
        let observations = |tables: &[pb::PeriodRateTable]| -> i64 {
            tables
                .iter()
                .flat_map(|t| &t.cells)
                .filter(|c| c.size_band.is_none())
                .map(|c| c.observations)
                .sum()
        };
        assert!(observations(euros) > 0);
        for (usd, eur) in dollars.iter().zip(euros) {
            assert_eq!(usd.size_currency_code, "USD");
            assert_eq!(eur.size_currency_code, "EUR");
            // Closed in June: 100.00 won, 200.00 lost, 400.00 won.
            assert_eq!(eur.size_cuts, [10_000, 20_000]);
            assert_eq!(
                pb::PeriodRateTable {
                    size_currency_code: "USD".into(),
                    ..eur.clone()
                },
                *usd
            );
        }
    }
);

mod ended;
mod many_pipelines;
mod overdue;
mod pull_in;
mod quarter;
mod wide_team;
