//! Conversions of the forecast service: domain values to their wire form, and the parsing of
//! request fields shared by several handlers.

use chrono::NaiveDate;
use tonic::Status;

use crate::app::accuracy::Score;
use crate::app::backtest::MethodPoint;
use crate::app::forecast::period::ForecastMethod;
use crate::app::forecast::{ForecastResult, OffPeriodLine, Scope};
use crate::app::names::{
    deal_name, forecast_snapshot_name, pipeline_name, snapshot_name, stage_name, user_name,
    user_name_of,
};
use crate::domain::Problem;
use crate::domain::Violations;
use crate::domain::backtest::{CalibrationRow, Method as BacktestMethod, MethodSummary};
use crate::domain::calendar::PeriodKind;
use crate::domain::call::{CallEvent, CallEventKind, Level, parse_amounts};
use crate::domain::directory::UserId;
use crate::domain::forecast::{Figures, ForecastSnapshot, Range, RangeMethod};
use crate::domain::ids::PipelineId;
use crate::domain::money::{Currency, Money};
use crate::domain::period::Period;
use crate::domain::period_rate::{
    CellKey, HORIZON_BUCKET_STARTS, OffPeriod, PeriodRateCell, PeriodRateTable,
};
use crate::domain::winrate::{SegmentKind, StageRate, WinRateSnapshot};
use crate::grpc::convert::{parse_name, timestamp};
use crate::grpc::deal::{category_to, date_to};
use crate::grpc::invalid;
use crate::proto as pb;

pub(super) fn stage_rate_to(r: &StageRate) -> pb::StageWinRate {
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
pub(crate) fn snapshot_to_wire(s: &WinRateSnapshot) -> pb::WinRateSnapshot {
    pb::WinRateSnapshot {
        name: snapshot_name(s.pipeline_id, s.version),
        pipeline: pipeline_name(s.pipeline_id),
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
        creator: s.creator.map(user_name).unwrap_or_default(),
        create_time: Some(timestamp(s.created_at)),
        period_rates: s.period_rates.iter().map(period_rates_to).collect(),
    }
}

pub(super) fn period_rates_to(t: &PeriodRateTable) -> pb::PeriodRateTable {
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
        size_currency_code: t.size_currency.to_string(),
        in_period_share: t.in_period_share,
        cells: t
            .cells()
            .map(|(stage, key, c)| cell_to(stage, key, c))
            .collect(),
        pull_in_share: t.pull_in_share,
        pulled_in_cells: off_period_cells_to(t, OffPeriod::Next),
        overdue_share: t.overdue_share,
        overdue_prior: t.overdue_prior,
        overdue_cells: off_period_cells_to(t, OffPeriod::Overdue),
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

/// A table's cells of deals dated `off` the period (by stage, then bucket).
fn off_period_cells_to(t: &PeriodRateTable, off: OffPeriod) -> Vec<pb::PeriodRateCell> {
    t.off_period_cells(off)
        .map(|(stage, bucket, c)| {
            let key = CellKey {
                horizon_bucket: bucket,
                size_band: None,
                pushes: None,
            };
            cell_to(stage, &key, c)
        })
        .collect()
}

fn off_period_deals_to(line: OffPeriodLine) -> pb::OffPeriodDeals {
    pb::OffPeriodDeals {
        open_deals: i64::try_from(line.open_deals).unwrap_or(i64::MAX),
        amount: line.amount,
        expected: line.expected,
    }
}

fn cell_to(stage: &str, key: &CellKey, c: &PeriodRateCell) -> pb::PeriodRateCell {
    pb::PeriodRateCell {
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
    }
}

/// Parses `pipelines/{uuid}/winRateSnapshots/{version}`.
pub(super) fn parse_snapshot_name(
    field: &str,
    name: &str,
) -> Result<(PipelineId, i64), Violations> {
    let bad = || {
        Violations::one_as(
            Problem::BadName,
            field,
            super::super::convert::not_a_name(name, "pipelines/<uuid>/winRateSnapshots/<version>"),
        )
    };
    let (pipeline, version) = name.split_once("/winRateSnapshots/").ok_or_else(bad)?;
    let pipeline = parse_name::<PipelineId>(field, pipeline).map_err(|_| bad())?;
    let version = version
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(bad)?;
    Ok((pipeline, version))
}

pub(super) fn figures_to(f: &Figures) -> pb::ForecastFigures {
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
        pulled_in: f.pulled_in,
        overdue: f.overdue,
        classic_expected: f.classic_expected,
    }
}

pub(super) fn forecast_method_to(method: ForecastMethod) -> pb::ForecastMethod {
    match method {
        ForecastMethod::PeriodForecast => pb::ForecastMethod::PeriodForecast,
        ForecastMethod::Mixed => pb::ForecastMethod::Mixed,
        ForecastMethod::StageWeighted => pb::ForecastMethod::StageWeighted,
    }
}

pub(super) fn method_to(method: BacktestMethod) -> pb::method_accuracy::Method {
    use pb::method_accuracy::Method;
    match method {
        BacktestMethod::StaticDefaults => Method::DefaultProbabilities,
        BacktestMethod::Classic => Method::WeightedPipeline,
        BacktestMethod::PeriodForecast => Method::PeriodForecast,
        BacktestMethod::LastPeriodsAverage => Method::LastPeriodsAverage,
        BacktestMethod::ClosedPlusNew => Method::ClosedPlusNew,
    }
}

pub(super) fn method_point_to(m: &MethodPoint) -> pb::MethodAccuracy {
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

pub(super) fn summary_to(s: &MethodSummary) -> pb::MethodSummary {
    pb::MethodSummary {
        method: method_to(s.method).into(),
        points: s.points as i64,
        mean_absolute_percentage_error: s.mean_ape,
        mean_bias: s.mean_bias,
        range_coverage: s.coverage,
        brier_score: s.brier,
    }
}

pub(super) fn calibration_to(row: &CalibrationRow) -> pb::CalibrationRow {
    let (low, high) = row.edges();
    let stage = match row.stage.split_once(':') {
        Some((pipeline, stage)) => stage_name(pipeline, stage),
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

pub(super) fn score_to(method: pb::method_accuracy::Method, s: &Score) -> pb::MethodAccuracy {
    pb::MethodAccuracy {
        method: method.into(),
        forecast: s.forecast,
        error: s.error,
        absolute_percentage_error: s.ape,
        ..Default::default()
    }
}

pub(super) fn range_to(range: &Range) -> pb::RevenueRange {
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

pub(super) fn forecast_snapshot_to_wire(s: &ForecastSnapshot) -> pb::ForecastSnapshot {
    let money = |minor: i64| pb::Money {
        currency_code: s.currency.code().to_string(),
        amount_minor: minor,
    };
    pb::ForecastSnapshot {
        name: forecast_snapshot_name(s.id),
        period: s.period.clone(),
        scope: if s.scope == "org" {
            "org".into()
        } else {
            user_name_of(&s.scope)
        },
        take_time: Some(timestamp(s.taken_at)),
        taker: s.taker.map(user_name).unwrap_or_default(),
        currency_code: s.currency.code().to_string(),
        totals: Some(figures_to(&s.totals)),
        range: Some(range_to(&s.range)),
        calls: s
            .calls
            .iter()
            .map(|c| pb::FrozenCall {
                user: user_name(c.user),
                own_commit: c.own_commit.map(money),
                manager_commit: c.manager_commit.map(money),
            })
            .collect(),
    }
}

/// The period, scope and currency of a forecast-shaped request, every problem reported.
pub(super) fn period_scope_currency(
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

pub(super) fn parse_scope(scope: &str, v: &mut Violations) -> Option<Scope> {
    if scope == "org" {
        return Some(Scope::Org);
    }
    match parse_name::<UserId>("scope", scope) {
        Ok(id) => Some(Scope::Subtree(id)),
        Err(_) => {
            v.add_as(
                Problem::BadName,
                "scope",
                format!(
                    "{} is not a scope: `org` or a user like users/<uuid>",
                    crate::domain::wording::echoed(scope)
                ),
            );
            None
        }
    }
}

pub(super) fn parse_currency(code: &str, v: &mut Violations) -> Option<Currency> {
    if code.is_empty() {
        return Some(Currency::USD);
    }
    Currency::parse(code).or_else(|| {
        v.add_as(
            Problem::BadCurrency,
            "currency_code",
            crate::domain::wording::not_a_currency(code),
        );
        None
    })
}

pub(super) fn money_to(m: Money) -> pb::Money {
    pb::Money {
        currency_code: m.currency.code().to_string(),
        amount_minor: m.minor,
    }
}

pub(super) fn level_to_wire(l: &Level) -> pb::CallLevel {
    pb::CallLevel {
        user: user_name(l.user),
        commit: l.commit.map(money_to),
        best_case: l.best_case.map(money_to),
        adjusted: l.adjusted,
        commit_delta: l.commit_delta,
        best_case_delta: l.best_case_delta,
    }
}

pub(super) fn event_to_wire(e: &CallEvent) -> pb::ForecastCallEvent {
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
        user: user_name(e.subject),
        author: user_name(e.author),
        commit: e.commit.map(money_to),
        best_case: e.best_case.map(money_to),
        deal: e.deal.map(deal_name).unwrap_or_default(),
        include: e.include,
        note: e.note.clone(),
        create_time: Some(timestamp(e.at)),
    }
}

/// The period and amounts of a submission or adjustment.
pub(super) fn call_inputs(
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

/// The wire form of a computed forecast of `period` for `scope` (as the caller wrote it).
pub(super) fn forecast_to(period: Period, scope: &str, result: &ForecastResult) -> pb::Forecast {
    let (start, end) = result.bounds;
    let last_day: NaiveDate = end.pred_opt().unwrap_or(end);
    pb::Forecast {
        period: period.to_string(),
        scope: scope.to_string(),
        period_start_date: Some(date_to(start)),
        period_end_date: Some(date_to(last_day)),
        currency_code: result.currency.code().to_string(),
        totals: Some(figures_to(&result.totals)),
        range: Some(range_to(&result.range)),
        by_stage: result
            .by_stage
            .iter()
            .map(|(pipeline, stage, rate, f)| pb::StageForecast {
                stage: stage_name(pipeline, stage),
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
                user: user_name(*user),
                figures: Some(figures_to(f)),
            })
            .collect(),
        snapshots: result
            .snapshots
            .iter()
            .map(|(pipeline, version)| snapshot_name(*pipeline, *version))
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
        pulled_in: result.pulled_in.map(off_period_deals_to),
        overdue: result.overdue.map(off_period_deals_to),
        stage_weighted_pipelines: result
            .stage_weighted
            .iter()
            .map(|p| pipeline_name(*p))
            .collect(),
    }
}
