//! DealService.WatchDealEvents: a persisted stream of what happens to deals, resumable by
//! sequence, filtered to what the caller may see.

use std::time::Duration;

use dealdesk::domain::directory::Role;
use dealdesk::proto::{self as pb, deal_event::Kind};
use prost_types::FieldMask;
use tonic::{Code, Streaming};

use crate::contract_test;
use crate::fixtures::{create_deal, deal_in, template_pipeline};
use crate::helpers::{Person, TestApp, assert_error, authed, person};

async fn set_category(
    app: &TestApp,
    who: &Person,
    deal: &pb::Deal,
    category: pb::ForecastCategory,
) {
    app.deals()
        .await
        .update_deal(authed(
            &who.token,
            pb::UpdateDealRequest {
                deal: Some(pb::Deal {
                    name: deal.name.clone(),
                    forecast_category: category as i32,
                    next_step: "Call the CFO".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["forecast_category".into(), "next_step".into()],
                }),
            },
        ))
        .await
        .unwrap();
}

pub(crate) async fn watch(
    app: &TestApp,
    who: &Person,
    request: pb::WatchDealEventsRequest,
) -> Result<Streaming<pb::DealEvent>, tonic::Status> {
    app.deals()
        .await
        .watch_deal_events(authed(&who.token, request))
        .await
        .map(|r| r.into_inner())
}

/// The next `n` events of a stream, failing the test if they do not come within seconds.
async fn take(stream: &mut Streaming<pb::DealEvent>, n: usize) -> Vec<pb::DealEvent> {
    let mut events = Vec::new();
    for _ in 0..n {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        events.push(event);
    }
    events
}

/// No further event arrives within half a second.
async fn quiet(stream: &mut Streaming<pb::DealEvent>) {
    let next = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
    assert!(next.is_err(), "unexpected event: {next:?}");
}

fn kinds(events: &[pb::DealEvent]) -> Vec<Kind> {
    events.iter().map(|e| e.kind()).collect()
}

contract_test!(
    a_deals_life_streams_in_order_and_resumes_without_loss,
    |app| {
        let manager = person(&app, Role::Manager, None).await;
        let rep = person(&app, Role::Rep, Some(&manager)).await;
        let pipeline = template_pipeline(&app, pb::Segment::Smb).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
        set_category(&app, &rep, &deal, pb::ForecastCategory::BestCase).await;

        let mut stream = watch(&app, &rep, Default::default()).await.unwrap();
        let first = take(&mut stream, 3).await;
        assert_eq!(
            kinds(&first),
            [Kind::Created, Kind::Updated, Kind::CategoryChanged]
        );
        assert_eq!(first[0].deal, deal.name);
        assert_eq!(first[0].owner, rep.name());
        assert_eq!(first[0].actor, rep.name());
        assert_eq!(first[0].to_stage, "problem-recognized");
        assert_eq!(first[1].fields, ["next_step", "forecast_category"]);
        assert_eq!(
            first[2].description,
            "forecast category Pipeline -> BestCase"
        );
        assert!(first.windows(2).all(|w| w[0].sequence < w[1].sequence));
        quiet(&mut stream).await;

        // Live: a forced move past unmet criteria, then a lost close, arrive as they happen.
        app.deals()
            .await
            .advance_deal_stage(authed(
                &manager.token,
                pb::AdvanceDealStageRequest {
                    name: deal.name.clone(),
                    target_stage: "solution-exploring".into(),
                    override_justification: "Champion confirmed by phone".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        let moved = take(&mut stream, 2).await;
        assert_eq!(kinds(&moved), [Kind::StageMoved, Kind::GateOverridden]);
        assert_eq!(moved[0].from_stage, "problem-recognized");
        assert_eq!(moved[0].to_stage, "solution-exploring");
        assert_eq!(
            moved[0].direction(),
            pb::stage_history_entry::Direction::Forward
        );
        assert_eq!(moved[0].actor, manager.name());
        assert!(
            moved[1]
                .description
                .ends_with("Champion confirmed by phone")
        );
        drop(stream);

        // While nobody watches: a close. A client resuming after the last sequence it saw gets
        // exactly what it missed.
        app.deals()
            .await
            .close_deal(authed(
                &rep.token,
                pb::CloseDealRequest {
                    name: deal.name.clone(),
                    outcome: pb::close_deal_request::Outcome::Lost as i32,
                    loss_reason: "No budget".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        let mut resumed = watch(
            &app,
            &rep,
            pb::WatchDealEventsRequest {
                after_sequence: moved[1].sequence,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let rest = take(&mut resumed, 1).await;
        assert_eq!(kinds(&rest), [Kind::Closed]);
        assert_eq!(rest[0].description, "closed lost: No budget");
        assert_eq!(
            rest[0].direction(),
            pb::stage_history_entry::Direction::Close
        );
        assert!(rest[0].sequence > moved[1].sequence);
        quiet(&mut resumed).await;
    }
);

contract_test!(watchers_see_only_the_deals_they_may_see, |app| {
    let manager = person(&app, Role::Manager, None).await;
    let rep = person(&app, Role::Rep, Some(&manager)).await;
    let peer = person(&app, Role::Rep, None).await;
    let desk = person(&app, Role::DealDesk, None).await;
    let pipeline = template_pipeline(&app, pb::Segment::Smb).await;
    let mine = create_deal(&app, &rep.token, deal_in(&pipeline, "Acme")).await;
    let theirs = create_deal(&app, &peer.token, deal_in(&pipeline, "Acme")).await;

    let mut as_rep = watch(&app, &rep, Default::default()).await.unwrap();
    let seen = take(&mut as_rep, 1).await;
    assert_eq!(seen[0].deal, mine.name);
    quiet(&mut as_rep).await;

    let mut as_manager = watch(&app, &manager, Default::default()).await.unwrap();
    assert_eq!(take(&mut as_manager, 1).await[0].deal, mine.name);
    quiet(&mut as_manager).await;

    let mut as_desk = watch(&app, &desk, Default::default()).await.unwrap();
    let all: Vec<String> = take(&mut as_desk, 2)
        .await
        .into_iter()
        .map(|e| e.deal)
        .collect();
    assert_eq!(all, [mine.name.clone(), theirs.name.clone()]);

    let mut one_deal = watch(
        &app,
        &desk,
        pb::WatchDealEventsRequest {
            deal: theirs.name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(take(&mut one_deal, 1).await[0].deal, theirs.name);
    quiet(&mut one_deal).await;

    let status = watch(
        &app,
        &rep,
        pb::WatchDealEventsRequest {
            owner_subtree: peer.name(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
    let status = watch(
        &app,
        &manager,
        pb::WatchDealEventsRequest {
            owner_subtree: peer.name(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
    let status = watch(
        &app,
        &rep,
        pb::WatchDealEventsRequest {
            deal: theirs.name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = watch(
        &app,
        &rep,
        pb::WatchDealEventsRequest {
            after_sequence: -1,
            pipeline: "pipelines/nope".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        crate::helpers::violated_fields(&status),
        ["after_sequence", "pipeline"]
    );
});

contract_test!(
    concurrent_writers_are_streamed_once_each_in_a_resumable_order,
    |app| {
        let desk = person(&app, Role::DealDesk, None).await;
        let pipeline = template_pipeline(&app, pb::Segment::Smb).await;
        let mut reps = Vec::new();
        for _ in 0..4 {
            reps.push(person(&app, Role::Rep, None).await);
        }
        // 4 reps create 5 deals each, all at once.
        let mut writers = Vec::new();
        for rep in &reps {
            let (app_addr, rep, pipeline) = (app.addr, rep.clone(), pipeline.clone());
            writers.push(tokio::spawn(async move {
                let mut client = pb::deal_service_client::DealServiceClient::connect(format!(
                    "http://{app_addr}"
                ))
                .await
                .unwrap();
                for i in 0..5 {
                    client
                        .create_deal(authed(
                            &rep.token,
                            pb::CreateDealRequest {
                                deal: Some(pb::Deal {
                                    display_name: format!("Deal {i}"),
                                    account: "Acme".into(),
                                    pipeline: pipeline.name.clone(),
                                    ..Default::default()
                                }),
                                request_id: String::new(),
                            },
                        ))
                        .await
                        .unwrap();
                }
            }));
        }
        // A watcher reading while they write, reconnecting after every 3 events.
        let mut seen: Vec<pb::DealEvent> = Vec::new();
        while seen.len() < 20 {
            let after = seen.last().map(|e| e.sequence).unwrap_or(0);
            let mut stream = watch(
                &app,
                &desk,
                pb::WatchDealEventsRequest {
                    after_sequence: after,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let n = 3.min(20 - seen.len());
            seen.extend(take(&mut stream, n).await);
        }
        for writer in writers {
            writer.await.unwrap();
        }
        assert!(seen.windows(2).all(|w| w[0].sequence < w[1].sequence));
        let mut deals: Vec<&str> = seen.iter().map(|e| e.deal.as_str()).collect();
        deals.sort();
        deals.dedup();
        assert_eq!(deals.len(), 20, "each created deal streamed exactly once");
        assert_eq!(app.count("deal_events").await, 20);
    }
);
