//! CloseDeal: won is gated like a move, forced wins, lost needs a reason, closed is final.

use super::*;

const NEGOTIATE: [&str; 1] = ["Qualification: paper process is at least green"];

// ---------------------------------------------------------------------------------------------
// Closing.

contract_test!(closing_won_is_gated_like_a_move_to_the_won_stage, |app| {
    let org = org(&app).await;
    let pipeline = gated_pipeline(&app).await;
    let deal = create_deal(
        &app,
        &org.rep().token,
        pb::Deal {
            next_step: "Demo".into(),
            amount: usd(80_000),
            ..deal_in(&pipeline, "To win")
        },
    )
    .await;
    let status = close_won(&app, &org.rep().token, &deal.name)
        .await
        .unwrap_err();
    let mut expected = expect(&pipeline, "propose", &PROPOSE);
    expected.extend(expect(&pipeline, "negotiate", &NEGOTIATE));
    assert_eq!(unmet(&status), expected);
    assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), deal);

    update(
        &app,
        &org.rep().token,
        pb::Deal {
            name: deal.name.clone(),
            ..ready(&pipeline, "To win")
        },
        &["contacts", "close_date"],
    )
    .await
    .unwrap();
    update(
        &app,
        &org.manager.token,
        pb::Deal {
            name: deal.name.clone(),
            qualification: vec![item(
                pb::QualificationElement::PaperProcess,
                pb::QualificationStatus::Green,
            )],
            ..Default::default()
        },
        &["qualification"],
    )
    .await
    .unwrap();
    let won = close_won(&app, &org.rep().token, &deal.name).await.unwrap();
    assert_eq!(won.status, DealStatus::Won as i32);
    assert_eq!(won.stage, "closed-won");
    assert_eq!(won.forecast_category, pb::ForecastCategory::Closed as i32);
    assert!(won.close_time.is_some());
    assert_eq!(won.close_time, won.stage_enter_time);
    assert!(won.loss_reason.is_empty());
    assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), won);
    let last = history(&app, &org.rep().token, &deal.name)
        .await
        .pop()
        .unwrap();
    assert_eq!(last.direction, History::Close as i32);
    assert_eq!(
        (last.from_stage.as_str(), last.to_stage.as_str()),
        ("qualify", "closed-won")
    );
});

contract_test!(only_a_manager_above_the_owner_forces_a_close_won, |app| {
    let org = org(&app).await;
    let pipeline = gated_pipeline(&app).await;
    let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Forced win")).await;
    let forced = pb::CloseDealRequest {
        name: deal.name.clone(),
        outcome: Outcome::Won as i32,
        override_justification: "Signed on paper".into(),
        ..Default::default()
    };
    let status = close_deal(&app, &org.rep().token, forced.clone())
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "OVERRIDE_REQUIRES_MANAGER");
    assert_eq!(
        get(&app, &org.rep().token, &deal.name)
            .await
            .unwrap()
            .status,
        DealStatus::Open as i32
    );
    let won = close_deal(&app, &org.manager.token, forced).await.unwrap();
    assert_eq!(won.status, DealStatus::Won as i32);
    let last = history(&app, &org.rep().token, &deal.name)
        .await
        .pop()
        .unwrap();
    assert!(last.overridden);
    assert_eq!(last.override_justification, "Signed on paper");
    assert_eq!(last.direction, History::Close as i32);
});

contract_test!(closing_lost_needs_a_reason_and_is_never_gated, |app| {
    let rep = person(&app, Role::Rep, None).await;
    let pipeline = gated_pipeline(&app).await;
    let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "To lose")).await;
    for reason in ["", "   "] {
        let status = close_lost(&app, &rep.token, &deal.name, reason)
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["loss_reason"], "{reason:?}");
    }
    let status = close_deal(
        &app,
        &rep.token,
        pb::CloseDealRequest {
            name: deal.name.clone(),
            outcome: Outcome::Won as i32,
            loss_reason: "Not for a win".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["loss_reason"]);
    let status = close_deal(
        &app,
        &rep.token,
        pb::CloseDealRequest {
            name: deal.name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["outcome"]);
    assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), deal);

    let lost = close_lost(&app, &rep.token, &deal.name, " Chose a competitor ")
        .await
        .unwrap();
    assert_eq!(lost.status, DealStatus::Lost as i32);
    assert_eq!(lost.stage, "closed-lost");
    assert_eq!(lost.loss_reason, "Chose a competitor");
    assert_eq!(lost.forecast_category, pb::ForecastCategory::Closed as i32);
    assert!(lost.close_time.is_some());
    assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), lost);
    let last = history(&app, &rep.token, &deal.name).await.pop().unwrap();
    assert_eq!(last.direction, History::Close as i32);
    assert_eq!(last.to_stage, "closed-lost");
});

contract_test!(
    a_closed_deal_refuses_updates_moves_and_another_close,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, ready(&pipeline, "Done")).await;
        let lost = close_lost(&app, &org.rep().token, &deal.name, "No budget")
            .await
            .unwrap();
        let rows = app.count("stage_history").await;
        for who in [org.rep(), &org.manager] {
            let status = update(
                &app,
                &who.token,
                pb::Deal {
                    name: deal.name.clone(),
                    next_step: "Try again".into(),
                    ..Default::default()
                },
                &["next_step"],
            )
            .await
            .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "DEAL_CLOSED");
            let status = move_to(&app, &who.token, &deal.name, "propose")
                .await
                .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "DEAL_CLOSED");
            let status = close_won(&app, &who.token, &deal.name).await.unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "DEAL_CLOSED");
            let status = close_lost(&app, &who.token, &deal.name, "Again")
                .await
                .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "DEAL_CLOSED");
        }
        assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), lost);
        assert_eq!(app.count("stage_history").await, rows);
    }
);
