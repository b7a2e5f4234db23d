//! AdvanceDealStage with 16 concurrent gRPC clients vs raw transactions doing the same reads and
//! inserts on the same engine.

use std::sync::Arc;

use chrono::Utc;
use dealdesk::app::ports::PipelineStore;
use dealdesk::proto as pb;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};

use crate::Run;
use crate::common::authed;
use crate::measure::{Row, push, throughput};

/// Open deals of the measured pipeline to move: (deal id, its stage, the stage before it).
pub type Moves = Arc<Vec<(String, String, String)>>;

/// Up to 320 open deals past the first stage, each with its stage and the one before.
pub async fn open_moves(run: &Run<'_>) -> Moves {
    let Run { store, db, .. } = run;
    let (backend, pipeline) = (run.backend, run.pipeline);
    // AdvanceDealStage: 16 clients moving open deals one stage back (always allowed) and
    // forward again (gated: a deal whose criteria no longer hold fails and is counted apart).
    // Deals whose close date has passed are left out: the gates' "close date today or later"
    // would refuse every forward move of theirs, where the raw moves check no gate.
    let open = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT d.id, d.stage_id FROM deals d WHERE d.status = 'OPEN' AND d.pipeline_id = $1 \
             AND d.stage_id <> 'problem-recognized' AND d.close_date >= $2 LIMIT 320",
            [pipeline.to_string().into(), run.now.date_naive().into()],
        ))
        .await
        .unwrap();
    let pipeline_stages: Vec<String> = {
        let p = store.get_pipeline(pipeline).await.unwrap().unwrap();
        p.spec.stages.iter().map(|s| s.stage_id.clone()).collect()
    };
    Arc::new(
        open.iter()
            .map(|r| {
                let id: String = r.try_get("", "id").unwrap();
                let stage: String = r.try_get("", "stage_id").unwrap();
                let at = pipeline_stages.iter().position(|s| *s == stage).unwrap();
                (id, stage, pipeline_stages[at - 1].clone())
            })
            .collect(),
    )
}

/// Raw stage moves: the reads and writes of AdvanceDealStage as plain SQL in one transaction.
async fn raw_move(db: &DatabaseConnection, deal: &str, to: &str) -> bool {
    let backend = db.get_database_backend();
    let Ok(txn) = db
        .begin_with_options(sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
    else {
        return false;
    };
    let q = |sql: &str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(backend, sql, values)
    };
    let now = Utc::now();
    let row = txn
        .query_one_raw(q(
            "SELECT version, pipeline_id, stage_id, owner_id FROM deals WHERE id = $1",
            vec![deal.into()],
        ))
        .await;
    let Ok(Some(row)) = row else { return false };
    let version: i64 = row.try_get("", "version").unwrap();
    let pipeline: String = row.try_get("", "pipeline_id").unwrap();
    let from: String = row.try_get("", "stage_id").unwrap();
    let owner: String = row.try_get("", "owner_id").unwrap();
    let _ = txn
        .query_all_raw(q(
            "SELECT * FROM deal_contacts WHERE deal_id = $1",
            vec![deal.into()],
        ))
        .await;
    let steps = [
        (
            "UPDATE deals SET stage_id = $1, version = $2, updated_at = $3, stage_entered_at = $3 \
             WHERE id = $4 AND version = $5",
            vec![
                to.into(),
                (version + 1).into(),
                now.into(),
                deal.into(),
                version.into(),
            ],
        ),
        (
            "INSERT INTO stage_history (deal_id, pipeline_id, from_stage, to_stage, changed_at, \
             direction, overridden, justification) VALUES ($1, $2, $3, $4, $5, 'FORWARD', false, '')",
            vec![
                deal.into(),
                pipeline.clone().into(),
                from.clone().into(),
                to.into(),
                now.into(),
            ],
        ),
        (
            "INSERT INTO field_history (deal_id, changed_at, field, old_value, new_value) \
             VALUES ($1, $2, 'stage', $3, $4)",
            vec![deal.into(), now.into(), from.clone().into(), to.into()],
        ),
        (
            "INSERT INTO audit_events (action, resource, detail, created_at) \
             VALUES ('AdvanceDealStage', $1, '', $2)",
            vec![deal.into(), now.into()],
        ),
        (
            "INSERT INTO deal_events (deal_id, pipeline_id, owner_id, kind, from_stage, to_stage, \
             fields, description, created_at) VALUES ($1, $2, $3, 'STAGE_MOVED', $4, $5, '', '', $6)",
            vec![
                deal.into(),
                pipeline.into(),
                owner.into(),
                from.into(),
                to.into(),
                now.into(),
            ],
        ),
    ];
    for (sql, values) in steps {
        if txn.execute_raw(q(sql, values)).await.is_err() {
            return false;
        }
    }
    txn.commit().await.is_ok()
}

pub async fn measure(run: &Run<'_>, moves: &Moves, rows: &mut Vec<Row>) {
    let Run {
        engine,
        db,
        token,
        channel,
        ..
    } = run;
    let window = run.window;
    let per_worker = (moves.len() / 16).max(1);
    let deals_client = pb::deal_service_client::DealServiceClient::new(channel.clone());
    let (token2, moves2) = (token.clone(), moves.clone());
    let (ours_tput, ours_failed) = throughput(16, window, move |worker, i| {
        let mut client = deals_client.clone();
        let (token, moves) = (token2.clone(), moves2.clone());
        async move {
            let (id, home, back) =
                &moves[(worker * per_worker + (i as usize / 2) % per_worker) % moves.len()];
            let target = if i % 2 == 0 { back } else { home };
            client
                .advance_deal_stage(authed(
                    &token,
                    pb::AdvanceDealStageRequest {
                        name: format!("deals/{id}"),
                        target_stage: target.clone(),
                        ..Default::default()
                    },
                ))
                .await
                .is_ok()
        }
    })
    .await;
    let (db2, moves3) = (db.clone(), moves.clone());
    let (raw_tput, raw_failed) = throughput(16, window, move |worker, i| {
        let (db, moves) = (db2.clone(), moves3.clone());
        async move {
            let (id, home, back) =
                &moves[(worker * per_worker + (i as usize / 2) % per_worker) % moves.len()];
            let target = if i % 2 == 0 { home } else { back };
            raw_move(&db, id, target).await
        }
    })
    .await;
    println!(
        "[{engine}] AdvanceDealStage: {ours_failed} failed calls; raw: {raw_failed} failed transactions"
    );
    let ratio = ours_tput / raw_tput;
    push(
        rows,
        engine,
        "AdvanceDealStage, 16 clients",
        "calls/s",
        (ours_tput, ours_tput),
        raw_tput,
        (">= 50% of raw", ratio >= 0.5),
    );
}
