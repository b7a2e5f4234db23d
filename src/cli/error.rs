//! How a client command fails: the server's status (code, message and its google.rpc details,
//! readable), no connection, or arguments the server would refuse anyway.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Why a client command failed; its Display is what the person reads on stderr.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{}", StatusReport(.0))]
    Status(#[from] Status),
    /// No connection to the server.
    #[error("cannot connect to {addr}: {}", causes(.source))]
    Connect {
        /// The address tried.
        addr: String,
        /// Why not.
        #[source]
        source: tonic::transport::Error,
    },
    /// An argument is malformed (a date, an amount, a percentage).
    #[error("{flag} {problem}")]
    Usage {
        /// The flag or argument.
        flag: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The answer could not be printed.
    #[error("cannot write the answer: {0}")]
    Io(#[from] std::io::Error),
    /// The answer could not be encoded as JSON.
    #[error("cannot encode the answer as JSON: {0}")]
    Json(String),
}

impl ClientError {
    /// A malformed argument.
    pub fn usage(flag: &str, problem: impl Into<String>) -> ClientError {
        ClientError::Usage {
            flag: flag.into(),
            problem: problem.into(),
        }
    }

    /// The gRPC code of a status error.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Status(status) => Some(status.code()),
            _ => None,
        }
    }
}

/// An error and its causes, `: `-separated (a transport error alone says only "transport
/// error").
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A status as lines: `CODE: message`, then the ErrorInfo reason and metadata, each field
/// violation and each precondition failure.
struct StatusReport<'a>(&'a Status);

impl fmt::Display for StatusReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.0;
        write!(f, "{}: {}", code_name(status.code()), status.message())?;
        if let Some(info) = status.get_details_error_info() {
            write!(f, "\n  reason: {}", info.reason)?;
            let mut metadata: Vec<_> = info.metadata.iter().collect();
            metadata.sort();
            for (key, value) in metadata {
                write!(f, "\n  {key}: {value}")?;
            }
        }
        if let Some(bad) = status.get_details_bad_request() {
            for violation in &bad.field_violations {
                write!(f, "\n  - {}: {}", violation.field, violation.description)?;
            }
        }
        if let Some(failure) = status.get_details_precondition_failure() {
            for violation in &failure.violations {
                write!(
                    f,
                    "\n  - {} {}: {}",
                    violation.r#type, violation.subject, violation.description
                )?;
            }
        }
        if let Some(retry) = status.get_details_retry_info()
            && let Some(delay) = retry.retry_delay
        {
            write!(f, "\n  retry after: {:.1} s", delay.as_secs_f64())?;
        }
        Ok(())
    }
}

/// The canonical upper-snake name of a gRPC code (`FAILED_PRECONDITION`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
