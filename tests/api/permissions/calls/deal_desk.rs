//! The rows of the call table for DealDeskService.

use super::*;

/// The calls of DealDeskService, in the matrix's order.
pub(super) fn calls() -> Vec<Call> {
    vec![
        call!(
            "DealDeskService.CreateApprovalPolicy",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.create_approval_policy(req(
                        token,
                        pb::CreateApprovalPolicyRequest {
                            policy: Some(policy()),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.GetApprovalPolicy",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.get_approval_policy(req(
                        token,
                        pb::GetApprovalPolicyRequest {
                            name: "approvalPolicies/mid-market/versions/latest".into(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.PreviewApprovalRoute",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                let deal = org.deal.name.clone();
                done(
                    desk.preview_approval_route(req(
                        token,
                        pb::PreviewApprovalRouteRequest {
                            deal,
                            discount_bps: 2000,
                            ..Default::default()
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.SubmitApprovalRequest",
            Needs::Deal("a"),
            |org, fresh, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.submit_approval_request(req(token, ask(&fresh.deal)))
                        .await,
                )
            }
        ),
        call!(
            "DealDeskService.GetApprovalRequest",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.get_approval_request(req(
                        token,
                        pb::GetApprovalRequestRequest {
                            name: org.request.name.clone(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.ListApprovalRequests",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                let deal = org.deal.name.clone();
                desk.list_approval_requests(req(
                    token,
                    pb::ListApprovalRequestsRequest {
                        deal,
                        page_size: 500,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| {
                    r.into_inner()
                        .approval_requests
                        .iter()
                        .any(|q| q.name == org.request.name)
                })
            }
        ),
        call!(
            "DealDeskService.ListApprovalRequests (my queue)",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                desk.list_approval_requests(req(
                    token,
                    pb::ListApprovalRequestsRequest {
                        my_queue: true,
                        page_size: 500,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| {
                    r.into_inner()
                        .approval_requests
                        .iter()
                        .any(|q| q.name == org.request.name)
                })
            }
        ),
        call!(
            "DealDeskService.ApproveApprovalStep",
            Needs::Request,
            |org, fresh, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.approve_approval_step(req(
                        token,
                        pb::ApproveApprovalStepRequest {
                            step: format!("{}/steps/1", fresh.request.name),
                            ..Default::default()
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.RejectApprovalStep",
            Needs::Request,
            |org, fresh, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.reject_approval_step(req(
                        token,
                        pb::RejectApprovalStepRequest {
                            step: format!("{}/steps/1", fresh.request.name),
                            comment: "Too deep for this account".into(),
                            request_id: String::new(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.WithdrawApprovalRequest",
            Needs::Request,
            |org, fresh, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.withdraw_approval_request(req(
                        token,
                        pb::WithdrawApprovalRequestRequest {
                            name: fresh.request.name.clone(),
                            request_id: String::new(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.CreateDelegation",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.create_delegation(req(
                        token,
                        pb::CreateDelegationRequest {
                            delegation: Some(pb::Delegation {
                                delegate: org.standin.name(),
                                start_date: in_days(30),
                                end_date: in_days(31),
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.CreateDelegation (someone else's)",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.create_delegation(req(
                        token,
                        pb::CreateDelegationRequest {
                            delegation: Some(pb::Delegation {
                                delegator: org.absentee.name(),
                                delegate: org.standin.name(),
                                start_date: in_days(40),
                                end_date: in_days(41),
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                    ))
                    .await,
                )
            }
        ),
        call!(
            "DealDeskService.ListDelegations",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                desk.list_delegations(req(
                    token,
                    pb::ListDelegationsRequest {
                        page_size: 500,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| {
                    r.into_inner()
                        .delegations
                        .iter()
                        .any(|d| d.name == org.delegation)
                })
            }
        ),
        call!(
            "DealDeskService.WatchApprovalEvents",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                let deal = org.deal.name.clone();
                first(
                    desk.watch_approval_events(req(
                        token,
                        pb::WatchApprovalEventsRequest {
                            deal,
                            ..Default::default()
                        },
                    ))
                    .await,
                )
                .await
            }
        ),
        call!(
            "DealDeskService.WatchApprovalEvents (everything)",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                first(
                    desk.watch_approval_events(req(
                        token,
                        pb::WatchApprovalEventsRequest::default(),
                    ))
                    .await,
                )
                .await
            }
        ),
        call!(
            "DealDeskService.GetApprovalMetrics",
            Needs::Nothing,
            |org, _, token| {
                let mut desk = org.c.desk.clone();
                done(
                    desk.get_approval_metrics(req(
                        token,
                        pb::GetApprovalMetricsRequest {
                            start_time: timestamp(Utc::now() + chrono::Duration::days(-30)),
                            end_time: timestamp(Utc::now() + chrono::Duration::days(1)),
                        },
                    ))
                    .await,
                )
            }
        ),
    ]
}
