use super::*;
use crate::domain::templates;

#[test]
fn an_empty_document_is_the_default_mapping() {
    let m = Mapping::parse("m.json", "").unwrap();
    assert_eq!(m.source(SourceFormat::Hubspot), "hubspot");
    assert!(!m.create_users);
}

#[test]
fn a_document_that_is_not_an_object_is_refused() {
    for json in ["[]", "[null]", "5", "\"x\"", "null"] {
        let err = Mapping::parse("m.json", json).unwrap_err();
        assert!(err[0].reason.contains("JSON object"), "{json}: {err:?}");
    }
}

#[test]
fn unknown_keys_and_bad_values_are_each_reported() {
    let err = Mapping::parse("m.json", "{\n \"stagez\": {}\n}").unwrap_err();
    assert_eq!(err[0].at, Location::line("m.json", 2));
    assert!(err[0].reason.contains("unknown field `stagez`"), "{err:?}");
    let err = Mapping::parse(
        "m.json",
        r#"{"source":"Sales Force","currency":"usd","owners":{"005":"riley"},
                "lead_sources":{"Web":"WEB"},"forecast_categories":{"Up":"MAYBE"}}"#,
    )
    .unwrap_err();
    let columns: Vec<&str> = err.iter().map(|e| e.column.as_str()).collect();
    assert_eq!(
        columns,
        [
            "source",
            "currency",
            "owners.\"005\"",
            "lead_sources.\"Web\"",
            "forecast_categories.\"Up\""
        ]
    );
}

#[test]
fn reading_keys_are_parsed_and_checked() {
    let m = Mapping::parse(
        "m.json",
        r#"{"encoding":"ISO-8859-1","date_format":"%d/%m/%Y","round_amounts":true,
                "columns":{"loss_reason":"LossReason__c"}}"#,
    )
    .unwrap();
    assert_eq!(m.encoding, Some(TextEncoding::Windows1252));
    assert!(m.round_amounts);
    let options = m.read_options(None, chrono_tz::Tz::America__Chicago);
    assert_eq!(options.encoding, Some(TextEncoding::Windows1252));
    assert_eq!(options.columns["loss_reason"], "LossReason__c");
    assert_eq!(
        m.read_options(Some(TextEncoding::Utf8), chrono_tz::Tz::UTC)
            .encoding,
        Some(TextEncoding::Utf8),
        "the import's --encoding wins"
    );
    let err = Mapping::parse(
            "m.json",
            r#"{"encoding":"ebcdic","date_format":"%Q","columns":{"stage":" ","name":"product","owner":"Product"}}"#,
        )
        .unwrap_err();
    let columns: Vec<&str> = err.iter().map(|e| e.column.as_str()).collect();
    assert_eq!(
        columns,
        [
            "encoding",
            "date_format",
            "columns.\"owner\"",
            "columns.\"stage\""
        ]
    );
    assert_eq!(
        err[2].reason,
        "\"Product\" already feeds name: a header feeds one column"
    );
}

#[test]
fn stages_map_explicitly_then_by_id_or_display_name() {
    let pipeline = templates::mid_market();
    let m = Mapping::parse(
        "m.json",
        r#"{"stages":{"Prospecting":"problem-recognized","Negotiation":"decision-pending"}}"#,
    )
    .unwrap();
    let id = |name: &str| m.stage(name, &pipeline).map(|s| s.stage_id.as_str());
    assert_eq!(id("Prospecting"), Some("problem-recognized"));
    assert_eq!(id("prospecting"), Some("problem-recognized"));
    assert_eq!(id("Closed Won"), Some("closed-won"));
    assert_eq!(id("closed-lost"), Some("closed-lost"));
    assert_eq!(id("Negotiation (Sales Pipeline)"), Some("decision-pending"));
    assert_eq!(id("Id. Decision Makers"), None);
}

#[test]
fn a_stage_target_outside_the_pipeline_is_reported() {
    let m = Mapping::parse("m.json", r#"{"stages":{"Prospecting":"discovery"}}"#).unwrap();
    let errors = m.check_stages(&templates::smb());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].column, "stages.\"Prospecting\"");
    assert!(errors[0].reason.starts_with("\"discovery\" is not a stage"));
}

#[test]
fn lead_sources_and_categories_default_to_our_names() {
    let m = Mapping::parse(
        "m.json",
        r#"{"lead_sources":{"Web":"INBOUND"},"forecast_categories":{"Upside":"BEST_CASE"}}"#,
    )
    .unwrap();
    assert_eq!(m.lead_source("web"), Some(LeadSource::Inbound));
    assert_eq!(m.lead_source("Partner"), Some(LeadSource::Partner));
    assert_eq!(m.lead_source("Trade Show"), None);
    assert_eq!(
        m.forecast_category("Best Case"),
        Ok(Some(ForecastCategory::BestCase))
    );
    assert_eq!(
        m.forecast_category("Upside"),
        Ok(Some(ForecastCategory::BestCase))
    );
    assert_eq!(m.forecast_category(""), Ok(None));
    assert!(m.forecast_category("Maybe").is_err());
}

#[test]
fn owners_name_users_by_email_or_resource_name() {
    let m = Mapping::parse(
            "m.json",
            r#"{"owners":{"005A":"Riley@Example.com","ann@crm":"users/0190f3c2-0000-7000-8000-000000000001"}}"#,
        )
        .unwrap();
    assert_eq!(
        m.owner("005A"),
        Some(&UserRef::Email("riley@example.com".into()))
    );
    assert!(matches!(m.owner("ANN@crm"), Some(UserRef::Id(_))));
    assert_eq!(m.owner("005a"), None, "Salesforce ids are case-sensitive");
}
