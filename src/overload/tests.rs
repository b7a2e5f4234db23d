//! The overload layer's behaviour: slots, deadlines, heavy-read budgets and the size refusal.

use super::*;
use proptest::prelude::*;
use tonic_types::StatusExt;

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
        4,
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
    let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
    let unary: HashSet<String> = set
        .file
        .iter()
        .flat_map(|file| {
            file.service.iter().flat_map(move |service| {
                service
                    .method
                    .iter()
                    .filter(|m| !m.client_streaming() && !m.server_streaming())
                    .map(move |m| format!("/{}.{}/{}", file.package(), service.name(), m.name()))
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

/// A service whose calls (but GetDeal) answer OK once `open` has a permit for them.
#[derive(Clone)]
struct Gated {
    open: Arc<tokio::sync::Semaphore>,
}

impl tower_service::Service<http::Request<()>> for Gated {
    type Response = http::Response<()>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<()>) -> Self::Future {
        let open = self.open.clone();
        let held = request.uri().path() != "/dealdesk.v1.DealService/GetDeal";
        Box::pin(async move {
            if held {
                let _ = open.acquire().await.map(|p| p.forget());
            }
            Ok(http::Response::new(()))
        })
    }
}

fn call(path: &str, token: &str) -> http::Request<()> {
    http::Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
}

/// The gRPC status of an answer (`None`: OK, no status header).
fn code(response: &http::Response<()>) -> Option<(String, String)> {
    let status = Status::from_header_map(response.headers())?;
    let reason = status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default();
    assert!(status.get_details_retry_info().is_some(), "a RetryInfo");
    Some((format!("{:?}", status.code()), reason))
}

#[tokio::test]
async fn heavy_reads_are_budgeted_per_caller_and_for_the_process() {
    use tower_layer::Layer;
    use tower_service::Service;
    let limits = Limits {
        max_heavy_in_flight: 3,
        max_heavy_per_caller: 2,
        ..Limits::default()
    };
    let open = Arc::new(tokio::sync::Semaphore::new(0));
    let layer = OverloadLayer::new(limits, HashSet::new(), 16);
    let mut service = layer.layer(Gated { open: open.clone() });
    let list = "/dealdesk.v1.DealService/ListDeals";
    let report = "/dealdesk.v1.ForecastService/GetForecast";
    // Alice's first two heavy reads are in; her third is refused at once.
    let alice = [
        service.call(call(list, "alice")),
        service.call(call(report, "alice")),
    ];
    let refused = service.call(call(list, "alice")).await.unwrap();
    assert_eq!(
        code(&refused),
        Some(("ResourceExhausted".into(), "CALLER_BUSY".into()))
    );
    let alice: Vec<_> = alice.into_iter().map(tokio::spawn).collect();
    // Bob takes the process's third turn; Carol's waits HEAVY_WAIT, then is refused.
    let bob = tokio::spawn(service.call(call(list, "bob")));
    tokio::task::yield_now().await;
    let started = tokio::time::Instant::now();
    let carol = service.call(call(list, "carol")).await.unwrap();
    assert!(started.elapsed() >= HEAVY_WAIT);
    assert_eq!(
        code(&carol),
        Some(("ResourceExhausted".into(), "READS_BUSY".into()))
    );
    // Calls that are not heavy reads are not held back.
    let light = service.call(call("/dealdesk.v1.DealService/GetDeal", "carol"));
    assert_eq!(light.await.unwrap().headers().get("grpc-status"), None);
    // Once the reads answer, every turn is free again.
    open.add_permits(100);
    for task in alice.into_iter().chain([bob]) {
        assert_eq!(
            task.await.unwrap().unwrap().headers().get("grpc-status"),
            None
        );
    }
    assert_eq!(layer.heavy.turns.available_permits(), 3);
    assert!(layer.heavy.callers.lock().unwrap().is_empty());
    let again = service.call(call(list, "alice")).await.unwrap();
    assert_eq!(again.headers().get("grpc-status"), None);
}

#[test]
fn lists_reports_and_long_calls_are_heavy_reads() {
    for path in [
        "/dealdesk.v1.DealService/ListDeals",
        "/dealdesk.v1.DirectoryService/ListUsers",
        "/dealdesk.v1.ForecastService/GetForecast",
        "/dealdesk.v1.ForecastService/BacktestForecast",
    ] {
        assert!(is_heavy(path), "{path}");
    }
    for path in [
        "/dealdesk.v1.DealService/GetDeal",
        "/dealdesk.v1.DirectoryService/GetCurrentUser",
        "/dealdesk.v1.DealService/UpdateDeal",
    ] {
        assert!(!is_heavy(path), "{path}");
    }
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
