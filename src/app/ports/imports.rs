//! The imports' port: what earlier imports linked, and one import's writes.

use std::collections::HashMap;
use std::future::Future;

use super::AuditEntry;
use crate::app::AppResult;
use crate::domain::directory::UserId;
pub use crate::import::{ExistingDeal, ImportPlan};

/// Storage of imports: where imported deals and users came from, and the import's writes.
pub trait ImportStore: Send + Sync + 'static {
    /// The deals imported earlier from `source` under any of these external ids, by external
    /// id, each with its newest stage history row.
    fn imported_deals(
        &self,
        source: &str,
        external_ids: &[String],
    ) -> impl Future<Output = AppResult<HashMap<String, ExistingDeal>>> + Send;

    /// The users linked to the user ids of `source`.
    fn imported_users(
        &self,
        source: &str,
    ) -> impl Future<Output = AppResult<HashMap<String, UserId>>> + Send;

    /// Writes a plan in one transaction with its audit rows: new users (managers first),
    /// changed users and changed deals (each only if still at the version planned on, else
    /// ABORTED and nothing is written), links, new deals, stage history.
    /// `progress(done, total)` follows the deals.
    fn apply_import(
        &self,
        plan: &ImportPlan,
        audits: Vec<AuditEntry>,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> impl Future<Output = AppResult<()>> + Send;
}
