//! Issue 20's heavy-read flood: one user's latency while another token floods the server with
//! ListDeals, against the same calls with none.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dealdesk::app::App;
use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use tonic::transport::Channel;

use crate::Run;
use crate::common::{authed, person};
use crate::measure::{Row, push};

pub async fn measure(run: &Run<'_>, rows: &mut Vec<Row>) {
    let Run {
        engine,
        store,
        token,
        endpoint,
        ..
    } = run;
    let (manager, window) = (run.manager, run.window);
    // Issue 20's heavy-read flood: 200 concurrent ListDeals of 500 a page from one token
    // (on 4 connections of its own) for the window, while another user calls
    // GetCurrentUser one call after another on a connection of their own: that user's
    // latency under the flood, against the same calls with none.
    let app = App::new((*store).clone());
    let other = person(&app, Role::Rep, Some(manager), 900_000).await;
    let other_token = app
        .issue_token_as(None, other.id, "bench-flood")
        .await
        .unwrap()
        .secret;
    let own = Channel::from_shared(endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let others_calls = |until: Instant| {
        let mut client = pb::directory_service_client::DirectoryServiceClient::new(own.clone());
        let token = other_token.clone();
        async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                client
                    .get_current_user(authed(&token, pb::GetCurrentUserRequest {}))
                    .await
                    .expect("the other user is served");
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            latencies
        }
    };
    let quiet = others_calls(Instant::now() + window).await;
    let mut flooders = Vec::new();
    for _ in 0..4 {
        let endpoint = Channel::from_shared(endpoint.clone()).unwrap();
        flooders.push(endpoint.connect().await.unwrap());
    }
    let until = Instant::now() + window;
    let (answered, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let mut client =
                pb::deal_service_client::DealServiceClient::new(flooders[i % 4].clone());
            let (token, answered, refused) = (token.clone(), answered.clone(), refused.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let request = pb::ListDealsRequest {
                        page_size: 500,
                        ..Default::default()
                    };
                    match client.list_deals(authed(&token, request)).await {
                        Ok(_) => answered.fetch_add(1, Ordering::Relaxed),
                        Err(_) => refused.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let flooded = others_calls(until).await;
    for task in flood {
        task.await.unwrap();
    }
    let spread = |mut ms: Vec<f64>| {
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        (at(0.5), at(0.99))
    };
    let (under, baseline) = (spread(flooded), spread(quiet));
    println!(
        "[{engine}] flood: {} ListDeals answered, {} refused in {:?}",
        answered.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        window
    );
    push(
        rows,
        engine,
        "GetCurrentUser under 200 ListDeals of 500 from another token",
        "ms",
        under,
        baseline.0,
        ("p99 < 100 ms", under.1 < 100.0),
    );
}
