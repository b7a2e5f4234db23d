//! The demo shows its features (issue 22, item 2): its ended quarters have snapshots that
//! accuracy scores, its approval turnaround reads in hours, and its recent history arrives as
//! deal events on a watch from 0.

use std::time::Duration;

use dealdesk::app::Clock;
use dealdesk::demo::{self, DemoSpec};
use dealdesk::proto as pb;

use crate::contract_test;
use crate::fixtures::timestamp;
use crate::helpers::authed;

/// When the demo is generated.
const NOW: &str = "2026-12-01T12:00:00Z";

contract_test!(
    the_demo_has_past_snapshots_hours_of_turnaround_and_history_events,
    |app| {
        let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().to_utc();
        let seeded = app.app.clone().with_clock(Clock::starting_at(now));
        let demo = demo::seed_with(&seeded, DemoSpec::default()).await.unwrap();
        let env = demo.walkthrough.env_file("127.0.0.1:50051");
        let var = |name: &str| {
            let prefix = format!("export {name}='");
            env.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .and_then(|rest| rest.split('\'').next())
                .unwrap()
                .to_string()
        };
        let leader = var("LEADER_TOKEN");

        // The last ended quarter: two snapshots as of weeks 3 and 8, each scored by method.
        let accuracy = app
            .forecasts()
            .await
            .get_forecast_accuracy(authed(
                &var("ADMIN_TOKEN"),
                pb::GetForecastAccuracyRequest {
                    period: var("LAST_QUARTER"),
                    scope: "org".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(accuracy.actual > 0);
        assert_eq!(accuracy.snapshots.len(), 2, "{accuracy:?}");
        for snapshot in &accuracy.snapshots {
            let weighted = snapshot
                .methods
                .iter()
                .find(|m| m.method == pb::method_accuracy::Method::WeightedPipeline as i32)
                .expect("the weighted pipeline is scored");
            assert!(weighted.forecast > 0, "{snapshot:?}");
        }

        // Turnaround of the requests decided over the past weeks: hours, not milliseconds.
        let metrics = app
            .deal_desk()
            .await
            .get_approval_metrics(authed(
                &var("DESK_TOKEN"),
                pb::GetApprovalMetricsRequest {
                    start_time: timestamp(now - chrono::Duration::days(90)),
                    end_time: timestamp(now + chrono::Duration::days(1)),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let requests = metrics.requests.unwrap();
        assert!(requests.decided >= 20, "{requests:?}");
        assert!(requests.median_seconds > 3600.0, "{requests:?}");

        // A watch from 0 starts with the demo's history.
        let mut stream = app
            .deals()
            .await
            .watch_deal_events(authed(
                &leader,
                pb::WatchDealEventsRequest {
                    after_sequence: 0,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the history arrives at once")
            .unwrap()
            .expect("an event");
        assert_eq!(first.sequence, 1);
        assert!(first.description.contains("(demo history, "), "{first:?}");
        assert!(first.actor.is_empty());
    }
);
