//! The run: every hostile request is refused with the right code, nothing panics, the database is
//! unchanged.

use super::*;

/// Requests sent per backend unless `HOSTILE_REQUESTS` says otherwise.
const DEFAULT_REQUESTS: usize = 10_000;

/// Calls in flight at once, spread over [`CHANNELS`] connections.
const IN_FLIGHT: usize = 32;

const CHANNELS: usize = 4;

/// A bound on one call, so that a hung server fails the test instead of hanging it.
const CALL_BOUND: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Checking the answers.

fn is_upper_snake(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Why `answer` is not what `case` must get, if it is not.
fn judge(case: &Case, answer: &Result<(), Status>) -> Option<String> {
    let status = match answer {
        Ok(()) => return Some("accepted".into()),
        Err(status) => status,
    };
    if matches!(
        status.code(),
        Code::Internal | Code::Unknown | Code::Unavailable | Code::DataLoss
    ) {
        return Some(format!(
            "answered {:?}: {}",
            status.code(),
            status.message()
        ));
    }
    let Some(info) = status.get_details_error_info() else {
        return Some(format!("no ErrorInfo: {status:?}"));
    };
    if let Expect::Oversize = case.expect {
        return (status.code() != Code::ResourceExhausted || info.reason != "MESSAGE_TOO_LARGE")
            .then(|| format!("oversize answered {status:?}"));
    }
    if !is_upper_snake(&info.reason) || info.domain != "dealdesk.v1" {
        return Some(format!("bad ErrorInfo {info:?}"));
    }
    let (code, reason) = match &case.expect {
        Expect::Field(_) => (Code::InvalidArgument, None),
        Expect::Reason(code, reason) => (*code, Some(*reason)),
        Expect::Code(code) => (*code, None),
        Expect::Oversize => unreachable!(),
    };
    if status.code() != code {
        return Some(format!(
            "expected {code:?}, got {:?} ({}): {}",
            status.code(),
            info.reason,
            status.message()
        ));
    }
    if reason.is_some_and(|r| r != info.reason) {
        return Some(format!("expected reason {reason:?}, got {}", info.reason));
    }
    if code == Code::InvalidArgument {
        let fields: Vec<String> = status
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        if fields.is_empty() {
            return Some(format!(
                "INVALID_ARGUMENT without field violations: {status:?}"
            ));
        }
        if let Expect::Field(want) = &case.expect
            && !fields.contains(want)
        {
            return Some(format!("expected field {want:?}, got {fields:?}"));
        }
    }
    if code == Code::FailedPrecondition && status.message().is_empty() {
        return Some("FAILED_PRECONDITION that says nothing".into());
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The database fingerprint: every table's rows, as text, sorted and hashed.

async fn fingerprint(url: &str) -> BTreeMap<String, (usize, String)> {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let rows = |sql: String| Statement::from_string(backend, sql);
    let list_tables = match backend {
        DatabaseBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' ORDER BY name"
        }
        _ => {
            "SELECT table_name::text AS t FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
        }
    };
    let tables: Vec<String> = db
        .query_all_raw(rows(list_tables.to_string()))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "t").unwrap())
        .collect();
    let mut out = BTreeMap::new();
    for table in tables {
        let select = match backend {
            DatabaseBackend::Sqlite => {
                let columns: Vec<String> = db
                    .query_all_raw(rows(format!("PRAGMA table_info(\"{table}\")")))
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.try_get::<String>("", "name").unwrap())
                    .collect();
                let quoted: Vec<String> =
                    columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
                format!(
                    "SELECT {} AS r FROM \"{table}\"",
                    quoted.join(" || '|' || ")
                )
            }
            _ => format!("SELECT CAST(t AS text) AS r FROM \"{table}\" AS t"),
        };
        let mut lines: Vec<String> = db
            .query_all_raw(rows(select))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "r").unwrap())
            .collect();
        lines.sort();
        let mut hash = Sha256::new();
        for line in &lines {
            hash.update(line.as_bytes());
            hash.update([0]);
        }
        let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        out.insert(table, (lines.len(), digest));
    }
    db.close().await.ok();
    out
}

// ---------------------------------------------------------------------------------------------
// Panics anywhere outside the tests themselves (server code, its dependencies).

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_tests = info
                .location()
                .is_some_and(|l| l.file().starts_with("tests/"));
            if !in_tests {
                PANICS.lock().unwrap().push(info.to_string());
            }
            previous(info);
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// The test.

contract_test!(
    hostile_requests_are_refused_cleanly_and_change_nothing,
    // Every worker shares a few tokens: the heavy reads' budget (per caller, then per process)
    // would refuse some of them before their bodies are read, which is not what this judges.
    configure = |a: dealdesk::startup::Application| a.with_limits(dealdesk::overload::Limits {
        max_heavy_in_flight: IN_FLIGHT,
        max_heavy_per_caller: IN_FLIGHT,
        ..dealdesk::overload::Limits::default()
    }),
    |app| {
        watch_panics();
        let requests: usize = std::env::var("HOSTILE_REQUESTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(DEFAULT_REQUESTS);
        let fx = Arc::new(fixture(&app).await);
        let api = api();
        let families = families(&api, &fx);
        let all: BTreeSet<String> = api.methods.iter().map(|m| m.path.clone()).collect();
        assert_eq!(families.covered, all, "every RPC has hostile requests");

        let mut rng = Rng::new(0x5eed_8badf00d);
        let cases: Arc<Vec<Case>> = Arc::new(
            (0..requests)
                .map(|_| (families.list[rng.below(families.list.len())])(&mut rng))
                .collect(),
        );
        let before = fingerprint(&app.database_url).await;

        let mut channels = Vec::new();
        for _ in 0..CHANNELS {
            let channel = Channel::from_shared(format!("http://{}", app.addr))
                .unwrap()
                .connect()
                .await
                .unwrap();
            channels.push(channel);
        }
        let started = std::time::Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for w in 0..IN_FLIGHT {
            let (cases, next, channel) =
                (cases.clone(), next.clone(), channels[w % CHANNELS].clone());
            workers.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let answer = tokio::time::timeout(CALL_BOUND, send(channel.clone(), case))
                        .await
                        .unwrap_or_else(|_| Err(Status::unavailable("no answer within the bound")));
                    answers.push((i, answer));
                }
                answers
            }));
        }
        let mut answers = Vec::new();
        for worker in workers {
            answers.extend(worker.await.expect("a sending task panicked"));
        }
        assert_eq!(answers.len(), cases.len());

        let mut codes: BTreeMap<String, usize> = BTreeMap::new();
        let mut wrong: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for (i, answer) in &answers {
            let case = &cases[*i];
            let code = match answer {
                Ok(()) => "OK".to_string(),
                Err(s) => format!("{:?}", s.code()),
            };
            *codes.entry(code).or_default() += 1;
            if let Some(why) = judge(case, answer) {
                let entry = wrong
                    .entry(format!(
                        "{} [{}] expecting {:?}: {why}",
                        case.path,
                        case.label.split(" | ").next().unwrap_or(""),
                        case.expect
                    ))
                    .or_insert((0, case.label.clone()));
                entry.0 += 1;
            }
        }
        println!(
            "hostile input on {:?}: {} requests over {} RPCs in {:.1?}, answers by code: {codes:?}",
            app.backend,
            cases.len(),
            all.len(),
            started.elapsed()
        );
        for (why, (n, example)) in &wrong {
            println!("WRONG x{n}: {why}\n    e.g. {example}");
        }
        assert!(
            wrong.is_empty(),
            "{} kinds of wrong answers (see above)",
            wrong.len()
        );

        // Still serving, nothing panicked, nothing changed.
        let me = app
            .directory()
            .await
            .get_current_user(authed(&fx.admin, pb::GetCurrentUserRequest {}))
            .await
            .expect("the server still serves");
        assert_eq!(me.into_inner().name, app.admin.name);
        assert!(!app.server.as_ref().unwrap().is_finished());
        let panics = PANICS.lock().unwrap().clone();
        assert!(panics.is_empty(), "panics: {panics:#?}");
        let after = fingerprint(&app.database_url).await;
        for (table, (rows, hash)) in &before {
            assert_eq!(
                after.get(table),
                Some(&(*rows, hash.clone())),
                "table {table} changed under refused requests"
            );
        }
        assert_eq!(before.len(), after.len());

        // The fingerprint does see a write: one accepted call changes it.
        app.forecasts()
            .await
            .submit_forecast_call(authed(
                &fx.rep.token,
                pb::SubmitForecastCallRequest {
                    period: "2026-Q4".into(),
                    commit: usd(1_000),
                    best_case: usd(2_000),
                    note: String::new(),
                },
            ))
            .await
            .unwrap();
        assert_ne!(fingerprint(&app.database_url).await, after);
    }
);
