//! Importing CRM history: pure parsing of the source files and planning of what to write.
//!
//! No I/O, no async, no sea-orm: the files arrive as bytes, the stored state the plan depends on
//! (the directory, deals imported earlier) arrives as values, and the answer is an
//! [`ImportPlan`] (or every bad row). The app layer loads, calls [`read`] then [`plan`], and
//! hands the plan to storage to apply in one transaction.
//!
//! - [`decode`]: the files' bytes as text (byte-order marks, `encoding`).
//! - [`values`]: amounts, booleans and header names as the exports write them; [`dates`]:
//!   dates and times (`date_format`, the org's zone).
//! - [`salesforce`], [`hubspot`], [`generic`]: one reader per format, each turning its CSV files
//!   into the same [`SourceBook`] of deals, stage changes and users.
//! - [`mapping`]: the mapping document (source stage names to stage ids, owners to users).
//! - [`plan`]: rebuilds each deal and its stage history and decides create, update or nothing.
//!   Its `users` part: the User file's users found, skipped (not sellers), created or changed.
//! - [`roles`]: managers derived from Salesforce's role hierarchy where ManagerId is empty.
//! - [`bad_rows`]: counts and lists the bad rows of a refused import.
//! - [`report`]: what was left out, counted by value.

pub mod bad_rows;
pub mod dates;
pub mod decode;
mod field_history;
pub mod generic;
pub mod hubspot;
pub mod mapping;
pub mod plan;
pub mod report;
pub mod roles;
pub mod salesforce;
mod table;
pub mod values;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

pub use bad_rows::BadRows;
use dates::DateReader;
use decode::TextEncoding;
pub use mapping::Mapping;
pub use plan::{ExistingDeal, ImportPlan, PlanContext, plan};
pub use report::{Dropped, Tally};
use values::Amount;

/// The CRM a set of files comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// Salesforce standard object exports (Data Loader or the weekly data export).
    Salesforce,
    /// HubSpot's deals export.
    Hubspot,
    /// dealdesk's own documented CSV.
    Generic,
}

impl SourceFormat {
    /// The default name of the source external ids belong to.
    pub fn default_source(self) -> &'static str {
        match self {
            SourceFormat::Salesforce => "salesforce",
            SourceFormat::Hubspot => "hubspot",
            SourceFormat::Generic => "generic",
        }
    }
}

/// What one file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// Salesforce `Opportunity`.
    SalesforceOpportunity,
    /// Salesforce `OpportunityHistory`.
    SalesforceOpportunityHistory,
    /// Salesforce `User`.
    SalesforceUser,
    /// Salesforce `UserRole` (the role hierarchy).
    SalesforceUserRole,
    /// Salesforce `Account` (account names for AccountId).
    SalesforceAccount,
    /// HubSpot deals export.
    HubspotDeals,
    GenericDeals,
    GenericStageHistory,
}

impl FileKind {
    /// The format the kind belongs to.
    pub fn format(self) -> SourceFormat {
        match self {
            FileKind::SalesforceOpportunity
            | FileKind::SalesforceOpportunityHistory
            | FileKind::SalesforceUser
            | FileKind::SalesforceUserRole
            | FileKind::SalesforceAccount => SourceFormat::Salesforce,
            FileKind::HubspotDeals => SourceFormat::Hubspot,
            FileKind::GenericDeals | FileKind::GenericStageHistory => SourceFormat::Generic,
        }
    }

    /// Whether the kind holds the deals themselves (exactly one such file per import).
    pub fn holds_deals(self) -> bool {
        matches!(
            self,
            FileKind::SalesforceOpportunity | FileKind::HubspotDeals | FileKind::GenericDeals
        )
    }
}

/// One file of an import, as received.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name errors refer to (a path, or the name the client sent).
    pub name: String,
    /// What it holds.
    pub kind: FileKind,
    /// Its bytes: CSV in UTF-8, or another encoding [`decode`] reads.
    pub bytes: Vec<u8>,
}

/// How one import's files are read, from the mapping and the import's settings
/// ([`Mapping::read_options`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// The files' encoding when they carry no byte-order mark (`None`: UTF-8).
    pub encoding: Option<TextEncoding>,
    /// How date and time columns are read.
    pub dates: DateReader,
    /// Our column name -> the source header that feeds it (the mapping's `columns`).
    pub columns: BTreeMap<String, String>,
    /// The mapping's name, for errors about `columns`.
    pub mapping_name: String,
}

/// Where a record sits: file and line (1 is the header line; a quoted field may span lines, the
/// record's first line is named).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// File name.
    pub file: String,
    /// Line, or `None` for the file as a whole.
    pub line: Option<u64>,
}

impl Location {
    /// A line of a file.
    pub fn line(file: &str, line: u64) -> Self {
        Self {
            file: file.to_string(),
            line: Some(line),
        }
    }

    /// The file as a whole.
    pub fn file(file: &str) -> Self {
        Self {
            file: file.to_string(),
            line: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// One bad row (or file, or mapping entry): where, which column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Where.
    pub at: Location,
    /// The column (or mapping key) at fault; empty when the whole row is.
    pub column: String,
    /// What is wrong, in words the person fixing the export can act on.
    pub reason: String,
}

impl RowError {
    /// An error at `at` about `column`.
    pub fn new(at: &Location, column: &str, reason: impl Into<String>) -> Self {
        Self {
            at: at.clone(),
            column: column.to_string(),
            reason: reason.into(),
        }
    }

    /// The description without the location: `Amount: "12x" is not ...`.
    pub fn description(&self) -> String {
        if self.column.is_empty() {
            self.reason.clone()
        } else {
            format!("{}: {}", self.column, self.reason)
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.description())
    }
}

/// A deal as the source has it, before mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDeal {
    /// Where its row is.
    pub at: Location,
    /// The source's id for it.
    pub external_id: String,
    pub name: String,
    /// Account name (or id, when the export has no name).
    pub account: String,
    /// The source's account id, when the export gives one (Salesforce `AccountId`; empty
    /// otherwise): an Account file names it.
    pub account_id: String,
    /// The source's owner reference: a user id, an e-mail or a name.
    pub owner: String,
    /// Amount in major units, currency not yet applied.
    pub amount: Option<Amount>,
    /// ISO currency code, if the export has one.
    pub currency: Option<String>,
    /// Expected (or actual) close date.
    pub close_date: Option<NaiveDate>,
    /// The source's stage name.
    pub stage: String,
    /// `IsClosed` and `IsWon`, when the export has them.
    pub closed_won: Option<(bool, bool)>,
    /// Lead source as the source names it (empty: none).
    pub lead_source: String,
    /// Forecast category as the source names it (empty: none).
    pub forecast_category: String,
    /// When the source created it (`None`: the export does not say; see [`plan`]).
    pub created_at: Option<DateTime<Utc>>,
    /// Why it was lost, if the export says.
    pub loss_reason: String,
    /// The source's pipeline (HubSpot, generic); empty when the source has none.
    pub source_pipeline: String,
    /// The column the forecast category was read from, when the format has several
    /// (Salesforce's `ForecastCategory` and `ForecastCategoryName`); `None`: the format's one.
    pub category_column: Option<&'static str>,
}

/// One row of stage history as the source has it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStageChange {
    /// Where its row is.
    pub at: Location,
    /// The deal's external id.
    pub deal: String,
    /// The stage the deal was in from then on (source name).
    pub stage: String,
    /// When.
    pub changed_at: DateTime<Utc>,
    /// The amount then, if recorded.
    pub amount: Option<Amount>,
    /// The close date then, if recorded.
    pub close_date: Option<NaiveDate>,
}

/// A user as the source has it (Salesforce `User`).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceUser {
    /// Where its row is.
    pub at: Location,
    /// The source's id.
    pub external_id: String,
    pub name: String,
    /// E-mail.
    pub email: String,
    /// The manager's source id (empty: none).
    pub manager: String,
    /// Whether active in the source.
    pub active: bool,
    /// The user's role in the source's role hierarchy (Salesforce `UserRoleId`; empty: none).
    pub role: String,
    /// Salesforce `UserType` (`Standard` for licensed people; empty when not exported).
    pub user_type: String,
    /// The profile's name, when exported (`Profile.Name`); empty otherwise.
    pub profile: String,
    /// When the source created the user, if exported (the earliest is chosen among equals).
    pub created_at: Option<DateTime<Utc>>,
}

/// A role of Salesforce's role hierarchy (`UserRole`).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRole {
    /// Where its row is.
    pub at: Location,
    /// The source's id.
    pub external_id: String,
    /// Name (`Gerente Regional Norte`).
    pub name: String,
    /// The parent role's id (empty: a top role).
    pub parent: String,
    /// The role's forecast manager (`ForecastUserId`; empty: none).
    pub forecast_user: String,
}

/// An account's name (Salesforce `Account`).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceAccount {
    /// Where its row is.
    pub at: Location,
    /// The source's id.
    pub external_id: String,
    pub name: String,
}

/// Everything read from one source's files, in file order.
#[derive(Debug, Clone)]
pub struct SourceBook {
    pub format: SourceFormat,
    pub deals: Vec<SourceDeal>,
    /// Stage changes, any order.
    pub changes: Vec<SourceStageChange>,
    pub users: Vec<SourceUser>,
    /// Data rows read (header lines not counted).
    pub rows_read: usize,
    /// Rows left out on purpose (deleted in the source).
    pub rows_skipped: usize,
    /// External ids of deal rows that were bad: their history is not reported again.
    pub rejected_deals: Vec<String>,
    /// External ids of deals deleted in the source: their history is skipped with them.
    pub deleted_deals: Vec<String>,
    /// Roles of the source's role hierarchy.
    pub roles: Vec<SourceRole>,
    /// Account names by id (Salesforce `Account`); applied to the deals when read.
    pub accounts: Vec<SourceAccount>,
    /// Values left out while reading, counted.
    pub dropped: Tally,
    /// How the files were read.
    pub options: ReadOptions,
}

impl SourceBook {
    /// An empty book of `format`, read per `options`.
    pub fn new(format: SourceFormat, options: ReadOptions) -> Self {
        SourceBook {
            format,
            deals: Vec::new(),
            changes: Vec::new(),
            users: Vec::new(),
            rows_read: 0,
            rows_skipped: 0,
            rejected_deals: Vec::new(),
            deleted_deals: Vec::new(),
            roles: Vec::new(),
            accounts: Vec::new(),
            dropped: Tally::default(),
            options,
        }
    }
}

/// Orders errors for reading: by file, in the order `files` names them (others first, such
/// as the mapping), then by line; errors of one line keep their column order.
pub fn sort_errors(errors: &mut [RowError], files: &[&str]) {
    errors.sort_by_key(|e| {
        let file = files
            .iter()
            .position(|f| *f == e.at.file)
            .map_or(0, |i| i + 1);
        (file, e.at.line.unwrap_or(0))
    });
}

/// Most bytes one import reads, all files together.
pub const MAX_IMPORT_BYTES: usize = 128 * 1024 * 1024;

/// The columns a kind of file has, by the names the mapping's `columns` uses.
pub(crate) fn columns_of(kind: FileKind) -> &'static [table::Column] {
    match kind {
        FileKind::SalesforceOpportunity => salesforce::OPPORTUNITY,
        FileKind::SalesforceOpportunityHistory => salesforce::HISTORY,
        FileKind::SalesforceUser => salesforce::USER,
        FileKind::SalesforceUserRole => salesforce::ROLE,
        FileKind::SalesforceAccount => salesforce::ACCOUNT,
        FileKind::HubspotDeals => hubspot::DEALS,
        FileKind::GenericDeals => generic::DEALS,
        FileKind::GenericStageHistory => generic::HISTORY,
    }
}

/// Reads the files of one import: exactly one deals file, at most one file of each other kind,
/// all of one format, decoded per `options`. A problem with the set of files, a file that cannot
/// be decoded or whose header line is refused (its rows unread, the others' would be checked
/// against nothing) is `Err` with the problems; bad rows are returned beside the book (the book
/// holds only the good ones).
pub fn read(
    files: Vec<SourceFile>,
    options: &ReadOptions,
) -> Result<(SourceBook, Vec<RowError>), Vec<RowError>> {
    let mut problems = Vec::new();
    let deals_files: Vec<&SourceFile> = files.iter().filter(|f| f.kind.holds_deals()).collect();
    if deals_files.len() != 1 {
        problems.push(RowError::new(
            &Location::file("files"),
            "",
            format!(
                "an import needs exactly one deals file (Salesforce Opportunity, HubSpot deals or \
                 generic deals), got {}",
                deals_files.len()
            ),
        ));
    }
    let format = deals_files.first().map(|f| f.kind.format());
    for (i, file) in files.iter().enumerate() {
        if format.is_some_and(|format| file.kind.format() != format) {
            problems.push(RowError::new(
                &Location::file(&file.name),
                "",
                "is of another format than the deals file; import one source at a time",
            ));
        }
        if files[..i].iter().any(|other| other.kind == file.kind) {
            problems.push(RowError::new(
                &Location::file(&file.name),
                "",
                "repeats a kind of file already sent; send each kind once",
            ));
        }
        if files[..i].iter().any(|other| other.name == file.name) {
            problems.push(RowError::new(
                &Location::file(&file.name),
                "",
                "repeats a file name already sent",
            ));
        }
    }
    let has = |kind| files.iter().any(|f| f.kind == kind);
    if has(FileKind::SalesforceUserRole) && !has(FileKind::SalesforceUser) {
        problems.push(RowError::new(
            &Location::file("files"),
            "",
            "the UserRole file gives managers to the User file's users: send the User file too",
        ));
    }
    let (Some(format), true) = (format, problems.is_empty()) else {
        return Err(problems);
    };
    let mut decoded = Vec::new();
    for file in files {
        match decode::decode(file, options.encoding) {
            Ok(file) => decoded.push(file),
            Err(bad) => problems.extend(bad),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let unused = unused_columns(&decoded, options);
    if !unused.is_empty() {
        return Err(unused);
    }
    let mut book = SourceBook::new(format, options.clone());
    let mut errors = Vec::new();
    for file in &decoded {
        match file.kind {
            FileKind::SalesforceOpportunity => {
                salesforce::read_opportunities(file, &mut book, &mut errors)
            }
            FileKind::SalesforceOpportunityHistory => {
                salesforce::read_history(file, &mut book, &mut errors)
            }
            FileKind::SalesforceUser => salesforce::read_users(file, &mut book, &mut errors),
            FileKind::SalesforceUserRole => salesforce::read_roles(file, &mut book, &mut errors),
            FileKind::SalesforceAccount => salesforce::read_accounts(file, &mut book, &mut errors),
            FileKind::HubspotDeals => hubspot::read_deals(file, &mut book, &mut errors),
            FileKind::GenericDeals => generic::read_deals(file, &mut book, &mut errors),
            FileKind::GenericStageHistory => generic::read_history(file, &mut book, &mut errors),
        }
    }
    // Header-line problems (line 1, or the file as a whole) leave a file unread.
    if errors
        .iter()
        .any(|e| e.at.line.is_none_or(|line| line <= 1))
    {
        return Err(errors);
    }
    salesforce::name_accounts(&mut book);
    Ok((book, errors))
}

/// The mapping's `columns` entries no file can use: a name that is no column of the files
/// sent, or a header none of the files having that column has.
fn unused_columns(files: &[SourceFile], options: &ReadOptions) -> Vec<RowError> {
    let mut errors = Vec::new();
    let at = Location::file(&options.mapping_name);
    for (field, header) in &options.columns {
        let with_field: Vec<&SourceFile> = files
            .iter()
            .filter(|f| columns_of(f.kind).iter().any(|c| c.name == field))
            .collect();
        let key = format!("columns.{field:?}");
        if with_field.is_empty() {
            let mut names: Vec<&str> = files
                .iter()
                .flat_map(|f| columns_of(f.kind).iter().map(|c| c.name))
                .collect();
            names.sort_unstable();
            names.dedup();
            errors.push(RowError::new(
                &at,
                &key,
                format!(
                    "{field:?} is not a column of the files sent (their columns: {})",
                    names.join(", ")
                ),
            ));
        } else if !with_field
            .iter()
            .any(|f| table::header_index(&table::headers(f), header).is_some())
        {
            errors.push(RowError::new(
                &at,
                &key,
                format!(
                    "{header:?} is not a header of {}",
                    with_field
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests;
