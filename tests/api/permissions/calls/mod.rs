//! The case table: one call per RPC, made as any caller, with what it needs prepared first;
//! the rows of each service in a file of their own.

use super::*;

/// A request with the caller's credentials, if any.
fn req<T>(token: Option<&str>, message: T) -> Request<T> {
    match token {
        Some(token) => authed(token, message),
        None => Request::new(message),
    }
}

const ENDED_PERIOD: &str = "2026-Q1";

/// An update of the fresh deal's field `path` to its value in `fields`.
fn update_fresh(fresh: &Fresh, fields: pb::Deal, path: &str) -> pb::UpdateDealRequest {
    pb::UpdateDealRequest {
        deal: Some(pb::Deal {
            name: fresh.deal.name.clone(),
            ..fields
        }),
        update_mask: mask(&[path]),
    }
}

/// A seller's call: commit and best case.
fn seller_call() -> (Option<pb::Money>, Option<pb::Money>) {
    (usd(1_000_000), usd(2_000_000))
}

fn done<T>(result: Result<tonic::Response<T>, Status>) -> Answer {
    result.map(|_| true)
}

/// The first message of an event stream (the fixture has events for every caller who may
/// watch them).
async fn first<T>(result: Result<tonic::Response<Streaming<T>>, Status>) -> Answer {
    let mut stream = result?.into_inner();
    match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
        Ok(message) => Ok(message?.is_some()),
        Err(_) => panic!("no event within 10 s on a stream the caller may watch"),
    }
}

/// A row of the call table: `call!(key, needs, |matrix, fresh, token| { body })`, where the body
/// is an async block's.
macro_rules! call {
    ($key:literal, $needs:expr, |$org:tt, $fresh:tt, $token:tt| $body:block) => {
        Call {
            key: $key,
            needs: $needs,
            call: |$org, $fresh, $token| Box::pin(async move $body),
        }
    };
}

// After the macro: the rows use it.
mod deal_desk;
mod deals;
mod directory;
mod forecasts;
mod import;
mod pipelines;

/// The call behind every row of the matrix, in the matrix's order.
fn calls() -> Vec<Call> {
    [
        directory::calls(),
        pipelines::calls(),
        deals::calls(),
        forecasts::calls(),
        deal_desk::calls(),
        import::calls(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The call behind the matrix row `key`.
pub(super) fn call_of(key: &str) -> Call {
    calls()
        .into_iter()
        .find(|call| call.key == key)
        .unwrap_or_else(|| panic!("the matrix row {key:?} has no call behind it"))
}
