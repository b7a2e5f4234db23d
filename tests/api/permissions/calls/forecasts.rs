//! The rows of the call table for ForecastService.

use super::*;

/// The calls of ForecastService, in the matrix's order.
pub(super) fn calls() -> Vec<Call> {
    vec![
        call!(
            "ForecastService.ComputeWinRates",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .compute_win_rates(req(
                            token,
                            pb::ComputeWinRatesRequest {
                                pipeline: org.pipeline.name.clone(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.GetWinRateSnapshot",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .get_win_rate_snapshot(req(
                            token,
                            pb::GetWinRateSnapshotRequest {
                                name: org.win_rates.clone(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.ListWinRateSnapshots",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                forecasts
                    .list_win_rate_snapshots(req(
                        token,
                        pb::ListWinRateSnapshotsRequest {
                            parent: org.pipeline.name.clone(),
                            page_size: 500,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| {
                        r.into_inner()
                            .snapshots
                            .iter()
                            .any(|s| s.name == org.win_rates)
                    })
            }
        ),
        call!(
            "ForecastService.GetForecast",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .get_forecast(req(
                            token,
                            pb::GetForecastRequest {
                                period: PERIOD.into(),
                                scope: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.GetForecast (org)",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .get_forecast(req(
                            token,
                            pb::GetForecastRequest {
                                period: PERIOD.into(),
                                scope: "org".into(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.SetExchangeRate",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .set_exchange_rate(req(
                            token,
                            pb::SetExchangeRateRequest {
                                rate: Some(pb::ExchangeRate {
                                    from_currency: "EUR".into(),
                                    to_currency: "USD".into(),
                                    rate: 1.08,
                                    ..Default::default()
                                }),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.ListExchangeRates",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .list_exchange_rates(req(token, pb::ListExchangeRatesRequest::default()))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.SubmitForecastCall",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let (commit, best_case) = seller_call();
                done(
                    forecasts
                        .submit_forecast_call(req(
                            token,
                            pb::SubmitForecastCallRequest {
                                period: PERIOD.into(),
                                commit,
                                best_case,
                                note: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.AdjustForecastCall",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                let (commit, best_case) = seller_call();
                done(
                    forecasts
                        .adjust_forecast_call(req(
                            token,
                            pb::AdjustForecastCallRequest {
                                period: PERIOD.into(),
                                user: rep,
                                commit,
                                best_case,
                                note: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.JudgeDeal",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let deal = org.deal.name.clone();
                done(
                    forecasts
                        .judge_deal(req(
                            token,
                            pb::JudgeDealRequest {
                                period: PERIOD.into(),
                                deal,
                                include: true,
                                note: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.GetForecastCall",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .get_forecast_call(req(
                            token,
                            pb::GetForecastCallRequest {
                                period: PERIOD.into(),
                                user: rep,
                                as_of_time: None,
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.SnapshotForecast",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .snapshot_forecast(req(
                            token,
                            pb::SnapshotForecastRequest {
                                period: PERIOD.into(),
                                scope: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.ListForecastSnapshots",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                forecasts
                    .list_forecast_snapshots(req(
                        token,
                        pb::ListForecastSnapshotsRequest {
                            period: PERIOD.into(),
                            scope: rep,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| !r.into_inner().snapshots.is_empty())
            }
        ),
        call!(
            "ForecastService.GetForecastAccuracy",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .get_forecast_accuracy(req(
                            token,
                            pb::GetForecastAccuracyRequest {
                                period: ENDED_PERIOD.into(),
                                scope: rep,
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.BacktestForecast",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .backtest_forecast(req(
                            token,
                            pb::BacktestForecastRequest {
                                period: ENDED_PERIOD.into(),
                                scope: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
    ]
}
