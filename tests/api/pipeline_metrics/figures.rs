//! What each metric counts: conversion, days in stage, close-date pushes, sales cycle, stale deals.

use super::*;

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
