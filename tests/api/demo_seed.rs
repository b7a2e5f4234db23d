//! `dealdesk demo` stays put: the same seed seeded into two fresh databases gives the same
//! tokens, users, pipelines, deals and env file; another seed gives others. The env file's
//! tokens and names work against the server.

use dealdesk::app::Clock;
use dealdesk::demo::{self, DemoSpec, SeededDemo};
use dealdesk::proto as pb;

use crate::contract_test;
use crate::helpers::{TestApp, authed, spawn_app};

/// When the demo is generated (a fixed day: the same quarter for every seeding).
const NOW: &str = "2026-12-01T12:00:00Z";

/// A small book keeps the test quick; the env file's search is the same at any size.
const DEALS: usize = 600;

async fn seeded(app: &TestApp, seed: u64) -> SeededDemo {
    seeded_with(app, DemoSpec { seed, deals: DEALS }).await
}

async fn seeded_with(app: &TestApp, spec: DemoSpec) -> SeededDemo {
    let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().to_utc();
    let app = app.app.clone().with_clock(Clock::starting_at(now));
    demo::seed_with(&app, spec).await.unwrap()
}

/// Every deal id of the store, sorted.
async fn deal_ids(app: &TestApp) -> Vec<uuid::Uuid> {
    use dealdesk::app::ports::ForecastStore;
    let year = |y: &str| chrono::DateTime::parse_from_rfc3339(y).unwrap().to_utc();
    let (from, to) = (year("2000-01-01T00:00:00Z"), year("2100-01-01T00:00:00Z"));
    let mut ids: Vec<_> = app
        .app
        .store
        .deal_timelines(None, None, (from, to), None)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, timeline)| timeline.deal_id.0)
        .collect();
    ids.sort();
    ids
}

/// The value of `export NAME='value'` in `env`.
fn var<'e>(env: &'e str, name: &str) -> &'e str {
    let prefix = format!("export {name}='");
    env.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("{name} is not in the env file:\n{env}"))
}

contract_test!(
    the_same_seed_gives_the_same_tokens_ids_and_env_file_and_another_seed_others,
    |app| {
        let first = seeded(&app, 7).await;
        let again_app = spawn_app(app.backend).await.unwrap();
        let again = seeded(&again_app, 7).await;
        let other_app = spawn_app(app.backend).await.unwrap();
        let other = seeded(&other_app, 8).await;

        let logins = |d: &SeededDemo| -> Vec<(uuid::Uuid, String)> {
            d.logins
                .iter()
                .map(|l| (l.user.id.0, l.secret.clone()))
                .collect()
        };
        assert_eq!(logins(&first).len(), 11);
        assert_eq!(logins(&first), logins(&again));
        let env = first.walkthrough.env_file("127.0.0.1:50051");
        assert_eq!(env, again.walkthrough.env_file("127.0.0.1:50051"));
        let ids = deal_ids(&app).await;
        assert_eq!(ids.len(), DEALS);
        assert_eq!(ids, deal_ids(&again_app).await);

        let (mine, theirs) = (logins(&first), logins(&other));
        assert!(
            mine.iter()
                .zip(&theirs)
                .all(|(a, b)| a.0 != b.0 && a.1 != b.1)
        );
        assert_ne!(env, other.walkthrough.env_file("127.0.0.1:50051"));
        let other_ids = deal_ids(&other_app).await;
        assert!(ids.iter().all(|id| other_ids.binary_search(id).is_err()));
    }
);

contract_test!(
    the_env_files_tokens_and_names_work_against_the_server,
    |app| {
        // The whole demo book: README's walkthrough deals are found in it.
        let demo = seeded_with(&app, DemoSpec::default()).await;
        let env = demo.walkthrough.env_file("127.0.0.1:50051");
        assert!(env.contains("DEMO ONLY"), "{env}");
        assert_eq!(var(&env, "QUARTER"), "2026-Q4");
        assert_eq!(var(&env, "LAST_QUARTER"), "2026-Q3");
        for (token, user) in [
            ("ADMIN_TOKEN", "ADMIN"),
            ("LEADER_TOKEN", "LEADER"),
            ("MANAGER_TOKEN", "MANAGER"),
            ("REP_TOKEN", "REP"),
            ("DESK_TOKEN", "DESK"),
            ("FINANCE_TOKEN", "FINANCE"),
            ("LEGAL_TOKEN", "LEGAL"),
            ("ROBIN_TOKEN", "ROBIN"),
        ] {
            let me = app
                .directory()
                .await
                .get_current_user(authed(var(&env, token), pb::GetCurrentUserRequest {}))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(me.name, var(&env, user), "{token}");
        }
        assert_eq!(var(&env, "TOKEN"), var(&env, "REP_TOKEN"));
        // The gated deal is the rep's, and its next stage is refused with the unmet criteria.
        let preview = app
            .deals()
            .await
            .preview_deal_stage(authed(
                var(&env, "REP_TOKEN"),
                pb::PreviewDealStageRequest {
                    name: var(&env, "DEAL").into(),
                    target_stage: var(&env, "NEXT_STAGE").into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(preview.checks.iter().any(|c| !c.met), "{preview:?}");
        let deal = app
            .deals()
            .await
            .get_deal(authed(
                var(&env, "REP_TOKEN"),
                pb::GetDealRequest {
                    name: var(&env, "DEAL").into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(deal.pipeline, var(&env, "PIPELINE"));
        assert_eq!(deal.stage, var(&env, "STAGE"));
        // The big deal routes through the manager, then finance for its size.
        let route = app
            .deal_desk()
            .await
            .preview_approval_route(authed(
                var(&env, "REP_TOKEN"),
                pb::PreviewApprovalRouteRequest {
                    deal: var(&env, "BIG_DEAL").into(),
                    discount_bps: 2200,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let steps: Vec<_> = route
            .steps
            .iter()
            .map(|s| s.step.as_ref().unwrap().name.as_str())
            .collect();
        assert_eq!(steps, ["Sales manager", "Finance"]);
    }
);
