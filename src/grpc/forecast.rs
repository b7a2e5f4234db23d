//! ForecastService: win-rate snapshots, forecasts and exchange rates.

use chrono::{DateTime, NaiveDate};
use tonic::{Request, Response, Status};
use tracing::instrument;
use uuid::Uuid;

use super::convert::{parse_name, timestamp};
use super::deal::{category_to, date_from, date_to};
use super::request_limits::{AS_OF_DAYS, SNAPSHOTS};
use super::{Paging, authenticate, created, idempotency_key, invalid};
use crate::app::App;
use crate::app::accuracy::Score;
use crate::app::backtest::MethodPoint;
use crate::app::forecast::Scope;
use crate::app::period_forecast::ForecastMethod;
use crate::app::ports::Store;
use crate::app::roles::{
    require_call_adjuster, require_deal_judge, require_exchange_rate_setter, require_rate_setter,
    require_seller,
};
use crate::app::win_rates::WinRateRequest;
use crate::domain::Violations;
use crate::domain::backtest::{CalibrationRow, Method as BacktestMethod, MethodSummary};
use crate::domain::calendar::PeriodKind;
use crate::domain::call::{CallEvent, CallEventKind, Level, parse_amounts};
use crate::domain::directory::UserId;
use crate::domain::forecast::{Figures, ForecastSnapshot, Range, RangeMethod};
use crate::domain::money::{Currency, ExchangeRate, Money};
use crate::domain::period::Period;
use crate::domain::period_rate::{HORIZON_BUCKET_STARTS, PeriodRateTable};
use crate::domain::winrate::{SegmentKind, StageRate, WinRateSnapshot};
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

fn stage_rate_to(r: &StageRate) -> pb::StageWinRate {
    pb::StageWinRate {
        stage_id: r.stage_id.clone(),
        n: r.cohort.n as i64,
        wins: r.cohort.wins as i64,
        raw_rate: r.rate.raw,
        smoothed_rate: r.rate.smoothed,
        wilson_low: r.rate.wilson_low,
        wilson_high: r.rate.wilson_high,
        value_weighted_rate: r.rate.value_weighted,
        prior: r.prior,
    }
}

/// A snapshot on the wire.
pub fn snapshot_to_wire(s: &WinRateSnapshot) -> pb::WinRateSnapshot {
    pb::WinRateSnapshot {
        name: format!("pipelines/{}/winRateSnapshots/{}", s.pipeline_id, s.version),
        pipeline: format!("pipelines/{}", s.pipeline_id),
        version: s.version,
        current: s.current,
        window_start_date: Some(date_to(s.window_start)),
        window_end_date: Some(date_to(s.window_end)),
        prior_weight: s.prior_weight as i32,
        stages: s.stages.iter().map(stage_rate_to).collect(),
        segments: s
            .segments
            .iter()
            .map(|seg| pb::SegmentWinRate {
                kind: match seg.kind {
                    SegmentKind::LeadSource => pb::segment_win_rate::Kind::LeadSource,
                    SegmentKind::Team => pb::segment_win_rate::Kind::Team,
                }
                .into(),
                value: seg.value.clone(),
                rate: Some(stage_rate_to(&seg.rate)),
            })
            .collect(),
        creator: s
            .creator
            .map(|c| format!("users/{}", c.0))
            .unwrap_or_default(),
        create_time: Some(timestamp(s.created_at)),
        period_rates: s.period_rates.iter().map(period_rates_to).collect(),
    }
}

fn period_rates_to(t: &PeriodRateTable) -> pb::PeriodRateTable {
    use pb::period_rate_table::Kind;
    pb::PeriodRateTable {
        kind: match t.kind {
            PeriodKind::Month => Kind::Month,
            PeriodKind::Quarter => Kind::Quarter,
        }
        .into(),
        learn_time: Some(timestamp(t.learned_at)),
        window_days: i32::try_from(t.window_days).unwrap_or(i32::MAX),
        prior_weight: i32::try_from(t.prior_weight).unwrap_or(i32::MAX),
        size_cuts: t.size_cuts.map(Vec::from).unwrap_or_default(),
        in_period_share: t.in_period_share,
        cells: t
            .cells()
            .map(|(stage, key, c)| pb::PeriodRateCell {
                stage: stage.to_string(),
                horizon_from_days: HORIZON_BUCKET_STARTS
                    .get(usize::from(key.horizon_bucket))
                    .map_or(0, |d| *d as i32),
                size_band: key.size_band.map(i32::from),
                pushes: key.pushes.map(i32::from),
                observations: c.observations as i64,
                deals: c.deals as i64,
                deals_won_in_period: c.deals_won_in_period as i64,
                in_period_win_share: c.in_period_win_share,
                raw_rate: c.raw,
                prior: c.prior,
                q: c.q,
                wilson_low: c.wilson_low,
                wilson_high: c.wilson_high,
            })
            .collect(),
        periods: t
            .periods
            .iter()
            .map(|p| pb::PeriodOutcome {
                period_start_date: Some(date_to(p.first_day)),
                booked: p.booked,
                expected: p.expected,
            })
            .collect(),
    }
}

/// Parses `pipelines/{uuid}/winRateSnapshots/{version}`.
fn parse_snapshot_name(field: &str, name: &str) -> Result<(Uuid, i64), Violations> {
    let bad = || {
        Violations::one(
            field,
            "must be a name like pipelines/<uuid>/winRateSnapshots/<version>",
        )
    };
    let (pipeline, version) = name.split_once("/winRateSnapshots/").ok_or_else(bad)?;
    let pipeline = parse_name(field, "pipelines", pipeline).map_err(|_| bad())?;
    let version = version
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(bad)?;
    Ok((pipeline, version))
}

fn figures_to(f: &Figures) -> pb::ForecastFigures {
    pb::ForecastFigures {
        closed_won: f.closed_won,
        weighted_pipeline: f.weighted_pipeline,
        expected: f.expected,
        commit: f.commit,
        best_case: f.best_case,
        pipeline: f.pipeline,
        omitted: f.omitted,
        commit_forecast: f.commit_forecast,
        best_case_forecast: f.best_case_forecast,
        open_pipeline: f.open_pipeline,
        open_deals: f.open_deals as i64,
        period_forecast: f.period_forecast,
        not_yet_created: f.not_yet_created,
        classic_expected: f.classic_expected,
    }
}

fn forecast_method_to(method: ForecastMethod) -> pb::ForecastMethod {
    match method {
        ForecastMethod::PeriodForecast => pb::ForecastMethod::PeriodForecast,
        ForecastMethod::Mixed => pb::ForecastMethod::Mixed,
        ForecastMethod::StageWeighted => pb::ForecastMethod::StageWeighted,
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
        let pipeline = parse_name("pipeline", "pipelines", &req.pipeline)
            .map_err(|e| v.extend(e))
            .ok();
        let window_start = date_from("window_start_date", req.window_start_date.as_ref(), &mut v);
        let window_end = date_from("window_end_date", req.window_end_date.as_ref(), &mut v);
        let prior_weight = match req.prior_weight {
            None => None,
            Some(k) => match u32::try_from(k) {
                Ok(k) if k <= 1000 => Some(k),
                _ => {
                    v.add("prior_weight", "must be between 0 and 1000");
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
        let pipeline = parse_name("parent", "pipelines", &req.parent).map_err(invalid)?;
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
                    v.add(
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
        let (start, end) = result.bounds;
        let last_day: NaiveDate = end.pred_opt().unwrap_or(end);
        Ok(Response::new(pb::Forecast {
            period: period.to_string(),
            scope: req.scope.clone(),
            period_start_date: Some(date_to(start)),
            period_end_date: Some(date_to(last_day)),
            currency_code: result.currency.code().to_string(),
            totals: Some(figures_to(&result.totals)),
            range: Some(range_to(&result.range)),
            by_stage: result
                .by_stage
                .iter()
                .map(|(pipeline, stage, rate, f)| pb::StageForecast {
                    stage: format!("pipelines/{pipeline}/stages/{stage}"),
                    win_rate: *rate,
                    open_deals: f.open_deals as i64,
                    amount: f.open_amount(),
                    weighted: f.weighted_pipeline,
                    period_weighted: f.period_forecast,
                })
                .collect(),
            by_category: result
                .by_category
                .iter()
                .map(|(category, f)| pb::CategoryForecast {
                    category: category_to(*category).into(),
                    open_deals: f.open_deals as i64,
                    amount: f.open_amount(),
                    weighted: f.weighted_pipeline,
                    period_weighted: f.period_forecast,
                })
                .collect(),
            by_report: result
                .by_report
                .iter()
                .map(|(user, f)| pb::PersonForecast {
                    user: format!("users/{}", user.0),
                    figures: Some(figures_to(f)),
                })
                .collect(),
            snapshots: result
                .snapshots
                .iter()
                .map(|(pipeline, version)| {
                    format!("pipelines/{pipeline}/winRateSnapshots/{version}")
                })
                .collect(),
            method: forecast_method_to(result.method).into(),
            horizon_days: i32::try_from(result.horizon_days).unwrap_or(i32::MIN),
            not_yet_created: result.not_yet_created.as_ref().map(|n| pb::NotYetCreated {
                expected: n.expected,
                past_periods: n
                    .values
                    .iter()
                    .map(|(period, revenue)| pb::PastPeriodRevenue {
                        period: period.to_string(),
                        revenue: *revenue,
                    })
                    .collect(),
            }),
            stage_weighted_pipelines: result
                .stage_weighted
                .iter()
                .map(|p| format!("pipelines/{p}"))
                .collect(),
        }))
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
            .ok_or_else(|| invalid(Violations::one("rate", "is required")))?;
        let mut v = Violations::new();
        let from = Currency::parse(&wire.from_currency);
        if from.is_none() {
            v.add("rate.from_currency", "must be an ISO 4217 currency code");
        }
        let to = Currency::parse(&wire.to_currency);
        if to.is_none() {
            v.add("rate.to_currency", "must be an ISO 4217 currency code");
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
        let (page, next_page_token) = page_by_key(rates, &paging, |(r, _)| {
            format!("{}:{}", r.from.code(), r.to.code())
        });
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
        let subject = parse_name("user", "users", &req.user).map_err(invalid);
        let inputs = call_inputs(&req.period, req.commit.as_ref(), req.best_case.as_ref());
        let (subject, (period, amounts)) = match (subject, inputs) {
            (Ok(s), Ok(i)) => (UserId(s), i),
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
        let deal = parse_name("deal", "deals", &req.deal)
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
        let subject = parse_name("user", "users", &req.user)
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
                    v.add("as_of_time", "must be a valid timestamp");
                    None
                }
            },
        };
        let (Some(period), Some(subject), true) = (period, subject, v.is_empty()) else {
            return Err(invalid(v));
        };
        let view = self
            .app
            .get_call(&principal, period, UserId(subject), as_of)
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
        let (page, next_page_token) = page_by_key(snapshots, &paging, |s| {
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
                    snapshot: format!("forecastSnapshots/{}", s.snapshot.id),
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
                            user: format!("users/{}", p.user.0),
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
                })
                .collect(),
            summaries: backtest.summaries.iter().map(summary_to).collect(),
            calibration: backtest.calibration.iter().map(calibration_to).collect(),
        }))
    }
}

fn method_to(method: BacktestMethod) -> pb::method_accuracy::Method {
    use pb::method_accuracy::Method;
    match method {
        BacktestMethod::StaticDefaults => Method::DefaultProbabilities,
        BacktestMethod::Classic => Method::WeightedPipeline,
        BacktestMethod::PeriodForecast => Method::PeriodForecast,
        BacktestMethod::LastPeriodsAverage => Method::LastPeriodsAverage,
        BacktestMethod::ClosedPlusNew => Method::ClosedPlusNew,
    }
}

fn method_point_to(m: &MethodPoint) -> pb::MethodAccuracy {
    pb::MethodAccuracy {
        method: method_to(m.method).into(),
        forecast: m.score.forecast,
        error: m.score.error,
        absolute_percentage_error: m.score.ape,
        bias: m.score.bias,
        p10: m.range.map(|r| r.0),
        p90: m.range.map(|r| r.1),
        range_held: m.score.held,
    }
}

fn summary_to(s: &MethodSummary) -> pb::MethodSummary {
    pb::MethodSummary {
        method: method_to(s.method).into(),
        points: s.points as i64,
        mean_absolute_percentage_error: s.mean_ape,
        mean_bias: s.mean_bias,
        range_coverage: s.coverage,
        brier_score: s.brier,
    }
}

fn calibration_to(row: &CalibrationRow) -> pb::CalibrationRow {
    let (low, high) = row.edges();
    let stage = match row.stage.split_once(':') {
        Some((pipeline, stage)) => format!("pipelines/{pipeline}/stages/{stage}"),
        None => row.stage.clone(),
    };
    pb::CalibrationRow {
        stage,
        bucket_low: low,
        bucket_high: high,
        predicted: row.predicted,
        realised: row.realised,
        deals: row.n as i64,
    }
}

fn score_to(method: pb::method_accuracy::Method, s: &Score) -> pb::MethodAccuracy {
    pb::MethodAccuracy {
        method: method.into(),
        forecast: s.forecast,
        error: s.error,
        absolute_percentage_error: s.ape,
        ..Default::default()
    }
}

fn range_to(range: &Range) -> pb::RevenueRange {
    use pb::revenue_range::Method;
    let (method, samples, seed, error_bound) = match range.method {
        RangeMethod::Exact => (Method::Exact, 0, 0, 0.0),
        RangeMethod::MonteCarlo {
            samples,
            seed,
            dkw_bound,
        } => (Method::MonteCarlo, samples as i32, seed, dkw_bound),
        RangeMethod::Normal { berry_esseen_bound } => (Method::Normal, 0, 0, berry_esseen_bound),
    };
    pb::RevenueRange {
        p10: range.p10,
        p50: range.p50,
        p90: range.p90,
        exact: method == Method::Exact,
        samples,
        seed,
        error_bound,
        method: method.into(),
    }
}

fn forecast_snapshot_to_wire(s: &ForecastSnapshot) -> pb::ForecastSnapshot {
    let money = |minor: i64| pb::Money {
        currency_code: s.currency.code().to_string(),
        amount_minor: minor,
    };
    pb::ForecastSnapshot {
        name: format!("forecastSnapshots/{}", s.id),
        period: s.period.clone(),
        scope: if s.scope == "org" {
            "org".into()
        } else {
            format!("users/{}", s.scope)
        },
        take_time: Some(timestamp(s.taken_at)),
        taker: s
            .taker
            .map(|t| format!("users/{}", t.0))
            .unwrap_or_default(),
        currency_code: s.currency.code().to_string(),
        totals: Some(figures_to(&s.totals)),
        range: Some(range_to(&s.range)),
        calls: s
            .calls
            .iter()
            .map(|c| pb::FrozenCall {
                user: format!("users/{}", c.user.0),
                own_commit: c.own_commit.map(money),
                manager_commit: c.manager_commit.map(money),
            })
            .collect(),
    }
}

/// The period, scope and currency of a forecast-shaped request, every problem reported.
fn period_scope_currency(
    period: &str,
    scope: &str,
    currency: &str,
) -> Result<(Period, Scope, Currency), Status> {
    let mut v = Violations::new();
    let period = Period::parse(period).map_err(|e| v.extend(e)).ok();
    let scope = parse_scope(scope, &mut v);
    let currency = parse_currency(currency, &mut v);
    match (period, scope, currency, v.is_empty()) {
        (Some(p), Some(s), Some(c), true) => Ok((p, s, c)),
        _ => Err(invalid(v)),
    }
}

fn parse_scope(scope: &str, v: &mut Violations) -> Option<Scope> {
    if scope == "org" {
        return Some(Scope::Org);
    }
    match parse_name("scope", "users", scope) {
        Ok(id) => Some(Scope::Subtree(UserId(id))),
        Err(_) => {
            v.add("scope", "must be `org` or a user like users/<uuid>");
            None
        }
    }
}

fn parse_currency(code: &str, v: &mut Violations) -> Option<Currency> {
    if code.is_empty() {
        return Some(Currency::USD);
    }
    Currency::parse(code).or_else(|| {
        v.add(
            "currency_code",
            "must be an ISO 4217 currency code such as USD",
        );
        None
    })
}

fn money_to(m: Money) -> pb::Money {
    pb::Money {
        currency_code: m.currency.code().to_string(),
        amount_minor: m.minor,
    }
}

fn level_to_wire(l: &Level) -> pb::CallLevel {
    pb::CallLevel {
        user: format!("users/{}", l.user.0),
        commit: l.commit.map(money_to),
        best_case: l.best_case.map(money_to),
        adjusted: l.adjusted,
        commit_delta: l.commit_delta,
        best_case_delta: l.best_case_delta,
    }
}

fn event_to_wire(e: &CallEvent) -> pb::ForecastCallEvent {
    use pb::forecast_call_event::Kind;
    pb::ForecastCallEvent {
        sequence: e.sequence,
        kind: match e.kind {
            CallEventKind::Submit => Kind::Submit,
            CallEventKind::Adjust => Kind::Adjust,
            CallEventKind::Judge => Kind::Judge,
        }
        .into(),
        period: e.period.clone(),
        user: format!("users/{}", e.subject.0),
        author: format!("users/{}", e.author.0),
        commit: e.commit.map(money_to),
        best_case: e.best_case.map(money_to),
        deal: e.deal.map(|d| format!("deals/{d}")).unwrap_or_default(),
        include: e.include,
        note: e.note.clone(),
        create_time: Some(timestamp(e.at)),
    }
}

/// The period and amounts of a submission or adjustment.
fn call_inputs(
    period: &str,
    commit: Option<&pb::Money>,
    best_case: Option<&pb::Money>,
) -> Result<(Period, (Money, Money)), Status> {
    let mut v = Violations::new();
    let period = Period::parse(period).map_err(|e| v.extend(e)).ok();
    let amounts = parse_amounts(
        commit.map(|m| (m.amount_minor, m.currency_code.as_str())),
        best_case.map(|m| (m.amount_minor, m.currency_code.as_str())),
    )
    .map_err(|e| v.extend(e))
    .ok();
    match (period, amounts, v.is_empty()) {
        (Some(period), Some(amounts), true) => Ok((period, amounts)),
        _ => Err(invalid(v)),
    }
}

/// One page of a list read whole (the exchange-rate table, a period's snapshots: both small),
/// ordered by `key`; the page token carries the key of the page's last item, so a page stays
/// right when items are added before it. The token is empty on the last page.
fn page_by_key<T>(
    mut items: Vec<T>,
    paging: &Paging,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, String) {
    items.sort_by_cached_key(&key);
    let start = match &paging.after {
        Some(after) => items.partition_point(|item| key(item) <= *after),
        None => 0,
    };
    let limit = usize::try_from(paging.limit).unwrap_or(usize::MAX);
    let more = items.len().saturating_sub(start) > limit;
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    // `next_token` gives a token only for a full page: a last page that is full gets none.
    let returned = if more { page.len() } else { 0 };
    let next = paging.next_token(returned, page.last().map(&key));
    (page, next)
}
