//! The dealdesk schema, one migration per change. Run at server start-up and by
//! `dealdesk migrate`; later issues add their tables as new migrations, never by editing these.

pub use sea_orm_migration::prelude::*;

mod m0001_foundation;
mod m0002_deals;
mod m0003_forecast;
mod m0004_forecast_calls;
mod m0005_forecast_snapshots;
mod m0006_approval_policies;
mod m0007_deal_discount;
mod m0008_approval_requests;
mod m0009_pipeline_metrics;
mod m0010_import;
mod m0011_deal_events;
mod m0012_forecast_indexes;
mod m0013_forecast_owner_index;
mod m0014_forecast_scope_indexes;
mod m0015_booking_date;
mod m0016_field_history;
mod m0017_period_rates;
mod m0018_forecast_snapshot_model;
mod m0019_close_date_pushes;
mod m0020_period_forecast_indexes;
mod m0021_deals_by_pipeline_and_id;
mod m0022_size_band_currency;
mod m0023_pull_in;
mod m0024_open_by_month_owner;
mod m0025_overdue;

/// Every migration, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_foundation::Migration),
            Box::new(m0002_deals::Migration),
            Box::new(m0003_forecast::Migration),
            Box::new(m0004_forecast_calls::Migration),
            Box::new(m0005_forecast_snapshots::Migration),
            Box::new(m0006_approval_policies::Migration),
            Box::new(m0007_deal_discount::Migration),
            Box::new(m0008_approval_requests::Migration),
            Box::new(m0009_pipeline_metrics::Migration),
            Box::new(m0010_import::Migration),
            Box::new(m0011_deal_events::Migration),
            Box::new(m0012_forecast_indexes::Migration),
            Box::new(m0013_forecast_owner_index::Migration),
            Box::new(m0014_forecast_scope_indexes::Migration),
            Box::new(m0015_booking_date::Migration),
            Box::new(m0016_field_history::Migration),
            Box::new(m0017_period_rates::Migration),
            Box::new(m0018_forecast_snapshot_model::Migration),
            Box::new(m0019_close_date_pushes::Migration),
            Box::new(m0020_period_forecast_indexes::Migration),
            Box::new(m0021_deals_by_pipeline_and_id::Migration),
            Box::new(m0022_size_band_currency::Migration),
            Box::new(m0023_pull_in::Migration),
            Box::new(m0024_open_by_month_owner::Migration),
            Box::new(m0025_overdue::Migration),
        ]
    }
}
