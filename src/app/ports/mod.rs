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
    fn operations_gauges(
        &self,
    ) -> impl Future<Output = AppResult<crate::metrics::StoreGauges>> + Send;
}
