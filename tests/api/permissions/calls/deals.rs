//! The rows of the call table for DealService.

use super::*;

/// The calls of DealService, in the matrix's order.
pub(super) fn calls() -> Vec<Call> {
    vec![
        call!("DealService.CreateDeal", Needs::Nothing, |org, _, token| {
            let mut deals = org.c.deals.clone();
            let rep = org.rep.name();
            done(
                deals
                    .create_deal(req(
                        token,
                        pb::CreateDealRequest {
                            deal: Some(pb::Deal {
                                display_name: "Created in the matrix".into(),
                                account: "Matrix Corp".into(),
                                owner: rep,
                                pipeline: org.pipeline.name.clone(),
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                    ))
                    .await,
            )
        }),
        call!("DealService.GetDeal", Needs::Nothing, |org, _, token| {
            let mut deals = org.c.deals.clone();
            let deal = org.deal.name.clone();
            done(
                deals
                    .get_deal(req(token, pb::GetDealRequest { name: deal }))
                    .await,
            )
        }),
        call!("DealService.ListDeals", Needs::Nothing, |org, _, token| {
            let mut deals = org.c.deals.clone();
            let deal = org.deal.name.clone();
            let rep = org.rep.name();
            deals
                .list_deals(req(
                    token,
                    pb::ListDealsRequest {
                        page_size: 500,
                        owner: rep,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| r.into_inner().deals.iter().any(|d| d.name == deal))
        }),
        call!("DealService.UpdateDeal", Needs::Nothing, |org, _, token| {
            let mut deals = org.c.deals.clone();
            let deal = org.deal.name.clone();
            done(
                deals
                    .update_deal(req(
                        token,
                        pb::UpdateDealRequest {
                            deal: Some(pb::Deal {
                                name: deal,
                                next_step: format!("Call back {}", unique()),
                                ..Default::default()
                            }),
                            update_mask: mask(&["next_step"]),
                        },
                    ))
                    .await,
            )
        }),
        call!(
            "DealService.UpdateDeal (into COMMIT)",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .update_deal(req(
                            token,
                            update_fresh(
                                fresh,
                                pb::Deal {
                                    forecast_category: pb::ForecastCategory::Commit as i32,
                                    ..Default::default()
                                },
                                "forecast_category",
                            ),
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.UpdateDeal (GREEN qualification)",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .update_deal(req(
                            token,
                            update_fresh(
                                fresh,
                                pb::Deal {
                                    qualification: vec![pb::QualificationItem {
                                        element: pb::QualificationElement::Champion as i32,
                                        status: pb::QualificationStatus::Green as i32,
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                },
                                "qualification",
                            ),
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.UpdateDeal (reassign to the peer)",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .update_deal(req(
                            token,
                            update_fresh(
                                fresh,
                                pb::Deal {
                                    owner: org.peer.name(),
                                    ..Default::default()
                                },
                                "owner",
                            ),
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.AdvanceDealStage",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .advance_deal_stage(req(
                            token,
                            pb::AdvanceDealStageRequest {
                                name: fresh.deal.name.clone(),
                                target_stage: "b".into(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.AdvanceDealStage (override)",
            Needs::Deal("b"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .advance_deal_stage(req(
                            token,
                            pb::AdvanceDealStageRequest {
                                name: fresh.deal.name.clone(),
                                target_stage: "c".into(),
                                override_justification: "The CFO signs; met in person".into(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.PreviewDealStage",
            Needs::Nothing,
            |org, _, token| {
                let mut deals = org.c.deals.clone();
                let deal = org.deal.name.clone();
                done(
                    deals
                        .preview_deal_stage(req(
                            token,
                            pb::PreviewDealStageRequest {
                                name: deal,
                                target_stage: "c".into(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.CloseDeal",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut deals = org.c.deals.clone();
                done(
                    deals
                        .close_deal(req(
                            token,
                            pb::CloseDealRequest {
                                name: fresh.deal.name.clone(),
                                outcome: pb::close_deal_request::Outcome::Lost as i32,
                                loss_reason: "No budget this year".into(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DealService.ListDealStageHistory",
            Needs::Nothing,
            |org, _, token| {
                let mut deals = org.c.deals.clone();
                let deal = org.deal.name.clone();
                deals
                    .list_deal_stage_history(req(
                        token,
                        pb::ListDealStageHistoryRequest {
                            parent: deal,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| !r.into_inner().entries.is_empty())
            }
        ),
        call!(
            "DealService.ListDealFieldHistory",
            Needs::Nothing,
            |org, _, token| {
                let mut deals = org.c.deals.clone();
                let deal = org.deal.name.clone();
                deals
                    .list_deal_field_history(req(
                        token,
                        pb::ListDealFieldHistoryRequest {
                            parent: deal,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|_| true)
            }
        ),
        call!(
            "DealService.WatchDealEvents",
            Needs::Nothing,
            |org, _, token| {
                let mut deals = org.c.deals.clone();
                let deal = org.deal.name.clone();
                first(
                    deals
                        .watch_deal_events(req(
                            token,
                            pb::WatchDealEventsRequest {
                                deal,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
                .await
            }
        ),
    ]
}
