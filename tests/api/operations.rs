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
