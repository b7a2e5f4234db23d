//! A valid request of each RPC the fault tables name, as its other families build it.

use super::*;

pub(super) fn create_user(fx: &Fixture, rng: &mut Rng) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        user: Some(pb::User {
            display_name: "Hostile New".into(),
            email: format!("hostile-{}@test.example", unknown_id(rng)),
            role: pb::Role::Rep as i32,
            manager: fx.manager.name(),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

pub(super) fn list_api_tokens(fx: &Fixture) -> pb::ListApiTokensRequest {
    pb::ListApiTokensRequest {
        parent: fx.rep.name(),
        ..Default::default()
    }
}

pub(super) fn create_pipeline(fx: &Fixture) -> pb::CreatePipelineRequest {
    pb::CreatePipelineRequest {
        pipeline: Some(fx.template.clone()),
        request_id: String::new(),
    }
}

pub(super) fn create_deal(fx: &Fixture) -> pb::CreateDealRequest {
    pb::CreateDealRequest {
        deal: Some(a_deal(&fx.pipeline, "Hostile deal")),
        request_id: String::new(),
    }
}

pub(super) fn advance_deal_stage(fx: &Fixture) -> pb::AdvanceDealStageRequest {
    pb::AdvanceDealStageRequest {
        name: fx.free_deal.name.clone(),
        target_stage: fx.template.stages[1].stage_id.clone(),
        ..Default::default()
    }
}

pub(super) fn close_deal(fx: &Fixture) -> pb::CloseDealRequest {
    pb::CloseDealRequest {
        name: fx.free_deal.name.clone(),
        outcome: pb::close_deal_request::Outcome::Lost as i32,
        loss_reason: "Budget".into(),
        ..Default::default()
    }
}

pub(super) fn list_deal_stage_history(fx: &Fixture) -> pb::ListDealStageHistoryRequest {
    pb::ListDealStageHistoryRequest {
        parent: fx.deal.name.clone(),
        ..Default::default()
    }
}

pub(super) fn list_deal_field_history(fx: &Fixture) -> pb::ListDealFieldHistoryRequest {
    pb::ListDealFieldHistoryRequest {
        parent: fx.deal.name.clone(),
        ..Default::default()
    }
}

pub(super) fn submit_approval_request(fx: &Fixture) -> pb::SubmitApprovalRequestRequest {
    pb::SubmitApprovalRequestRequest {
        deal: fx.free_deal.name.clone(),
        discount_bps: 2000,
        ..Default::default()
    }
}

pub(super) fn list_approval_requests(fx: &Fixture) -> pb::ListApprovalRequestsRequest {
    pb::ListApprovalRequestsRequest {
        deal: fx.deal.name.clone(),
        ..Default::default()
    }
}

pub(super) fn approve_approval_step(fx: &Fixture) -> pb::ApproveApprovalStepRequest {
    pb::ApproveApprovalStepRequest {
        step: fx.step.clone(),
        comment: "ok".into(),
        request_id: String::new(),
    }
}

pub(super) fn withdraw_approval_request(fx: &Fixture) -> pb::WithdrawApprovalRequestRequest {
    pb::WithdrawApprovalRequestRequest {
        name: fx.approval.name.clone(),
        request_id: String::new(),
    }
}

pub(super) fn create_delegation(fx: &Fixture) -> pb::CreateDelegationRequest {
    pb::CreateDelegationRequest {
        delegation: Some(pb::Delegation {
            delegate: fx.other_manager.name(),
            start_date: Some(Date {
                year: 2030,
                month: 1,
                day: 1,
            }),
            end_date: Some(Date {
                year: 2030,
                month: 1,
                day: 31,
            }),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

pub(super) fn compute_win_rates(fx: &Fixture) -> pb::ComputeWinRatesRequest {
    pb::ComputeWinRatesRequest {
        pipeline: fx.pipeline.clone(),
        ..Default::default()
    }
}

pub(super) fn list_win_rate_snapshots(fx: &Fixture) -> pb::ListWinRateSnapshotsRequest {
    pb::ListWinRateSnapshotsRequest {
        parent: fx.pipeline.clone(),
        ..Default::default()
    }
}

pub(super) fn list_forecast_snapshots(fx: &Fixture) -> pb::ListForecastSnapshotsRequest {
    pb::ListForecastSnapshotsRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
        ..Default::default()
    }
}

pub(super) fn snapshot_forecast(fx: &Fixture) -> pb::SnapshotForecastRequest {
    pb::SnapshotForecastRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
        ..Default::default()
    }
}
