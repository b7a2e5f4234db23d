//! Connections that cannot be held: a new connection must send its first request within the
//! first-request deadline or be closed, and beyond the cap of open connections a new one is
//! closed as soon as it is accepted, while the server keeps answering everyone else.

use std::time::{Duration, Instant};

use dealdesk::connection::ConnectionLimits;
use dealdesk::startup::Application;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::contract_test;
use crate::helpers::TestApp;

/// The HTTP/2 connection preface a client sends first.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection that sends the HTTP/2 preface (or nothing) and then stays silent.
async fn silent(app: &TestApp, preface: bool) -> TcpStream {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    if preface {
        stream.write_all(PREFACE).await.unwrap();
    }
    stream
}

/// Whether the server closed `stream` within `within`: reads (discarding the server's SETTINGS)
/// until the end of the stream or an error.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

/// The health check over a fresh connection.
async fn healthy(app: &TestApp) -> bool {
    let channel = Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await;
    let Ok(channel) = channel else { return false };
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .is_ok()
}

const DEADLINE: Duration = Duration::from_millis(600);

contract_test!(
    connections_that_never_send_a_request_are_closed_at_the_first_request_deadline,
    configure = |a: Application| a.with_connection_limits(ConnectionLimits {
        first_request: Some(DEADLINE),
        ..ConnectionLimits::default()
    }),
    |app| {
        let opened = Instant::now();
        let mut held = Vec::new();
        for i in 0..30 {
            held.push(silent(&app, i % 6 != 0).await);
        }
        // Everyone else is still served meanwhile.
        assert!(healthy(&app).await);
        for stream in &mut held {
            assert!(closed_within(stream, Duration::from_secs(5)).await);
        }
        let elapsed = opened.elapsed();
        assert!(elapsed >= DEADLINE, "closed after {elapsed:?}");
        assert!(healthy(&app).await);
    }
);

contract_test!(
    beyond_the_connection_cap_a_new_connection_is_closed_at_once,
    configure = |a: Application| a.with_connection_limits(ConnectionLimits {
        max_connections: 4,
        first_request: None,
        ..ConnectionLimits::default()
    }),
    |app| {
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(silent(&app, true).await);
        }
        // The four slots are taken: a fifth connection is closed without an answer.
        let mut fifth = silent(&app, true).await;
        assert!(closed_within(&mut fifth, Duration::from_secs(2)).await);
        assert!(!healthy(&app).await);
        for stream in &mut held {
            assert!(!closed_within(stream, Duration::from_millis(50)).await);
        }
        // A slot comes back when its connection closes.
        drop(held.pop());
        let mut served = false;
        for _ in 0..50 {
            if healthy(&app).await {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(served);
    }
);

contract_test!(
    a_connection_that_does_not_answer_keepalive_pings_is_closed,
    configure = |a: Application| a.with_connection_limits(ConnectionLimits {
        first_request: None,
        keepalive_interval: Some(Duration::from_millis(300)),
        keepalive_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    }),
    |app| {
        // The preface and an empty SETTINGS frame (length 0, type 4, no flags, stream 0): a
        // client that opened HTTP/2 and then went away without closing, so it answers no PING.
        let mut stream = silent(&app, true).await;
        stream
            .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
            .await
            .unwrap();
        assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
        assert!(healthy(&app).await);
    }
);

contract_test!(the_store_sets_each_engines_session_settings, |app| {
    use sea_orm::ConnectionTrait;
    let db = dealdesk::persistence::connect(&app.database_url)
        .await
        .unwrap();
    let backend = db.get_database_backend();
    let setting = |sql: &'static str| {
        let db = &db;
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(backend, sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0).unwrap()
        }
    };
    match app.backend {
        // WAL with synchronous FULL (2): an acknowledged write survives a power cut.
        crate::helpers::Backend::Sqlite => {
            assert_eq!(setting("PRAGMA journal_mode").await, "wal");
            let sync = db
                .query_one_raw(sea_orm::Statement::from_string(
                    backend,
                    "PRAGMA synchronous",
                ))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(sync.try_get_by_index::<i32>(0).unwrap(), 2);
        }
        // Every statement planned for its own values, never a prepared statement's generic plan.
        crate::helpers::Backend::Postgres => {
            assert_eq!(setting("SHOW plan_cache_mode").await, "force_custom_plan");
        }
    }
    db.close().await.unwrap();
});
