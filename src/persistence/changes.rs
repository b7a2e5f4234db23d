//! The change notifier behind [`ChangeNotifier`]: one hub per store (shared by its clones) that
//! wakes the event streams of this process when a log or the directory may have changed.
//!
//! - **SQLite** (one process): a write raises its topic itself, once its transaction committed.
//! - **PostgreSQL** (several replicas): a write sends `NOTIFY dealdesk_changes, '<topic>'` inside
//!   its transaction, delivered to every replica at commit (never for a rollback); one
//!   listener connection per process raises the topic. After the listener lost its connection
//!   it raises every topic, since notifications sent meanwhile are gone.
//! - **Both**: a slow poll of each log's newest number (and of rows not yet numbered) raises what
//!   changed, so a notification that never came (another process writing SQLite, a listener
//!   down) delays an event by at most the poll's interval, never loses it.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, Statement};
use tokio::sync::watch;

use super::SqlStore;
use crate::app::ports::{ChangeNotifier, Topic};

/// The PostgreSQL channel every replica listens on.
const CHANNEL: &str = "dealdesk_changes";

/// How long the listener waits before connecting again after a failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// One counter per topic, bumped at each notification.
#[derive(Debug)]
pub(crate) struct ChangeHub {
    deal_events: watch::Sender<u64>,
    approval_events: watch::Sender<u64>,
    directory: watch::Sender<u64>,
}

impl Default for ChangeHub {
    fn default() -> Self {
        Self {
            deal_events: watch::Sender::new(0),
            approval_events: watch::Sender::new(0),
            directory: watch::Sender::new(0),
        }
    }
}

impl ChangeHub {
    fn sender(&self, topic: Topic) -> &watch::Sender<u64> {
        match topic {
            Topic::DealEvents => &self.deal_events,
            Topic::ApprovalEvents => &self.approval_events,
            Topic::Directory => &self.directory,
        }
    }

    /// Wakes every subscriber of `topic`.
    pub(crate) fn raise(&self, topic: Topic) {
        self.sender(topic).send_modify(|n| *n = n.wrapping_add(1));
    }

    fn raise_all(&self) {
        for topic in [Topic::DealEvents, Topic::ApprovalEvents, Topic::Directory] {
            self.raise(topic);
        }
    }
}

fn payload(topic: Topic) -> &'static str {
    match topic {
        Topic::DealEvents => "deal_events",
        Topic::ApprovalEvents => "approval_events",
        Topic::Directory => "directory",
    }
}

fn topic_of(text: &str) -> Option<Topic> {
    [Topic::DealEvents, Topic::ApprovalEvents, Topic::Directory]
        .into_iter()
        .find(|t| payload(*t) == text)
}

/// On PostgreSQL, queues the notification of `topic` in `txn`: every replica gets it when (and
/// only if) the transaction commits. Nothing on SQLite (see [`SqlStore::committed`]).
pub(crate) async fn notify_in(txn: &DatabaseTransaction, topic: Topic) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_notify('{CHANNEL}', '{}')",
            payload(topic)
        ))
        .await?;
    }
    Ok(())
}

impl ChangeNotifier for SqlStore {
    fn subscribe(&self, topic: Topic) -> watch::Receiver<u64> {
        self.changes.sender(topic).subscribe()
    }
}

/// What the backstop poll saw of one log last time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct LogMark {
    newest: i64,
    waiting: bool,
}

impl SqlStore {
    /// After a write of `topic` committed: on SQLite, wakes this process's subscribers (on
    /// PostgreSQL the transaction's NOTIFY does, on every replica).
    pub(crate) fn committed(&self, topic: Topic) {
        if self.db.get_database_backend() != DatabaseBackend::Postgres {
            self.changes.raise(topic);
        }
    }

    /// Runs the notifier's background work until dropped: the PostgreSQL listener (reconnecting
    /// on loss) and the backstop poll every `poll`.
    pub async fn watch_for_changes(self, poll: Duration) {
        let listener = async {
            if self.db.get_database_backend() == DatabaseBackend::Postgres {
                self.listen().await
            } else {
                std::future::pending().await
            }
        };
        tokio::join!(listener, self.poll_logs(poll));
    }

    /// Raises what other replicas notify, for as long as the process runs.
    async fn listen(&self) {
        // Its own connection, beside the pool's (which it would hold one of for good).
        let options = self.db.get_postgres_connection_pool().connect_options();
        let pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*options).clone());
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(%err, "change listener: cannot connect; retrying");
                    tokio::time::sleep(RECONNECT_DELAY).await;
                    continue;
                }
            };
            if let Err(err) = listener.listen(CHANNEL).await {
                tracing::warn!(%err, "change listener: LISTEN failed; retrying");
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
            // What was written while nobody listened is news now.
            self.changes.raise_all();
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => match topic_of(notification.payload()) {
                        Some(Topic::Directory) => {
                            // Another replica revoked a token or changed a user: forget what
                            // this one cached of them before the streams check again.
                            self.caches.directory_changed();
                            self.changes.raise(Topic::Directory);
                        }
                        Some(topic) => self.changes.raise(topic),
                        None => {}
                    },
                    // The connection was lost and is being made again: what was sent meanwhile
                    // is lost, so everyone reads again.
                    Ok(None) => {
                        tracing::warn!("change listener: connection lost; reconnected");
                        self.changes.raise_all();
                    }
                    Err(err) => {
                        tracing::warn!(%err, "change listener failed; reconnecting");
                        tokio::time::sleep(RECONNECT_DELAY).await;
                        break;
                    }
                }
            }
        }
    }

    /// The backstop: every `every`, raises each log whose newest number moved or that has rows
    /// not yet numbered.
    async fn poll_logs(&self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate: streams read when they open
        let mut last: Option<[LogMark; 2]> = None;
        loop {
            ticks.tick().await;
            let marks = match self.log_marks().await {
                Ok(marks) => marks,
                Err(err) => {
                    tracing::warn!(%err, "change poll failed");
                    continue;
                }
            };
            for (i, topic) in [Topic::DealEvents, Topic::ApprovalEvents]
                .into_iter()
                .enumerate()
            {
                let moved = last.is_some_and(|last| last[i].newest != marks[i].newest);
                if moved || marks[i].waiting {
                    self.changes.raise(topic);
                }
            }
            last = Some(marks);
        }
    }

    /// Each log's newest number and whether rows wait for one: one indexed read each.
    async fn log_marks(&self) -> Result<[LogMark; 2], DbErr> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT (SELECT COALESCE(MAX(seq), 0) FROM deal_events) AS deals_newest, \
                        (SELECT COUNT(*) FROM (SELECT 1 FROM deal_events WHERE seq IS NULL LIMIT 1) w) AS deals_waiting, \
                        (SELECT COALESCE(MAX(seq), 0) FROM approval_events) AS approvals_newest, \
                        (SELECT COUNT(*) FROM (SELECT 1 FROM approval_events WHERE seq IS NULL LIMIT 1) w) AS approvals_waiting",
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("log marks".into()))?;
        let mark = |newest: &str, waiting: &str| -> Result<LogMark, DbErr> {
            Ok(LogMark {
                newest: row.try_get::<i64>("", newest)?,
                waiting: row.try_get::<i64>("", waiting)? > 0,
            })
        };
        Ok([
            mark("deals_newest", "deals_waiting")?,
            mark("approvals_newest", "approvals_waiting")?,
        ])
    }
}
