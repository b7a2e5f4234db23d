//! DealService: a valid request of each RPC and the single faults that make it refused.

use super::*;

pub(in crate::hostile) fn deals(fx: &Arc<Fixture>, f: &mut Families) {
    let create = valid::create_deal;
    f.credentials("DealService/CreateDeal", create(fx));
    let x = fx.clone();
    f.add(
        "DealService/CreateDeal",
        "create deal: bad field",
        move |rng| {
            let mut r = create(&x);
            let d = r.deal.as_mut().unwrap();
            let expect = match rng.below(15) {
                0 => {
                    r.deal = None;
                    field("deal")
                }
                1 => {
                    d.display_name = huge(rng);
                    field("deal.display_name")
                }
                2 => {
                    d.account = control_text(rng);
                    field("deal.account")
                }
                3 => {
                    d.amount = usd(bad_amount(rng));
                    field("deal.amount.amount_minor")
                }
                4 => {
                    d.amount.as_mut().unwrap().currency_code = bad_currency(rng);
                    field("deal.amount.currency_code")
                }
                5 => {
                    d.confirmed_budget = usd(bad_amount(rng));
                    field("deal.confirmed_budget.amount_minor")
                }
                6 => {
                    d.close_date = Some(bad_date(rng));
                    field("deal.close_date")
                }
                7 => {
                    d.lead_source = bad_enum(rng);
                    field("deal.lead_source")
                }
                8 => {
                    d.forecast_category = bad_enum(rng);
                    field("deal.forecast_category")
                }
                9 => {
                    d.discount_bps = *pick(rng, &[-1, 10_001, i32::MAX, i32::MIN]);
                    field("deal.discount_bps")
                }
                10 => {
                    d.contacts = (0..101 + rng.below(500))
                        .map(|i| pb::Contact {
                            display_name: format!("Contact {i}"),
                            buying_role: pb::BuyingRole::Champion as i32,
                            department: "IT".into(),
                            ..Default::default()
                        })
                        .collect();
                    field("deal.contacts")
                }
                11 => {
                    d.pipeline = bad_name(rng, "pipelines");
                    field("deal.pipeline")
                }
                12 => {
                    d.owner = bad_name(rng, "users");
                    field("deal.owner")
                }
                13 => {
                    d.next_step = huge(rng);
                    field("deal.next_step")
                }
                _ => {
                    d.qualification = vec![pb::QualificationItem {
                        element: bad_enum(rng),
                        status: pb::QualificationStatus::Red as i32,
                        ..Default::default()
                    }];
                    field("deal.qualification[0].element")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DealService/CreateDeal",
        "create deal: foreign owner or pipeline",
        move |rng| {
            let mut r = create(&x);
            let d = r.deal.as_mut().unwrap();
            let expect = match rng.below(3) {
                0 => {
                    d.owner = x.other_rep.name();
                    Expect::Code(Code::PermissionDenied)
                }
                1 => {
                    d.pipeline = format!("pipelines/{}", unknown_id(rng));
                    field("deal.pipeline")
                }
                _ => {
                    d.stage =
                        pick(rng, &["no-such-stage", "closed-won", "", "\u{202e}"]).to_string();
                    if d.stage.is_empty() {
                        d.stage = "closed-lost".into();
                    }
                    field("deal.stage")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DealService/CreateDeal",
        "create deal: request id reused",
        move |rng| {
            let mut r = x.reused_request.clone();
            r.deal.as_mut().unwrap().display_name = format!("Other body {}", rng.below(1000));
            (
                as_(&x.rep),
                r,
                Expect::Reason(Code::InvalidArgument, "REQUEST_ID_REUSED"),
            )
        },
    );

    let get = |fx: &Fixture| pb::GetDealRequest {
        name: fx.deal.name.clone(),
    };
    f.credentials("DealService/GetDeal", get(fx));
    let x = fx.clone();
    f.add(
        "DealService/GetDeal",
        "get deal: bad, unknown or foreign",
        move |rng| {
            let (name, expect) = match rng.below(3) {
                0 => (bad_name(rng, "deals"), field("name")),
                1 => (
                    format!("deals/{}", unknown_id(rng)),
                    Expect::Code(Code::NotFound),
                ),
                _ => (x.foreign_deal.name.clone(), Expect::Code(Code::NotFound)),
            };
            (as_(&x.rep), pb::GetDealRequest { name }, expect)
        },
    );

    f.credentials("DealService/ListDeals", pb::ListDealsRequest::default());
    let x = fx.clone();
    f.add(
        "DealService/ListDeals",
        "list deals: bad field",
        move |rng| {
            let mut r = pb::ListDealsRequest::default();
            let expect = match rng.below(9) {
                0 => {
                    r.owner = bad_name(rng, "users");
                    field("owner")
                }
                1 => {
                    r.pipeline = bad_name(rng, "pipelines");
                    field("pipeline")
                }
                2 => {
                    r.stage = "discovery".into();
                    field("stage")
                }
                3 => {
                    r.forecast_category = bad_enum(rng);
                    field("forecast_category")
                }
                4 => {
                    r.status = bad_enum(rng);
                    field("status")
                }
                5 => {
                    r.min_close_date = Some(bad_date(rng));
                    field("min_close_date")
                }
                6 => {
                    r.query = huge(rng);
                    field("query")
                }
                7 => {
                    r.order_by = pick(
                        rng,
                        &[
                            "amount; DROP TABLE deals",
                            "name",
                            "amount up",
                            "amount desc desc",
                        ],
                    )
                    .to_string();
                    field("order_by")
                }
                _ => {
                    r.max_close_date = Some(bad_date(rng));
                    field("max_close_date")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let update = |fx: &Fixture| pb::UpdateDealRequest {
        deal: Some(pb::Deal {
            name: fx.free_deal.name.clone(),
            next_step: "Call".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["next_step".into()],
        }),
    };
    let mask = |path: &str| {
        Some(FieldMask {
            paths: vec![path.to_string()],
        })
    };
    f.credentials("DealService/UpdateDeal", update(fx));
    let x = fx.clone();
    f.add(
        "DealService/UpdateDeal",
        "update deal: bad field",
        move |rng| {
            let mut r = update(&x);
            let d = r.deal.as_mut().unwrap();
            let expect = match rng.below(12) {
                0 => {
                    r.update_mask = None;
                    field("update_mask")
                }
                1 => {
                    let fixed = ["stage", "status", "pipeline", "name", "*"];
                    let path = *pick(rng, &fixed);
                    r.update_mask = mask(path);
                    field("update_mask.paths[0]")
                }
                2 => {
                    d.name = bad_name(rng, "deals");
                    field("deal.name")
                }
                3 => {
                    d.etag = malformed_etag(rng);
                    field("deal.etag")
                }
                4 => {
                    d.etag = "\"31337\"".into();
                    Expect::Code(Code::Aborted)
                }
                5 => {
                    d.amount = usd(bad_amount(rng));
                    r.update_mask = mask("amount");
                    field("deal.amount.amount_minor")
                }
                6 => {
                    d.next_step = huge(rng);
                    field("deal.next_step")
                }
                7 => {
                    d.discount_bps = *pick(rng, &[-1, 10_001, i32::MAX, i32::MIN]);
                    r.update_mask = mask("discount_bps");
                    field("deal.discount_bps")
                }
                8 => {
                    d.close_date = Some(bad_date(rng));
                    r.update_mask = mask("close_date");
                    field("deal.close_date")
                }
                9 => {
                    d.forecast_category = bad_enum(rng);
                    r.update_mask = mask("forecast_category");
                    field("deal.forecast_category")
                }
                10 => {
                    d.bant = Some(pb::Bant {
                        budget: huge(rng),
                        ..Default::default()
                    });
                    r.update_mask = mask("bant");
                    field("deal.bant.budget")
                }
                _ => {
                    d.display_name = control_text(rng);
                    r.update_mask = mask("display_name");
                    field("deal.display_name")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DealService/UpdateDeal",
        "update deal: beyond the rep's rights",
        move |rng| {
            let mut r = update(&x);
            let expect = match rng.below(4) {
                0 => {
                    r.deal.as_mut().unwrap().name = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
                1 => {
                    r.deal.as_mut().unwrap().forecast_category =
                        pb::ForecastCategory::Commit as i32;
                    r.update_mask = mask("forecast_category");
                    Expect::Code(Code::PermissionDenied)
                }
                2 => {
                    r.deal.as_mut().unwrap().qualification = vec![pb::QualificationItem {
                        element: pb::QualificationElement::Champion as i32,
                        status: pb::QualificationStatus::Green as i32,
                        ..Default::default()
                    }];
                    r.update_mask = mask("qualification");
                    Expect::Code(Code::PermissionDenied)
                }
                _ => {
                    r.deal.as_mut().unwrap().name = format!("deals/{}", unknown_id(rng));
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let advance = valid::advance_deal_stage;
    f.credentials("DealService/AdvanceDealStage", advance(fx));
    let x = fx.clone();
    f.add(
        "DealService/AdvanceDealStage",
        "advance: bad field",
        move |rng| {
            let mut r = advance(&x);
            let expect = match rng.below(7) {
                0 => {
                    r.name = bad_name(rng, "deals");
                    field("name")
                }
                1 => {
                    r.target_stage =
                        pick(rng, &["", "no-such-stage", "\u{202e}", "discovery\0"]).to_string();
                    field("target_stage")
                }
                2 => {
                    r.etag = malformed_etag(rng);
                    field("etag")
                }
                3 => {
                    r.etag = "\"31337\"".into();
                    Expect::Code(Code::Aborted)
                }
                4 => {
                    r.override_justification = huge(rng);
                    field("override_justification")
                }
                5 => {
                    // A rep may not force a gate.
                    r.override_justification = "because".into();
                    Expect::Code(Code::PermissionDenied)
                }
                _ => {
                    r.name = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let preview = |fx: &Fixture| pb::PreviewDealStageRequest {
        name: fx.free_deal.name.clone(),
        target_stage: fx.template.stages[1].stage_id.clone(),
    };
    f.credentials("DealService/PreviewDealStage", preview(fx));
    let x = fx.clone();
    f.add(
        "DealService/PreviewDealStage",
        "preview: bad field",
        move |rng| {
            let mut r = preview(&x);
            let expect = match rng.below(3) {
                0 => {
                    r.name = bad_name(rng, "deals");
                    field("name")
                }
                1 => {
                    r.target_stage = huge(rng);
                    field("target_stage")
                }
                _ => {
                    r.name = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let close = valid::close_deal;
    f.credentials("DealService/CloseDeal", close(fx));
    let x = fx.clone();
    f.add("DealService/CloseDeal", "close: bad field", move |rng| {
        let mut r = close(&x);
        let expect = match rng.below(8) {
            0 => {
                r.name = bad_name(rng, "deals");
                field("name")
            }
            1 => {
                r.outcome = *pick(rng, &[0, 3, -1, i32::MAX]);
                field("outcome")
            }
            2 => {
                r.loss_reason = String::new();
                field("loss_reason")
            }
            3 => {
                r.loss_reason = huge(rng);
                field("loss_reason")
            }
            4 => {
                r.outcome = pb::close_deal_request::Outcome::Won as i32;
                field("loss_reason")
            }
            5 => {
                r.etag = malformed_etag(rng);
                field("etag")
            }
            6 => {
                r.etag = "\"31337\"".into();
                Expect::Code(Code::Aborted)
            }
            _ => {
                r.name = x.foreign_deal.name.clone();
                Expect::Code(Code::NotFound)
            }
        };
        (as_(&x.rep), r, expect)
    });

    let history = valid::list_deal_stage_history;
    f.credentials("DealService/ListDealStageHistory", history(fx));
    let x = fx.clone();
    f.add(
        "DealService/ListDealStageHistory",
        "history: bad field",
        move |rng| {
            let mut r = history(&x);
            let expect = match rng.below(2) {
                0 => {
                    r.parent = bad_name(rng, "deals");
                    field("parent")
                }
                _ => {
                    r.parent = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let field_history = valid::list_deal_field_history;
    f.credentials("DealService/ListDealFieldHistory", field_history(fx));
    let x = fx.clone();
    f.add(
        "DealService/ListDealFieldHistory",
        "field history: bad field",
        move |rng| {
            let mut r = field_history(&x);
            let expect = match rng.below(2) {
                0 => {
                    r.parent = bad_name(rng, "deals");
                    field("parent")
                }
                _ => {
                    r.parent = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    f.credentials(
        "DealService/WatchDealEvents",
        pb::WatchDealEventsRequest::default(),
    );
    let x = fx.clone();
    f.add(
        "DealService/WatchDealEvents",
        "watch deals: bad field",
        move |rng| {
            let mut r = pb::WatchDealEventsRequest::default();
            let expect = match rng.below(6) {
                0 => {
                    r.after_sequence = *pick(rng, &[-1, i64::MIN]);
                    field("after_sequence")
                }
                1 => {
                    r.pipeline = bad_name(rng, "pipelines");
                    field("pipeline")
                }
                2 => {
                    r.owner_subtree = bad_name(rng, "users");
                    field("owner_subtree")
                }
                3 => {
                    r.deal = bad_name(rng, "deals");
                    field("deal")
                }
                4 => {
                    r.deal = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
                _ => {
                    r.owner_subtree = x.other_rep.name();
                    Expect::Code(Code::PermissionDenied)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );
}
