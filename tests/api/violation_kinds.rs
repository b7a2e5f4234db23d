//! Every field violation has a kind: the rules that used to answer the generic
//! `INVALID_ARGUMENT` reason each name theirs (DUPLICATE_VALUE, BAD_SHAPE, UNKNOWN_REFERENCE,
//! CONFLICTING_FIELDS, BAD_DATE), with the field and the words they always had.

use dealdesk::proto as pb;

use crate::contract_test;
use crate::fixtures::{deal_in, stage_at, try_create_deal};
use crate::helpers::{authed, only_violation};

fn pipeline(stages: Vec<pb::Stage>) -> pb::CreatePipelineRequest {
    pb::CreatePipelineRequest {
        pipeline: Some(pb::Pipeline {
            display_name: "Kinds".into(),
            segment: pb::Segment::Smb as i32,
            stages,
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

contract_test!(rules_without_a_kind_of_their_own_now_name_one, |app| {
    use pb::stage::Kind;
    let mut pipelines = app.pipelines().await;
    let won = || stage_at("won", 3, Kind::Won, 10_000);
    let lost = || stage_at("lost", 4, Kind::Lost, 0);
    let duplicate = pipelines
        .create_pipeline(authed(
            &app.admin_token,
            pipeline(vec![
                stage_at("talk", 1, Kind::Open, 1_000),
                stage_at("talk", 2, Kind::Open, 2_000),
                won(),
                lost(),
            ]),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        only_violation(&duplicate, "DUPLICATE_VALUE"),
        (
            "pipeline.stages[1].stage_id".to_string(),
            "duplicates the id of stages[0]".to_string()
        )
    );
    let no_open = pipelines
        .create_pipeline(authed(&app.admin_token, pipeline(vec![won(), lost()])))
        .await
        .unwrap_err();
    assert_eq!(
        only_violation(&no_open, "BAD_SHAPE"),
        (
            "pipeline.stages".to_string(),
            "must have at least one OPEN stage".to_string()
        )
    );
    let won_at_half = pipelines
        .create_pipeline(authed(
            &app.admin_token,
            pipeline(vec![
                stage_at("talk", 1, Kind::Open, 1_000),
                stage_at("won", 3, Kind::Won, 5_000),
                lost(),
            ]),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        only_violation(&won_at_half, "CONFLICTING_FIELDS"),
        (
            "pipeline.stages[1].default_probability_bps".to_string(),
            "the won stage's probability must be 10000".to_string()
        )
    );

    // A deal in a pipeline that does not exist.
    let rep = app.user(dealdesk::domain::directory::Role::Rep, None).await;
    let ghost = pb::Pipeline {
        name: "pipelines/00000000-0000-4000-8000-000000000001".into(),
        ..Default::default()
    };
    let nowhere = try_create_deal(&app, &rep.1, deal_in(&ghost, "Ghost"))
        .await
        .unwrap_err();
    assert_eq!(
        only_violation(&nowhere, "UNKNOWN_REFERENCE"),
        ("deal.pipeline".to_string(), "no such pipeline".to_string())
    );

    // A rate from a currency into itself.
    let same = app
        .forecasts()
        .await
        .set_exchange_rate(authed(
            &app.admin_token,
            pb::SetExchangeRateRequest {
                rate: Some(pb::ExchangeRate {
                    from_currency: "EUR".into(),
                    to_currency: "EUR".into(),
                    rate: 1.0,
                    update_time: None,
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        only_violation(&same, "CONFLICTING_FIELDS"),
        (
            "rate.to_currency".to_string(),
            "must differ from from_currency".to_string()
        )
    );
});
