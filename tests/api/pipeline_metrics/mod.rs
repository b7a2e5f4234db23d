//! GetPipelineMetrics on a hand-built history (January and February 2025) whose answers are
//! worked out in the comments, plus permissions and bad input.
//!
//! The book (pipeline P, SMB: discover 1, evaluate 2 (stale after 30 days), decide 3, won,
//! lost; every time 09:00 UTC unless said). Close dates in brackets are the deal's close date
//! on that history row.
//!
//! | deal | owner | source   | history                                                           |
//! |------|-------|----------|-------------------------------------------------------------------|
//! | A    | R1    | inbound  | discover 01-02 [03-31], evaluate 01-12 [03-31], decide 01-22      |
//! |      |       |          | [04-15], won 02-01 [05-20]                                        |
//! | B    | R1    | outbound | discover 01-05 [02-28], evaluate 01-25 [02-28], back to discover  |
//! |      |       |          | 02-04 [03-10], lost 02-24 [03-10]                                 |
//! | C    | R2    | inbound  | discover 2024-12-20 [01-31], evaluate 01-09 [02-20], decide 02-13 |
//! |      |       |          | [02-28], still open                                               |
//! | D    | R2    | referral | created in evaluate 02-10 [05-31], won 02-20 21:00 [05-31]        |
//! | E    | R3    | inbound  | discover 01-10 [02-28], lost 01-30 [01-30] (pulled in, no push)   |
//! | F    | R1    | none     | discover 02-14 [no date], evaluate 02-25 [06-30], still open      |
//! | G    | R2    | inbound  | discover three days ago [next year], still open                  |
//! | H    | R1    | inbound  | in another pipeline: discover 01-03, won 01-13 (never counted)    |
//! | J    | R3    | outbound | discover 100 days ago, evaluate 90, decide 80, won 60 days ago    |
//! | K    | R3    | outbound | discover 50 days ago, lost 20 days ago                            |
//!
//! J and K are recent: they move nothing in 2025 and are only the stale rule's history (the
//! twelve months before now, pipeline-wide).
//!
//! Reporting tree: manager M over R1 and R2; manager M2 over R3.

use chrono::{DateTime, Duration, Utc};
use dealdesk::domain::deal::{
    Bant, Deal, DealFields, DealStatus, ForecastCategory, HistoryDirection, LeadSource,
    StageHistoryEntry,
};
use dealdesk::domain::directory::Role;
use dealdesk::domain::money::{Currency, Money};
use dealdesk::proto as pb;
use tonic::{Code, Status};

use crate::contract_test;
use crate::fixtures::{at, create_pipeline, day, insert_book, stage_at};
use crate::helpers::{Person, TestApp, assert_error, authed, person, user_id, violated_fields};

/// Discover, evaluate (stale after 30 days), decide, won, lost.
async fn pipeline(app: &TestApp, name: &str) -> (String, uuid::Uuid) {
    use pb::stage::Kind;
    let stage = |id: &str, position, kind: Kind, bps, stale: Option<i32>| pb::Stage {
        stale_after_days: stale,
        ..stage_at(id, position, kind, bps)
    };
    let created = create_pipeline(
        app,
        pb::Pipeline {
            display_name: name.into(),
            segment: pb::Segment::Smb as i32,
            stages: vec![
                stage("discover", 1, Kind::Open, 2_000, None),
                stage("evaluate", 2, Kind::Open, 5_000, Some(30)),
                stage("decide", 3, Kind::Open, 8_000, None),
                stage("won", 4, Kind::Won, 10_000, None),
                stage("lost", 5, Kind::Lost, 0, None),
            ],
            ..Default::default()
        },
    )
    .await;
    let id = uuid::Uuid::parse_str(created.name.trim_start_matches("pipelines/")).unwrap();
    (created.name, id)
}

/// A deal that went through `steps` (stage, when, close date on that row), in order.
fn deal(
    pipeline: uuid::Uuid,
    owner: &Person,
    source: Option<LeadSource>,
    steps: &[(&str, DateTime<Utc>, Option<&str>)],
) -> (Deal, Vec<StageHistoryEntry>) {
    let position = |stage: &str| match stage {
        "discover" => 1,
        "evaluate" => 2,
        "decide" => 3,
        _ => 9,
    };
    let (last_stage, last_at, last_close) = *steps.last().unwrap();
    let status = match last_stage {
        "won" => DealStatus::Won,
        "lost" => DealStatus::Lost,
        _ => DealStatus::Open,
    };
    let deal = Deal {
        id: uuid::Uuid::now_v7(),
        pipeline_id: pipeline,
        stage_id: last_stage.into(),
        status,
        loss_reason: if status == DealStatus::Lost {
            "No budget".into()
        } else {
            String::new()
        },
        fields: DealFields {
            display_name: format!("deal from {}", steps[0].1.date_naive()),
            account: "Metrics Corp".into(),
            owner_id: user_id(&owner.name()),
            amount: Some(Money {
                minor: 100_000,
                currency: Currency::USD,
            }),
            // A closed deal is booked on the day it closed.
            close_date: if status == DealStatus::Open {
                last_close.map(day)
            } else {
                Some(last_at.date_naive())
            },
            lead_source: source,
            next_step: String::new(),
            next_step_date: None,
            bant: Bant::default(),
            confirmed_budget: None,
            discount_bps: 0,
            forecast_category: if status == DealStatus::Open {
                ForecastCategory::Pipeline
            } else {
                ForecastCategory::Closed
            },
            contacts: vec![],
            qualification: vec![],
        },
        created_at: steps[0].1,
        updated_at: last_at,
        stage_entered_at: last_at,
        closed_at: (status != DealStatus::Open).then_some(last_at),
        version: 1,
    };
    let history = steps
        .iter()
        .enumerate()
        .map(|(i, (stage, when, close))| {
            let from = (i > 0).then(|| steps[i - 1].0);
            let direction = match from {
                None => HistoryDirection::Create,
                Some(_) if matches!(*stage, "won" | "lost") => HistoryDirection::Close,
                Some(from) if position(stage) < position(from) => HistoryDirection::Backward,
                Some(_) => HistoryDirection::Forward,
            };
            StageHistoryEntry {
                sequence: 0,
                deal_id: deal.id,
                pipeline_id: pipeline,
                from_stage: from.map(str::to_string),
                to_stage: (*stage).into(),
                at: *when,
                actor: None,
                amount: deal.fields.amount,
                close_date: close.map(day),
                direction,
                overridden: false,
                justification: String::new(),
            }
        })
        .collect();
    (deal, history)
}

struct Book {
    pipeline: String,
    deal_desk: Person,
    manager: Person,
    rep1: Person,
    rep2: Person,
    rep3: Person,
}

/// Builds the book of the module doc.
async fn book(app: &TestApp) -> Book {
    let deal_desk = person(app, Role::DealDesk, None).await;
    let manager = person(app, Role::Manager, None).await;
    let rep1 = person(app, Role::Rep, Some(&manager)).await;
    let rep2 = person(app, Role::Rep, Some(&manager)).await;
    let manager2 = person(app, Role::Manager, None).await;
    let rep3 = person(app, Role::Rep, Some(&manager2)).await;
    let (name, p) = pipeline(app, "Metrics").await;
    let (_, other) = pipeline(app, "Elsewhere").await;
    let t = |text: &str| at(&format!("2025-{text}:00Z"));
    let now = Utc::now();
    let ago = |days: i64| now - Duration::days(days);
    let books = [
        deal(
            p,
            &rep1,
            Some(LeadSource::Inbound),
            &[
                ("discover", t("01-02T09:00"), Some("2025-03-31")),
                ("evaluate", t("01-12T09:00"), Some("2025-03-31")),
                ("decide", t("01-22T09:00"), Some("2025-04-15")),
                ("won", t("02-01T09:00"), Some("2025-05-20")),
            ],
        ),
        deal(
            p,
            &rep1,
            Some(LeadSource::Outbound),
            &[
                ("discover", t("01-05T09:00"), Some("2025-02-28")),
                ("evaluate", t("01-25T09:00"), Some("2025-02-28")),
                ("discover", t("02-04T09:00"), Some("2025-03-10")),
                ("lost", t("02-24T09:00"), Some("2025-03-10")),
            ],
        ),
        deal(
            p,
            &rep2,
            Some(LeadSource::Inbound),
            &[
                ("discover", at("2024-12-20T09:00:00Z"), Some("2025-01-31")),
                ("evaluate", t("01-09T09:00"), Some("2025-02-20")),
                ("decide", t("02-13T09:00"), Some("2025-02-28")),
            ],
        ),
        deal(
            p,
            &rep2,
            Some(LeadSource::Referral),
            &[
                ("evaluate", t("02-10T09:00"), Some("2025-05-31")),
                ("won", t("02-20T21:00"), Some("2025-05-31")),
            ],
        ),
        deal(
            p,
            &rep3,
            Some(LeadSource::Inbound),
            &[
                ("discover", t("01-10T09:00"), Some("2025-02-28")),
                ("lost", t("01-30T09:00"), Some("2025-01-30")),
            ],
        ),
        deal(
            p,
            &rep1,
            None,
            &[
                ("discover", t("02-14T09:00"), None),
                ("evaluate", t("02-25T09:00"), Some("2025-06-30")),
            ],
        ),
        deal(
            p,
            &rep2,
            Some(LeadSource::Inbound),
            &[("discover", ago(3), Some("2027-12-31"))],
        ),
        deal(
            p,
            &rep3,
            Some(LeadSource::Outbound),
            &[
                ("discover", ago(100), Some("2027-12-31")),
                ("evaluate", ago(90), Some("2027-12-31")),
                ("decide", ago(80), Some("2027-12-31")),
                ("won", ago(60), Some("2027-12-31")),
            ],
        ),
        deal(
            p,
            &rep3,
            Some(LeadSource::Outbound),
            &[
                ("discover", ago(50), Some("2027-12-31")),
                ("lost", ago(20), Some("2027-12-31")),
            ],
        ),
        deal(
            other,
            &rep1,
            Some(LeadSource::Inbound),
            &[
                ("discover", t("01-03T09:00"), Some("2025-01-31")),
                ("won", t("01-13T09:00"), Some("2025-01-31")),
            ],
        ),
    ];
    let deals: Vec<Deal> = books.iter().map(|(d, _)| d.clone()).collect();
    let fields: Vec<_> = books
        .iter()
        .flat_map(|(d, rows)| dealdesk::domain::deal_history::rows_from_stage_history(d, rows))
        .collect();
    let mut history: Vec<StageHistoryEntry> =
        books.into_iter().flat_map(|(_, rows)| rows).collect();
    // Stored in time order, so each deal's rows are in order too.
    history.sort_by_key(|h| h.at);
    insert_book(app, &deals, &history, &fields).await;
    Book {
        pipeline: name,
        deal_desk,
        manager,
        rep1,
        rep2,
        rep3,
    }
}

/// January and February 2025 of `pipeline`.
fn ask(pipeline: &str) -> pb::GetPipelineMetricsRequest {
    pb::GetPipelineMetricsRequest {
        pipeline: pipeline.into(),
        start_month: "2025-01".into(),
        end_month: "2025-02".into(),
        ..Default::default()
    }
}

async fn metrics(
    app: &TestApp,
    token: &str,
    request: pb::GetPipelineMetricsRequest,
) -> Result<pb::PipelineMetrics, Status> {
    app.pipelines()
        .await
        .get_pipeline_metrics(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

/// Rounds away floating-point noise.
fn r(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 1e9).round() / 1e9)
}

/// (stage id, entered, advanced, conversion) per stage.
fn conversion(p: &pb::PeriodPipelineMetrics) -> Vec<(String, i64, i64, Option<f64>)> {
    p.stages
        .iter()
        .map(|s| {
            let id = s.stage.rsplit('/').next().unwrap().to_string();
            (id, s.entered, s.advanced, r(s.conversion_rate))
        })
        .collect()
}

/// (stage id, exits, backward moves, backward rate, median days).
type Velocity = (String, i64, i64, Option<f64>, Option<f64>);

/// (won, lost, win rate, median sales cycle days).
type Outcome = (i64, i64, Option<f64>, Option<f64>);

/// Velocity per stage.
fn velocity(p: &pb::PeriodPipelineMetrics) -> Vec<Velocity> {
    p.stages
        .iter()
        .map(|s| {
            let id = s.stage.rsplit('/').next().unwrap().to_string();
            (
                id,
                s.exits,
                s.backward_moves,
                r(s.backward_rate),
                r(s.median_days_in_stage),
            )
        })
        .collect()
}

/// (compared, pushes, pushed deals, push rate, median push days).
fn pushes(p: &pb::PeriodPipelineMetrics) -> (i64, i64, i64, Option<f64>, Option<f64>) {
    let c = p.close_date_pushes.as_ref().unwrap();
    (
        c.compared,
        c.pushes,
        c.pushed_deals,
        r(c.push_rate),
        r(c.median_push_days),
    )
}

fn closed(c: &pb::ClosedDealMetrics) -> Outcome {
    (c.won, c.lost, r(c.win_rate), r(c.median_sales_cycle_days))
}

fn by_source(p: &pb::PeriodPipelineMetrics) -> Vec<(pb::LeadSource, Outcome)> {
    p.by_lead_source
        .iter()
        .map(|s| {
            (
                pb::LeadSource::try_from(s.lead_source).unwrap(),
                closed(s.closed.as_ref().unwrap()),
            )
        })
        .collect()
}

fn s(id: &str) -> String {
    id.to_string()
}

contract_test!(
    conversion_counts_the_deals_entering_each_stage_per_month_and_those_that_got_further,
    |app| {
        let book = book(&app).await;
        let m = metrics(&app, &book.deal_desk.token, ask(&book.pipeline))
            .await
            .unwrap();
        assert_eq!(m.pipeline, book.pipeline);
        assert_eq!(m.segment, pb::Segment::Smb as i32);
        assert_eq!(
            (m.start_month.as_str(), m.end_month.as_str()),
            ("2025-01", "2025-02")
        );
        let months: Vec<(&str, &str)> = m
            .months
            .iter()
            .map(|p| (p.start_month.as_str(), p.end_month.as_str()))
            .collect();
        assert_eq!(months, [("2025-01", "2025-01"), ("2025-02", "2025-02")]);
        // January entries: discover A (01-02), B (01-05), E (01-10) (C entered in December);
        // A and B went on to evaluate, E was lost: 2/3. Evaluate C (01-09), A (01-12), B
        // (01-25): C and A reached decide, B fell back and was lost: 2/3. Decide A (01-22), won.
        assert_eq!(
            conversion(&m.months[0]),
            [
                (s("discover"), 3, 2, Some(2.0 / 3.0)),
                (s("evaluate"), 3, 2, Some(2.0 / 3.0)),
                (s("decide"), 1, 1, Some(1.0)),
            ]
            .map(|(id, e, a, c)| (id, e, a, r(c)))
        );
        // February: discover B (back, 02-04; then lost) and F (02-14; reached evaluate): 1/2.
        // Evaluate D (created 02-10; won) and F (02-25; still there): 1/2. Decide C (02-13;
        // still there): 0/1.
        assert_eq!(
            conversion(&m.months[1]),
            [
                (s("discover"), 2, 1, Some(0.5)),
                (s("evaluate"), 2, 1, Some(0.5)),
                (s("decide"), 1, 0, Some(0.0)),
            ]
        );
        // The range counts each deal once: discover A, B (twice), E, F = 4, of which A, B (its
        // January entry advanced) and F advanced: 3/4. Evaluate C, A, B, D, F = 5, advanced C,
        // A, D: 3/5. Decide A, C: 1/2. Deal H is in another pipeline, G moved only this month.
        assert_eq!(
            conversion(m.total.as_ref().unwrap()),
            [
                (s("discover"), 4, 3, Some(0.75)),
                (s("evaluate"), 5, 3, Some(0.6)),
                (s("decide"), 2, 1, Some(0.5)),
            ]
        );
    }
);

contract_test!(
    median_days_in_stage_and_backward_moves_count_stays_in_the_month_they_ended,
    |app| {
        let book = book(&app).await;
        let m = metrics(&app, &book.deal_desk.token, ask(&book.pipeline))
            .await
            .unwrap();
        // Stays that ended in January: discover A 10 days (01-02 -> 01-12), B 20, C 20 (from
        // 2024-12-20 -> 01-09), E 20: sorted 10, 20, 20, 20, median (20 + 20) / 2 = 20 (the mean
        // would be 17.5). Evaluate A 10. Decide: none ended.
        assert_eq!(
            velocity(&m.months[0]),
            [
                (s("discover"), 4, 0, Some(0.0), Some(20.0)),
                (s("evaluate"), 1, 0, Some(0.0), Some(10.0)),
                (s("decide"), 0, 0, None, None),
            ]
        );
        // February: discover B 20 (02-04 -> 02-24), F 11 (02-14 -> 02-25): median 15.5.
        // Evaluate B 10 (01-25 -> 02-04, backward), C 35 (01-09 -> 02-13), D 10.5 (02-10 09:00
        // -> 02-20 21:00): sorted 10, 10.5, 35, median 10.5; 1 of 3 exits backward. Decide A 10.
        assert_eq!(
            velocity(&m.months[1]),
            [
                (s("discover"), 2, 0, Some(0.0), Some(15.5)),
                (s("evaluate"), 3, 1, Some(1.0 / 3.0), Some(10.5)),
                (s("decide"), 1, 0, Some(0.0), Some(10.0)),
            ]
            .map(|(id, e, b, rate, med)| (id, e, b, r(rate), med))
        );
        // The range: discover 10, 11, 20, 20, 20, 20: median 20. Evaluate 10, 10, 10.5, 35:
        // median (10 + 10.5) / 2 = 10.25, 1 of 4 backward. Decide 10.
        assert_eq!(
            velocity(m.total.as_ref().unwrap()),
            [
                (s("discover"), 6, 0, Some(0.0), Some(20.0)),
                (s("evaluate"), 4, 1, Some(0.25), Some(10.25)),
                (s("decide"), 1, 0, Some(0.0), Some(10.0)),
            ]
        );
    }
);

contract_test!(
    close_date_pushes_count_close_date_changes_into_a_later_month,
    |app| {
        let book = book(&app).await;
        let m = metrics(&app, &book.deal_desk.token, ask(&book.pipeline))
            .await
            .unwrap();
        // Every change of an open deal's close date (field history), by the month it was made
        // in; the booking dates set by closes (A, B, D in February, E's 01-30 in January) are
        // not re-datings. January: A 03-31 -> 04-15 (push, 15 days), C 01-31 -> 02-20 (push, 20
        // days); A's and B's stage moves that kept the date change nothing: 2 of 2, deals A
        // and C, median (15 + 20) / 2 = 17.5.
        assert_eq!(pushes(&m.months[0]), (2, 2, 2, Some(1.0), Some(17.5)));
        // February: A 04-15 -> 05-20 (push, 35 days), B 02-28 -> 03-10 (push, 10 days), C 02-20
        // -> 02-28 (later but the same month: no); F's close date was set, not changed: 2 of 3,
        // deals A and B, median (10 + 35) / 2 = 22.5.
        assert_eq!(
            pushes(&m.months[1]),
            (3, 2, 2, Some(0.666666667), Some(22.5))
        );
        // The range: 4 of 5, deals A, B and C, days 10, 15, 20, 35: median 17.5.
        assert_eq!(
            pushes(m.total.as_ref().unwrap()),
            (5, 4, 3, Some(0.8), Some(17.5))
        );
    }
);

contract_test!(
    sales_cycle_and_win_rate_by_lead_source_cover_the_deals_closed_in_each_month,
    |app| {
        use pb::LeadSource as Source;
        let book = book(&app).await;
        let m = metrics(&app, &book.deal_desk.token, ask(&book.pipeline))
            .await
            .unwrap();
        // January: E (inbound) lost on 01-30; H won but in another pipeline.
        let january = &m.months[0];
        assert_eq!(
            closed(january.closed.as_ref().unwrap()),
            (0, 1, Some(0.0), None)
        );
        assert_eq!(
            by_source(january),
            [(Source::Inbound, (0, 1, Some(0.0), None))]
        );
        // February: A (inbound) won after 30 days (01-02 -> 02-01), D (referral) after 10 (created
        // 02-10, booked 02-20: whole days), B (outbound) lost: 2/3, median cycle (10 + 30) / 2.
        let february = &m.months[1];
        assert_eq!(
            closed(february.closed.as_ref().unwrap()),
            (2, 1, r(Some(2.0 / 3.0)), Some(20.0))
        );
        assert_eq!(
            by_source(february),
            [
                (Source::Inbound, (1, 0, Some(1.0), Some(30.0))),
                (Source::Outbound, (0, 1, Some(0.0), None)),
                (Source::Referral, (1, 0, Some(1.0), Some(10.0))),
            ]
        );
        // The range: won A and D, lost B and E: 1/2; inbound A won and E lost.
        let total = m.total.as_ref().unwrap();
        assert_eq!(
            closed(total.closed.as_ref().unwrap()),
            (2, 2, Some(0.5), Some(20.0))
        );
        assert_eq!(
            by_source(total),
            [
                (Source::Inbound, (1, 1, Some(0.5), Some(30.0))),
                (Source::Outbound, (0, 1, Some(0.0), None)),
                (Source::Referral, (1, 0, Some(1.0), Some(10.0))),
            ]
        );
    }
);

contract_test!(
    stale_deals_exceed_the_stage_setting_or_twice_the_median_and_a_request_overrides_both,
    |app| {
        use pb::stale_threshold::Source;
        let book = book(&app).await;
        let m = metrics(&app, &book.deal_desk.token, ask(&book.pipeline))
            .await
            .unwrap();
        // From the last twelve months, pipeline-wide: discover stays J 10 days and K 30, median
        // 20, so 40 days. Evaluate sets 30 itself. Decide: J 20 days, so 40. (The 2025 medians,
        // 20 and 10, play no part.)
        let thresholds: Vec<(String, Option<f64>, i32)> = m
            .stale_thresholds
            .iter()
            .map(|t| (t.stage.clone(), t.threshold_days, t.source))
            .collect();
        let stage = |id: &str| format!("{}/stages/{id}", book.pipeline);
        assert_eq!(
            thresholds,
            [
                (stage("discover"), Some(40.0), Source::TwiceMedian as i32),
                (stage("evaluate"), Some(30.0), Source::Stage as i32),
                (stage("decide"), Some(40.0), Source::TwiceMedian as i32),
            ]
        );
        // Open now: C in decide since 2025-02-13 and F in evaluate since 2025-02-25 (both far
        // past their thresholds), G in discover for three days (under 40): C, F, longest first.
        let stale: Vec<(String, String, f64)> = m
            .stale_deals
            .iter()
            .map(|d| (d.stage.clone(), d.owner.clone(), d.threshold_days))
            .collect();
        assert_eq!(
            stale,
            [
                (stage("decide"), book.rep2.name(), 40.0),
                (stage("evaluate"), book.rep1.name(), 30.0),
            ]
        );
        assert_eq!(m.stale_deal_count, 2);
        let compute_time = m.compute_time.unwrap();
        let entered = m.stale_deals[0].stage_enter_time.unwrap();
        assert_eq!(entered.seconds, at("2025-02-13T09:00:00Z").timestamp());
        let expected_days = (compute_time.seconds - entered.seconds) as f64 / 86_400.0;
        assert!((m.stale_deals[0].days_in_stage - expected_days).abs() < 1e-3);

        // Two days for every stage: G (three days in discover) is stale too. At most one listed.
        let m = metrics(
            &app,
            &book.deal_desk.token,
            pb::GetPipelineMetricsRequest {
                stale_after_days: Some(2),
                max_stale_deals: 1,
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap();
        assert!(
            m.stale_thresholds
                .iter()
                .all(|t| t.threshold_days == Some(2.0) && t.source == Source::Request as i32)
        );
        assert_eq!(m.stale_deal_count, 3);
        assert_eq!(m.stale_deals.len(), 1);
        assert_eq!(m.stale_deals[0].stage, stage("decide"));
    }
);

contract_test!(a_rep_sees_metrics_over_their_own_deals_only, |app| {
    let book = book(&app).await;
    let m = metrics(&app, &book.rep1.token, ask(&book.pipeline))
        .await
        .unwrap();
    // R1 owns A, B and F. Evaluate in the range: A, B, F entered; A advanced.
    let total = m.total.as_ref().unwrap();
    assert_eq!(
        conversion(total)[1],
        (s("evaluate"), 3, 1, r(Some(1.0 / 3.0)))
    );
    // Closed: A won, B lost.
    assert_eq!(
        closed(total.closed.as_ref().unwrap()),
        (1, 1, Some(0.5), Some(30.0))
    );
    // Only F of R1's deals is stale; the thresholds are the stages', whoever asks.
    assert_eq!(m.stale_deal_count, 1);
    assert_eq!(m.stale_deals[0].owner, book.rep1.name());
    let org = metrics(&app, &book.deal_desk.token, ask(&book.pipeline))
        .await
        .unwrap();
    assert_eq!(m.stale_thresholds, org.stale_thresholds);
    // Naming themselves is the same view; the org or a colleague is refused.
    let own = metrics(
        &app,
        &book.rep1.token,
        pb::GetPipelineMetricsRequest {
            scope: book.rep1.name(),
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap();
    assert_eq!(own.total, m.total);
    for scope in ["org".to_string(), book.rep2.name()] {
        let err = metrics(
            &app,
            &book.rep1.token,
            pb::GetPipelineMetricsRequest {
                scope,
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap_err();
        assert_error(&err, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
    }
    let err = metrics(
        &app,
        &book.rep1.token,
        pb::GetPipelineMetricsRequest {
            owner: book.rep2.name(),
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
});

contract_test!(
    a_manager_sees_their_subtree_and_may_narrow_it_to_one_owner,
    |app| {
        let book = book(&app).await;
        let m = metrics(&app, &book.manager.token, ask(&book.pipeline))
            .await
            .unwrap();
        // M's subtree is R1 and R2: E (R3) is left out. January discover: A, B entered, both
        // advanced; stays A 10, B 20, C 20: median 20. Nothing of theirs closed in January.
        let january = &m.months[0];
        assert_eq!(conversion(january)[0], (s("discover"), 2, 2, Some(1.0)));
        assert_eq!(
            velocity(january)[0],
            (s("discover"), 3, 0, Some(0.0), Some(20.0))
        );
        assert_eq!(closed(january.closed.as_ref().unwrap()), (0, 0, None, None));
        assert!(january.by_lead_source.is_empty());
        // January's close-date changes without E's: A and C, both pushed.
        assert_eq!(pushes(january), (2, 2, 2, Some(1.0), Some(17.5)));

        // One owner, R2 (C and D): evaluate entered by C and D, both advanced.
        let m = metrics(
            &app,
            &book.manager.token,
            pb::GetPipelineMetricsRequest {
                owner: book.rep2.name(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap();
        let total = m.total.as_ref().unwrap();
        assert_eq!(conversion(total)[1], (s("evaluate"), 2, 2, Some(1.0)));
        assert_eq!(
            closed(total.closed.as_ref().unwrap()),
            (1, 0, Some(1.0), Some(10.0))
        );
        assert_eq!(m.stale_deal_count, 1);

        // R3 is not below M.
        let err = metrics(
            &app,
            &book.manager.token,
            pb::GetPipelineMetricsRequest {
                owner: book.rep3.name(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap_err();
        assert_error(&err, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
        // An owner outside the scope named is a contradiction in the request.
        let err = metrics(
            &app,
            &book.manager.token,
            pb::GetPipelineMetricsRequest {
                scope: book.rep1.name(),
                owner: book.rep2.name(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&err), ["owner"]);
        // Deal desk reads everyone's, R3 included.
        let m = metrics(
            &app,
            &book.deal_desk.token,
            pb::GetPipelineMetricsRequest {
                scope: "org".into(),
                owner: book.rep3.name(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap();
        assert_eq!(
            closed(m.total.unwrap().closed.as_ref().unwrap()),
            (0, 1, Some(0.0), None)
        );
    }
);

contract_test!(lead_source_and_segment_filters_narrow_the_deals, |app| {
    let book = book(&app).await;
    // Inbound: A, C, E (and G, which moved only this month). Discover in the range: A and E
    // entered (C in December), A advanced. Closed: A won, E lost.
    let m = metrics(
        &app,
        &app.admin_token,
        pb::GetPipelineMetricsRequest {
            lead_source: pb::LeadSource::Inbound as i32,
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap();
    let total = m.total.as_ref().unwrap();
    assert_eq!(conversion(total)[0], (s("discover"), 2, 1, Some(0.5)));
    assert_eq!(
        closed(total.closed.as_ref().unwrap()),
        (1, 1, Some(0.5), Some(30.0))
    );
    // Of the stale deals, only C is inbound.
    assert_eq!(m.stale_deal_count, 1);

    // The pipeline serves SMB: the same segment keeps everything, another keeps nothing.
    let smb = metrics(
        &app,
        &app.admin_token,
        pb::GetPipelineMetricsRequest {
            segment: pb::Segment::Smb as i32,
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap();
    let everything = metrics(&app, &app.admin_token, ask(&book.pipeline))
        .await
        .unwrap();
    assert_eq!(smb.total, everything.total);
    let enterprise = metrics(
        &app,
        &app.admin_token,
        pb::GetPipelineMetricsRequest {
            segment: pb::Segment::Enterprise as i32,
            ..ask(&book.pipeline)
        },
    )
    .await
    .unwrap();
    let total = enterprise.total.as_ref().unwrap();
    assert!(total.stages.iter().all(|s| s.entered == 0 && s.exits == 0));
    assert_eq!(closed(total.closed.as_ref().unwrap()), (0, 0, None, None));
    assert_eq!(pushes(total), (0, 0, 0, None, None));
    assert_eq!(
        (enterprise.stale_deal_count, enterprise.stale_deals.len()),
        (0, 0)
    );
});

contract_test!(
    bad_input_names_every_field_and_unknown_resources_are_not_found,
    |app| {
        let book = book(&app).await;
        let err = metrics(
            &app,
            &app.admin_token,
            pb::GetPipelineMetricsRequest {
                pipeline: "pipelines/nope".into(),
                start_month: "2025-13".into(),
                end_month: "2025-Q1".into(),
                scope: "team".into(),
                owner: "people/1".into(),
                lead_source: 99,
                segment: 42,
                stale_after_days: Some(0),
                max_stale_deals: -1,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            violated_fields(&err),
            [
                "pipeline",
                "start_month",
                "end_month",
                "scope",
                "owner",
                "lead_source",
                "segment",
                "stale_after_days",
                "max_stale_deals"
            ]
        );
        // The end before the start; then 25 months.
        for (start, end) in [("2025-03", "2025-02"), ("2024-01", "2026-01")] {
            let err = metrics(
                &app,
                &app.admin_token,
                pb::GetPipelineMetricsRequest {
                    start_month: start.into(),
                    end_month: end.into(),
                    ..ask(&book.pipeline)
                },
            )
            .await
            .unwrap_err();
            assert_eq!(violated_fields(&err), ["end_month"]);
        }
        // Twenty-four months are fine.
        let m = metrics(
            &app,
            &app.admin_token,
            pb::GetPipelineMetricsRequest {
                start_month: "2024-03".into(),
                end_month: "2026-02".into(),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap();
        assert_eq!(m.months.len(), 24);
        let unknown = format!("pipelines/{}", uuid::Uuid::now_v7());
        let err = metrics(&app, &app.admin_token, ask(&unknown))
            .await
            .unwrap_err();
        assert_error(&err, Code::NotFound, "NOT_FOUND");
        let err = metrics(
            &app,
            &app.admin_token,
            pb::GetPipelineMetricsRequest {
                owner: format!("users/{}", uuid::Uuid::now_v7()),
                ..ask(&book.pipeline)
            },
        )
        .await
        .unwrap_err();
        assert_error(&err, Code::NotFound, "NOT_FOUND");
        // Without a token there is nothing to see.
        let err = app
            .pipelines()
            .await
            .get_pipeline_metrics(ask(&book.pipeline))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
);
