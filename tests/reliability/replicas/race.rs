//! The run: two replicas, the clients, then every check of the rows both wrote.

use super::*;

const CLIENTS: usize = 32;

const DEALS_PER_REP: usize = 3;

/// Requests made overdue by hand (at once), which both replicas then race to escalate.
const OVERDUE: usize = 10;

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
    let (mut ctx, created) = prepare(&db, vec![a.connection(), b.connection()]).await;
    let conn = db.connect().await;
    let overdue = submit_overdue(&ctx, &conn, seed).await;

    ctx.deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let ctx = Arc::new(ctx);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client(ctx.clone(), i, seed)))
        .collect();
    for c in clients {
        c.await.expect("a client panicked");
    }
    wait_for_escalations(&ctx, &overdue).await;

    let ledger = std::mem::take(&mut *ctx.ledger());
    assert!(
        ledger.failures.is_empty(),
        "{} unexpected answers, first ones: {:#?}",
        ledger.failures.len(),
        &ledger.failures[..ledger.failures.len().min(10)]
    );
    check_late_retries(&ctx, &ledger).await;
    let moves_total = check_no_lost_update(&ctx, &ledger, &created).await;
    let seats_decided = check_no_duplicated_decision(&ctx, &conn, &ledger).await;
    check_withdrawals(&ctx, &conn, &ledger).await;
    let stored = crate::harness::number(&conn, "SELECT COUNT(*) AS n FROM approval_requests").await;
    assert_eq!(
        stored,
        ledger.submissions.len() as i64,
        "one request per accepted request_id"
    );
    let escalations = check_one_escalation_each(&ctx, &conn, &overdue).await;

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
        escalations,
        by.0,
        by.1,
        ledger.withdrawals.len(),
        ledger.late_retries.len(),
        ledger.aborted,
        ledger.refused,
    );
    drop((a, b));
}

/// The org, the policy and the deals under load, created through both replicas: the context
/// the clients share (its deadline set when the load starts) and each deal as created.
async fn prepare(db: &Db, replicas: Vec<Channel>) -> (Ctx, HashMap<String, pb::Deal>) {
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
    let ctx = Ctx {
        replicas,
        org,
        deals: deal_list,
        ledger: Mutex::default(),
        // Set when the load starts, after the overdue requests are made.
        deadline: Instant::now() + Duration::from_secs(3600),
    };
    (ctx, created)
}

/// Requests nobody decides, made overdue together in one transaction: the replicas race to
/// escalate them during the load. Their names.
async fn submit_overdue(ctx: &Ctx, conn: &DatabaseConnection, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut overdue = Vec::new();
    for n in 0..OVERDUE {
        let (deal, owner) = ctx.deals[n % ctx.deals.len()].clone();
        let replicas = (&ctx.replicas[0], &ctx.replicas[1]);
        let rep = ctx.org.reps[owner].clone();
        let request = submit(ctx, replicas, &rep, &deal, &mut rng)
            .await
            .expect("submit a request");
        overdue.push(request.name);
    }
    let txn = conn.begin().await.unwrap();
    for name in &overdue {
        make_overdue(&txn, name).await;
    }
    txn.commit().await.unwrap();
    overdue
}

/// Every overdue step escalates (wait for it, at most 30 s), then two more sweeps of each
/// replica pass, giving a double escalation every chance to show.
async fn wait_for_escalations(ctx: &Ctx, overdue: &[String]) {
    for _ in 0..300 {
        let mut waiting = 0;
        for name in overdue {
            let request = read_request(ctx, name).await;
            waiting += usize::from(request.steps[0].escalate_time.is_none());
        }
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

/// A move retried long after (the deal has moved on since) answers its first answer again
/// and moves nothing; the history check counts its rows.
async fn check_late_retries(ctx: &Ctx, ledger: &Ledger) {
    for (token, request, first) in &ledger.late_retries {
        let again = deals(&ctx.replicas[1])
            .advance_deal_stage(authed(token, request.clone()))
            .await
            .expect("a late retry")
            .into_inner();
        assert_eq!(&again, first, "a late retry of {}", request.request_id);
    }
}

/// No lost update: per deal, each accepted write answered a version of its own; with the
/// submissions (each bumps the deal's version) they account for every version; replaying
/// the writes in version order gives each answer and the final read. Then its history. The
/// number of accepted moves.
async fn check_no_lost_update(
    ctx: &Ctx,
    ledger: &Ledger,
    created: &HashMap<String, pb::Deal>,
) -> usize {
    let admin = &ctx.org.admin;
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
        let last = read_deal(ctx, admin, name).await;
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
        moves_total += check_history(ctx, name, &writes).await;
    }
    moves_total
}

/// No duplicated stage-history row: the creation, then each accepted move once. The number
/// of accepted moves.
async fn check_history(ctx: &Ctx, name: &str, writes: &[&(Change, pb::Deal)]) -> usize {
    let moves: Vec<&str> = writes
        .iter()
        .filter_map(|(c, _)| match c {
            Change::Move { target, .. } => Some(target.as_str()),
            _ => None,
        })
        .collect();
    let count = moves.len();
    let history = deals(&ctx.replicas[1])
        .list_deal_stage_history(authed(
            &ctx.org.admin.token,
            pb::ListDealStageHistoryRequest {
                parent: name.to_string(),
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
    count
}

/// No duplicated decision: each step has as many decided seats as accepted decisions on it,
/// and as many STEP_DECIDED events and audit rows. The seats decided.
async fn check_no_duplicated_decision(
    ctx: &Ctx,
    conn: &DatabaseConnection,
    ledger: &Ledger,
) -> i64 {
    let mut decisions_per_step: HashMap<&str, i64> = HashMap::new();
    for (step, _) in ledger.decisions.values() {
        *decisions_per_step.entry(step.as_str()).or_default() += 1;
    }
    let events: HashMap<String, i64> = rows(
        conn,
        "SELECT request_id || '/' || CAST(step AS TEXT) AS k, COUNT(*) AS n FROM approval_events \
         WHERE kind = 'STEP_DECIDED' GROUP BY request_id, step",
    )
    .await
    .into_iter()
    .collect();
    let audits: HashMap<String, i64> = rows(
        conn,
        "SELECT resource AS k, COUNT(*) AS n FROM audit_events \
         WHERE action = 'ApproveApprovalStep' GROUP BY resource",
    )
    .await
    .into_iter()
    .collect();
    let mut seats_decided = 0;
    for submitted in ledger.submissions.values() {
        let request = read_request(ctx, &submitted.name).await;
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
    seats_decided
}

/// A request is withdrawn at most once, and then stays withdrawn.
async fn check_withdrawals(ctx: &Ctx, conn: &DatabaseConnection, ledger: &Ledger) {
    let mut withdrawn: HashMap<&str, i64> = HashMap::new();
    for name in ledger.withdrawals.values() {
        *withdrawn.entry(name.as_str()).or_default() += 1;
    }
    for (name, accepted) in &withdrawn {
        assert_eq!(*accepted, 1, "{name}: accepted withdrawals");
        let request = read_request(ctx, name).await;
        let state = pb::approval_request::State::Withdrawn as i32;
        assert_eq!(request.state, state, "{name}: withdrawn");
    }
    let withdrawal_events = rows(
        conn,
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
}

/// No double escalation: each overdue step escalated once over both replicas, and nothing
/// else escalated. The escalations counted.
async fn check_one_escalation_each(
    ctx: &Ctx,
    conn: &DatabaseConnection,
    overdue: &[String],
) -> usize {
    let escalations = rows(
        conn,
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
        conn,
        "SELECT resource AS k, COUNT(*) AS n FROM audit_events \
         WHERE action = 'EscalateApprovalStep' GROUP BY resource",
    )
    .await;
    assert!(
        audited.len() == OVERDUE && audited.iter().all(|(_, n)| *n == 1),
        "one escalation audit row per overdue step: {audited:?}"
    );
    for name in overdue {
        let request = read_request(ctx, name).await;
        assert_eq!(
            request.steps[0].seats[0].escalated_to,
            std::slice::from_ref(&ctx.org.leader.name),
            "{name} escalated to the manager's manager"
        );
    }
    escalations.len()
}

/// An approval request as the admin reads it through the first replica.
async fn read_request(ctx: &Ctx, name: &str) -> pb::ApprovalRequest {
    desk(&ctx.replicas[0])
        .get_approval_request(authed(
            &ctx.org.admin.token,
            pb::GetApprovalRequestRequest {
                name: name.to_string(),
            },
        ))
        .await
        .expect("read a request")
        .into_inner()
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
