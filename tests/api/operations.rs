//! Operations: health follows the database, shutdown drains and stops.

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::contract_test;

contract_test!(health_is_serving_without_a_token, |app| {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    for service in [
        "",
        "dealdesk.v1.DirectoryService",
        "dealdesk.v1.PipelineService",
    ] {
        let mut status = ServingStatus::Unknown as i32;
        for _ in 0..50 {
            match health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
            {
                Ok(answer) => {
                    status = answer.into_inner().status;
                    break;
                }
                // The watcher may not have reported yet.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
});

contract_test!(the_server_stops_cleanly_when_asked, |app| {
    let mut directory = app.directory().await;
    directory
        .get_current_user(crate::helpers::authed(
            &app.admin_token,
            dealdesk::proto::GetCurrentUserRequest {},
        ))
        .await
        .unwrap();
    app.shutdown().await.expect("a clean stop");
});

async fn health_status(app: &crate::helpers::TestApp) -> i32 {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "dealdesk.v1.PipelineService".into(),
        })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(ServingStatus::Unknown as i32)
}

async fn wait_for(app: &crate::helpers::TestApp, wanted: ServingStatus) {
    for _ in 0..150 {
        if health_status(app).await == wanted as i32 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("health never became {wanted:?}");
}

/// Health follows the database: NOT_SERVING while PostgreSQL refuses connections to it, SERVING
/// again once it accepts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_database_on_postgres() {
    use sea_orm::{ConnectionTrait, Database};
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL must be configured in CI"
        );
        return;
    };
    wait_for(&app, ServingStatus::Serving).await;
    let base = std::env::var(crate::helpers::POSTGRES_URL_VAR).unwrap();
    let name = app.database_url.rsplit('/').next().unwrap().to_string();
    let server = Database::connect(base.as_str()).await.unwrap();
    server
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    server
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();
    wait_for(&app, ServingStatus::NotServing).await;
    server
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    wait_for(&app, ServingStatus::Serving).await;
}
