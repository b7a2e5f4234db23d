//! What each concurrent client does: writes, moves, submits, approves and withdraws, on either
//! replica, once or twice.

use super::*;

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
                amount: usd(*amount),
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
pub(super) async fn submit(
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
pub(super) async fn client(ctx: Arc<Ctx>, i: usize, seed: u64) {
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
