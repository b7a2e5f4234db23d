//! Hostile input that costs the server: requests near the 4 MiB message limit whose repeated
//! fields hold millions of elements, errors too large for a client to read, messages over the
//! limit, and invalid bodies sent by callers whose role may not make the call. Each answer is
//! exact: the code, the ErrorInfo reason, the violations listed, the metadata's size, and the
//! server's memory (the server runs in this process, so `/proc/self/statm` is its RSS).
//!
//! Run: `cargo test --test api hostile_input`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{WireType, encode_key, encode_varint};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::contract_test;
use crate::helpers::{TestApp, assert_error};

/// The server's message limit.
const LIMIT: usize = 4 * 1024 * 1024;
/// Violations an error lists: twenty, then one `and N more`.
const LISTED: usize = 21;
/// The metadata a client accepts (grpc-go and grpc-java: 8 KiB; grpc-core: 16 KiB).
const CLIENT_METADATA_LIMIT: usize = 8 * 1024;

/// A deal name that parses but names no deal.
const NO_DEAL: &str = "deals/0190a0a0-0000-7000-8000-000000000000";

async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Sends a message's bytes as they are (a `Bytes`, so a retry shares them rather than copying
/// them) and reads no answer but its status.
struct BytesCodec;

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = ();
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        buf.advance(buf.remaining());
        Ok(Some(()))
    }
}

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;
    fn encoder(&mut self) -> BytesCodec {
        BytesCodec
    }
    fn decoder(&mut self) -> BytesCodec {
        BytesCodec
    }
}

/// Calls `path` (`Service/Method` of `dealdesk.v1`) with `message` as it is, as `token`.
async fn call(
    channel: &Channel,
    path: &str,
    token: &str,
    message: impl Into<Bytes>,
) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = format!("/dealdesk.v1.{path}").try_into().unwrap();
    let mut request = Request::new(message.into());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    grpc.unary(request, path, BytesCodec).await.map(|_| ())
}

/// `count` empty elements of the repeated field `number`, after `prefix` (other fields).
fn with_empty_elements(prefix: Vec<u8>, number: u32, count: usize) -> Vec<u8> {
    let mut element = Vec::new();
    encode_key(number, WireType::LengthDelimited, &mut element);
    encode_varint(0, &mut element);
    let mut bytes = prefix;
    bytes.reserve(element.len() * count);
    for _ in 0..count {
        bytes.extend_from_slice(&element);
    }
    bytes
}

/// How many empty elements of field `number` fit in a message of nearly the limit.
fn near_limit(number: u32, prefix: usize) -> usize {
    let mut element = Vec::new();
    encode_key(number, WireType::LengthDelimited, &mut element);
    (LIMIT - prefix - 1024) / (element.len() + 1)
}

/// A PreviewApprovalRoute of ~2.1 million empty clauses.
fn preview_of_empty_clauses() -> (Vec<u8>, usize) {
    let prefix = pb::PreviewApprovalRouteRequest {
        deal: NO_DEAL.into(),
        ..Default::default()
    }
    .encode_to_vec();
    let count = near_limit(3, prefix.len());
    (with_empty_elements(prefix, 3, count), count)
}

/// A GetForecast of ~2.1 million empty snapshot names.
fn forecast_of_empty_snapshots() -> (Vec<u8>, usize) {
    let prefix = pb::GetForecastRequest {
        period: "2026-Q4".into(),
        scope: "org".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let count = near_limit(3, prefix.len());
    (with_empty_elements(prefix, 3, count), count)
}

/// An UpdateDeal of ~1.4 million empty contacts (the deal is field 1, its contacts field 17).
fn update_of_empty_contacts() -> (Vec<u8>, usize) {
    let deal_prefix = pb::Deal {
        name: NO_DEAL.into(),
        ..Default::default()
    }
    .encode_to_vec();
    let count = near_limit(17, deal_prefix.len() + 64);
    let deal = with_empty_elements(deal_prefix, 17, count);
    let mut bytes = Vec::with_capacity(deal.len() + 64);
    encode_key(1, WireType::LengthDelimited, &mut bytes);
    encode_varint(deal.len() as u64, &mut bytes);
    bytes.extend_from_slice(&deal);
    pb::UpdateDealRequest {
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["contacts".into()],
        }),
        ..Default::default()
    }
    .encode(&mut bytes)
    .unwrap();
    (bytes, count)
}

/// The one violation of an answer, as (field, description).
#[track_caller]
fn only_violation(status: &Status) -> (String, String) {
    assert_error(status, Code::InvalidArgument, "TOO_MANY");
    let listed = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(listed.len(), 1, "{listed:?}");
    (listed[0].field.clone(), listed[0].description.clone())
}

contract_test!(
    a_repeated_field_over_its_limit_is_one_violation_whatever_its_length,
    |app| {
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;

        let (preview, clauses) = preview_of_empty_clauses();
        assert!(
            clauses > 2_000_000 && preview.len() < LIMIT,
            "{clauses} in {}",
            preview.len()
        );
        let status = call(
            &channel,
            "DealDeskService/PreviewApprovalRoute",
            &rep,
            preview,
        )
        .await
        .unwrap_err();
        assert_eq!(
            only_violation(&status),
            (
                "clauses".into(),
                format!("must have at most 50 clause codes, got {clauses}")
            )
        );

        let (forecast, names) = forecast_of_empty_snapshots();
        let status = call(&channel, "ForecastService/GetForecast", &rep, forecast)
            .await
            .unwrap_err();
        assert_eq!(
            only_violation(&status),
            (
                "snapshots".into(),
                format!("must have at most 100 snapshots, got {names}")
            )
        );

        let (update, contacts) = update_of_empty_contacts();
        assert!(contacts > 1_000_000 && update.len() < LIMIT);
        let status = call(&channel, "DealService/UpdateDeal", &rep, update)
            .await
            .unwrap_err();
        assert_eq!(
            only_violation(&status),
            (
                "deal.contacts".into(),
                format!("must have at most 100 contacts, got {contacts}")
            )
        );
    }
);

/// Resident bytes of this process (the test and its in-process server).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

contract_test!(
    requests_of_millions_of_elements_do_not_grow_the_servers_memory,
    |app| {
        const ALLOWED_GROWTH: usize = 20 * 1024 * 1024;
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;
        let requests = near_limit_requests();
        let send_all = || send_each(&channel, &rep, &requests);
        // Warm up (buffers, pools, the allocator's arenas), then take the smallest growth of a
        // few rounds: other tests share the process, and only a leak grows every round.
        send_all().await;
        let mut growths = Vec::new();
        for _ in 0..3 {
            let before = resident_bytes();
            for _ in 0..3 {
                send_all().await;
            }
            growths.push(resident_bytes().saturating_sub(before));
        }
        let least = growths.iter().min().copied().unwrap();
        eprintln!("RSS growth of nine near-4 MiB requests, per round: {growths:?} bytes");
        assert!(
            least < ALLOWED_GROWTH,
            "nine near-4 MiB requests grew RSS by {growths:?} bytes"
        );
    }
);

/// The three near-4 MiB requests of millions of empty elements, as (RPC, bytes).
fn near_limit_requests() -> [(&'static str, Bytes); 3] {
    [
        (
            "DealDeskService/PreviewApprovalRoute",
            preview_of_empty_clauses().0.into(),
        ),
        (
            "ForecastService/GetForecast",
            forecast_of_empty_snapshots().0.into(),
        ),
        (
            "DealService/UpdateDeal",
            update_of_empty_contacts().0.into(),
        ),
    ]
}

/// Sends each request once, one after the other; each is INVALID_ARGUMENT.
async fn send_each(channel: &Channel, token: &str, requests: &[(&str, Bytes)]) {
    for (path, bytes) in requests {
        let status = call(channel, path, token, bytes.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
    }
}

/// The highest resident size of this process while `work` runs, read every millisecond.
async fn peak_resident_bytes(work: impl Future<Output = ()>) -> usize {
    let peak = Arc::new(AtomicUsize::new(resident_bytes()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(resident_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    work.await;
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    peak.fetch_max(resident_bytes(), Ordering::Relaxed)
}

contract_test!(
    a_request_of_millions_of_elements_is_refused_before_they_take_memory,
    |app| {
        const ALLOWED_PEAK: usize = 20 * 1024 * 1024;
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;
        // What is measured: the peak resident size of this process while the three requests
        // are sent one after the other, over its size just before. The requests' bytes are
        // built before (sending shares them), so the growth is the call's own: the client's
        // send buffer (one copy of the message), the server's receive buffer (another), and
        // whatever the server allocates to read the message, which is what must stay small:
        // a few megabytes, not one allocation per element. After the warm-up the allocator
        // reuses the buffers, so most rounds grow by almost nothing.
        let requests = near_limit_requests();
        // Warm up (buffers, pools, the allocator's arenas), then take the smallest peak of a
        // few rounds: other tests share the process and may allocate at the same time.
        send_each(&channel, &rep, &requests).await;
        let mut peaks = Vec::new();
        for _ in 0..3 {
            let before = resident_bytes();
            let peak = peak_resident_bytes(send_each(&channel, &rep, &requests)).await;
            peaks.push(peak.saturating_sub(before));
        }
        let least = peaks.iter().min().copied().unwrap();
        eprintln!("peak RSS growth of three near-4 MiB requests, per round: {peaks:?} bytes");
        assert!(
            least < ALLOWED_PEAK,
            "three near-4 MiB requests raised RSS by {peaks:?} bytes at their peak"
        );
    }
);

contract_test!(
    an_invalid_policy_lists_twenty_violations_then_how_many_more,
    |app| {
        let channel = channel(&app).await;
        let mut policy = crate::hostile::policy();
        policy.playbook = (0..200).map(|i| format!("bad code {i}")).collect();
        let request = pb::CreateApprovalPolicyRequest {
            policy: Some(policy),
        };
        let status = call(
            &channel,
            "DealDeskService/CreateApprovalPolicy",
            &app.admin_token,
            request.encode_to_vec(),
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
        let listed = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(listed.len(), LISTED);
        assert_eq!(listed[0].field, "policy.playbook[0]");
        assert_eq!(listed[19].field, "policy.playbook[19]");
        assert_eq!(
            (listed[20].field.as_str(), listed[20].description.as_str()),
            ("", "and 180 more")
        );
    }
);

/// An upper bound of the bytes an error takes in the headers a client reads: `grpc-message`
/// is percent-encoded (a byte takes at most three) and `grpc-status-details-bin` is base64 of
/// the details (four bytes per three, rounded up).
fn metadata_bound(status: &Status) -> usize {
    3 * status.message().len() + 4 * status.details().len().div_ceil(3)
}

contract_test!(
    an_error_of_the_longest_violations_fits_in_8_kib_of_metadata,
    |app| {
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;
        // As many paths as the mask may hold, each echoed in its violation and of 140,000
        // two-byte characters: a message and details of megabytes if nothing capped them.
        let request = pb::UpdateDealRequest {
            deal: Some(pb::Deal {
                name: NO_DEAL.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: (0..14)
                    .map(|i| format!("{i}{}", "é".repeat(140_000)))
                    .collect(),
            }),
        };
        assert!(request.encoded_len() < LIMIT);
        let status = call(
            &channel,
            "DealService/UpdateDeal",
            &rep,
            request.encode_to_vec(),
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "BAD_UPDATE_MASK");
        let listed = status.get_details_bad_request().unwrap().field_violations;
        assert!(!listed.is_empty() && listed.len() <= LISTED);
        assert!(listed.last().unwrap().description.starts_with("and "));
        assert!(status.message().len() <= 512, "{}", status.message().len());
        let bound = metadata_bound(&status);
        assert!(bound < CLIENT_METADATA_LIMIT, "{bound} bytes");
    }
);

contract_test!(
    a_message_over_the_limit_is_resource_exhausted_message_too_large,
    |app| {
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;
        let request = pb::GetUserRequest {
            name: "u".repeat(LIMIT + 1),
        };
        let status = call(
            &channel,
            "DirectoryService/GetUser",
            &rep,
            request.encode_to_vec(),
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
        assert!(
            status.message().contains("4194304 bytes"),
            "{}",
            status.message()
        );
    }
);

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
