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
//! - **a budget for heavy reads** (every List call and the reports: [`is_heavy`]), so they
//!   cannot take the whole database pool from everyone else: a caller (by its bearer token)
//!   holds at most [`Limits::max_heavy_per_caller`] at once, beyond which it is refused at once
//!   (RESOURCE_EXHAUSTED, reason `CALLER_BUSY`); the whole process runs at most
//!   [`Limits::max_heavy_in_flight`], a call waiting at most [`HEAVY_WAIT`] for a turn (then
//!   RESOURCE_EXHAUSTED, reason `READS_BUSY`), both with a RetryInfo.
//!
//! Health and reflection are exempt, so probes keep answering under any flood. Streaming calls
//! take no slot and get no default deadline (a watch lives for hours, an import may upload for
//! minutes); the client's own `grpc-timeout` still bounds the part before the response starts.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prost::Message;
use tokio::sync::Semaphore;
use tonic::{Code, Status};

use crate::config::{ServeArgs, seconds};
use crate::grpc::error::refusal;

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
    /// Heavy reads (see [`is_heavy`]) handled at once in the process; 0: one fewer than the
    /// database pool's connections (at least 1), so a connection is always left for the rest.
    pub max_heavy_in_flight: usize,
    /// Heavy reads one caller (one bearer token) may have in flight.
    pub max_heavy_per_caller: usize,
}

impl Limits {
    /// The limits the serve settings ask for.
    pub fn from_settings(args: &ServeArgs) -> Self {
        Self {
            max_in_flight: args.max_concurrent_requests as usize,
            default_deadline: seconds(args.request_timeout_seconds),
            long_deadline: seconds(args.long_request_timeout_seconds),
            max_heavy_in_flight: args.max_heavy_requests as usize,
            max_heavy_per_caller: args.max_heavy_requests_per_caller as usize,
        }
    }
}

/// How long a heavy read waits for a turn before it is refused.
pub const HEAVY_WAIT: Duration = Duration::from_millis(250);

/// The report RPCs, which read many rows like a List call does.
const REPORT_CALLS: [&str; 6] = [
    "/dealdesk.v1.ForecastService/GetForecast",
    "/dealdesk.v1.ForecastService/GetForecastAccuracy",
    "/dealdesk.v1.ForecastService/SnapshotForecast",
    "/dealdesk.v1.PipelineService/GetPipelineMetrics",
    "/dealdesk.v1.DealDeskService/GetApprovalMetrics",
    "/dealdesk.v1.ForecastService/ComputeWinRates",
];

/// Whether the unary RPC at `path` is a heavy read: a List call, a report or a long call.
pub fn is_heavy(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or_default();
    method.starts_with("List") || REPORT_CALLS.contains(&path) || LONG_CALLS.contains(&path)
}

/// The unary RPCs that learn from a pipeline's whole history (a large org's takes tens of
/// seconds): they get [`Limits::long_deadline`] rather than the default.
pub const LONG_CALLS: [&str; 2] = [
    "/dealdesk.v1.ForecastService/ComputeWinRates",
    "/dealdesk.v1.ForecastService/BacktestForecast",
];

impl Default for Limits {
    /// 256 calls in flight; 30 s per call, 10 minutes per long call; heavy reads: the pool's
    /// connections but one, 4 per caller.
    fn default() -> Self {
        Self {
            max_in_flight: 256,
            default_deadline: Some(Duration::from_secs(30)),
            long_deadline: Some(Duration::from_secs(600)),
            max_heavy_in_flight: 0,
            max_heavy_per_caller: 4,
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
    heavy: Arc<HeavyBudget>,
}

/// The heavy reads' budgets: the process's turns and each caller's count in flight.
#[derive(Debug)]
struct HeavyBudget {
    turns: Arc<Semaphore>,
    per_caller: usize,
    /// Heavy reads in flight per caller (a hash of its `authorization` header).
    callers: std::sync::Mutex<HashMap<u64, usize>>,
}

/// One heavy read's place in its caller's count, given back when dropped.
struct CallerTurn {
    budget: Arc<HeavyBudget>,
    caller: u64,
}

impl HeavyBudget {
    /// A place for `caller`, unless it has its most in flight.
    fn enter(self: &Arc<Self>, caller: u64) -> Option<CallerTurn> {
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        let count = callers.entry(caller).or_default();
        if *count >= self.per_caller {
            return None;
        }
        *count += 1;
        Some(CallerTurn {
            budget: self.clone(),
            caller,
        })
    }
}

impl Drop for CallerTurn {
    fn drop(&mut self) {
        let mut callers = self
            .budget
            .callers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = callers.get_mut(&self.caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                callers.remove(&self.caller);
            }
        }
    }
}

/// Who is calling, for the per-caller budget: a hash of the `authorization` header (the same
/// token is the same caller; no header is one anonymous caller).
fn caller_of<B>(request: &http::Request<B>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .hash(&mut hasher);
    hasher.finish()
}

/// A live view of the calls holding a slot, for the metrics.
#[derive(Debug, Clone)]
pub struct InFlight {
    slots: Arc<Semaphore>,
    /// The most unary calls held at once (`max_in_flight`).
    pub max: usize,
}

impl InFlight {
    /// Unary calls holding a slot now.
    pub fn current(&self) -> usize {
        self.max.saturating_sub(self.slots.available_permits())
    }
}

impl OverloadLayer {
    /// A layer enforcing `limits`; `streaming` lists the streaming RPCs' paths; `pool` is the
    /// database pool's size (for the heavy reads' default budget).
    pub fn new(limits: Limits, streaming: HashSet<String>, pool: usize) -> Self {
        let max_in_flight = limits.max_in_flight.max(1);
        let heavy_turns = match limits.max_heavy_in_flight {
            0 => pool.saturating_sub(1).max(1),
            n => n,
        };
        Self {
            heavy: Arc::new(HeavyBudget {
                turns: Arc::new(Semaphore::new(heavy_turns)),
                per_caller: limits.max_heavy_per_caller.max(1),
                callers: Default::default(),
            }),
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

/// RESOURCE_EXHAUSTED: the caller has its most heavy reads in flight.
fn caller_busy(most: usize) -> Status {
    refusal(
        Code::ResourceExhausted,
        "CALLER_BUSY",
        &format!(
            "this caller already has {most} list or report calls in flight, the most one caller \
             may; retry when one has answered"
        ),
        Some(Duration::from_millis(200)),
    )
}

/// RESOURCE_EXHAUSTED: every heavy read's turn stayed taken for [`HEAVY_WAIT`].
fn reads_busy() -> Status {
    refusal(
        Code::ResourceExhausted,
        "READS_BUSY",
        "the server is at its limit of list and report calls in flight; retry with backoff",
        Some(Duration::from_millis(250)),
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
        let heavy = match class {
            Class::Unary | Class::Long if is_heavy(request.uri().path()) => {
                match self.layer.heavy.enter(caller_of(&request)) {
                    Some(turn) => Some((turn, self.layer.heavy.turns.clone())),
                    None => {
                        let refused = caller_busy(self.layer.heavy.per_caller);
                        return Box::pin(std::future::ready(Ok(refused.into_http())));
                    }
                }
            }
            _ => None,
        };
        // The deadline counts from now, not from the first poll: tonic's own grpc-timeout timer,
        // outside this layer, starts right after this call returns, so ours always ends first
        // and a cut call answers DEADLINE_EXCEEDED, never tonic's CANCELLED "Timeout expired".
        let deadline = deadline.map(|d| (d, tokio::time::Instant::now() + d));
        let response = self.inner.call(request);
        Box::pin(async move {
            // The slot is held until the answer is ready (a unary answer is complete by then).
            let _slot = slot;
            // A heavy read waits briefly for a turn (the handler has not started: its future
            // runs only when polled), then is refused rather than queued.
            let _heavy = match heavy {
                None => None,
                Some((caller, turns)) => {
                    match tokio::time::timeout(HEAVY_WAIT, turns.acquire_owned()).await {
                        Ok(Ok(turn)) => Some((caller, turn)),
                        _ => return Ok(reads_busy().into_http()),
                    }
                }
            };
            let result = match deadline {
                None => response.await,
                Some((deadline, at)) => match tokio::time::timeout_at(at, response).await {
                    Ok(result) => result,
                    Err(_) => Ok(deadline_exceeded(deadline).into_http()),
                },
            };
            result.map(explain_too_large)
        })
    }
}

#[cfg(test)]
mod tests;
