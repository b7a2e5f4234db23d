//! Storage on SQLite or PostgreSQL through sea-orm: the [`SqlStore`] behind the app's ports.
//!
//! Every write is one transaction that also appends its audit row. On SQLite, write
//! transactions start `IMMEDIATE` so two writers queue on the lock instead of failing half-way;
//! on PostgreSQL, changes to the reporting tree take a transaction-scoped advisory lock so two
//! concurrent manager changes cannot close a cycle together.

mod cache;
mod changes;
mod codec;
mod dealdesk;
mod deals;
mod directory;
pub mod entities;
mod field_history;
mod forecast;
mod imports;
mod period_rates;
mod pipeline_metrics;
mod pipelines;

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveValue::Set, ConnAcquireErr, ConnectOptions, ConnectionTrait, Database, DatabaseBackend,
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::app::AppError;
use crate::app::ports::{AuditEntry, Created, IdempotencyKey, IdempotentWrite, Store, StoreGauges};
use entities::{audit_event, idempotency_key};

/// The SQL store. Cheap to clone: the pool is shared.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
    /// Shared by every clone: a write through any of them empties what it affects.
    caches: std::sync::Arc<cache::Caches>,
    /// Shared by every clone: one change notifier per process ([`changes`]).
    changes: std::sync::Arc<changes::ChangeHub>,
    /// Shared by every clone: the event logs' sequencer runs.
    sequencing: std::sync::Arc<Sequencing>,
    /// SQL statements run through the connection (and its transactions), ever.
    statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Connections in the pool, on SQLite (one writer at a time; readers share the file).
const SQLITE_POOL: u32 = 4;
/// Connections in the pool, on PostgreSQL, per replica.
const POSTGRES_POOL: u32 = 16;
/// How long a call waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Rows per multi-row insert: each statement stays under SQLite's bound-parameter limit.
const CHUNK: usize = 400;

/// Opens (and on SQLite creates) the database at `url`.
///
/// SQLite runs in WAL mode with `synchronous=FULL`: an acknowledged write survives a power cut.
/// Pooled connections are not pinged on every checkout (see below).
/// sqlx's per-query logs are lowered to DEBUG so INFO logs stay readable.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_string());
    // A call that cannot get a connection within the acquire timeout is answered UNAVAILABLE
    // (`DATABASE_BUSY`, with a RetryInfo) rather than queued for long.
    options
        .sqlx_logging(true)
        .sqlx_logging_level(tracing::log::LevelFilter::Debug)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(ACQUIRE_TIMEOUT);
    if url.starts_with("sqlite:") {
        // An SQLite connection lives in this process and cannot be dropped by a server or a
        // network: the pool's default ping before every checkout is a wasted round trip to the
        // connection's thread.
        options.test_before_acquire(false);
        options
            .max_connections(SQLITE_POOL)
            .map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
    } else {
        // A connection that has been busy is alive: only one idle for a while (which a server
        // restart, a proxy or a firewall may have dropped) is pinged before it is handed out,
        // not every checkout (a round trip each).
        //
        // Every statement is planned for its own values (`plan_cache_mode`): sqlx prepares
        // statements, and after five executions PostgreSQL may keep a generic plan that ignores
        // them: a forecast of a wide scope (its owners as a list of a hundred parameters) then
        // read far more than its deals (BENCHMARKS.md).
        options
            .max_connections(POSTGRES_POOL)
            .test_before_acquire_if_idle_for(Duration::from_secs(5))
            .map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
    }
    Database::connect(options).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

impl SqlStore {
    /// A store over an open, migrated connection.
    pub fn new(mut db: DatabaseConnection) -> Self {
        let statements = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        Self {
            db,
            caches: Default::default(),
            changes: Default::default(),
            sequencing: Default::default(),
            statements,
        }
    }

    /// How many connections its pool holds.
    pub fn pool_size(&self) -> usize {
        match self.db.get_database_backend() {
            DatabaseBackend::Sqlite => SQLITE_POOL as usize,
            _ => POSTGRES_POOL as usize,
        }
    }

    /// SQL statements this store (and its clones) ran so far: what idle work costs shows here.
    pub fn statements_run(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The connection, for operations outside the ports (migrations, tests).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Starts a write transaction (IMMEDIATE on SQLite).
    async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
    }

    /// Runs `write` in one write transaction together with its audit rows and (for a request
    /// with a request id) its idempotency record. A retry whose first attempt committed gets the
    /// saved answer instead, also when the two raced: the loser's unique-key failure is answered
    /// with the winner's response.
    pub(crate) async fn write_once(
        &self,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
        write: impl AsyncFnOnce(&DatabaseTransaction) -> Result<(), AppError>,
    ) -> Result<Created<()>, AppError> {
        let key = idempotency.as_ref().map(|w| w.key.clone());
        let result = async {
            let txn = self.begin_write().await.map_err(storage)?;
            if let Some(key) = &key
                && let Some(saved) = find_idempotent(&txn, key).await?
            {
                return Ok(Created::Replayed(saved));
            }
            write(&txn).await?;
            for entry in audit {
                record_audit(&txn, entry).await.map_err(storage)?;
            }
            if let Some(write) = idempotency {
                save_idempotent(&txn, write).await.map_err(storage)?;
            }
            txn.commit().await.map_err(storage)?;
            Ok(Created::New(()))
        }
        .await;
        match (result, key) {
            (Err(err), Some(key)) => match find_idempotent(&self.db, &key).await? {
                Some(saved) => Ok(Created::Replayed(saved)),
                None => Err(err),
            },
            (result, _) => result,
        }
    }

    /// Serialises changes to the reporting tree on PostgreSQL (SQLite's IMMEDIATE lock already
    /// does).
    async fn lock_reporting_tree(&self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        self.advisory_lock(txn, Lock::ReportingTree).await
    }

    /// Takes a transaction-scoped advisory lock on PostgreSQL; on SQLite the IMMEDIATE write
    /// transaction already serialises writers.
    async fn advisory_lock(&self, txn: &DatabaseTransaction, lock: Lock) -> Result<(), DbErr> {
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({})", lock as i64))
                .await?;
        }
        Ok(())
    }
}

impl SqlStore {
    /// Numbers the rows of an event log committed since the last run, in id order, after the
    /// highest number given so far.
    ///
    /// Ids come from a sequence when a row is inserted, so on PostgreSQL a transaction can
    /// commit a smaller id after a reader already went past it. Numbers are instead given
    /// here, one run at a time (an advisory lock; SQLite's write lock), to rows already
    /// committed: a row numbered later always gets a larger number, and a reader that resumes
    /// "after number N" misses nothing. Writers are never serialised by this.
    ///
    /// Runs are shared: the streams a notification wakes all at once call this together, and
    /// one run begun after a caller arrived has numbered everything committed before it, so
    /// that caller needs no run of its own (one query for all of them, not one each).
    pub(crate) async fn sequence_events(&self, table: EventLog) -> Result<(), DbErr> {
        let (name, lock, runs) = match table {
            EventLog::Approvals => (
                "approval_events",
                Lock::ApprovalEvents,
                &self.sequencing.approvals,
            ),
            EventLog::Deals => ("deal_events", Lock::DealEvents, &self.sequencing.deals),
        };
        let arrived = runs.begun.load(std::sync::atomic::Ordering::Acquire);
        let _turn = runs.turn.lock().await;
        if runs.begun.load(std::sync::atomic::Ordering::Acquire) > arrived {
            return Ok(()); // a run that began after this call arrived has finished
        }
        runs.begun.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let waiting = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT id FROM {name} WHERE seq IS NULL LIMIT 1"),
            ))
            .await?;
        if waiting.is_none() {
            return Ok(());
        }
        let txn = self.begin_write().await?;
        self.advisory_lock(&txn, lock).await?;
        txn.execute_unprepared(&format!(
            "UPDATE {name} SET seq = r.base + r.rn \
             FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn, \
                          (SELECT COALESCE(MAX(seq), 0) FROM {name}) AS base \
                   FROM {name} WHERE seq IS NULL) AS r \
             WHERE {name}.id = r.id"
        ))
        .await?;
        txn.commit().await
    }
}

/// The runs of [`SqlStore::sequence_events`] of each log, shared by every clone of a store.
#[derive(Debug, Default)]
struct Sequencing {
    approvals: SequencerRuns,
    deals: SequencerRuns,
}

/// One log's sequencer runs: one at a time, counted as they begin.
#[derive(Debug, Default)]
struct SequencerRuns {
    /// Held for a run (an async mutex: held across the run's queries).
    turn: tokio::sync::Mutex<()>,
    /// Runs begun so far.
    begun: std::sync::atomic::AtomicU64,
}

/// The event logs numbered by [`SqlStore::sequence_events`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum EventLog {
    /// `approval_events`.
    Approvals,
    /// `deal_events`.
    Deals,
}

/// PostgreSQL advisory locks, one number each.
#[derive(Debug, Clone, Copy)]
enum Lock {
    /// Changes to the reporting tree (no two concurrent changes close a cycle).
    ReportingTree = 7_242_001,
    /// New delegations (no two concurrent delegations close a cycle).
    Delegations = 7_242_002,
    /// Numbering the approval event log.
    ApprovalEvents = 7_242_003,
    /// Numbering the deal event log.
    DealEvents = 7_242_004,
}

impl Store for SqlStore {
    async fn ping(&self) -> bool {
        self.db.ping().await.is_ok()
    }

    async fn operations_gauges(&self) -> Result<StoreGauges, AppError> {
        let (pool_open, pool_idle, pool_max) = match self.db.get_database_backend() {
            DatabaseBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle() as u32,
                    pool.options().get_max_connections(),
                )
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle() as u32,
                    pool.options().get_max_connections(),
                )
            }
        };
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                "SELECT (SELECT COUNT(*) FROM approval_requests WHERE state = 'PENDING') AS pending, \
                        (SELECT COUNT(*) FROM approval_events WHERE kind = 'ESCALATED') AS escalations",
            ))
            .await
            .map_err(storage)?;
        let (approvals_pending, escalations) = match row {
            Some(row) => (
                row.try_get::<i64>("", "pending").map_err(storage)?,
                row.try_get::<i64>("", "escalations").map_err(storage)?,
            ),
            None => (0, 0),
        };
        Ok(StoreGauges {
            pool_open,
            pool_idle,
            pool_max,
            approvals_pending,
            escalations,
        })
    }
}

/// A database failure the caller cannot fix: logged by the gRPC layer, answered generically.
pub(crate) fn storage(err: DbErr) -> AppError {
    match err {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => AppError::Busy,
        err => AppError::Storage(err.to_string()),
    }
}

/// Whether `err` is a unique violation whose message names `needle` (a column or table).
pub(crate) fn is_unique_violation(err: &DbErr, needle: &str) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(msg)) if msg.contains(needle))
}

fn actor_key(actor: Option<crate::domain::directory::UserId>) -> String {
    actor.map(|id| id.0.to_string()).unwrap_or_default()
}

/// Appends an audit row inside `txn`.
pub(crate) async fn record_audit(
    txn: &DatabaseTransaction,
    entry: AuditEntry,
) -> Result<(), DbErr> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        actor_id: Set(entry.actor.map(|id| id.0.to_string())),
        action: Set(entry.action.to_string()),
        resource: Set(entry.resource),
        detail: Set(entry.detail),
        created_at: Set(chrono::Utc::now()),
        field: Set(entry.change.as_ref().map(|c| c.field.clone())),
        old_value: Set(entry.change.as_ref().map(|c| c.old.clone())),
        new_value: Set(entry.change.map(|c| c.new)),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    Ok(())
}

/// The saved answer for `key`, checking the request is the same one.
pub(crate) async fn find_idempotent<C: ConnectionTrait>(
    conn: &C,
    key: &IdempotencyKey,
) -> Result<Option<Vec<u8>>, AppError> {
    let row = idempotency_key::Entity::find_by_id((
        actor_key(key.actor),
        key.method.to_string(),
        key.request_id.as_str().to_string(),
    ))
    .one(conn)
    .await
    .map_err(storage)?;
    match row {
        Some(row) if row.fingerprint != key.fingerprint => Err(AppError::InvalidArgument {
            reason: "REQUEST_ID_REUSED",
            violations: crate::domain::Violations::one_as(
                crate::domain::Problem::RequestIdReused,
                "request_id",
                "was already used for a different request; use a new request id",
            ),
        }),
        Some(row) => Ok(Some(row.response)),
        None => Ok(None),
    }
}

/// Saves the answer of a create under its key, inside the create's transaction.
pub(crate) async fn save_idempotent(
    txn: &DatabaseTransaction,
    write: IdempotentWrite,
) -> Result<(), DbErr> {
    idempotency_key::Entity::insert(idempotency_key::ActiveModel {
        actor_id: Set(actor_key(write.key.actor)),
        method: Set(write.key.method.to_string()),
        request_id: Set(write.key.request_id.as_str().to_string()),
        fingerprint: Set(write.key.fingerprint),
        response: Set(write.response),
        created_at: Set(chrono::Utc::now()),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_that_gives_no_connection_in_time_is_busy_not_broken() {
        let busy = storage(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        assert!(matches!(busy, AppError::Busy));
        let status = tonic::Status::from(busy);
        assert_eq!(status.code(), tonic::Code::Unavailable);
        use tonic_types::StatusExt;
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "DATABASE_BUSY"
        );
        assert!(status.get_details_retry_info().is_some());
        let closed = storage(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed));
        assert!(matches!(closed, AppError::Storage(_)));
    }
}
