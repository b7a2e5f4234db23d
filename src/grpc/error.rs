//! The one mapping from application errors to gRPC statuses, each with google.rpc details:
//! always an ErrorInfo (UPPER_SNAKE reason, domain `dealdesk.v1`), plus BadRequest field
//! violations or PreconditionFailure violations where they apply. Storage failures are logged
//! with their cause and answered with a generic message.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::AppError;
use crate::domain::Violations;

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
