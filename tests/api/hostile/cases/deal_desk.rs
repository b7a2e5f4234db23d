//! DealDeskService: a valid request of each RPC and the single faults that make it refused.

use super::*;

pub(in crate::hostile) fn dealdesk(fx: &Arc<Fixture>, f: &mut Families) {
    let create = || pb::CreateApprovalPolicyRequest {
        policy: Some(policy()),
    };
    f.credentials("DealDeskService/CreateApprovalPolicy", create());
    let x = fx.clone();
    f.add(
        "DealDeskService/CreateApprovalPolicy",
        "policy: bad field",
        move |rng| {
            let mut r = create();
            let p = r.policy.as_mut().unwrap();
            let expect = match rng.below(8) {
                0 => {
                    r.policy = None;
                    field("policy")
                }
                1 => {
                    p.segment = bad_enum(rng);
                    field("policy.segment")
                }
                2 => {
                    p.payment_days_limit = *pick(rng, &[-1, i32::MIN]);
                    field("policy.payment_days_limit")
                }
                3 => {
                    p.tiers.clear();
                    field("policy.tiers")
                }
                4 => {
                    p.tiers[1].ceiling_bps = *pick(rng, &[-1, 10_001, i32::MAX, i32::MIN]);
                    field("policy.tiers[1].ceiling_bps")
                }
                5 => {
                    p.legal_step = None;
                    field("policy.legal_step")
                }
                6 => {
                    p.tiers[1].steps[0].sla_hours = *pick(rng, &[0, -1, i32::MIN]);
                    field("policy.tiers[1].steps[0].sla_hours")
                }
                _ => {
                    p.size_thresholds = vec![pb::SizeThreshold {
                        above: usd(*pick(rng, &[0, -1, i64::MIN])),
                        step: Some(step(
                            "Finance",
                            vec![queue(pb::Role::Finance)],
                            pb::approval_step::Mode::All,
                        )),
                    }];
                    field("policy.size_thresholds[0].above")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DealDeskService/CreateApprovalPolicy",
        "policy: not an editor",
        move |rng| {
            // Admins and deal desk edit policies.
            let callers = [&x.rep, &x.manager, &x.other_rep];
            let caller = *pick(rng, &callers);
            (as_(caller), create(), Expect::Code(Code::PermissionDenied))
        },
    );

    f.credentials(
        "DealDeskService/GetApprovalPolicy",
        pb::GetApprovalPolicyRequest {
            name: "approvalPolicies/mid-market/versions/latest".into(),
        },
    );
    let x = fx.clone();
    f.add(
        "DealDeskService/GetApprovalPolicy",
        "get policy: bad or unknown",
        move |rng| {
            let (name, expect) = match rng.below(4) {
                0 => (bad_name(rng, "approvalPolicies"), field("name")),
                1 => (
                    (*pick(
                        rng,
                        &[
                            "approvalPolicies/mid-market/versions/0",
                            "approvalPolicies/mid-market/versions/-1",
                            "approvalPolicies/midmarket/versions/1",
                            "approvalPolicies/mid-market/1",
                            "approvalPolicies/mid-market/versions/1/x",
                        ],
                    ))
                    .to_string(),
                    field("name"),
                ),
                2 => (
                    format!(
                        "approvalPolicies/mid-market/versions/{}",
                        pick(rng, &[2, 999, i64::MAX])
                    ),
                    Expect::Code(Code::NotFound),
                ),
                _ => (
                    "approvalPolicies/smb/versions/latest".to_string(),
                    Expect::Code(Code::NotFound),
                ),
            };
            (as_(&x.rep), pb::GetApprovalPolicyRequest { name }, expect)
        },
    );

    /// Changes a request's (discount, clauses, free text, payment days).
    type TermsEdit = Box<dyn Fn(&mut i32, &mut Vec<String>, &mut String, &mut i32)>;
    let terms_fault = |rng: &mut Rng| -> (TermsEdit, Expect) {
        match rng.below(5) {
            0 => {
                let v = *pick(rng, &[-1, 10_001, i32::MAX, i32::MIN]);
                (Box::new(move |d, _, _, _| *d = v), field("discount_bps"))
            }
            1 => {
                let v = *pick(rng, &[-1, i32::MIN]);
                (Box::new(move |_, _, _, p| *p = v), field("payment_days"))
            }
            2 => {
                let n = 51 + rng.below(500);
                (
                    Box::new(move |_, c, _, _| *c = (0..n).map(|i| format!("C{i}")).collect()),
                    field("clauses"),
                )
            }
            3 => {
                let text = huge(rng).repeat(6);
                (
                    Box::new(move |_, _, t, _| *t = text.clone()),
                    field("non_standard_terms"),
                )
            }
            _ => {
                let text = control_text(rng);
                (
                    Box::new(move |_, c, _, _| *c = vec![text.clone()]),
                    field("clauses[0]"),
                )
            }
        }
    };

    let preview = |fx: &Fixture| pb::PreviewApprovalRouteRequest {
        deal: fx.free_deal.name.clone(),
        discount_bps: 2000,
        ..Default::default()
    };
    f.credentials("DealDeskService/PreviewApprovalRoute", preview(fx));
    let x = fx.clone();
    f.add(
        "DealDeskService/PreviewApprovalRoute",
        "preview route: bad field",
        move |rng| {
            let mut r = preview(&x);
            let expect = match rng.below(3) {
                0 => {
                    r.deal = bad_name(rng, "deals");
                    field("deal")
                }
                1 => {
                    r.deal = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
                _ => {
                    let (apply, expect) = terms_fault(rng);
                    apply(
                        &mut r.discount_bps,
                        &mut r.clauses,
                        &mut r.non_standard_terms,
                        &mut r.payment_days,
                    );
                    expect
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let submit = valid::submit_approval_request;
    f.credentials("DealDeskService/SubmitApprovalRequest", submit(fx));
    let x = fx.clone();
    f.add(
        "DealDeskService/SubmitApprovalRequest",
        "submit: bad field",
        move |rng| {
            let mut r = submit(&x);
            let expect = match rng.below(4) {
                0 => {
                    r.deal = bad_name(rng, "deals");
                    field("deal")
                }
                1 => {
                    r.deal = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
                2 => {
                    r.resubmits = bad_name(rng, "approvalRequests");
                    field("resubmits")
                }
                _ => {
                    let (apply, expect) = terms_fault(rng);
                    apply(
                        &mut r.discount_bps,
                        &mut r.clauses,
                        &mut r.non_standard_terms,
                        &mut r.payment_days,
                    );
                    expect
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    f.credentials(
        "DealDeskService/GetApprovalRequest",
        pb::GetApprovalRequestRequest {
            name: fx.approval.name.clone(),
        },
    );
    let x = fx.clone();
    f.add(
        "DealDeskService/GetApprovalRequest",
        "get approval: bad or foreign",
        move |rng| {
            let (caller, name, expect) = match rng.below(3) {
                0 => (&x.rep, bad_name(rng, "approvalRequests"), field("name")),
                1 => (
                    &x.rep,
                    format!("approvalRequests/{}", unknown_id(rng)),
                    Expect::Code(Code::NotFound),
                ),
                _ => (
                    &x.other_rep,
                    x.approval.name.clone(),
                    Expect::Code(Code::NotFound),
                ),
            };
            (as_(caller), pb::GetApprovalRequestRequest { name }, expect)
        },
    );

    let list = valid::list_approval_requests;
    f.credentials("DealDeskService/ListApprovalRequests", list(fx));
    let x = fx.clone();
    f.add(
        "DealDeskService/ListApprovalRequests",
        "list approvals: bad field",
        move |rng| {
            let mut r = list(&x);
            let expect = match rng.below(4) {
                0 => {
                    r.deal = bad_name(rng, "deals");
                    field("deal")
                }
                1 => {
                    r.my_queue = true;
                    field("deal")
                }
                2 => {
                    r.state = bad_enum(rng);
                    field("state")
                }
                _ => {
                    r.deal = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let approve = valid::approve_approval_step;
    f.credentials("DealDeskService/ApproveApprovalStep", approve(fx));
    let x = fx.clone();
    f.add(
        "DealDeskService/ApproveApprovalStep",
        "approve: bad field or approver",
        move |rng| {
            let mut r = approve(&x);
            let mut caller = &x.manager;
            let expect = match rng.below(6) {
                0 => {
                    r.step = bad_name(rng, "approvalRequests");
                    field("step")
                }
                1 => {
                    r.step = format!(
                        "{}/steps/{}",
                        x.approval.name,
                        pick(rng, &["0", "-1", "99999999999999999999", "x", "1\0"])
                    );
                    field("step")
                }
                2 => {
                    r.step = format!("{}/steps/9", x.approval.name);
                    Expect::Code(Code::NotFound)
                }
                3 => {
                    r.comment = huge(rng);
                    field("comment")
                }
                4 => {
                    // The requester is no approver; a manager of another subtree may not even
                    // see the request.
                    if rng.below(2) == 0 {
                        caller = &x.rep;
                        Expect::Code(Code::PermissionDenied)
                    } else {
                        caller = &x.other_manager;
                        Expect::Code(Code::NotFound)
                    }
                }
                _ => {
                    caller = &x.desk;
                    Expect::Code(Code::PermissionDenied)
                }
            };
            (as_(caller), r, expect)
        },
    );

    let reject = |fx: &Fixture| pb::RejectApprovalStepRequest {
        step: fx.step.clone(),
        comment: "no".into(),
        request_id: String::new(),
    };
    f.credentials("DealDeskService/RejectApprovalStep", reject(fx));
    let x = fx.clone();
    f.add(
        "DealDeskService/RejectApprovalStep",
        "reject: bad field or approver",
        move |rng| {
            let mut r = reject(&x);
            let mut caller = &x.manager;
            let expect = match rng.below(4) {
                0 => {
                    r.step = bad_name(rng, "approvalRequests");
                    field("step")
                }
                1 => {
                    r.comment = String::new();
                    field("comment")
                }
                2 => {
                    r.comment = control_text(rng);
                    field("comment")
                }
                _ => {
                    // Another rep may not see the request at all.
                    caller = &x.other_rep;
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(caller), r, expect)
        },
    );

    let withdraw = valid::withdraw_approval_request;
    f.credentials("DealDeskService/WithdrawApprovalRequest", withdraw(fx));
    let x = fx.clone();
    f.add(
        "DealDeskService/WithdrawApprovalRequest",
        "withdraw: bad field or caller",
        move |rng| {
            let mut r = withdraw(&x);
            let mut caller = &x.rep;
            let expect = match rng.below(3) {
                0 => {
                    r.name = bad_name(rng, "approvalRequests");
                    field("name")
                }
                1 => {
                    r.name = format!("approvalRequests/{}", unknown_id(rng));
                    Expect::Code(Code::NotFound)
                }
                _ => {
                    caller = &x.other_rep;
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(caller), r, expect)
        },
    );

    let delegation = valid::create_delegation;
    f.credentials("DealDeskService/CreateDelegation", delegation(fx));
    let x = fx.clone();
    f.add(
        "DealDeskService/CreateDelegation",
        "delegation: bad field",
        move |rng| {
            let mut r = delegation(&x);
            let d = r.delegation.as_mut().unwrap();
            let expect = match rng.below(7) {
                0 => {
                    r.delegation = None;
                    field("delegation")
                }
                1 => {
                    d.delegate = bad_name(rng, "users");
                    field("delegation.delegate")
                }
                2 => {
                    d.start_date = None;
                    field("delegation.start_date")
                }
                3 => {
                    d.end_date = Some(bad_date(rng));
                    field("delegation.end_date")
                }
                4 => {
                    d.end_date = Some(Date {
                        year: 2029,
                        month: 12,
                        day: 31,
                    });
                    field("delegation.end_date")
                }
                5 => {
                    d.delegate = x.manager.name();
                    field("delegation.delegate")
                }
                _ => {
                    d.delegator = bad_name(rng, "users");
                    field("delegation.delegator")
                }
            };
            (as_(&x.manager), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DealDeskService/CreateDelegation",
        "delegation: for someone else",
        move |_| {
            let mut r = delegation(&x);
            r.delegation.as_mut().unwrap().delegator = x.other_manager.name();
            r.delegation.as_mut().unwrap().delegate = x.rep.name();
            (as_(&x.manager), r, Expect::Code(Code::PermissionDenied))
        },
    );

    f.credentials(
        "DealDeskService/ListDelegations",
        pb::ListDelegationsRequest::default(),
    );

    f.credentials(
        "DealDeskService/WatchApprovalEvents",
        pb::WatchApprovalEventsRequest::default(),
    );
    let x = fx.clone();
    f.add(
        "DealDeskService/WatchApprovalEvents",
        "watch approvals: bad field",
        move |rng| {
            let mut r = pb::WatchApprovalEventsRequest::default();
            let expect = match rng.below(5) {
                0 => {
                    r.after_event_id = *pick(rng, &[-1, i64::MIN]);
                    field("after_event_id")
                }
                1 => {
                    r.approver = bad_name(rng, "users");
                    field("approver")
                }
                2 => {
                    r.role_queue = bad_enum(rng);
                    field("role_queue")
                }
                3 => {
                    r.deal = bad_name(rng, "deals");
                    field("deal")
                }
                _ => {
                    r.deal = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let metrics = || pb::GetApprovalMetricsRequest {
        start_time: Some(Timestamp {
            seconds: 1_767_225_600,
            nanos: 0,
        }),
        end_time: Some(Timestamp {
            seconds: 1_798_761_600,
            nanos: 0,
        }),
    };
    f.credentials("DealDeskService/GetApprovalMetrics", metrics());
    let x = fx.clone();
    f.add(
        "DealDeskService/GetApprovalMetrics",
        "approval metrics: bad field",
        move |rng| {
            let mut r = metrics();
            let expect = match rng.below(4) {
                0 => {
                    r.start_time = None;
                    field("start_time")
                }
                1 => {
                    r.end_time = Some(bad_timestamp(rng));
                    field("end_time")
                }
                2 => {
                    r.start_time = Some(bad_timestamp(rng));
                    field("start_time")
                }
                _ => {
                    std::mem::swap(&mut r.start_time, &mut r.end_time);
                    field("end_time")
                }
            };
            (as_(&x.desk), r, expect)
        },
    );
}
