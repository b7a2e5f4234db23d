//! ForecastService handlers: win-rate snapshots, forecasts, calls, snapshots and exchange rates;
//! the wire conversions they share live in `convert`.

use crate::domain::Problem;
use chrono::{DateTime, NaiveDate};
use tonic::{Request, Response, Status};
use tracing::instrument;

mod convert;
use convert::{
    calibration_to, call_inputs, event_to_wire, forecast_snapshot_to_wire, forecast_to,
    level_to_wire, method_point_to, money_to, parse_currency, parse_scope, parse_snapshot_name,
    period_scope_currency, score_to, snapshot_to_wire, summary_to,
};

use super::convert::{parse_name, timestamp};
use super::deal::{date_from, date_to};
use super::request_limits::{AS_OF_DAYS, SNAPSHOTS};
use super::{Paging, authenticate, created, idempotency_key, invalid};
use crate::app::App;
use crate::app::names::{forecast_snapshot_name, user_name};
use crate::app::ports::Store;
use crate::app::roles::{
    require_call_adjuster, require_deal_judge, require_exchange_rate_setter, require_rate_setter,
    require_seller,
};
use crate::app::win_rates::WinRateRequest;
use crate::domain::Violations;
use crate::domain::directory::UserId;
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::money::{Currency, ExchangeRate};
use crate::domain::period::Period;
use crate::proto::{self as pb, forecast_service_server::ForecastService};

/// The ForecastService adapter.
#[derive(Debug, Clone)]
pub struct ForecastApi<S> {
    app: App<S>,
}

impl<S> ForecastApi<S> {
    /// The adapter over `app`.
    pub fn new(app: App<S>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl<S: Store> ForecastService for ForecastApi<S> {
    #[instrument(skip_all)]
    async fn compute_win_rates(
        &self,
        request: Request<pb::ComputeWinRatesRequest>,
    ) -> Result<Response<pb::WinRateSnapshot>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_rate_setter(&principal)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let pipeline = parse_name::<PipelineId>("pipeline", &req.pipeline)
            .map_err(|e| v.extend(e))
            .ok();
        let window_start = date_from("window_start_date", req.window_start_date.as_ref(), &mut v);
        let window_end = date_from("window_end_date", req.window_end_date.as_ref(), &mut v);
        let prior_weight = match req.prior_weight {
            None => None,
            Some(k) => match u32::try_from(k) {
                Ok(k) if k <= 1000 => Some(k),
                _ => {
                    v.add_as(
                        Problem::NumberOutOfRange,
                        "prior_weight",
                        "must be between 0 and 1000",
                    );
                    None
                }
            },
        };
        let (Some(pipeline), true) = (pipeline, v.is_empty()) else {
            return Err(invalid(v));
        };
        let key = idempotency_key(
            Some(principal.user.id),
            "ComputeWinRates",
            &req.request_id,
            &req,
        )?;
        let request = WinRateRequest {
            pipeline,
            window_start,
            window_end,
            prior_weight,
            by_lead_source: req.segment_by_lead_source,
            by_team: req.segment_by_team,
        };
        let result = self
            .app
            .compute_win_rates(Some(&principal), request, key, |s| {
                prost::Message::encode_to_vec(&snapshot_to_wire(s))
            })
            .await?;
        Ok(Response::new(created(result, snapshot_to_wire)?))
    }

    #[instrument(skip_all)]
    async fn get_win_rate_snapshot(
        &self,
        request: Request<pb::GetWinRateSnapshotRequest>,
    ) -> Result<Response<pb::WinRateSnapshot>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let (pipeline, version) =
            parse_snapshot_name("name", &request.get_ref().name).map_err(invalid)?;
        let snapshot = self
            .app
            .get_win_rate_snapshot(&principal, pipeline, version)
            .await?;
        Ok(Response::new(snapshot_to_wire(&snapshot)))
    }

    #[instrument(skip_all)]
    async fn list_win_rate_snapshots(
        &self,
        request: Request<pb::ListWinRateSnapshotsRequest>,
    ) -> Result<Response<pb::ListWinRateSnapshotsResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let pipeline = parse_name::<PipelineId>("parent", &req.parent).map_err(invalid)?;
        let paging = Paging::parse(
            req.page_size,
            &req.page_token,
            &["ListWinRateSnapshots", &req.parent],
        )?;
        let before = paging.after_number()?;
        let snapshots = self
            .app
            .list_win_rate_snapshots(&principal, pipeline, before, paging.limit)
            .await?;
        let next_page_token = paging.next_token(
            snapshots.len(),
            snapshots.last().map(|s| s.version.to_string()),
        );
        Ok(Response::new(pb::ListWinRateSnapshotsResponse {
            snapshots: snapshots.iter().map(snapshot_to_wire).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn get_forecast(
        &self,
        request: Request<pb::GetForecastRequest>,
    ) -> Result<Response<pb::Forecast>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let period = Period::parse(&req.period).map_err(|e| v.extend(e)).ok();
        let scope = parse_scope(&req.scope, &mut v);
        let currency = parse_currency(&req.currency_code, &mut v);
        let mut snapshots = Vec::new();
        let names = SNAPSHOTS.within(&mut v, "snapshots", &req.snapshots);
        for (i, name) in names.iter().enumerate() {
            match parse_snapshot_name(&format!("snapshots[{i}]"), name) {
                Ok((pipeline, version)) if snapshots.iter().any(|(p, _)| *p == pipeline) => {
                    let _ = version;
                    v.add_as(
                        Problem::DuplicateValue,
                        format!("snapshots[{i}]"),
                        "names a second snapshot of the same pipeline",
                    );
                }
                Ok(pair) => snapshots.push(pair),
                Err(e) => v.extend(e),
            }
        }
        let (Some(period), Some(scope), Some(currency), true) =
            (period, scope, currency, v.is_empty())
        else {
            return Err(invalid(v));
        };
        let result = self
            .app
            .forecast(&principal, period, scope, &snapshots, currency)
            .await?;
        Ok(Response::new(forecast_to(period, &req.scope, &result)))
    }

    #[instrument(skip_all)]
    async fn set_exchange_rate(
        &self,
        request: Request<pb::SetExchangeRateRequest>,
    ) -> Result<Response<pb::ExchangeRate>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_exchange_rate_setter(&principal)?;
        let req = request.into_inner();
        let wire = req
            .rate
            .ok_or_else(|| invalid(Violations::required("rate")))?;
        let mut v = Violations::new();
        let from = Currency::parse(&wire.from_currency);
        if from.is_none() {
            v.add_as(
                Problem::BadCurrency,
                "rate.from_currency",
                crate::domain::wording::not_a_currency(&wire.from_currency),
            );
        }
        let to = Currency::parse(&wire.to_currency);
        if to.is_none() {
            v.add_as(
                Problem::BadCurrency,
                "rate.to_currency",
                crate::domain::wording::not_a_currency(&wire.to_currency),
            );
        }
        let (Some(from), Some(to), true) = (from, to, v.is_empty()) else {
            return Err(invalid(v));
        };
        let rate = ExchangeRate {
            from,
            to,
            rate: wire.rate,
        };
        let at = self.app.set_exchange_rate(&principal, rate).await?;
        Ok(Response::new(pb::ExchangeRate {
            update_time: Some(timestamp(at)),
            ..wire
        }))
    }

    #[instrument(skip_all)]
    async fn list_exchange_rates(
        &self,
        request: Request<pb::ListExchangeRatesRequest>,
    ) -> Result<Response<pb::ListExchangeRatesResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let paging = Paging::parse(req.page_size, &req.page_token, &["ListExchangeRates"])?;
        let rates = self.app.exchange_rates(&principal).await?;
        let (page, next_page_token) =
            paging.page_of(rates, |(r, _)| format!("{}:{}", r.from.code(), r.to.code()));
        Ok(Response::new(pb::ListExchangeRatesResponse {
            rates: page
                .iter()
                .map(|(r, at)| pb::ExchangeRate {
                    from_currency: r.from.code().to_string(),
                    to_currency: r.to.code().to_string(),
                    rate: r.rate,
                    update_time: Some(timestamp(*at)),
                })
                .collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn submit_forecast_call(
        &self,
        request: Request<pb::SubmitForecastCallRequest>,
    ) -> Result<Response<pb::ForecastCallEvent>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_seller(&principal)?;
        let req = request.into_inner();
        let (period, amounts) =
            call_inputs(&req.period, req.commit.as_ref(), req.best_case.as_ref())?;
        let event = self
            .app
            .submit_call(&principal, period, amounts, &req.note)
            .await?;
        Ok(Response::new(event_to_wire(&event)))
    }

    #[instrument(skip_all)]
    async fn adjust_forecast_call(
        &self,
        request: Request<pb::AdjustForecastCallRequest>,
    ) -> Result<Response<pb::ForecastCallEvent>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_call_adjuster(&principal)?;
        let req = request.into_inner();
        let subject = parse_name::<UserId>("user", &req.user).map_err(invalid);
        let inputs = call_inputs(&req.period, req.commit.as_ref(), req.best_case.as_ref());
        let (subject, (period, amounts)) = match (subject, inputs) {
            (Ok(s), Ok(i)) => (s, i),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let event = self
            .app
            .adjust_call(&principal, period, subject, amounts, &req.note)
            .await?;
        Ok(Response::new(event_to_wire(&event)))
    }

    #[instrument(skip_all)]
    async fn judge_deal(
        &self,
        request: Request<pb::JudgeDealRequest>,
    ) -> Result<Response<pb::ForecastCallEvent>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_deal_judge(&principal)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let period = Period::parse(&req.period).map_err(|e| v.extend(e)).ok();
        let deal = parse_name::<DealId>("deal", &req.deal)
            .map_err(|e| v.extend(e))
            .ok();
        let (Some(period), Some(deal), true) = (period, deal, v.is_empty()) else {
            return Err(invalid(v));
        };
        let event = self
            .app
            .judge_deal(&principal, period, deal, req.include, &req.note)
            .await?;
        Ok(Response::new(event_to_wire(&event)))
    }

    #[instrument(skip_all)]
    async fn get_forecast_call(
        &self,
        request: Request<pb::GetForecastCallRequest>,
    ) -> Result<Response<pb::ForecastCall>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let period = Period::parse(&req.period).map_err(|e| v.extend(e)).ok();
        let subject = parse_name::<UserId>("user", &req.user)
            .map_err(|e| v.extend(e))
            .ok();
        let as_of = match req.as_of_time {
            None => None,
            Some(t) => match DateTime::from_timestamp(
                t.seconds,
                u32::try_from(t.nanos).unwrap_or(u32::MAX),
            ) {
                Some(at) => Some(at),
                None => {
                    v.add_as(Problem::BadDate, "as_of_time", "must be a valid timestamp");
                    None
                }
            },
        };
        let (Some(period), Some(subject), true) = (period, subject, v.is_empty()) else {
            return Err(invalid(v));
        };
        let view = self
            .app
            .get_call(&principal, period, subject, as_of)
            .await?;
        Ok(Response::new(pb::ForecastCall {
            period: period.to_string(),
            user: req.user.clone(),
            own_commit: view.own.map(|o| money_to(o.0)),
            own_best_case: view.own.map(|o| money_to(o.1)),
            lineage: view.lineage.iter().map(level_to_wire).collect(),
            seen_by_caller: Some(level_to_wire(&view.seen)),
            judgments: view.judgments.iter().map(event_to_wire).collect(),
            events: view.events.iter().map(event_to_wire).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn snapshot_forecast(
        &self,
        request: Request<pb::SnapshotForecastRequest>,
    ) -> Result<Response<pb::ForecastSnapshot>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let (period, scope, currency) =
            period_scope_currency(&req.period, &req.scope, &req.currency_code)?;
        let key = idempotency_key(
            Some(principal.user.id),
            "SnapshotForecast",
            &req.request_id,
            &req,
        )?;
        let result = self
            .app
            .snapshot_forecast(Some(&principal), period, scope, currency, key, |s| {
                prost::Message::encode_to_vec(&forecast_snapshot_to_wire(s))
            })
            .await?;
        Ok(Response::new(created(result, forecast_snapshot_to_wire)?))
    }

    #[instrument(skip_all)]
    async fn list_forecast_snapshots(
        &self,
        request: Request<pb::ListForecastSnapshotsRequest>,
    ) -> Result<Response<pb::ListForecastSnapshotsResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let (period, scope, _) = period_scope_currency(&req.period, &req.scope, "")?;
        let paging = Paging::parse(
            req.page_size,
            &req.page_token,
            &["ListForecastSnapshots", &req.period, &req.scope],
        )?;
        let snapshots = self
            .app
            .forecast_snapshots(&principal, period, scope)
            .await?;
        let (page, next_page_token) = paging.page_of(snapshots, |s| {
            // Oldest first: the take time (its order kept by flipping the sign bit), then the id.
            let micros = (s.taken_at.timestamp_micros() as u64) ^ (1 << 63);
            format!("{micros:020}:{}", s.id)
        });
        Ok(Response::new(pb::ListForecastSnapshotsResponse {
            snapshots: page.iter().map(forecast_snapshot_to_wire).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn get_forecast_accuracy(
        &self,
        request: Request<pb::GetForecastAccuracyRequest>,
    ) -> Result<Response<pb::ForecastAccuracy>, Status> {
        use pb::method_accuracy::Method;
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let (period, scope, _) = period_scope_currency(&req.period, &req.scope, "")?;
        let (actual, currency, scores) = self
            .app
            .forecast_accuracy(&principal, period, scope)
            .await?;
        Ok(Response::new(pb::ForecastAccuracy {
            period: period.to_string(),
            scope: req.scope.clone(),
            currency_code: currency.code().to_string(),
            actual,
            snapshots: scores
                .iter()
                .map(|s| pb::SnapshotAccuracy {
                    snapshot: forecast_snapshot_name(s.snapshot.id),
                    take_time: Some(timestamp(s.snapshot.taken_at)),
                    methods: vec![
                        score_to(Method::WeightedPipeline, &s.weighted),
                        score_to(Method::RepCall, &s.rep_call),
                        score_to(Method::ManagerCall, &s.manager_call),
                        score_to(Method::PeriodForecast, &s.period),
                    ],
                    people: s
                        .people
                        .iter()
                        .map(|p| pb::PersonAccuracy {
                            user: user_name(p.user),
                            actual: p.actual,
                            own_call: p.own.map(|o| score_to(Method::RepCall, &o)),
                            manager_call: p.manager.map(|m| score_to(Method::ManagerCall, &m)),
                        })
                        .collect(),
                })
                .collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn backtest_forecast(
        &self,
        request: Request<pb::BacktestForecastRequest>,
    ) -> Result<Response<pb::Backtest>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let (period, scope, currency) =
            period_scope_currency(&req.period, &req.scope, &req.currency_code)?;
        let mut v = Violations::new();
        let days: Vec<NaiveDate> = AS_OF_DAYS
            .within(&mut v, "as_of_dates", &req.as_of_dates)
            .iter()
            .enumerate()
            .filter_map(|(i, d)| date_from(&format!("as_of_dates[{i}]"), Some(d), &mut v))
            .collect();
        if !v.is_empty() {
            return Err(invalid(v));
        }
        let backtest = self
            .app
            .backtest(&principal, period, scope, &days, currency)
            .await?;
        Ok(Response::new(pb::Backtest {
            period: period.to_string(),
            scope: req.scope.clone(),
            currency_code: currency.code().to_string(),
            actual: backtest.actual,
            points: backtest
                .points
                .iter()
                .map(|p| pb::BacktestPoint {
                    as_of_date: Some(date_to(p.as_of)),
                    closed_won: p.closed_won,
                    open_deals: p.open_deals as i64,
                    methods: p.methods.iter().map(method_point_to).collect(),
                    new_pipeline: p.new_pipeline,
                    booked_after: Some(booked_after_to(p.booked_after)),
                    pulled_in: p.pulled_in,
                    overdue: p.overdue,
                })
                .collect(),
            summaries: backtest.summaries.iter().map(summary_to).collect(),
            calibration: backtest.calibration.iter().map(calibration_to).collect(),
        }))
    }
}

/// Where a backtest point's period revenue came from, on the wire.
fn booked_after_to(b: crate::domain::backtest::BookedAfter) -> pb::BookedAfter {
    pb::BookedAfter {
        dated_in_period: b.dated_in_period,
        dated_later: b.dated_later,
        dated_earlier: b.dated_earlier,
        not_yet_created: b.not_yet_created,
        closed_then: b.closed_then,
    }
}
