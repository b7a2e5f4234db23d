//! The case table: one call per RPC, made as any caller, with what it needs prepared first.

use super::*;

/// A request with the caller's credentials, if any.
fn req<T>(token: Option<&str>, message: T) -> Request<T> {
    match token {
        Some(token) => authed(token, message),
        None => Request::new(message),
    }
}

const ENDED_PERIOD: &str = "2026-Q1";

/// An update of the fresh deal's field `path` to its value in `fields`.
fn update_fresh(fresh: &Fresh, fields: pb::Deal, path: &str) -> pb::UpdateDealRequest {
    pb::UpdateDealRequest {
        deal: Some(pb::Deal {
            name: fresh.deal.name.clone(),
            ..fields
        }),
        update_mask: mask(&[path]),
    }
}

/// A seller's call: commit and best case.
fn seller_call() -> (Option<pb::Money>, Option<pb::Money>) {
    (usd(1_000_000), usd(2_000_000))
}

fn done<T>(result: Result<tonic::Response<T>, Status>) -> Answer {
    result.map(|_| true)
}

/// The first message of an event stream (the fixture has events for every caller who may
/// watch them).
async fn first<T>(result: Result<tonic::Response<Streaming<T>>, Status>) -> Answer {
    let mut stream = result?.into_inner();
    match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
        Ok(message) => Ok(message?.is_some()),
        Err(_) => panic!("no event within 10 s on a stream the caller may watch"),
    }
}

/// A row of the call table: `call!(key, needs, |matrix, fresh, token| { body })`, where the body
/// is an async block's.
macro_rules! call {
    ($key:literal, $needs:expr, |$org:tt, $fresh:tt, $token:tt| $body:block) => {
        Call {
            key: $key,
            needs: $needs,
            call: |$org, $fresh, $token| Box::pin(async move $body),
        }
    };
}

/// The call behind every row of the matrix, in the matrix's order.
fn calls() -> Vec<Call> {
    vec![
        // DirectoryService
        call!(
            "DirectoryService.CreateUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .create_user(req(
                            token,
                            pb::CreateUserRequest {
                                user: Some(new_user(
                                    &format!("new-{}@test.example", unique()),
                                    pb::Role::Rep,
                                )),
                                request_id: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.GetUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                let rep = org.rep.name();
                done(
                    directory
                        .get_user(req(token, pb::GetUserRequest { name: rep }))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.GetCurrentUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .get_current_user(req(token, pb::GetCurrentUserRequest {}))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.ListUsers",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                let rep = org.rep.name();
                directory
                    .list_users(req(
                        token,
                        pb::ListUsersRequest {
                            manager: org.manager.name(),
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| r.into_inner().users.iter().any(|u| u.name == rep))
            }
        ),
        call!(
            "DirectoryService.UpdateUser",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .update_user(req(
                            token,
                            pb::UpdateUserRequest {
                                user: Some(pb::User {
                                    name: org.standin.name(),
                                    display_name: format!("Stand-in {}", unique()),
                                    ..Default::default()
                                }),
                                update_mask: mask(&["display_name"]),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.CreateApiToken",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .create_api_token(req(
                            token,
                            pb::CreateApiTokenRequest {
                                parent: org.standin.name(),
                                api_token: Some(pb::ApiToken {
                                    display_name: "matrix".into(),
                                    ..Default::default()
                                }),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "DirectoryService.ListApiTokens",
            Needs::Nothing,
            |org, _, token| {
                let mut directory = org.c.directory.clone();
                let rep = org.rep.name();
                directory
                    .list_api_tokens(req(
                        token,
                        pb::ListApiTokensRequest {
                            parent: rep,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| !r.into_inner().api_tokens.is_empty())
            }
        ),
        call!(
            "DirectoryService.RevokeApiToken",
            Needs::Token,
            |org, fresh, token| {
                let mut directory = org.c.directory.clone();
                done(
                    directory
                        .revoke_api_token(req(
                            token,
                            pb::RevokeApiTokenRequest {
                                name: fresh.token.clone(),
                            },
                        ))
                        .await,
                )
            }
        ),
        // PipelineService
        call!(
            "PipelineService.CreatePipeline",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .create_pipeline(req(
                            token,
                            pb::CreatePipelineRequest {
                                pipeline: Some(matrix_pipeline(&format!("Matrix {}", unique()))),
                                request_id: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.GetPipeline",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .get_pipeline(req(
                            token,
                            pb::GetPipelineRequest {
                                name: org.pipeline.name.clone(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.ListPipelines",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                pipelines
                    .list_pipelines(req(
                        token,
                        pb::ListPipelinesRequest {
                            page_size: 500,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| {
                        r.into_inner()
                            .pipelines
                            .iter()
                            .any(|p| p.name == org.pipeline.name)
                    })
            }
        ),
        call!(
            "PipelineService.UpdatePipeline",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .update_pipeline(req(
                            token,
                            pb::UpdatePipelineRequest {
                                pipeline: Some(pb::Pipeline {
                                    name: org.spare.name.clone(),
                                    display_name: format!("Spare {}", unique()),
                                    ..Default::default()
                                }),
                                update_mask: mask(&["display_name"]),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.ListPipelineTemplates",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                done(
                    pipelines
                        .list_pipeline_templates(req(token, pb::ListPipelineTemplatesRequest {}))
                        .await,
                )
            }
        ),
        call!(
            "PipelineService.GetPipelineMetrics",
            Needs::Nothing,
            |org, _, token| {
                let mut pipelines = org.c.pipelines.clone();
                let rep = org.rep.name();
                done(
                    pipelines
                        .get_pipeline_metrics(req(
                            token,
                            pb::GetPipelineMetricsRequest {
                                pipeline: org.pipeline.name.clone(),
                                start_month: "2026-01".into(),
                                end_month: "2026-06".into(),
                                owner: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        // DealService
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
        // ForecastService
        call!(
            "ForecastService.ComputeWinRates",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .compute_win_rates(req(
                            token,
                            pb::ComputeWinRatesRequest {
                                pipeline: org.pipeline.name.clone(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.GetWinRateSnapshot",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .get_win_rate_snapshot(req(
                            token,
                            pb::GetWinRateSnapshotRequest {
                                name: org.win_rates.clone(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.ListWinRateSnapshots",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                forecasts
                    .list_win_rate_snapshots(req(
                        token,
                        pb::ListWinRateSnapshotsRequest {
                            parent: org.pipeline.name.clone(),
                            page_size: 500,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| {
                        r.into_inner()
                            .snapshots
                            .iter()
                            .any(|s| s.name == org.win_rates)
                    })
            }
        ),
        call!(
            "ForecastService.GetForecast",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .get_forecast(req(
                            token,
                            pb::GetForecastRequest {
                                period: PERIOD.into(),
                                scope: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.GetForecast (org)",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .get_forecast(req(
                            token,
                            pb::GetForecastRequest {
                                period: PERIOD.into(),
                                scope: "org".into(),
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.SetExchangeRate",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .set_exchange_rate(req(
                            token,
                            pb::SetExchangeRateRequest {
                                rate: Some(pb::ExchangeRate {
                                    from_currency: "EUR".into(),
                                    to_currency: "USD".into(),
                                    rate: 1.08,
                                    ..Default::default()
                                }),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.ListExchangeRates",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                done(
                    forecasts
                        .list_exchange_rates(req(token, pb::ListExchangeRatesRequest::default()))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.SubmitForecastCall",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let (commit, best_case) = seller_call();
                done(
                    forecasts
                        .submit_forecast_call(req(
                            token,
                            pb::SubmitForecastCallRequest {
                                period: PERIOD.into(),
                                commit,
                                best_case,
                                note: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.AdjustForecastCall",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                let (commit, best_case) = seller_call();
                done(
                    forecasts
                        .adjust_forecast_call(req(
                            token,
                            pb::AdjustForecastCallRequest {
                                period: PERIOD.into(),
                                user: rep,
                                commit,
                                best_case,
                                note: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.JudgeDeal",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let deal = org.deal.name.clone();
                done(
                    forecasts
                        .judge_deal(req(
                            token,
                            pb::JudgeDealRequest {
                                period: PERIOD.into(),
                                deal,
                                include: true,
                                note: String::new(),
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.GetForecastCall",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .get_forecast_call(req(
                            token,
                            pb::GetForecastCallRequest {
                                period: PERIOD.into(),
                                user: rep,
                                as_of_time: None,
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.SnapshotForecast",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .snapshot_forecast(req(
                            token,
                            pb::SnapshotForecastRequest {
                                period: PERIOD.into(),
                                scope: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.ListForecastSnapshots",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                forecasts
                    .list_forecast_snapshots(req(
                        token,
                        pb::ListForecastSnapshotsRequest {
                            period: PERIOD.into(),
                            scope: rep,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| !r.into_inner().snapshots.is_empty())
            }
        ),
        call!(
            "ForecastService.GetForecastAccuracy",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .get_forecast_accuracy(req(
                            token,
                            pb::GetForecastAccuracyRequest {
                                period: ENDED_PERIOD.into(),
                                scope: rep,
                            },
                        ))
                        .await,
                )
            }
        ),
        call!(
            "ForecastService.BacktestForecast",
            Needs::Nothing,
            |org, _, token| {
                let mut forecasts = org.c.forecasts.clone();
                let rep = org.rep.name();
                done(
                    forecasts
                        .backtest_forecast(req(
                            token,
                            pb::BacktestForecastRequest {
                                period: ENDED_PERIOD.into(),
                                scope: rep,
                                ..Default::default()
                            },
                        ))
                        .await,
                )
            }
        ),
        // DealDeskService
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
        // ImportService
        call!(
            "ImportService.ImportHistory",
            Needs::Nothing,
            |org, _, token| {
                use pb::import_history_request::Part;
                let mut import = org.c.import.clone();
                let messages = vec![
                    pb::ImportHistoryRequest {
                        part: Some(Part::Settings(pb::ImportSettings {
                            pipeline: org.pipeline.name.clone(),
                            mapping_json: r#"{"source": "matrix"}"#.into(),
                            // A real import (of no rows), so the cell checks its audit row too.
                            validate_only: false,
                            ..Default::default()
                        })),
                    },
                    pb::ImportHistoryRequest {
                        part: Some(Part::FileChunk(pb::ImportFileChunk {
                            file_name: "deals.csv".into(),
                            kind: pb::import_file_chunk::Kind::GenericDeals as i32,
                            data: b"external_id,name,account,owner,stage,amount,currency,\
                close_date,created_at,lead_source,forecast_category,\
                loss_reason\n"
                                .to_vec(),
                        })),
                    },
                ];
                done(
                    import
                        .import_history(req(token, tokio_stream::iter(messages)))
                        .await,
                )
            }
        ),
    ]
}

/// The call behind the matrix row `key`.
pub(super) fn call_of(key: &str) -> Call {
    calls()
        .into_iter()
        .find(|call| call.key == key)
        .unwrap_or_else(|| panic!("the matrix row {key:?} has no call behind it"))
}
