//! The one mapping from application errors to gRPC statuses, each with google.rpc details:
//! always an ErrorInfo (UPPER_SNAKE reason, domain `dealdesk.v1`), plus BadRequest field
//! violations or PreconditionFailure violations where they apply. Storage failures are logged
//! with their cause and answered with a generic message.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::AppError;
use crate::app::imports::IMPORT_ROWS_INVALID;
use crate::domain::Violations;
use crate::import::BadRows;

/// The ErrorInfo domain of every error.
pub const ERROR_DOMAIN: &str = "dealdesk.v1";

fn status(code: Code, message: String, reason: &str, mut details: ErrorDetails) -> Status {
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(code, message, details)
}

/// INVALID_ARGUMENT with one field violation per problem.
pub fn invalid_argument(reason: &str, violations: &Violations) -> Status {
    let mut details = ErrorDetails::new();
    for v in &violations.0 {
        details.add_bad_request_violation(&v.field, &v.description);
    }
    status(
        Code::InvalidArgument,
        format!("invalid request: {violations}"),
        reason,
        details,
    )
}

/// Bad rows listed in one import error: the status details travel in HTTP/2 trailers, which
/// clients cap (16 KiB by default in hyper).
const MAX_LISTED: usize = 50;

/// INVALID_ARGUMENT (`IMPORT_ROWS_INVALID`) for an import's bad rows: the count in the message
/// (`23 bad rows (31 problems) of 23,811 read; nothing was imported (first: ...)`), the first
/// [`MAX_LISTED`] problems as field violations (`file:line`, `column: reason`).
fn import_rows_invalid(bad: &BadRows) -> Status {
    let mut details = ErrorDetails::new();
    for e in bad.listed.iter().take(MAX_LISTED) {
        details.add_bad_request_violation(e.at.to_string(), e.description());
    }
    let first = bad
        .listed
        .first()
        .map(|e| format!(" (first: {e})"))
        .unwrap_or_default();
    let more = if bad.listed.len() > MAX_LISTED {
        format!("; the first {MAX_LISTED} problems are listed")
    } else {
        String::new()
    };
    status(
        Code::InvalidArgument,
        format!("{}{first}{more}", bad.summary()),
        IMPORT_ROWS_INVALID,
        details,
    )
}

impl From<AppError> for Status {
    fn from(err: AppError) -> Status {
        let none = ErrorDetails::new;
        match err {
            AppError::Unauthenticated { reason, message } => {
                status(Code::Unauthenticated, message, reason, none())
            }
            AppError::PermissionDenied { reason, message } => {
                status(Code::PermissionDenied, message, reason, none())
            }
            AppError::InvalidArgument { reason, violations } => {
                invalid_argument(reason, &violations)
            }
            AppError::ImportRowsInvalid(bad) => import_rows_invalid(&bad),
            ref e @ AppError::NotFound { .. } => {
                status(Code::NotFound, e.to_string(), "NOT_FOUND", none())
            }
            ref e @ AppError::AlreadyExists { .. } => {
                status(Code::AlreadyExists, e.to_string(), "ALREADY_EXISTS", none())
            }
            ref e @ AppError::StaleEtag { .. } => {
                status(Code::Aborted, e.to_string(), "STALE_ETAG", none())
            }
            AppError::FailedPrecondition {
                reason,
                message,
                violations,
            } => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_precondition_failure_violation(&v.kind, &v.subject, &v.description);
                }
                status(Code::FailedPrecondition, message, reason, details)
            }
            AppError::ResourceExhausted {
                reason,
                message,
                retry_after,
            } => {
                let mut details = ErrorDetails::new();
                details.set_retry_info(Some(retry_after));
                status(Code::ResourceExhausted, message, reason, details)
            }
            AppError::Storage(cause) => {
                tracing::error!(%cause, "storage error");
                status(
                    Code::Internal,
                    "internal error; it has been logged".into(),
                    "INTERNAL",
                    none(),
                )
            }
        }
    }
}
