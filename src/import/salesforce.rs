//! Salesforce standard object exports: `Opportunity`, `OpportunityHistory` and `User`, as the
//! weekly data export or Data Loader writes them (API field names as headers, in any case).
//! Rows marked `IsDeleted` are skipped.

use csv::StringRecord;
use serde::Deserialize;

use super::table::{self, Column, optional, parsed, required, text};
use super::values::{Amount, parse_bool};
use super::{
    Location, RowError, SourceBook, SourceDeal, SourceFile, SourceStageChange, SourceUser,
};

pub(super) const OPPORTUNITY: &[Column] = &[
    required("id", &["Id", "Opportunity ID"]),
    required("name", &["Name", "Opportunity Name"]),
    optional("account_name", &["Account.Name", "Account Name"]),
    optional("account_id", &["AccountId", "Account ID"]),
    required("owner_id", &["OwnerId", "Owner ID"]),
    optional("amount", &["Amount"]),
    optional("currency", &["CurrencyIsoCode", "Opportunity Currency"]),
    required("close_date", &["CloseDate", "Close Date"]),
    required("stage", &["StageName", "Stage"]),
    optional("is_closed", &["IsClosed", "Closed"]),
    optional("is_won", &["IsWon", "Won"]),
    optional("lead_source", &["LeadSource", "Lead Source"]),
    optional(
        "forecast_category",
        &["ForecastCategoryName", "Forecast Category"],
    ),
    required("created_date", &["CreatedDate", "Created Date"]),
    optional("is_deleted", &["IsDeleted"]),
    optional("loss_reason", &["Loss_Reason__c", "Loss Reason"]),
];

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct OpportunityRow {
    id: Option<String>,
    name: Option<String>,
    account_name: Option<String>,
    account_id: Option<String>,
    owner_id: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    close_date: Option<String>,
    stage: Option<String>,
    is_closed: Option<String>,
    is_won: Option<String>,
    lead_source: Option<String>,
    forecast_category: Option<String>,
    created_date: Option<String>,
    is_deleted: Option<String>,
    loss_reason: Option<String>,
}

fn deleted(at: &Location, value: Option<&str>, errors: &mut Vec<RowError>) -> bool {
    parsed(at, "IsDeleted", value, parse_bool, errors).unwrap_or(false)
}

/// Reads `Opportunity`: one deal per row. The account is `Account.Name` when the export has it,
/// else `AccountId`.
pub fn read_opportunities(file: &SourceFile, book: &mut SourceBook, errors: &mut Vec<RowError>) {
    let Some(table) = table::open(file, OPPORTUNITY, &book.options, errors) else {
        return;
    };
    let dates = book.options.dates.clone();
    if !table.has("account_name") && !table.has("account_id") {
        errors.push(RowError::new(
            &Location::line(&file.name, 1),
            "AccountId",
            "missing column (a header named \"Account.Name\" or \"AccountId\")",
        ));
        return;
    }
    let mut skipped = 0;
    let mut rejected = Vec::new();
    let mut deleted_ids = Vec::new();
    let mut deals = Vec::new();
    let rows = table.rows(
        errors,
        |at, row: OpportunityRow, _: &StringRecord, errors: &mut Vec<RowError>| {
            let before = errors.len();
            if deleted(&at, row.is_deleted.as_deref(), errors) {
                skipped += 1;
                deleted_ids.extend(row.id);
                return;
            }
            let id = text(&at, "Id", row.id, errors);
            let name = text(&at, "Name", row.name, errors);
            let account = text(
                &at,
                "AccountId",
                row.account_name
                    .filter(|a| !a.is_empty())
                    .or(row.account_id),
                errors,
            );
            let owner = text(&at, "OwnerId", row.owner_id, errors);
            let stage = text(&at, "StageName", row.stage, errors);
            let amount = parsed(&at, "Amount", row.amount.as_deref(), Amount::parse, errors);
            let close_date = parsed(
                &at,
                "CloseDate",
                row.close_date.as_deref(),
                |t| dates.date(t),
                errors,
            );
            let created = text(&at, "CreatedDate", row.created_date, errors)
                .and_then(|t| parsed(&at, "CreatedDate", Some(&t), |t| dates.time(t), errors));
            let is_closed = parsed(
                &at,
                "IsClosed",
                row.is_closed.as_deref(),
                parse_bool,
                errors,
            );
            let is_won = parsed(&at, "IsWon", row.is_won.as_deref(), parse_bool, errors);
            match (
                id,
                name,
                account,
                owner,
                stage,
                created,
                errors.len() == before,
            ) {
                (
                    Some(id),
                    Some(name),
                    Some(account),
                    Some(owner),
                    Some(stage),
                    Some(created),
                    true,
                ) => deals.push(SourceDeal {
                    at,
                    external_id: id,
                    name,
                    account,
                    owner,
                    amount,
                    currency: row.currency.filter(|c| !c.is_empty()),
                    close_date,
                    stage,
                    closed_won: is_closed.map(|closed| (closed, is_won.unwrap_or(false))),
                    lead_source: row.lead_source.unwrap_or_default(),
                    forecast_category: row.forecast_category.unwrap_or_default(),
                    created_at: Some(created),
                    loss_reason: row.loss_reason.unwrap_or_default(),
                    source_pipeline: String::new(),
                }),
                (id, ..) => rejected.extend(id),
            }
        },
    );
    book.rows_read += rows;
    book.rows_skipped += skipped;
    book.deals.extend(deals);
    book.rejected_deals.extend(rejected);
    book.deleted_deals.extend(deleted_ids);
}

pub(super) const HISTORY: &[Column] = &[
    required("opportunity_id", &["OpportunityId", "Opportunity ID"]),
    required("stage", &["StageName", "Stage"]),
    optional("amount", &["Amount"]),
    optional("close_date", &["CloseDate", "Close Date"]),
    required("created_date", &["CreatedDate", "Created Date"]),
    optional("is_deleted", &["IsDeleted"]),
];

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct HistoryRow {
    opportunity_id: Option<String>,
    stage: Option<String>,
    amount: Option<String>,
    close_date: Option<String>,
    created_date: Option<String>,
    is_deleted: Option<String>,
}

/// Reads `OpportunityHistory`: one row per change of stage, amount or close date (rows that
/// keep the stage are not stage changes; the planner passes over them). `CreatedById` is not
/// read: imported history has no actor here, as the API documents.
pub fn read_history(file: &SourceFile, book: &mut SourceBook, errors: &mut Vec<RowError>) {
    let Some(table) = table::open(file, HISTORY, &book.options, errors) else {
        return;
    };
    let dates = book.options.dates.clone();
    let mut skipped = 0;
    let mut changes = Vec::new();
    let rows = table.rows(
        errors,
        |at, row: HistoryRow, _: &StringRecord, errors: &mut Vec<RowError>| {
            let before = errors.len();
            if deleted(&at, row.is_deleted.as_deref(), errors) {
                skipped += 1;
                return;
            }
            let deal = text(&at, "OpportunityId", row.opportunity_id, errors);
            let stage = text(&at, "StageName", row.stage, errors);
            let changed_at = text(&at, "CreatedDate", row.created_date, errors)
                .and_then(|t| parsed(&at, "CreatedDate", Some(&t), |t| dates.time(t), errors));
            let amount = parsed(&at, "Amount", row.amount.as_deref(), Amount::parse, errors);
            let close_date = parsed(
                &at,
                "CloseDate",
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
    book.rows_skipped += skipped;
    book.changes.extend(changes);
}

pub(super) const USER: &[Column] = &[
    required("id", &["Id", "User ID"]),
    optional("name", &["Name", "Full Name"]),
    optional("first_name", &["FirstName", "First Name"]),
    optional("last_name", &["LastName", "Last Name"]),
    required("email", &["Email"]),
    optional("manager_id", &["ManagerId", "Manager ID"]),
    optional("is_active", &["IsActive", "Active"]),
];

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct UserRow {
    id: Option<String>,
    name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    manager_id: Option<String>,
    is_active: Option<String>,
}

/// Reads `User`: id, name (or first and last name), e-mail, manager and whether active.
pub fn read_users(file: &SourceFile, book: &mut SourceBook, errors: &mut Vec<RowError>) {
    let Some(table) = table::open(file, USER, &book.options, errors) else {
        return;
    };
    let mut users = Vec::new();
    let rows = table.rows(
        errors,
        |at, row: UserRow, _: &StringRecord, errors: &mut Vec<RowError>| {
            let before = errors.len();
            let id = text(&at, "Id", row.id, errors);
            let joined = [row.first_name, row.last_name]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let name = text(
                &at,
                "Name",
                row.name.filter(|n| !n.is_empty()).or(Some(joined)),
                errors,
            );
            let email = text(&at, "Email", row.email, errors);
            let active = parsed(
                &at,
                "IsActive",
                row.is_active.as_deref(),
                parse_bool,
                errors,
            );
            if let (Some(id), Some(name), Some(email), true) =
                (id, name, email, errors.len() == before)
            {
                users.push(SourceUser {
                    at,
                    external_id: id,
                    name,
                    email,
                    manager: row.manager_id.unwrap_or_default(),
                    active: active.unwrap_or(true),
                });
            }
        },
    );
    book.rows_read += rows;
    book.users.extend(users);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{FileKind, SourceFormat};

    fn book() -> SourceBook {
        SourceBook {
            format: SourceFormat::Salesforce,
            deals: vec![],
            changes: vec![],
            users: vec![],
            rows_read: 0,
            rows_skipped: 0,
            rejected_deals: vec![],
            deleted_deals: vec![],
            options: Default::default(),
        }
    }

    fn file(kind: FileKind, text: &str) -> SourceFile {
        SourceFile {
            name: "f.csv".into(),
            kind,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn an_opportunity_row_becomes_a_source_deal() {
        let mut b = book();
        let mut errors = vec![];
        read_opportunities(
            &file(
                FileKind::SalesforceOpportunity,
                "\u{feff}ID,NAME,ACCOUNT.NAME,OWNERID,AMOUNT,CURRENCYISOCODE,CLOSEDATE,STAGENAME,ISCLOSED,ISWON,LEADSOURCE,FORECASTCATEGORYNAME,CREATEDDATE\n\
                 006A,Acme - 500 seats,Acme,005R,125000.00,EUR,2026-12-15,Proposal,false,false,Web,Commit,2026-09-01T09:00:00.000+0000\n",
            ),
            &mut b,
            &mut errors,
        );
        assert_eq!(errors, vec![]);
        let d = &b.deals[0];
        assert_eq!(
            (d.external_id.as_str(), d.account.as_str(), d.owner.as_str()),
            ("006A", "Acme", "005R")
        );
        assert_eq!(d.amount, Some(Amount::parse("125000").unwrap()));
        assert_eq!(d.currency.as_deref(), Some("EUR"));
        assert_eq!(d.closed_won, Some((false, false)));
        assert_eq!(d.at, Location::line("f.csv", 2));
        assert_eq!(
            d.created_at.unwrap().to_rfc3339(),
            "2026-09-01T09:00:00+00:00"
        );
    }

    #[test]
    fn each_bad_value_is_reported_with_its_line_and_column() {
        let mut b = book();
        let mut errors = vec![];
        read_opportunities(
            &file(
                FileKind::SalesforceOpportunity,
                "Id,Name,AccountId,OwnerId,Amount,CloseDate,StageName,CreatedDate\n\
                 006A,Good,001,005R,10,2026-12-15,Proposal,2026-09-01\n\
                 006B,,001,005R,12x,2026-13-01,Proposal,2026-09-01\n\
                 006C,Short row\n",
            ),
            &mut b,
            &mut errors,
        );
        let found: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "f.csv:3: Name: is empty",
                "f.csv:3: Amount: \"12x\" is not an amount (digits with an optional decimal point, like 1250.50)",
                "f.csv:3: CloseDate: \"2026-13-01\" is not a date (expected YYYY-MM-DD, or name the shape in the mapping's \"date_format\", like \"%m/%d/%Y\")",
                "f.csv:4: has 2 fields where the header has 8",
            ]
        );
        assert_eq!(b.deals.len(), 1);
        assert_eq!(b.rejected_deals, ["006B"]);
        assert_eq!(b.rows_read, 3);
    }

    #[test]
    fn a_file_without_a_required_column_is_refused_once() {
        let mut b = book();
        let mut errors = vec![];
        read_history(
            &file(
                FileKind::SalesforceOpportunityHistory,
                "OpportunityId,StageName\n006A,Proposal\n",
            ),
            &mut b,
            &mut errors,
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "f.csv:1: CreatedDate: missing column (a header named \"CreatedDate\" or \"Created Date\", or the header the mapping's \"columns\" names for created_date)"
        );
    }

    #[test]
    fn deleted_rows_are_skipped() {
        let mut b = book();
        let mut errors = vec![];
        read_history(
            &file(
                FileKind::SalesforceOpportunityHistory,
                "OpportunityId,StageName,CreatedDate,IsDeleted\n006A,Proposal,2026-01-01,true\n006A,Won,2026-02-01,false\n",
            ),
            &mut b,
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!((b.changes.len(), b.rows_skipped, b.rows_read), (1, 1, 2));
    }

    #[test]
    fn users_take_first_and_last_name_when_name_is_absent() {
        let mut b = book();
        let mut errors = vec![];
        read_users(
            &file(
                FileKind::SalesforceUser,
                "Id,FirstName,LastName,Email,ManagerId,IsActive\n005R,Riley,Rep,riley@example.com,005M,false\n",
            ),
            &mut b,
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(b.users[0].name, "Riley Rep");
        assert_eq!(b.users[0].manager, "005M");
        assert!(!b.users[0].active);
    }
}
