//! The application's error: what went wrong in terms a caller can act on. The gRPC layer maps
//! each variant to one canonical code in `grpc::error`.

use crate::domain::Problem;
use crate::domain::Violations;

/// One unmet precondition (a gate, a state the resource is not in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precondition {
    /// Kind of precondition, UPPER_SNAKE (`EXIT_CRITERION`, `TOKEN_STATE`).
    pub kind: String,
    /// What it is about (a resource name, a criterion).
    pub subject: String,
    /// What is missing, in words.
    pub description: String,
}

/// Errors of the use cases.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid credentials -> UNAUTHENTICATED.
    #[error("{message}")]
    Unauthenticated {
        /// The ErrorInfo reason, UPPER_SNAKE.
        reason: &'static str,
        /// The status message the caller reads.
        message: String,
    },
    /// The principal's role or place may not do this -> PERMISSION_DENIED.
    #[error("{message}")]
    PermissionDenied {
        /// The ErrorInfo reason, UPPER_SNAKE.
        reason: &'static str,
        /// The status message the caller reads.
        message: String,
    },
    /// The request is malformed -> INVALID_ARGUMENT with field violations.
    #[error("invalid request: {violations}")]
    InvalidArgument {
        /// The ErrorInfo reason, UPPER_SNAKE.
        reason: &'static str,
        /// Every problem found.
        violations: Violations,
    },
    /// An import's bad rows -> INVALID_ARGUMENT (reason `IMPORT_ROWS_INVALID`) listing them.
    #[error("{}", .0.summary())]
    ImportRowsInvalid(crate::import::BadRows),
    /// The named resource does not exist (or is not visible) -> NOT_FOUND.
    #[error("{kind} {name} not found")]
    NotFound {
        /// Entity kind (`user`, `pipeline`).
        kind: &'static str,
        /// Its resource name.
        name: String,
    },
    /// A unique value is taken -> ALREADY_EXISTS.
    #[error("{kind} with {field} {value:?} already exists")]
    AlreadyExists {
        /// Entity kind.
        kind: &'static str,
        /// The unique field.
        field: &'static str,
        /// The value taken.
        value: String,
    },
    /// The etag sent is not the current one -> ABORTED.
    #[error("{kind} {name} was changed by someone else; read it again and retry")]
    StaleEtag {
        /// Entity kind.
        kind: &'static str,
        /// Its resource name.
        name: String,
    },
    /// The resource is not in a state that allows this -> FAILED_PRECONDITION.
    #[error("{message}")]
    FailedPrecondition {
        /// The ErrorInfo reason, UPPER_SNAKE.
        reason: &'static str,
        /// The status message the caller reads.
        message: String,
        /// Every unmet precondition.
        violations: Vec<Precondition>,
    },
    /// No database connection came free in time -> UNAVAILABLE (`DATABASE_BUSY`, with a
    /// RetryInfo): the call changed nothing and may be retried.
    #[error("the database is busy; retry with backoff")]
    Busy,
    /// A limit of what one caller or the process may hold is reached -> RESOURCE_EXHAUSTED with
    /// a RetryInfo.
    #[error("{message}")]
    ResourceExhausted {
        /// The ErrorInfo reason, UPPER_SNAKE.
        reason: &'static str,
        /// The status message the caller reads.
        message: String,
        /// When trying again may succeed.
        retry_after: std::time::Duration,
    },
    /// The storage is down or broke -> UNAVAILABLE / INTERNAL; logged, never detailed to callers.
    #[error("storage error: {0}")]
    Storage(String),
}

impl AppError {
    /// INVALID_ARGUMENT from violations, with the reason of their kind (that of the first one;
    /// `INVALID_ARGUMENT` for a problem of no particular kind).
    pub fn invalid(violations: Violations) -> Self {
        AppError::InvalidArgument {
            reason: violations.reason(),
            violations,
        }
    }

    /// INVALID_ARGUMENT on one field, of the kind `problem`.
    pub fn invalid_field(
        problem: Problem,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self::invalid(Violations::one_as(problem, field, description))
    }

    /// PERMISSION_DENIED with a reason.
    pub fn denied(reason: &'static str, message: impl Into<String>) -> Self {
        AppError::PermissionDenied {
            reason,
            message: message.into(),
        }
    }
}

/// Result of the use cases.
pub type AppResult<T> = Result<T, AppError>;
