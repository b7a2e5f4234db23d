//! AdvanceDealStage and PreviewDealStage: exit criteria, skips, backward moves, overrides, retries
//! and etags.

use super::*;

const QUALIFY: [&str; 2] = ["Next step is set", "Amount is greater than zero"];

async fn advance(
    app: &TestApp,
    token: &str,
    request: pb::AdvanceDealStageRequest,
) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .advance_deal_stage(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

/// The unmet checks of a preview, as (subject, description).
fn unmet_checks(preview: &pb::PreviewDealStageResponse) -> Vec<(String, String)> {
    preview
        .checks
        .iter()
        .filter(|c| !c.met)
        .map(|c| {
            (
                c.stage.clone(),
                c.criterion.as_ref().unwrap().description.clone(),
            )
        })
        .collect()
}

contract_test!(
    concurrent_retries_of_a_move_or_a_close_answer_alike_and_change_once,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Raced move")).await;
        let advance = pb::AdvanceDealStageRequest {
            name: deal.name.clone(),
            target_stage: "propose".into(),
            request_id: "race-advance".into(),
            ..Default::default()
        };
        let moved = six_at_once(&app, |mut deals| {
            let (token, request) = (rep.token.clone(), advance.clone());
            async move {
                deals
                    .advance_deal_stage(authed(&token, request))
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        assert!(moved.iter().all(|d| *d == moved[0] && d.stage == "propose"));
        assert_eq!(app.count("stage_history").await, 2, "create and one move");

        let close = pb::CloseDealRequest {
            name: deal.name.clone(),
            outcome: pb::close_deal_request::Outcome::Lost as i32,
            loss_reason: "No budget".into(),
            request_id: "race-close".into(),
            ..Default::default()
        };
        let closed = six_at_once(&app, |mut deals| {
            let (token, request) = (rep.token.clone(), close.clone());
            async move {
                deals
                    .close_deal(authed(&token, request))
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        assert!(
            closed
                .iter()
                .all(|d| *d == closed[0] && d.status == DealStatus::Lost as i32)
        );
        assert_eq!(
            app.count("stage_history").await,
            3,
            "create, one move, one close"
        );
    }
);

// ---------------------------------------------------------------------------------------------
// Stage moves and their checklist.

contract_test!(
    a_refused_forward_move_lists_every_unmet_criterion_and_changes_nothing,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, deal_in(&pipeline, "Early")).await;
        let status = move_to(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap_err();
        assert_eq!(unmet(&status), expect(&pipeline, "qualify", &QUALIFY));
        let read = get(&app, &rep.token, &deal.name).await.unwrap();
        assert_eq!(read, deal, "stage, etag and times unchanged");
        assert_eq!(app.count("stage_history").await, 1);

        // Half the evidence: only what is still missing is listed.
        update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                next_step: "Discovery call".into(),
                ..Default::default()
            },
            &["next_step"],
        )
        .await
        .unwrap();
        let status = move_to(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap_err();
        assert_eq!(
            unmet(&status),
            expect(&pipeline, "qualify", &["Amount is greater than zero"])
        );
    }
);

contract_test!(
    skipping_stages_checks_the_criteria_of_every_stage_skipped_but_not_the_target,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                next_step: "Demo".into(),
                amount: usd(10_000),
                ..deal_in(&pipeline, "Skipper")
            },
        )
        .await;
        let status = move_to(&app, &rep.token, &deal.name, "negotiate")
            .await
            .unwrap_err();
        assert_eq!(unmet(&status), expect(&pipeline, "propose", &PROPOSE));
        let mut refused_all = expect(&pipeline, "qualify", &QUALIFY);
        refused_all.extend(expect(&pipeline, "propose", &PROPOSE));
        let empty = create_deal(&app, &rep.token, deal_in(&pipeline, "Empty")).await;
        let status = move_to(&app, &rep.token, &empty.name, "negotiate")
            .await
            .unwrap_err();
        assert_eq!(unmet(&status), refused_all, "in stage order");

        update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                ..ready(&pipeline, "Skipper")
            },
            &["contacts", "close_date"],
        )
        .await
        .unwrap();
        let moved = move_to(&app, &rep.token, &deal.name, "negotiate")
            .await
            .unwrap();
        assert_eq!(moved.stage, "negotiate");
        // A move keeps the contacts the update stored (it does not rewrite them).
        let stored = app
            .deals()
            .await
            .get_deal(authed(
                &rep.token,
                pb::GetDealRequest {
                    name: deal.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stored.contacts, ready(&pipeline, "Skipper").contacts);
        assert!(!stored.contacts.is_empty());
        let last = history(&app, &rep.token, &deal.name).await.pop().unwrap();
        assert_eq!(
            (last.from_stage.as_str(), last.to_stage.as_str()),
            ("qualify", "negotiate")
        );
        assert_eq!(last.direction, History::Forward as i32);
        assert!(!last.overridden);
    }
);

contract_test!(
    preview_lists_the_checklist_and_its_unmet_items_are_what_advance_refuses_with,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let mid = template_pipeline(&app, pb::Segment::MidMarket).await;
        let deal = create_deal(
            &app,
            &rep.token,
            pb::Deal {
                next_step: "Discovery".into(),
                amount: usd(250_000),
                ..deal_in(&mid, "Mid deal")
            },
        )
        .await;
        assert_eq!(deal.stage, "problem-recognized");
        let answer = preview(&app, &rep.token, &deal.name, "business-case-built")
            .await
            .unwrap();
        assert_eq!(
            answer.direction,
            pb::preview_deal_stage_response::Direction::Forward as i32
        );
        assert!(!answer.allowed);
        let checklist: Vec<(String, String, bool)> = answer
            .checks
            .iter()
            .map(|c| {
                (
                    c.stage.clone(),
                    c.criterion.as_ref().unwrap().description.clone(),
                    c.met,
                )
            })
            .collect();
        let pr = subject(&mid, "problem-recognized");
        let se = subject(&mid, "solution-exploring");
        assert_eq!(
            checklist,
            [
                (pr.clone(), "Next step is set".to_string(), true),
                (pr.clone(), "Lead source is set".to_string(), false),
                (pr.clone(), "Need (BANT) is set".to_string(), false),
                (se.clone(), "Amount is greater than zero".to_string(), true),
                (
                    se.clone(),
                    "Close date is today or later".to_string(),
                    false
                ),
                (
                    se.clone(),
                    "A champion is among the contacts".to_string(),
                    false
                ),
                (
                    se.clone(),
                    "Qualification: identified pain is at least yellow".to_string(),
                    false
                ),
            ]
        );
        // The criteria are the pipeline's own, rule and all.
        let stage_criteria: Vec<pb::ExitCriterion> = mid.stages[..2]
            .iter()
            .flat_map(|s| s.exit_criteria.clone())
            .collect();
        let previewed: Vec<pb::ExitCriterion> = answer
            .checks
            .iter()
            .map(|c| c.criterion.clone().unwrap())
            .collect();
        assert_eq!(previewed, stage_criteria);

        let status = move_to(&app, &rep.token, &deal.name, "business-case-built")
            .await
            .unwrap_err();
        assert_eq!(unmet(&status), unmet_checks(&answer));

        // Previewing close won lists every open stage; closing won refuses with the same.
        let won = preview(&app, &rep.token, &deal.name, "closed-won")
            .await
            .unwrap();
        let all: usize = mid.stages.iter().map(|s| s.exit_criteria.len()).sum();
        assert_eq!(won.checks.len(), all);
        let status = close_won(&app, &rep.token, &deal.name).await.unwrap_err();
        assert_eq!(unmet(&status), unmet_checks(&won));

        // Staying put or closing lost needs nothing.
        let here = preview(&app, &rep.token, &deal.name, "problem-recognized")
            .await
            .unwrap();
        assert_eq!(
            here.direction,
            pb::preview_deal_stage_response::Direction::None as i32
        );
        assert!(here.checks.is_empty());
        let lost = preview(&app, &rep.token, &deal.name, "closed-lost")
            .await
            .unwrap();
        assert!(lost.allowed && lost.checks.is_empty());
        let status = preview(&app, &rep.token, &deal.name, "nope")
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["target_stage"]);
        assert_eq!(app.count("stage_history").await, 1, "previews move nothing");
    }
);

contract_test!(
    a_forward_move_with_its_criteria_met_moves_the_deal_and_records_it,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Ready")).await;
        let allowed = preview(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap();
        assert!(allowed.allowed && allowed.checks.iter().all(|c| c.met));
        let moved = move_to(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap();
        assert_eq!(moved.stage, "propose");
        assert_ne!(moved.etag, deal.etag);
        assert!(instant(&moved.stage_enter_time) > instant(&deal.stage_enter_time));
        assert_eq!(moved.update_time, moved.stage_enter_time);
        assert_eq!(moved.create_time, deal.create_time);
        assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), moved);
        let entries = history(&app, &rep.token, &deal.name).await;
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].direction, History::Forward as i32);
        assert_eq!(entries[1].from_stage, "qualify");
        assert_eq!(entries[1].to_stage, "propose");
        assert_eq!(entries[1].actor, rep.name());
        assert_eq!(entries[1].change_time, moved.stage_enter_time);
    }
);

contract_test!(
    backward_moves_are_not_gated_and_are_recorded_as_backward,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Back and forth")).await;
        move_to(&app, &rep.token, &deal.name, "propose")
            .await
            .unwrap();
        // The evidence goes away: going back is still free.
        update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                ..Default::default()
            },
            &["next_step", "amount", "contacts"],
        )
        .await
        .unwrap();
        let back = preview(&app, &rep.token, &deal.name, "qualify")
            .await
            .unwrap();
        assert_eq!(
            back.direction,
            pb::preview_deal_stage_response::Direction::Backward as i32
        );
        assert!(back.allowed && back.checks.is_empty());
        let moved = move_to(&app, &rep.token, &deal.name, "qualify")
            .await
            .unwrap();
        assert_eq!(moved.stage, "qualify");
        let last = history(&app, &rep.token, &deal.name).await.pop().unwrap();
        assert_eq!(last.direction, History::Backward as i32);
        assert_eq!(
            (last.from_stage.as_str(), last.to_stage.as_str()),
            ("propose", "qualify")
        );
        assert!(!last.overridden);
    }
);

contract_test!(
    a_move_must_target_another_open_stage_of_the_deals_pipeline,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Targeted")).await;
        for target in ["closed-won", "closed-lost", "nope", ""] {
            let status = move_to(&app, &rep.token, &deal.name, target)
                .await
                .unwrap_err();
            assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
            assert_eq!(violated_fields(&status), ["target_stage"], "{target:?}");
        }
        let status = move_to(&app, &rep.token, &deal.name, "qualify")
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "ALREADY_IN_STAGE");
        assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), deal);
        assert_eq!(app.count("stage_history").await, 1);
    }
);

contract_test!(
    only_a_manager_above_the_owner_overrides_exit_criteria_and_the_justification_is_kept,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &org.rep().token, deal_in(&pipeline, "Forced")).await;
        let forced = |justification: &str| pb::AdvanceDealStageRequest {
            name: deal.name.clone(),
            target_stage: "propose".into(),
            override_justification: justification.into(),
            ..Default::default()
        };
        let status = advance(&app, &org.rep().token, forced("I know best"))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OVERRIDE_REQUIRES_MANAGER");
        let status = advance(&app, &org.peer_manager.token, forced("Not mine"))
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = advance(&app, &org.manager.token, forced(&"j".repeat(2001)))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["override_justification"]);
        assert_eq!(get(&app, &org.rep().token, &deal.name).await.unwrap(), deal);
        assert_eq!(app.count("stage_history").await, 1);

        let moved = advance(
            &app,
            &org.manager.token,
            forced("  Signed LOI; CRM catching up  "),
        )
        .await
        .unwrap();
        assert_eq!(moved.stage, "propose");
        let last = history(&app, &org.rep().token, &deal.name)
            .await
            .pop()
            .unwrap();
        assert!(last.overridden);
        assert_eq!(last.override_justification, "Signed LOI; CRM catching up");
        assert_eq!(last.actor, org.manager.name());
        assert_eq!(last.direction, History::Forward as i32);

        // A leader higher up may override too.
        let moved = advance(
            &app,
            &org.leader.token,
            pb::AdvanceDealStageRequest {
                name: deal.name.clone(),
                target_stage: "negotiate".into(),
                override_justification: "Board approved".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(moved.stage, "negotiate");
        let last = history(&app, &org.rep().token, &deal.name)
            .await
            .pop()
            .unwrap();
        assert!(last.overridden && last.actor == org.leader.name());
    }
);

contract_test!(
    a_retried_advance_returns_the_first_answer_and_moves_once,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Retried")).await;
        let request = pb::AdvanceDealStageRequest {
            name: deal.name.clone(),
            target_stage: "propose".into(),
            etag: deal.etag.clone(),
            request_id: "move-1".into(),
            ..Default::default()
        };
        let first = advance(&app, &rep.token, request.clone()).await.unwrap();
        let second = advance(&app, &rep.token, request.clone()).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(first.stage, "propose");
        assert_eq!(app.count("stage_history").await, 2);
        let moves: Vec<_> = history(&app, &rep.token, &deal.name)
            .await
            .into_iter()
            .filter(|e| e.to_stage == "propose")
            .collect();
        assert_eq!(moves.len(), 1, "exactly one row for the move");

        // Even after the deal moved on, the retry answers the first answer and moves nothing.
        move_to(&app, &rep.token, &deal.name, "qualify")
            .await
            .unwrap();
        let third = advance(&app, &rep.token, request).await.unwrap();
        assert_eq!(third, first);
        assert_eq!(
            get(&app, &rep.token, &deal.name).await.unwrap().stage,
            "qualify"
        );
        assert_eq!(app.count("stage_history").await, 3);
    }
);

contract_test!(
    a_move_with_a_stale_etag_is_aborted_and_changes_nothing,
    |app| {
        let rep = person(&app, Role::Rep, None).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(&app, &rep.token, ready(&pipeline, "Stale")).await;
        let updated = update(
            &app,
            &rep.token,
            pb::Deal {
                name: deal.name.clone(),
                next_step: "Second demo".into(),
                ..Default::default()
            },
            &["next_step"],
        )
        .await
        .unwrap();
        let status = advance(
            &app,
            &rep.token,
            pb::AdvanceDealStageRequest {
                name: deal.name.clone(),
                target_stage: "propose".into(),
                etag: deal.etag.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::Aborted, "STALE_ETAG");
        assert_eq!(get(&app, &rep.token, &deal.name).await.unwrap(), updated);
        let moved = advance(
            &app,
            &rep.token,
            pb::AdvanceDealStageRequest {
                name: deal.name.clone(),
                target_stage: "propose".into(),
                etag: updated.etag.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(moved.stage, "propose");
    }
);
