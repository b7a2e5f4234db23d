//! Reading real exports: encodings, colliding headers and the mapping's `columns`, date
//! formats, and the generic CSV without a creation time or account.

use super::*;
use crate::import::hubspot::NO_ACCOUNT;

fn file(name: &str, kind: FileKind, bytes: &[u8]) -> SourceFile {
    SourceFile {
        name: name.into(),
        kind,
        bytes: bytes.to_vec(),
    }
}

fn options(mapping: &str) -> ReadOptions {
    Mapping::parse("mapping.json", mapping)
        .unwrap()
        .read_options(None, chrono_tz::Tz::UTC)
}

fn lines(errors: &[RowError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

const OPPORTUNITY: &str = "Id,Name,AccountId,OwnerId,CloseDate,StageName,CreatedDate";

#[test]
fn a_windows_1252_export_is_read_when_its_encoding_is_named() {
    // "Señal" and "Negociación" as Windows-1252 writes them.
    let bytes = [
        format!("{OPPORTUNITY}\n").as_bytes(),
        b"006A,Se\xf1al,001,005R,2026-12-15,Negociaci\xf3n,2026-09-01\n",
    ]
    .concat();
    let files = vec![file(
        "Opportunity.csv",
        FileKind::SalesforceOpportunity,
        &bytes,
    )];
    let (book, errors) = read(files, &options(r#"{"encoding":"windows-1252"}"#)).unwrap();
    assert_eq!(errors, []);
    assert_eq!(book.deals[0].name, "Señal");
    assert_eq!(book.deals[0].stage, "Negociación");
}

#[test]
fn an_undecodable_deals_file_stops_the_import_without_knock_on_errors() {
    let opportunity = [
        format!("{OPPORTUNITY}\n").as_bytes(),
        b"006A,Se\xf1al,001,005R,2026-12-15,Negociaci\xf3n,2026-09-01\n",
    ]
    .concat();
    let history = "OpportunityId,StageName,CreatedDate\n006A,Prospecting,2026-09-01\n";
    let files = vec![
        file(
            "Opportunity.csv",
            FileKind::SalesforceOpportunity,
            &opportunity,
        ),
        file(
            "OpportunityHistory.csv",
            FileKind::SalesforceOpportunityHistory,
            history.as_bytes(),
        ),
    ];
    let errors = read(files, &ReadOptions::default()).unwrap_err();
    assert_eq!(
        lines(&errors),
        [
            "Opportunity.csv: is not valid UTF-8 in 2 fields of 1 row; it is probably \
             Windows-1252, as Excel and Salesforce Data Loader write it: try --encoding \
             windows-1252 (or \"encoding\": \"windows-1252\" in the mapping)",
            "Opportunity.csv:2: Name: \"Se\u{FFFD}al\" is not valid UTF-8 (try --encoding \
             windows-1252)",
            "Opportunity.csv:2: StageName: \"Negociaci\u{FFFD}n\" is not valid UTF-8 (try \
             --encoding windows-1252)",
        ],
        "nothing about the history file's rows"
    );
}

const WITH_TWO_LOSS_REASONS: &str = "Id,Name,AccountId,OwnerId,CloseDate,StageName,CreatedDate,Loss_Reason__c,LossReason__c\n\
     006A,Lost one,001,005R,2026-06-30,Closed Lost,2026-01-02,,Price\n";

#[test]
fn headers_that_are_one_name_once_case_and_punctuation_are_ignored_are_refused() {
    let files = vec![file(
        "Opportunity.csv",
        FileKind::SalesforceOpportunity,
        WITH_TWO_LOSS_REASONS.as_bytes(),
    )];
    let errors = read(files, &ReadOptions::default()).unwrap_err();
    assert_eq!(
        lines(&errors),
        [
            "Opportunity.csv:1: Loss_Reason__c: \"Loss_Reason__c\" and \"LossReason__c\" are one \
             column once case and punctuation are ignored: say which feeds loss_reason in the \
             mapping, e.g. \"columns\": {\"loss_reason\": \"LossReason__c\"}"
        ]
    );
}

#[test]
fn the_mappings_columns_settle_which_header_feeds_a_column() {
    let files = vec![file(
        "Opportunity.csv",
        FileKind::SalesforceOpportunity,
        WITH_TWO_LOSS_REASONS.as_bytes(),
    )];
    let (book, errors) = read(
        files,
        &options(r#"{"columns":{"loss_reason":"LossReason__c"}}"#),
    )
    .unwrap();
    assert_eq!(errors, []);
    assert_eq!(book.deals[0].loss_reason, "Price");
}

#[test]
fn the_mappings_columns_feed_a_column_from_a_custom_field() {
    let text = "Id,Name,AccountId,OwnerId,CloseDate,StageName,CreatedDate,Motivo_Perdida__c\n\
                006A,Lost one,001,005R,2026-06-30,Closed Lost,2026-01-02,Precio\n";
    let files = vec![file(
        "Opportunity.csv",
        FileKind::SalesforceOpportunity,
        text.as_bytes(),
    )];
    let (book, _) = read(
        files,
        &options(r#"{"columns":{"loss_reason":"motivo perdida c"}}"#),
    )
    .unwrap();
    assert_eq!(
        book.deals[0].loss_reason, "Precio",
        "matched loosely when unique"
    );
}

#[test]
fn a_columns_entry_no_file_can_use_is_a_mapping_error() {
    let files = || {
        vec![file(
            "Opportunity.csv",
            FileKind::SalesforceOpportunity,
            WITH_TWO_LOSS_REASONS.as_bytes(),
        )]
    };
    let errors = read(
        files(),
        &options(r#"{"columns":{"loss_reason":"Why_Lost__c"}}"#),
    )
    .unwrap_err();
    assert_eq!(
        lines(&errors),
        [
            "mapping.json: columns.\"loss_reason\": \"Why_Lost__c\" is not a header of Opportunity.csv"
        ]
    );
    let errors = read(
        files(),
        &options(r#"{"columns":{"reason":"LossReason__c"}}"#),
    )
    .unwrap_err();
    assert!(
        errors[0]
            .reason
            .starts_with("\"reason\" is not a column of the files sent (their columns: account_id, account_name, amount,"),
        "{errors:?}"
    );
}

/// The shape of a public CRM sample: its own header names, M/D/YYYY dates, no creation time,
/// accounts left empty, agents by name.
const SAMPLE: &str = "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n\
                      1C1I7A6R,Ines Okafor,GTX Plus Basic,Cancity,Won,10/20/2016,3/1/2017,1054\n\
                      Z063OYW0,Ines Okafor,GTXPro,,Engaging,3/7/2017,,\n\
                      EC4QE1BX,Dario Lutz,MG Special,,Prospecting,,,\n";

const SAMPLE_MAPPING: &str = r#"{
    "date_format": "%m/%d/%Y",
    "columns": {"external_id": "opportunity_id", "owner": "sales_agent", "name": "product",
                "stage": "deal_stage", "created_at": "engage_date", "amount": "close_value"}
}"#;

#[test]
fn a_generic_export_with_its_own_headers_and_month_first_dates_is_read_through_the_mapping() {
    let files = vec![file(
        "sales_pipeline.csv",
        FileKind::GenericDeals,
        SAMPLE.as_bytes(),
    )];
    let (book, errors) = read(files, &options(SAMPLE_MAPPING)).unwrap();
    assert_eq!(errors, []);
    let won = &book.deals[0];
    assert_eq!(
        (
            won.external_id.as_str(),
            won.owner.as_str(),
            won.name.as_str()
        ),
        ("1C1I7A6R", "Ines Okafor", "GTX Plus Basic")
    );
    assert_eq!(
        won.created_at.unwrap().to_rfc3339(),
        "2016-10-20T00:00:00+00:00"
    );
    assert_eq!(won.close_date, Some("2017-03-01".parse().unwrap()));
    assert_eq!(won.amount, Some(values::Amount::parse("1054").unwrap()));
    assert_eq!(book.deals[1].account, NO_ACCOUNT, "an empty account");
    assert_eq!(
        crate::import::report::lines(&book.dropped.to_vec()),
        ["deal without an account: '' 2"],
        "and counted"
    );
    assert_eq!(
        book.deals[2].created_at, None,
        "no engage date: left to the planner"
    );
}

#[test]
fn a_date_that_does_not_match_the_format_names_the_value_the_format_and_the_place() {
    let text = SAMPLE.replace("10/20/2016", "20/10/2016");
    let files = vec![file(
        "sales_pipeline.csv",
        FileKind::GenericDeals,
        text.as_bytes(),
    )];
    let (_, errors) = read(files, &options(SAMPLE_MAPPING)).unwrap();
    assert_eq!(
        lines(&errors),
        [
            "sales_pipeline.csv:2: engage_date: \"20/10/2016\" does not match the date format \
             \"%m/%d/%Y\" (the mapping's \"date_format\")"
        ],
        "named by the file's header, the one the mapping's columns names"
    );
}

#[test]
fn zone_less_times_are_read_in_the_orgs_zone() {
    let text = "external_id,name,owner,stage,created_at\nG-1,Pilot,ann@example.com,qualify,2023-02-07 20:47:49\n";
    let files = vec![file("deals.csv", FileKind::GenericDeals, text.as_bytes())];
    let chicago = Mapping::parse("m.json", r#"{"date_format":"%Y-%m-%d %H:%M:%S"}"#)
        .unwrap()
        .read_options(None, chrono_tz::Tz::America__Chicago);
    let (book, _) = read(files, &chicago).unwrap();
    assert_eq!(
        book.deals[0].created_at.unwrap().to_rfc3339(),
        "2023-02-08T02:47:49+00:00"
    );
}
