//! A caller whose role may not call an RPC is denied before the body is read.

use super::*;

/// A role-limited call with an invalid body: (RPC, caller's role, body, ErrorInfo reason).
type RoleCase = (&'static str, Role, Vec<u8>, &'static str);

/// Every RPC that only some roles may call, each with a body that is invalid in every field
/// it has, made by a role that may not call it.
fn role_cases() -> Vec<RoleCase> {
    let bad_money = || {
        Some(pb::Money {
            currency_code: "??".into(),
            amount_minor: -1,
        })
    };
    let bad_mask = || {
        Some(prost_types::FieldMask {
            paths: vec!["nope".into()],
        })
    };
    let mut bad_policy = crate::hostile::policy();
    bad_policy.tiers.clear();
    bad_policy.playbook = vec!["bad code".into(); 50];
    vec![
        (
            "DealDeskService/CreateApprovalPolicy",
            Role::Rep,
            pb::CreateApprovalPolicyRequest {
                policy: Some(bad_policy),
            }
            .encode_to_vec(),
            "POLICY_EDITORS_ONLY",
        ),
        (
            "DirectoryService/CreateUser",
            Role::Rep,
            pb::CreateUserRequest {
                user: Some(pb::User::default()),
                request_id: "\u{7f}".into(),
            }
            .encode_to_vec(),
            "ADMIN_ONLY",
        ),
        (
            "DirectoryService/UpdateUser",
            Role::Manager,
            pb::UpdateUserRequest {
                user: Some(pb::User::default()),
                update_mask: bad_mask(),
            }
            .encode_to_vec(),
            "ADMIN_ONLY",
        ),
        (
            "DirectoryService/CreateApiToken",
            Role::Leader,
            pb::CreateApiTokenRequest {
                parent: "nope".into(),
                api_token: None,
            }
            .encode_to_vec(),
            "ADMIN_ONLY",
        ),
        (
            "DirectoryService/ListApiTokens",
            Role::DealDesk,
            pb::ListApiTokensRequest {
                parent: "nope".into(),
                page_size: -1,
                page_token: "nope".into(),
            }
            .encode_to_vec(),
            "ADMIN_ONLY",
        ),
        (
            "DirectoryService/RevokeApiToken",
            Role::Rep,
            pb::RevokeApiTokenRequest {
                name: "nope".into(),
            }
            .encode_to_vec(),
            "ADMIN_ONLY",
        ),
        (
            "PipelineService/CreatePipeline",
            Role::Leader,
            pb::CreatePipelineRequest {
                pipeline: Some(pb::Pipeline::default()),
                request_id: "\u{7f}".into(),
            }
            .encode_to_vec(),
            "ADMIN_ONLY",
        ),
        (
            "PipelineService/UpdatePipeline",
            Role::Rep,
            pb::UpdatePipelineRequest {
                pipeline: Some(pb::Pipeline::default()),
                update_mask: bad_mask(),
            }
            .encode_to_vec(),
            "ADMIN_ONLY",
        ),
        (
            "DealService/CreateDeal",
            Role::DealDesk,
            pb::CreateDealRequest {
                deal: Some(pb::Deal {
                    amount: bad_money(),
                    ..Default::default()
                }),
                request_id: "\u{7f}".into(),
            }
            .encode_to_vec(),
            "READ_ONLY_ROLE",
        ),
        (
            "DealService/UpdateDeal",
            Role::Finance,
            pb::UpdateDealRequest {
                deal: Some(pb::Deal::default()),
                update_mask: bad_mask(),
            }
            .encode_to_vec(),
            "READ_ONLY_ROLE",
        ),
        (
            "DealService/AdvanceDealStage",
            Role::Legal,
            pb::AdvanceDealStageRequest {
                name: "nope".into(),
                etag: "nope".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "READ_ONLY_ROLE",
        ),
        (
            "DealService/CloseDeal",
            Role::DealDesk,
            pb::CloseDealRequest {
                name: "nope".into(),
                outcome: 99,
                ..Default::default()
            }
            .encode_to_vec(),
            "READ_ONLY_ROLE",
        ),
        (
            "ForecastService/ComputeWinRates",
            Role::Manager,
            pb::ComputeWinRatesRequest {
                pipeline: "nope".into(),
                prior_weight: Some(-1),
                ..Default::default()
            }
            .encode_to_vec(),
            "WIN_RATES_REQUIRE_LEADER",
        ),
        (
            "ForecastService/SetExchangeRate",
            Role::Leader,
            pb::SetExchangeRateRequest {
                rate: Some(pb::ExchangeRate {
                    from_currency: "??".into(),
                    rate: -1.0,
                    ..Default::default()
                }),
            }
            .encode_to_vec(),
            "ADMIN_ONLY",
        ),
        (
            "ForecastService/SubmitForecastCall",
            Role::Finance,
            pb::SubmitForecastCallRequest {
                period: "nope".into(),
                commit: bad_money(),
                best_case: bad_money(),
                note: "\u{7}".into(),
            }
            .encode_to_vec(),
            "CALLS_ARE_FOR_SELLERS",
        ),
        (
            "ForecastService/AdjustForecastCall",
            Role::Rep,
            pb::AdjustForecastCallRequest {
                period: "nope".into(),
                user: "nope".into(),
                commit: bad_money(),
                best_case: bad_money(),
                note: "\u{7}".into(),
            }
            .encode_to_vec(),
            "ADJUST_REQUIRES_MANAGER",
        ),
        (
            "ForecastService/JudgeDeal",
            Role::Rep,
            pb::JudgeDealRequest {
                period: "nope".into(),
                deal: "nope".into(),
                include: true,
                note: "\u{7}".into(),
            }
            .encode_to_vec(),
            "JUDGE_REQUIRES_MANAGER",
        ),
        (
            "DealDeskService/SubmitApprovalRequest",
            Role::Legal,
            pb::SubmitApprovalRequestRequest {
                deal: "nope".into(),
                discount_bps: -1,
                // Within the count: a count over it is refused as the message is read, before the
                // role is known (as a message over the size limit is).
                clauses: vec!["bad code".into(); 50],
                ..Default::default()
            }
            .encode_to_vec(),
            "REQUESTER_ROLE",
        ),
        (
            "DealDeskService/GetApprovalMetrics",
            Role::Rep,
            pb::GetApprovalMetricsRequest::default().encode_to_vec(),
            "METRICS_READERS_ONLY",
        ),
    ]
}

contract_test!(
    a_caller_whose_role_may_not_call_an_rpc_is_denied_before_the_body_is_read,
    |app| {
        let channel = channel(&app).await;
        let cases = role_cases();
        let mut tokens = std::collections::HashMap::new();
        for (_, role, _, _) in &cases {
            if let std::collections::hash_map::Entry::Vacant(slot) = tokens.entry(*role) {
                slot.insert(app.user(*role, None).await.1);
            }
        }
        for (path, role, body, reason) in cases {
            let status = call(&channel, path, &tokens[&role], body)
                .await
                .unwrap_err();
            assert_eq!(
                (
                    status.code(),
                    status.get_details_error_info().map(|i| i.reason)
                ),
                (Code::PermissionDenied, Some(reason.to_string())),
                "{path} as {role:?}: {status:?}"
            );
            assert!(status.get_details_bad_request().is_none(), "{path}");
        }
    }
);
