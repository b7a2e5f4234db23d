//! Event streams cost nothing while idle: the change notifier wakes them with news (LISTEN/NOTIFY
//! across PostgreSQL replicas, an in-process signal on SQLite), rights are checked again when
//! the directory changes, and each user and the process hold a bounded number of them.

use std::time::{Duration, Instant};

use dealdesk::app::watch::StreamLimits;
use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use dealdesk::startup::Application;
use tonic::{Code, Status, Streaming};
use tonic_types::StatusExt;

use crate::contract_test;
use crate::deal_events::watch;
use crate::fixtures::{create_deal, deal_in, revoke_api_tokens, template_pipeline};
use crate::helpers::{Backend, Person, TestApp, assert_error, authed, person};

/// Longer than any test: only a notification can wake a stream.
const NEVER: Duration = Duration::from_secs(3600);

/// A server whose backstop poll never runs and that escalates nothing by itself.
fn notified_only(application: Application) -> Application {
    application
        .with_change_poll(NEVER)
        .with_escalation_schedule(None)
}

/// The next event of `stream` and how long it took, failing past `wait`.
async fn next_within(
    stream: &mut Streaming<pb::DealEvent>,
    wait: Duration,
) -> (pb::DealEvent, Duration) {
    let started = Instant::now();
    let event = tokio::time::timeout(wait, stream.message())
        .await
        .unwrap_or_else(|_| panic!("no event within {wait:?}"))
        .expect("the stream does not fail")
        .expect("the stream stays open");
    (event, started.elapsed())
}

/// A deal desk watcher (sees every deal), a rep and a pipeline.
async fn desk_and_rep(app: &TestApp) -> (Person, Person, pb::Pipeline) {
    let desk = person(app, Role::DealDesk, None).await;
    let rep = person(app, Role::Rep, None).await;
    let pipeline = template_pipeline(app, pb::Segment::Smb).await;
    (desk, rep, pipeline)
}

contract_test!(
    an_event_reaches_an_open_stream_when_written_not_when_polled,
    configure = notified_only,
    |app| {
        let (desk, rep, pipeline) = desk_and_rep(&app).await;
        let mut stream = watch(&app, &desk, Default::default()).await.unwrap();
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
        let (event, took) = next_within(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(event.deal, deal.name);
        assert!(
            took < Duration::from_millis(500),
            "took {took:?} with no poll"
        );
    }
);

contract_test!(
    a_write_through_one_replica_wakes_a_stream_on_another,
    configure = notified_only,
    |app| {
        // PostgreSQL: the writer's NOTIFY wakes the other replica, which never polls. SQLite has
        // no notification between processes: the other replica's backstop poll finds the event.
        let (poll, within) = match app.backend {
            Backend::Postgres => (NEVER, Duration::from_secs(1)),
            Backend::Sqlite => (Duration::from_millis(300), Duration::from_secs(2)),
        };
        let other = app
            .replica(|application| {
                application
                    .with_change_poll(poll)
                    .with_escalation_schedule(None)
            })
            .await;
        let (desk, rep, pipeline) = desk_and_rep(&app).await;
        let mut stream = watch(&other, &desk, Default::default()).await.unwrap();
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
        let (event, took) = next_within(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(event.deal, deal.name);
        assert!(took < within, "took {took:?}, more than {within:?}");
    }
);

/// RESOURCE_EXHAUSTED `TOO_MANY_STREAMS` with a RetryInfo.
#[track_caller]
fn assert_too_many(status: &Status) {
    assert_error(status, Code::ResourceExhausted, "TOO_MANY_STREAMS");
    let retry = status.get_details_retry_info().expect("a RetryInfo");
    assert!(retry.retry_delay.is_some_and(|d| !d.is_zero()));
}

async fn watch_approvals(
    app: &TestApp,
    who: &Person,
) -> Result<Streaming<pb::ApprovalEvent>, Status> {
    pb::deal_desk_service_client::DealDeskServiceClient::connect(format!("http://{}", app.addr))
        .await
        .unwrap()
        .watch_approval_events(authed(&who.token, Default::default()))
        .await
        .map(|r| r.into_inner())
}

contract_test!(
    streams_over_the_per_user_or_per_process_limit_are_refused_with_a_retry_delay,
    configure = |application: Application| application.with_stream_limits(StreamLimits {
        per_user: 2,
        per_process: 3,
    }),
    |app| {
        let (desk, rep, _) = desk_and_rep(&app).await;
        let other_rep = person(&app, Role::Rep, None).await;
        // Both kinds of stream count together.
        let first = watch(&app, &desk, Default::default()).await.unwrap();
        let _second = watch_approvals(&app, &desk).await.unwrap();
        assert_too_many(&watch(&app, &desk, Default::default()).await.unwrap_err());
        let _third = watch(&app, &rep, Default::default()).await.unwrap();
        assert_too_many(
            &watch(&app, &other_rep, Default::default())
                .await
                .unwrap_err(),
        );

        // A closed stream gives its place back (once the server sees the client gone).
        drop(first);
        let started = Instant::now();
        loop {
            match watch(&app, &other_rep, Default::default()).await {
                Ok(_) => break,
                Err(status) => assert_too_many(&status),
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the slot was not given back"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
);

contract_test!(
    a_revoked_token_ends_its_open_stream_without_waiting_for_news,
    configure = notified_only,
    |app| {
        let (_, rep, _) = desk_and_rep(&app).await;
        let mut stream = watch(&app, &rep, Default::default()).await.unwrap();
        revoke_api_tokens(&app, &rep.name()).await;
        // No event is written: the revocation itself wakes the stream, well before the 30 s
        // re-check.
        let status = match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
            Ok(Err(status)) => status,
            other => panic!("the stream did not end with an error: {other:?}"),
        };
        assert_error(&status, Code::Unauthenticated, "REVOKED_TOKEN");
    }
);

contract_test!(
    an_idle_stream_runs_no_query_between_notifications,
    configure = notified_only,
    |app| {
        let (desk, rep, pipeline) = desk_and_rep(&app).await;
        let mut streams = Vec::new();
        for who in [&desk, &desk, &rep] {
            streams.push(watch(&app, who, Default::default()).await.unwrap());
        }
        let _approvals = watch_approvals(&app, &desk).await.unwrap();
        // Every stream has read (and is asleep again) once it delivered the first event.
        create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
        for stream in &mut streams {
            next_within(stream, Duration::from_secs(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;

        let before = app.app.store.statements_run();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            app.app.store.statements_run(),
            before,
            "idle streams ran statements"
        );

        // News wakes them: they read again, and the counter sees it.
        create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
        for stream in &mut streams {
            next_within(stream, Duration::from_secs(5)).await;
        }
        assert!(app.app.store.statements_run() > before);
    }
);
