//! Operations metrics: a Prometheus scrape on the metrics port counts RPCs by method and code,
//! reports the pool, and reads approvals pending from the database.

use std::net::SocketAddr;

use dealdesk::proto as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{Backend, authed, spawn_app_with};

/// One HTTP/1.1 GET on a fresh connection: the whole response.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    response
}

async fn scrape_counts_rpcs_by_code(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = listener.local_addr().unwrap();
    let Some(app) = spawn_app_with(backend, |a| a.with_metrics_listener(listener)).await else {
        return eprintln!("PostgreSQL not configured: run skipped");
    };
    let mut directory = app.directory().await;
    for _ in 0..3 {
        directory
            .get_current_user(authed(&app.admin_token, pb::GetCurrentUserRequest {}))
            .await
            .unwrap();
    }
    let missing = directory
        .get_user(authed(
            &app.admin_token,
            pb::GetUserRequest {
                name: "users/01a205af-0000-7000-8000-000000000000".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let scrape = http_get(metrics, "/metrics").await;
    assert!(scrape.starts_with("HTTP/1.1 200 OK"), "{scrape}");
    let line = |l: &str| scrape.lines().any(|x| x == l);
    assert!(
        line(
            "dealdesk_grpc_requests_total{method=\"dealdesk.v1.DirectoryService/GetCurrentUser\",code=\"OK\"} 3"
        ),
        "{scrape}"
    );
    assert!(
        line(
            "dealdesk_grpc_requests_total{method=\"dealdesk.v1.DirectoryService/GetUser\",code=\"NOT_FOUND\"} 1"
        ),
        "{scrape}"
    );
    assert!(line(
        "dealdesk_grpc_request_duration_seconds_count{method=\"dealdesk.v1.DirectoryService/GetCurrentUser\",code=\"OK\"} 3"
    ));
    assert!(line("dealdesk_grpc_calls_in_flight 0"), "{scrape}");
    assert!(line("dealdesk_grpc_max_calls_in_flight 256"), "{scrape}");
    assert!(line("dealdesk_approvals_pending 0"), "{scrape}");
    assert!(line("dealdesk_approval_escalations_total 0"), "{scrape}");
    let max = match backend {
        Backend::Sqlite => 4,
        Backend::Postgres => 16,
    };
    assert!(
        line(&format!("dealdesk_db_pool_max_connections {max}")),
        "{scrape}"
    );
    assert!(
        http_get(metrics, "/other")
            .await
            .starts_with("HTTP/1.1 404")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_sqlite() {
    scrape_counts_rpcs_by_code(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_postgres() {
    scrape_counts_rpcs_by_code(Backend::Postgres).await;
}
