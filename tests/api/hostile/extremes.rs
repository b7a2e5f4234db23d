//! An extreme but valid exchange rate does not overflow the forecast.

use super::*;

// ---------------------------------------------------------------------------------------------
// Extreme values the API accepts must not break what is computed from them later.

contract_test!(
    an_extreme_exchange_rate_does_not_overflow_the_forecast,
    |app| {
        let manager = person(&app, Role::Manager, None).await;
        let rep = person(&app, Role::Rep, Some(&manager)).await;
        let pipeline = template_pipeline(&app, pb::Segment::MidMarket).await;
        app.forecasts()
            .await
            .set_exchange_rate(authed(
                &app.admin_token,
                pb::SetExchangeRateRequest {
                    rate: Some(pb::ExchangeRate {
                        from_currency: "EUR".into(),
                        to_currency: "USD".into(),
                        rate: 1e300,
                        update_time: None,
                    }),
                },
            ))
            .await
            .unwrap();
        let mut deals = app.deals().await;
        for name in ["Huge one", "Huge two"] {
            let mut deal = a_deal(&pipeline.name, name);
            deal.amount = Some(pb::Money {
                currency_code: "EUR".into(),
                amount_minor: 1_000_000_000_000,
            });
            deal.close_date = Some(Date {
                year: 2099,
                month: 12,
                day: 15,
            });
            deal.forecast_category = pb::ForecastCategory::BestCase as i32;
            deals
                .create_deal(authed(
                    &rep.token,
                    pb::CreateDealRequest {
                        deal: Some(deal),
                        request_id: String::new(),
                    },
                ))
                .await
                .unwrap();
        }
        let forecast = app
            .forecasts()
            .await
            .get_forecast(authed(
                &manager.token,
                pb::GetForecastRequest {
                    period: "2099-Q4".into(),
                    scope: manager.name(),
                    currency_code: "USD".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        // Each deal converts to at most the amount ceiling: the sum is exact, not wrapped.
        assert_eq!(forecast.totals.unwrap().best_case, 2_000_000_000_000);
    }
);
