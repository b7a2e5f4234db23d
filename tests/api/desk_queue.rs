//! The whole desk's requests: ListApprovalRequests with neither a deal nor `my_queue` lists
//! every request, newest first, for deal desk, finance, legal and admins, narrowed by state,
//! segment, approver and age and paged with tokens bound to those filters; reps, managers and
//! leaders keep listing a deal's requests or their queue (DESK_READERS_ONLY otherwise).

use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::contract_test;
use crate::fixtures::{
    Org, create_deal, create_pipeline, create_policy, deal_in, queue, relation, stage, step, usd,
};
use crate::helpers::{Person, TestApp, assert_error, authed};

use pb::approval_request::State;
use pb::approval_step::Mode;
use pb::approver::Relation;

/// An org with deal desk, finance and legal; an SMB and a mid-market pipeline whose policies
/// send a discount over 10% to the owner's manager (the last tier reaches
/// 100%, as every policy's must); three requests, oldest first:
/// `smb` (the rep's SMB deal, pending on the manager), `withdrawn` (the rep's mid-market
/// deal, withdrawn), `peer` (the peer's mid-market deal, pending on the peer's manager).
struct Book {
    org: Org,
    smb: pb::ApprovalRequest,
    withdrawn: pb::ApprovalRequest,
    peer: pb::ApprovalRequest,
}

fn policy(segment: pb::Segment) -> pb::ApprovalPolicy {
    pb::ApprovalPolicy {
        segment: segment as i32,
        tiers: vec![
            pb::DiscountTier {
                ceiling_bps: 1000,
                steps: vec![],
            },
            pb::DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![step(
                    "Manager",
                    vec![relation(Relation::OwnersManager)],
                    Mode::All,
                )],
            },
        ],
        legal_step: Some(step("Legal", vec![queue(pb::Role::Legal)], Mode::All)),
        finance_step: Some(step("Finance", vec![queue(pb::Role::Finance)], Mode::All)),
        ..Default::default()
    }
}

async fn pipeline(app: &TestApp, segment: pb::Segment) -> pb::Pipeline {
    use pb::stage::Kind;
    create_pipeline(
        app,
        pb::Pipeline {
            display_name: format!("{segment:?}"),
            segment: segment as i32,
            stages: vec![
                stage("discovery", 10, Kind::Open, vec![]),
                stage("closed-won", 100, Kind::Won, vec![]),
                stage("closed-lost", 110, Kind::Lost, vec![]),
            ],
            ..Default::default()
        },
    )
    .await
}

/// A 20% request on a new $50,000 deal of `owner` in `pipeline`.
async fn request(app: &TestApp, owner: &Person, pipeline: &pb::Pipeline) -> pb::ApprovalRequest {
    let deal = create_deal(
        app,
        &owner.token,
        pb::Deal {
            amount: usd(5_000_000),
            discount_bps: 2000,
            ..deal_in(pipeline, "Acme")
        },
    )
    .await;
    app.deal_desk()
        .await
        .submit_approval_request(authed(
            &owner.token,
            pb::SubmitApprovalRequestRequest {
                deal: deal.name,
                discount_bps: 2000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

impl Book {
    async fn new(app: &TestApp) -> Book {
        let org = Org::builder()
            .staff(&[Role::DealDesk, Role::Finance, Role::Legal])
            .build(app)
            .await;
        let smb_pipeline = pipeline(app, pb::Segment::Smb).await;
        let mid_pipeline = pipeline(app, pb::Segment::MidMarket).await;
        for segment in [pb::Segment::Smb, pb::Segment::MidMarket] {
            create_policy(app, &app.admin_token, policy(segment))
                .await
                .unwrap();
        }
        let smb = request(app, org.rep(), &smb_pipeline).await;
        let withdrawn = request(app, org.rep(), &mid_pipeline).await;
        let withdrawn = app
            .deal_desk()
            .await
            .withdraw_approval_request(authed(
                &org.rep().token,
                pb::WithdrawApprovalRequestRequest {
                    name: withdrawn.name,
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let peer = request(app, org.peer(), &mid_pipeline).await;
        assert_eq!(smb.state, State::Pending as i32);
        assert_eq!(withdrawn.state, State::Withdrawn as i32);
        Book {
            org,
            smb,
            withdrawn,
            peer,
        }
    }
}

async fn list(
    app: &TestApp,
    who: &Person,
    request: pb::ListApprovalRequestsRequest,
) -> Result<pb::ListApprovalRequestsResponse, Status> {
    app.deal_desk()
        .await
        .list_approval_requests(authed(&who.token, request))
        .await
        .map(|r| r.into_inner())
}

/// The names of one page of the listing.
async fn names(
    app: &TestApp,
    who: &Person,
    request: pb::ListApprovalRequestsRequest,
) -> Vec<String> {
    list(app, who, request)
        .await
        .unwrap()
        .approval_requests
        .into_iter()
        .map(|r| r.name)
        .collect()
}

fn whole_desk() -> pb::ListApprovalRequestsRequest {
    pb::ListApprovalRequestsRequest::default()
}

contract_test!(
    deal_desk_finance_legal_and_admins_list_every_request_newest_first,
    |app| {
        let book = Book::new(&app).await;
        let want = [
            book.peer.name.as_str(),
            book.withdrawn.name.as_str(),
            book.smb.name.as_str(),
        ];
        for who in [
            book.org.desk(),
            book.org.finance(),
            book.org.legal(),
            &app.admin_person(),
        ] {
            assert_eq!(names(&app, who, whole_desk()).await, want);
        }
    }
);

contract_test!(
    reps_managers_and_leaders_asking_for_the_whole_desk_are_denied,
    |app| {
        let book = Book::new(&app).await;
        for who in [book.org.rep(), &book.org.manager, &book.org.leader] {
            let status = list(&app, who, whole_desk()).await.unwrap_err();
            assert_error(&status, Code::PermissionDenied, "DESK_READERS_ONLY");
            assert_eq!(
                status.message(),
                "the whole desk's requests are listed by deal desk, finance, legal and admins; \
             list a deal's requests (deal) or your queue (my_queue)"
            );
        }
        // Their own listings are as before: the manager's queue holds the rep's pending request.
        let queue = pb::ListApprovalRequestsRequest {
            my_queue: true,
            ..whole_desk()
        };
        assert_eq!(
            names(&app, &book.org.manager, queue).await,
            [book.smb.name.as_str()]
        );
    }
);

contract_test!(the_desk_narrows_by_state_segment_approver_and_age, |app| {
    let book = Book::new(&app).await;
    let desk = book.org.desk();
    let cases = [
        (
            pb::ListApprovalRequestsRequest {
                state: State::Pending as i32,
                ..whole_desk()
            },
            vec![book.peer.name.as_str(), book.smb.name.as_str()],
        ),
        (
            pb::ListApprovalRequestsRequest {
                segment: pb::Segment::Smb as i32,
                ..whole_desk()
            },
            vec![book.smb.name.as_str()],
        ),
        (
            pb::ListApprovalRequestsRequest {
                segment: pb::Segment::MidMarket as i32,
                state: State::Pending as i32,
                ..whole_desk()
            },
            vec![book.peer.name.as_str()],
        ),
        (
            pb::ListApprovalRequestsRequest {
                approver: book.org.manager.name(),
                ..whole_desk()
            },
            vec![book.smb.name.as_str()],
        ),
        (
            pb::ListApprovalRequestsRequest {
                approver: book.org.peer_manager.name(),
                ..whole_desk()
            },
            vec![book.peer.name.as_str()],
        ),
        (
            pb::ListApprovalRequestsRequest {
                approver: book.org.leader.name(),
                ..whole_desk()
            },
            Vec::<&str>::new(),
        ),
        (
            pb::ListApprovalRequestsRequest {
                max_create_time: book.withdrawn.create_time,
                ..whole_desk()
            },
            vec![book.withdrawn.name.as_str(), book.smb.name.as_str()],
        ),
    ];
    for (request, want) in cases {
        assert_eq!(
            names(&app, desk, request.clone()).await,
            want,
            "{request:?}"
        );
    }
});

contract_test!(
    the_desk_pages_newest_first_with_tokens_bound_to_its_filters,
    |app| {
        let book = Book::new(&app).await;
        let desk = book.org.desk();
        let mut token = String::new();
        let mut seen = Vec::new();
        loop {
            let page = list(
                &app,
                desk,
                pb::ListApprovalRequestsRequest {
                    page_size: 1,
                    page_token: token.clone(),
                    ..whole_desk()
                },
            )
            .await
            .unwrap();
            assert!(page.approval_requests.len() <= 1);
            seen.extend(page.approval_requests.into_iter().map(|r| r.name));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(
            seen,
            [
                book.peer.name.as_str(),
                book.withdrawn.name.as_str(),
                book.smb.name.as_str()
            ]
        );

        let first = list(
            &app,
            desk,
            pb::ListApprovalRequestsRequest {
                page_size: 1,
                ..whole_desk()
            },
        )
        .await
        .unwrap();
        let status = list(
            &app,
            desk,
            pb::ListApprovalRequestsRequest {
                page_size: 1,
                page_token: first.next_page_token,
                segment: pb::Segment::Smb as i32,
                ..whole_desk()
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "BAD_PAGE_TOKEN");
        let listed = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(listed[0].field, "page_token");
    }
);

contract_test!(desk_filters_are_checked_and_echoed, |app| {
    let book = Book::new(&app).await;
    let desk = book.org.desk();
    let cases = [
        (
            pb::ListApprovalRequestsRequest {
                my_queue: true,
                segment: pb::Segment::Smb as i32,
                ..whole_desk()
            },
            "CONFLICTING_FIELDS",
            "segment",
            "filters the whole desk: leave `deal` and `my_queue` empty".to_string(),
        ),
        (
            pb::ListApprovalRequestsRequest {
                deal: book.smb.deal.clone(),
                approver: book.org.manager.name(),
                ..whole_desk()
            },
            "CONFLICTING_FIELDS",
            "approver",
            "filters the whole desk: leave `deal` and `my_queue` empty".to_string(),
        ),
        (
            pb::ListApprovalRequestsRequest {
                segment: 42,
                ..whole_desk()
            },
            "UNKNOWN_VALUE",
            "segment",
            "42 is not a known segment (one of: SEGMENT_SMB, SEGMENT_MID_MARKET, \
             SEGMENT_ENTERPRISE)"
                .to_string(),
        ),
        (
            pb::ListApprovalRequestsRequest {
                approver: "users/robin".into(),
                ..whole_desk()
            },
            "BAD_NAME",
            "approver",
            "\"users/robin\" is not a resource name like users/<uuid>".to_string(),
        ),
    ];
    for (request, reason, field, description) in cases {
        let status = list(&app, desk, request).await.unwrap_err();
        assert_error(&status, Code::InvalidArgument, reason);
        let listed = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(
            (listed[0].field.as_str(), listed[0].description.as_str()),
            (field, description.as_str())
        );
    }
});
