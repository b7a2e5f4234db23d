//! Imported stage and field history: HubSpot columns, the generic CSV, and what the forecast learns
//! from it.

use super::*;

contract_test!(
    hubspot_date_entered_columns_become_the_stage_history,
    |app| {
        ann_and_ben(&app.app).await;
        let pipeline = mid_market(&app).await;
        let deals = vec![upload("deals.csv", Kind::HubspotDeals, "hubspot/deals.csv")];
        let report = import(&app, pipeline, &mapping("hubspot"), &deals)
            .await
            .unwrap();
        assert_eq!(report.source, "hubspot");
        // The Renewals deal is left out by `source_pipelines`.
        assert_eq!(counts(&report), (5, 1, 4, 0, 0, 13, 0));
        assert_eq!(
            dropped(&report),
            [
                "deal of another source pipeline skipped: 'Renewals' 1",
                "deal without an amount (zero or empty): '' 1",
            ]
        );

        // HubSpot keeps the latest entry into each stage: Contract Sent on 09-01, then Decision
        // Maker Bought-In on 10-05 is a move back.
        let piper = deal(&app, "Pied Piper - Compression").await;
        assert_eq!(piper.stage, "business-case-built");
        assert_eq!(piper.forecast_category(), pb::ForecastCategory::BestCase);
        assert_eq!(
            history(&app, &piper).await,
            [
                h("", "problem-recognized", Create, "2026-07-01T09:00"),
                h(
                    "problem-recognized",
                    "solution-exploring",
                    Forward,
                    "2026-07-10T10:00"
                ),
                h(
                    "solution-exploring",
                    "decision-pending",
                    Forward,
                    "2026-09-01T09:00"
                ),
                h(
                    "decision-pending",
                    "business-case-built",
                    Backward,
                    "2026-10-05T12:00"
                ),
            ]
        );
        let paper = deal(&app, "Dunder Mifflin - Paper").await;
        assert_eq!(paper.status(), pb::deal::Status::Lost);
        assert_eq!(paper.loss_reason, "Budget cut");
        let bluth = deal(&app, "Bluth - Banana stand").await;
        assert_eq!((bluth.amount, bluth.close_date), (None, None));

        let before = stored(&app).await;
        let bad = vec![upload(
            "deals.csv",
            Kind::HubspotDeals,
            "hubspot/bad/deals.csv",
        )];
        let status = import(&app, pipeline, &mapping("hubspot"), &bad)
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            ["deals.csv:3", "deals.csv:4", "deals.csv:5", "deals.csv:6"]
        );
        assert_eq!(
            status.message().split(" (first").next().unwrap(),
            "4 bad rows (4 problems) of 5 read; nothing was imported"
        );
        let bad_date = &status.get_details_bad_request().unwrap().field_violations[3];
        assert!(
            bad_date
                .description
                .starts_with("Date entered \"Appointment Scheduled (Sales Pipeline)\": \"soon\""),
            "{bad_date:?}"
        );
        assert_eq!(stored(&app).await, before);
    }
);

contract_test!(
    the_generic_csv_imports_under_the_source_its_mapping_names,
    |app| {
        ann_and_ben(&app.app).await;
        let pipeline = mid_market(&app).await;
        let files = vec![
            upload("deals.csv", Kind::GenericDeals, "generic/deals.csv"),
            upload(
                "stage_history.csv",
                Kind::GenericStageHistory,
                "generic/stage_history.csv",
            ),
        ];
        let report = import(&app, pipeline, &mapping("generic"), &files)
            .await
            .unwrap();
        assert_eq!(report.source, "legacy-crm");
        assert_eq!(counts(&report), (12, 0, 3, 0, 0, 11, 0));
        assert_eq!(dropped(&report), Vec::<String>::new(), "nothing left out");

        let oscorp = deal(&app, "Oscorp - Add-on").await;
        assert_eq!(oscorp.amount.as_ref().unwrap().amount_minor, 2_500_050);
        assert_eq!(oscorp.lead_source(), pb::LeadSource::Outbound);
        assert_eq!(oscorp.forecast_category(), pb::ForecastCategory::BestCase);
        assert_eq!(
            history(&app, &oscorp).await,
            [
                h("", "problem-recognized", Create, "2026-09-01T09:00"),
                h(
                    "problem-recognized",
                    "solution-exploring",
                    Forward,
                    "2026-09-20T09:00"
                ),
                h(
                    "solution-exploring",
                    "problem-recognized",
                    Backward,
                    "2026-10-05T09:00"
                ),
                h(
                    "problem-recognized",
                    "solution-exploring",
                    Forward,
                    "2026-10-25T09:00"
                ),
            ]
        );
        // No history rows: created in the first open stage, closed on its close date.
        let nakatomi = deal(&app, "Nakatomi - Security").await;
        assert_eq!(nakatomi.loss_reason, "Timing: revisit next year");
        assert_eq!(
            history(&app, &nakatomi).await,
            [
                h("", "problem-recognized", Create, "2025-11-20T09:00"),
                h(
                    "problem-recognized",
                    "closed-lost",
                    Close,
                    "2026-03-15T00:00"
                ),
            ]
        );

        let before = stored(&app).await;
        let bad = vec![
            upload("deals.csv", Kind::GenericDeals, "generic/bad/deals.csv"),
            upload(
                "stage_history.csv",
                Kind::GenericStageHistory,
                "generic/bad/stage_history.csv",
            ),
        ];
        let status = import(&app, pipeline, &mapping("generic"), &bad)
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            [
                "deals.csv:3",
                "deals.csv:4",
                "deals.csv:5",
                "stage_history.csv:3"
            ]
        );
        assert_eq!(
            status.message().split(" (first").next().unwrap(),
            "4 bad rows (4 problems) of 6 read; nothing was imported"
        );
        assert_eq!(stored(&app).await, before);
    }
);

contract_test!(imported_history_feeds_the_forecast, |app| {
    let pipeline = mid_market(&app).await;
    import(&app, pipeline, &mapping("salesforce"), &salesforce())
        .await
        .unwrap();
    let forecast = app
        .forecasts()
        .await
        .get_forecast(authed(
            &app.admin_token,
            pb::GetForecastRequest {
                period: "2026-Q4".into(),
                scope: "org".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let totals = forecast.totals.unwrap();
    // Won in Q4: Umbrella (80,000). Open and closing in Q4, at the stages' priors (no win-rate
    // snapshot yet): Stark 250,000 and Aperture 40,000 at decision-pending (75%, commit),
    // Wayne 60,000 at solution-exploring (25%, pipeline). Hooli closes in 2027.
    assert_eq!(totals.closed_won, 8_000_000);
    assert_eq!(totals.commit, 29_000_000);
    assert_eq!(totals.pipeline, 6_000_000);
    assert_eq!(totals.weighted_pipeline, 23_250_000);
});

/// A deal's field history as (field, old, new, time), oldest first, values in words.
async fn field_history(app: &TestApp, deal: &pb::Deal) -> Vec<(String, String, String, String)> {
    use pb::field_value::Value;
    let words = |v: Option<pb::FieldValue>| match v.and_then(|v| v.value) {
        None => String::new(),
        Some(Value::AmountMinor(m)) => m.to_string(),
        Some(Value::CloseDate(d)) => format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
        Some(Value::Stage(s)) | Some(Value::CurrencyCode(s)) | Some(Value::Owner(s)) => s,
        Some(Value::ForecastCategory(c)) => {
            format!("{:?}", pb::ForecastCategory::try_from(c).unwrap())
        }
        Some(Value::Status(s)) => format!("{:?}", pb::deal::Status::try_from(s).unwrap()),
    };
    app.deals()
        .await
        .list_deal_field_history(authed(
            &app.admin_token,
            pb::ListDealFieldHistoryRequest {
                parent: deal.name.clone(),
                page_size: 100,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .changes
        .into_iter()
        .map(|c| {
            assert!(c.actor.is_empty(), "imported rows carry no actor");
            let at = c.change_time.unwrap();
            let at = chrono::DateTime::from_timestamp(at.seconds, at.nanos as u32).unwrap();
            (
                format!("{:?}", c.field()),
                words(c.old_value),
                words(c.new_value),
                at.format("%Y-%m-%dT%H:%M").to_string(),
            )
        })
        .collect()
}

contract_test!(
    imported_history_rows_become_field_history_even_those_that_keep_the_stage,
    |app| {
        let pipeline = mid_market(&app).await;
        import(&app, pipeline, &mapping("salesforce"), &salesforce())
            .await
            .unwrap();
        let f = |field: &str, old: &str, new: &str, at: &str| {
            (
                field.to_string(),
                old.to_string(),
                new.to_string(),
                at.to_string(),
            )
        };
        // Stark's last OpportunityHistory row keeps the stage and changes only the amount and
        // the close date: it is kept.
        let stark = deal(&app, "Stark").await;
        assert_eq!(
            field_history(&app, &stark).await,
            [
                f(
                    "Stage",
                    "problem-recognized",
                    "solution-exploring",
                    "2026-08-25T10:00"
                ),
                f(
                    "Stage",
                    "solution-exploring",
                    "business-case-built",
                    "2026-09-18T16:00"
                ),
                f("Amount", "20000000", "22000000", "2026-10-28T12:00"),
                f(
                    "Stage",
                    "business-case-built",
                    "decision-pending",
                    "2026-10-28T12:00"
                ),
                f("Amount", "22000000", "25000000", "2026-11-05T09:30"),
                f("CloseDate", "2026-12-31", "2026-12-15", "2026-11-05T09:30"),
            ]
        );
        // Globex closed won on its close date: the close sets the booking date, the category
        // (not in the source before the close: PIPELINE) and the status.
        let globex = deal(&app, "Globex").await;
        let rows = field_history(&app, &globex).await;
        assert_eq!(
            rows[rows.len() - 4..],
            [
                f("CloseDate", "2026-06-30", "2026-06-12", "2026-06-12T16:45"),
                f("ForecastCategory", "Pipeline", "Closed", "2026-06-12T16:45"),
                f(
                    "Stage",
                    "decision-pending",
                    "closed-won",
                    "2026-06-12T16:45"
                ),
                f("Status", "Open", "Won", "2026-06-12T16:45"),
            ]
        );
        // Importing the same files again writes no row twice.
        import(&app, pipeline, &mapping("salesforce"), &salesforce())
            .await
            .unwrap();
        assert_eq!(field_history(&app, &stark).await.len(), 6);
    }
);
