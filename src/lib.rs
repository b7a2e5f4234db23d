//! dealdesk: stage gating, learned-win-rate forecasting and deal-desk approvals over gRPC.
//!
//! # Layout
//!
//! Dependencies point one way: `grpc -> app -> domain`, and `persistence -> app` (it implements
//! the app's ports, with domain values in them). `import` sits under the app (`app -> import ->
//! domain`): the app's import use case plans with it, and the adapters reach it only through
//! [`app::imports`]. The domain and the import know nothing of tonic, sea-orm or async.
//!
//! - [`domain`]: pure rules: roles and permissions, the reporting tree, pipelines, stages and
//!   their exit criteria and gates, deals and their field history, bounded texts (names,
//!   reasons, notes), money (minor units, and amounts as people write them) and the org's
//!   calendar, win rates, period rates and the forecast with its range, calls, accuracy
//!   and backtests, approval routing and the request's lifecycle, paging and idempotency keys.
//! - [`app`]: use cases, one file (or folder) per feature. Authenticate, authorize, validate
//!   through the domain, then load and save through the ports in [`app::ports`] (one file per
//!   feature, beside the use cases of the same name); [`app::names`] writes the API's resource
//!   names.
//! - [`persistence`]: sea-orm entities and the SQL store behind the ports (SQLite or
//!   PostgreSQL), its read caches and the change notifier that wakes event streams.
//! - [`grpc`]: one thin adapter per service (conversions beside it where they are many), the
//!   one error -> Status builder, the request limits and the codec that counts a request's
//!   repeated fields on its bytes before decoding it.
//! - [`proto`]: the generated wire types.
//! - [`import`]: CRM history (Salesforce, HubSpot, a generic CSV) read and planned as pure
//!   code: bad rows with file, line and reason; rebuilt stage and field history; re-imports by
//!   external id.
//! - [`generator`]: a deterministic book of business (deals, stage and field history, approval
//!   requests) for the demo and the benchmarks.
//! - [`demo`]: the operator's bootstrap (first admin, tokens), the demo organisation (the same
//!   for the same seed, with its walkthrough's env file) and the demo book's backtest table.
//! - [`metrics`]: operations metrics (Prometheus text format) on their own port.
//! - [`overload`]: the limits on calls in flight, heavy reads per caller and per process, and
//!   the per-call deadlines.
//! - [`connection`]: the cap on open connections, the first-request deadline and keepalive.
//! - [`cli`]: the command-line client for people (forecast, deals, approvals, pipelines, win
//!   rates, calls) over the generated tonic clients: tables, or `--json` in the proto3 mapping.
//! - [`config`]: settings from flags and environment variables, plain values only.
//! - [`telemetry`]: logs (human or JSON).
//! - [`startup`]: wiring the server together from the settings: store, services, health,
//!   reflection, gRPC-Web, TLS, background tasks and shutdown.

pub mod app;
pub mod cli;
pub mod config;
pub mod connection;
pub mod demo;
pub mod domain;
pub mod generator;
pub mod grpc;
pub mod import;
pub mod metrics;
pub mod overload;
pub mod persistence;
pub mod proto;
pub mod startup;
pub mod telemetry;
