//! HubSpot's deals export: one row per deal, with a `Date entered "<stage> (<pipeline>)"`
//! column per stage (or `hs_date_entered_<stage id>` when exported with internal names). Those
//! columns are the stage history: HubSpot keeps the latest entry into each stage, so a deal that
//! went A -> B -> A shows as B, then A (a backward move), and the first visit to A is lost.

use csv::StringRecord;
use serde::Deserialize;

use super::report::{Tally, why};
use super::table::{self, Column, optional, parsed, required, text};
use super::values::{Amount, loose};
use super::{RowError, SourceBook, SourceDeal, SourceFile, SourceStageChange};

pub(super) const DEALS: &[Column] = &[
    required("id", &["Record ID", "Deal ID", "hs_object_id"]),
    required("name", &["Deal Name", "dealname"]),
    optional("pipeline", &["Pipeline"]),
    required("stage", &["Deal Stage", "dealstage"]),
    optional("amount", &["Amount"]),
    optional(
        "currency",
        &["Deal currency code", "deal_currency_code", "Currency"],
    ),
    optional("close_date", &["Close Date", "closedate"]),
    required("create_date", &["Create Date", "createdate"]),
    required(
        "owner",
        &["Deal owner", "hubspot_owner_id", "HubSpot Owner", "Owner"],
    ),
    optional(
        "company",
        &[
            "Associated Company",
            "Associated Company (Primary)",
            "Company name",
        ],
    ),
    optional(
        "forecast_category",
        &["Forecast category", "hs_manual_forecast_category"],
    ),
    optional(
        "lead_source",
        &["Original Source Type", "hs_analytics_source", "Deal source"],
    ),
    optional("loss_reason", &["Closed Lost Reason", "closed_lost_reason"]),
];

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct DealRow {
    id: Option<String>,
    name: Option<String>,
    pipeline: Option<String>,
    stage: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    close_date: Option<String>,
    create_date: Option<String>,
    owner: Option<String>,
    company: Option<String>,
    forecast_category: Option<String>,
    lead_source: Option<String>,
    loss_reason: Option<String>,
}

/// The account of a deal exported without its company.
pub const NO_ACCOUNT: &str = "(no account in the export)";

/// A deal's account: the export's (`None` or empty: it has none), else [`NO_ACCOUNT`],
/// counted in `dropped`. Every format's reader names accounts through it.
pub(super) fn account_or_none(account: Option<String>, dropped: &mut Tally) -> String {
    account.filter(|a| !a.is_empty()).unwrap_or_else(|| {
        dropped.add(why::NO_ACCOUNT, "");
        NO_ACCOUNT.to_string()
    })
}

/// The stage a `Date entered ...` header is about, if it is one.
fn date_entered_stage(header: &str) -> Option<String> {
    let label = if let Some(rest) = header
        .get(..13)
        .filter(|p| p.eq_ignore_ascii_case("date entered "))
        .map(|_| &header[13..])
    {
        rest
    } else {
        let prefix = "hs_date_entered_";
        header
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .map(|_| &header[prefix.len()..])?
    };
    let label = label
        .trim()
        .trim_matches(|c| matches!(c, '"' | '\'' | '“' | '”'))
        .trim();
    (!loose(label).is_empty()).then(|| label.to_string())
}

/// Reads the deals export: a deal per row and a stage change per filled `Date entered` column.
pub fn read_deals(file: &SourceFile, book: &mut SourceBook, errors: &mut Vec<RowError>) {
    let Some(table) = table::open(file, DEALS, &book.options, errors) else {
        return;
    };
    let dates = book.options.dates.clone();
    let entered: Vec<(usize, String, String)> = table
        .raw_headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| date_entered_stage(h).map(|stage| (i, h.clone(), stage)))
        .collect();
    let mut deals = Vec::new();
    let mut dropped = Tally::default();
    let mut changes = Vec::new();
    let mut rejected = Vec::new();
    let rows = table.rows(
        errors,
        |at, row: DealRow, record: &StringRecord, errors: &mut Vec<RowError>| {
            let before = errors.len();
            let id = text(&at, "Record ID", row.id, errors);
            let name = text(&at, "Deal Name", row.name, errors);
            let stage = text(&at, "Deal Stage", row.stage, errors);
            let owner = text(&at, "Deal owner", row.owner, errors);
            let created = text(&at, "Create Date", row.create_date, errors)
                .and_then(|t| parsed(&at, "Create Date", Some(&t), |t| dates.time(t), errors));
            let amount = parsed(&at, "Amount", row.amount.as_deref(), Amount::parse, errors);
            let close_date = parsed(
                &at,
                "Close Date",
                row.close_date.as_deref(),
                |t| dates.date(t),
                errors,
            );
            let mut entries = Vec::new();
            for (index, header, stage) in &entered {
                let value = record.get(*index);
                if let Some(when) = parsed(&at, header, value, |t| dates.time(t), errors) {
                    entries.push((stage.clone(), when));
                }
            }
            match (id, name, stage, owner, created, errors.len() == before) {
                (Some(id), Some(name), Some(stage), Some(owner), Some(created), true) => {
                    for (stage, when) in entries {
                        changes.push(SourceStageChange {
                            at: at.clone(),
                            deal: id.clone(),
                            stage,
                            changed_at: when,
                            amount: None,
                            close_date: None,
                        });
                    }
                    deals.push(SourceDeal {
                        at,
                        external_id: id,
                        name,
                        account: account_or_none(row.company, &mut dropped),
                        owner,
                        amount,
                        currency: row.currency.filter(|c| !c.is_empty()),
                        close_date,
                        stage,
                        closed_won: None,
                        lead_source: row.lead_source.unwrap_or_default(),
                        forecast_category: row.forecast_category.unwrap_or_default(),
                        created_at: Some(created),
                        loss_reason: row.loss_reason.unwrap_or_default(),
                        source_pipeline: row.pipeline.unwrap_or_default(),
                        category_column: None,
                        account_id: String::new(),
                    });
                }
                (id, ..) => rejected.extend(id),
            }
        },
    );
    book.rows_read += rows;
    book.deals.extend(deals);
    book.dropped.merge(&dropped);
    book.changes.extend(changes);
    book.rejected_deals.extend(rejected);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{FileKind, Location, SourceFormat};

    fn read(text: &str) -> (SourceBook, Vec<RowError>) {
        let mut book = SourceBook::new(SourceFormat::Hubspot, Default::default());
        let mut errors = vec![];
        read_deals(
            &SourceFile {
                name: "deals.csv".into(),
                kind: FileKind::HubspotDeals,
                bytes: text.as_bytes().to_vec(),
            },
            &mut book,
            &mut errors,
        );
        (book, errors)
    }

    #[test]
    fn date_entered_headers_name_their_stage() {
        assert_eq!(
            date_entered_stage("Date entered \"Contract Sent (Sales Pipeline)\"").as_deref(),
            Some("Contract Sent (Sales Pipeline)")
        );
        assert_eq!(
            date_entered_stage("hs_date_entered_closedwon").as_deref(),
            Some("closedwon")
        );
        assert_eq!(date_entered_stage("Date exited \"Won\""), None);
        assert_eq!(date_entered_stage("Deal Stage"), None);
    }

    #[test]
    fn each_filled_date_entered_column_is_a_stage_change() {
        let (book, errors) = read(
            "Record ID,Deal Name,Pipeline,Deal Stage,Amount,Close Date,Create Date,Deal owner,\
             Date entered \"Qualified (Sales Pipeline)\",Date entered \"Won (Sales Pipeline)\"\n\
             9001,Globex renewal,Sales Pipeline,Won,5000,2026-03-01,2026-01-05 09:00,ann@example.com,2026-01-05 09:00,2026-03-01 16:30\n\
             9002,Initech pilot,Sales Pipeline,Qualified,,,2026-02-01,ann@example.com,2026-02-01,\n",
        );
        assert_eq!(errors, vec![]);
        assert_eq!(book.deals.len(), 2);
        assert_eq!(book.deals[0].account, NO_ACCOUNT);
        assert_eq!(
            crate::import::report::lines(&book.dropped.to_vec()),
            ["deal without an account: '' 2"]
        );
        assert_eq!(book.deals[0].source_pipeline, "Sales Pipeline");
        let stages: Vec<(&str, &str)> = book
            .changes
            .iter()
            .map(|c| (c.deal.as_str(), c.stage.as_str()))
            .collect();
        assert_eq!(
            stages,
            [
                ("9001", "Qualified (Sales Pipeline)"),
                ("9001", "Won (Sales Pipeline)"),
                ("9002", "Qualified (Sales Pipeline)"),
            ]
        );
    }

    #[test]
    fn a_bad_date_entered_value_rejects_the_row_and_names_the_column() {
        let (book, errors) = read(
            "Record ID,Deal Name,Deal Stage,Create Date,Deal owner,Date entered \"Won\"\n\
             9001,Globex,Won,2026-01-05,ann@example.com,last week\n",
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].at, Location::line("deals.csv", 2));
        assert_eq!(errors[0].column, "Date entered \"Won\"");
        assert!(book.deals.is_empty() && book.changes.is_empty());
        assert_eq!(book.rejected_deals, ["9001"]);
    }
}
