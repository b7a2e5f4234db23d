//! kill -9 under a write load, on SQLite and on PostgreSQL: after each restart every
//! acknowledged write is there with its acknowledged values, a write in flight at the kill is
//! either whole or absent (and its retry with the same request id lands once), and the tables
//! agree with each other: stage with history, history with deals, versions and audit with both.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dealdesk::proto as pb;
use dealdesk::proto::deal_service_client::DealServiceClient;
use prost_types::FieldMask;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tonic::Status;
use tonic::transport::Channel;

use crate::harness::{
    Db, Engine, OPEN_STAGES, Org, Person, Rng, Server, authed, deals, load_seconds, number, rows,
    seed, usd, version,
};

/// Writers: two per rep, each alone on the deals it created (so at most one write per deal is
/// in flight when the server dies).
const REPS: usize = 3;
const WORKERS: usize = 6;

/// Kill cycles per engine (`DEALDESK_RELIABILITY_KILL_CYCLES`, default 3).
fn cycles() -> usize {
    std::env::var("DEALDESK_RELIABILITY_KILL_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

/// A write as the client sent it.
#[derive(Debug, Clone)]
enum Op {
    Create {
        request_id: String,
        display_name: String,
    },
    Update {
        deal: String,
        next_step: String,
        amount: i64,
    },
    Move {
        deal: String,
        target: String,
        request_id: String,
    },
}

/// One writing client and what the server acknowledged to it.
struct Worker {
    id: usize,
    rep: Person,
    rng: Rng,
    /// Its deals as last acknowledged.
    deals: BTreeMap<String, pb::Deal>,
    /// The write sent but unanswered when the server died: committed or not, nobody knows yet.
    in_doubt: Option<Op>,
    acknowledged: u64,
    sent: u64,
}

impl Worker {
    fn next_op(&mut self) -> Op {
        self.sent += 1;
        let open = pb::deal::Status::Open as i32;
        let names: Vec<&String> = self
            .deals
            .iter()
            .filter(|(_, d)| d.status == open)
            .map(|(name, _)| name)
            .collect();
        if names.len() < 2 || self.rng.chance(15) {
            return Op::Create {
                request_id: uuid::Uuid::now_v7().to_string(),
                display_name: format!("w{}-{}", self.id, self.sent),
            };
        }
        let deal = names[self.rng.below(names.len())].clone();
        if self.rng.chance(50) {
            return Op::Update {
                next_step: format!("w{} note {}", self.id, self.sent),
                amount: 100_000 + self.rng.below(10_000_000) as i64,
                deal,
            };
        }
        let stage = self.deals[&deal].stage.clone();
        let mut others: Vec<&str> = OPEN_STAGES
            .iter()
            .copied()
            .filter(|s| *s != stage)
            .collect();
        if self.rng.chance(10) {
            others = vec!["won", "lost"];
        }
        Op::Move {
            target: others[self.rng.below(others.len())].to_string(),
            request_id: uuid::Uuid::now_v7().to_string(),
            deal,
        }
    }

    /// Sends `op` with the etag last acknowledged.
    async fn send(&self, channel: &Channel, org: &Org, op: &Op) -> Result<pb::Deal, Status> {
        let mut client = deals(channel);
        let token = &self.rep.token;
        let answer = match op {
            Op::Create {
                request_id,
                display_name,
            } => {
                let request = pb::CreateDealRequest {
                    deal: Some(org.new_deal(display_name)),
                    request_id: request_id.clone(),
                };
                client.create_deal(authed(token, request)).await
            }
            Op::Update {
                deal,
                next_step,
                amount,
            } => {
                let request = pb::UpdateDealRequest {
                    deal: Some(pb::Deal {
                        name: deal.clone(),
                        etag: self.deals[deal].etag.clone(),
                        next_step: next_step.clone(),
                        amount: usd(*amount),
                        ..Default::default()
                    }),
                    update_mask: Some(FieldMask {
                        paths: vec!["next_step".into(), "amount".into()],
                    }),
                };
                client.update_deal(authed(token, request)).await
            }
            Op::Move {
                deal,
                target,
                request_id,
            } => {
                let etag = &self.deals[deal].etag;
                return send_move(&mut client, token, deal, etag, target, request_id).await;
            }
        };
        answer.map(|r| r.into_inner())
    }
}

/// A stage move: AdvanceDealStage to an open stage, CloseDeal to `won` or `lost`.
async fn send_move(
    client: &mut DealServiceClient<Channel>,
    token: &str,
    deal: &str,
    etag: &str,
    target: &str,
    request_id: &str,
) -> Result<pb::Deal, Status> {
    let answer = match target {
        "won" | "lost" => {
            use pb::close_deal_request::Outcome;
            let won = target == "won";
            let request = pb::CloseDealRequest {
                name: deal.to_string(),
                outcome: if won { Outcome::Won } else { Outcome::Lost } as i32,
                loss_reason: if won { "" } else { "went with a competitor" }.into(),
                etag: etag.to_string(),
                request_id: request_id.to_string(),
                ..Default::default()
            };
            client.close_deal(authed(token, request)).await
        }
        _ => {
            let request = pb::AdvanceDealStageRequest {
                name: deal.to_string(),
                target_stage: target.to_string(),
                etag: etag.to_string(),
                request_id: request_id.to_string(),
                ..Default::default()
            };
            client.advance_deal_stage(authed(token, request)).await
        }
    };
    answer.map(|r| r.into_inner())
}

/// Writes until the server dies (at most a minute). An error before the kill is a failure.
async fn write_until_killed(
    mut worker: Worker,
    channel: Channel,
    org: Arc<Org>,
    killed: Arc<AtomicBool>,
    failures: Arc<Mutex<Vec<String>>>,
) -> Worker {
    let stop = Instant::now() + Duration::from_secs(60);
    while Instant::now() < stop {
        let op = worker.next_op();
        worker.in_doubt = Some(op.clone());
        match worker.send(&channel, &org, &op).await {
            Ok(deal) => {
                worker.deals.insert(deal.name.clone(), deal);
                worker.acknowledged += 1;
                worker.in_doubt = None;
            }
            Err(status) => {
                if !killed.load(Ordering::SeqCst) {
                    worker.in_doubt = None;
                    let mut failures = failures.lock().unwrap_or_else(|e| e.into_inner());
                    failures.push(format!("{op:?} before the kill: {status:?}"));
                }
                return worker;
            }
        }
    }
    worker
}

/// What the checks after each restart found, summed over the cycles.
#[derive(Debug, Default)]
struct Figures {
    acknowledged: u64,
    in_doubt: u64,
    in_doubt_committed: u64,
}

/// After a restart: every acknowledged deal reads back exactly as acknowledged; the write in
/// doubt is whole or absent, and its retry (same request id) lands once.
async fn check_acknowledged(
    channel: &Channel,
    org: &Org,
    conn: &DatabaseConnection,
    worker: &mut Worker,
    figures: &mut Figures,
) {
    let doubt = worker.in_doubt.take();
    figures.in_doubt += u64::from(doubt.is_some());
    let admin = &org.admin.token;
    let mut client = deals(channel);
    for (name, acked) in worker.deals.iter_mut() {
        let read = client
            .get_deal(authed(admin, pb::GetDealRequest { name: name.clone() }))
            .await
            .unwrap_or_else(|s| panic!("{name} was acknowledged and is gone: {s:?}"))
            .into_inner();
        let doubted = match &doubt {
            Some(Op::Update { deal, .. } | Op::Move { deal, .. }) if deal == name => doubt.as_ref(),
            _ => None,
        };
        let Some(op) = doubted else {
            assert_eq!(&read, acked, "{name}: the acknowledged state");
            continue;
        };
        let committed = check_write_in_doubt(name, &read, acked, op);
        figures.in_doubt_committed += u64::from(committed);
        let Op::Move {
            target, request_id, ..
        } = op
        else {
            *acked = read;
            continue;
        };
        // The client retries its move with the same request id and the etag it had.
        let move_ = (name.as_str(), target.as_str(), request_id.as_str());
        let committed = committed.then_some(&read);
        *acked = retry_move(&mut client, &worker.rep.token, acked, move_, committed).await;
    }
    if let Some(Op::Create {
        request_id,
        display_name,
    }) = doubt
    {
        let create = (request_id, display_name.as_str());
        let retry = retry_create(&mut client, org, conn, &worker.rep.token, create, figures).await;
        worker.deals.insert(retry.name.clone(), retry);
    }
}

/// The update or move in doubt on the deal `name` (`acked` before it, `read` now) committed
/// whole or left nothing behind: whether it committed.
fn check_write_in_doubt(name: &str, read: &pb::Deal, acked: &pb::Deal, op: &Op) -> bool {
    let committed = version(&read.etag) == version(&acked.etag) + 1;
    if committed {
        match op {
            Op::Update {
                next_step, amount, ..
            } => {
                assert_eq!(
                    (
                        read.next_step.as_str(),
                        read.amount.as_ref().map(|m| m.amount_minor)
                    ),
                    (next_step.as_str(), Some(*amount)),
                    "{name}: the update in doubt committed whole"
                );
                assert_eq!(read.stage, acked.stage, "{name}: and nothing else");
            }
            Op::Move { target, .. } => {
                assert_eq!(&read.stage, target, "{name}: the move in doubt committed");
                assert_eq!(read.next_step, acked.next_step, "{name}: and nothing else");
            }
            Op::Create { .. } => unreachable!(),
        }
    } else {
        assert_eq!(
            read, acked,
            "{name}: the write in doubt left nothing behind"
        );
    }
    committed
}

/// The move in doubt `(deal, target, request id)` sent again with the etag the client had
/// (`acked`'s): it answers the committed move (`committed`, when it did) or moves now. The
/// deal as the retry answered.
async fn retry_move(
    client: &mut DealServiceClient<Channel>,
    token: &str,
    acked: &pb::Deal,
    (name, target, request_id): (&str, &str, &str),
    committed: Option<&pb::Deal>,
) -> pb::Deal {
    let retry = send_move(client, token, name, &acked.etag, target, request_id)
        .await
        .expect("the retried move");
    match committed {
        Some(read) => assert_eq!(&retry, read, "{name}: the retry answers the committed move"),
        None => {
            assert_eq!(version(&retry.etag), version(&acked.etag) + 1);
            assert_eq!(retry.stage, target);
        }
    }
    retry
}

/// The create in doubt `(request id, display name)`: made at most once before the restart,
/// and its retry answers that one or creates it, once. The deal the retry answered.
async fn retry_create(
    client: &mut DealServiceClient<Channel>,
    org: &Org,
    conn: &DatabaseConnection,
    token: &str,
    (request_id, display_name): (String, &str),
    figures: &mut Figures,
) -> pb::Deal {
    let by_name =
        format!("SELECT id AS k, version AS n FROM deals WHERE display_name = '{display_name}'");
    let before = rows(conn, &by_name).await;
    assert!(before.len() <= 1, "{display_name}: created at most once");
    figures.in_doubt_committed += before.len() as u64;
    let retry = client
        .create_deal(authed(
            token,
            pb::CreateDealRequest {
                deal: Some(org.new_deal(display_name)),
                request_id,
            },
        ))
        .await
        .expect("the retried create")
        .into_inner();
    if let Some((id, _)) = before.first() {
        assert_eq!(
            retry.name,
            format!("deals/{id}"),
            "the retry answers the first create"
        );
    }
    assert_eq!(
        rows(conn, &by_name).await.len(),
        1,
        "{display_name}: created once"
    );
    retry
}

/// Nothing half-written anywhere in the database: each count names the deals (or rows) that
/// break a rule and must be zero.
async fn check_consistent(conn: &DatabaseConnection) {
    let rules = [
        (
            "a deal's stage is its last stage-history row's",
            "SELECT COUNT(*) AS n FROM deals d WHERE d.stage_id <> COALESCE((SELECT h.to_stage \
             FROM stage_history h WHERE h.deal_id = d.id ORDER BY h.id DESC LIMIT 1), '')",
        ),
        (
            "every stage-history row's deal exists",
            "SELECT COUNT(*) AS n FROM stage_history h \
             WHERE NOT EXISTS (SELECT 1 FROM deals d WHERE d.id = h.deal_id)",
        ),
        (
            "a deal's version is 1 + its moves + its updates",
            "SELECT COUNT(*) AS n FROM deals d WHERE d.version <> \
             (SELECT COUNT(*) FROM stage_history h WHERE h.deal_id = d.id) + \
             (SELECT COUNT(*) FROM deal_events e WHERE e.deal_id = d.id AND e.kind = 'UPDATED')",
        ),
        (
            "one CreateDeal audit row and one CREATED event per deal",
            "SELECT COUNT(*) AS n FROM deals d WHERE \
             (SELECT COUNT(*) FROM audit_events a WHERE a.resource = 'deals/' || d.id \
              AND a.action = 'CreateDeal') <> 1 OR \
             (SELECT COUNT(*) FROM deal_events e WHERE e.deal_id = d.id AND e.kind = 'CREATED') <> 1",
        ),
        (
            "a deal is closed (with its time and category) exactly when its last history row \
             closes it",
            "SELECT COUNT(*) AS n FROM deals d WHERE \
             CASE WHEN d.status = 'OPEN' THEN 0 ELSE 1 END <> (SELECT CASE WHEN h.direction = \
             'CLOSE' THEN 1 ELSE 0 END FROM stage_history h WHERE h.deal_id = d.id \
             ORDER BY h.id DESC LIMIT 1) OR (d.status <> 'OPEN' AND (d.closed_at IS NULL \
             OR d.forecast_category <> 'CLOSED'))",
        ),
        (
            "one audit row and one event per move or close",
            "SELECT COUNT(*) AS n FROM deals d WHERE \
             (SELECT COUNT(*) FROM stage_history h WHERE h.deal_id = d.id) - 1 <> \
             (SELECT COUNT(*) FROM audit_events a WHERE a.resource = 'deals/' || d.id \
              AND a.action IN ('AdvanceDealStage', 'CloseDeal')) OR \
             (SELECT COUNT(*) FROM stage_history h WHERE h.deal_id = d.id) - 1 <> \
             (SELECT COUNT(*) FROM deal_events e WHERE e.deal_id = d.id \
              AND e.kind IN ('STAGE_MOVED', 'CLOSED'))",
        ),
        (
            "one next_step audit row per update",
            "SELECT COUNT(*) AS n FROM deals d WHERE \
             (SELECT COUNT(*) FROM audit_events a WHERE a.resource = 'deals/' || d.id \
              AND a.action = 'UpdateDeal' AND a.field = 'next_step') <> \
             (SELECT COUNT(*) FROM deal_events e WHERE e.deal_id = d.id AND e.kind = 'UPDATED')",
        ),
    ];
    for (rule, sql) in rules {
        assert_eq!(number(conn, sql).await, 0, "{rule}");
    }
}

/// SQLite as the server opens it: WAL with `synchronous=FULL`, so a commit is on disk (the
/// WAL fsynced) before the answer leaves, and a kill (or a power cut) keeps it.
async fn check_sqlite_durability(url: &str) {
    let db = dealdesk::persistence::connect(url)
        .await
        .expect("open SQLite");
    let backend = db.get_database_backend();
    let pragma = |sql: &str| Statement::from_string(backend, sql.to_string());
    let journal = db
        .query_one_raw(pragma("PRAGMA journal_mode"))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "journal_mode")
        .unwrap();
    let synchronous = db
        .query_one_raw(pragma("PRAGMA synchronous"))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i32>("", "synchronous")
        .unwrap();
    assert_eq!(
        (journal.as_str(), synchronous),
        ("wal", 2),
        "WAL, synchronous=FULL"
    );
    db.close().await.ok();
}

async fn kill_cycles(engine: Engine) {
    let Some(db) = Db::fresh(engine).await else {
        return;
    };
    if engine == Engine::Sqlite {
        check_sqlite_durability(&db.url).await;
    }
    let seed = seed();
    let cycles = cycles();
    let seconds = load_seconds();
    eprintln!(
        "crashes ({engine:?}): seed {seed} (DEALDESK_RELIABILITY_SEED), {cycles} kill cycles"
    );
    let mut rng = Rng::new(seed);
    let mut server = Server::start(&db.url, 0).await;
    let org = Arc::new(Org::seed(&db.url, &server.channel, REPS).await);
    let conn = db.connect().await;
    let mut workers: Vec<Worker> = (0..WORKERS)
        .map(|id| Worker {
            id,
            rep: org.reps[id % REPS].clone(),
            rng: Rng::new(seed ^ ((id as u64 + 1) << 40)),
            deals: BTreeMap::new(),
            in_doubt: None,
            acknowledged: 0,
            sent: 0,
        })
        .collect();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let mut figures = Figures::default();
    for cycle in 0..cycles {
        let killed = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = workers
            .drain(..)
            .map(|w| {
                tokio::spawn(write_until_killed(
                    w,
                    server.connection(),
                    org.clone(),
                    killed.clone(),
                    failures.clone(),
                ))
            })
            .collect();
        // A random moment: on average `seconds / cycles` of load per cycle.
        let window = (2.0 * seconds / cycles as f64 - 0.5).max(0.5);
        let kill_at = 0.25 + window * (rng.next() % 1000) as f64 / 1000.0;
        tokio::time::sleep(Duration::from_secs_f64(kill_at)).await;
        let errors = server.errors_logged();
        assert!(
            errors.is_empty(),
            "cycle {cycle}: errors logged: {errors:#?}"
        );
        killed.store(true, Ordering::SeqCst);
        server.kill9();
        for task in tasks {
            workers.push(task.await.expect("a writer panicked"));
        }
        {
            let failures = failures.lock().unwrap_or_else(|e| e.into_inner());
            assert!(failures.is_empty(), "cycle {cycle}: {failures:#?}");
        }
        server = Server::start(&db.url, 0).await;
        check_consistent(&conn).await;
        for worker in workers.iter_mut() {
            check_acknowledged(&server.channel, &org, &conn, worker, &mut figures).await;
        }
        check_consistent(&conn).await;
        eprintln!("crashes ({engine:?}): cycle {cycle}: killed after {kill_at:.2} s");
    }
    figures.acknowledged = workers.iter().map(|w| w.acknowledged).sum();
    let deals_stored = number(&conn, "SELECT COUNT(*) AS n FROM deals").await;
    let closed = number(
        &conn,
        "SELECT COUNT(*) AS n FROM deals WHERE status <> 'OPEN'",
    )
    .await;
    eprintln!(
        "crashes ({engine:?}): {cycles} kill -9 cycles, {} writes acknowledged, all present \
         (lost writes 0); {} in flight at a kill, {} of them committed whole, none half-written; \
         {deals_stored} deals ({closed} closed)",
        figures.acknowledged, figures.in_doubt, figures.in_doubt_committed
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_write_load_loses_no_acknowledged_write_on_sqlite() {
    kill_cycles(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_write_load_loses_no_acknowledged_write_on_postgresql() {
    kill_cycles(Engine::Postgres).await;
}
