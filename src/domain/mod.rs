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

    /// Records a problem with `field` (counted only, once the list is full).
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.0.len() < MAX_LISTED_VIOLATIONS {
            self.0.push(FieldViolation {
                field: field.into(),
                description: description.into(),
            });
        } else {
            self.1 += 1;
        }
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
                    description: v.description,
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

    /// A single violation.
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Self::new();
        v.add(field, description);
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
        violations.add(field, too_many(max, what, items.len()));
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
        violations.add(field, why.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn many(n: usize) -> Violations {
        let mut v = Violations::new();
        for i in 0..n {
            v.add(format!("clauses[{i}]"), "must be a clause code");
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
    fn a_repeated_field_over_its_limit_is_one_violation_and_no_elements() {
        let mut v = Violations::new();
        let items = vec![""; 2_000_000];
        assert!(within_limit(&mut v, "clauses", &items, 50, "clause codes").is_empty());
        assert_eq!(
            v,
            Violations::one("clauses", "must have at most 50 clause codes, got 2000000")
        );
        let mut ok = Violations::new();
        assert_eq!(
            within_limit(&mut ok, "clauses", &items[..50], 50, "clause codes").len(),
            50
        );
        assert!(ok.is_empty());
    }
}
