//! What both test binaries share (`tests/api` in process, `tests/reliability` over the real
//! binary), written once: requests with a bearer token, money and stages on the wire, and a
//! fresh PostgreSQL database. Each binary includes this file with `#[path]`.

// Each binary uses only part of this module.
#![allow(dead_code)]

use dealdesk::proto as pb;
use sea_orm::{ConnectionTrait, Database};
use tonic::Request;

/// Environment variable naming a PostgreSQL server URL (its database is only used to create
/// one fresh database per test).
pub const POSTGRES_URL_VAR: &str = "DEALDESK_TEST_POSTGRES_URL";

/// A request carrying `authorization: Bearer <token>`.
pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// An amount in US cents, on the wire.
pub fn usd(minor: i64) -> Option<pb::Money> {
    money("USD", minor)
}

/// An amount in minor units of `currency`, on the wire.
pub fn money(currency: &str, minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency_code: currency.into(),
        amount_minor: minor,
    })
}

/// A stage for hand-built pipelines: default probability from its position (won 100%, lost 0).
pub fn stage(
    id: &str,
    position: i32,
    kind: pb::stage::Kind,
    criteria: Vec<pb::exit_criterion::Rule>,
) -> pb::Stage {
    pb::Stage {
        stage_id: id.into(),
        display_name: id.replace('-', " "),
        owner_role: pb::Role::Rep as i32,
        default_probability_bps: match kind {
            pb::stage::Kind::Won => 10_000,
            pb::stage::Kind::Lost => 0,
            _ => position * 100,
        },
        kind: kind as i32,
        position,
        exit_criteria: criteria
            .into_iter()
            .map(|rule| pb::ExitCriterion {
                rule: Some(rule),
                description: String::new(),
            })
            .collect(),
        ..Default::default()
    }
}

/// Creates the database `dd_test_{unique}` on the server of `base` (a PostgreSQL URL ending in
/// `/database`) and returns its URL.
pub async fn create_postgres_database(base: &str, unique: &str) -> String {
    let name = format!("dd_test_{unique}");
    let admin = Database::connect(base)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");
    admin.close().await.ok();
    let (server, _) = base.rsplit_once('/').expect("a URL ending in /database");
    format!("{server}/{name}")
}
