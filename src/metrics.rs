//! Operations metrics in the Prometheus text format, on their own port: gRPC requests by RPC
//! and code with their latency, the calls in flight against their limit, the database pool,
//! approvals pending and escalations.
//!
//! Requests are counted by a tower layer around the whole server. The code is the response's
//! `grpc-status` header: tonic sends it there for every error of a unary call, and for success
//! in the trailers (so no header means OK); a stream that fails after it started counts as OK.
//! The gauges about approvals are read from the database at scrape time, so they are the same
//! on every replica.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::app::ports::{Store, StoreGauges};
use crate::overload::InFlight;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Canonical gRPC code names by number.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Count, latency sum and cumulative-bucket counts of one (RPC, code).
#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

/// The request counters. Bounded: one series per (known RPC, code), anything else counted
/// under `other`.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    /// A std mutex: held for a few additions, never across an await.
    series: Mutex<BTreeMap<(String, &'static str), Series>>,
    /// The overload layer's slots, when the server has one.
    in_flight: Option<InFlight>,
}

impl RequestMetrics {
    /// Also shows the unary calls in flight against their limit.
    pub fn with_in_flight(self, in_flight: InFlight) -> Self {
        Self {
            in_flight: Some(in_flight),
            ..self
        }
    }

    /// Records one finished request.
    pub fn record(&self, path: &str, code: usize, elapsed: Duration) {
        let method = if path.starts_with("/dealdesk.v1.") || path.starts_with("/grpc.") {
            path.trim_start_matches('/').to_string()
        } else {
            "other".to_string()
        };
        let code = CODES.get(code).copied().unwrap_or("UNKNOWN");
        let seconds = elapsed.as_secs_f64();
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let entry = series.entry((method, code)).or_default();
        entry.count += 1;
        entry.seconds += seconds;
        for (bucket, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    /// The counters in the Prometheus text format.
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let series = self
            .series
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        out.push_str(
            "# HELP dealdesk_grpc_requests_total gRPC requests by method and status code.\n\
             # TYPE dealdesk_grpc_requests_total counter\n",
        );
        for ((method, code), s) in &series {
            let _ = writeln!(
                out,
                "dealdesk_grpc_requests_total{{method=\"{method}\",code=\"{code}\"}} {}",
                s.count
            );
        }
        out.push_str(
            "# HELP dealdesk_grpc_request_duration_seconds Time to the response headers.\n\
             # TYPE dealdesk_grpc_request_duration_seconds histogram\n",
        );
        for ((method, code), s) in &series {
            let labels = format!("method=\"{method}\",code=\"{code}\"");
            for (bound, count) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "dealdesk_grpc_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "dealdesk_grpc_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 dealdesk_grpc_request_duration_seconds_sum{{{labels}}} {}\n\
                 dealdesk_grpc_request_duration_seconds_count{{{labels}}} {}",
                s.count, s.seconds, s.count
            );
        }
        if let Some(in_flight) = &self.in_flight {
            let _ = write!(
                out,
                "# HELP dealdesk_grpc_calls_in_flight Unary calls being handled now.\n\
                 # TYPE dealdesk_grpc_calls_in_flight gauge\n\
                 dealdesk_grpc_calls_in_flight {}\n\
                 # HELP dealdesk_grpc_max_calls_in_flight The limit; beyond it calls are refused \
                 with RESOURCE_EXHAUSTED.\n\
                 # TYPE dealdesk_grpc_max_calls_in_flight gauge\n\
                 dealdesk_grpc_max_calls_in_flight {}\n",
                in_flight.current(),
                in_flight.max
            );
        }
    }
}

/// The tower layer that counts every request of the server.
#[derive(Debug, Clone)]
pub struct MetricsLayer(pub Arc<RequestMetrics>);

impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// A service counted by [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<RequestMetrics>,
}

impl<S, B, R> tower_service::Service<http::Request<B>> for MetricsService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                Err(_) => 13,
            };
            metrics.record(&path, code, started.elapsed());
            result
        })
    }
}

fn render_gauges(g: StoreGauges, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "# HELP dealdesk_db_pool_connections Database pool connections by state.\n\
         # TYPE dealdesk_db_pool_connections gauge\n\
         dealdesk_db_pool_connections{{state=\"in_use\"}} {}\n\
         dealdesk_db_pool_connections{{state=\"idle\"}} {}\n\
         # HELP dealdesk_db_pool_max_connections The pool's limit.\n\
         # TYPE dealdesk_db_pool_max_connections gauge\n\
         dealdesk_db_pool_max_connections {}\n\
         # HELP dealdesk_approvals_pending Approval requests waiting on a step.\n\
         # TYPE dealdesk_approvals_pending gauge\n\
         dealdesk_approvals_pending {}\n\
         # HELP dealdesk_approval_escalations_total Approval steps escalated past their SLA.\n\
         # TYPE dealdesk_approval_escalations_total counter\n\
         dealdesk_approval_escalations_total {}\n",
        g.pool_open.saturating_sub(g.pool_idle),
        g.pool_idle,
        g.pool_max,
        g.approvals_pending,
        g.escalations,
    );
}

/// The whole exposition: request counters and store gauges (a failed gauge read is logged
/// and the gauges left out, so a scrape still gets the counters).
pub async fn render<S: Store>(requests: &RequestMetrics, store: &S) -> String {
    let mut out = String::new();
    requests.render(&mut out);
    match store.operations_gauges().await {
        Ok(gauges) => render_gauges(gauges, &mut out),
        Err(err) => tracing::warn!(%err, "metrics: reading the store's gauges failed"),
    }
    out
}

/// Serves `GET /metrics` on `listener` until the task is aborted: a plain HTTP/1.1 responder,
/// one request per connection.
pub async fn serve<S: Store>(listener: TcpListener, requests: Arc<RequestMetrics>, store: S) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let (requests, store) = (requests.clone(), store.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let head = String::from_utf8_lossy(&buf[..n]);
            let (status, content_type, body) = if head.starts_with("GET /metrics ") {
                (
                    "200 OK",
                    "text/plain; version=0.0.4",
                    render(&requests, &store).await,
                )
            } else {
                ("404 Not Found", "text/plain", "try GET /metrics\n".into())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_method_and_code_with_cumulative_buckets() {
        let m = RequestMetrics::default();
        m.record(
            "/dealdesk.v1.DealService/GetDeal",
            0,
            Duration::from_millis(3),
        );
        m.record(
            "/dealdesk.v1.DealService/GetDeal",
            5,
            Duration::from_millis(30),
        );
        m.record("/nonsense/path", 12, Duration::from_secs(20));
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "dealdesk_grpc_requests_total{method=\"dealdesk.v1.DealService/GetDeal\",code=\"OK\"} 1"
        ));
        assert!(out.contains(
            "dealdesk_grpc_requests_total{method=\"dealdesk.v1.DealService/GetDeal\",code=\"NOT_FOUND\"} 1"
        ));
        assert!(
            out.contains("dealdesk_grpc_requests_total{method=\"other\",code=\"UNIMPLEMENTED\"} 1")
        );
        let ok = "method=\"dealdesk.v1.DealService/GetDeal\",code=\"OK\"";
        assert!(out.contains(&format!(
            "dealdesk_grpc_request_duration_seconds_bucket{{{ok},le=\"0.0025\"}} 0"
        )));
        assert!(out.contains(&format!(
            "dealdesk_grpc_request_duration_seconds_bucket{{{ok},le=\"0.005\"}} 1"
        )));
        assert!(out.contains(&format!(
            "dealdesk_grpc_request_duration_seconds_bucket{{{ok},le=\"10\"}} 1"
        )));
        let slow = "method=\"other\",code=\"UNIMPLEMENTED\"";
        assert!(out.contains(&format!(
            "dealdesk_grpc_request_duration_seconds_bucket{{{slow},le=\"10\"}} 0"
        )));
        assert!(out.contains(&format!(
            "dealdesk_grpc_request_duration_seconds_bucket{{{slow},le=\"+Inf\"}} 1"
        )));
    }

    #[test]
    fn gauges_report_connections_in_use() {
        let mut out = String::new();
        render_gauges(
            StoreGauges {
                pool_open: 3,
                pool_idle: 1,
                pool_max: 16,
                approvals_pending: 7,
                escalations: 2,
            },
            &mut out,
        );
        assert!(out.contains("dealdesk_db_pool_connections{state=\"in_use\"} 2\n"));
        assert!(out.contains("dealdesk_db_pool_max_connections 16\n"));
        assert!(out.contains("dealdesk_approvals_pending 7\n"));
        assert!(out.contains("dealdesk_approval_escalations_total 2\n"));
    }
}
