//! The ports: what the use cases need from storage, one file per feature beside the use cases
//! of the same name. `persistence::SqlStore` implements them on SQLite and PostgreSQL; every
//! write method is one transaction that also appends its audit row (and, for creates, its
//! idempotency record, [`IdempotentWrite`]).

mod changes;
mod dealdesk;
mod deals;
mod directory;
mod forecast;
mod imports;
mod pipeline_metrics;
mod pipelines;
mod writes;

use std::future::Future;

pub use changes::*;
pub use dealdesk::*;
pub use deals::*;
pub use directory::*;
pub use forecast::*;
pub use imports::*;
pub use pipeline_metrics::*;
pub use pipelines::*;
pub use writes::*;

use super::error::AppResult;

/// Everything the application stores.
pub trait Store:
    DirectoryStore
    + PipelineStore
    + DealStore
    + ForecastStore
    + DealDeskStore
    + PipelineMetricsStore
    + ImportStore
    + ChangeNotifier
    + Clone
{
    /// Whether the database answers (for health).
    fn ping(&self) -> impl Future<Output = bool> + Send;

    /// The pool's connections and the approval gauges, for the operations metrics.
    fn operations_gauges(&self) -> impl Future<Output = AppResult<StoreGauges>> + Send;
}

/// The store's gauges for the operations metrics, read at scrape time (`metrics` renders them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreGauges {
    /// Connections open in the pool.
    pub pool_open: u32,
    /// Of them, idle.
    pub pool_idle: u32,
    /// The pool's limit.
    pub pool_max: u32,
    /// Approval requests pending.
    pub approvals_pending: i64,
    /// Approval steps escalated, ever.
    pub escalations: i64,
}
