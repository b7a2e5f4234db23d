//! sea-orm entities: one module per table of migrations/. Only persistence sees these; the
//! domain has its own types and the store converts between them.

mod dealdesk;
mod deals;
mod directory;
mod forecast;
mod pipelines;
mod records;

pub use dealdesk::{approval_event, approval_policy, approval_queue, approval_request, delegation};
pub use deals::{
    deal, deal_contact, deal_event, deal_external_id, deal_qualification, field_history,
    stage_history,
};
pub use directory::{api_token, user, user_external_id};
pub use forecast::{
    exchange_rate, forecast_call_event, forecast_snapshot, forecast_snapshot_call, win_rate_entry,
    win_rate_snapshot,
};
pub use pipelines::{exit_criterion, pipeline, stage};
pub use records::{audit_event, idempotency_key};
