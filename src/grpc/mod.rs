//! The gRPC front end: one thin adapter per service that authenticates, converts wire messages
//! into domain values, calls the use case and converts the answer back.

pub mod codec;
pub mod convert;
mod deal;
mod dealdesk;
mod directory;
pub mod error;
mod forecast;
mod import;
mod pipeline;
mod pipeline_metrics;
pub mod request_limits;
pub mod wire_counts;

pub use deal::DealApi;
pub use dealdesk::DealDeskApi;
pub use directory::DirectoryApi;
pub use forecast::ForecastApi;
pub use import::ImportApi;
pub use pipeline::PipelineApi;

use prost::Message;
use tonic::{Request, Status, metadata::MetadataMap};

use crate::app::ports::{Created, IdempotencyKey, Store};
use crate::app::{App, AppError, Principal};
use crate::domain::Violations;
use crate::domain::directory::UserId;
use crate::domain::paging::{PageToken, RequestId, page_size, query_fingerprint};

/// The bearer secret of a call, if it sent a well-formed `authorization` header.
fn bearer(metadata: &MetadataMap) -> Result<Option<&str>, AppError> {
    let Some(value) = metadata.get("authorization") else {
        return Ok(None);
    };
    let malformed = || AppError::Unauthenticated {
        reason: "MALFORMED_CREDENTIALS",
        message: "the authorization metadata must be `Bearer <token>`".into(),
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, secret) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
        return Err(malformed());
    }
    Ok(Some(secret.trim()))
}

/// Authenticates the caller of `request`.
pub(crate) async fn authenticate<S: Store, T>(
    app: &App<S>,
    request: &Request<T>,
) -> Result<Principal, Status> {
    let secret = bearer(request.metadata())?;
    Ok(app.authenticate(secret).await?)
}

/// INVALID_ARGUMENT from violations found while reading a request.
pub(crate) fn invalid(violations: Violations) -> Status {
    AppError::invalid(violations).into()
}

/// The idempotency key of a create, if the caller sent a request id.
pub(crate) fn idempotency_key(
    principal: Option<UserId>,
    method: &'static str,
    request_id: &str,
    request: &impl Message,
) -> Result<Option<IdempotencyKey>, Status> {
    let request_id = RequestId::parse(request_id).map_err(invalid)?;
    Ok(request_id.map(|request_id| IdempotencyKey {
        actor: principal,
        method,
        request_id,
        fingerprint: convert::fingerprint(request),
    }))
}

/// The wire answer of an idempotent create: the new resource, or the saved first answer.
pub(crate) fn created<T, W: Message + Default>(
    created: Created<T>,
    to_wire: impl FnOnce(&T) -> W,
) -> Result<W, Status> {
    match created {
        Created::New(value) => Ok(to_wire(&value)),
        Created::Replayed(bytes) => W::decode(bytes.as_slice())
            .map_err(|e| AppError::Storage(format!("saved response does not decode: {e}")).into()),
    }
}

/// Paging of one list call: how many, after which key, and how to make the next token.
pub(crate) struct Paging {
    /// Items to return.
    pub limit: u64,
    /// Key of the last item of the previous page.
    pub after: Option<String>,
    query: u64,
}

impl Paging {
    /// Reads `page_size` and `page_token` for the query described by `filters`.
    pub fn parse(page_size_value: i32, page_token: &str, filters: &[&str]) -> Result<Self, Status> {
        let mut violations = Violations::new();
        let limit = page_size(page_size_value).unwrap_or_else(|v| {
            violations.extend(v);
            0
        });
        let query = query_fingerprint(filters);
        let after = PageToken::decode(page_token, query).unwrap_or_else(|v| {
            violations.extend(v);
            None
        });
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        Ok(Self {
            limit,
            after: after.map(|t| t.after),
            query,
        })
    }

    /// The `after` key as a UUID (keys of this server's lists are UUIDs).
    pub fn after_uuid<I: From<uuid::Uuid>>(&self) -> Result<Option<I>, Status> {
        self.after
            .as_deref()
            .map(|key| {
                uuid::Uuid::parse_str(key).map(I::from).map_err(|_| {
                    invalid(Violations::one(
                        "page_token",
                        "is not a page token of this list",
                    ))
                })
            })
            .transpose()
    }

    /// The `after` key as a number (sequences and versions).
    pub fn after_number(&self) -> Result<Option<i64>, Status> {
        self.after
            .as_deref()
            .map(|key| {
                key.parse::<i64>().map_err(|_| {
                    invalid(Violations::one(
                        "page_token",
                        "is not a page token of this list",
                    ))
                })
            })
            .transpose()
    }

    /// The token of the next page: empty when `returned` did not fill the page.
    /// One page of a short list read whole ([`crate::domain::paging::page_by_key`]) and the
    /// token of the next page (empty on the last).
    pub fn page_of<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, String) {
        let (page, continue_after) =
            crate::domain::paging::page_by_key(items, self.after.as_deref(), self.limit, key);
        let token = continue_after.map_or_else(String::new, |after| {
            PageToken {
                query: self.query,
                after,
            }
            .encode()
        });
        (page, token)
    }

    pub fn next_token(&self, returned: usize, last_key: Option<String>) -> String {
        match last_key {
            Some(after) if returned as u64 == self.limit => PageToken {
                query: self.query,
                after,
            }
            .encode(),
            _ => String::new(),
        }
    }
}

/// Events read per query of a stream.
pub(crate) const EVENT_BATCH: u64 = 200;

/// What wakes an open event stream; it sleeps otherwise, costing no query.
pub(crate) struct Wakeups {
    /// Marked at news in the stream's log (see [`ChangeNotifier`](crate::app::ports::ChangeNotifier)).
    pub news: tokio::sync::watch::Receiver<u64>,
    /// Marked when a token was revoked or a user changed: rights are checked again.
    pub directory: tokio::sync::watch::Receiver<u64>,
    /// Set when the server stops.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl Wakeups {
    /// The wake-ups of a stream of `log`.
    pub fn of<S: Store>(
        app: &App<S>,
        log: crate::app::ports::Topic,
        stopping: &tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        use crate::app::ports::Topic;
        Self {
            news: app.store.subscribe(log),
            directory: app.store.subscribe(Topic::Directory),
            stopping: stopping.clone(),
        }
    }
}

/// How long a stream whose read found the database busy waits before reading again.
const BUSY_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// A server stream that follows an event log: sends every event after `after`, then sleeps
/// until news, and reads again, until the client goes away or the server stops.
///
/// `read(after, events)` checks the caller's rights again (an error ends the stream with it)
/// and, when `events`, fetches the next batch (numbered by `number`). Rights are checked
/// with every read of news, at every directory change and at least every
/// [`RIGHTS_RECHECK`](crate::app::watch::RIGHTS_RECHECK); events are read only at news. The
/// stream holds `slot` (its place within the stream limits) until it ends.
pub(crate) fn follow<T, W, F, Fut>(
    mut after: i64,
    mut wake: Wakeups,
    slot: crate::app::watch::StreamSlot,
    read: F,
    number: fn(&T) -> i64,
    to_wire: fn(&T) -> W,
) -> tokio_stream::wrappers::ReceiverStream<Result<W, Status>>
where
    T: Send + 'static,
    W: Send + 'static,
    F: Fn(i64, bool) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Vec<T>, AppError>> + Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let _slot = slot;
        let mut news = true;
        loop {
            if news {
                // News from now on wakes the stream again, even while this read runs.
                wake.news.borrow_and_update();
            }
            let events = match read(after, news).await {
                Ok(events) => events,
                // No connection came free in time (a flood of writes holds the pool): the
                // stream is not at fault, so it waits and reads again instead of ending.
                Err(AppError::Busy) => {
                    tokio::select! {
                        _ = tokio::time::sleep(BUSY_BACKOFF) => continue,
                        _ = tx.closed() => return,
                        _ = wake.stopping.wait_for(|s| *s) => return,
                    }
                }
                Err(err) => {
                    let _ = tx.send(Err(err.into())).await;
                    return;
                }
            };
            let full = events.len() as u64 == EVENT_BATCH;
            for event in events {
                after = number(&event);
                if tx.send(Ok(to_wire(&event))).await.is_err() {
                    return; // the client went away
                }
            }
            if full {
                continue;
            }
            news = tokio::select! {
                changed = wake.news.changed() => match changed {
                    Ok(()) => true,
                    Err(_) => return, // the notifier is gone: the server is stopping
                },
                changed = wake.directory.changed() => match changed {
                    Ok(()) => false,
                    Err(_) => return,
                },
                _ = tokio::time::sleep(crate::app::watch::RIGHTS_RECHECK) => false,
                _ = tx.closed() => return,
                _ = wake.stopping.wait_for(|s| *s) => return,
            };
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
