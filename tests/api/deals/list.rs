//! ListDeals: filters, the query, orderings and paging.

use super::*;

/// The display names of the caller's deals in `order_by`.
async fn ordered(app: &TestApp, token: &str, order_by: &str) -> Vec<String> {
    list(
        app,
        token,
        pb::ListDealsRequest {
            order_by: order_by.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .deals
    .into_iter()
    .map(|d| d.display_name)
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Listing.

contract_test!(list_filters_combine_and_the_query_ignores_case, |app| {
    let org = org(&app).await;
    let pipeline = gated_pipeline(&app).await;
    let smb = template_pipeline(&app, pb::Segment::Smb).await;
    let a = create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            amount: usd(100),
            close_date: in_days(10),
            ..deal_in(&pipeline, "Acme - 500 seats")
        },
    )
    .await;
    let b = create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            stage: "propose".into(),
            account: "Globex".into(),
            forecast_category: pb::ForecastCategory::BestCase as i32,
            ..ready(&pipeline, "Globex renewal")
        },
    )
    .await;
    let c = create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            account: "ACME Subsidiary".into(),
            close_date: in_days(20),
            ..deal_in(&smb, "Initech pilot")
        },
    )
    .await;
    let d = create_deal(
        &app,
        &org.peer().token,
        deal_in(&pipeline, "Peer acme deal"),
    )
    .await;
    let e = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Lost one")).await;
    close_lost(&app, &org.rep().token, &e.name, "Went dark")
        .await
        .unwrap();
    let token = &org.leader.token;
    let by = |request: pb::ListDealsRequest| listed(&app, token, request);
    assert_eq!(
        by(pb::ListDealsRequest::default()).await,
        names(&[&a, &b, &c, &d, &e])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            owner: org.peer().name(),
            ..Default::default()
        })
        .await,
        names(&[&d])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            pipeline: pipeline.name.clone(),
            ..Default::default()
        })
        .await,
        names(&[&a, &b, &d, &e])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            pipeline: pipeline.name.clone(),
            stage: "propose".into(),
            ..Default::default()
        })
        .await,
        names(&[&b])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            forecast_category: pb::ForecastCategory::BestCase as i32,
            ..Default::default()
        })
        .await,
        names(&[&b])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            status: DealStatus::Lost as i32,
            ..Default::default()
        })
        .await,
        names(&[&e])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            status: DealStatus::Open as i32,
            ..Default::default()
        })
        .await,
        names(&[&a, &b, &c, &d])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            min_close_date: in_days(10),
            max_close_date: in_days(20),
            ..Default::default()
        })
        .await,
        names(&[&a, &c]),
        "both bounds inclusive"
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            min_close_date: in_days(11),
            ..Default::default()
        })
        .await,
        names(&[&b, &c])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            query: " aCmE ".into(),
            ..Default::default()
        })
        .await,
        // On name (a, d) or account (a, c, e: "Acme Corp", "ACME Subsidiary").
        names(&[&a, &c, &d, &e])
    );
    assert_eq!(
        by(pb::ListDealsRequest {
            query: "acme".into(),
            owner: org.rep().name(),
            status: DealStatus::Open as i32,
            ..Default::default()
        })
        .await,
        names(&[&a, &c])
    );
    assert!(
        by(pb::ListDealsRequest {
            query: "100%".into(),
            ..Default::default()
        })
        .await
        .is_empty(),
        "wildcards in the text are literal"
    );
    // Case folds beyond ASCII on both engines.
    let u = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Ünicorn GmbH")).await;
    for text in ["ünicorn", "ÜNICORN", "Ünicorn"] {
        let found = by(pb::ListDealsRequest {
            query: text.into(),
            ..Default::default()
        })
        .await;
        assert_eq!(found, names(&[&u]), "{text}");
    }
    let status = list(
        &app,
        token,
        pb::ListDealsRequest {
            stage: "propose".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["stage"]);
});

/// Four deals of `rep`: amounts 300, 100, none, 200 and close dates in 30, 10, none, 20 days.
async fn four_deals(app: &TestApp, rep: &Person) {
    let pipeline = gated_pipeline(app).await;
    for (name, amount, days) in [
        ("d300", Some(300), Some(30)),
        ("d100", Some(100), Some(10)),
        ("none", None, None),
        ("d200", Some(200), Some(20)),
    ] {
        create_deal(
            app,
            &rep.token,
            pb::Deal {
                amount: amount.and_then(usd),
                close_date: days.and_then(in_days),
                ..deal_in(&pipeline, name)
            },
        )
        .await;
    }
}

contract_test!(
    deals_order_by_creation_or_amount_with_missing_amounts_last,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        four_deals(&app, &rep).await;
        let order = |order_by: &'static str| ordered(&app, &rep.token, order_by);
        assert_eq!(order("").await, ["d300", "d100", "none", "d200"]);
        assert_eq!(
            order("create_time desc").await,
            ["d200", "none", "d100", "d300"]
        );
        assert_eq!(order("amount desc").await, ["d300", "d200", "d100", "none"]);
        assert_eq!(order("amount").await, ["d100", "d200", "d300", "none"]);
        assert_eq!(order("amount asc").await, ["d100", "d200", "d300", "none"]);
        for bad in ["probability", "amount sideways", "amount desc please"] {
            let status = list(
                &app,
                &rep.token,
                pb::ListDealsRequest {
                    order_by: bad.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
            assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
            assert_eq!(violated_fields(&status), ["order_by"], "{bad:?}");
        }
    }
);

contract_test!(deals_order_by_close_date_soonest_first, |app| {
    let rep = person(&app, Role::Rep, None).await;
    four_deals(&app, &rep).await;
    let dated = |order_by: &str| pb::ListDealsRequest {
        order_by: order_by.into(),
        min_close_date: Some(date(today())),
        ..Default::default()
    };
    let shown = list(&app, &rep.token, dated("close_date"))
        .await
        .unwrap()
        .deals
        .into_iter()
        .map(|d| d.display_name)
        .collect::<Vec<_>>();
    assert_eq!(shown, ["d100", "d200", "d300"]);
    assert_eq!(
        ordered(&app, &rep.token, "close_date").await,
        ["d100", "d200", "d300", "none"]
    );
    assert_eq!(
        ordered(&app, &rep.token, "close_date desc").await,
        ["d300", "d200", "d100", "none"]
    );
});

contract_test!(
    pages_walk_every_deal_exactly_once_and_a_token_keeps_its_filters,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        // Ties and missing amounts on purpose: the walk must cross them.
        let amounts = [
            Some(500),
            Some(200),
            None,
            Some(200),
            Some(900),
            None,
            Some(200),
        ];
        for (i, amount) in amounts.into_iter().enumerate() {
            create_deal(
                &app,
                &rep.token,
                pb::Deal {
                    amount: amount.and_then(usd),
                    ..deal_in(&pipeline, &format!("Deal {i}"))
                },
            )
            .await;
        }
        for order_by in ["", "amount desc", "amount", "update_time desc"] {
            let whole = listed(
                &app,
                &rep.token,
                pb::ListDealsRequest {
                    order_by: order_by.into(),
                    ..Default::default()
                },
            )
            .await;
            assert_eq!(whole.len(), amounts.len());
            let mut walked = Vec::new();
            let mut token = String::new();
            let mut pages = 0;
            loop {
                let page = list(
                    &app,
                    &rep.token,
                    pb::ListDealsRequest {
                        page_size: 3,
                        page_token: token.clone(),
                        order_by: order_by.into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
                assert!(page.deals.len() <= 3);
                walked.extend(page.deals.into_iter().map(|d| d.name));
                pages += 1;
                assert!(pages <= amounts.len(), "the walk ends");
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            assert_eq!(
                walked, whole,
                "{order_by:?}: same deals, same order, once each"
            );
        }

        let first = list(
            &app,
            &rep.token,
            pb::ListDealsRequest {
                page_size: 2,
                order_by: "amount desc".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(!first.next_page_token.is_empty());
        for changed in [
            pb::ListDealsRequest {
                order_by: "amount".into(),
                ..Default::default()
            },
            pb::ListDealsRequest {
                order_by: "amount desc".into(),
                query: "deal".into(),
                ..Default::default()
            },
            pb::ListDealsRequest {
                order_by: "amount desc".into(),
                pipeline: pipeline.name.clone(),
                ..Default::default()
            },
        ] {
            let status = list(
                &app,
                &rep.token,
                pb::ListDealsRequest {
                    page_size: 2,
                    page_token: first.next_page_token.clone(),
                    ..changed
                },
            )
            .await
            .unwrap_err();
            assert_eq!(violated_fields(&status), ["page_token"]);
        }
        let status = list(
            &app,
            &rep.token,
            pb::ListDealsRequest {
                page_size: -1,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["page_size"]);
    }
);
