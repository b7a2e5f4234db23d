//! PipelineService.GetPipelineMetrics: reads the request into a `MetricsRequest` (every bad
//! field reported at once) and writes the computed metrics back.

use tonic::{Request, Response, Status};

use super::convert::{parse_name, segment_from, segment_to, timestamp};
use super::deal::{lead_source_from, lead_source_to};
use super::{authenticate, invalid};
use crate::app::App;
use crate::app::forecast::Scope;
use crate::app::names::{deal_name, pipeline_name, user_name};
use crate::app::pipeline_metrics::{
    DEFAULT_STALE_DEALS, MAX_STALE_DEALS, MetricsRequest, PeriodMetrics, PipelineMetrics,
    SourceOutcome,
};
use crate::app::ports::Store;
use crate::domain::Violations;
use crate::domain::directory::UserId;
use crate::domain::ids::PipelineId;
use crate::domain::pipeline_metrics::{MonthRange, StaleThreshold, ThresholdSource, share};
use crate::proto as pb;

/// Reads a request, reporting every problem with its field.
fn request_from(req: &pb::GetPipelineMetricsRequest) -> Result<MetricsRequest, Violations> {
    let mut v = Violations::new();
    let pipeline = parse_name::<PipelineId>("pipeline", &req.pipeline)
        .map_err(|e| v.extend(e))
        .ok();
    let range = MonthRange::parse(&req.start_month, &req.end_month)
        .map_err(|e| v.extend(e))
        .ok();
    let scope = match req.scope.as_str() {
        "" => None,
        "org" => Some(Scope::Org),
        name => match parse_name::<UserId>("scope", name) {
            Ok(id) => Some(Scope::Subtree(id)),
            Err(_) => {
                v.add("scope", "must be empty, `org` or a user like users/<uuid>");
                None
            }
        },
    };
    let owner = match req.owner.as_str() {
        "" => None,
        name => parse_name::<UserId>("owner", name)
            .map_err(|e| v.extend(e))
            .ok(),
    };
    let lead_source = match req.lead_source {
        0 => None,
        value => lead_source_from(value).or_else(|| {
            v.add("lead_source", "must be one of the known lead sources");
            None
        }),
    };
    let segment = match req.segment {
        0 => None,
        value => segment_from(value).or_else(|| {
            v.add("segment", "must be one of the known segments");
            None
        }),
    };
    let stale_after_days = match req.stale_after_days {
        None => None,
        Some(days @ 1..=3650) => u32::try_from(days).ok(),
        Some(_) => {
            v.add(
                "stale_after_days",
                "must be between 1 and 3650 days when set",
            );
            None
        }
    };
    let max_stale_deals = match req.max_stale_deals {
        0 => DEFAULT_STALE_DEALS,
        n if n < 0 => {
            v.add("max_stale_deals", "must not be negative");
            0
        }
        n => (n as u64).min(MAX_STALE_DEALS),
    };
    match (pipeline, range) {
        (Some(pipeline), Some(range)) if v.is_empty() => Ok(MetricsRequest {
            pipeline,
            range,
            scope,
            owner,
            lead_source,
            segment,
            stale_after_days,
            max_stale_deals,
        }),
        _ => Err(v),
    }
}

fn closed_to(o: &SourceOutcome) -> pb::ClosedDealMetrics {
    pb::ClosedDealMetrics {
        won: o.won as i64,
        lost: o.lost as i64,
        win_rate: o.win_rate(),
        median_sales_cycle_days: o.median_cycle_days,
    }
}

fn period_to(
    stage_name: &impl Fn(&str) -> String,
    start_month: String,
    end_month: String,
    p: &PeriodMetrics,
) -> pb::PeriodPipelineMetrics {
    pb::PeriodPipelineMetrics {
        start_month,
        end_month,
        stages: p
            .stages
            .iter()
            .map(|s| pb::StageMetrics {
                stage: stage_name(&s.stage_id),
                entered: s.entered as i64,
                advanced: s.advanced as i64,
                conversion_rate: s.conversion(),
                median_days_in_stage: s.median_days,
                exits: s.exits as i64,
                backward_moves: s.backward as i64,
                backward_rate: s.backward_rate(),
            })
            .collect(),
        close_date_pushes: Some(pb::CloseDatePushes {
            compared: p.pushes.compared as i64,
            pushes: p.pushes.pushes as i64,
            pushed_deals: p.pushes.pushed_deals as i64,
            push_rate: share(p.pushes.pushes, p.pushes.compared),
            median_push_days: p.pushes.median_days,
        }),
        closed: Some(closed_to(&p.closed)),
        by_lead_source: p
            .by_lead_source
            .iter()
            .map(|o| pb::LeadSourceMetrics {
                lead_source: o
                    .lead_source
                    .map(lead_source_to)
                    .unwrap_or(pb::LeadSource::Unspecified)
                    .into(),
                closed: Some(closed_to(o)),
            })
            .collect(),
    }
}

fn threshold_to(stage: String, t: Option<StaleThreshold>) -> pb::StaleThreshold {
    use pb::stale_threshold::Source;
    pb::StaleThreshold {
        stage,
        threshold_days: t.map(|t| t.days),
        source: match t.map(|t| t.source) {
            Some(ThresholdSource::Request) => Source::Request,
            Some(ThresholdSource::Stage) => Source::Stage,
            Some(ThresholdSource::TwiceMedian) => Source::TwiceMedian,
            None => Source::None,
        }
        .into(),
    }
}

/// The metrics on the wire.
fn metrics_to(m: &PipelineMetrics) -> pb::PipelineMetrics {
    let pipeline = pipeline_name(m.pipeline.id);
    let stage_name = |stage: &str| format!("{pipeline}/stages/{stage}");
    let (first, last) = (m.range.first().to_string(), m.range.last().to_string());
    pb::PipelineMetrics {
        pipeline: pipeline.clone(),
        segment: segment_to(m.pipeline.spec.segment).into(),
        start_month: first.clone(),
        end_month: last.clone(),
        months: m
            .range
            .months()
            .iter()
            .zip(&m.months)
            .map(|(month, p)| period_to(&stage_name, month.to_string(), month.to_string(), p))
            .collect(),
        total: Some(period_to(&stage_name, first, last, &m.total)),
        stale_thresholds: m
            .thresholds
            .iter()
            .map(|(stage, t)| threshold_to(stage_name(stage), *t))
            .collect(),
        stale_deals: m
            .stale_deals
            .iter()
            .map(|s| pb::StaleDeal {
                deal: deal_name(s.deal.deal),
                display_name: s.deal.display_name.clone(),
                owner: user_name(s.deal.owner),
                stage: stage_name(&s.deal.stage_id),
                stage_enter_time: Some(timestamp(s.deal.stage_entered_at)),
                days_in_stage: s.days_in_stage,
                threshold_days: s.threshold.days,
            })
            .collect(),
        stale_deal_count: m.stale_deal_count as i64,
        compute_time: Some(timestamp(m.computed_at)),
    }
}

/// Serves one GetPipelineMetrics call.
pub(super) async fn get_pipeline_metrics<S: Store>(
    app: &App<S>,
    request: Request<pb::GetPipelineMetricsRequest>,
) -> Result<Response<pb::PipelineMetrics>, Status> {
    let principal = authenticate(app, &request).await?;
    let metrics_request = request_from(request.get_ref()).map_err(invalid)?;
    let metrics = app.pipeline_metrics(&principal, metrics_request).await?;
    Ok(Response::new(metrics_to(&metrics)))
}
