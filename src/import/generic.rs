//! dealdesk's generic CSV, for CRMs without a reader of their own (documented in the README and
//! in `import.proto`). Two files, a header line, comma-separated, RFC 4180 quoting:
//!
//! - deals: `external_id`, `name`, `owner`, `stage` (required); `account` (default: none in the
//!   export), `created_at` (default: the deal's first history row, else its close date, else
//!   the import's time), `amount` (major units, `1250.50`), `currency` (ISO 4217), `close_date`
//!   (`YYYY-MM-DD` or the mapping's `date_format`), `lead_source`, `forecast_category`,
//!   `loss_reason` (optional);
//! - stage history: `external_id`, `stage`, `changed_at` (required); `amount`, `close_date`
//!   (optional): one row per stage the deal entered, any order.
//!
//! A file whose headers are named otherwise (an export of another tool) is read through the
//! mapping's `columns`, e.g. `{"external_id": "opportunity_id", "owner": "sales_agent"}`.

use csv::StringRecord;
use serde::Deserialize;

use super::hubspot::account_or_none;
use super::report::Tally;
use super::table::{self, Column, optional, parsed, required, text};
use super::values::Amount;
use super::{RowError, SourceBook, SourceDeal, SourceFile, SourceStageChange};

pub(super) const DEALS: &[Column] = &[
    required("external_id", &["external_id"]),
    required("name", &["name"]),
    optional("account", &["account"]),
    required("owner", &["owner"]),
    required("stage", &["stage"]),
    optional("amount", &["amount"]),
    optional("currency", &["currency"]),
    optional("close_date", &["close_date"]),
    optional("created_at", &["created_at"]),
    optional("lead_source", &["lead_source"]),
    optional("forecast_category", &["forecast_category"]),
    optional("loss_reason", &["loss_reason"]),
];

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct DealRow {
    external_id: Option<String>,
    name: Option<String>,
    account: Option<String>,
    owner: Option<String>,
    stage: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    close_date: Option<String>,
    created_at: Option<String>,
    lead_source: Option<String>,
    forecast_category: Option<String>,
    loss_reason: Option<String>,
}

/// Reads the generic deals file.
pub fn read_deals(file: &SourceFile, book: &mut SourceBook, errors: &mut Vec<RowError>) {
    let Some(table) = table::open(file, DEALS, &book.options, errors) else {
        return;
    };
    let dates = book.options.dates.clone();
    let mut deals = Vec::new();
    let mut dropped = Tally::default();
    let mut rejected = Vec::new();
    let rows = table.rows(
        errors,
        |at, row: DealRow, _: &StringRecord, errors: &mut Vec<RowError>| {
            let before = errors.len();
            let id = text(&at, "external_id", row.external_id, errors);
            let name = text(&at, "name", row.name, errors);
            let account = account_or_none(row.account, &mut dropped);
            let owner = text(&at, "owner", row.owner, errors);
            let stage = text(&at, "stage", row.stage, errors);
            let created = parsed(
                &at,
                "created_at",
                row.created_at.as_deref(),
                |t| dates.time(t),
                errors,
            );
            let amount = parsed(&at, "amount", row.amount.as_deref(), Amount::parse, errors);
            let close_date = parsed(
                &at,
                "close_date",
                row.close_date.as_deref(),
                |t| dates.date(t),
                errors,
            );
            match (id, name, owner, stage, errors.len() == before) {
                (Some(id), Some(name), Some(owner), Some(stage), true) => deals.push(SourceDeal {
                    at,
                    external_id: id,
                    name,
                    account,
                    owner,
                    amount,
                    currency: row.currency.filter(|c| !c.is_empty()),
                    close_date,
                    stage,
                    closed_won: None,
                    lead_source: row.lead_source.unwrap_or_default(),
                    forecast_category: row.forecast_category.unwrap_or_default(),
                    created_at: created,
                    loss_reason: row.loss_reason.unwrap_or_default(),
                    source_pipeline: String::new(),
                    category_column: None,
                    account_id: String::new(),
                }),
                (id, ..) => rejected.extend(id),
            }
        },
    );
    book.rows_read += rows;
    book.deals.extend(deals);
    book.dropped.merge(&dropped);
    book.rejected_deals.extend(rejected);
}

pub(super) const HISTORY: &[Column] = &[
    required("external_id", &["external_id"]),
    required("stage", &["stage"]),
    required("changed_at", &["changed_at"]),
    optional("amount", &["amount"]),
    optional("close_date", &["close_date"]),
];

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct HistoryRow {
    external_id: Option<String>,
    stage: Option<String>,
    changed_at: Option<String>,
    amount: Option<String>,
    close_date: Option<String>,
}

/// Reads the generic stage history file.
pub fn read_history(file: &SourceFile, book: &mut SourceBook, errors: &mut Vec<RowError>) {
    let Some(table) = table::open(file, HISTORY, &book.options, errors) else {
        return;
    };
    let dates = book.options.dates.clone();
    let mut changes = Vec::new();
    let rows = table.rows(
        errors,
        |at, row: HistoryRow, _: &StringRecord, errors: &mut Vec<RowError>| {
            let before = errors.len();
            let deal = text(&at, "external_id", row.external_id, errors);
            let stage = text(&at, "stage", row.stage, errors);
            let changed_at = text(&at, "changed_at", row.changed_at, errors)
                .and_then(|t| parsed(&at, "changed_at", Some(&t), |t| dates.time(t), errors));
            let amount = parsed(&at, "amount", row.amount.as_deref(), Amount::parse, errors);
            let close_date = parsed(
                &at,
                "close_date",
                row.close_date.as_deref(),
                |t| dates.date(t),
                errors,
            );
            if let (Some(deal), Some(stage), Some(changed_at), true) =
                (deal, stage, changed_at, errors.len() == before)
            {
                changes.push(SourceStageChange {
                    at,
                    deal,
                    stage,
                    changed_at,
                    amount,
                    close_date,
                });
            }
        },
    );
    book.rows_read += rows;
    book.changes.extend(changes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{FileKind, SourceFormat};

    #[test]
    fn the_generic_files_read_into_deals_and_changes() {
        let mut book = SourceBook::new(SourceFormat::Generic, Default::default());
        let mut errors = vec![];
        let file = |kind, text: &str| SourceFile {
            name: "g.csv".into(),
            kind,
            bytes: text.as_bytes().to_vec(),
        };
        read_deals(
            &file(
                FileKind::GenericDeals,
                "external_id,name,account,owner,stage,amount,currency,created_at\n\
                 G-1,\"Wonka, Inc. - pilot\",Wonka,ann@example.com,qualify,900.5,GBP,2026-01-02\n",
            ),
            &mut book,
            &mut errors,
        );
        read_history(
            &file(
                FileKind::GenericStageHistory,
                "external_id,stage,changed_at\nG-1,qualify,2026-01-02T08:00:00Z\nG-1,,2026-01-03\n",
            ),
            &mut book,
            &mut errors,
        );
        assert_eq!(book.deals[0].name, "Wonka, Inc. - pilot");
        assert_eq!(book.deals[0].currency.as_deref(), Some("GBP"));
        assert_eq!(book.changes.len(), 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].to_string(), "g.csv:3: stage: is empty");
        assert_eq!(book.rows_read, 3);
    }
}
