//! Win-rate snapshots: versions, the current one, reads and listing.

use super::*;

contract_test!(
    snapshots_are_versioned_with_only_the_newest_current,
    |app| {
        let h = history(&app).await;
        let v1 = compute(&app, rates_of(&h.pipeline)).await;
        let v2 = compute(
            &app,
            pb::ComputeWinRatesRequest {
                prior_weight: Some(2),
                ..rates_of(&h.pipeline)
            },
        )
        .await;
        // A leader may compute too.
        let leader = person(&app, Role::Leader, None).await;
        let v3 = try_compute(&app, &leader.token, rates_of(&h.pipeline))
            .await
            .unwrap();
        assert_eq!((v1.version, v2.version, v3.version), (1, 2, 3));
        assert_eq!(v3.creator, leader.name());
        assert_eq!(v3.name, format!("{}/winRateSnapshots/3", h.pipeline.name));

        // Everyone reads them (a rep here): only the newest is current.
        let read = |name: String| {
            let app = &app;
            let token = h.rep.token.clone();
            async move { get_snapshot(app, &token, &name).await.unwrap() }
        };
        let r1 = read(v1.name.clone()).await;
        let r2 = read(v2.name.clone()).await;
        let r3 = read(v3.name.clone()).await;
        assert_eq!((r1.current, r2.current, r3.current), (false, false, true));
        assert_eq!(
            r1,
            pb::WinRateSnapshot {
                current: false,
                ..v1.clone()
            }
        );
        assert_eq!(r2.prior_weight, 2);
        assert_eq!(r3, v3);

        // Listed newest first, in pages.
        let first = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: h.pipeline.name.clone(),
                page_size: 2,
                page_token: String::new(),
            },
        )
        .await
        .unwrap();
        let versions: Vec<(i64, bool)> = first
            .snapshots
            .iter()
            .map(|s| (s.version, s.current))
            .collect();
        assert_eq!(versions, [(3, true), (2, false)]);
        assert!(!first.next_page_token.is_empty());
        let second = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: h.pipeline.name.clone(),
                page_size: 2,
                page_token: first.next_page_token.clone(),
            },
        )
        .await
        .unwrap();
        assert_eq!(second.snapshots, vec![r1.clone()]);
        assert_eq!(second.next_page_token, "", "the last page");
        let all = list_snapshots(
            &app,
            &h.manager.token,
            pb::ListWinRateSnapshotsRequest {
                parent: h.pipeline.name.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(all.snapshots, vec![r3, r2, r1]);
        assert_eq!(all.next_page_token, "");
        // A negative page size is refused.
        let status = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: h.pipeline.name.clone(),
                page_size: -1,
                page_token: String::new(),
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["page_size"]);

        // Another pipeline has none.
        let other = three_stages(&app).await;
        let none = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: other.name.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(none.snapshots.is_empty());
        // A page token belongs to the list it came from.
        let status = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: other.name.clone(),
                page_size: 2,
                page_token: first.next_page_token.clone(),
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["page_token"]);
        assert_eq!(app.count("win_rate_snapshots").await, 3);
    }
);

contract_test!(
    snapshot_reads_reject_bad_names_and_unknown_versions,
    |app| {
        let p = three_stages(&app).await;
        let snapshot = compute(&app, rates_of(&p)).await;
        let rep = person(&app, Role::Rep, None).await;
        for missing in [
            format!("{}/winRateSnapshots/2", p.name),
            format!("pipelines/{}/winRateSnapshots/1", uuid::Uuid::now_v7()),
        ] {
            let status = get_snapshot(&app, &rep.token, &missing).await.unwrap_err();
            assert_error(&status, Code::NotFound, "NOT_FOUND");
        }
        for bad in [
            String::new(),
            p.name.clone(),
            format!("{}/winRateSnapshots/0", p.name),
            format!("{}/winRateSnapshots/-1", p.name),
            format!("{}/winRateSnapshots/x", p.name),
            "pipelines/x/winRateSnapshots/1".to_string(),
        ] {
            let status = get_snapshot(&app, &rep.token, &bad).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["name"], "{bad:?}");
        }
        assert!(get_snapshot(&app, &rep.token, &snapshot.name).await.is_ok());

        let status = list_snapshots(
            &app,
            &rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: "pipelines/x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["parent"]);
        let status = list_snapshots(
            &app,
            &rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: format!("pipelines/{}", uuid::Uuid::now_v7()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
    }
);

contract_test!(
    forecast_snapshots_are_listed_a_page_at_a_time_oldest_first,
    |app| {
        let admin = app.admin_token.clone();
        let mut client = app.forecasts().await;
        let mut taken = Vec::new();
        for i in 0..3 {
            let snapshot = client
                .snapshot_forecast(authed(
                    &admin,
                    pb::SnapshotForecastRequest {
                        period: "2026-Q4".into(),
                        scope: "org".into(),
                        request_id: format!("snap-{i}"),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            taken.push(snapshot.name);
        }
        let list = |page_size: i32, page_token: String| pb::ListForecastSnapshotsRequest {
            period: "2026-Q4".into(),
            scope: "org".into(),
            page_size,
            page_token,
        };
        let first = client
            .list_forecast_snapshots(authed(&admin, list(2, String::new())))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first.snapshots.len(), 2);
        assert!(!first.next_page_token.is_empty());
        let second = client
            .list_forecast_snapshots(authed(&admin, list(2, first.next_page_token.clone())))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(second.next_page_token, "", "the last page has no token");
        let listed: Vec<String> = first
            .snapshots
            .iter()
            .chain(&second.snapshots)
            .map(|s| s.name.clone())
            .collect();
        let whole: Vec<String> = client
            .list_forecast_snapshots(authed(&admin, list(0, String::new())))
            .await
            .unwrap()
            .into_inner()
            .snapshots
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(listed, whole, "the pages in the order of the whole list");
        let (mut listed, mut taken) = (listed, taken);
        listed.sort();
        taken.sort();
        assert_eq!(listed, taken, "every snapshot once");
        // A token is bound to its period and scope.
        let (rep, _) = app.user(Role::Rep, None).await;
        let other_scope = client
            .list_forecast_snapshots(authed(
                &admin,
                pb::ListForecastSnapshotsRequest {
                    scope: rep.name.clone(),
                    ..list(2, first.next_page_token)
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&other_scope), ["page_token"]);
    }
);
