//! The hostile requests of each RPC, one file per service: for each RPC, a valid request and the
//! single faults that make it refused.

use super::*;

mod deal_desk;
mod deals;
mod directory;
mod forecasts;
mod import;
mod pipelines;

pub(super) use deal_desk::dealdesk;
pub(super) use deals::deals;
pub(super) use directory::directory;
pub(super) use forecasts::forecasts;
pub(super) use import::import;
pub(super) use pipelines::pipelines;
