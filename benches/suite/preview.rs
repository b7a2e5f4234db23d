//! PreviewApprovalRoute vs the gRPC health Check on the same server, beside GetUser (one row
//! read by key) vs the same Check: the ceiling of any call that reads the database.

use std::sync::Arc;

use dealdesk::proto as pb;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::Run;
use crate::advance::Moves;
use crate::common::authed;
use crate::measure::{REFERENCE, Row, push, throughput};

pub async fn measure(run: &Run<'_>, moves: &Moves, rows: &mut Vec<Row>) {
    let Run {
        engine,
        token,
        endpoint,
        ..
    } = run;
    let (manager, window) = (run.manager, run.window);
    // PreviewApprovalRoute vs the health Check: 64 in flight over 4 connections. The three
    // calls take turns in short windows, so a change in the machine's load during the
    // measurement weighs on each alike rather than on whichever ran last.
    let (id, _, _) = moves[0].clone();
    let mut channels = Vec::new();
    for _ in 0..4 {
        let endpoint = Channel::from_shared(endpoint.clone()).unwrap();
        channels.push(endpoint.connect().await.unwrap());
    }
    let channels = Arc::new(channels);
    let (c1, token3) = (channels.clone(), token.clone());
    let preview_call = move |worker: usize, _| {
        let mut client =
            pb::deal_desk_service_client::DealDeskServiceClient::new(c1[worker % 4].clone());
        let (token, id) = (token3.clone(), id.clone());
        async move {
            client
                .preview_approval_route(authed(
                    &token,
                    pb::PreviewApprovalRouteRequest {
                        deal: format!("deals/{id}"),
                        discount_bps: 2200,
                        clauses: vec!["MUTUAL_NDA".into(), "UNCAPPED".into()],
                        payment_days: 60,
                        ..Default::default()
                    },
                ))
                .await
                .is_ok()
        }
    };
    let c2 = channels.clone();
    let health_call = move |worker: usize, _| {
        let mut client = HealthClient::new(c2[worker % 4].clone());
        async move { client.check(HealthCheckRequest::default()).await.is_ok() }
    };
    // The ceiling of any call that reads the database, against the same health Check:
    // GetUser authenticates (cached) and reads one row by its key, nothing else.
    let (c3, token4) = (channels.clone(), token.clone());
    let get_user_call = move |worker: usize, _| {
        let mut client =
            pb::directory_service_client::DirectoryServiceClient::new(c3[worker % 4].clone());
        let request = pb::GetUserRequest {
            name: format!("users/{}", manager.0),
        };
        let token = token4.clone();
        async move { client.get_user(authed(&token, request)).await.is_ok() }
    };
    const TURNS: u32 = 5;
    let turn = window / TURNS;
    let (mut preview, mut health, mut get_user) = (0.0, 0.0, 0.0);
    for _ in 0..TURNS {
        preview += throughput(64, turn, preview_call.clone()).await.0 / f64::from(TURNS);
        health += throughput(64, turn, health_call.clone()).await.0 / f64::from(TURNS);
        get_user += throughput(64, turn, get_user_call.clone()).await.0 / f64::from(TURNS);
    }
    let ratio = preview / health;
    push(
        rows,
        engine,
        "PreviewApprovalRoute, 64 in flight",
        "calls/s",
        (preview, preview),
        health,
        (">= 70% of health Check", ratio >= 0.7),
    );
    push(
        rows,
        engine,
        "reference: GetUser (one row), 64 in flight",
        "calls/s",
        (get_user, get_user),
        health,
        (REFERENCE, true),
    );
}
