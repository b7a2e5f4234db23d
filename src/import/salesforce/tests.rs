use super::*;
use crate::import::{FileKind, SourceFormat};

fn book() -> SourceBook {
    SourceBook::new(SourceFormat::Salesforce, Default::default())
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

fn categories(b: &SourceBook) -> Vec<(&str, Option<&str>)> {
    b.deals
        .iter()
        .map(|d| (d.forecast_category.as_str(), d.category_column))
        .collect()
}

#[test]
fn both_forecast_category_spellings_work_and_the_api_value_wins() {
    let mut b = book();
    let mut errors = vec![];
    read_opportunities(
        &file(
            FileKind::SalesforceOpportunity,
            "Id,Name,AccountId,OwnerId,CloseDate,StageName,CreatedDate,ForecastCategory,ForecastCategoryName\n\
                 006A,A,001,005R,2026-12-15,Proposal,2026-09-01,Forecast,Commit\n\
                 006B,B,001,005R,2026-12-15,Proposal,2026-09-01,BestCase,Best Case\n\
                 006C,C,001,005R,2026-12-15,Proposal,2026-09-01,,Best Case\n\
                 006D,D,001,005R,2026-12-15,Proposal,2026-09-01,Pipeline,Commit\n",
        ),
        &mut b,
        &mut errors,
    );
    assert_eq!(errors, vec![]);
    assert_eq!(
        categories(&b),
        [
            ("Commit", Some("ForecastCategory")),
            ("BestCase", Some("ForecastCategory")),
            ("Best Case", Some("ForecastCategoryName")),
            ("Pipeline", Some("ForecastCategory")),
        ]
    );
    assert_eq!(
        crate::import::report::lines(&b.dropped.to_vec()),
        [
            "ForecastCategory and ForecastCategoryName disagree (ForecastCategory used): 'Pipeline / Commit' 1"
        ]
    );
    let mut only_labels = book();
    read_opportunities(
        &file(
            FileKind::SalesforceOpportunity,
            "Id,Name,AccountId,OwnerId,CloseDate,StageName,CreatedDate,ForecastCategoryName\n\
                 006A,A,001,005R,2026-12-15,Proposal,2026-09-01,Commit\n",
        ),
        &mut only_labels,
        &mut errors,
    );
    assert_eq!(
        categories(&only_labels),
        [("Commit", Some("ForecastCategoryName"))]
    );
}

#[test]
fn salesforces_empty_id_means_none_in_every_lookup_field() {
    let mut b = book();
    let mut errors = vec![];
    read_opportunities(
        &file(
            FileKind::SalesforceOpportunity,
            "Id,Name,AccountId,OwnerId,CloseDate,StageName,CreatedDate\n\
                 006A,A,000000000000000AAA,005R,2026-12-15,Proposal,2026-09-01\n\
                 006B,B,001,000000000000000,2026-12-15,Proposal,2026-09-01\n",
        ),
        &mut b,
        &mut errors,
    );
    read_users(
        &file(
            FileKind::SalesforceUser,
            "Id,Name,Email,ManagerId,UserRoleId\n005R,Riley,r@example.com,000000000000000AAA,000000000000000\n",
        ),
        &mut b,
        &mut errors,
    );
    read_roles(
        &file(
            FileKind::SalesforceUserRole,
            "Id,Name,ParentRoleId,ForecastUserId\n00E1,Ventas,000000000000000AAA,000000000000000AAA\n",
        ),
        &mut b,
        &mut errors,
    );
    let found: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        ["f.csv:3: OwnerId: is 000000000000000, Salesforce's empty id: the row names none"]
    );
    assert_eq!(
        (b.deals[0].account.as_str(), b.deals[0].account_id.as_str()),
        (crate::import::hubspot::NO_ACCOUNT, "")
    );
    assert_eq!(
        (b.users[0].manager.as_str(), b.users[0].role.as_str()),
        ("", "")
    );
    assert_eq!(
        (
            b.roles[0].parent.as_str(),
            b.roles[0].forecast_user.as_str()
        ),
        ("", "")
    );
    assert_eq!(
        crate::import::report::lines(&b.dropped.to_vec()),
        ["deal without an account: '' 1"]
    );
}

#[test]
fn the_account_file_names_deals_accounts_and_unknown_ids_are_kept_and_counted() {
    let mut b = book();
    let mut errors = vec![];
    read_opportunities(
        &file(
            FileKind::SalesforceOpportunity,
            "Id,Name,AccountId,OwnerId,CloseDate,StageName,CreatedDate\n\
                 006A,A,0011,005R,2026-12-15,Proposal,2026-09-01\n\
                 006B,B,0012,005R,2026-12-15,Proposal,2026-09-01\n",
        ),
        &mut b,
        &mut errors,
    );
    read_accounts(
        &file(
            FileKind::SalesforceAccount,
            "Id,Name,IsDeleted\n0011,Cementos del Norte S.A.,false\n",
        ),
        &mut b,
        &mut errors,
    );
    name_accounts(&mut b);
    assert!(errors.is_empty(), "{errors:?}");
    let accounts: Vec<&str> = b.deals.iter().map(|d| d.account.as_str()).collect();
    assert_eq!(accounts, ["Cementos del Norte S.A.", "0012"]);
    assert_eq!(
        crate::import::report::lines(&b.dropped.to_vec()),
        ["account not in the Account file (id kept): '0012' 1"]
    );
}
