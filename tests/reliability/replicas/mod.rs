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
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::harness::{
    Db, Engine, OPEN_STAGES, Org, Person, Rng, Server, authed, cli, deals, desk, load_seconds,
    rows, seed, usd, version,
};

const CLIENTS: usize = 32;
const REPS: usize = 2;
const DEALS_PER_REP: usize = 3;
/// Requests made overdue by hand (at once), which both replicas then race to escalate.
const OVERDUE: usize = 10;

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

/// Sends `call` to `here`; when `twice`, to both replicas at once, as a client retrying a lost
/// answer with the same request id would: the two answers must then agree.
async fn once_or_twice<T, F, Fut>(
    ctx: &Ctx,
    twice: bool,
    (here, there): (&Channel, &Channel),
    what: &str,
    call: F,
) -> Result<T, Status>
where
    T: PartialEq + Debug,
    F: Fn(Channel) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    if !twice {
        ctx.ledger().tried += 1;
        return call(here.clone()).await;
    }
    ctx.ledger().tried += 2;
    let (a, b) = tokio::join!(call(here.clone()), call(there.clone()));
    let agree = match (&a, &b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(x), Err(y)) => x.code() == y.code(),
        _ => false,
    };
    if !agree {
        ctx.fail(format!(
            "{what} sent twice with one request_id answered differently: {a:?} / {b:?}"
        ));
    }
    a
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

/// Sends one change of `current` with its etag.
async fn send(
    channel: Channel,
    who: &Person,
    current: &pb::Deal,
    change: &Change,
) -> Result<pb::Deal, Status> {
    let mut client = deals(&channel);
    let base = pb::Deal {
        name: current.name.clone(),
        etag: current.etag.clone(),
        ..Default::default()
    };
    let update = |deal: pb::Deal, paths: &[&str]| {
        authed(
            &who.token,
            pb::UpdateDealRequest {
                deal: Some(deal),
                update_mask: mask(paths),
            },
        )
    };
    let answer = match change {
        Change::Notes { next_step, amount } => {
            let deal = pb::Deal {
                next_step: next_step.clone(),
                amount: Some(usd(*amount)),
                ..base
            };
            client
                .update_deal(update(deal, &["next_step", "amount"]))
                .await
        }
        Change::Category(category) => {
            let deal = pb::Deal {
                forecast_category: *category,
                ..base
            };
            client
                .update_deal(update(deal, &["forecast_category"]))
                .await
        }
        Change::Qualification(items) => {
            let deal = pb::Deal {
                qualification: items
                    .iter()
                    .map(|(element, status)| pb::QualificationItem {
                        element: *element,
                        status: *status,
                        ..Default::default()
                    })
                    .collect(),
                ..base
            };
            client.update_deal(update(deal, &["qualification"])).await
        }
        Change::Move { target, request_id } => {
            let request = advance(current, target, request_id);
            client.advance_deal_stage(authed(&who.token, request)).await
        }
    };
    answer.map(|r| r.into_inner())
}

fn advance(current: &pb::Deal, target: &str, request_id: &str) -> pb::AdvanceDealStageRequest {
    pb::AdvanceDealStageRequest {
        name: current.name.clone(),
        target_stage: target.to_string(),
        etag: current.etag.clone(),
        request_id: request_id.to_string(),
        ..Default::default()
    }
}

/// Reads the deal, asks `change_of` what to change, and writes it with the etag read; on
/// ABORTED reads again and rebuilds the change. A move is sent twice (once to each replica) a
/// quarter of the time.
async fn write_deal(
    ctx: &Ctx,
    replicas: (&Channel, &Channel),
    who: &Person,
    deal: &str,
    rng: &mut Rng,
    change_of: impl Fn(&pb::Deal, &mut Rng) -> Change,
) {
    while ctx.running() {
        let read = deals(replicas.0)
            .get_deal(authed(
                &who.token,
                pb::GetDealRequest {
                    name: deal.to_string(),
                },
            ))
            .await;
        let current = match read {
            Ok(current) => current.into_inner(),
            Err(status) => return ctx.fail(format!("GetDeal {deal}: {status:?}")),
        };
        let change = change_of(&current, rng);
        let twice = matches!(change, Change::Move { .. }) && rng.chance(25);
        let outcome = once_or_twice(ctx, twice, replicas, "AdvanceDealStage", |channel| {
            send(channel, who, &current, &change)
        })
        .await;
        match outcome {
            Ok(answer) => {
                let mut ledger = ctx.ledger();
                if let Change::Move { target, request_id } = &change
                    && rng.chance(50)
                {
                    let request = advance(&current, target, request_id);
                    let late = (who.token.clone(), request, answer.clone());
                    ledger.late_retries.push(late);
                }
                return ledger.writes.push((change, answer));
            }
            Err(status) if status.code() == Code::Aborted => ctx.ledger().aborted += 1,
            Err(status) => return ctx.fail(format!("{change:?} on {deal}: {status:?}")),
        }
    }
}

/// A rep asks for a 20% (manager) or 50% (manager, then the leader) discount.
async fn submit(
    ctx: &Ctx,
    replicas: (&Channel, &Channel),
    rep: &Person,
    deal: &str,
    rng: &mut Rng,
) -> Option<pb::ApprovalRequest> {
    let request = pb::SubmitApprovalRequestRequest {
        deal: deal.to_string(),
        discount_bps: if rng.chance(50) { 2000 } else { 5000 },
        request_id: uuid::Uuid::now_v7().to_string(),
        ..Default::default()
    };
    let twice = rng.chance(25);
    let outcome = once_or_twice(ctx, twice, replicas, "SubmitApprovalRequest", |channel| {
        let mut client = desk(&channel);
        let request = authed(&rep.token, request.clone());
        async move {
            client
                .submit_approval_request(request)
                .await
                .map(|r| r.into_inner())
        }
    })
    .await;
    match outcome {
        Ok(answer) => {
            ctx.ledger()
                .submissions
                .insert(request.request_id, answer.clone());
            Some(answer)
        }
        Err(status) => {
            ctx.fail(format!("SubmitApprovalRequest on {deal}: {status:?}"));
            None
        }
    }
}

/// An approver takes a pending request whose current step waits on them and approves it;
/// ABORTED is retried with the same request id; losing the step to another client is fine.
async fn approve(ctx: &Ctx, replicas: (&Channel, &Channel), me: &Person, rng: &mut Rng) {
    let picked = {
        let ledger = ctx.ledger();
        (!ledger.pending.is_empty())
            .then(|| ledger.pending[rng.below(ledger.pending.len())].0.clone())
    };
    let Some(name) = picked else {
        return tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let read = desk(replicas.0)
        .get_approval_request(authed(
            &me.token,
            pb::GetApprovalRequestRequest { name: name.clone() },
        ))
        .await;
    let request = match read {
        Ok(request) => request.into_inner(),
        Err(status) => return ctx.fail(format!("GetApprovalRequest {name}: {status:?}")),
    };
    if request.state != pb::approval_request::State::Pending as i32 {
        return ctx.ledger().pending.retain(|(n, _)| *n != name);
    }
    let current = request
        .steps
        .iter()
        .find(|s| s.state == pb::approval_request_step::State::Pending as i32);
    let Some(step) = current.filter(|s| s.seats.iter().any(|seat| seat.user == me.name)) else {
        return tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let decision = pb::ApproveApprovalStepRequest {
        step: step.name.clone(),
        comment: String::new(),
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let twice = rng.chance(25);
    for _ in 0..20 {
        let outcome = once_or_twice(ctx, twice, replicas, "ApproveApprovalStep", |channel| {
            let mut client = desk(&channel);
            let request = authed(&me.token, decision.clone());
            async move {
                client
                    .approve_approval_step(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        match outcome {
            Ok(answer) => {
                ctx.ledger()
                    .decisions
                    .insert(decision.request_id.clone(), (step.name.clone(), answer));
                return;
            }
            Err(status) if status.code() == Code::Aborted => ctx.ledger().aborted += 1,
            Err(status) if status.code() == Code::FailedPrecondition => {
                let reason = status
                    .get_details_error_info()
                    .map(|i| i.reason)
                    .unwrap_or_default();
                *ctx.ledger().refused.entry(reason).or_default() += 1;
                return;
            }
            Err(status) => return ctx.fail(format!("approving {}: {status:?}", step.name)),
        }
    }
}

/// A rep withdraws one of their pending requests, racing the approvers: ABORTED is retried with
/// the same request id; finding it already decided is fine.
async fn withdraw(ctx: &Ctx, replicas: (&Channel, &Channel), rep: &Person, rng: &mut Rng) {
    let picked = {
        let ledger = ctx.ledger();
        let mine: Vec<&String> = ledger
            .pending
            .iter()
            .filter(|(_, requester)| *requester == rep.name)
            .map(|(name, _)| name)
            .collect();
        (!mine.is_empty()).then(|| mine[rng.below(mine.len())].clone())
    };
    let Some(name) = picked else {
        return tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let withdrawal = pb::WithdrawApprovalRequestRequest {
        name: name.clone(),
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let twice = rng.chance(25);
    for _ in 0..20 {
        let outcome = once_or_twice(ctx, twice, replicas, "WithdrawApprovalRequest", |channel| {
            let mut client = desk(&channel);
            let request = authed(&rep.token, withdrawal.clone());
            async move {
                client
                    .withdraw_approval_request(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        match outcome {
            Ok(_) => {
                let mut ledger = ctx.ledger();
                ledger.pending.retain(|(n, _)| *n != name);
                ledger.withdrawals.insert(withdrawal.request_id, name);
                return;
            }
            Err(status) if status.code() == Code::Aborted => ctx.ledger().aborted += 1,
            Err(status) if status.code() == Code::FailedPrecondition => {
                let reason = status
                    .get_details_error_info()
                    .map(|i| i.reason)
                    .unwrap_or_default();
                *ctx.ledger().refused.entry(reason).or_default() += 1;
                return;
            }
            Err(status) => return ctx.fail(format!("withdrawing {name}: {status:?}")),
        }
    }
}

/// One of the 32 clients: by `i`, a rep writing notes and moving stages, a rep submitting
/// requests, a manager or leader judging qualification and categories, or one approving.
async fn client(ctx: Arc<Ctx>, i: usize, seed: u64) {
    let mut rng = Rng::new(seed ^ ((i as u64 + 1) << 32));
    let replica = (i + i / 8) % 2;
    let replicas = (&ctx.replicas[replica], &ctx.replicas[1 - replica]);
    let rep_index = (i / 8) % REPS;
    let rep = &ctx.org.reps[rep_index];
    let own: Vec<&str> = ctx
        .deals
        .iter()
        .filter(|(_, owner)| *owner == rep_index)
        .map(|(name, _)| name.as_str())
        .collect();
    let judge = if i.is_multiple_of(2) {
        &ctx.org.manager
    } else {
        &ctx.org.leader
    };
    let mut n = 0;
    while ctx.running() {
        n += 1;
        match i % 8 {
            0..=2 => {
                let deal = own[rng.below(own.len())];
                if rng.chance(50) {
                    let next_step = format!("client {i} note {n}");
                    let amount = 100_000 + rng.below(10_000_000) as i64;
                    write_deal(&ctx, replicas, rep, deal, &mut rng, |_, _| Change::Notes {
                        next_step: next_step.clone(),
                        amount,
                    })
                    .await;
                } else {
                    write_deal(&ctx, replicas, rep, deal, &mut rng, |current, rng| {
                        let others: Vec<&str> = OPEN_STAGES
                            .iter()
                            .copied()
                            .filter(|s| *s != current.stage)
                            .collect();
                        Change::Move {
                            target: others[rng.below(others.len())].to_string(),
                            request_id: uuid::Uuid::now_v7().to_string(),
                        }
                    })
                    .await;
                }
            }
            3 if rng.chance(25) => withdraw(&ctx, replicas, rep, &mut rng).await,
            3 => {
                let deal = own[rng.below(own.len())];
                if let Some(request) = submit(&ctx, replicas, rep, deal, &mut rng).await
                    && request.state == pb::approval_request::State::Pending as i32
                {
                    ctx.ledger().pending.push((request.name, rep.name.clone()));
                }
                // Requests come slower than decisions: a queue, not a flood.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            4 | 5 => {
                let (deal, _) = &ctx.deals[rng.below(ctx.deals.len())];
                write_deal(&ctx, replicas, judge, deal, &mut rng, judgement).await;
            }
            _ => approve(&ctx, replicas, judge, &mut rng).await,
        }
    }
}

/// A manager's or leader's judgement: a forecast category, or one qualification item's status.
fn judgement(current: &pb::Deal, rng: &mut Rng) -> Change {
    use pb::{ForecastCategory as C, QualificationStatus as Q};
    if rng.chance(40) {
        let categories = [C::Pipeline, C::BestCase, C::Commit, C::Omitted];
        return Change::Category(categories[rng.below(categories.len())] as i32);
    }
    let element = 1 + rng.below(8) as i32;
    let statuses = [Q::Red, Q::Yellow, Q::Green];
    let status = statuses[rng.below(statuses.len())] as i32;
    let mut items: Vec<(i32, i32)> = view(current)
        .qualification
        .into_iter()
        .filter(|(e, _)| *e != element)
        .collect();
    items.push((element, status));
    items.sort();
    Change::Qualification(items)
}

/// Mid-market tiers on SMB: up to 10% pre-approved, to 25% the owner's manager, beyond that
/// also the leader above the owner.
fn policy() -> pb::ApprovalPolicy {
    use pb::approver::Relation;
    let step = |name: &str, approver: pb::approver::Approver| pb::ApprovalStep {
        name: name.into(),
        approvers: vec![pb::Approver {
            approver: Some(approver),
        }],
        mode: pb::approval_step::Mode::All as i32,
        sla_hours: 24,
    };
    let relation = |r: Relation| pb::approver::Approver::Relation(r as i32);
    let queue = |r: pb::Role| pb::approver::Approver::RoleQueue(r as i32);
    pb::ApprovalPolicy {
        segment: pb::Segment::Smb as i32,
        tiers: vec![
            pb::DiscountTier {
                ceiling_bps: 1000,
                steps: vec![],
            },
            pb::DiscountTier {
                ceiling_bps: 2500,
                steps: vec![step("Sales manager", relation(Relation::OwnersManager))],
            },
            pb::DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![step("VP of Sales", relation(Relation::LeaderAboveOwner))],
            },
        ],
        playbook: vec!["MUTUAL_NDA".into()],
        legal_step: Some(step("Legal review", queue(pb::Role::Legal))),
        payment_days_limit: 45,
        finance_step: Some(step("Finance", queue(pb::Role::Finance))),
        ..Default::default()
    }
}

/// Makes the current step of `name` due five minutes ago, as if its SLA had passed (the
/// smallest SLA a policy allows is an hour): the document's due time and the column the
/// escalation sweep looks up, written only if the request did not change meanwhile.
async fn make_overdue(db: &impl ConnectionTrait, name: &str) {
    let backend = db.get_database_backend();
    let id = name.trim_start_matches("approvalRequests/");
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT document, lock_version FROM approval_requests WHERE id = $1",
            [id.into()],
        ))
        .await
        .unwrap()
        .expect("the request row");
    let document: String = row.try_get("", "document").unwrap();
    let lock_version: i64 = row.try_get("", "lock_version").unwrap();
    let mut request: ApprovalRequest = serde_json::from_str(&document).unwrap();
    let due = Utc::now() - chrono::Duration::minutes(5);
    let step = request
        .steps
        .iter_mut()
        .find(|s| s.state == StepState::Pending)
        .expect("a pending step");
    step.due_at = Some(due);
    let written = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE approval_requests SET document = $1, next_due_at = $2, \
             lock_version = lock_version + 1 WHERE id = $3 AND lock_version = $4",
            [
                serde_json::to_string(&request).unwrap().into(),
                due.into(),
                id.into(),
                lock_version.into(),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(written.rows_affected(), 1, "{name} changed while made due");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_lose_no_update_and_duplicate_no_row_decision_or_escalation() {
    let Some(db) = Db::fresh(Engine::Postgres).await else {
        return;
    };
    let seed = seed();
    let seconds = load_seconds();
    eprintln!("replicas: seed {seed} (DEALDESK_RELIABILITY_SEED), {seconds} s of load");
    // Both replicas sweep for overdue steps every second, started together so that their
    // sweeps tend to overlap (migrated first: two servers must not both create the schema).
    cli(&db.url, &["migrate"]);
    let (a, b) = tokio::join!(Server::start(&db.url, 1), Server::start(&db.url, 1));
    let replicas = vec![a.connection(), b.connection()];
    let org = Org::seed(&db.url, &replicas[0], REPS).await;
    desk(&replicas[1])
        .create_approval_policy(authed(
            &org.admin.token,
            pb::CreateApprovalPolicyRequest {
                policy: Some(policy()),
            },
        ))
        .await
        .expect("create the policy");
    let mut deal_list = Vec::new();
    let mut created = HashMap::new();
    for n in 0..REPS * DEALS_PER_REP {
        let owner = n % REPS;
        let deal = org
            .create_deal(&replicas[n % 2], &org.reps[owner], &format!("Deal {n}"))
            .await;
        deal_list.push((deal.name.clone(), owner));
        created.insert(deal.name.clone(), deal);
    }
    let mut ctx = Ctx {
        replicas,
        org,
        deals: deal_list,
        ledger: Mutex::default(),
        // Set when the load starts, after the overdue requests are made.
        deadline: Instant::now() + Duration::from_secs(3600),
    };

    // Requests nobody decides, made overdue together in one transaction: the replicas race to
    // escalate them during the load.
    let conn = db.connect().await;
    let mut rng = Rng::new(seed);
    let mut overdue = Vec::new();
    for n in 0..OVERDUE {
        let (deal, owner) = ctx.deals[n % ctx.deals.len()].clone();
        let replicas = (&ctx.replicas[0], &ctx.replicas[1]);
        let rep = ctx.org.reps[owner].clone();
        let request = submit(&ctx, replicas, &rep, &deal, &mut rng)
            .await
            .expect("submit a request");
        overdue.push(request.name);
    }
    let txn = conn.begin().await.unwrap();
    for name in &overdue {
        make_overdue(&txn, name).await;
    }
    txn.commit().await.unwrap();

    ctx.deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let ctx = Arc::new(ctx);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client(ctx.clone(), i, seed)))
        .collect();
    for c in clients {
        c.await.expect("a client panicked");
    }

    // Every overdue step escalates (wait for it, at most 30 s), then two more sweeps of each
    // replica pass, giving a double escalation every chance to show.
    let admin = ctx.org.admin.clone();
    let read_request = async |name: &str| {
        desk(&ctx.replicas[0])
            .get_approval_request(authed(
                &admin.token,
                pb::GetApprovalRequestRequest {
                    name: name.to_string(),
                },
            ))
            .await
            .expect("read a request")
            .into_inner()
    };
    for _ in 0..300 {
        let mut waiting = 0;
        for name in &overdue {
            let request = read_request(name).await;
            waiting += usize::from(request.steps[0].escalate_time.is_none());
        }
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let ledger = std::mem::take(&mut *ctx.ledger());
    assert!(
        ledger.failures.is_empty(),
        "{} unexpected answers, first ones: {:#?}",
        ledger.failures.len(),
        &ledger.failures[..ledger.failures.len().min(10)]
    );

    // A move retried long after (the deal has moved on since) answers its first answer again
    // and moves nothing; the history check below counts its rows.
    for (token, request, first) in &ledger.late_retries {
        let again = deals(&ctx.replicas[1])
            .advance_deal_stage(authed(token, request.clone()))
            .await
            .expect("a late retry")
            .into_inner();
        assert_eq!(&again, first, "a late retry of {}", request.request_id);
    }

    // No lost update: per deal, each accepted write answered a version of its own; with the
    // submissions (each bumps the deal's version) they account for every version; replaying
    // the writes in version order gives each answer and the final read.
    let mut moves_total = 0;
    for (name, _) in &ctx.deals {
        let mut writes: Vec<&(Change, pb::Deal)> = ledger
            .writes
            .iter()
            .filter(|(_, d)| d.name == *name)
            .collect();
        writes.sort_by_key(|(_, d)| version(&d.etag));
        let versions: Vec<i64> = writes.iter().map(|(_, d)| version(&d.etag)).collect();
        let mut distinct = versions.clone();
        distinct.dedup();
        assert_eq!(
            distinct, versions,
            "{name}: two accepted writes answered one version"
        );
        let submissions = ledger
            .submissions
            .values()
            .filter(|r| r.deal == *name)
            .count();
        let last = read_deal(&ctx, &admin, name).await;
        assert_eq!(
            version(&last.etag),
            1 + writes.len() as i64 + submissions as i64,
            "{name}: the version counts every accepted write and submission, no more"
        );
        let mut replay = view(&created[name]);
        for (change, answer) in &writes {
            replay.apply(change);
            assert_eq!(view(answer), replay, "{name}: the answer of {change:?}");
        }
        assert_eq!(view(&last), replay, "{name}: the final read is the replay");

        // No duplicated stage-history row: the creation, then each accepted move once.
        let moves: Vec<&str> = writes
            .iter()
            .filter_map(|(c, _)| match c {
                Change::Move { target, .. } => Some(target.as_str()),
                _ => None,
            })
            .collect();
        moves_total += moves.len();
        let history = deals(&ctx.replicas[1])
            .list_deal_stage_history(authed(
                &admin.token,
                pb::ListDealStageHistoryRequest {
                    parent: name.clone(),
                    page_size: 500,
                    page_token: String::new(),
                },
            ))
            .await
            .expect("stage history")
            .into_inner();
        assert!(
            history.next_page_token.is_empty(),
            "{name}: history fits a page"
        );
        let entered: Vec<&str> = history
            .entries
            .iter()
            .map(|e| e.to_stage.as_str())
            .collect();
        let mut expected = vec![OPEN_STAGES[0]];
        expected.extend(moves);
        assert_eq!(
            entered, expected,
            "{name}: one history row per accepted move"
        );
    }

    // No duplicated decision: each step has as many decided seats as accepted decisions on it,
    // and as many STEP_DECIDED events and audit rows; one row per submitted request id.
    let mut decisions_per_step: HashMap<&str, i64> = HashMap::new();
    for (step, _) in ledger.decisions.values() {
        *decisions_per_step.entry(step.as_str()).or_default() += 1;
    }
    let events: HashMap<String, i64> = rows(
        &conn,
        "SELECT request_id || '/' || CAST(step AS TEXT) AS k, COUNT(*) AS n FROM approval_events \
         WHERE kind = 'STEP_DECIDED' GROUP BY request_id, step",
    )
    .await
    .into_iter()
    .collect();
    let audits: HashMap<String, i64> = rows(
        &conn,
        "SELECT resource AS k, COUNT(*) AS n FROM audit_events \
         WHERE action = 'ApproveApprovalStep' GROUP BY resource",
    )
    .await
    .into_iter()
    .collect();
    let mut seats_decided = 0;
    for submitted in ledger.submissions.values() {
        let request = read_request(&submitted.name).await;
        let id = request.name.trim_start_matches("approvalRequests/");
        for (index, step) in request.steps.iter().enumerate() {
            let decided = step.seats.iter().filter(|s| s.decision.is_some()).count() as i64;
            seats_decided += decided;
            let accepted = decisions_per_step
                .get(step.name.as_str())
                .copied()
                .unwrap_or(0);
            assert_eq!(accepted, decided, "{}: accepted decisions", step.name);
            let logged = events.get(&format!("{id}/{index}")).copied().unwrap_or(0);
            assert_eq!(logged, decided, "{}: STEP_DECIDED events", step.name);
            let audited = audits.get(&step.name).copied().unwrap_or(0);
            assert_eq!(audited, decided, "{}: audit rows", step.name);
        }
    }
    // A request is withdrawn at most once, and then stays withdrawn.
    let mut withdrawn: HashMap<&str, i64> = HashMap::new();
    for name in ledger.withdrawals.values() {
        *withdrawn.entry(name.as_str()).or_default() += 1;
    }
    for (name, accepted) in &withdrawn {
        assert_eq!(*accepted, 1, "{name}: accepted withdrawals");
        let request = read_request(name).await;
        let state = pb::approval_request::State::Withdrawn as i32;
        assert_eq!(request.state, state, "{name}: withdrawn");
    }
    let withdrawal_events = rows(
        &conn,
        "SELECT request_id AS k, COUNT(*) AS n FROM approval_events \
         WHERE kind = 'WITHDRAWN' GROUP BY request_id",
    )
    .await;
    let mut expected: Vec<(String, i64)> = withdrawn
        .keys()
        .map(|n| (n.trim_start_matches("approvalRequests/").to_string(), 1))
        .collect();
    expected.sort();
    let mut logged = withdrawal_events;
    logged.sort();
    assert_eq!(
        logged, expected,
        "one WITHDRAWN event per accepted withdrawal"
    );

    let stored = crate::harness::number(&conn, "SELECT COUNT(*) AS n FROM approval_requests").await;
    assert_eq!(
        stored,
        ledger.submissions.len() as i64,
        "one request per accepted request_id"
    );

    // No double escalation: each overdue step escalated once over both replicas, and nothing
    // else escalated.
    let escalations = rows(
        &conn,
        "SELECT request_id AS k, COUNT(*) AS n FROM approval_events \
         WHERE kind = 'ESCALATED' GROUP BY request_id",
    )
    .await;
    let mut expected: Vec<(String, i64)> = overdue
        .iter()
        .map(|n| (n.trim_start_matches("approvalRequests/").to_string(), 1))
        .collect();
    expected.sort();
    let mut escalated = escalations.clone();
    escalated.sort();
    assert_eq!(
        escalated, expected,
        "each overdue step escalates exactly once"
    );
    let audited = rows(
        &conn,
        "SELECT resource AS k, COUNT(*) AS n FROM audit_events \
         WHERE action = 'EscalateApprovalStep' GROUP BY resource",
    )
    .await;
    assert!(
        audited.len() == OVERDUE && audited.iter().all(|(_, n)| *n == 1),
        "one escalation audit row per overdue step: {audited:?}"
    );
    for name in &overdue {
        let request = read_request(name).await;
        assert_eq!(
            request.steps[0].seats[0].escalated_to,
            std::slice::from_ref(&ctx.org.leader.name),
            "{name} escalated to the manager's manager"
        );
    }

    // Each escalation was made by one replica only: together they report each step once.
    let by = (a.steps_escalated(), b.steps_escalated());
    assert_eq!(
        by.0 + by.1,
        OVERDUE as u64,
        "steps the replicas say they escalated"
    );
    for server in [&a, &b] {
        let errors = server.errors_logged();
        assert!(errors.is_empty(), "errors logged: {errors:#?}");
    }

    eprintln!(
        "replicas: {} calls tried over 2 replicas in {seconds} s; accepted: {} deal writes \
         ({moves_total} moves), {} submissions, {} decisions ({seats_decided} seats), {} \
         escalations (replica A {}, B {}), {} withdrawals; {} moves retried after the load; \
         {} ABORTED retried; refused as another client got there first: {:?}; lost updates \
         0, duplicate history rows 0, duplicate decisions 0, double escalations 0",
        ledger.tried,
        ledger.writes.len(),
        ledger.submissions.len(),
        ledger.decisions.len(),
        escalations.len(),
        by.0,
        by.1,
        ledger.withdrawals.len(),
        ledger.late_retries.len(),
        ledger.aborted,
        ledger.refused,
    );
    drop((a, b));
}

async fn read_deal(ctx: &Ctx, who: &Person, name: &str) -> pb::Deal {
    deals(&ctx.replicas[0])
        .get_deal(authed(
            &who.token,
            pb::GetDealRequest {
                name: name.to_string(),
            },
        ))
        .await
        .expect("read a deal")
        .into_inner()
}
