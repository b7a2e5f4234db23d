//! Reliability harnesses over the real `dealdesk` binary (child processes on loopback ports):
//! two replicas on one PostgreSQL under concurrent writers, and kill -9 under a write load on
//! SQLite and PostgreSQL. Each is bounded in time and kills its servers on every exit path.
//!
//! ```text
//! cargo test --test reliability                                  # CI: about 3 s of load each
//! DEALDESK_RELIABILITY_SECONDS=60 DEALDESK_RELIABILITY_KILL_CYCLES=20 \
//!   cargo test --test reliability -- --nocapture                 # longer; figures on stderr
//! ```
//!
//! PostgreSQL runs need `DEALDESK_TEST_POSTGRES_URL` (skipped without it, failed in CI);
//! `DEALDESK_RELIABILITY_SEED` replays a run's random choices.

#[path = "../common/mod.rs"]
mod common;
mod crashes;
mod harness;
mod replicas;
