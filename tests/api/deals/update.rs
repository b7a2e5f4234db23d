//! UpdateDeal: forecast categories, leader-owned fields, masks, etags, reassignment and discounts.

use super::*;

async fn audit_rows(app: &TestApp, resource: &str) -> Vec<(String, String, String, String)> {
    use sea_orm::ConnectionTrait;
    let db = app.app.store.connection();
    let sql = match app.backend {
        crate::helpers::Backend::Sqlite => {
            "SELECT actor_id, field, old_value, new_value FROM audit_events \
             WHERE resource = ? AND action = 'UpdateDeal' ORDER BY id"
        }
        crate::helpers::Backend::Postgres => {
            "SELECT actor_id, field, old_value, new_value FROM audit_events \
             WHERE resource = $1 AND action = 'UpdateDeal' ORDER BY id"
        }
    };
    db.query_all_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [resource.into()],
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        let text = |column: &str| {
            row.try_get::<Option<String>>("", column)
                .unwrap()
                .unwrap_or_default()
        };
        (
            text("actor_id"),
            text("field"),
            text("old_value"),
            text("new_value"),
        )
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Leader-owned fields.

contract_test!(
    a_rep_sets_pipeline_best_case_and_omitted_but_not_commit,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Forecast")).await;
        let set = |category: pb::ForecastCategory| pb::Deal {
            name: deal.name.clone(),
            forecast_category: category as i32,
            ..Default::default()
        };
        for category in [
            pb::ForecastCategory::BestCase,
            pb::ForecastCategory::Omitted,
            pb::ForecastCategory::Pipeline,
        ] {
            let updated = update(&app, &rep.token, set(category), &["forecast_category"])
                .await
                .unwrap();
            assert_eq!(updated.forecast_category, category as i32);
        }
        let before = get(&app, &rep.token, &deal.name).await.unwrap();
        let status = update(
            &app,
            &rep.token,
            set(pb::ForecastCategory::Commit),
            &["forecast_category"],
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "COMMIT_REQUIRES_MANAGER");
        assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), before);
        let status = try_create_deal(
            &app,
            &rep.token,
            pb::Deal {
                forecast_category: pb::ForecastCategory::Commit as i32,
                ..deal_in(&pipeline, "Committed from the start")
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "COMMIT_REQUIRES_MANAGER");
        assert_eq!(app.count("deals").await, 1);
    }
);

contract_test!(
    only_a_manager_above_the_owner_moves_a_deal_into_or_out_of_commit,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Commit me")).await;
        let set = |category: pb::ForecastCategory| pb::Deal {
            name: deal.name.clone(),
            forecast_category: category as i32,
            ..Default::default()
        };
        let status = update(
            &app,
            &org.peer_manager.token,
            set(pb::ForecastCategory::Commit),
            &["forecast_category"],
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let committed = update(
            &app,
            &org.manager.token,
            set(pb::ForecastCategory::Commit),
            &["forecast_category"],
        )
        .await
        .unwrap();
        assert_eq!(
            committed.forecast_category,
            pb::ForecastCategory::Commit as i32
        );
        let status = update(
            &app,
            &org.rep().token,
            set(pb::ForecastCategory::BestCase),
            &["forecast_category"],
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "COMMIT_REQUIRES_MANAGER");
        // Other fields of a committed deal stay the rep's.
        let noted = update(
            &app,
            &org.rep().token,
            pb::Deal {
                name: deal.name.clone(),
                next_step: "Legal review".into(),
                ..Default::default()
            },
            &["next_step"],
        )
        .await
        .unwrap();
        assert_eq!(noted.forecast_category, pb::ForecastCategory::Commit as i32);
        let out = update(
            &app,
            &org.leader.token,
            set(pb::ForecastCategory::BestCase),
            &["forecast_category"],
        )
        .await
        .unwrap();
        assert_eq!(out.forecast_category, pb::ForecastCategory::BestCase as i32);
    }
);

contract_test!(closed_is_never_set_by_an_update_or_a_create, |app| {
    let org = org(&app).await;
    let pipeline = gated_pipeline(&app).await;
    let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Not closed")).await;
    for who in [org.rep(), &org.manager] {
        let status = update(
            &app,
            &who.token,
            pb::Deal {
                name: deal.name.clone(),
                forecast_category: pb::ForecastCategory::Closed as i32,
                ..Default::default()
            },
            &["forecast_category"],
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["deal.forecast_category"]);
    }
    let status = try_create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            forecast_category: pb::ForecastCategory::Closed as i32,
            ..deal_in(&pipeline, "Closed at birth")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["deal.forecast_category"]);
    assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), deal);
});

contract_test!(
    green_qualification_is_manager_owned_and_each_item_names_who_set_it,
    |app| {
        use pb::QualificationElement as E;
        use pb::QualificationStatus as S;
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Qualified")).await;
        let set = |items: Vec<pb::QualificationItem>| pb::Deal {
            name: deal.name.clone(),
            qualification: items,
            ..Default::default()
        };
        // Sent out of order on purpose: answers and reads list items as MEDDPICC reads.
        let by_rep = update(
            &app,
            &org.rep().token,
            set(vec![item(E::Champion, S::Yellow), item(E::Metrics, S::Red)]),
            &["qualification"],
        )
        .await
        .unwrap();
        let stamps: Vec<(i32, i32, &str)> = by_rep
            .qualification
            .iter()
            .map(|q| (q.element, q.status, q.set_by.as_str()))
            .collect();
        let rep_name = org.rep().name();
        assert_eq!(
            stamps,
            [
                (E::Metrics as i32, S::Red as i32, rep_name.as_str()),
                (E::Champion as i32, S::Yellow as i32, rep_name.as_str()),
            ]
        );
        assert!(by_rep.qualification.iter().all(|q| q.set_time.is_some()));

        let status = update(
            &app,
            &org.rep().token,
            set(vec![
                item(E::Champion, S::Yellow),
                item(E::Metrics, S::Green),
            ]),
            &["qualification"],
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "GREEN_REQUIRES_MANAGER");
        assert_eq!(
            get(&app, &org.rep().token, &deal.name).await.unwrap(),
            by_rep
        );

        let by_manager = update(
            &app,
            &org.manager.token,
            set(vec![
                item(E::Champion, S::Yellow),
                item(E::Metrics, S::Green),
            ]),
            &["qualification"],
        )
        .await
        .unwrap();
        assert_eq!(by_manager.qualification[0].status, S::Green as i32);
        assert_eq!(by_manager.qualification[0].set_by, org.manager.name());
        assert_eq!(
            by_manager.qualification[1], by_rep.qualification[1],
            "an unchanged item keeps its setter and time"
        );

        // The rep may neither lower nor drop a green item, but may change the others.
        for items in [
            vec![item(E::Champion, S::Yellow), item(E::Metrics, S::Yellow)],
            vec![item(E::Champion, S::Yellow)],
        ] {
            let status = update(&app, &org.rep().token, set(items), &["qualification"])
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "GREEN_REQUIRES_MANAGER");
        }
        let kept = update(
            &app,
            &org.rep().token,
            set(vec![item(E::Champion, S::Red), item(E::Metrics, S::Green)]),
            &["qualification"],
        )
        .await
        .unwrap();
        assert_eq!(kept.qualification[0].set_by, org.manager.name());
        assert_eq!(kept.qualification[1].status, S::Red as i32);
        assert_eq!(kept.qualification[1].set_by, org.rep().name());
    }
);

// ---------------------------------------------------------------------------------------------
// Updates: etags, audit, reassignment.

contract_test!(
    of_two_updates_sent_with_the_same_etag_only_the_first_is_applied,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Contended")).await;
        let with = |next_step: &str| pb::Deal {
            name: deal.name.clone(),
            etag: deal.etag.clone(),
            next_step: next_step.into(),
            ..Default::default()
        };
        let first = update(&app, &rep.token, with("First"), &["next_step"])
            .await
            .unwrap();
        assert_ne!(first.etag, deal.etag);
        let status = update(&app, &rep.token, with("Second"), &["next_step"])
            .await
            .unwrap_err();
        assert_error(&status, Code::Aborted, "STALE_ETAG");
        let read = get(&app, &rep.token, &deal.name).await.unwrap();
        assert_eq!(read.next_step, "First");
        assert_eq!(read, first);
        let status = update(
            &app,
            &rep.token,
            pb::Deal {
                etag: "W/nonsense".into(),
                ..with("Third")
            },
            &["next_step"],
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["deal.etag"]);
    }
);

contract_test!(
    an_update_changes_only_the_masked_fields_and_audits_each_change,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Audited")).await;
        let updated = update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                display_name: deal.display_name.clone(),
                forecast_category: pb::ForecastCategory::BestCase as i32,
                // Not in the mask: ignored.
                account: "Someone Else".into(),
                amount: usd(1),
                ..Default::default()
            },
            &["display_name", "forecast_category"],
        )
        .await
        .unwrap();
        assert_eq!(
            updated.forecast_category,
            pb::ForecastCategory::BestCase as i32
        );
        assert_eq!(updated.account, deal.account);
        assert_eq!(updated.amount, deal.amount);
        assert_eq!(updated.stage, deal.stage);
        let rows = audit_rows(&app, &deal.name).await;
        let rep_id = rep.name().trim_start_matches("users/").to_string();
        assert_eq!(
            rows,
            [(
                rep_id,
                "forecast_category".to_string(),
                "Pipeline".to_string(),
                "BestCase".to_string()
            )],
            "one row per changed field, none for an unchanged one"
        );
        let status = update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                ..Default::default()
            },
            &["stage"],
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["update_mask.paths[0]"]);
    }
);

contract_test!(
    only_a_manager_above_the_owner_reassigns_a_deal_within_their_subtree,
    |app| {
        let org = org(&app).await;
        let other_rep = person(&app, Role::Rep, Some(&org.manager)).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Handover")).await;
        let to = |owner: &Person| pb::Deal {
            name: deal.name.clone(),
            owner: owner.name(),
            ..Default::default()
        };
        let status = update(&app, &org.rep().token, to(&other_rep), &["owner"])
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "REASSIGN_REQUIRES_MANAGER");
        let status = update(&app, &org.manager.token, to(org.peer()), &["owner"])
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OWNER_NOT_ALLOWED");
        assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), deal);
        let moved = update(&app, &org.manager.token, to(&other_rep), &["owner"])
            .await
            .unwrap();
        assert_eq!(moved.owner, other_rep.name());
        let status = get(&app, &org.rep().token, &deal.name).await.unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        assert_eq!(
            get(&app, &other_rep.token, &deal.name).await.unwrap(),
            moved
        );
    }
);

contract_test!(
    a_deal_carries_its_discount_and_refuses_one_out_of_range,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let created = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                discount_bps: 1250,
                ..deal_in(&pipeline, "Discounted")
            },
        )
        .await;
        assert_eq!(created.discount_bps, 1250);
        let updated = update(
            &app,
            &rep.token,
            pb::Deal {
                name: created.name.clone(),
                discount_bps: 10_000,
                ..Default::default()
            },
            &["discount_bps"],
        )
        .await
        .unwrap();
        assert_eq!(updated.discount_bps, 10_000);
        assert_eq!(
            get(&app, &rep.token, &created.name)
                .await
                .unwrap()
                .discount_bps,
            10_000
        );
        for bps in [-1, 10_001] {
            let status = try_create_deal(
                &app,
                &rep.token,
                pb::Deal {
                    discount_bps: bps,
                    ..deal_in(&pipeline, "Too deep")
                },
            )
            .await
            .unwrap_err();
            assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
            assert_eq!(violated_fields(&status), ["deal.discount_bps"]);
            let status = update(
                &app,
                &rep.token,
                pb::Deal {
                    name: created.name.clone(),
                    discount_bps: bps,
                    ..Default::default()
                },
                &["discount_bps"],
            )
            .await
            .unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument);
            assert_eq!(violated_fields(&status), ["deal.discount_bps"]);
        }
        assert_eq!(app.count("deals").await, 1);
        assert_eq!(
            get(&app, &rep.token, &created.name)
                .await
                .unwrap()
                .discount_bps,
            10_000
        );
    }
);
