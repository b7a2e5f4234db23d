//! Open deals valued here as the database values them: converted into the reporting currency
//! and weighed at their stage's rate, their segment's q or, dated off the period, their pull-in or
//! overdue q.

use super::OffPeriodLine;
use super::RateTable;
use super::period::PeriodModel;
use crate::app::exchange::Converter;
use crate::app::ports::{OpenDealRow, OpenGroupRow};
use crate::domain::directory::UserId;
use crate::domain::forecast::OpenDeals;
use crate::domain::ids::PipelineId;
use crate::domain::period_rate::OffPeriod;

/// One open deal valued here as the database values a group: converted, weighed by its stage's
/// rate and by its segment's q.
pub(super) fn valued_deal(
    converter: &mut Converter,
    row: &OpenDealRow,
    model: &PeriodModel<'_>,
    table: &RateTable,
) -> OpenDeals {
    let amount = converter.amount(row.amount);
    let band = model.band(row.pipeline, row.amount);
    let q = model.q(row.pipeline, &row.stage, band, row.pushes);
    let classic = table.open_rate(row.pipeline, &row.stage);
    OpenDeals::weighed(amount, classic, q, row.category)
}

/// One open deal dated `off` the period, converted and weighed at its q for such deals.
pub(super) fn off_deal(
    converter: &mut Converter,
    row: &OpenDealRow,
    model: &PeriodModel<'_>,
    off: OffPeriod,
) -> OpenDeals {
    let amount = converter.amount(row.amount);
    let q = model.off_period_q(off, row.pipeline, &row.stage);
    OpenDeals::weighed(amount, 0.0, q, row.category)
}

/// The line (pulled in, or overdue) of open deals dated off the period.
pub(super) fn off_line_of<'a>(deals: impl IntoIterator<Item = &'a OpenDeals>) -> OffPeriodLine {
    deals
        .into_iter()
        .fold(OffPeriodLine::default(), |sum, d| OffPeriodLine {
            open_deals: sum.open_deals + d.deals,
            amount: sum.amount + d.amount,
            expected: sum.expected + d.period_weighted,
        })
}

/// Open deals read one by one as (owner, pipeline, stage, valued).
pub(super) fn valued_deals<'a>(
    rows: &'a [OpenDealRow],
    converter: &mut Converter,
    model: &PeriodModel<'_>,
    table: &RateTable,
) -> Vec<(Option<UserId>, PipelineId, &'a str, OpenDeals)> {
    rows.iter()
        .map(|row| {
            let deal = valued_deal(converter, row, model, table);
            (Some(row.owner), row.pipeline, row.stage.as_str(), deal)
        })
        .collect()
}

/// Open-deal groups as (owner, pipeline, stage, valued), converted into the reporting currency
/// and weighed at their segment's q, which `q` gives from (pipeline, stage, size band,
/// pushes), as the database weighed them.
pub(super) fn valued_groups<'a>(
    open: &'a [OpenGroupRow],
    converter: &mut Converter,
    q: impl Fn(PipelineId, &str, Option<u8>, u32) -> f64,
) -> Vec<(Option<UserId>, PipelineId, &'a str, OpenDeals)> {
    open.iter()
        .map(|row| {
            let rate = row.currency.map_or(0.0, |c| converter.rate(c));
            let (band, pushes) = match row.segment {
                Some(s) => ((s / 3).checked_sub(1), u32::from(s % 3)),
                None => (None, 0),
            };
            let probability = q(row.pipeline, &row.stage, band, pushes);
            let deals = OpenDeals {
                deals: row.deals,
                amount: converter.take(row.currency, row.converted),
                squares: row.squares * rate * rate,
                cubes: row.cubes * rate * rate * rate,
                probability,
                category: row.category,
                weighted: row.weighted.unwrap_or(0),
                // Without period rates a deal's period weight is its stage-rate weight, unless
                // its q is 0 (the period has ended: the database weighed it at its stage rate).
                period_weighted: match row.period_weighted {
                    Some(weighted) => weighted,
                    None if probability == 0.0 => 0,
                    None => row.weighted.unwrap_or(0),
                },
            };
            (row.owner, row.pipeline, row.stage.as_str(), deals)
        })
        .collect()
}

/// Pipelines of open deals weighed by their stage rates for want of period rates, in order.
pub(super) fn stage_weighted(
    deals: &[(Option<UserId>, PipelineId, &str, OpenDeals)],
    model: &PeriodModel<'_>,
) -> Vec<PipelineId> {
    let mut pipelines: Vec<PipelineId> = deals
        .iter()
        .map(|d| d.1)
        .filter(|p| model.learned() && !model.covers(*p))
        .collect();
    pipelines.sort();
    pipelines.dedup();
    pipelines
}
