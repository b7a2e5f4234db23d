//! The discount and no-pending-approval exit criteria of stage moves.

use super::*;

/// The (stage, description, met) of each check of a previewed move.
async fn gate_checks(
    app: &TestApp,
    who: &Person,
    deal: &pb::Deal,
    target: &str,
) -> Vec<(String, String, bool)> {
    app.deals()
        .await
        .preview_deal_stage(authed(
            &who.token,
            pb::PreviewDealStageRequest {
                name: deal.name.clone(),
                target_stage: target.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .checks
        .into_iter()
        .map(|c| (c.stage, c.criterion.unwrap().description, c.met))
        .collect()
}

async fn set_discount(app: &TestApp, who: &Person, deal: &pb::Deal, discount_bps: i32) {
    let updated = app
        .deals()
        .await
        .update_deal(authed(
            &who.token,
            pb::UpdateDealRequest {
                deal: Some(pb::Deal {
                    name: deal.name.clone(),
                    discount_bps,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["discount_bps".into()],
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.discount_bps, discount_bps);
}

// ---------------------------------------------------------------------------------------------
// The deal gates.

contract_test!(
    the_discount_gate_needs_an_approved_request_covering_the_deals_discount,
    |app| {
        let d = Desk::new(&app).await;
        let deal = d.deal_of_rep(&app, "pricing", 0).await;
        set_discount(&app, &d.rep, &deal, 3000).await;
        let refused = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap_err();
        assert_eq!(
            unmet_gates(&refused),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );

        // A pending request covering it does not count; an approved lower one neither.
        let pending = submit(&app, &d.rep, ask(&deal, 3000)).await;
        let refused = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap_err();
        assert_eq!(
            unmet_gates(&refused),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );
        try_withdraw(&app, &d.rep, &pending.name).await.unwrap();
        let lower = submit(&app, &d.rep, ask(&deal, 2000)).await;
        approve(&app, &d.manager, &step_of(&lower, 1)).await;
        let refused = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap_err();
        assert_eq!(
            unmet_gates(&refused),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );

        let covering = submit(&app, &d.rep, ask(&deal, 3000)).await;
        approve_manager_and_vp(&app, &d, &covering).await;
        assert_eq!(
            gate_checks(&app, &d.rep, &deal, "signature").await,
            [(
                format!("{}/stages/pricing", d.pipeline.name),
                DISCOUNT_COVERED.to_string(),
                true
            )]
        );
        // Raising the deal's discount past what was approved uncovers it again.
        set_discount(&app, &d.rep, &deal, 3500).await;
        assert_eq!(
            gate_checks(&app, &d.rep, &deal, "signature").await,
            [(
                format!("{}/stages/pricing", d.pipeline.name),
                DISCOUNT_COVERED.to_string(),
                false
            )]
        );
        let refused = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap_err();
        assert_eq!(
            unmet_gates(&refused),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );
        set_discount(&app, &d.rep, &deal, 3000).await;
        let moved = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap();
        assert_eq!(moved.stage, "signature");

        // A new deal cannot be created past the gate with an uncovered discount.
        let status = try_create_deal(
            &app,
            &d.rep.token,
            priced_deal(&d.pipeline, "Skipper", "signature", 3000),
        )
        .await
        .unwrap_err();
        assert_eq!(
            unmet_gates(&status),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );

        // Within the pre-approved tier, no request is needed.
        let small = d.deal_of_rep(&app, "pricing", 1500).await;
        let moved = move_to(&app, &d.rep.token, &small.name, "signature")
            .await
            .unwrap();
        assert_eq!(moved.stage, "signature");
        assert_eq!(
            of_deal(&app, &d.rep, &small, State::Unspecified).await,
            Vec::<String>::new()
        );
    }
);

contract_test!(
    a_pending_request_blocks_the_no_pending_approval_gate_until_decided_or_withdrawn,
    |app| {
        let d = Desk::new(&app).await;
        for ending in ["withdrawn", "approved", "rejected"] {
            let deal = d.deal_of_rep(&app, "signature", 0).await;
            assert_eq!(deal.stage, "signature");
            let request = submit(&app, &d.rep, ask(&deal, 2000)).await;
            let refused = move_to(&app, &d.rep.token, &deal.name, "contract")
                .await
                .unwrap_err();
            assert_eq!(
                unmet_gates(&refused),
                [criterion(&d.pipeline, "signature", NO_PENDING)],
                "{ending}"
            );
            match ending {
                "withdrawn" => {
                    try_withdraw(&app, &d.rep, &request.name).await.unwrap();
                }
                "approved" => {
                    approve(&app, &d.manager, &step_of(&request, 1)).await;
                }
                _ => {
                    try_reject(&app, &d.manager, &step_of(&request, 1), "no")
                        .await
                        .unwrap();
                }
            }
            let moved = move_to(&app, &d.rep.token, &deal.name, "contract")
                .await
                .unwrap();
            assert_eq!(moved.stage, "contract", "{ending}");
        }
    }
);
