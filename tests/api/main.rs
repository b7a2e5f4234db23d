//! End-to-end contract suite: a real tonic client against the real server on port 0.
//!
//! Every test runs twice, on SQLite (a fresh file) and on PostgreSQL (a fresh database), the
//! latter when `DEALDESK_TEST_POSTGRES_URL` is set (CI sets it; see the README).

#[path = "../common/mod.rs"]
mod common;
mod fixtures;
mod helpers;

mod accuracy;
mod approvals;
mod auth;
mod backtest_demo;
mod browser;
mod calendar;
mod calls;
mod cli;
mod cli_errors;
mod connections;
mod deal_events;
mod dealdesk;
mod deals;
mod demo_features;
mod demo_seed;
mod desk_queue;
mod directory;
mod field_history;
mod forecast;
mod guidance;
mod hostile;
mod hostile_fuzz;
mod hostile_input;
mod import;
mod import_formats;
mod import_options;
mod logs;
mod metrics;
mod operations;
mod overload;
mod period_forecast;
mod permissions;
mod pipeline_metrics;
mod pipelines;
mod readme;
mod self_approval;
mod transport;
mod violation_kinds;
mod watch;
