//! A forecast's figures broken down by stage, by category and by direct report.

use std::collections::{HashMap, HashSet};

use super::period::NewPipeline;
use super::valued::off_line_of;
use super::{RateTable, Scope};
use crate::domain::deal::ForecastCategory;
use crate::domain::directory::{ReportingTree, UserId};
use crate::domain::forecast::{Figures, OpenDeals};
use crate::domain::ids::PipelineId;

/// A forecast's open deals (owner, pipeline, stage, valued), won amounts and not-yet-created
/// term, broken down.
pub(super) struct Breakdown<'a> {
    pub table: &'a RateTable,
    pub deals: &'a [(Option<UserId>, PipelineId, &'a str, OpenDeals)],
    pub won: &'a [(Option<UserId>, i64)],
    pub new: Option<&'a NewPipeline>,
    /// The open deals dated off the period as (owner, valued at their q for such deals), by
    /// `OffPeriod::index`.
    pub off: &'a [Vec<(Option<UserId>, OpenDeals)>; 2],
}

impl Breakdown<'_> {
    /// Per stage with open deals, in pipeline order, with the stage's win rate.
    pub fn by_stage(&self) -> Vec<(PipelineId, String, f64, Figures)> {
        // One pass groups the deals by stage; stages are then listed in pipeline order.
        let mut per_stage: HashMap<(PipelineId, &str), Vec<OpenDeals>> = HashMap::new();
        for (_, pipeline, stage, deal) in self.deals {
            per_stage
                .entry((*pipeline, *stage))
                .or_default()
                .push(*deal);
        }
        self.table
            .pipelines
            .iter()
            .flat_map(|p| {
                p.spec
                    .stages
                    .iter()
                    .map(move |s| (p.id, s.stage_id.as_str()))
            })
            .filter_map(|key| {
                let here = per_stage.get(&key)?;
                let rate = self.table.learned(key.0, key.1);
                Some((key.0, key.1.to_string(), rate, Figures::of(0, here)))
            })
            .collect()
    }

    /// Per category (commit, best case, pipeline, omitted).
    pub fn by_category(&self) -> Vec<(ForecastCategory, Figures)> {
        [
            ForecastCategory::Commit,
            ForecastCategory::BestCase,
            ForecastCategory::Pipeline,
            ForecastCategory::Omitted,
        ]
        .into_iter()
        .map(|category| {
            let theirs = self.deals.iter().map(|d| &d.3);
            (
                category,
                Figures::of(0, theirs.filter(|d| d.category == category)),
            )
        })
        .collect()
    }

    /// The scope's user (own deals), then each direct report's subtree (none for the org).
    pub fn by_report(&self, scope: Scope, tree: &ReportingTree) -> Vec<(UserId, Figures)> {
        let Scope::Subtree(root) = scope else {
            return Vec::new();
        };
        let mut buckets: Vec<(UserId, Vec<UserId>)> = vec![(root, vec![root])];
        for &report in tree.reports(root) {
            buckets.push((report, tree.subtree(report)));
        }
        buckets
            .into_iter()
            .map(|(user, members)| {
                let members: HashSet<UserId> = members.into_iter().collect();
                let theirs = |owner: &Option<UserId>| owner.is_some_and(|o| members.contains(&o));
                let open: Vec<OpenDeals> = self
                    .deals
                    .iter()
                    .filter(|d| theirs(&d.0))
                    .map(|d| d.3)
                    .collect();
                let closed: i64 = self.won.iter().filter(|w| theirs(&w.0)).map(|w| w.1).sum();
                let new = self.new.map_or(0, |n| n.of(|o| members.contains(&o)));
                let off = self.off.each_ref().map(|deals| {
                    let deals = deals.iter().filter(|p| theirs(&p.0)).map(|p| &p.1);
                    off_line_of(deals).expected
                });
                let figures = Figures::of(closed, &open)
                    .with_new(new)
                    .with_off_period(off);
                (user, figures)
            })
            .collect()
    }
}
