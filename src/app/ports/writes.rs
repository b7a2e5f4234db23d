//! What every write carries: the audit row written in its transaction and, for a create or
//! transition sent with a request id, the idempotency record that recognises its retry.

use crate::domain::directory::UserId;
use crate::domain::paging::RequestId;

/// One line of the audit trail, written in the same transaction as the change it records.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Who did it; `None` for the operator's CLI (bootstrap, demo).
    pub actor: Option<UserId>,
    /// What was done (`CreateUser`, `RevokeApiToken`).
    pub action: &'static str,
    /// The resource changed (`users/...`).
    pub resource: String,
    /// Extra words worth keeping (the fields changed, a justification).
    pub detail: String,
    /// The one field this row records the change of, if it records one.
    pub change: Option<FieldChange>,
}

/// A field's value before and after a write, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field (`forecast_category`).
    pub field: String,
    /// Its value before.
    pub old: String,
    /// Its value after.
    pub new: String,
}

/// Identifies one create by one caller, so its retry is recognised.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The caller; `None` for the CLI.
    pub actor: Option<UserId>,
    /// The RPC (`CreateUser`): the same id may be reused across RPCs.
    pub method: &'static str,
    /// The caller's request id.
    pub request_id: RequestId,
    /// Hash of the whole request, to refuse reuse of an id for a different request.
    pub fingerprint: String,
}

/// A key with the encoded answer to save with it.
#[derive(Debug, Clone)]
pub struct IdempotentWrite {
    /// Which caller's request this answers.
    pub key: IdempotencyKey,
    /// The answer as sent the first time.
    pub response: Vec<u8>,
}

/// What an idempotent create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// Created now.
    New(T),
    /// A retry: the first answer, as it was encoded then.
    Replayed(Vec<u8>),
}
