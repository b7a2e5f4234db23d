//! The one mapping from application errors to gRPC statuses, each with google.rpc details:
//! always an ErrorInfo (UPPER_SNAKE reason, domain `dealdesk.v1`), plus BadRequest field
//! violations or PreconditionFailure violations where they apply. Storage failures are logged
//! with their cause and answered with a generic message.
//!
//! Every status is small enough for any client to read: the message is capped at
//! [`MAX_MESSAGE_BYTES`] and the listed violations at [`MAX_LISTED_BYTES`] (the rest counted in
//! a last `and N more` entry), so a hostile request cannot make an error that a client refuses
//! for its size and reports as its own RESOURCE_EXHAUSTED.

use std::collections::HashMap;
use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::AppError;
use crate::app::error::Precondition;
use crate::app::imports::{BadRows, IMPORT_ROWS_INVALID};
use crate::domain::Violations;

/// The ErrorInfo domain of every error.
pub const ERROR_DOMAIN: &str = "dealdesk.v1";

/// Bytes of an error's message at most. The message travels twice: percent-encoded in
/// `grpc-message` (where a byte may take three) and inside `grpc-status-details-bin`.
pub const MAX_MESSAGE_BYTES: usize = 512;

/// Bytes of the listed field or precondition violations at most, before base64 (4/3).
/// With the message, the ErrorInfo and the protobuf framing, an error's metadata stays under
/// 6.5 KiB in the worst case: clients refuse more than 8 KiB (grpc-go, grpc-java) or 16 KiB
/// (grpc-core, hyper), and answer their own RESOURCE_EXHAUSTED instead of ours.
pub const MAX_LISTED_BYTES: usize = 3072;

/// Bytes of one text of a listed violation (a field path, a description) at most.
pub const MAX_VIOLATION_TEXT_BYTES: usize = 256;

/// Protobuf framing of one listed violation, at most (tags and lengths of its texts).
const VIOLATION_FRAMING: usize = 12;

/// Writes at most `max` bytes of `text` (cut at a char boundary, ending in `…` when cut).
pub fn truncated(text: &str, max: usize) -> String {
    let mut out = Capped::new(max);
    let _ = fmt::Write::write_str(&mut out, text);
    out.finish()
}

/// Formats into at most `max` bytes: a cut text ends in `…`, and formatting stops at the cut,
/// so a long value is never copied whole.
struct Capped {
    text: String,
    max: usize,
    cut: bool,
}

impl Capped {
    fn new(max: usize) -> Self {
        Self {
            text: String::new(),
            max,
            cut: false,
        }
    }

    fn finish(mut self) -> String {
        if self.cut {
            // Room for the ellipsis: step back to a char boundary.
            let mut end = self.max.saturating_sub('…'.len_utf8()).min(self.text.len());
            while !self.text.is_char_boundary(end) {
                end -= 1;
            }
            self.text.truncate(end);
            self.text.push('…');
        }
        self.text
    }
}

impl fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.max - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        self.cut = true;
        Err(fmt::Error) // stops the formatting: nothing more is kept
    }
}

/// A message of at most [`MAX_MESSAGE_BYTES`].
fn message(args: fmt::Arguments<'_>) -> String {
    let mut out = Capped::new(MAX_MESSAGE_BYTES);
    let _ = fmt::Write::write_fmt(&mut out, args);
    out.finish()
}

/// The one place a status is built: the message capped at [`MAX_MESSAGE_BYTES`], an ErrorInfo
/// with `reason` added to `details`.
pub fn status(code: Code, text: &str, reason: &str, mut details: ErrorDetails) -> Status {
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(code, truncated(text, MAX_MESSAGE_BYTES), details)
}

/// A refusal with no field to blame (a limit, a deadline): [`status`] with a RetryInfo when
/// trying again later may succeed.
pub fn refusal(
    code: Code,
    reason: &str,
    message: &str,
    retry_after: Option<std::time::Duration>,
) -> Status {
    let mut details = ErrorDetails::new();
    if let Some(delay) = retry_after {
        details.set_retry_info(Some(delay));
    }
    status(code, message, reason, details)
}

/// Lists entries (each a few texts) within [`MAX_LISTED_BYTES`]: the first that fit, each text
/// cut at [`MAX_VIOLATION_TEXT_BYTES`], then one entry `and N more` for the rest and for the
/// `unlisted` ones found but never kept. Returns how many were listed.
fn list_within_budget<const N: usize>(
    entries: impl ExactSizeIterator<Item = [String; N]>,
    unlisted: usize,
    mut add: impl FnMut([String; N]),
) -> usize {
    let total = entries.len();
    let mut left = MAX_LISTED_BYTES;
    let mut listed = 0;
    for entry in entries {
        let entry = entry.map(|text| {
            if text.len() > MAX_VIOLATION_TEXT_BYTES {
                truncated(&text, MAX_VIOLATION_TEXT_BYTES)
            } else {
                text
            }
        });
        let size = entry.iter().map(String::len).sum::<usize>() + VIOLATION_FRAMING;
        if size > left {
            break;
        }
        left -= size;
        add(entry);
        listed += 1;
    }
    let more = total - listed + unlisted;
    if more > 0 {
        let mut entry: [String; N] = std::array::from_fn(|_| String::new());
        entry[N - 1] = format!("and {more} more");
        add(entry);
    }
    listed
}

/// BadRequest field violations for `violations`, within the budget.
fn bad_request(details: &mut ErrorDetails, violations: &Violations) {
    let entries = violations
        .0
        .iter()
        .map(|v| [v.field.clone(), v.description.clone()]);
    list_within_budget(entries, violations.unlisted(), |[field, description]| {
        details.add_bad_request_violation(field, description);
    });
}

/// INVALID_ARGUMENT with one field violation per problem (the first that fit, then `and N
/// more`).
pub fn invalid_argument(reason: &str, violations: &Violations) -> Status {
    let mut details = ErrorDetails::new();
    bad_request(&mut details, violations);
    let text = message(format_args!("invalid request: {violations}"));
    status(Code::InvalidArgument, &text, reason, details)
}

/// INVALID_ARGUMENT (`IMPORT_ROWS_INVALID`) for an import's bad rows: the count in the message
/// (`23 bad rows (31 problems) of 23,811 read; nothing was imported (first: ...)`), the first
/// problems that fit as field violations (`file:line`, `column: reason`), then `and N more`.
fn import_rows_invalid(bad: &BadRows) -> Status {
    let mut details = ErrorDetails::new();
    let entries = bad
        .listed
        .iter()
        .map(|e| [e.at.to_string(), e.description()]);
    let listed = list_within_budget(entries, 0, |[at, description]| {
        details.add_bad_request_violation(at, description);
    });
    let first = bad
        .listed
        .first()
        .map(|e| format!(" (first: {e})"))
        .unwrap_or_default();
    let more = if bad.listed.len() > listed {
        format!("; the first {listed} problems are listed")
    } else {
        String::new()
    };
    let text = message(format_args!("{}{first}{more}", bad.summary()));
    status(Code::InvalidArgument, &text, IMPORT_ROWS_INVALID, details)
}

/// FAILED_PRECONDITION with one precondition violation per unmet precondition, within the
/// budget.
fn failed_precondition(reason: &str, text: &str, violations: &[Precondition]) -> Status {
    let mut details = ErrorDetails::new();
    let entries = violations
        .iter()
        .map(|v| [v.kind.clone(), v.subject.clone(), v.description.clone()]);
    list_within_budget(entries, 0, |[kind, subject, description]| {
        details.add_precondition_failure_violation(kind, subject, description);
    });
    status(Code::FailedPrecondition, text, reason, details)
}

impl From<AppError> for Status {
    fn from(err: AppError) -> Status {
        let none = ErrorDetails::new;
        match err {
            AppError::Unauthenticated { reason, message } => {
                status(Code::Unauthenticated, &message, reason, none())
            }
            AppError::PermissionDenied { reason, message } => {
                status(Code::PermissionDenied, &message, reason, none())
            }
            AppError::InvalidArgument { reason, violations } => {
                invalid_argument(reason, &violations)
            }
            AppError::ImportRowsInvalid(bad) => import_rows_invalid(&bad),
            ref e @ AppError::NotFound { .. } => {
                status(Code::NotFound, &e.to_string(), "NOT_FOUND", none())
            }
            ref e @ AppError::AlreadyExists { .. } => status(
                Code::AlreadyExists,
                &e.to_string(),
                "ALREADY_EXISTS",
                none(),
            ),
            ref e @ AppError::StaleEtag { .. } => {
                status(Code::Aborted, &e.to_string(), "STALE_ETAG", none())
            }
            AppError::FailedPrecondition {
                reason,
                message,
                violations,
            } => failed_precondition(reason, &message, &violations),
            ref e @ AppError::Busy => refusal(
                Code::Unavailable,
                "DATABASE_BUSY",
                &e.to_string(),
                Some(std::time::Duration::from_secs(1)),
            ),
            AppError::ResourceExhausted {
                reason,
                message,
                retry_after,
            } => refusal(Code::ResourceExhausted, reason, &message, Some(retry_after)),
            AppError::Storage(cause) => {
                tracing::error!(%cause, "storage error");
                status(
                    Code::Internal,
                    "internal error; it has been logged",
                    "INTERNAL",
                    none(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::imports::{Location, RowError};
    use crate::domain::Problem;

    /// The bytes an error takes in the headers a client reads: `grpc-message` (percent-encoded)
    /// and `grpc-status-details-bin` (base64), exactly as the server sends them.
    fn metadata_bytes(status: Status) -> usize {
        let response = status.into_http::<()>();
        ["grpc-message", "grpc-status-details-bin"]
            .iter()
            .filter_map(|name| response.headers().get(*name))
            .map(|value| value.len())
            .sum()
    }

    /// A text that percent-encodes as badly as any: every byte of `é` becomes `%XX`.
    fn wide(chars: usize) -> String {
        "é".repeat(chars)
    }

    #[test]
    fn a_truncated_text_ends_in_an_ellipsis_at_a_char_boundary() {
        assert_eq!(truncated("short", 10), "short");
        assert_eq!(truncated("0123456789", 10), "0123456789");
        assert_eq!(truncated("0123456789ab", 10), "0123456…");
        let cut = truncated(&wide(100), 10);
        assert_eq!(cut, "ééé…");
        assert!(cut.len() <= 10);
    }

    #[test]
    fn a_long_message_is_cut_to_its_cap() {
        let status = status(
            Code::NotFound,
            &wide(10_000),
            "NOT_FOUND",
            ErrorDetails::new(),
        );
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        assert!(status.message().ends_with('…'));
    }

    #[test]
    fn many_violations_list_twenty_then_and_n_more() {
        let mut violations = Violations::new();
        for i in 0..1_000 {
            violations.add_as(
                Problem::BadText,
                format!("clauses[{i}]"),
                "must be 1 to 64 of A-Z, 0-9 and _",
            );
        }
        let status = invalid_argument("INVALID_ARGUMENT", &violations);
        let listed = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(listed.len(), 21);
        assert_eq!(listed[19].field, "clauses[19]");
        assert_eq!(listed[20].field, "");
        assert_eq!(listed[20].description, "and 980 more");
    }

    #[test]
    fn an_error_of_the_longest_violations_fits_in_8_kib_of_metadata() {
        let mut violations = Violations::new();
        for i in 0..1_000 {
            violations.add_as(
                Problem::BadText,
                format!("{}[{i}]", wide(5_000)),
                wide(50_000),
            );
        }
        let status = invalid_argument("INVALID_ARGUMENT", &violations);
        let listed = status.get_details_bad_request().unwrap().field_violations;
        let last = listed.last().unwrap();
        assert_eq!(
            last.description,
            format!("and {} more", 1_000 - (listed.len() - 1))
        );
        assert!(listed[0].field.len() <= MAX_VIOLATION_TEXT_BYTES);
        assert!(listed[0].description.len() <= MAX_VIOLATION_TEXT_BYTES);
        let bytes = metadata_bytes(status);
        assert!(bytes < 8 * 1024, "{bytes} bytes");
    }

    #[test]
    fn unmet_preconditions_are_listed_within_the_budget() {
        let violations: Vec<Precondition> = (0..900)
            .map(|i| Precondition {
                kind: "EXIT_CRITERION".into(),
                subject: format!("pipelines/p/stages/s{i}"),
                description: wide(1_000),
            })
            .collect();
        let status = failed_precondition("GATE_NOT_MET", &wide(10_000), &violations);
        let listed = status
            .get_details_precondition_failure()
            .unwrap()
            .violations;
        assert!(listed.len() < 900);
        assert!(listed.last().unwrap().description.starts_with("and "));
        let bytes = metadata_bytes(status);
        assert!(bytes < 8 * 1024, "{bytes} bytes");
    }

    #[test]
    fn an_import_error_of_fifty_long_rows_fits_in_8_kib_of_metadata() {
        let errors: Vec<RowError> = (0..50)
            .map(|line| {
                RowError::new(
                    &Location::line("deals.csv", line + 2),
                    &wide(300),
                    wide(2_000),
                )
            })
            .collect();
        let bad = BadRows::new(errors, &["deals.csv"], Some(50));
        let status = import_rows_invalid(&bad);
        let listed = status.get_details_bad_request().unwrap().field_violations;
        assert!(listed.len() < 50);
        assert!(listed.last().unwrap().description.starts_with("and "));
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        let bytes = metadata_bytes(status);
        assert!(bytes < 8 * 1024, "{bytes} bytes");
    }
}
