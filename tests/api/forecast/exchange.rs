//! Exchange rates: who sets them, conversions, bad rates and listing.

use super::*;

async fn exchange_rates(app: &TestApp, token: &str) -> Vec<(String, String, f64)> {
    app.forecasts()
        .await
        .list_exchange_rates(authed(token, pb::ListExchangeRatesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .rates
        .into_iter()
        .map(|r| (r.from_currency, r.to_currency, r.rate))
        .collect()
}

contract_test!(
    only_admins_set_exchange_rates_and_everyone_reads_them,
    |app| {
        let t = team(&app).await;
        for who in [t.rep(), &t.manager, &t.leader, t.finance()] {
            let status = try_set_rate(&app, &who.token, "EUR", "USD", 1.1)
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "ADMIN_ONLY");
        }
        assert_eq!(app.count("exchange_rates").await, 0);
        let set = try_set_rate(&app, &app.admin_token, "EUR", "USD", 1.1)
            .await
            .unwrap();
        assert_eq!(
            (
                set.from_currency.as_str(),
                set.to_currency.as_str(),
                set.rate
            ),
            ("EUR", "USD", 1.1)
        );
        assert!(set.update_time.is_some());
        // Setting again replaces the rate of the pair.
        try_set_rate(&app, &app.admin_token, "EUR", "USD", 1.25)
            .await
            .unwrap();
        try_set_rate(&app, &app.admin_token, "GBP", "USD", 1.5)
            .await
            .unwrap();
        let expected = vec![
            ("EUR".to_string(), "USD".to_string(), 1.25),
            ("GBP".to_string(), "USD".to_string(), 1.5),
        ];
        for token in [&t.rep().token, &t.finance().token, &app.admin_token] {
            assert_eq!(exchange_rates(&app, token).await, expected);
        }
    }
);

// ---------------------------------------------------------------------------------------------
// Currencies.

contract_test!(a_missing_exchange_rate_fails_the_forecast, |app| {
    let rep = person(&app, Role::Rep, None).await;
    let p = three_stages(&app).await;
    create_deal(&app, &rep.token, draft(&p, "s1", usd(10_000))).await;
    create_deal(&app, &rep.token, draft(&p, "s1", money("EUR", 10_000))).await;
    let request = scope(&this_month(), &rep.name());
    let status = try_forecast(&app, &rep.token, request.clone())
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "EXCHANGE_RATE_MISSING");
    let violations: Vec<(String, String)> = status
        .get_details_precondition_failure()
        .expect("a PreconditionFailure")
        .violations
        .into_iter()
        .map(|v| (v.r#type, v.subject))
        .collect();
    assert_eq!(
        violations,
        [(
            "EXCHANGE_RATE".to_string(),
            "exchangeRates/EUR-USD".to_string()
        )]
    );

    // A deal won in GBP is missing too: every missing rate is named, by currency.
    closed_deal(
        &app,
        &rep,
        &p,
        &["s2"],
        money("GBP", 3_000),
        Lead::Inbound,
        true,
    )
    .await;
    let status = try_forecast(&app, &rep.token, request.clone())
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "EXCHANGE_RATE_MISSING");
    let subjects: Vec<String> = status
        .get_details_precondition_failure()
        .unwrap()
        .violations
        .into_iter()
        .map(|v| v.subject)
        .collect();
    assert_eq!(subjects, ["exchangeRates/EUR-USD", "exchangeRates/GBP-USD"]);

    // Forecasting in EUR needs USD and GBP into EUR.
    let status = try_forecast(
        &app,
        &rep.token,
        pb::GetForecastRequest {
            currency_code: "EUR".into(),
            ..request
        },
    )
    .await
    .unwrap_err();
    let subjects: Vec<String> = status
        .get_details_precondition_failure()
        .unwrap()
        .violations
        .into_iter()
        .map(|v| v.subject)
        .collect();
    assert_eq!(subjects, ["exchangeRates/GBP-EUR", "exchangeRates/USD-EUR"]);
});

contract_test!(exchange_rates_convert_either_way, |app| {
    let rep = person(&app, Role::Rep, None).await;
    // No snapshot: s1 at 20%, s2 at 40%.
    let p = three_stages(&app).await;
    create_deal(&app, &rep.token, draft(&p, "s1", money("EUR", 10_000))).await;
    create_deal(&app, &rep.token, draft(&p, "s2", usd(4_000))).await;
    closed_deal(
        &app,
        &rep,
        &p,
        &["s1"],
        money("EUR", 3_000),
        Lead::Inbound,
        true,
    )
    .await;
    let set = try_set_rate(&app, &app.admin_token, "EUR", "USD", 2.0)
        .await
        .unwrap();
    assert_eq!(set.rate, 2.0);
    assert_eq!(
        exchange_rates(&app, &rep.token).await,
        [("EUR".to_string(), "USD".to_string(), 2.0)]
    );

    // In USD, EUR counts double: won 3_000 EUR = 6_000; open 10_000 EUR = 20_000 at 20% =
    // 4_000, and 4_000 USD at 40% = 1_600.
    let request = scope(&this_month(), &rep.name());
    let in_usd = forecast(&app, &rep.token, request.clone()).await;
    assert_eq!(in_usd.currency_code, "USD");
    assert_eq!(
        in_usd.totals.unwrap(),
        figures(6_000, 5_600, 0, 0, 24_000, 0, 2)
    );

    // In EUR, the inverse rate: USD counts half. Won 3_000; open 10_000 at 20% = 2_000 and
    // 4_000 USD = 2_000 EUR at 40% = 800.
    let in_eur = forecast(
        &app,
        &rep.token,
        pb::GetForecastRequest {
            currency_code: "EUR".into(),
            ..request.clone()
        },
    )
    .await;
    assert_eq!(in_eur.currency_code, "EUR");
    assert_eq!(
        in_eur.totals.unwrap(),
        figures(3_000, 2_800, 0, 0, 12_000, 0, 2)
    );

    // Currencies with other minor units convert by them: 50_000 JPY (no minor unit) at 0.01
    // USD per yen is 500.00 USD = 50_000 cents, x 20% = 10_000.
    create_deal(&app, &rep.token, draft(&p, "s1", money("JPY", 50_000))).await;
    let status = try_forecast(&app, &rep.token, request.clone())
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "EXCHANGE_RATE_MISSING");
    try_set_rate(&app, &app.admin_token, "JPY", "USD", 0.01)
        .await
        .unwrap();
    let with_yen = forecast(&app, &rep.token, request).await;
    assert_eq!(
        with_yen.totals.unwrap(),
        figures(6_000, 15_600, 0, 0, 74_000, 0, 3)
    );
});

contract_test!(set_exchange_rate_rejects_bad_rates, |app| {
    let admin = app.admin_token.clone();
    let bad = |from: &'static str, to: &'static str, rate: f64| {
        let (app, admin) = (&app, admin.clone());
        async move { violated_fields(&try_set_rate(app, &admin, from, to, rate).await.unwrap_err()) }
    };
    assert_eq!(bad("EUR", "USD", 0.0).await, ["rate.rate"]);
    assert_eq!(bad("EUR", "USD", -1.5).await, ["rate.rate"]);
    assert_eq!(bad("EUR", "USD", f64::NAN).await, ["rate.rate"]);
    assert_eq!(bad("EUR", "USD", f64::INFINITY).await, ["rate.rate"]);
    assert_eq!(bad("USD", "USD", 1.0).await, ["rate.to_currency"]);
    assert_eq!(bad("usd", "EUR", 1.0).await, ["rate.from_currency"]);
    assert_eq!(bad("EUR", "XYZ", 1.0).await, ["rate.to_currency"]);
    assert_eq!(
        bad("", "", 1.0).await,
        ["rate.from_currency", "rate.to_currency"]
    );
    let status = app
        .forecasts()
        .await
        .set_exchange_rate(authed(&admin, pb::SetExchangeRateRequest { rate: None }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["rate"]);
    assert_eq!(app.count("exchange_rates").await, 0);
    assert!(exchange_rates(&app, &admin).await.is_empty());
});

contract_test!(
    exchange_rates_are_listed_a_page_at_a_time_by_currency_pair,
    |app| {
        let admin = app.admin_token.clone();
        for from in ["JPY", "EUR", "AUD", "GBP", "CAD"] {
            try_set_rate(&app, &admin, from, "USD", 1.5).await.unwrap();
        }
        let mut client = app.forecasts().await;
        let mut pages = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_exchange_rates(authed(
                    &admin,
                    pb::ListExchangeRatesRequest {
                        page_size: 2,
                        page_token,
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            pages.push(
                page.rates
                    .iter()
                    .map(|r| r.from_currency.clone())
                    .collect::<Vec<_>>(),
            );
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        assert_eq!(
            pages,
            [vec!["AUD", "CAD"], vec!["EUR", "GBP"], vec!["JPY"]],
            "pages of two, by currency pair, the last without a token"
        );
        let all = client
            .list_exchange_rates(authed(&admin, pb::ListExchangeRatesRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (all.rates.len(), all.next_page_token.as_str()),
            (5, ""),
            "page size 0 means the default, 50"
        );
    }
);

contract_test!(
    exchange_rate_and_forecast_snapshot_lists_refuse_bad_paging,
    |app| {
        let admin = app.admin_token.clone();
        let mut client = app.forecasts().await;
        for (page_size, page_token, field) in [
            (-1, "", "page_size"),
            (i32::MIN, "", "page_size"),
            (0, "not-a-token", "page_token"),
        ] {
            let status = client
                .list_exchange_rates(authed(
                    &admin,
                    pb::ListExchangeRatesRequest {
                        page_size,
                        page_token: page_token.into(),
                    },
                ))
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), [field], "exchange rates");
            let status = client
                .list_forecast_snapshots(authed(
                    &admin,
                    pb::ListForecastSnapshotsRequest {
                        period: "2026-Q4".into(),
                        scope: "org".into(),
                        page_size,
                        page_token: page_token.into(),
                    },
                ))
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), [field], "forecast snapshots");
        }
    }
);
