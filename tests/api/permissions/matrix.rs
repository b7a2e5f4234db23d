//! Every caller of every RPC gets the answer its cell of the role table says, and writes only what
//! it may.

use super::*;

/// Makes the fresh objects `needs` names.
async fn prepare(app: &TestApp, org: &Matrix, needs: Needs) -> Fresh {
    match needs {
        Needs::Token => {
            let issued = app
                .app
                .issue_token_as(None, user_id(&org.standin.name()), "to revoke")
                .await
                .unwrap();
            Fresh {
                token: format!("{}/apiTokens/{}", org.standin.name(), issued.token.id),
                ..Default::default()
            }
        }
        Needs::Deal(stage) => Fresh {
            deal: org.fresh_deal(stage).await,
            ..Default::default()
        },
        Needs::Request => {
            let deal = org.fresh_deal("a").await;
            let request = org.fresh_request(&deal).await;
            Fresh {
                deal,
                request,
                ..Default::default()
            }
        }
        Needs::Nothing => Fresh::default(),
    }
}

/// The newest audit row's id (0 when there is none).
async fn last_audit_id(app: &TestApp) -> i64 {
    let db = app.app.store.connection();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS n FROM audit_events",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// The audit rows written after `after`: (actor id, action).
async fn audit_since(app: &TestApp, after: i64) -> Vec<(Option<String>, String)> {
    let db = app.app.store.connection();
    db.query_all_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "SELECT actor_id, action FROM audit_events WHERE id > $1 ORDER BY id"
            }
            _ => "SELECT actor_id, action FROM audit_events WHERE id > ? ORDER BY id",
        },
        [after.into()],
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            row.try_get::<Option<String>>("", "actor_id").unwrap(),
            row.try_get::<String>("", "action").unwrap(),
        )
    })
    .collect()
}

/// Whether an RPC changes state (and so must leave an audit row): all but the readers.
fn writes(rpc: &str) -> bool {
    let method = rpc.rsplit('.').next().unwrap_or(rpc);
    !["Get", "List", "Preview", "Watch", "Backtest"]
        .iter()
        .any(|prefix| method.starts_with(prefix))
}

contract_test!(
    every_caller_gets_the_answer_its_cell_of_the_matrix_says,
    |app| {
        let org = Matrix::build(&app).await;
        let mut wrong = Vec::new();
        let mut cells = 0;
        for row in rows() {
            for (column, expected) in &row.cells {
                let call = call_of(&row.key);
                let fresh = prepare(&app, &org, call.needs).await;
                let before = written(&app).await;
                let last_audit = last_audit_id(&app).await;
                let answer = (call.call)(&org, &fresh, org.tokens[column].as_deref()).await;
                cells += 1;
                if !matches(*expected, &answer) {
                    wrong.push(format!(
                        "{} as {column}: expected {expected:?}, got {}",
                        row.key,
                        seen(&answer)
                    ));
                } else if expected.refused() && written(&app).await != before {
                    wrong.push(format!(
                        "{} as {column}: refused, but it wrote something",
                        row.key
                    ));
                } else if !expected.refused() {
                    // The audit trail names the caller of every write it records, and every
                    // accepted write leaves at least one row.
                    let audited = audit_since(&app, last_audit).await;
                    let caller = &org.actors[column];
                    for (actor, action) in &audited {
                        if actor != caller {
                            wrong.push(format!(
                                "{} as {column}: audit row {action} names {actor:?}, not {caller:?}",
                                row.key
                            ));
                        }
                    }
                    if audited.is_empty() && *expected == Outcome::Ok && writes(&row.rpc) {
                        wrong.push(format!("{} as {column}: wrote no audit row", row.key));
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {cells} cells differ from docs/PERMISSIONS.md:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        eprintln!("{cells} cells of the permission matrix checked");
    }
);
