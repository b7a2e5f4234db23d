//! Forecast calls: rep versus leader, lineage, as-of reads, judgments.

use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use tonic::Code;

use crate::contract_test;
use crate::fixtures::{create_deal, template_pipeline, usd};
use crate::helpers::{TestApp, assert_error, authed, violated_fields};

const PERIOD: &str = "2026-Q4";

async fn submit(
    app: &TestApp,
    token: &str,
    commit: i64,
    best: i64,
) -> Result<pb::ForecastCallEvent, tonic::Status> {
    app.forecasts()
        .await
        .submit_forecast_call(authed(
            token,
            pb::SubmitForecastCallRequest {
                period: PERIOD.into(),
                commit: usd(commit),
                best_case: usd(best),
                note: "from the pipeline review".into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn adjust(
    app: &TestApp,
    token: &str,
    user: &pb::User,
    commit: i64,
    best: i64,
) -> Result<pb::ForecastCallEvent, tonic::Status> {
    app.forecasts()
        .await
        .adjust_forecast_call(authed(
            token,
            pb::AdjustForecastCallRequest {
                period: PERIOD.into(),
                user: user.name.clone(),
                commit: usd(commit),
                best_case: usd(best),
                note: "haircut".into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn read(
    app: &TestApp,
    token: &str,
    user: &pb::User,
    as_of: Option<prost_types::Timestamp>,
) -> Result<pb::ForecastCall, tonic::Status> {
    app.forecasts()
        .await
        .get_forecast_call(authed(
            token,
            pb::GetForecastCallRequest {
                period: PERIOD.into(),
                user: user.name.clone(),
                as_of_time: as_of,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

fn commit_of(level: &pb::CallLevel) -> i64 {
    level.commit.as_ref().map(|m| m.amount_minor).unwrap_or(-1)
}

/// leader -> manager -> rep, and a peer manager under the leader.
async fn chain(app: &TestApp) -> [(pb::User, String); 4] {
    let leader = app.user(Role::Leader, None).await;
    let manager = app.user(Role::Manager, Some(&leader.0)).await;
    let rep = app.user(Role::Rep, Some(&manager.0)).await;
    let peer = app.user(Role::Manager, Some(&leader.0)).await;
    [leader, manager, rep, peer]
}

contract_test!(
    a_submitted_call_shows_at_every_level_until_someone_adjusts_it,
    |app| {
        let [(leader, _), (manager, _), (rep, rep_token), _] = chain(&app).await;
        submit(&app, &rep_token, 100_000, 150_000).await.unwrap();
        submit(&app, &rep_token, 120_000, 160_000).await.unwrap();
        let call = read(&app, &rep_token, &rep, None).await.unwrap();
        assert_eq!(
            call.own_commit,
            usd(120_000),
            "the latest submission counts"
        );
        let users: Vec<&str> = call.lineage.iter().map(|l| l.user.as_str()).collect();
        assert_eq!(
            users,
            [
                rep.name.as_str(),
                manager.name.as_str(),
                leader.name.as_str()
            ]
        );
        assert!(
            call.lineage
                .iter()
                .all(|l| commit_of(l) == 120_000 && !l.adjusted && l.commit_delta == 0)
        );
        assert_eq!(call.events.len(), 2, "append-only: both submissions kept");
    }
);

contract_test!(
    an_adjustment_at_depth_two_shows_in_the_leaders_view_and_not_in_the_reps,
    |app| {
        let [
            (leader, leader_token),
            (_, manager_token),
            (rep, rep_token),
            _,
        ] = chain(&app).await;
        submit(&app, &rep_token, 100_000, 150_000).await.unwrap();
        let before = read(&app, &rep_token, &rep, None).await.unwrap().events[0].create_time;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        adjust(&app, &leader_token, &rep, 70_000, 120_000)
            .await
            .unwrap();

        let by_leader = read(&app, &leader_token, &rep, None).await.unwrap();
        assert_eq!(
            by_leader.seen_by_caller.as_ref().map(commit_of),
            Some(70_000)
        );
        let top = by_leader.lineage.last().unwrap();
        assert_eq!(
            (
                top.user.as_str(),
                top.adjusted,
                top.commit_delta,
                top.best_case_delta
            ),
            (leader.name.as_str(), true, -30_000, -30_000)
        );

        let by_rep = read(&app, &rep_token, &rep, None).await.unwrap();
        assert_eq!(
            by_rep.seen_by_caller.as_ref().map(commit_of),
            Some(100_000),
            "the rep still sees their own"
        );
        assert_eq!(by_rep.own_commit, usd(100_000));
        let by_manager = read(&app, &manager_token, &rep, None).await.unwrap();
        assert_eq!(
            by_manager.seen_by_caller.as_ref().map(commit_of),
            Some(100_000),
            "the manager is below the leader"
        );

        // As of before the adjustment, nobody had adjusted.
        let then = read(&app, &leader_token, &rep, before).await.unwrap();
        assert!(
            then.lineage
                .iter()
                .all(|l| !l.adjusted && commit_of(l) == 100_000)
        );
        assert_eq!(then.events.len(), 1);
    }
);

contract_test!(
    only_managers_above_adjust_and_only_they_and_readers_read,
    |app| {
        let [_, _, (rep, rep_token), (_, peer_token)] = chain(&app).await;
        let other_rep = app.user(Role::Rep, None).await;
        submit(&app, &rep_token, 1_000, 2_000).await.unwrap();
        let status = adjust(&app, &rep_token, &rep, 500, 900).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "ADJUST_REQUIRES_MANAGER");
        let status = adjust(&app, &peer_token, &rep, 500, 900).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "ADJUST_REQUIRES_MANAGER");
        let status = read(&app, &peer_token, &rep, None).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
        let status = read(&app, &other_rep.1, &rep, None).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
        let (_, finance) = app.user(Role::Finance, None).await;
        let seen = read(&app, &finance, &rep, None).await.unwrap();
        assert_eq!(seen.own_commit, usd(1_000));
        let status = submit(&app, &finance, 1, 2).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "CALLS_ARE_FOR_SELLERS");
        assert_eq!(app.count("forecast_call_events").await, 1);
    }
);

contract_test!(bad_calls_are_refused_with_their_fields, |app| {
    let [_, (_, manager_token), (rep, rep_token), _] = chain(&app).await;
    let status = submit(&app, &rep_token, 10, 5).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["best_case.amount_minor"]);
    let status = app
        .forecasts()
        .await
        .submit_forecast_call(authed(
            &rep_token,
            pb::SubmitForecastCallRequest {
                period: "2026-Q5".into(),
                commit: None,
                best_case: usd(1),
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["period", "commit"]);
    let status = app
        .forecasts()
        .await
        .get_forecast_call(authed(
            &rep_token,
            pb::GetForecastCallRequest {
                period: PERIOD.into(),
                user: "users/nope".into(),
                as_of_time: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["user"]);
    let ghost = pb::User {
        name: format!("users/{}", uuid::Uuid::now_v7()),
        ..Default::default()
    };
    let status = adjust(&app, &manager_token, &ghost, 1, 2)
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "NOT_FOUND");
    let _ = rep;
    assert_eq!(app.count("forecast_call_events").await, 0);
});

contract_test!(
    a_manager_judges_deals_in_and_out_and_the_latest_judgment_counts,
    |app| {
        let [
            _,
            (manager, manager_token),
            (rep, rep_token),
            (_, peer_token),
        ] = chain(&app).await;
        // The first template, SMB's.
        let pipeline = template_pipeline(&app, pb::Segment::Smb).await;
        let deal = create_deal(
            &app,
            &rep_token,
            pb::Deal {
                display_name: "Acme".into(),
                account: "Acme".into(),
                pipeline: pipeline.name.clone(),
                ..Default::default()
            },
        )
        .await;
        let judge = |token: String, include: bool| {
            let app = &app;
            let deal = deal.name.clone();
            async move {
                app.forecasts()
                    .await
                    .judge_deal(authed(
                        &token,
                        pb::JudgeDealRequest {
                            period: PERIOD.into(),
                            deal,
                            include,
                            note: "inspected".into(),
                        },
                    ))
                    .await
                    .map(|r| r.into_inner())
            }
        };
        judge(manager_token.clone(), true).await.unwrap();
        judge(manager_token.clone(), false).await.unwrap();
        let call = read(&app, &manager_token, &manager, None).await.unwrap();
        assert_eq!(call.judgments.len(), 1);
        assert_eq!(
            (call.judgments[0].deal.as_str(), call.judgments[0].include),
            (deal.name.as_str(), false)
        );
        let status = judge(rep_token.clone(), true).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "JUDGE_REQUIRES_MANAGER");
        let status = judge(peer_token.clone(), true).await.unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let _ = rep;
    }
);
