//! Pure rules of the sales domain: no I/O, no async, no tonic or sea-orm. A value that exists
//! here is valid; wire and database types are converted into these through checked parsers.

pub mod approval;
pub mod approval_request;
pub mod backtest;
pub mod book_as_of;
pub mod calendar;
pub mod call;
pub mod deal;
pub mod deal_history;
pub mod directory;
pub mod estimate;
pub mod forecast;
pub mod gates;
pub mod ids;
pub mod money;
pub mod new_pipeline;
pub mod paging;
pub mod period;
pub mod period_rate;
pub mod pipeline;
pub mod pipeline_metrics;
pub mod random;
pub mod templates;
pub mod text;
pub mod winrate;
pub mod wording;

use std::fmt;

/// The kind of a problem with a field: what an INVALID_ARGUMENT's ErrorInfo reason says, so a
/// client can act on it without reading the words. proto/dealdesk/v1/common.proto documents
/// every reason; a new kind is documented there too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Problem {
    /// Any other rule (the field violation's words say which): `INVALID_ARGUMENT`.
    #[default]
    Other,
    /// A required field is unset, empty or blank: `MISSING_FIELD`.
    MissingField,
    /// A resource name (or an etag) this server did not make: `BAD_NAME`.
    BadName,
    /// An enum value or code that is not one of the known ones: `UNKNOWN_VALUE`.
    UnknownValue,
    /// A stage id that is not a stage of the pipeline: `UNKNOWN_STAGE`.
    UnknownStage,
    /// A closed stage where an open one is needed (deals close with CloseDeal): `CLOSED_STAGE`.
    ClosedStage,
    /// Not a month (`2026-11`) or a fiscal quarter (`2026-Q4`): `BAD_PERIOD`.
    BadPeriod,
    /// An amount that is not allowed (not above zero, or in another currency than its
    /// partner): `BAD_MONEY`.
    BadMoney,
    /// Not an ISO 4217 currency code: `BAD_CURRENCY`.
    BadCurrency,
    /// Not a calendar date or time, or one outside the range it must be in: `BAD_DATE`.
    BadDate,
    /// A text longer than its limit: `TEXT_TOO_LONG`.
    TextTooLong,
    /// A text with characters or a shape its field does not take: `BAD_TEXT`.
    BadText,
    /// A number outside its range (a discount over its limit, a negative count):
    /// `NUMBER_OUT_OF_RANGE`.
    NumberOutOfRange,
    /// A repeated field with more elements than it may hold: `TOO_MANY`.
    TooMany,
    /// A page token that is not one of this list for this query: `BAD_PAGE_TOKEN`.
    BadPageToken,
    /// An `update_mask` that is empty or names a field that cannot be updated:
    /// `BAD_UPDATE_MASK`.
    BadUpdateMask,
    /// Fields that may not be set together, or one that needs another: `CONFLICTING_FIELDS`.
    ConflictingFields,
    /// A value that must be unique, repeated (a stage id or position, an exit criterion, a
    /// clause code, a currency pair): `DUPLICATE_VALUE`.
    DuplicateValue,
    /// Elements that do not fit together: a pipeline's stages (no OPEN stage, not exactly one
    /// WON and one LOST, a closed stage before an open one), a policy's tiers (none above the
    /// pre-approved one, overlapping, not reaching 100%) or size thresholds (not increasing), a
    /// reporting tree or delegations that would form a cycle or grow too deep: `BAD_SHAPE`.
    BadShape,
    /// A well-formed name of something that does not exist, or that the caller may not use
    /// (no such pipeline, no such active user): `UNKNOWN_REFERENCE`.
    UnknownReference,
    /// An ImportHistory stream out of order (settings not first or sent twice, a file's chunks
    /// interleaved with another's): `BAD_STREAM`.
    BadStream,
    /// A `request_id` sent before with a different request: `REQUEST_ID_REUSED`.
    RequestIdReused,
    /// Bytes that do not decode as the request message: `MALFORMED_MESSAGE`.
    MalformedMessage,
}

impl Problem {
    /// The ErrorInfo reason, UPPER_SNAKE.
    pub fn reason(self) -> &'static str {
        match self {
            Problem::Other => "INVALID_ARGUMENT",
            Problem::MissingField => "MISSING_FIELD",
            Problem::BadName => "BAD_NAME",
            Problem::UnknownValue => "UNKNOWN_VALUE",
            Problem::UnknownStage => "UNKNOWN_STAGE",
            Problem::ClosedStage => "CLOSED_STAGE",
            Problem::BadPeriod => "BAD_PERIOD",
            Problem::BadMoney => "BAD_MONEY",
            Problem::BadCurrency => "BAD_CURRENCY",
            Problem::BadDate => "BAD_DATE",
            Problem::TextTooLong => "TEXT_TOO_LONG",
            Problem::BadText => "BAD_TEXT",
            Problem::NumberOutOfRange => "NUMBER_OUT_OF_RANGE",
            Problem::TooMany => "TOO_MANY",
            Problem::BadPageToken => "BAD_PAGE_TOKEN",
            Problem::BadUpdateMask => "BAD_UPDATE_MASK",
            Problem::ConflictingFields => "CONFLICTING_FIELDS",
            Problem::DuplicateValue => "DUPLICATE_VALUE",
            Problem::BadShape => "BAD_SHAPE",
            Problem::UnknownReference => "UNKNOWN_REFERENCE",
            Problem::BadStream => "BAD_STREAM",
            Problem::RequestIdReused => "REQUEST_ID_REUSED",
            Problem::MalformedMessage => "MALFORMED_MESSAGE",
        }
    }
}

/// One problem with one field of a request, named by its path in the request
/// (`stages[2].stage_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, relative to the value being validated.
    pub field: String,
    /// What is wrong, in words a caller can act on.
    pub description: String,
    /// Its kind, for the error's reason.
    pub problem: Problem,
}

/// Violations listed in one [`Violations`]; past it only a count is kept. A request with a
/// million bad elements costs twenty violations and a number, not a million strings.
pub const MAX_LISTED_VIOLATIONS: usize = 20;

/// Every problem found in one value: validation reports all of them, not just the first. The
/// first [`MAX_LISTED_VIOLATIONS`] are listed; the second field counts the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(pub Vec<FieldViolation>, usize);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a `problem` with `field` (counted only, once the list is full).
    pub fn add_as(
        &mut self,
        problem: Problem,
        field: impl Into<String>,
        description: impl Into<String>,
    ) {
        if self.0.len() < MAX_LISTED_VIOLATIONS {
            self.0.push(FieldViolation {
                field: field.into(),
                description: description.into(),
                problem,
            });
        } else {
            self.1 += 1;
        }
    }

    /// The ErrorInfo reason of these violations: the kind of the first one (the reason is one
    /// word; the field violations list every problem).
    pub fn reason(&self) -> &'static str {
        self.0
            .first()
            .map_or(Problem::Other, |v| v.problem)
            .reason()
    }

    /// `field` is required and unset or empty.
    pub fn required(field: impl Into<String>) -> Self {
        Self::one_as(Problem::MissingField, field, "is required")
    }

    /// Adds every violation of `other`.
    pub fn extend(&mut self, other: Violations) {
        let room = MAX_LISTED_VIOLATIONS.saturating_sub(self.0.len());
        let overflow = other.0.len().saturating_sub(room);
        let mut listed = other.0;
        listed.truncate(room);
        self.0.extend(listed);
        self.1 += overflow + other.1;
    }

    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1 == 0
    }

    /// How many problems were found, listed or not.
    pub fn count(&self) -> usize {
        self.0.len() + self.1
    }

    /// How many problems were found beyond the listed ones.
    pub fn unlisted(&self) -> usize {
        self.1
    }

    /// Puts `prefix.` in front of every field path (`email` -> `user.email`).
    pub fn prefixed(self, prefix: &str) -> Self {
        Self(
            self.0
                .into_iter()
                .map(|v| FieldViolation {
                    field: format!("{prefix}.{}", v.field),
                    ..v
                })
                .collect(),
            self.1,
        )
    }

    /// `Ok(value)` when nothing is wrong, else the violations.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// A single `problem`.
    pub fn one_as(
        problem: Problem,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        let mut v = Self::new();
        v.add_as(problem, field, description);
        v
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        if self.1 > 0 {
            parts.push(format!("and {} more", self.1));
        }
        write!(f, "{}", parts.join("; "))
    }
}

/// The elements of a repeated field when it holds at most `max`, else none and one violation:
/// counts are checked before elements, so a request of a million elements is one problem, not a
/// million checks (`what` names the elements: "clause codes").
pub fn within_limit<'a, T>(
    violations: &mut Violations,
    field: &str,
    items: &'a [T],
    max: usize,
    what: &str,
) -> &'a [T] {
    if items.len() > max {
        violations.add_as(Problem::TooMany, field, too_many(max, what, items.len()));
        &[]
    } else {
        items
    }
}

/// What is wrong with a repeated field of `got` elements when it may hold `max` `what`:
/// `must have at most 50 clause codes, got 51`. The wording of every count check, made on
/// decoded values ([`within_limit`]) or on a request's raw bytes before they are decoded.
pub fn too_many(max: usize, what: &str, got: usize) -> String {
    format!("must have at most {max} {what}, got {got}")
}

/// Checks a human-readable text of at most `max` characters (not blank when `required`) by the
/// rule of [`text::check`]. A limit that several fields share has its own type in [`text`].
pub fn check_text(
    violations: &mut Violations,
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) {
    if let Err(why) = text::check(value, max, required) {
        violations.add_as(why.problem(), field, why.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn many(n: usize) -> Violations {
        let mut v = Violations::new();
        for i in 0..n {
            v.add_as(
                Problem::BadText,
                format!("clauses[{i}]"),
                "must be a clause code",
            );
        }
        v
    }

    #[test]
    fn violations_past_the_listed_ones_are_only_counted() {
        let v = many(1_000);
        assert_eq!(v.0.len(), MAX_LISTED_VIOLATIONS);
        assert_eq!(v.unlisted(), 1_000 - MAX_LISTED_VIOLATIONS);
        assert_eq!(v.count(), 1_000);
        assert_eq!(v.0.last().unwrap().field, "clauses[19]");
        assert!(v.to_string().ends_with("; and 980 more"));
    }

    #[test]
    fn extending_keeps_the_first_listed_and_counts_the_rest() {
        let mut v = many(15);
        v.extend(many(12).prefixed("policy"));
        assert_eq!(v.0.len(), MAX_LISTED_VIOLATIONS);
        assert_eq!(v.0[15].field, "policy.clauses[0]");
        assert_eq!(v.count(), 27);
        let mut empty = Violations::new();
        empty.extend(Violations::new());
        assert!(empty.is_empty());
    }

    #[test]
    fn the_reason_is_the_kind_of_the_first_problem() {
        assert_eq!(Violations::new().reason(), "INVALID_ARGUMENT");
        assert_eq!(many(3).reason(), "BAD_TEXT");
        let mut v = Violations::one_as(Problem::BadPeriod, "period", "is not a period");
        v.add_as(Problem::TooMany, "clauses", "too many");
        assert_eq!(v.reason(), "BAD_PERIOD");
        assert_eq!(Violations::required("deal").reason(), "MISSING_FIELD");
        assert_eq!(v.prefixed("request").0[0].problem, Problem::BadPeriod);
    }

    #[test]
    fn a_text_problem_says_which_rule_it_broke() {
        let mut v = Violations::new();
        check_text(&mut v, "note", &"x".repeat(11), 10, false);
        check_text(&mut v, "name", " ", 10, true);
        check_text(&mut v, "title", "a\u{7}b", 10, false);
        let reasons: Vec<_> = v.0.iter().map(|p| p.problem.reason()).collect();
        assert_eq!(reasons, ["TEXT_TOO_LONG", "MISSING_FIELD", "BAD_TEXT"]);
    }

    #[test]
    fn a_repeated_field_over_its_limit_is_one_violation_and_no_elements() {
        let mut v = Violations::new();
        let items = vec![""; 2_000_000];
        assert!(within_limit(&mut v, "clauses", &items, 50, "clause codes").is_empty());
        assert_eq!(
            v,
            Violations::one_as(
                Problem::TooMany,
                "clauses",
                "must have at most 50 clause codes, got 2000000"
            )
        );
        let mut ok = Violations::new();
        assert_eq!(
            within_limit(&mut ok, "clauses", &items[..50], 50, "clause codes").len(),
            50
        );
        assert!(ok.is_empty());
    }
}
