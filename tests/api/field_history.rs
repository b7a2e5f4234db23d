//! The field history: every change of a deal's amount, currency, close date, forecast category,
//! owner, stage and status kept with its time and actor, listed oldest first to whoever sees
//! the deal.

use chrono::{Days, NaiveDate};
use dealdesk::domain::directory::Role;
use dealdesk::proto::{self as pb};
use prost_types::FieldMask;
use tonic::Code;

use crate::contract_test;
use crate::fixtures::{create_deal, create_pipeline, date, stage, today, usd};
use crate::helpers::{Person, TestApp, assert_error, authed, person};

use pb::field_change::Field;
use pb::field_value::Value;

async fn two_stage_pipeline(app: &TestApp) -> pb::Pipeline {
    use pb::stage::Kind;
    create_pipeline(
        app,
        pb::Pipeline {
            display_name: "Two stages".into(),
            segment: pb::Segment::MidMarket as i32,
            stages: vec![
                stage("discover", 20, Kind::Open, vec![]),
                stage("propose", 60, Kind::Open, vec![]),
                stage("won", 100, Kind::Won, vec![]),
                stage("lost", 110, Kind::Lost, vec![]),
            ],
            ..Default::default()
        },
    )
    .await
}

async fn update(app: &TestApp, who: &Person, deal: pb::Deal, paths: &[&str]) -> pb::Deal {
    app.deals()
        .await
        .update_deal(authed(
            &who.token,
            pb::UpdateDealRequest {
                deal: Some(deal),
                update_mask: Some(FieldMask {
                    paths: paths.iter().map(|p| p.to_string()).collect(),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn history(app: &TestApp, who: &Person, deal: &str, page_size: i32) -> Vec<pb::FieldChange> {
    let mut deals = app.deals().await;
    let mut changes = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = deals
            .list_deal_field_history(authed(
                &who.token,
                pb::ListDealFieldHistoryRequest {
                    parent: deal.into(),
                    page_size,
                    page_token,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.changes.len() <= page_size as usize);
        changes.extend(page.changes);
        if page.next_page_token.is_empty() {
            return changes;
        }
        page_token = page.next_page_token;
    }
}

/// A change as (field, old, new, actor) with values in words.
fn words(c: &pb::FieldChange) -> (Field, String, String, String) {
    let value = |v: &Option<pb::FieldValue>| match v.as_ref().and_then(|v| v.value.clone()) {
        None => String::new(),
        Some(Value::AmountMinor(m)) => m.to_string(),
        Some(Value::CurrencyCode(c)) => c,
        Some(Value::CloseDate(d)) => format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
        Some(Value::ForecastCategory(c)) => pb::ForecastCategory::try_from(c)
            .unwrap()
            .as_str_name()
            .into(),
        Some(Value::Owner(o)) => o,
        Some(Value::Stage(s)) => s,
        Some(Value::Status(s)) => pb::deal::Status::try_from(s).unwrap().as_str_name().into(),
    };
    (
        c.field(),
        value(&c.old_value),
        value(&c.new_value),
        c.actor.clone(),
    )
}

/// The close-date pushes the deal's row keeps for the forecast (m0019).
async fn pushes_kept(app: &TestApp, name: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let db = app.app.store.connection();
    let id = name.trim_start_matches("deals/");
    let sql = format!("SELECT close_date_pushes FROM deals WHERE id = '{id}'");
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap();
    i64::from(rows[0].try_get::<i32>("", "close_date_pushes").unwrap())
}

contract_test!(
    every_change_of_a_tracked_field_is_kept_with_its_actor,
    |app| {
        let leader = person(&app, Role::Leader, None).await;
        let manager = person(&app, Role::Manager, Some(&leader)).await;
        let rep = person(&app, Role::Rep, Some(&manager)).await;
        let other_rep = person(&app, Role::Rep, Some(&manager)).await;
        let pipeline = two_stage_pipeline(&app).await;
        let (first_close, pushed) = (today() + Days::new(30), today() + Days::new(75));
        let mut deals = app.deals().await;
        let created = deals
            .create_deal(authed(
                &rep.token,
                pb::CreateDealRequest {
                    deal: Some(pb::Deal {
                        display_name: "Tracked".into(),
                        account: "Acme".into(),
                        pipeline: pipeline.name.clone(),
                        amount: usd(100_000),
                        close_date: Some(date(first_close)),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(
            history(&app, &rep, &created.name, 50).await.is_empty(),
            "creation writes none"
        );
        let name = created.name.clone();
        assert_eq!(pushes_kept(&app, &name).await, 0);
        update(
            &app,
            &rep,
            pb::Deal {
                name: name.clone(),
                amount: usd(120_000),
                close_date: Some(date(pushed)),
                next_step: "Pricing call".into(),
                ..Default::default()
            },
            &["amount", "close_date", "next_step"],
        )
        .await;
        // 30 days out to 75 days out: a later month, one push on the deal's row (m0019).
        assert_eq!(pushes_kept(&app, &name).await, 1);
        update(
            &app,
            &manager,
            pb::Deal {
                name: name.clone(),
                forecast_category: pb::ForecastCategory::Commit as i32,
                ..Default::default()
            },
            &["forecast_category"],
        )
        .await;
        deals
            .advance_deal_stage(authed(
                &rep.token,
                pb::AdvanceDealStageRequest {
                    name: name.clone(),
                    target_stage: "propose".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        update(
            &app,
            &manager,
            pb::Deal {
                name: name.clone(),
                owner: other_rep.name(),
                ..Default::default()
            },
            &["owner"],
        )
        .await;
        deals
            .close_deal(authed(
                &manager.token,
                pb::CloseDealRequest {
                    name: name.clone(),
                    outcome: pb::close_deal_request::Outcome::Won as i32,
                    ..Default::default()
                },
            ))
            .await
            .unwrap();

        let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let s = |t: &str| t.to_string();
        let (r, m) = (rep.name(), manager.name());
        let expected = vec![
            (Field::Amount, s("100000"), s("120000"), r.clone()),
            (Field::CloseDate, day(first_close), day(pushed), r.clone()),
            (
                Field::ForecastCategory,
                s("FORECAST_CATEGORY_PIPELINE"),
                s("FORECAST_CATEGORY_COMMIT"),
                m.clone(),
            ),
            (Field::Stage, s("discover"), s("propose"), r.clone()),
            (Field::Owner, r.clone(), other_rep.name(), m.clone()),
            (Field::CloseDate, day(pushed), day(today()), m.clone()),
            (
                Field::ForecastCategory,
                s("FORECAST_CATEGORY_COMMIT"),
                s("FORECAST_CATEGORY_CLOSED"),
                m.clone(),
            ),
            (Field::Stage, s("propose"), s("won"), m.clone()),
            (Field::Status, s("STATUS_OPEN"), s("STATUS_WON"), m.clone()),
        ];
        let all = history(&app, &leader, &name, 50).await;
        assert_eq!(all.iter().map(words).collect::<Vec<_>>(), expected);
        // The booking date set at the close is earlier: still one push.
        assert_eq!(pushes_kept(&app, &name).await, 1);
        let key = |c: &pb::FieldChange| {
            let t = c.change_time.unwrap();
            (t.seconds, t.nanos, c.sequence)
        };
        assert!(
            all.windows(2).all(|w| key(&w[0]) < key(&w[1])),
            "oldest first"
        );
        // Paged by two, the same rows in the same order.
        assert_eq!(history(&app, &manager, &name, 2).await, all);
    }
);

contract_test!(
    a_deals_field_history_is_hidden_from_those_who_cannot_see_the_deal,
    |app| {
        let manager = person(&app, Role::Manager, None).await;
        let rep = person(&app, Role::Rep, Some(&manager)).await;
        let stranger = person(&app, Role::Rep, None).await;
        let pipeline = two_stage_pipeline(&app).await;
        let created = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                display_name: "Private".into(),
                account: "Acme".into(),
                pipeline: pipeline.name.clone(),
                ..Default::default()
            },
        )
        .await;
        let refused = app
            .deals()
            .await
            .list_deal_field_history(authed(
                &stranger.token,
                pb::ListDealFieldHistoryRequest {
                    parent: created.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::NotFound);
        let bad_token = app
            .deals()
            .await
            .list_deal_field_history(authed(
                &rep.token,
                pb::ListDealFieldHistoryRequest {
                    parent: created.name.clone(),
                    page_token: "not-a-token".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_error(&bad_token, Code::InvalidArgument, "BAD_PAGE_TOKEN");
    }
);
