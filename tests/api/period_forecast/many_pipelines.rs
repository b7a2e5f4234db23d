//! An org of many pipelines of many open stages: once one pipeline has period rates, every
//! open stage of every pipeline is valued with its q in each segment (about 420 parameters for
//! a pipeline of 28 open stages), more than one statement may bind past about 78 such
//! pipelines. On PostgreSQL the org's groups are then read in ranges of pipelines; on SQLite
//! the org's deals are read packed (`persistence/forecast/packed.rs`), binding no rates at all.
//! Both agree deal for deal with the team's deals read one by one.

use super::*;
use crate::fixtures::{create_pipeline, stage_at};

/// Pipelines of 28 open stages besides the one with period rates.
const WIDE: i64 = 80;

contract_test!(
    the_org_forecast_of_many_pipelines_of_many_stages_is_read_in_ranges_and_agrees_with_its_deals,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        use pb::stage::Kind;
        let manager = app.user(Role::Manager, None).await;
        let rep = app.user(Role::Rep, Some(&manager.0)).await;
        // Period rates for one pipeline, learned from June's book.
        let learned = pipeline(&app).await;
        let pid = pipeline_uuid(&learned);
        let mut book = closed_book(pid, &june_closed(&rep.0, &rep.0));
        // One open deal in s1 (a 1% default) of each wide pipeline, of 1,000.00 x its number,
        // dated 25 July.
        for i in 1..=WIDE {
            let stages = (1..=28)
                .map(|k| stage_at(&format!("s{k}"), k, Kind::Open, 100 * k))
                .chain([
                    stage_at("won", 29, Kind::Won, 10_000),
                    stage_at("lost", 30, Kind::Lost, 0),
                ])
                .collect();
            let wide = create_pipeline(
                &app,
                pb::Pipeline {
                    display_name: format!("Wide {i}"),
                    segment: pb::Segment::Smb as i32,
                    stages,
                    ..Default::default()
                },
            )
            .await;
            let wid = pipeline_uuid(&wide);
            book.add(open_deal(
                wid,
                &rep.0,
                100_000 * i,
                "2025-07-01T09:00:00Z",
                "2025-07-25",
                None,
            ));
        }
        book.insert(&app).await;
        compute_win_rates(&app, &learned.name).await;

        // The team's deals, read one by one: the wide pipelines have no period rates, so each
        // deal is weighed at its stage's default rate by both methods.
        let team = forecast(&app, &manager.1, &manager.0.name).await;
        assert_eq!(team.method, pb::ForecastMethod::Mixed as i32);
        assert_eq!(team.stage_weighted_pipelines.len(), WIDE as usize);
        let each: i64 = (1..=WIDE).map(|i| weigh(100_000 * i, 0.01)).sum();
        let totals = team.totals.unwrap();
        assert_eq!(totals.open_deals, WIDE);
        assert_eq!(
            (totals.weighted_pipeline, totals.period_forecast),
            (each, each)
        );

        // The org's groups: every figure, stage and range the same.
        let org = forecast(&app, &app.admin_token, "org").await;
        assert_eq!(org.totals, team.totals);
        assert_eq!(org.by_stage, team.by_stage);
        assert_eq!(org.by_category, team.by_category);
        // Its range is sampled from the same 80 deals (seeded by scope: other draws).
        let (a, b) = (org.range.unwrap(), team.range.unwrap());
        assert_eq!(
            (a.method, a.samples, a.error_bound),
            (b.method, b.samples, b.error_bound)
        );
        assert!(a.p10 <= a.p50 && a.p50 <= a.p90 && a.p90 <= 100_000 * WIDE * (WIDE + 1) / 2);
        assert_eq!(org.stage_weighted_pipelines, team.stage_weighted_pipelines);
    }
);
