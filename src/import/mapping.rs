//! The mapping document: how one source's names become this service's. JSON, every key
//! optional (an empty document is valid):
//!
//! ```json
//! {
//!   "comment": "free text for people; ignored",
//!   "source": "salesforce-emea",
//!   "currency": "USD",
//!   "stages": { "Prospecting": "problem-recognized", "Closed Won": "closed-won" },
//!   "owners": { "005A0000001xyz": "riley@example.com", "ann@crm.example": "users/0190..." },
//!   "create_users": true,
//!   "lead_sources": { "Web": "INBOUND", "Partner Referral": "PARTNER" },
//!   "forecast_categories": { "Upside": "BEST_CASE" },
//!   "source_pipelines": ["Sales Pipeline"],
//!   "encoding": "windows-1252",
//!   "date_format": "%m/%d/%Y",
//!   "round_amounts": true,
//!   "columns": { "loss_reason": "LossReason__c" },
//!   "role_managers": { "Gerente Regional": "005A0000001abc" },
//!   "update_users": false
//! }
//! ```
//!
//! - `source` names the source external ids belong to (default: the format, `salesforce`,
//!   `hubspot` or `generic`); two Salesforce orgs need two names.
//! - `currency` is used for rows without a currency column (default `USD`).
//! - `stages` maps source stage names to stage ids of the target pipeline. Names not listed are
//!   matched to a stage whose id or display name is the same (loosely: case, spaces and
//!   punctuation aside), and a HubSpot label's ` (<pipeline>)` suffix is ignored.
//! - `owners` maps source owner references (user ids, e-mails, names) to users, by e-mail or
//!   `users/{id}`. Unlisted owners are found through the source's User file and by e-mail.
//! - `create_users` creates the users of a Salesforce User file who are not here yet.
//! - `lead_sources` and `forecast_categories` map source values to this service's names
//!   (`INBOUND`, `OUTBOUND`, `REFERRAL`, `PARTNER`, `EVENT`, `EXPANSION`; `PIPELINE`,
//!   `BEST_CASE`, `COMMIT`, `OMITTED`); values named like ours need no entry.
//! - `source_pipelines`, when set, imports only the deals of these source pipelines (HubSpot).
//! - `encoding` names the files' encoding when they have no byte-order mark ([`TextEncoding`]);
//!   the import's own (`--encoding`) wins.
//! - `date_format` is the strftime format of every date and date-time column ([`dates`]).
//! - `round_amounts` rounds amounts with more decimals than their currency has, half up.
//! - `columns` says which source header feeds which of our columns (the readers' column names,
//!   such as `loss_reason`): it settles headers that collide once case and punctuation are
//!   ignored, and feeds a column from a header of any name (a custom field).
//! - `role_managers` (Salesforce, with a UserRole file): role id or name -> the user (User file
//!   Id or e-mail) who manages the users below that role when it has several holders.
//! - `update_users`: existing users take the source's managers and roles (audited); without
//!   it the report lists what would change.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::dates::{self, DateReader};
use super::decode::TextEncoding;
use super::values::loose;
use super::{Location, ReadOptions, RowError, SourceFormat};
use crate::domain::deal::{ForecastCategory, LeadSource};
use crate::domain::directory::UserId;
use crate::domain::money::Currency;
use crate::domain::pipeline::{PipelineSpec, Stage};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<serde_json::Value>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    stages: BTreeMap<String, String>,
    #[serde(default)]
    owners: BTreeMap<String, String>,
    #[serde(default)]
    create_users: bool,
    #[serde(default)]
    lead_sources: BTreeMap<String, String>,
    #[serde(default)]
    forecast_categories: BTreeMap<String, String>,
    #[serde(default)]
    source_pipelines: Vec<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    date_format: Option<String>,
    #[serde(default)]
    round_amounts: bool,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    #[serde(default)]
    role_managers: BTreeMap<String, String>,
    #[serde(default)]
    update_users: bool,
}

/// A user named by the mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// `users/{id}`.
    Id(UserId),
    /// An e-mail (lower case).
    Email(String),
}

/// A parsed mapping document.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// Name of the mapping (a file name), for errors.
    pub name: String,
    source: Option<String>,
    /// Currency of rows without one.
    pub currency: Option<Currency>,
    stages: BTreeMap<String, String>,
    owners: HashMap<String, UserRef>,
    /// Whether the User file's missing users are created.
    pub create_users: bool,
    lead_sources: HashMap<String, LeadSource>,
    forecast_categories: HashMap<String, ForecastCategory>,
    /// Source pipelines to import (empty: all).
    pub source_pipelines: Vec<String>,
    /// The files' encoding when they carry no byte-order mark (`None`: UTF-8).
    pub encoding: Option<TextEncoding>,
    /// The strftime format of every date and date-time column (`None`: the usual shapes).
    pub date_format: Option<String>,
    /// Whether amounts with more decimals than their currency has are rounded (half up).
    pub round_amounts: bool,
    /// Our column name -> the source header that feeds it.
    pub columns: BTreeMap<String, String>,
    /// Role (source id or name) -> the user (source id or e-mail) who manages the users below
    /// it, when the role has several holders.
    pub role_managers: BTreeMap<String, String>,
    /// Whether existing users take the source's managers and roles.
    pub update_users: bool,
}

fn lead_source_named(text: &str) -> Option<LeadSource> {
    let key = loose(text);
    let key = key.strip_prefix("leadsource").unwrap_or(&key);
    Some(match key {
        "inbound" => LeadSource::Inbound,
        "outbound" => LeadSource::Outbound,
        "referral" => LeadSource::Referral,
        "partner" => LeadSource::Partner,
        "event" => LeadSource::Event,
        "expansion" => LeadSource::Expansion,
        _ => return None,
    })
}

fn category_named(text: &str) -> Option<ForecastCategory> {
    let key = loose(text);
    let key = key.strip_prefix("forecastcategory").unwrap_or(&key);
    Some(match key {
        "pipeline" => ForecastCategory::Pipeline,
        "bestcase" | "upside" => ForecastCategory::BestCase,
        "commit" => ForecastCategory::Commit,
        "omitted" | "omit" => ForecastCategory::Omitted,
        "closed" => ForecastCategory::Closed,
        _ => return None,
    })
}

fn valid_source(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=32).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// The document's JSON, read: empty text is the empty document, and anything but a JSON object
/// is refused.
fn read_document(name: &str, json: &str) -> Result<Document, Vec<RowError>> {
    let document: Document = if json.trim().is_empty() {
        Document::default()
    } else if !json.trim_start().starts_with('{') {
        // serde would read a JSON array as a struct's fields in order: `[]` would pass.
        return Err(vec![RowError::new(
            &Location::file(name),
            "",
            "is not a mapping document: it must be a JSON object".to_string(),
        )]);
    } else {
        serde_json::from_str(json).map_err(|err| {
            vec![RowError::new(
                &Location::line(name, err.line() as u64),
                "",
                format!("is not a mapping document: {err}"),
            )]
        })?
    };
    Ok(document)
}

/// `owners`: each value an e-mail or `users/<id>`.
fn parse_owners(
    entries: &BTreeMap<String, String>,
    bad: &mut impl FnMut(String, String),
) -> HashMap<String, UserRef> {
    let mut owners = HashMap::new();
    for (key, value) in entries {
        let user = if let Some(id) = value.strip_prefix("users/") {
            uuid::Uuid::parse_str(id)
                .ok()
                .map(|id| UserRef::Id(UserId(id)))
        } else if value.contains('@') {
            Some(UserRef::Email(value.trim().to_lowercase()))
        } else {
            None
        };
        match user {
            Some(user) => {
                owners.insert(key.clone(), user);
            }
            None => bad(
                format!("owners.{key:?}"),
                format!("{value:?} is neither an e-mail nor users/<id>"),
            ),
        }
    }
    owners
}

/// `lead_sources`: each value a lead source's name.
fn parse_lead_sources(
    entries: &BTreeMap<String, String>,
    bad: &mut impl FnMut(String, String),
) -> HashMap<String, LeadSource> {
    let mut lead_sources = HashMap::new();
    for (key, value) in entries {
        match lead_source_named(value) {
            Some(source) => {
                lead_sources.insert(loose(key), source);
            }
            None => bad(
                format!("lead_sources.{key:?}"),
                format!(
                    "{value:?} is not a lead source (INBOUND, OUTBOUND, REFERRAL, PARTNER, \
                     EVENT, EXPANSION)"
                ),
            ),
        }
    }
    lead_sources
}

/// `forecast_categories`: each value a forecast category's name.
fn parse_categories(
    entries: &BTreeMap<String, String>,
    bad: &mut impl FnMut(String, String),
) -> HashMap<String, ForecastCategory> {
    let mut forecast_categories = HashMap::new();
    for (key, value) in entries {
        match category_named(value) {
            Some(category) => {
                forecast_categories.insert(loose(key), category);
            }
            None => bad(
                format!("forecast_categories.{key:?}"),
                format!(
                    "{value:?} is not a forecast category (PIPELINE, BEST_CASE, COMMIT, \
                     OMITTED)"
                ),
            ),
        }
    }
    forecast_categories
}

/// `columns`: each header named, and feeding one column only.
fn check_columns(columns: &BTreeMap<String, String>, bad: &mut impl FnMut(String, String)) {
    let mut fed: HashMap<String, &str> = HashMap::new();
    for (field, header) in columns {
        if header.trim().is_empty() {
            bad(
                format!("columns.{field:?}"),
                "must name a column header of the source".into(),
            );
        } else if let Some(first) = fed.insert(loose(header), field) {
            bad(
                format!("columns.{field:?}"),
                format!("{header:?} already feeds {first}: a header feeds one column"),
            );
        }
    }
}

/// `role_managers`: each naming a user.
fn check_role_managers(
    role_managers: &BTreeMap<String, String>,
    bad: &mut impl FnMut(String, String),
) {
    for (key, value) in role_managers {
        if value.trim().is_empty() {
            bad(
                format!("role_managers.{key:?}"),
                "must name a user of the User file, by Id or e-mail".into(),
            );
        }
    }
}

impl Mapping {
    /// Parses the document `json` named `name`; empty text is the empty document.
    pub fn parse(name: &str, json: &str) -> Result<Mapping, Vec<RowError>> {
        let document = read_document(name, json)?;
        let whole = Location::file(name);
        let mut errors = Vec::new();
        let mut bad = |column: String, reason: String| {
            errors.push(RowError::new(&whole, &column, reason));
        };
        if let Some(source) = &document.source
            && !valid_source(source)
        {
            bad(
                "source".into(),
                "must be 1 to 32 lower-case letters, digits or '-', starting with a letter".into(),
            );
        }
        let currency = document.currency.as_deref().and_then(|code| {
            let parsed = Currency::parse(code);
            if parsed.is_none() {
                bad(
                    "currency".into(),
                    format!("{code:?} is not an ISO 4217 currency code such as USD"),
                );
            }
            parsed
        });
        let owners = parse_owners(&document.owners, &mut bad);
        let lead_sources = parse_lead_sources(&document.lead_sources, &mut bad);
        let forecast_categories = parse_categories(&document.forecast_categories, &mut bad);
        let encoding = document.encoding.as_deref().and_then(|name| {
            TextEncoding::parse(name)
                .map_err(|why| bad("encoding".into(), why))
                .ok()
        });
        if let Some(format) = &document.date_format
            && let Err(why) = dates::check_format(format)
        {
            bad("date_format".into(), why);
        }
        check_columns(&document.columns, &mut bad);
        check_role_managers(&document.role_managers, &mut bad);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Mapping {
            name: name.to_string(),
            source: document.source,
            currency,
            stages: document.stages,
            owners,
            create_users: document.create_users,
            lead_sources,
            forecast_categories,
            source_pipelines: document.source_pipelines,
            encoding,
            date_format: document.date_format,
            round_amounts: document.round_amounts,
            columns: document.columns,
            role_managers: document.role_managers,
            update_users: document.update_users,
        })
    }

    /// How the files are read: `encoding` (the import's own, `--encoding` or
    /// `ImportSettings.encoding`) before the mapping's, dates in `zone` (the org's).
    pub fn read_options(&self, encoding: Option<TextEncoding>, zone: chrono_tz::Tz) -> ReadOptions {
        ReadOptions {
            encoding: encoding.or(self.encoding),
            dates: DateReader::new(self.date_format.clone(), zone),
            columns: self.columns.clone(),
            mapping_name: self.name.clone(),
        }
    }

    /// The name of the source external ids belong to.
    pub fn source(&self, format: SourceFormat) -> String {
        self.source
            .clone()
            .unwrap_or_else(|| format.default_source().to_string())
    }

    /// Every `stages` entry whose target is not a stage of `pipeline`.
    pub fn check_stages(&self, pipeline: &PipelineSpec) -> Vec<RowError> {
        self.stages
            .iter()
            .filter(|(_, target)| pipeline.stage(target).is_none())
            .map(|(key, target)| {
                RowError::new(
                    &Location::file(&self.name),
                    &format!("stages.{key:?}"),
                    format!(
                        "{target:?} is not a stage of the pipeline (its stages: {})",
                        pipeline
                            .stages
                            .iter()
                            .map(|s| s.stage_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
            .collect()
    }

    /// The pipeline stage a source stage name maps to (see the module doc for the order).
    pub fn stage<'p>(&self, name: &str, pipeline: &'p PipelineSpec) -> Option<&'p Stage> {
        let find = |name: &str| -> Option<&'p Stage> {
            let key = loose(name);
            let mapped = self.stages.get(name).or_else(|| {
                self.stages
                    .iter()
                    .find(|(k, _)| loose(k) == key)
                    .map(|(_, v)| v)
            });
            match mapped {
                Some(target) => pipeline.stage(target),
                None => pipeline
                    .stages
                    .iter()
                    .find(|s| loose(&s.stage_id) == key || loose(&s.display_name) == key),
            }
        };
        find(name).or_else(|| {
            // HubSpot labels carry their pipeline: "Contract Sent (Sales Pipeline)".
            let (label, _) = name.strip_suffix(')')?.rsplit_once(" (")?;
            find(label)
        })
    }

    /// The user a source owner reference is mapped to, if listed: exactly, or for an e-mail
    /// ignoring case (Salesforce ids differ by case alone, so they are compared exactly).
    pub fn owner(&self, reference: &str) -> Option<&UserRef> {
        self.owners.get(reference).or_else(|| {
            self.owners
                .iter()
                .find(|(k, _)| reference.contains('@') && k.eq_ignore_ascii_case(reference))
                .map(|(_, v)| v)
        })
    }

    /// The lead source a source value means; unknown values are `None` (left unset).
    pub fn lead_source(&self, text: &str) -> Option<LeadSource> {
        self.lead_sources
            .get(&loose(text))
            .copied()
            .or_else(|| lead_source_named(text))
    }

    /// The forecast category a source value means: `Ok(None)` when empty, `Err` when unknown.
    pub fn forecast_category(&self, text: &str) -> Result<Option<ForecastCategory>, String> {
        if text.is_empty() {
            return Ok(None);
        }
        self.forecast_categories
            .get(&loose(text))
            .copied()
            .or_else(|| category_named(text))
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a forecast category (PIPELINE, BEST_CASE, COMMIT, OMITTED, \
                     CLOSED); map it in \"forecast_categories\""
                )
            })
    }
}

#[cfg(test)]
mod tests;
