//! The org's calendar: dates read in the org's time zone (today, close dates in the future,
//! periods) and won revenue booked on the close date, not at the UTC instant of the close move.

use chrono::{DateTime, Datelike, NaiveDate};
use dealdesk::app::Clock;
use dealdesk::domain::calendar::OrgCalendar;
use dealdesk::domain::directory::Role;
use dealdesk::domain::period::FiscalCalendar;
use dealdesk::proto::deal_service_client::DealServiceClient;
use dealdesk::proto::forecast_service_client::ForecastServiceClient;
use dealdesk::proto::google::r#type::Date;
use dealdesk::proto::{self as pb};
use dealdesk::startup::Application;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

use crate::contract_test;
use crate::fixtures::{at, create_pipeline, stage, try_create_deal};
use crate::helpers::{Person, TestApp, assert_error, authed, person, violated_fields};

use pb::close_deal_request::Outcome;

/// Mexico City: UTC-6 all year (no daylight saving since 2022).
fn mexico() -> OrgCalendar {
    OrgCalendar::new(
        FiscalCalendar::default(),
        OrgCalendar::parse_zone("America/Mexico_City").unwrap(),
    )
}

/// 23:30 on 30 September 2026 in Mexico City: 05:30 UTC on 1 October.
const LAST_MINUTES_OF_Q3: &str = "2026-10-01T05:30:00Z";

fn date(y: i32, m: u32, d: u32) -> Option<Date> {
    Some(Date {
        year: y,
        month: m as i32,
        day: d as i32,
    })
}

fn day_of(d: &Option<Date>) -> NaiveDate {
    let d = d.as_ref().expect("a date");
    NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32).unwrap()
}

/// An ungated pipeline: open -> won / lost.
async fn plain_pipeline(app: &TestApp) -> pb::Pipeline {
    use pb::stage::Kind;
    create_pipeline(
        app,
        pb::Pipeline {
            display_name: "Plain".into(),
            segment: pb::Segment::MidMarket as i32,
            stages: vec![
                stage("open", 50, Kind::Open, vec![]),
                stage("won", 100, Kind::Won, vec![]),
                stage("lost", 110, Kind::Lost, vec![]),
            ],
            ..Default::default()
        },
    )
    .await
}

fn deal(pipeline: &pb::Pipeline, close: Option<Date>) -> pb::Deal {
    pb::Deal {
        display_name: "Border deal".into(),
        account: "Acme".into(),
        pipeline: pipeline.name.clone(),
        amount: Some(pb::Money {
            currency_code: "USD".into(),
            amount_minor: 100_000,
        }),
        close_date: close,
        ..Default::default()
    }
}

/// Another server over the test's database, reading the time from `clock` in Mexico City.
struct Server {
    channel: Channel,
    _stop: oneshot::Sender<()>,
}

impl Server {
    async fn at(app: &TestApp, clock: &str) -> Server {
        let application = Application::build(app.app.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
            .with_calendar(mexico())
            .with_clock(Clock::starting_at(at(clock)));
        let addr = application.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(application.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Server {
            channel,
            _stop: stop,
        }
    }

    fn deals(&self) -> DealServiceClient<Channel> {
        DealServiceClient::new(self.channel.clone())
    }

    fn forecasts(&self) -> ForecastServiceClient<Channel> {
        ForecastServiceClient::new(self.channel.clone())
    }
}

async fn closed_won(
    forecasts: &mut ForecastServiceClient<Channel>,
    who: &Person,
    period: &str,
) -> i64 {
    forecasts
        .get_forecast(authed(
            &who.token,
            pb::GetForecastRequest {
                period: period.into(),
                scope: who.name(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .totals
        .unwrap()
        .closed_won
}

async fn close_won(
    deals: &mut DealServiceClient<Channel>,
    who: &Person,
    deal: &str,
    on: Option<Date>,
) -> Result<pb::Deal, tonic::Status> {
    deals
        .close_deal(authed(
            &who.token,
            pb::CloseDealRequest {
                name: deal.into(),
                outcome: Outcome::Won as i32,
                close_date: on,
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

contract_test!(
    a_deal_closed_at_2330_local_time_on_a_quarters_last_day_counts_in_that_quarter,
    configure = |a: Application| a
        .with_calendar(mexico())
        .with_clock(Clock::starting_at(at(LAST_MINUTES_OF_Q3))),
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = plain_pipeline(&app).await;
        let mut deals = app.deals().await;
        // 30 September is still today in Mexico City, though 1 October in UTC.
        let created = deals
            .create_deal(authed(
                &rep.token,
                pb::CreateDealRequest {
                    deal: Some(deal(&pipeline, date(2026, 9, 30))),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let closed = close_won(&mut deals, &rep, &created.name, None)
            .await
            .unwrap();
        assert_eq!(
            day_of(&closed.close_date),
            NaiveDate::from_ymd_opt(2026, 9, 30).unwrap()
        );
        let close_time = closed.close_time.unwrap();
        assert_eq!(
            DateTime::from_timestamp(close_time.seconds, 0)
                .unwrap()
                .date_naive()
                .month(),
            10,
            "the close move's instant is in October in UTC"
        );
        let mut forecasts = app.forecasts().await;
        assert_eq!(closed_won(&mut forecasts, &rep, "2026-Q3").await, 100_000);
        assert_eq!(closed_won(&mut forecasts, &rep, "2026-09").await, 100_000);
        assert_eq!(closed_won(&mut forecasts, &rep, "2026-Q4").await, 0);
        assert_eq!(closed_won(&mut forecasts, &rep, "2026-10").await, 0);
    }
);

contract_test!(
    close_dates_in_the_future_are_judged_by_the_orgs_today,
    configure = |a: Application| a
        .with_calendar(mexico())
        .with_clock(Clock::starting_at(at(LAST_MINUTES_OF_Q3))),
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = plain_pipeline(&app).await;
        let mut deals = app.deals().await;
        let mut create = async |close| {
            deals
                .create_deal(authed(
                    &rep.token,
                    pb::CreateDealRequest {
                        deal: Some(deal(&pipeline, close)),
                        ..Default::default()
                    },
                ))
                .await
        };
        // Today in Mexico City is 30 September: the 29th is past, the 30th is not.
        let refused = create(date(2026, 9, 29)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&refused), ["deal.close_date"]);
        assert!(create(date(2026, 9, 30)).await.is_ok());
    }
);

contract_test!(
    the_same_instant_is_another_day_in_utc,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(LAST_MINUTES_OF_Q3))),
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = plain_pipeline(&app).await;
        let refused = try_create_deal(&app, &rep.token, deal(&pipeline, date(2026, 9, 30)))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&refused), ["deal.close_date"]);
    }
);

contract_test!(
    a_closed_deal_given_a_signing_date_counts_on_that_date,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = plain_pipeline(&app).await;
        // Created on 10 August (Mexico City), closed on 1 October (UTC) signed on 20 August.
        let august = Server::at(&app, "2026-08-10T15:00:00Z").await;
        let created = august
            .deals()
            .create_deal(authed(
                &rep.token,
                pb::CreateDealRequest {
                    deal: Some(deal(&pipeline, date(2026, 8, 31))),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let october = Server::at(&app, LAST_MINUTES_OF_Q3).await;
        let mut deals = october.deals();
        for (on, why) in [
            (date(2026, 10, 1), "after today"),
            (date(2026, 8, 9), "before the deal was created"),
            (date(2026, 2, 30), "a full calendar date"),
        ] {
            let refused = close_won(&mut deals, &rep, &created.name, on)
                .await
                .unwrap_err();
            assert_error(&refused, Code::InvalidArgument, "BAD_DATE");
            assert_eq!(violated_fields(&refused), ["close_date"]);
            assert!(refused.message().contains(why), "{refused:?}");
        }
        let unchanged = deals
            .get_deal(authed(
                &rep.token,
                pb::GetDealRequest {
                    name: created.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            unchanged.etag, created.etag,
            "a refused close changes nothing"
        );
        let closed = close_won(&mut deals, &rep, &created.name, date(2026, 8, 20))
            .await
            .unwrap();
        assert_eq!(
            day_of(&closed.close_date),
            NaiveDate::from_ymd_opt(2026, 8, 20).unwrap()
        );
        let mut forecasts = october.forecasts();
        assert_eq!(closed_won(&mut forecasts, &rep, "2026-08").await, 100_000);
        assert_eq!(closed_won(&mut forecasts, &rep, "2026-09").await, 0);
        assert_eq!(closed_won(&mut forecasts, &rep, "2026-Q3").await, 100_000);
    }
);
