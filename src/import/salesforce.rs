//! Salesforce standard object exports: `Opportunity`, `OpportunityHistory`, `User`, `UserRole`
//! and `Account`, as the weekly data export or Data Loader writes them (API field names as
//! headers, in any case). Rows marked `IsDeleted` are skipped (and counted).
//!
//! Two Salesforce habits are read here so the planner never sees them: the empty id
//! (`000000000000000AAA`, or its 15-character form) in a lookup field means "none", and the
//! forecast category comes in two columns (see [`forecast_category`]).

use csv::StringRecord;
use serde::Deserialize;

use super::hubspot::account_or_none;
use super::report::{Tally, why};
use super::table::{self, Column, optional, parsed, required, text};
use super::values::{Amount, loose, parse_bool};
use super::{
    Location, RowError, SourceAccount, SourceBook, SourceDeal, SourceFile, SourceRole,
    SourceStageChange, SourceUser,
};

/// Salesforce's empty id, which lookup fields hold to mean "none", in its 18- and
/// 15-character forms.
pub const EMPTY_IDS: [&str; 2] = ["000000000000000AAA", "000000000000000"];

/// A lookup field's value: `None` when empty or the empty id.
fn lookup(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty() && !EMPTY_IDS.contains(&v.as_str()))
}

/// A lookup field a row cannot do without: its value, or an error saying why there is none.
fn required_lookup(
    at: &Location,
    column: &str,
    value: Option<String>,
    errors: &mut Vec<RowError>,
) -> Option<String> {
    match value {
        Some(v) if EMPTY_IDS.contains(&v.as_str()) => {
            errors.push(RowError::new(
                at,
                column,
                format!("is {v}, Salesforce's empty id: the row names none"),
            ));
            None
        }
        other => text(at, column, other, errors),
    }
}

/// A Salesforce forecast category, API value or label, as one of the five (`None`: another
/// value, such as a translated label the mapping may name).
fn known_category(text: &str) -> Option<&'static str> {
    Some(match loose(text).as_str() {
        "omitted" => "Omitted",
        "pipeline" => "Pipeline",
        "bestcase" => "Best Case",
        "forecast" | "commit" => "Commit",
        "closed" => "Closed",
        _ => return None,
    })
}

/// The deal's forecast category and the column it was read from. `ForecastCategory` holds the
/// API values (Omitted, Pipeline, BestCase, Forecast, Closed; Forecast means Commit) and
/// `ForecastCategoryName` the labels (Omitted, Pipeline, Best Case, Commit, Closed). The API
/// value wins: labels can be renamed or translated, API values cannot. When both are known
/// categories and differ, the disagreement is counted.
fn forecast_category(
    api: Option<String>,
    label: Option<String>,
    dropped: &mut Tally,
) -> (String, Option<&'static str>) {
    let api = api.filter(|v| !v.is_empty());
    let label = label.filter(|v| !v.is_empty());
    match (api, label) {
        (Some(api), label) => {
            let known = known_category(&api);
            if let (Some(known), Some(label)) = (known, &label)
                && known_category(label).is_some_and(|l| l != known)
            {
                dropped.add(why::CATEGORY_COLUMNS_DISAGREE, &format!("{api} / {label}"));
            }
            // "Forecast" is Salesforce's API name of Commit; other values pass as written.
            let value = if known == Some("Commit") {
                "Commit".to_string()
            } else {
                api
            };
            (value, Some("ForecastCategory"))
        }
        (None, Some(label)) => (label, Some("ForecastCategoryName")),
        (None, None) => (String::new(), None),
    }
}

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
        &["ForecastCategory", "Forecast Category"],
    ),
    optional(
        "forecast_category_name",
        &["ForecastCategoryName", "Forecast Category Name"],
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
    forecast_category_name: Option<String>,
    created_date: Option<String>,
    is_deleted: Option<String>,
    loss_reason: Option<String>,
}

fn deleted(at: &Location, value: Option<&str>, errors: &mut Vec<RowError>) -> bool {
    parsed(at, "IsDeleted", value, parse_bool, errors).unwrap_or(false)
}

/// Reads `Opportunity`: one deal per row. The account is `Account.Name` when the export has it,
/// else `AccountId` (named by the Account file when one is sent); a deal without one (empty,
/// or the empty id) is kept under a placeholder and counted.
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
    let mut dropped = Tally::default();
    let rows = table.rows(
        errors,
        |at, row: OpportunityRow, _: &StringRecord, errors: &mut Vec<RowError>| {
            let before = errors.len();
            if deleted(&at, row.is_deleted.as_deref(), errors) {
                skipped += 1;
                dropped.add(why::DELETED, &file.name);
                deleted_ids.extend(row.id);
                return;
            }
            let id = text(&at, "Id", row.id, errors);
            let name = text(&at, "Name", row.name, errors);
            let account_id = lookup(row.account_id).unwrap_or_default();
            let account = account_or_none(
                row.account_name
                    .filter(|a| !a.is_empty())
                    .or_else(|| (!account_id.is_empty()).then(|| account_id.clone())),
                &mut dropped,
            );
            let owner = required_lookup(&at, "OwnerId", row.owner_id, errors);
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
            let (category, category_column) = forecast_category(
                row.forecast_category,
                row.forecast_category_name,
                &mut dropped,
            );
            match (id, name, owner, stage, created, errors.len() == before) {
                (Some(id), Some(name), Some(owner), Some(stage), Some(created), true) => deals
                    .push(SourceDeal {
                        at,
                        external_id: id,
                        name,
                        account,
                        account_id,
                        owner,
                        amount,
                        currency: row.currency.filter(|c| !c.is_empty()),
                        close_date,
                        stage,
                        closed_won: is_closed.map(|closed| (closed, is_won.unwrap_or(false))),
                        lead_source: row.lead_source.unwrap_or_default(),
                        forecast_category: category,
                        created_at: Some(created),
                        loss_reason: row.loss_reason.unwrap_or_default(),
                        source_pipeline: String::new(),
                        category_column,
                    }),
                (id, ..) => rejected.extend(id),
            }
        },
    );
    book.rows_read += rows;
    book.rows_skipped += skipped;
    book.dropped.merge(&dropped);
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
            let deal = required_lookup(&at, "OpportunityId", row.opportunity_id, errors);
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
    for _ in 0..skipped {
        book.dropped.add(why::DELETED, &file.name);
    }
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
    optional("role_id", &["UserRoleId", "Role ID"]),
    optional("user_type", &["UserType", "User Type"]),
    optional("profile", &["Profile.Name", "Profile Name", "Profile"]),
    optional("created_date", &["CreatedDate", "Created Date"]),
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
    role_id: Option<String>,
    user_type: Option<String>,
    profile: Option<String>,
    created_date: Option<String>,
}

/// Reads `User`: id, name (or first and last name), e-mail, manager, whether active, and what
/// tells a seller from the rest (role, user type, profile).
pub fn read_users(file: &SourceFile, book: &mut SourceBook, errors: &mut Vec<RowError>) {
    let Some(table) = table::open(file, USER, &book.options, errors) else {
        return;
    };
    let dates = book.options.dates.clone();
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
            let created_at = parsed(
                &at,
                "CreatedDate",
                row.created_date.as_deref(),
                |t| dates.time(t),
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
                    manager: lookup(row.manager_id).unwrap_or_default(),
                    active: active.unwrap_or(true),
                    role: lookup(row.role_id).unwrap_or_default(),
                    user_type: row.user_type.unwrap_or_default(),
                    profile: row.profile.unwrap_or_default(),
                    created_at,
                });
            }
        },
    );
    book.rows_read += rows;
    book.users.extend(users);
}

pub(super) const ROLE: &[Column] = &[
    required("id", &["Id", "Role ID"]),
    required("name", &["Name", "Role Name"]),
    optional("parent_id", &["ParentRoleId", "Parent Role ID"]),
    optional("forecast_user_id", &["ForecastUserId", "Forecast User ID"]),
];

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RoleRow {
    id: Option<String>,
    name: Option<String>,
    parent_id: Option<String>,
    forecast_user_id: Option<String>,
}

/// Reads `UserRole`: the role hierarchy (id, name, parent) and each role's forecast manager.
pub fn read_roles(file: &SourceFile, book: &mut SourceBook, errors: &mut Vec<RowError>) {
    let Some(table) = table::open(file, ROLE, &book.options, errors) else {
        return;
    };
    let mut roles = Vec::new();
    let rows = table.rows(
        errors,
        |at, row: RoleRow, _: &StringRecord, errors: &mut Vec<RowError>| {
            let before = errors.len();
            let id = text(&at, "Id", row.id, errors);
            let name = text(&at, "Name", row.name, errors);
            if let (Some(id), Some(name), true) = (id, name, errors.len() == before) {
                roles.push(SourceRole {
                    at,
                    external_id: id,
                    name,
                    parent: lookup(row.parent_id).unwrap_or_default(),
                    forecast_user: lookup(row.forecast_user_id).unwrap_or_default(),
                });
            }
        },
    );
    book.rows_read += rows;
    book.roles.extend(roles);
}

pub(super) const ACCOUNT: &[Column] = &[
    required("id", &["Id", "Account ID"]),
    required("name", &["Name", "Account Name"]),
    optional("is_deleted", &["IsDeleted"]),
];

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct AccountRow {
    id: Option<String>,
    name: Option<String>,
    is_deleted: Option<String>,
}

/// Reads `Account`: the names of the accounts opportunities refer to by id. Deleted accounts
/// still name their deals (a deal keeps the account it was won with).
pub fn read_accounts(file: &SourceFile, book: &mut SourceBook, errors: &mut Vec<RowError>) {
    let Some(table) = table::open(file, ACCOUNT, &book.options, errors) else {
        return;
    };
    let mut accounts = Vec::new();
    let rows = table.rows(
        errors,
        |at, row: AccountRow, _: &StringRecord, errors: &mut Vec<RowError>| {
            let before = errors.len();
            let id = text(&at, "Id", row.id, errors);
            let name = text(&at, "Name", row.name, errors);
            deleted(&at, row.is_deleted.as_deref(), errors);
            if let (Some(id), Some(name), true) = (id, name, errors.len() == before) {
                accounts.push(SourceAccount {
                    at,
                    external_id: id,
                    name,
                });
            }
        },
    );
    book.rows_read += rows;
    book.accounts.extend(accounts);
}

/// Names the deals' accounts from the Account file, when one was sent: a deal whose account is
/// its AccountId takes the account's name; an id the file does not hold is kept, and counted.
pub fn name_accounts(book: &mut SourceBook) {
    if book.accounts.is_empty() {
        return;
    }
    let names: std::collections::HashMap<&str, &str> = book
        .accounts
        .iter()
        .map(|a| (a.external_id.as_str(), a.name.as_str()))
        .collect();
    for deal in &mut book.deals {
        if deal.account_id.is_empty() || deal.account != deal.account_id {
            continue;
        }
        match names.get(deal.account_id.as_str()) {
            Some(name) => deal.account = (*name).to_string(),
            None => book.dropped.add(why::ACCOUNT_NOT_IN_FILE, &deal.account_id),
        }
    }
}

#[cfg(test)]
mod tests;
