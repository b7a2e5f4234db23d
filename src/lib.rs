//! dealdesk: stage gating, learned-win-rate forecasting and deal-desk approvals over gRPC.
//!
//! # Layout
//!
//! Dependencies point one way: `grpc -> app -> domain`, and `persistence -> app` (it implements
//! the app's ports). The domain knows nothing of tonic, sea-orm or async.
//!
//! - [`domain`]: pure rules: roles and permissions, the reporting tree, pipelines, stages and
//!   their exit criteria, names, paging and idempotency keys.
//! - [`app`]: use cases. Authenticate, authorize, validate through the domain, then load and
//!   save through the ports in [`app::ports`].
//! - [`persistence`]: sea-orm entities and the SQL store behind the ports (SQLite or PostgreSQL).
//! - [`grpc`]: one thin adapter per service, wire conversions, the one error -> Status mapping,
//!   and the codec that counts a request's repeated fields on its bytes before decoding it.
//! - [`proto`]: the generated wire types.
//! - [`import`]: CRM history (Salesforce, HubSpot, a generic CSV) read and planned as pure
//!   code: bad rows with file, line and reason; rebuilt stage history; re-imports by external id.
//! - [`generator`]: a deterministic book of business (deals and stage history) for the demo
//!   and the benchmarks.
//! - [`demo`]: the operator's bootstrap (first admin, tokens) and the demo organisation.
//! - [`metrics`]: operations metrics (Prometheus text format) on their own port.
//! - [`overload`]: the limit on calls in flight and the per-call deadline.
//! - [`config`], [`telemetry`], [`startup`]: settings, logs, and wiring the server together.

pub mod app;
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
