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
pub mod forecast;
pub mod gates;
pub mod money;
pub mod new_pipeline;
pub mod paging;
pub mod period;
pub mod period_rate;
pub mod pipeline;
pub mod pipeline_metrics;
pub mod random;
pub mod templates;
pub mod winrate;

use std::fmt;

/// One problem with one field of a request, named by its path in the request
/// (`stages[2].stage_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, relative to the value being validated.
    pub field: String,
    /// What is wrong, in words a caller can act on.
    pub description: String,
}

/// Every problem found in one value: validation reports all of them, not just the first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(pub Vec<FieldViolation>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Adds every violation of `other`.
    pub fn extend(&mut self, other: Violations) {
        self.0.extend(other.0);
    }

    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Puts `prefix.` in front of every field path (`email` -> `user.email`).
    pub fn prefixed(self, prefix: &str) -> Self {
        Self(
            self.0
                .into_iter()
                .map(|v| FieldViolation {
                    field: format!("{prefix}.{}", v.field),
                    description: v.description,
                })
                .collect(),
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

    /// A single violation.
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Self::new();
        v.add(field, description);
        v
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        write!(f, "{}", parts.join("; "))
    }
}

/// Checks a required, trimmed, human-readable text of at most `max` characters.
pub fn check_text(
    violations: &mut Violations,
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) {
    let chars = value.chars().count();
    if required && value.trim().is_empty() {
        violations.add(field, "must not be empty");
    } else if chars > max {
        violations.add(
            field,
            format!("must be at most {max} characters, got {chars}"),
        );
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        violations.add(field, "must not contain control characters");
    }
}
