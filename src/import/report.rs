//! What an import left out, or could not keep as the source had it, counted by value: nothing
//! is dropped without a line in the report ("lead source not mapped: 'Web' 43, 'Partners' 10").

use std::collections::BTreeMap;

/// Values left out for one reason, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// What was left out and why (`lead source not mapped`).
    pub what: String,
    /// The source's value (empty when the source had none).
    pub value: String,
    /// How many rows had it.
    pub count: usize,
}

/// A tally of dropped values, by reason then value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(BTreeMap<(String, String), usize>);

/// The reasons the importer counts, worded for the report.
pub mod why {
    /// A lead source the mapping does not name and that is not one of ours: left unset.
    pub const LEAD_SOURCE_NOT_MAPPED: &str = "lead source not mapped (left unset)";
    /// A closed deal's category is CLOSED whatever the source says.
    pub const CATEGORY_OF_CLOSED_DEAL: &str =
        "forecast category of a closed deal ignored (CLOSED kept)";
    /// The two Salesforce category columns disagree; the API value is used.
    pub const CATEGORY_COLUMNS_DISAGREE: &str =
        "ForecastCategory and ForecastCategoryName disagree (ForecastCategory used)";
    /// An amount with more decimals than its currency has, rounded (`round_amounts`).
    pub const AMOUNT_ROUNDED: &str = "amount rounded half up to its currency's decimals";
    /// An amount of zero or none: the deal is kept without an amount.
    pub const NO_AMOUNT: &str = "deal without an amount (zero or empty)";
    /// A lost deal whose loss reason the source does not give.
    pub const NO_LOSS_REASON: &str = "lost deal without a loss reason (\"not recorded\" kept)";
    /// A deal of a source pipeline the mapping leaves out, with its history.
    pub const OTHER_PIPELINE: &str = "deal of another source pipeline skipped";
    /// A row the source marks deleted.
    pub const DELETED: &str = "row deleted in the source (IsDeleted) skipped";
    /// A history row of a deal left out.
    pub const HISTORY_OF_SKIPPED_DEAL: &str = "history row of a skipped deal skipped";
    /// A user of the User file who does not sell.
    pub const USER_NOT_A_SELLER: &str = "user skipped (not a seller)";
    /// An opportunity without an account.
    pub const NO_ACCOUNT: &str = "deal without an account";
    /// An AccountId the Account file does not hold.
    pub const ACCOUNT_NOT_IN_FILE: &str = "account not in the Account file (id kept)";
    /// A ManagerId naming a user skipped as not a seller.
    pub const MANAGER_SKIPPED: &str = "ManagerId names a skipped user (role tree used instead)";
}

impl Tally {
    /// Counts one row dropped for `what`, with the source's `value`.
    pub fn add(&mut self, what: &str, value: &str) {
        *self
            .0
            .entry((what.to_string(), value.to_string()))
            .or_default() += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Tally) {
        for (key, n) in &other.0 {
            *self.0.entry(key.clone()).or_default() += n;
        }
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The counts by reason (alphabetical), then by count (largest first), then value.
    pub fn to_vec(&self) -> Vec<Dropped> {
        let mut out: Vec<Dropped> = self
            .0
            .iter()
            .map(|((what, value), count)| Dropped {
                what: what.clone(),
                value: value.clone(),
                count: *count,
            })
            .collect();
        out.sort_by(|a, b| {
            (
                a.what.as_str(),
                std::cmp::Reverse(a.count),
                a.value.as_str(),
            )
                .cmp(&(
                    b.what.as_str(),
                    std::cmp::Reverse(b.count),
                    b.value.as_str(),
                ))
        });
        out
    }
}

/// One line per reason: `lead source not mapped (left unset): 'Web' 43, 'Partners' 10`.
pub fn lines(dropped: &[Dropped]) -> Vec<String> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for d in dropped {
        let item = format!("'{}' {}", d.value, d.count);
        match out.last_mut() {
            Some((what, items)) if *what == d.what => items.push(item),
            _ => out.push((d.what.clone(), vec![item])),
        }
    }
    out.into_iter()
        .map(|(what, items)| format!("{what}: {}", items.join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_values_are_counted_by_reason_then_largest_count() {
        let mut t = Tally::default();
        for v in ["Other", "Web", "Partners", "Web", "Web", "Partners"] {
            t.add(why::LEAD_SOURCE_NOT_MAPPED, v);
        }
        t.add(why::NO_AMOUNT, "");
        assert_eq!(
            lines(&t.to_vec()),
            [
                "deal without an amount (zero or empty): '' 1",
                "lead source not mapped (left unset): 'Web' 3, 'Partners' 2, 'Other' 1",
            ]
        );
    }

    #[test]
    fn a_plan_counts_what_its_deals_lose_on_the_way_in() {
        use crate::import::plan::tests::{World, book, deal, errors};
        use crate::import::values::Amount;
        let w = World::new(r#"{"lead_sources":{"Web":"INBOUND"}}"#);
        let mut deals = vec![
            deal("1", "problem-recognized", 2),
            deal("2", "problem-recognized", 3),
            deal("3", "closed-lost", 4),
            deal("4", "closed-won", 5),
        ];
        deals[0].lead_source = "Partners".into();
        deals[1].lead_source = "Web".into();
        deals[1].amount = Some(Amount::parse("0.00").unwrap());
        deals[2].lead_source = "Partners".into();
        deals[2].forecast_category = "Omitted".into();
        deals[3].amount = None;
        let plan = w.plan(&book(deals, vec![])).unwrap();
        assert_eq!(
            lines(&plan.dropped.to_vec()),
            [
                "deal without an amount (zero or empty): '' 1, '0' 1",
                "forecast category of a closed deal ignored (CLOSED kept): 'Omitted' 1",
                "lead source not mapped (left unset): 'Partners' 2",
                "lost deal without a loss reason (\"not recorded\" kept): '' 1",
            ]
        );

        let mut bad = deal("5", "problem-recognized", 2);
        bad.forecast_category = "Maybe".into();
        bad.category_column = Some("ForecastCategory");
        assert_eq!(
            errors(w.plan(&book(vec![bad], vec![]))),
            [
                "Opportunity.csv:2: ForecastCategory: \"Maybe\" is not a forecast category (PIPELINE, \
              BEST_CASE, COMMIT, OMITTED, CLOSED); map it in \"forecast_categories\""
            ],
            "the error names the column the value was read from"
        );
    }
}
