//! Overload protection, as one tower layer in front of every service:
//! - **a limit on calls in flight**, server-wide: a unary call that finds every slot taken is
//!   answered at once with RESOURCE_EXHAUSTED (reason `OVERLOADED`, with a RetryInfo), never
//!   queued, so a flood degrades into fast refusals instead of a growing backlog;
//! - **a deadline on each call**: the client's `grpc-timeout`, capped by the server's default.
//!   A call past its deadline is cut (its transaction rolls back unless it had committed) and
//!   answered DEADLINE_EXCEEDED (reason `DEADLINE_EXCEEDED`).
//!
//! - **one answer for a message over the size limit**: tonic refuses a request message over
//!   [`MAX_REQUEST_BYTES`] with OUT_OF_RANGE and no details; the layer answers it instead
//!   RESOURCE_EXHAUSTED (reason `MESSAGE_TOO_LARGE`, the limit in the message), as every other
//!   error carries an ErrorInfo.
//!
//! Health and reflection are exempt, so probes keep answering under any flood. Streaming calls
//! take no slot and get no default deadline (a watch lives for hours, an import may upload for
//! minutes); the client's own `grpc-timeout` still bounds the part before the response starts.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prost::Message;
use tokio::sync::Semaphore;
use tonic::{Code, Status};
use tonic_types::ErrorDetails;

use crate::grpc::error::status;

/// How much the server takes on at once and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Unary calls handled at once; the next is refused with RESOURCE_EXHAUSTED.
    pub max_in_flight: usize,
    /// The deadline of a call whose client sent none (and the cap of one it sent); `None`: only
    /// the client's.
    pub default_deadline: Option<Duration>,
    /// The same for the [`LONG_CALLS`], which read a pipeline's whole history; `None`: only the
    /// client's.
    pub long_deadline: Option<Duration>,
}

/// The unary RPCs that learn from a pipeline's whole history (a large org's takes tens of
/// seconds): they get [`Limits::long_deadline`] rather than the default.
pub const LONG_CALLS: [&str; 2] = [
    "/dealdesk.v1.ForecastService/ComputeWinRates",
    "/dealdesk.v1.ForecastService/BacktestForecast",
];

impl Default for Limits {
    /// 256 calls in flight; 30 s per call, 10 minutes per long call.
    fn default() -> Self {
        Self {
            max_in_flight: 256,
            default_deadline: Some(Duration::from_secs(30)),
            long_deadline: Some(Duration::from_secs(600)),
        }
    }
}

/// Parses a `grpc-timeout` header value: 1 to 8 ASCII digits and a unit (`H`ours, `M`inutes,
/// `S`econds, `m`illis, `u` micros, `n`anos), per the gRPC over HTTP/2 protocol. `None` when
/// malformed.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// How a call is treated, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Health and reflection: never limited, never cut.
    Exempt,
    /// A streaming RPC: no slot, no default deadline; the client's deadline still holds.
    Streaming,
    /// A unary RPC: a slot and a deadline.
    Unary,
    /// One of the [`LONG_CALLS`]: a slot and the long deadline.
    Long,
}

/// The paths (`/package.Service/Method`) of the API's streaming RPCs, read from a descriptor
/// set so that a new streaming RPC is classified without a list to keep in step.
pub fn streaming_paths(descriptor_set: &[u8]) -> HashSet<String> {
    let Ok(set) = prost_types::FileDescriptorSet::decode(descriptor_set) else {
        return HashSet::new();
    };
    let mut paths = HashSet::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                if method.client_streaming() || method.server_streaming() {
                    paths.insert(format!(
                        "/{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
    }
    paths
}

/// The overload layer: see the module's documentation.
#[derive(Debug, Clone)]
pub struct OverloadLayer {
    slots: Arc<Semaphore>,
    max_in_flight: usize,
    default_deadline: Option<Duration>,
    long_deadline: Option<Duration>,
    streaming: Arc<HashSet<String>>,
}

/// A live view of the calls holding a slot, for the metrics.
#[derive(Debug, Clone)]
pub struct InFlight {
    slots: Arc<Semaphore>,
    /// The limit.
    pub max: usize,
}

impl InFlight {
    /// Unary calls holding a slot now.
    pub fn current(&self) -> usize {
        self.max.saturating_sub(self.slots.available_permits())
    }
}

impl OverloadLayer {
    /// A layer enforcing `limits`; `streaming` lists the streaming RPCs' paths.
    pub fn new(limits: Limits, streaming: HashSet<String>) -> Self {
        let max_in_flight = limits.max_in_flight.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            default_deadline: limits.default_deadline,
            long_deadline: limits.long_deadline,
            streaming: Arc::new(streaming),
        }
    }

    /// The calls in flight, as the metrics show them.
    pub fn in_flight(&self) -> InFlight {
        InFlight {
            slots: self.slots.clone(),
            max: self.max_in_flight,
        }
    }

    fn class(&self, path: &str) -> Class {
        if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
            Class::Exempt
        } else if self.streaming.contains(path) {
            Class::Streaming
        } else if LONG_CALLS.contains(&path) {
            Class::Long
        } else {
            Class::Unary
        }
    }
}

impl<S> tower_layer::Layer<S> for OverloadLayer {
    type Service = OverloadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OverloadService {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service guarded by [`OverloadLayer`].
#[derive(Debug, Clone)]
pub struct OverloadService<S> {
    inner: S,
    layer: OverloadLayer,
}

fn refusal(code: Code, reason: &str, message: &str, retry_after: Option<Duration>) -> Status {
    let mut details = ErrorDetails::new();
    if let Some(delay) = retry_after {
        details.set_retry_info(Some(delay));
    }
    status(code, message, reason, details)
}

/// The largest request message a service decodes (tonic's default, set on every service).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// How tonic's message starts when it refuses a request message over the limit.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

/// RESOURCE_EXHAUSTED (reason `MESSAGE_TOO_LARGE`): a request message over the limit.
fn message_too_large() -> Status {
    refusal(
        Code::ResourceExhausted,
        "MESSAGE_TOO_LARGE",
        &format!(
            "a request message may be at most {MAX_REQUEST_BYTES} bytes (4 MiB); send less per \
             call (an import sends its files in chunks)"
        ),
        None,
    )
}

/// Whether `response` is tonic's refusal of a request message over the size limit. That
/// refusal comes before any message is answered, so it is a trailers-only response: its status
/// is in the headers.
fn is_tonic_too_large<R>(response: &http::Response<R>) -> bool {
    Status::from_header_map(response.headers()).is_some_and(|status| {
        status.code() == Code::OutOfRange && status.message().starts_with(TONIC_TOO_LARGE)
    })
}

/// `response`, or [`message_too_large`] in place of tonic's own refusal.
fn explain_too_large<R: Default>(response: http::Response<R>) -> http::Response<R> {
    if is_tonic_too_large(&response) {
        message_too_large().into_http()
    } else {
        response
    }
}

/// RESOURCE_EXHAUSTED: every slot is taken.
fn overloaded() -> Status {
    refusal(
        Code::ResourceExhausted,
        "OVERLOADED",
        "the server is at its limit of calls in flight; retry with backoff",
        Some(Duration::from_millis(100)),
    )
}

/// DEADLINE_EXCEEDED: the call ran past its deadline and was cut.
fn deadline_exceeded(deadline: Duration) -> Status {
    refusal(
        Code::DeadlineExceeded,
        "DEADLINE_EXCEEDED",
        &format!("the call did not finish within its deadline of {deadline:?}"),
        None,
    )
}

impl<S, B, R> tower_service::Service<http::Request<B>> for OverloadService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        crate::connection::note_request(request.extensions());
        let class = self.layer.class(request.uri().path());
        if class == Class::Exempt {
            return Box::pin(self.inner.call(request));
        }
        let client_deadline = match request.headers().get("grpc-timeout") {
            None => None,
            Some(value) => match value.to_str().ok().and_then(parse_grpc_timeout) {
                Some(deadline) => Some(deadline),
                None => {
                    let status = refusal(
                        Code::InvalidArgument,
                        "MALFORMED_GRPC_TIMEOUT",
                        "the grpc-timeout header must be 1-8 digits and a unit (H, M, S, m, u, n)",
                        None,
                    );
                    return Box::pin(std::future::ready(Ok(status.into_http())));
                }
            },
        };
        let server_deadline = match class {
            Class::Unary => self.layer.default_deadline,
            Class::Long => self.layer.long_deadline,
            _ => None,
        };
        let deadline = match (client_deadline, server_deadline) {
            (Some(client), Some(server)) => Some(client.min(server)),
            (client, server) => client.or(server),
        };
        let slot = match class {
            Class::Unary | Class::Long => match self.layer.slots.clone().try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => return Box::pin(std::future::ready(Ok(overloaded().into_http()))),
            },
            _ => None,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            // The slot is held until the answer is ready (a unary answer is complete by then).
            let _slot = slot;
            let result = match deadline {
                None => response.await,
                Some(deadline) => match tokio::time::timeout(deadline, response).await {
                    Ok(result) => result,
                    Err(_) => Ok(deadline_exceeded(deadline).into_http()),
                },
            };
            result.map(explain_too_large)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        let cases = [
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("30S", Duration::from_secs(30)),
            ("250m", Duration::from_millis(250)),
            ("99999999u", Duration::from_micros(99_999_999)),
            ("7n", Duration::from_nanos(7)),
            ("0S", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_grpc_timeout(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn malformed_grpc_timeouts_are_refused() {
        for text in [
            "",
            "S",
            "1",
            "100",
            "1s",
            "1x",
            "-1S",
            "+1S",
            " 1S",
            "1 S",
            "1.5S",
            "123456789S",
            "１S",
            "1SS",
        ] {
            assert_eq!(parse_grpc_timeout(text), None, "{text:?}");
        }
    }

    #[test]
    fn streaming_rpcs_are_found_in_the_descriptor_set() {
        let paths = streaming_paths(crate::proto::FILE_DESCRIPTOR_SET);
        let mut paths: Vec<_> = paths.into_iter().collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "/dealdesk.v1.DealDeskService/WatchApprovalEvents",
                "/dealdesk.v1.DealService/WatchDealEvents",
                "/dealdesk.v1.ImportService/ImportHistory",
            ]
        );
    }

    #[test]
    fn health_and_reflection_are_exempt_and_unary_calls_are_limited() {
        let layer = OverloadLayer::new(
            Limits::default(),
            streaming_paths(crate::proto::FILE_DESCRIPTOR_SET),
        );
        assert_eq!(layer.class("/grpc.health.v1.Health/Check"), Class::Exempt);
        assert_eq!(
            layer.class("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            Class::Exempt
        );
        assert_eq!(
            layer.class("/dealdesk.v1.DealService/WatchDealEvents"),
            Class::Streaming
        );
        assert_eq!(
            layer.class("/dealdesk.v1.DealService/GetDeal"),
            Class::Unary
        );
        assert_eq!(
            layer.class("/dealdesk.v1.ForecastService/ComputeWinRates"),
            Class::Long
        );
    }

    #[test]
    fn every_long_call_is_a_unary_rpc_of_the_api() {
        let set =
            prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let unary: HashSet<String> = set
            .file
            .iter()
            .flat_map(|file| {
                file.service.iter().flat_map(move |service| {
                    service
                        .method
                        .iter()
                        .filter(|m| !m.client_streaming() && !m.server_streaming())
                        .map(move |m| {
                            format!("/{}.{}/{}", file.package(), service.name(), m.name())
                        })
                })
            })
            .collect();
        for path in LONG_CALLS {
            assert!(unary.contains(path), "{path}");
        }
    }

    #[test]
    fn tonics_refusal_of_a_large_message_becomes_message_too_large() {
        let tonic = Status::out_of_range(format!(
            "{TONIC_TOO_LARGE}: found 5000000 bytes, the limit is: 4194304 bytes"
        ));
        let answer =
            Status::from_header_map(explain_too_large(tonic.into_http::<()>()).headers()).unwrap();
        assert_eq!(answer.code(), Code::ResourceExhausted);
        assert!(
            answer.message().contains("4194304 bytes"),
            "{}",
            answer.message()
        );
        let info = tonic_types::StatusExt::get_details_error_info(&answer).unwrap();
        assert_eq!(info.reason, "MESSAGE_TOO_LARGE");
    }

    #[test]
    fn other_out_of_range_answers_are_left_alone() {
        let other = Status::out_of_range("page 9 is past the end");
        let answer =
            Status::from_header_map(explain_too_large(other.into_http::<()>()).headers()).unwrap();
        assert_eq!(answer.code(), Code::OutOfRange);
        assert_eq!(answer.message(), "page 9 is past the end");
    }

    proptest! {
        #[test]
        fn any_header_value_parses_or_is_refused_without_panicking(text in ".{0,12}") {
            let _ = parse_grpc_timeout(&text);
        }

        #[test]
        fn every_well_formed_value_round_trips(n in 0u64..100_000_000, unit in 0usize..6) {
            let (suffix, scale) = [("H", 3_600_000_000_000u128), ("M", 60_000_000_000), ("S", 1_000_000_000), ("m", 1_000_000), ("u", 1_000), ("n", 1)][unit];
            let parsed = parse_grpc_timeout(&format!("{n}{suffix}")).unwrap();
            prop_assert_eq!(parsed.as_nanos(), u128::from(n) * scale);
        }
    }
}
