//! Two `dealdesk serve` replicas on one PostgreSQL, 32 concurrent clients on the same six deals:
//! no lost update, no duplicated stage-history row or approval decision, no double escalation.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use dealdesk::domain::approval_request::{ApprovalRequest, StepState};
use dealdesk::proto as pb;
use prost_types::FieldMask;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::harness::{
    Db, Engine, OPEN_STAGES, Org, Person, Rng, Server, authed, cli, deals, desk, load_seconds,
    rows, seed, usd, version,
};

mod clients;
mod race;

use clients::{client, submit};

const REPS: usize = 2;

/// What a client asked of a deal, to replay in version order.
#[derive(Debug, Clone)]
enum Change {
    /// UpdateDeal of `next_step` and `amount` (a rep).
    Notes { next_step: String, amount: i64 },
    /// UpdateDeal of `forecast_category` (a manager or leader).
    Category(i32),
    /// UpdateDeal of `qualification`: the whole list sent, as (element, status).
    Qualification(Vec<(i32, i32)>),
    /// AdvanceDealStage.
    Move { target: String, request_id: String },
}

/// The fields the changes touch, as one comparable value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    stage: String,
    next_step: String,
    amount: Option<i64>,
    category: i32,
    qualification: Vec<(i32, i32)>,
}

fn view(deal: &pb::Deal) -> View {
    let mut qualification: Vec<(i32, i32)> = deal
        .qualification
        .iter()
        .map(|q| (q.element, q.status))
        .collect();
    qualification.sort();
    View {
        stage: deal.stage.clone(),
        next_step: deal.next_step.clone(),
        amount: deal.amount.as_ref().map(|m| m.amount_minor),
        category: deal.forecast_category,
        qualification,
    }
}

impl View {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::Notes { next_step, amount } => {
                self.next_step = next_step.clone();
                self.amount = Some(*amount);
            }
            Change::Category(category) => self.category = *category,
            Change::Qualification(items) => self.qualification = items.clone(),
            Change::Move { target, .. } => self.stage = target.clone(),
        }
    }
}

/// Everything the clients saw: accepted operations with their answers, and the rest counted.
#[derive(Default)]
struct Ledger {
    /// Accepted deal writes (a move once per request id).
    writes: Vec<(Change, pb::Deal)>,
    /// Accepted submissions by request id.
    submissions: BTreeMap<String, pb::ApprovalRequest>,
    /// Accepted decisions by request id: (step, answer).
    decisions: BTreeMap<String, (String, pb::ApprovalRequest)>,
    /// Accepted withdrawals by request id: the request withdrawn.
    withdrawals: BTreeMap<String, String>,
    /// Pending requests the approvers work on (not the overdue ones), with their requester.
    pending: Vec<(String, String)>,
    /// Calls sent, counting both copies of a retried one.
    tried: u64,
    /// ABORTED answers (stale etag), each followed by a re-read and a retry.
    aborted: u64,
    /// Expected refusals by reason (an approver beaten to a step).
    refused: BTreeMap<String, u64>,
    /// Accepted moves to send again after the load, as a client retrying long after:
    /// (token, request, first answer).
    late_retries: Vec<(String, pb::AdvanceDealStageRequest, pb::Deal)>,
    /// Anything else: each one fails the test.
    failures: Vec<String>,
}

struct Ctx {
    replicas: Vec<Channel>,
    org: Org,
    /// (deal name, owner index) of the deals under load.
    deals: Vec<(String, usize)>,
    ledger: Mutex<Ledger>,
    deadline: Instant,
}

impl Ctx {
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, what: String) {
        self.ledger().failures.push(what);
    }

    fn running(&self) -> bool {
        Instant::now() < self.deadline
    }
}
