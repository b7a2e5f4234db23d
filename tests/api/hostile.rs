//! Hostile input: a seeded generator of malformed and adversarial requests across every RPC of
//! every service, sent as raw bytes (so fields can carry the wrong wire type or invalid UTF-8)
//! to a real server. Every request is refused: the test asserts the canonical code (and the
//! field it broke, where it knows), that no answer is INTERNAL or UNKNOWN, that nothing
//! panicked, and that the database is byte-for-byte unchanged. The pure parsers are fuzzed in
//! `hostile_fuzz`.
//!
//! Run: `cargo test --test api hostile` (set `HOSTILE_REQUESTS` for more than the default).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use dealdesk::domain::directory::Role;
use dealdesk::domain::random::Rng;
use dealdesk::proto::google::r#type::Date;
use dealdesk::proto::{self as pb, exit_criterion as ec};
use prost::Message;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_types::field_descriptor_proto::Type;
use prost_types::{FieldMask, FileDescriptorSet, Timestamp};
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, Statement};
use sha2::{Digest, Sha256};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::contract_test;
use crate::fixtures::{queue, relation, step, template_pipeline, usd};
use crate::helpers::{Person, TestApp, authed, person};

/// Requests sent per backend unless `HOSTILE_REQUESTS` says otherwise.
const DEFAULT_REQUESTS: usize = 10_000;
/// Calls in flight at once, spread over [`CHANNELS`] connections.
const IN_FLIGHT: usize = 32;
const CHANNELS: usize = 4;
/// A bound on one call, so that a hung server fails the test instead of hanging it.
const CALL_BOUND: Duration = Duration::from_secs(60);
/// Larger than the server's 4 MiB message limit.
const OVERSIZE: usize = 4 * 1024 * 1024 + 1024;

// ---------------------------------------------------------------------------------------------
// Raw calls: bytes in, bytes out, so that the generator can send what no typed client would.

/// A codec that sends and receives message bytes as they are.
#[derive(Default, Clone)]
pub(crate) struct RawCodec;

pub(crate) struct RawEncoder;
pub(crate) struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// How an RPC streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Unary,
    ServerStream,
    ClientStream,
}

/// What the `authorization` metadata carries.
#[derive(Debug, Clone)]
enum Auth {
    None,
    Bearer(String),
    /// The whole header value, as bytes (possibly not ASCII).
    Raw(Vec<u8>),
}

/// The answer a case must get.
#[derive(Debug, Clone)]
enum Expect {
    /// INVALID_ARGUMENT with a BadRequest violation of this field path.
    Field(String),
    /// This code, with this ErrorInfo reason.
    Reason(Code, &'static str),
    /// This code, whatever the reason.
    Code(Code),
    /// Over the 4 MiB message limit: RESOURCE_EXHAUSTED, reason `MESSAGE_TOO_LARGE`.
    Oversize,
}

fn field(path: &str) -> Expect {
    Expect::Field(path.to_string())
}

/// One hostile request.
#[derive(Debug, Clone)]
struct Case {
    /// `/dealdesk.v1.Service/Method`.
    path: String,
    shape: Shape,
    auth: Auth,
    /// The message(s): one, except for a client stream.
    messages: Vec<Vec<u8>>,
    expect: Expect,
    /// What the generator did, for failure messages.
    label: String,
}

async fn send(channel: Channel, case: &Case) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("not ready: {e}")))?;
    let path = http::uri::PathAndQuery::try_from(case.path.as_str())
        .map_err(|e| Status::unavailable(format!("bad path: {e}")))?;
    let authorize = |metadata: &mut tonic::metadata::MetadataMap| match &case.auth {
        Auth::None => {}
        Auth::Bearer(token) => {
            let value = format!("Bearer {token}").parse().unwrap();
            metadata.insert("authorization", value);
        }
        Auth::Raw(bytes) => {
            let value = MetadataValue::try_from(bytes.as_slice()).unwrap();
            metadata.insert("authorization", value);
        }
    };
    match case.shape {
        Shape::Unary => {
            let mut request = Request::new(case.messages[0].clone());
            authorize(request.metadata_mut());
            grpc.unary(request, path, RawCodec).await.map(|_| ())
        }
        // An opened stream is an accepted call; the test drops it at once.
        Shape::ServerStream => {
            let mut request = Request::new(case.messages[0].clone());
            authorize(request.metadata_mut());
            grpc.server_streaming(request, path, RawCodec)
                .await
                .map(|_| ())
        }
        Shape::ClientStream => {
            let mut request = Request::new(tokio_stream::iter(case.messages.clone()));
            authorize(request.metadata_mut());
            grpc.client_streaming(request, path, RawCodec)
                .await
                .map(|_| ())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The API's shape, read from the descriptor set the server serves by reflection.

#[derive(Debug, Clone)]
struct FieldInfo {
    number: u32,
    /// The name prost reports when the field fails to decode (the oneof's for oneof members).
    reported: String,
    ty: Type,
    /// For message fields, the message's full name.
    message: Option<String>,
}

#[derive(Debug, Clone)]
struct MethodInfo {
    path: String,
    shape: Shape,
    input: String,
}

struct Api {
    methods: Vec<MethodInfo>,
    messages: BTreeMap<String, Vec<FieldInfo>>,
}

impl Api {
    /// The number of the field `name` of `method`'s (`Service/Method`) request.
    fn field_number(&self, method: &str, name: &str) -> u32 {
        let path = format!("/dealdesk.v1.{method}");
        let input = &self.methods.iter().find(|m| m.path == path).unwrap().input;
        self.messages[input]
            .iter()
            .find(|f| f.reported == name)
            .unwrap_or_else(|| panic!("{method}'s request has no field {name}"))
            .number
    }
}

fn api() -> Api {
    let set = FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let mut messages = BTreeMap::new();
    fn walk(
        prefix: &str,
        types: &[prost_types::DescriptorProto],
        out: &mut BTreeMap<String, Vec<FieldInfo>>,
    ) {
        for message in types {
            let full = format!("{prefix}.{}", message.name());
            let fields = message
                .field
                .iter()
                .map(|f| {
                    let in_real_oneof = f.oneof_index.is_some() && !f.proto3_optional();
                    FieldInfo {
                        number: f.number() as u32,
                        reported: if in_real_oneof {
                            message.oneof_decl[f.oneof_index() as usize]
                                .name()
                                .to_string()
                        } else {
                            f.name().to_string()
                        },
                        ty: f.r#type(),
                        message: (f.r#type() == Type::Message).then(|| f.type_name().to_string()),
                    }
                })
                .collect();
            out.insert(full.clone(), fields);
            walk(&full, &message.nested_type, out);
        }
    }
    let mut methods = Vec::new();
    for file in &set.file {
        let package = format!(".{}", file.package());
        walk(&package, &file.message_type, &mut messages);
        if file.package() != "dealdesk.v1" {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                methods.push(MethodInfo {
                    path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                    shape: match (method.client_streaming(), method.server_streaming()) {
                        (true, _) => Shape::ClientStream,
                        (_, true) => Shape::ServerStream,
                        _ => Shape::Unary,
                    },
                    input: method.input_type().to_string(),
                });
            }
        }
    }
    Api { methods, messages }
}

// ---------------------------------------------------------------------------------------------
// Hand-encoded protobuf.

fn key(number: u32, wire: WireType, out: &mut Vec<u8>) {
    encode_key(number, wire, out);
}

fn len_field(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
    key(number, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A field encoded with a wire type its declared type does not allow.
fn wrong_wire_type(field: &FieldInfo, out: &mut Vec<u8>) {
    match field.ty {
        Type::Float | Type::Fixed32 | Type::Sfixed32 => {
            key(field.number, WireType::Varint, out);
            encode_varint(7, out);
        }
        Type::String | Type::Bytes | Type::Message => {
            key(field.number, WireType::Varint, out);
            encode_varint(1, out);
        }
        // Varints and 64-bit fixed types; 32-bit fixed is wrong for both, packed or not.
        _ => {
            key(field.number, WireType::ThirtyTwoBit, out);
            out.extend_from_slice(&[1, 2, 3, 4]);
        }
    }
}

/// Byte strings that are not UTF-8: a lone surrogate as UTF-8 would spell it, an overlong '/',
/// a stray continuation byte, a truncated sequence.
const NOT_UTF8: &[&[u8]] = &[
    b"\xed\xa0\x80",
    b"users/\xc0\xaf",
    b"\x80abc",
    b"deal \xe2\x82",
    b"\xff\xfe\xfd",
];

// ---------------------------------------------------------------------------------------------
// The fixture: who calls, and the resources the hostile requests aim at.

struct Fixture {
    admin: String,
    manager: Person,
    rep: Person,
    /// A manager and rep in another subtree: their resources are foreign to `rep`.
    other_manager: Person,
    other_rep: Person,
    desk: Person,
    revoked: String,
    inactive: String,
    pipeline: String,
    /// The template the pipeline was made from, for valid creates.
    template: pb::Pipeline,
    /// `rep`'s deal with a pending approval request.
    deal: pb::Deal,
    /// `rep`'s deal without one.
    free_deal: pb::Deal,
    /// `other_rep`'s deal.
    foreign_deal: pb::Deal,
    approval: pb::ApprovalRequest,
    step: String,
    /// A win-rate snapshot of the pipeline.
    snapshot: String,
    /// A live token of `other_rep` (`users/{id}/apiTokens/{id}`).
    live_token: String,
    /// The request id and body of a deal `rep` created.
    reused_request: pb::CreateDealRequest,
}

pub(crate) fn policy() -> pb::ApprovalPolicy {
    use pb::approver::Relation;
    pb::ApprovalPolicy {
        segment: pb::Segment::MidMarket as i32,
        tiers: vec![
            pb::DiscountTier {
                ceiling_bps: 1500,
                steps: vec![],
            },
            pb::DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![step(
                    "Manager",
                    vec![relation(Relation::OwnersManager)],
                    pb::approval_step::Mode::All,
                )],
            },
        ],
        playbook: vec!["MUTUAL_NDA".into()],
        legal_step: Some(step(
            "Legal",
            vec![queue(pb::Role::Legal)],
            pb::approval_step::Mode::All,
        )),
        payment_days_limit: 45,
        finance_step: Some(step(
            "Finance",
            vec![queue(pb::Role::Finance)],
            pb::approval_step::Mode::All,
        )),
        ..Default::default()
    }
}

fn a_deal(pipeline: &str, name: &str) -> pb::Deal {
    pb::Deal {
        display_name: name.into(),
        account: "Hostile Corp".into(),
        pipeline: pipeline.into(),
        amount: usd(100_000),
        ..Default::default()
    }
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token.clone();
    let leader = person(app, Role::Leader, None).await;
    let manager = person(app, Role::Manager, Some(&leader)).await;
    let rep = person(app, Role::Rep, Some(&manager)).await;
    let other_manager = person(app, Role::Manager, None).await;
    let other_rep = person(app, Role::Rep, Some(&other_manager)).await;
    let desk = person(app, Role::DealDesk, None).await;
    let _legal = person(app, Role::Legal, None).await;
    let _finance = person(app, Role::Finance, None).await;

    let mut directory = app.directory().await;
    let token = |parent: &str| pb::CreateApiTokenRequest {
        parent: parent.into(),
        api_token: Some(pb::ApiToken {
            display_name: "hostile".into(),
            ..Default::default()
        }),
    };
    let revoked = directory
        .create_api_token(authed(&admin, token(&rep.name())))
        .await
        .unwrap()
        .into_inner();
    directory
        .revoke_api_token(authed(
            &admin,
            pb::RevokeApiTokenRequest {
                name: revoked.api_token.unwrap().name,
            },
        ))
        .await
        .unwrap();
    let live = directory
        .create_api_token(authed(&admin, token(&other_rep.name())))
        .await
        .unwrap()
        .into_inner();
    let leaving = person(app, Role::Rep, Some(&manager)).await;
    directory
        .update_user(authed(
            &admin,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    name: leaving.name(),
                    active: Some(false),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["active".into()],
                }),
            },
        ))
        .await
        .unwrap();

    let pipeline = template_pipeline(app, pb::Segment::MidMarket).await;
    let mut template = pipeline.clone();
    template.name.clear();
    template.etag.clear();
    template.create_time = None;
    template.update_time = None;
    template.display_name = "Hostile copy".into();

    let mut deals = app.deals().await;
    let reused_request = pb::CreateDealRequest {
        deal: Some(a_deal(&pipeline.name, "Approval deal")),
        request_id: "hostile-request-1".into(),
    };
    let deal = deals
        .create_deal(authed(&rep.token, reused_request.clone()))
        .await
        .unwrap()
        .into_inner();
    let free_deal = deals
        .create_deal(authed(
            &rep.token,
            pb::CreateDealRequest {
                deal: Some(a_deal(&pipeline.name, "Free deal")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let foreign_deal = deals
        .create_deal(authed(
            &other_rep.token,
            pb::CreateDealRequest {
                deal: Some(a_deal(&pipeline.name, "Foreign deal")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();

    let mut desk_client = pb::deal_desk_service_client::DealDeskServiceClient::connect(format!(
        "http://{}",
        app.addr
    ))
    .await
    .unwrap();
    desk_client
        .create_approval_policy(authed(
            &admin,
            pb::CreateApprovalPolicyRequest {
                policy: Some(policy()),
            },
        ))
        .await
        .unwrap();
    let approval = desk_client
        .submit_approval_request(authed(
            &rep.token,
            pb::SubmitApprovalRequestRequest {
                deal: deal.name.clone(),
                discount_bps: 2000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let step = approval.steps[0].name.clone();

    let snapshot = app
        .forecasts()
        .await
        .compute_win_rates(authed(
            &admin,
            pb::ComputeWinRatesRequest {
                pipeline: pipeline.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .name;

    Fixture {
        admin,
        manager,
        rep,
        other_manager,
        other_rep,
        desk,
        revoked: revoked.secret,
        inactive: leaving.token,
        pipeline: pipeline.name,
        template,
        deal,
        free_deal,
        foreign_deal,
        approval,
        step,
        snapshot,
        live_token: live.api_token.unwrap().name,
        reused_request,
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile values.

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len())]
}

/// A random well-formed resource id nobody has.
fn unknown_id(rng: &mut Rng) -> String {
    uuid::Uuid::from_u64_pair(rng.next_u64(), rng.next_u64() | 1).to_string()
}

/// A malformed resource name for the `collection` (never empty: some fields treat empty as
/// unset).
fn bad_name(rng: &mut Rng, collection: &str) -> String {
    let id = unknown_id(rng);
    match rng.below(16) {
        0 => format!("{collection}/"),
        1 => format!("{collection}/not-a-uuid"),
        2 => format!("{collection}/{id}/extra"),
        3 => format!("{collection}/00000000-0000-0000-0000-000000000000"),
        4 => format!("{collection}/{id}\u{202e}"),
        5 => format!("{collection}/{id}\0"),
        6 => "../../etc/passwd".into(),
        7 => format!("{collection}/{}", "9".repeat(10_000 + rng.below(20_000))),
        8 => format!("{collection}/{{{id}}}"),
        9 => format!("{collection}/urn:uuid:{id}"),
        10 => format!("{collection}/{}", id.replace('-', "")),
        11 => format!(" {collection}/{id}"),
        12 => format!("{collection}/{id}\u{301}\u{301}"),
        13 => format!("wrongCollection/{id}"),
        14 => format!("{}/{id}", collection.to_uppercase()),
        _ => format!("{collection}/{id}/{collection}/{id}"),
    }
}

/// A page token this server never issued.
fn bad_page_token(rng: &mut Rng) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    match rng.below(8) {
        0 => "!!!".into(),
        1 => "x".repeat(513 + rng.below(5_000)),
        2 => b64("p1:0000000000000000:someone-else"),
        3 => b64("p2:00:x"),
        4 => b64("p1:zzzz:x"),
        5 => b64("\u{ff}\u{0}"),
        6 => "cDE6".into(),
        _ => format!("{}\u{202e}", b64("p1:0:x")),
    }
}

/// A negative page size.
fn bad_page_size(rng: &mut Rng) -> i32 {
    *pick(rng, &[-1, -50, i32::MIN, -501])
}

/// An enum number outside every enum's range.
fn bad_enum(rng: &mut Rng) -> i32 {
    *pick(rng, &[99, -1, i32::MAX, i32::MIN, 1 << 20])
}

/// Text longer than any limit of the API (limits are at most 2000 characters).
fn huge(rng: &mut Rng) -> String {
    let unit = pick(rng, &["a", "é", "\u{202e}", "e\u{301}", "🦀", "\u{fffd}"]);
    unit.repeat(2_001 + rng.below(20_000))
}

/// Text that a human-readable field refuses: control characters.
fn control_text(rng: &mut Rng) -> String {
    pick(
        rng,
        &[
            "nul\0inside",
            "bell\u{7}",
            "\u{1b}[31mred",
            "line\rfeed",
            "\u{85}next line",
            "del\u{7f}",
        ],
    )
    .to_string()
}

/// A period that is neither `YYYY-MM` nor `YYYY-Qn`.
fn bad_period(rng: &mut Rng) -> String {
    pick(
        rng,
        &[
            "2026",
            "2026-13",
            "2026-00",
            "2026-Q0",
            "2026-Q5",
            "1899-12",
            "9999-01",
            "２０２６-11",
            "2026-1",
            "2026-011",
            "-2026-01",
            "2026-Q4\0",
            "2026\u{2010}11",
            "26-11",
            "2026-11 ",
            " 2026-11",
            "2026-Q4\u{202e}",
            "+2026-11",
            "2026-Q+4",
        ],
    )
    .to_string()
}

fn bad_currency(rng: &mut Rng) -> String {
    pick(
        rng,
        &["usd", "US", "USDD", "U$D", "\0SD", "ÜSD", "XYZ", "€"],
    )
    .to_string()
}

/// An amount no money field accepts: not positive, or above 10^12 minor units.
fn bad_amount(rng: &mut Rng) -> i64 {
    *pick(
        rng,
        &[
            i64::MAX,
            i64::MIN,
            0,
            -1,
            1_000_000_000_001,
            i64::MAX / 2,
            -(1 << 62),
        ],
    )
}

fn bad_date(rng: &mut Rng) -> Date {
    let (year, month, day) = *pick(
        rng,
        &[
            (2026, 13, 1),
            (2026, 2, 30),
            (0, 1, 1),
            (-1, 1, 1),
            (10_000, 1, 1),
            (2026, 0, 0),
            (2026, -1, 1),
            (i32::MAX, i32::MAX, i32::MAX),
            (i32::MIN, 1, 1),
            (2026, 6, 0),
        ],
    );
    Date { year, month, day }
}

fn bad_timestamp(rng: &mut Rng) -> Timestamp {
    let (seconds, nanos) = *pick(
        rng,
        &[
            (i64::MAX, 0),
            (i64::MIN, 0),
            (0, -1),
            (0, 1_000_000_000),
            (1, i32::MIN),
        ],
    );
    Timestamp { seconds, nanos }
}

/// An etag this server never issued.
fn malformed_etag(rng: &mut Rng) -> String {
    pick(
        rng,
        &["abc", "\"\"", "\"x\"", "'1'", "\"1", "W/\"1\"", "\"1\"\0"],
    )
    .to_string()
}

fn bad_request_id(rng: &mut Rng) -> String {
    pick(
        rng,
        &[
            "has space",
            "tab\there",
            "é",
            "\0",
            "\u{202e}rid",
            &"r".repeat(129),
        ],
    )
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// The generator: for each RPC, a valid request and the single faults that make it refused.

/// A generator of one kind of hostile request.
type Family = Box<dyn Fn(&mut Rng) -> Case + Send + Sync>;

struct Families {
    methods: BTreeMap<String, Shape>,
    /// A revoked token, and the token of a deactivated user.
    revoked: String,
    inactive: String,
    list: Vec<Family>,
    covered: BTreeSet<String>,
}

impl Families {
    fn shape(&self, path: &str) -> Shape {
        *self
            .methods
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not an RPC of the API"))
    }

    /// Adds a family of typed requests to `method` (`Service/Method`).
    fn add<M: Message + std::fmt::Debug + 'static>(
        &mut self,
        method: &str,
        label: &'static str,
        make: impl Fn(&mut Rng) -> (Auth, M, Expect) + Send + Sync + 'static,
    ) {
        self.add_encoded(method, label.to_string(), move |rng| {
            let (auth, message, expect) = make(rng);
            (auth, Encoded::from(&message), expect)
        });
    }

    /// Adds a family of requests already encoded to `method` (`Service/Method`).
    fn add_encoded(
        &mut self,
        method: &str,
        label: String,
        make: impl Fn(&mut Rng) -> (Auth, Encoded, Expect) + Send + Sync + 'static,
    ) {
        let path = format!("/dealdesk.v1.{method}");
        let shape = self.shape(&path);
        self.covered.insert(path.clone());
        self.list.push(Box::new(move |rng| {
            let (auth, message, expect) = make(rng);
            Case {
                path: path.clone(),
                shape,
                auth,
                messages: vec![message.bytes],
                expect,
                label: format!("{label} | {}", message.shown),
            }
        }));
    }

    /// Adds the fault every RPC shares to a valid request: bad credentials.
    fn credentials<M: Message + std::fmt::Debug + Clone + Send + Sync + 'static>(
        &mut self,
        method: &str,
        valid: M,
    ) {
        let (revoked, inactive) = (self.revoked.clone(), self.inactive.clone());
        self.add(method, "bad credentials", move |rng| {
            let unauthenticated = |reason| Expect::Reason(Code::Unauthenticated, reason);
            let (auth, expect) = match rng.below(5) {
                0 => (Auth::None, unauthenticated("MISSING_CREDENTIALS")),
                1 => {
                    let token = match rng.below(4) {
                        0 => unknown_id(rng),
                        1 => "x".repeat(1 + rng.below(8_000)),
                        2 => format!("ddk_{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
                        _ => "null".into(),
                    };
                    (Auth::Bearer(token), unauthenticated("UNKNOWN_TOKEN"))
                }
                2 => (
                    Auth::Bearer(revoked.clone()),
                    unauthenticated("REVOKED_TOKEN"),
                ),
                3 => (
                    Auth::Bearer(inactive.clone()),
                    unauthenticated("INACTIVE_USER"),
                ),
                _ => {
                    let values: [&[u8]; 6] = [
                        b"Bearer",
                        b"Bearer    ",
                        b"Basic YWRtaW46YWRtaW4=",
                        b"Bearer \xff\xfe",
                        b"Token abc",
                        b"bearer\tabc",
                    ];
                    let raw = *pick(rng, &values);
                    (
                        Auth::Raw(raw.to_vec()),
                        unauthenticated("MALFORMED_CREDENTIALS"),
                    )
                }
            };
            (auth, valid.clone(), expect)
        });
    }
}

/// The start of a message's debug form: formatting stops once it is long enough to recognise.
fn shown(message: &impl std::fmt::Debug) -> String {
    struct Bounded(String);
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.push_str(s);
            if self.0.len() > 300 {
                return Err(std::fmt::Error);
            }
            Ok(())
        }
    }
    let mut out = Bounded(String::new());
    let _ = std::fmt::write(&mut out, format_args!("{message:?}"));
    out.0.chars().take(300).collect()
}

/// Every family of hostile requests, over every RPC of `api`.
fn families(api: &Api, fx: &Arc<Fixture>) -> Families {
    let mut f = Families {
        methods: api
            .methods
            .iter()
            .map(|m| (m.path.clone(), m.shape))
            .collect(),
        revoked: fx.revoked.clone(),
        inactive: fx.inactive.clone(),
        list: Vec::new(),
        covered: BTreeSet::new(),
    };
    wire_faults(api, fx, &mut f);
    shared_faults(api, fx, &mut f);
    directory(fx, &mut f);
    pipelines(fx, &mut f);
    deals(fx, &mut f);
    dealdesk(fx, &mut f);
    forecasts(fx, &mut f);
    import(fx, &mut f);
    f
}

/// A request message encoded, with the start of its debug form for failure messages.
struct Encoded {
    bytes: Vec<u8>,
    shown: String,
}

impl<M: Message + std::fmt::Debug> From<&M> for Encoded {
    fn from(message: &M) -> Self {
        Encoded {
            bytes: message.encode_to_vec(),
            shown: shown(message),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Faults that RPCs of one kind share, one table per kind: the RPCs with who calls them and a
// valid request, the fault's field and hostile values, and one loop (`shared_faults`) that
// sends each RPC's valid request with the fault in it.

/// Who sends an RPC's valid request, and the request.
type Valid = fn(&Fixture, &mut Rng) -> (Auth, Encoded);

/// One fault: the field it breaks (named by the refusal) and a hostile value for it, appended
/// to a valid request's bytes. Protobuf keeps the last value of a scalar field, so the server
/// decodes the valid request with only this field changed.
struct Fault {
    field: &'static str,
    append: fn(&mut Rng, u32, &mut Vec<u8>),
}

/// Paging: a negative page size, or a page token this server never issued.
const PAGE_FAULTS: &[Fault] = &[
    Fault {
        field: "page_size",
        append: |rng, number, out| {
            key(number, WireType::Varint, out);
            // An int32 is sign-extended to ten bytes, as prost writes it.
            encode_varint(bad_page_size(rng) as u64, out);
        },
    },
    Fault {
        field: "page_token",
        append: |rng, number, out| len_field(number, bad_page_token(rng).as_bytes(), out),
    },
];

/// Every List RPC with paging.
const PAGED: &[(&str, Valid)] = &[
    ("DirectoryService/ListUsers", |x, _| {
        (as_(&x.rep), (&pb::ListUsersRequest::default()).into())
    }),
    ("DirectoryService/ListApiTokens", |x, _| {
        (admin(x), (&valid::list_api_tokens(x)).into())
    }),
    ("PipelineService/ListPipelines", |x, _| {
        (as_(&x.rep), (&pb::ListPipelinesRequest::default()).into())
    }),
    ("DealService/ListDeals", |x, _| {
        (as_(&x.rep), (&pb::ListDealsRequest::default()).into())
    }),
    ("DealService/ListDealStageHistory", |x, _| {
        (as_(&x.rep), (&valid::list_deal_stage_history(x)).into())
    }),
    ("DealService/ListDealFieldHistory", |x, _| {
        (as_(&x.rep), (&valid::list_deal_field_history(x)).into())
    }),
    ("DealDeskService/ListApprovalRequests", |x, _| {
        (as_(&x.rep), (&valid::list_approval_requests(x)).into())
    }),
    ("DealDeskService/ListDelegations", |x, _| {
        (
            as_(&x.manager),
            (&pb::ListDelegationsRequest::default()).into(),
        )
    }),
    ("ForecastService/ListWinRateSnapshots", |x, _| {
        (as_(&x.rep), (&valid::list_win_rate_snapshots(x)).into())
    }),
    ("ForecastService/ListExchangeRates", |x, _| {
        (
            as_(&x.rep),
            (&pb::ListExchangeRatesRequest::default()).into(),
        )
    }),
    ("ForecastService/ListForecastSnapshots", |x, _| {
        (as_(&x.rep), (&valid::list_forecast_snapshots(x)).into())
    }),
];

/// Idempotency: a request id that is not a short printable key.
const REQUEST_ID_FAULTS: &[Fault] = &[Fault {
    field: "request_id",
    append: |rng, number, out| len_field(number, bad_request_id(rng).as_bytes(), out),
}];

/// Every create and transition that takes a request id.
const IDEMPOTENT: &[(&str, Valid)] = &[
    ("DirectoryService/CreateUser", |x, rng| {
        (admin(x), (&valid::create_user(x, rng)).into())
    }),
    ("PipelineService/CreatePipeline", |x, _| {
        (admin(x), (&valid::create_pipeline(x)).into())
    }),
    ("DealService/CreateDeal", |x, _| {
        (as_(&x.rep), (&valid::create_deal(x)).into())
    }),
    ("DealService/AdvanceDealStage", |x, _| {
        (as_(&x.rep), (&valid::advance_deal_stage(x)).into())
    }),
    ("DealService/CloseDeal", |x, _| {
        (as_(&x.rep), (&valid::close_deal(x)).into())
    }),
    ("DealDeskService/SubmitApprovalRequest", |x, _| {
        (as_(&x.rep), (&valid::submit_approval_request(x)).into())
    }),
    ("DealDeskService/ApproveApprovalStep", |x, _| {
        (as_(&x.manager), (&valid::approve_approval_step(x)).into())
    }),
    ("DealDeskService/WithdrawApprovalRequest", |x, _| {
        (as_(&x.rep), (&valid::withdraw_approval_request(x)).into())
    }),
    ("DealDeskService/CreateDelegation", |x, _| {
        (as_(&x.manager), (&valid::create_delegation(x)).into())
    }),
    ("ForecastService/ComputeWinRates", |x, _| {
        (admin(x), (&valid::compute_win_rates(x)).into())
    }),
    ("ForecastService/SnapshotForecast", |x, _| {
        (as_(&x.rep), (&valid::snapshot_forecast(x)).into())
    }),
];

/// A fault table: the faults of one kind and the RPCs they are sent to.
type FaultTable = (&'static [Fault], &'static [(&'static str, Valid)]);

/// The families of the fault tables: for each RPC of a table, its valid request with one of
/// the table's faults, refused as INVALID_ARGUMENT naming the fault's field.
fn shared_faults(api: &Api, fx: &Arc<Fixture>, f: &mut Families) {
    let tables: [FaultTable; 2] = [(PAGE_FAULTS, PAGED), (REQUEST_ID_FAULTS, IDEMPOTENT)];
    for (faults, rpcs) in tables {
        for &(method, valid) in rpcs {
            let numbers: Vec<u32> = faults
                .iter()
                .map(|fault| api.field_number(method, fault.field))
                .collect();
            let names: Vec<&str> = faults.iter().map(|fault| fault.field).collect();
            let x = fx.clone();
            f.add_encoded(method, format!("bad {}", names.join(" or ")), move |rng| {
                let (auth, mut request) = valid(&x, rng);
                let i = rng.below(faults.len());
                (faults[i].append)(rng, numbers[i], &mut request.bytes);
                (auth, request, field(faults[i].field))
            });
        }
    }
}

/// A valid request of each RPC the fault tables name, as its other families build it.
mod valid {
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
}

fn admin(fx: &Fixture) -> Auth {
    Auth::Bearer(fx.admin.clone())
}

fn as_(p: &Person) -> Auth {
    Auth::Bearer(p.token.clone())
}

/// Faults below the API: bytes that do not decode as the method's request. Decoding comes
/// before authentication, so these go out with the admin's token.
fn wire_faults(api: &Api, fx: &Arc<Fixture>, f: &mut Families) {
    for method in &api.methods {
        let fields = api.messages[&method.input].clone();
        let (path, shape, token) = (method.path.clone(), method.shape, fx.admin.clone());
        let case = move |messages: Vec<Vec<u8>>, expect: Expect, label: &str| Case {
            path: path.clone(),
            shape,
            auth: Auth::Bearer(token.clone()),
            messages,
            expect,
            label: label.to_string(),
        };
        // Strings that are not UTF-8, at the top level and one message down.
        let mut utf8_targets: Vec<(Vec<u32>, String)> = Vec::new();
        for field in &fields {
            if field.ty == Type::String {
                utf8_targets.push((vec![field.number], field.reported.clone()));
            }
            if let Some(inner) = field.message.as_ref().and_then(|m| api.messages.get(m)) {
                for nested in inner.iter().filter(|n| n.ty == Type::String) {
                    utf8_targets.push((
                        vec![field.number, nested.number],
                        format!("{}.{}", field.reported, nested.reported),
                    ));
                }
            }
        }
        // The field a truncated message breaks off in.
        let first = fields
            .iter()
            .min_by_key(|f| f.number)
            .map(|f| (f.number, f.reported.clone()))
            .unwrap_or((1, String::new()));
        f.list.push(Box::new(move |rng| {
            let mut bytes = Vec::new();
            match rng.below(4) {
                0 if !fields.is_empty() => {
                    let field = pick(rng, &fields);
                    wrong_wire_type(field, &mut bytes);
                    case(
                        vec![bytes],
                        Expect::Field(field.reported.clone()),
                        "wrong wire type",
                    )
                }
                1 if !utf8_targets.is_empty() => {
                    let (numbers, path) = pick(rng, &utf8_targets);
                    bytes = pick(rng, NOT_UTF8).to_vec();
                    for number in numbers.iter().rev() {
                        let mut outer = Vec::new();
                        len_field(*number, &bytes, &mut outer);
                        bytes = outer;
                    }
                    case(vec![bytes], Expect::Field(path.clone()), "string not UTF-8")
                }
                2 => {
                    // A length-delimited field that promises more bytes than there are.
                    key(first.0, WireType::LengthDelimited, &mut bytes);
                    encode_varint(100 + rng.below(1 << 20) as u64, &mut bytes);
                    bytes.extend_from_slice(b"abc");
                    case(vec![bytes], Expect::Field(first.1.clone()), "truncated")
                }
                _ => {
                    bytes = match rng.below(3) {
                        0 => vec![0x0f],     // wire type 7
                        1 => vec![0x00],     // field number 0
                        _ => vec![0xff; 11], // a varint longer than 10 bytes
                    };
                    bytes.extend((0..rng.below(64)).map(|_| rng.next_u64() as u8));
                    case(vec![bytes], field(""), "garbage")
                }
            }
        }));
    }
    // A message above the transport's limit, to any method.
    let methods = api.methods.clone();
    let token = fx.admin.clone();
    f.list.push(Box::new(move |rng| {
        let method = pick(rng, &methods);
        let mut bytes = Vec::with_capacity(OVERSIZE + 16);
        len_field(1, &vec![b'a'; OVERSIZE], &mut bytes);
        Case {
            path: method.path.clone(),
            shape: method.shape,
            auth: Auth::Bearer(token.clone()),
            messages: vec![bytes],
            expect: Expect::Oversize,
            label: "oversize".into(),
        }
    }));
}

fn directory(fx: &Arc<Fixture>, f: &mut Families) {
    let create = valid::create_user;
    f.credentials("DirectoryService/CreateUser", create(fx, &mut Rng::new(0)));
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateUser",
        "create user: bad field",
        move |rng| {
            let mut r = create(&x, rng);
            let user = r.user.as_mut().unwrap();
            let expect = match rng.below(8) {
                0 => {
                    r.user = None;
                    field("user")
                }
                1 => {
                    user.display_name = huge(rng);
                    field("user.display_name")
                }
                2 => {
                    user.display_name = control_text(rng);
                    field("user.display_name")
                }
                3 => {
                    user.email = pick(
                        rng,
                        &["not-an-email", "a@", "@b", "a b@c.d", "a@b\u{202e}.com"],
                    )
                    .to_string();
                    field("user.email")
                }
                4 => {
                    user.role = bad_enum(rng);
                    field("user.role")
                }
                5 => {
                    user.role = 0;
                    field("user.role")
                }
                6 => {
                    user.manager = bad_name(rng, "users");
                    field("user.manager")
                }
                _ => {
                    user.email = huge(rng);
                    field("user.email")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateUser",
        "create user: not admin",
        move |rng| {
            let callers = [&x.rep, &x.manager, &x.desk];
            let caller = *pick(rng, &callers);
            (
                as_(caller),
                create(&x, rng),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateUser",
        "create user: taken email",
        move |rng| {
            let mut r = create(&x, rng);
            r.user.as_mut().unwrap().email = x.rep.user.email.to_uppercase();
            (admin(&x), r, Expect::Code(Code::AlreadyExists))
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateUser",
        "create user: unknown manager",
        move |rng| {
            let mut r = create(&x, rng);
            r.user.as_mut().unwrap().manager = format!("users/{}", unknown_id(rng));
            (admin(&x), r, field("user.manager"))
        },
    );

    let get = |fx: &Fixture| pb::GetUserRequest {
        name: fx.manager.name(),
    };
    f.credentials("DirectoryService/GetUser", get(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/GetUser",
        "get user: bad name",
        move |rng| {
            (
                as_(&x.rep),
                pb::GetUserRequest {
                    name: bad_name(rng, "users"),
                },
                field("name"),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/GetUser",
        "get user: unknown",
        move |rng| {
            (
                as_(&x.rep),
                pb::GetUserRequest {
                    name: format!("users/{}", unknown_id(rng)),
                },
                Expect::Code(Code::NotFound),
            )
        },
    );
    f.credentials(
        "DirectoryService/GetCurrentUser",
        pb::GetCurrentUserRequest {},
    );

    f.credentials(
        "DirectoryService/ListUsers",
        pb::ListUsersRequest::default(),
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/ListUsers",
        "list users: bad filter",
        move |rng| {
            let mut r = pb::ListUsersRequest::default();
            let expect = match rng.below(2) {
                0 => {
                    r.role = bad_enum(rng);
                    field("role")
                }
                _ => {
                    r.manager = bad_name(rng, "users");
                    field("manager")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let update = |fx: &Fixture| pb::UpdateUserRequest {
        user: Some(pb::User {
            name: fx.other_rep.name(),
            display_name: "Renamed".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["display_name".into()],
        }),
    };
    f.credentials("DirectoryService/UpdateUser", update(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/UpdateUser",
        "update user: bad field",
        move |rng| {
            let mut r = update(&x);
            let user = r.user.as_mut().unwrap();
            let expect = match rng.below(8) {
                0 => {
                    r.update_mask = None;
                    field("update_mask")
                }
                1 => {
                    r.update_mask = Some(FieldMask {
                        paths: vec!["etag".into()],
                    });
                    field("update_mask.paths[0]")
                }
                2 => {
                    user.name = bad_name(rng, "users");
                    field("user.name")
                }
                3 => {
                    user.display_name = huge(rng);
                    field("user.display_name")
                }
                4 => {
                    user.etag = malformed_etag(rng);
                    field("user.etag")
                }
                5 => {
                    user.etag = "\"999999\"".into();
                    Expect::Code(Code::Aborted)
                }
                6 => {
                    // Under oneself: a cycle.
                    user.manager = user.name.clone();
                    r.update_mask = Some(FieldMask {
                        paths: vec!["manager".into()],
                    });
                    field("user.manager")
                }
                _ => {
                    r.user = None;
                    field("user")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/UpdateUser",
        "update user: not admin",
        move |_| {
            (
                as_(&x.manager),
                update(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/UpdateUser",
        "update user: unknown",
        move |rng| {
            let mut r = update(&x);
            r.user.as_mut().unwrap().name = format!("users/{}", unknown_id(rng));
            (admin(&x), r, Expect::Code(Code::NotFound))
        },
    );

    let token = |fx: &Fixture| pb::CreateApiTokenRequest {
        parent: fx.other_rep.name(),
        api_token: Some(pb::ApiToken {
            display_name: "t".into(),
            ..Default::default()
        }),
    };
    f.credentials("DirectoryService/CreateApiToken", token(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateApiToken",
        "create token: bad field",
        move |rng| {
            let mut r = token(&x);
            let expect = match rng.below(4) {
                0 => {
                    r.parent = bad_name(rng, "users");
                    field("parent")
                }
                1 => {
                    r.api_token = None;
                    field("api_token")
                }
                2 => {
                    r.api_token.as_mut().unwrap().display_name = huge(rng);
                    field("api_token.display_name")
                }
                _ => {
                    r.api_token.as_mut().unwrap().display_name = control_text(rng);
                    field("api_token.display_name")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateApiToken",
        "create token: not admin",
        move |_| {
            // A rep minting a token for someone else.
            (as_(&x.rep), token(&x), Expect::Code(Code::PermissionDenied))
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/CreateApiToken",
        "create token: unknown user",
        move |rng| {
            let mut r = token(&x);
            r.parent = format!("users/{}", unknown_id(rng));
            (admin(&x), r, Expect::Code(Code::NotFound))
        },
    );

    let list = valid::list_api_tokens;
    f.credentials("DirectoryService/ListApiTokens", list(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/ListApiTokens",
        "list tokens: bad field",
        move |rng| {
            let mut r = list(&x);
            r.parent = bad_name(rng, "users");
            let expect = field("parent");
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/ListApiTokens",
        "list tokens: not admin",
        move |_| {
            (
                as_(&x.manager),
                list(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );

    let revoke = |fx: &Fixture| pb::RevokeApiTokenRequest {
        name: fx.live_token.clone(),
    };
    f.credentials("DirectoryService/RevokeApiToken", revoke(fx));
    let x = fx.clone();
    f.add(
        "DirectoryService/RevokeApiToken",
        "revoke token: bad name",
        move |rng| {
            let name = match rng.below(3) {
                0 => bad_name(rng, "users"),
                1 => format!("{}/apiTokens/{}", x.rep.name(), "not-a-uuid"),
                _ => format!("{}/apiTokens/{}\0", x.rep.name(), unknown_id(rng)),
            };
            (admin(&x), pb::RevokeApiTokenRequest { name }, field("name"))
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/RevokeApiToken",
        "revoke token: unknown",
        move |rng| {
            let name = format!("{}/apiTokens/{}", x.rep.name(), unknown_id(rng));
            (
                admin(&x),
                pb::RevokeApiTokenRequest { name },
                Expect::Code(Code::NotFound),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "DirectoryService/RevokeApiToken",
        "revoke token: not admin",
        move |_| {
            (
                as_(&x.other_rep),
                revoke(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );
}

fn pipelines(fx: &Arc<Fixture>, f: &mut Families) {
    let create = valid::create_pipeline;
    f.credentials("PipelineService/CreatePipeline", create(fx));
    let x = fx.clone();
    f.add(
        "PipelineService/CreatePipeline",
        "create pipeline: bad field",
        move |rng| {
            let mut r = create(&x);
            let p = r.pipeline.as_mut().unwrap();
            let expect = match rng.below(11) {
                0 => {
                    r.pipeline = None;
                    field("pipeline")
                }
                1 => {
                    p.display_name = huge(rng);
                    field("pipeline.display_name")
                }
                2 => {
                    p.segment = bad_enum(rng);
                    field("pipeline.segment")
                }
                3 => {
                    p.stages.clear();
                    field("pipeline.stages")
                }
                4 => {
                    // Hundreds of stages.
                    let open = p.stages[0].clone();
                    p.stages = (0..31 + rng.below(200))
                        .map(|i| pb::Stage {
                            stage_id: format!("s{i}"),
                            position: i as i32,
                            ..open.clone()
                        })
                        .collect();
                    field("pipeline.stages")
                }
                5 => {
                    p.stages[0].stage_id =
                        pick(rng, &["Upper", "1digit", "has space", "é", "a\0"]).to_string();
                    field("pipeline.stages[0].stage_id")
                }
                6 => {
                    p.stages[0].default_probability_bps =
                        *pick(rng, &[-1, 10_001, i32::MAX, i32::MIN]);
                    field("pipeline.stages[0].default_probability_bps")
                }
                7 => {
                    p.stages[0].kind = bad_enum(rng);
                    field("pipeline.stages[0].kind")
                }
                8 => {
                    p.stages[0].exit_criteria = vec![pb::ExitCriterion::default()];
                    field("pipeline.stages[0].exit_criteria[0]")
                }
                9 => {
                    p.stages[0].exit_criteria = vec![pb::ExitCriterion {
                        rule: Some(ec::Rule::DepartmentsEngaged(ec::DepartmentsEngaged {
                            min_departments: *pick(rng, &[0, -1, 21, i32::MAX, i32::MIN]),
                        })),
                        description: String::new(),
                    }];
                    field("pipeline.stages[0].exit_criteria[0].departments_engaged.min_departments")
                }
                _ => {
                    p.stages[0].stale_after_days = Some(*pick(rng, &[0, -1, 3651, i32::MAX]));
                    field("pipeline.stages[0].stale_after_days")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/CreatePipeline",
        "create pipeline: not admin",
        move |rng| {
            let callers = [&x.rep, &x.manager, &x.desk];
            let caller = *pick(rng, &callers);
            (
                as_(caller),
                create(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );

    f.credentials(
        "PipelineService/GetPipeline",
        pb::GetPipelineRequest {
            name: fx.pipeline.clone(),
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/GetPipeline",
        "get pipeline: bad or unknown",
        move |rng| {
            if rng.below(2) == 0 {
                let name = bad_name(rng, "pipelines");
                (as_(&x.rep), pb::GetPipelineRequest { name }, field("name"))
            } else {
                let name = format!("pipelines/{}", unknown_id(rng));
                (
                    as_(&x.rep),
                    pb::GetPipelineRequest { name },
                    Expect::Code(Code::NotFound),
                )
            }
        },
    );

    f.credentials(
        "PipelineService/ListPipelines",
        pb::ListPipelinesRequest::default(),
    );
    let x = fx.clone();
    f.add(
        "PipelineService/ListPipelines",
        "list pipelines: bad field",
        move |rng| {
            let r = pb::ListPipelinesRequest {
                segment: bad_enum(rng),
                ..Default::default()
            };
            (as_(&x.rep), r, field("segment"))
        },
    );

    let update = |fx: &Fixture| pb::UpdatePipelineRequest {
        pipeline: Some(pb::Pipeline {
            name: fx.pipeline.clone(),
            display_name: "Renamed".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["display_name".into()],
        }),
    };
    f.credentials("PipelineService/UpdatePipeline", update(fx));
    let x = fx.clone();
    f.add(
        "PipelineService/UpdatePipeline",
        "update pipeline: bad field",
        move |rng| {
            let mut r = update(&x);
            let p = r.pipeline.as_mut().unwrap();
            let expect = match rng.below(7) {
                0 => {
                    r.update_mask = None;
                    field("update_mask")
                }
                1 => {
                    r.update_mask = Some(FieldMask {
                        paths: vec!["name".into()],
                    });
                    field("update_mask.paths[0]")
                }
                2 => {
                    p.name = bad_name(rng, "pipelines");
                    field("pipeline.name")
                }
                3 => {
                    p.etag = malformed_etag(rng);
                    field("pipeline.etag")
                }
                4 => {
                    p.etag = "\"424242\"".into();
                    Expect::Code(Code::Aborted)
                }
                5 => {
                    r.update_mask = Some(FieldMask {
                        paths: vec!["stages".into()],
                    });
                    field("pipeline.stages")
                }
                _ => {
                    p.display_name = control_text(rng);
                    field("pipeline.display_name")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/UpdatePipeline",
        "update pipeline: not admin",
        move |_| {
            (
                as_(&x.manager),
                update(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/UpdatePipeline",
        "update pipeline: unknown",
        move |rng| {
            let mut r = update(&x);
            r.pipeline.as_mut().unwrap().name = format!("pipelines/{}", unknown_id(rng));
            (admin(&x), r, Expect::Code(Code::NotFound))
        },
    );

    f.credentials(
        "PipelineService/ListPipelineTemplates",
        pb::ListPipelineTemplatesRequest {},
    );

    let metrics = |fx: &Fixture| pb::GetPipelineMetricsRequest {
        pipeline: fx.pipeline.clone(),
        start_month: "2026-01".into(),
        end_month: "2026-03".into(),
        ..Default::default()
    };
    f.credentials("PipelineService/GetPipelineMetrics", metrics(fx));
    let x = fx.clone();
    f.add(
        "PipelineService/GetPipelineMetrics",
        "pipeline metrics: bad field",
        move |rng| {
            let mut r = metrics(&x);
            let expect = match rng.below(9) {
                0 => {
                    r.pipeline = bad_name(rng, "pipelines");
                    field("pipeline")
                }
                1 => {
                    r.start_month = bad_period(rng);
                    field("start_month")
                }
                2 => {
                    r.end_month = pick(rng, &["2026-13", "2026-Q1", "", "2025-12"]).to_string();
                    field("end_month")
                }
                3 => {
                    r.end_month = "2030-01".into();
                    field("end_month")
                }
                4 => {
                    r.lead_source = bad_enum(rng);
                    field("lead_source")
                }
                5 => {
                    r.segment = bad_enum(rng);
                    field("segment")
                }
                6 => {
                    r.stale_after_days = Some(*pick(rng, &[0, -1, 3651, i32::MIN]));
                    field("stale_after_days")
                }
                7 => {
                    r.max_stale_deals = bad_page_size(rng);
                    field("max_stale_deals")
                }
                _ => {
                    r.scope = bad_name(rng, "users");
                    field("scope")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/GetPipelineMetrics",
        "pipeline metrics: beyond view",
        move |rng| {
            let mut r = metrics(&x);
            if rng.below(2) == 0 {
                r.scope = x.other_rep.name();
            } else {
                r.scope = "org".into();
            }
            (as_(&x.rep), r, Expect::Code(Code::PermissionDenied))
        },
    );
    let x = fx.clone();
    f.add(
        "PipelineService/GetPipelineMetrics",
        "pipeline metrics: unknown",
        move |rng| {
            let mut r = metrics(&x);
            r.pipeline = format!("pipelines/{}", unknown_id(rng));
            (as_(&x.rep), r, Expect::Code(Code::NotFound))
        },
    );
}

fn deals(fx: &Arc<Fixture>, f: &mut Families) {
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

fn dealdesk(fx: &Arc<Fixture>, f: &mut Families) {
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

fn forecasts(fx: &Arc<Fixture>, f: &mut Families) {
    let compute = valid::compute_win_rates;
    f.credentials("ForecastService/ComputeWinRates", compute(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/ComputeWinRates",
        "win rates: bad field",
        move |rng| {
            let mut r = compute(&x);
            let expect = match rng.below(5) {
                0 => {
                    r.pipeline = bad_name(rng, "pipelines");
                    field("pipeline")
                }
                1 => {
                    r.prior_weight = Some(*pick(rng, &[-1, i32::MIN, i32::MAX]));
                    field("prior_weight")
                }
                2 => {
                    r.window_start_date = Some(bad_date(rng));
                    field("window_start_date")
                }
                3 => {
                    r.window_start_date = Some(Date {
                        year: 2026,
                        month: 6,
                        day: 1,
                    });
                    r.window_end_date = Some(Date {
                        year: 2025,
                        month: 6,
                        day: 1,
                    });
                    field("window_start_date")
                }
                _ => {
                    r.pipeline = format!("pipelines/{}", unknown_id(rng));
                    field("pipeline")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "ForecastService/ComputeWinRates",
        "win rates: a rep",
        move |_| {
            (
                as_(&x.rep),
                compute(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );

    f.credentials(
        "ForecastService/GetWinRateSnapshot",
        pb::GetWinRateSnapshotRequest {
            name: fx.snapshot.clone(),
        },
    );
    let x = fx.clone();
    f.add(
        "ForecastService/GetWinRateSnapshot",
        "snapshot: bad or unknown",
        move |rng| {
            let (name, expect) = match rng.below(3) {
                0 => (bad_name(rng, "pipelines"), field("name")),
                1 => (
                    format!(
                        "{}/winRateSnapshots/{}",
                        x.pipeline,
                        pick(rng, &["-1", "x", "99999999999999999999", "1 "])
                    ),
                    field("name"),
                ),
                _ => (
                    format!("{}/winRateSnapshots/{}", x.pipeline, 1000 + rng.below(1000)),
                    Expect::Code(Code::NotFound),
                ),
            };
            (as_(&x.rep), pb::GetWinRateSnapshotRequest { name }, expect)
        },
    );

    let list = valid::list_win_rate_snapshots;
    f.credentials("ForecastService/ListWinRateSnapshots", list(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/ListWinRateSnapshots",
        "list snapshots: bad field",
        move |rng| {
            let mut r = list(&x);
            r.parent = bad_name(rng, "pipelines");
            let expect = field("parent");
            (as_(&x.rep), r, expect)
        },
    );

    // Period and scope faults shared by the forecast reads.
    fn period_scope(
        rng: &mut Rng,
        fx: &Fixture,
        period: &mut String,
        scope: &mut String,
    ) -> Expect {
        match rng.below(4) {
            0 => {
                *period = bad_period(rng);
                field("period")
            }
            1 => {
                *scope = bad_name(rng, "users");
                field("scope")
            }
            2 => {
                *scope = fx.other_rep.name();
                Expect::Code(Code::PermissionDenied)
            }
            _ => {
                *scope = "org".into();
                Expect::Code(Code::PermissionDenied)
            }
        }
    }

    let forecast = |fx: &Fixture| pb::GetForecastRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
        ..Default::default()
    };
    f.credentials("ForecastService/GetForecast", forecast(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/GetForecast",
        "forecast: bad field",
        move |rng| {
            let mut r = forecast(&x);
            let expect = match rng.below(4) {
                0 => {
                    r.currency_code = bad_currency(rng);
                    field("currency_code")
                }
                1 => {
                    r.snapshots = vec![bad_name(rng, "pipelines")];
                    field("snapshots[0]")
                }
                _ => period_scope(rng, &x, &mut r.period, &mut r.scope),
            };
            (as_(&x.rep), r, expect)
        },
    );

    let rate = || pb::SetExchangeRateRequest {
        rate: Some(pb::ExchangeRate {
            from_currency: "EUR".into(),
            to_currency: "USD".into(),
            rate: 1.1,
            update_time: None,
        }),
    };
    f.credentials("ForecastService/SetExchangeRate", rate());
    let x = fx.clone();
    f.add(
        "ForecastService/SetExchangeRate",
        "exchange rate: bad field",
        move |rng| {
            let mut r = rate();
            let e = r.rate.as_mut().unwrap();
            let expect = match rng.below(5) {
                0 => {
                    r.rate = None;
                    field("rate")
                }
                1 => {
                    e.rate = *pick(
                        rng,
                        &[0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
                    );
                    field("rate.rate")
                }
                2 => {
                    e.from_currency = bad_currency(rng);
                    field("rate.from_currency")
                }
                3 => {
                    e.to_currency = "EUR".into();
                    field("rate.to_currency")
                }
                _ => {
                    e.to_currency = bad_currency(rng);
                    field("rate.to_currency")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "ForecastService/SetExchangeRate",
        "exchange rate: not admin",
        move |rng| {
            let callers = [&x.rep, &x.manager, &x.desk];
            let caller = *pick(rng, &callers);
            (as_(caller), rate(), Expect::Code(Code::PermissionDenied))
        },
    );

    f.credentials(
        "ForecastService/ListExchangeRates",
        pb::ListExchangeRatesRequest::default(),
    );

    let call = || pb::SubmitForecastCallRequest {
        period: "2026-Q4".into(),
        commit: usd(1_000),
        best_case: usd(2_000),
        note: String::new(),
    };
    f.credentials("ForecastService/SubmitForecastCall", call());
    let x = fx.clone();
    f.add(
        "ForecastService/SubmitForecastCall",
        "call: bad field",
        move |rng| {
            let mut r = call();
            let expect = match rng.below(7) {
                0 => {
                    r.period = bad_period(rng);
                    field("period")
                }
                1 => {
                    r.commit = usd(*pick(rng, &[-1, i64::MIN, i64::MAX, 1_000_000_000_001]));
                    field("commit.amount_minor")
                }
                2 => {
                    r.best_case = usd(*pick(rng, &[-1, i64::MIN, i64::MAX]));
                    field("best_case.amount_minor")
                }
                3 => {
                    r.commit = None;
                    field("commit")
                }
                4 => {
                    r.best_case.as_mut().unwrap().currency_code = bad_currency(rng);
                    field("best_case.currency_code")
                }
                5 => {
                    r.note = huge(rng);
                    field("note")
                }
                _ => {
                    r.note = control_text(rng);
                    field("note")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let adjust = |fx: &Fixture| pb::AdjustForecastCallRequest {
        period: "2026-Q4".into(),
        user: fx.rep.name(),
        commit: usd(1_000),
        best_case: usd(2_000),
        note: String::new(),
    };
    f.credentials("ForecastService/AdjustForecastCall", adjust(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/AdjustForecastCall",
        "adjust: bad field or subject",
        move |rng| {
            let mut r = adjust(&x);
            let mut caller = &x.manager;
            let expect = match rng.below(6) {
                0 => {
                    r.period = bad_period(rng);
                    field("period")
                }
                1 => {
                    r.user = bad_name(rng, "users");
                    field("user")
                }
                2 => {
                    // Calls may be zero, not negative or huge.
                    r.commit = usd(*pick(rng, &[-1, i64::MIN, i64::MAX, 1_000_000_000_001]));
                    field("commit.amount_minor")
                }
                3 => {
                    r.user = x.other_rep.name();
                    Expect::Code(Code::PermissionDenied)
                }
                4 => {
                    // A rep adjusting their own manager.
                    caller = &x.rep;
                    r.user = x.manager.name();
                    Expect::Code(Code::PermissionDenied)
                }
                _ => {
                    r.user = format!("users/{}", unknown_id(rng));
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(caller), r, expect)
        },
    );

    let judge = |fx: &Fixture| pb::JudgeDealRequest {
        period: "2026-Q4".into(),
        deal: fx.deal.name.clone(),
        include: true,
        note: String::new(),
    };
    f.credentials("ForecastService/JudgeDeal", judge(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/JudgeDeal",
        "judge: bad field or deal",
        move |rng| {
            let mut r = judge(&x);
            let expect = match rng.below(5) {
                0 => {
                    r.period = bad_period(rng);
                    field("period")
                }
                1 => {
                    r.deal = bad_name(rng, "deals");
                    field("deal")
                }
                2 => {
                    r.note = huge(rng);
                    field("note")
                }
                3 => {
                    r.deal = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
                _ => {
                    r.deal = format!("deals/{}", unknown_id(rng));
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(&x.manager), r, expect)
        },
    );

    let get_call = |fx: &Fixture| pb::GetForecastCallRequest {
        period: "2026-Q4".into(),
        user: fx.rep.name(),
        as_of_time: None,
    };
    f.credentials("ForecastService/GetForecastCall", get_call(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/GetForecastCall",
        "get call: bad field",
        move |rng| {
            let mut r = get_call(&x);
            let expect = match rng.below(4) {
                0 => {
                    r.period = bad_period(rng);
                    field("period")
                }
                1 => {
                    r.user = bad_name(rng, "users");
                    field("user")
                }
                2 => {
                    r.as_of_time = Some(bad_timestamp(rng));
                    field("as_of_time")
                }
                _ => {
                    r.user = x.other_rep.name();
                    Expect::Code(Code::PermissionDenied)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let snapshot = valid::snapshot_forecast;
    f.credentials("ForecastService/SnapshotForecast", snapshot(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/SnapshotForecast",
        "snapshot forecast: bad field",
        move |rng| {
            let mut r = snapshot(&x);
            let expect = match rng.below(5) {
                0 => {
                    r.currency_code = bad_currency(rng);
                    field("currency_code")
                }
                _ => period_scope(rng, &x, &mut r.period, &mut r.scope),
            };
            (as_(&x.rep), r, expect)
        },
    );

    let listsnap = |fx: &Fixture| pb::ListForecastSnapshotsRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
        ..Default::default()
    };
    f.credentials("ForecastService/ListForecastSnapshots", listsnap(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/ListForecastSnapshots",
        "list forecast snapshots: bad field",
        move |rng| {
            let mut r = listsnap(&x);
            let expect = period_scope(rng, &x, &mut r.period, &mut r.scope);
            (as_(&x.rep), r, expect)
        },
    );

    let accuracy = |fx: &Fixture| pb::GetForecastAccuracyRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
    };
    f.credentials("ForecastService/GetForecastAccuracy", accuracy(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/GetForecastAccuracy",
        "accuracy: bad field",
        move |rng| {
            let mut r = accuracy(&x);
            let expect = period_scope(rng, &x, &mut r.period, &mut r.scope);
            (as_(&x.rep), r, expect)
        },
    );

    let backtest = |fx: &Fixture| pb::BacktestForecastRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
        ..Default::default()
    };
    f.credentials("ForecastService/BacktestForecast", backtest(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/BacktestForecast",
        "backtest: bad field",
        move |rng| {
            let mut r = backtest(&x);
            let expect = match rng.below(5) {
                0 => {
                    r.as_of_dates = vec![bad_date(rng)];
                    field("as_of_dates[0]")
                }
                1 => {
                    let d = Date {
                        year: 2026,
                        month: 10,
                        day: 15,
                    };
                    r.as_of_dates = vec![d; 101 + rng.below(500)];
                    field("as_of_dates")
                }
                2 => {
                    r.currency_code = bad_currency(rng);
                    field("currency_code")
                }
                _ => period_scope(rng, &x, &mut r.period, &mut r.scope),
            };
            (as_(&x.rep), r, expect)
        },
    );
}

fn import(fx: &Arc<Fixture>, f: &mut Families) {
    use pb::import_file_chunk::Kind;
    use pb::import_history_request::Part;
    let path = "/dealdesk.v1.ImportService/ImportHistory".to_string();
    f.covered.insert(path.clone());
    let settings = |fx: &Fixture| pb::ImportHistoryRequest {
        part: Some(Part::Settings(pb::ImportSettings {
            pipeline: fx.pipeline.clone(),
            mapping_json: String::new(),
            validate_only: false,
            ..Default::default()
        })),
    };
    let chunk = |name: &str, kind: Kind, data: Vec<u8>| pb::ImportHistoryRequest {
        part: Some(Part::FileChunk(pb::ImportFileChunk {
            file_name: name.into(),
            kind: kind as i32,
            data,
        })),
    };
    const HEADER: &str =
        "external_id,name,account,owner,stage,amount,currency,close_date,created_at\n";
    let row = |fx: &Fixture, amount: &str| {
        format!(
            "{HEADER}H-1,Hostile,Hostile Corp,{},{},{amount},USD,2027-01-31,2026-01-15T09:00:00Z\n",
            fx.rep.user.email, fx.template.stages[0].stage_id
        )
    };
    let x = fx.clone();
    f.list.push(Box::new(move |rng| {
        let mut caller = admin(&x);
        let mut messages = vec![
            settings(&x),
            chunk("deals.csv", Kind::GenericDeals, row(&x, "100").into_bytes()),
        ];
        let fault = rng.below(10);
        let mut detail = String::new();
        let expect = match fault {
            0 => {
                caller = Auth::None;
                Expect::Reason(Code::Unauthenticated, "MISSING_CREDENTIALS")
            }
            1 => {
                let callers = [&x.rep, &x.manager, &x.desk];
                let chosen = *pick(rng, &callers);
                caller = as_(chosen);
                Expect::Reason(Code::PermissionDenied, "ADMIN_ONLY")
            }
            2 => {
                messages.remove(0);
                field("settings")
            }
            3 => {
                messages.push(settings(&x));
                field("settings")
            }
            4 => {
                messages[0] = pb::ImportHistoryRequest {
                    part: Some(Part::Settings(pb::ImportSettings {
                        pipeline: bad_name(rng, "pipelines"),
                        ..Default::default()
                    })),
                };
                field("settings.pipeline")
            }
            5 => {
                messages[1] = chunk(
                    &control_text(rng),
                    Kind::GenericDeals,
                    row(&x, "1").into_bytes(),
                );
                field("file_chunk.file_name")
            }
            6 => {
                let amount = *pick(
                    rng,
                    &["-5", "9223372036854775807999", "1e400", "NaN", "12x", "0"],
                );
                detail = amount.to_string();
                messages[1] = chunk(
                    "deals.csv",
                    Kind::GenericDeals,
                    row(&x, amount).into_bytes(),
                );
                Expect::Reason(Code::InvalidArgument, "IMPORT_ROWS_INVALID")
            }
            7 => {
                let mut data = row(&x, "100").into_bytes();
                data.extend_from_slice(b"H-2,\xff\xfe,Bad,x,y,1,USD,2027-01-31,2026-01-15\n");
                messages[1] = chunk("deals.csv", Kind::GenericDeals, data);
                Expect::Code(Code::InvalidArgument)
            }
            8 => {
                messages[0] = pb::ImportHistoryRequest {
                    part: Some(Part::Settings(pb::ImportSettings {
                        pipeline: x.pipeline.clone(),
                        mapping_json: {
                            detail = pick(
                                rng,
                                &[
                                    "{",
                                    "[]",
                                    "{\"stages\": 5}",
                                    "\u{0}",
                                    "{\"source\": \"UPPER\"}",
                                ],
                            )
                            .to_string();
                            detail.clone()
                        },
                        validate_only: false,
                        ..Default::default()
                    })),
                };
                Expect::Code(Code::InvalidArgument)
            }
            _ => {
                messages[1] = chunk("deals.csv", Kind::Unspecified, row(&x, "100").into_bytes());
                Expect::Code(Code::InvalidArgument)
            }
        };
        Case {
            path: path.clone(),
            shape: Shape::ClientStream,
            auth: caller,
            messages: messages.iter().map(Message::encode_to_vec).collect(),
            expect,
            label: format!("import | fault {fault} {detail}"),
        }
    }));
}

// ---------------------------------------------------------------------------------------------
// Checking the answers.

fn is_upper_snake(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Why `answer` is not what `case` must get, if it is not.
fn judge(case: &Case, answer: &Result<(), Status>) -> Option<String> {
    let status = match answer {
        Ok(()) => return Some("accepted".into()),
        Err(status) => status,
    };
    if matches!(
        status.code(),
        Code::Internal | Code::Unknown | Code::Unavailable | Code::DataLoss
    ) {
        return Some(format!(
            "answered {:?}: {}",
            status.code(),
            status.message()
        ));
    }
    let Some(info) = status.get_details_error_info() else {
        return Some(format!("no ErrorInfo: {status:?}"));
    };
    if let Expect::Oversize = case.expect {
        return (status.code() != Code::ResourceExhausted || info.reason != "MESSAGE_TOO_LARGE")
            .then(|| format!("oversize answered {status:?}"));
    }
    if !is_upper_snake(&info.reason) || info.domain != "dealdesk.v1" {
        return Some(format!("bad ErrorInfo {info:?}"));
    }
    let (code, reason) = match &case.expect {
        Expect::Field(_) => (Code::InvalidArgument, None),
        Expect::Reason(code, reason) => (*code, Some(*reason)),
        Expect::Code(code) => (*code, None),
        Expect::Oversize => unreachable!(),
    };
    if status.code() != code {
        return Some(format!(
            "expected {code:?}, got {:?} ({}): {}",
            status.code(),
            info.reason,
            status.message()
        ));
    }
    if reason.is_some_and(|r| r != info.reason) {
        return Some(format!("expected reason {reason:?}, got {}", info.reason));
    }
    if code == Code::InvalidArgument {
        let fields: Vec<String> = status
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        if fields.is_empty() {
            return Some(format!(
                "INVALID_ARGUMENT without field violations: {status:?}"
            ));
        }
        if let Expect::Field(want) = &case.expect
            && !fields.contains(want)
        {
            return Some(format!("expected field {want:?}, got {fields:?}"));
        }
    }
    if code == Code::FailedPrecondition && status.message().is_empty() {
        return Some("FAILED_PRECONDITION that says nothing".into());
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The database fingerprint: every table's rows, as text, sorted and hashed.

async fn fingerprint(url: &str) -> BTreeMap<String, (usize, String)> {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let rows = |sql: String| Statement::from_string(backend, sql);
    let list_tables = match backend {
        DatabaseBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' ORDER BY name"
        }
        _ => {
            "SELECT table_name::text AS t FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
        }
    };
    let tables: Vec<String> = db
        .query_all_raw(rows(list_tables.to_string()))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "t").unwrap())
        .collect();
    let mut out = BTreeMap::new();
    for table in tables {
        let select = match backend {
            DatabaseBackend::Sqlite => {
                let columns: Vec<String> = db
                    .query_all_raw(rows(format!("PRAGMA table_info(\"{table}\")")))
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.try_get::<String>("", "name").unwrap())
                    .collect();
                let quoted: Vec<String> =
                    columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
                format!(
                    "SELECT {} AS r FROM \"{table}\"",
                    quoted.join(" || '|' || ")
                )
            }
            _ => format!("SELECT CAST(t AS text) AS r FROM \"{table}\" AS t"),
        };
        let mut lines: Vec<String> = db
            .query_all_raw(rows(select))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "r").unwrap())
            .collect();
        lines.sort();
        let mut hash = Sha256::new();
        for line in &lines {
            hash.update(line.as_bytes());
            hash.update([0]);
        }
        let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        out.insert(table, (lines.len(), digest));
    }
    db.close().await.ok();
    out
}

// ---------------------------------------------------------------------------------------------
// Panics anywhere outside the tests themselves (server code, its dependencies).

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_tests = info
                .location()
                .is_some_and(|l| l.file().starts_with("tests/"));
            if !in_tests {
                PANICS.lock().unwrap().push(info.to_string());
            }
            previous(info);
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// The test.

contract_test!(
    hostile_requests_are_refused_cleanly_and_change_nothing,
    // Every worker shares a few tokens: the heavy reads' budget (per caller, then per process)
    // would refuse some of them before their bodies are read, which is not what this judges.
    configure = |a: dealdesk::startup::Application| a.with_limits(dealdesk::overload::Limits {
        max_heavy_in_flight: IN_FLIGHT,
        max_heavy_per_caller: IN_FLIGHT,
        ..dealdesk::overload::Limits::default()
    }),
    |app| {
        watch_panics();
        let requests: usize = std::env::var("HOSTILE_REQUESTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(DEFAULT_REQUESTS);
        let fx = Arc::new(fixture(&app).await);
        let api = api();
        let families = families(&api, &fx);
        let all: BTreeSet<String> = api.methods.iter().map(|m| m.path.clone()).collect();
        assert_eq!(families.covered, all, "every RPC has hostile requests");

        let mut rng = Rng::new(0x5eed_8badf00d);
        let cases: Arc<Vec<Case>> = Arc::new(
            (0..requests)
                .map(|_| (families.list[rng.below(families.list.len())])(&mut rng))
                .collect(),
        );
        let before = fingerprint(&app.database_url).await;

        let mut channels = Vec::new();
        for _ in 0..CHANNELS {
            let channel = Channel::from_shared(format!("http://{}", app.addr))
                .unwrap()
                .connect()
                .await
                .unwrap();
            channels.push(channel);
        }
        let started = std::time::Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for w in 0..IN_FLIGHT {
            let (cases, next, channel) =
                (cases.clone(), next.clone(), channels[w % CHANNELS].clone());
            workers.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let answer = tokio::time::timeout(CALL_BOUND, send(channel.clone(), case))
                        .await
                        .unwrap_or_else(|_| Err(Status::unavailable("no answer within the bound")));
                    answers.push((i, answer));
                }
                answers
            }));
        }
        let mut answers = Vec::new();
        for worker in workers {
            answers.extend(worker.await.expect("a sending task panicked"));
        }
        assert_eq!(answers.len(), cases.len());

        let mut codes: BTreeMap<String, usize> = BTreeMap::new();
        let mut wrong: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for (i, answer) in &answers {
            let case = &cases[*i];
            let code = match answer {
                Ok(()) => "OK".to_string(),
                Err(s) => format!("{:?}", s.code()),
            };
            *codes.entry(code).or_default() += 1;
            if let Some(why) = judge(case, answer) {
                let entry = wrong
                    .entry(format!(
                        "{} [{}] expecting {:?}: {why}",
                        case.path,
                        case.label.split(" | ").next().unwrap_or(""),
                        case.expect
                    ))
                    .or_insert((0, case.label.clone()));
                entry.0 += 1;
            }
        }
        println!(
            "hostile input on {:?}: {} requests over {} RPCs in {:.1?}, answers by code: {codes:?}",
            app.backend,
            cases.len(),
            all.len(),
            started.elapsed()
        );
        for (why, (n, example)) in &wrong {
            println!("WRONG x{n}: {why}\n    e.g. {example}");
        }
        assert!(
            wrong.is_empty(),
            "{} kinds of wrong answers (see above)",
            wrong.len()
        );

        // Still serving, nothing panicked, nothing changed.
        let me = app
            .directory()
            .await
            .get_current_user(authed(&fx.admin, pb::GetCurrentUserRequest {}))
            .await
            .expect("the server still serves");
        assert_eq!(me.into_inner().name, app.admin.name);
        assert!(!app.server.as_ref().unwrap().is_finished());
        let panics = PANICS.lock().unwrap().clone();
        assert!(panics.is_empty(), "panics: {panics:#?}");
        let after = fingerprint(&app.database_url).await;
        for (table, (rows, hash)) in &before {
            assert_eq!(
                after.get(table),
                Some(&(*rows, hash.clone())),
                "table {table} changed under refused requests"
            );
        }
        assert_eq!(before.len(), after.len());

        // The fingerprint does see a write: one accepted call changes it.
        app.forecasts()
            .await
            .submit_forecast_call(authed(
                &fx.rep.token,
                pb::SubmitForecastCallRequest {
                    period: "2026-Q4".into(),
                    commit: usd(1_000),
                    best_case: usd(2_000),
                    note: String::new(),
                },
            ))
            .await
            .unwrap();
        assert_ne!(fingerprint(&app.database_url).await, after);
    }
);

// ---------------------------------------------------------------------------------------------
// Extreme values the API accepts must not break what is computed from them later.

contract_test!(
    an_extreme_exchange_rate_does_not_overflow_the_forecast,
    |app| {
        let manager = person(&app, Role::Manager, None).await;
        let rep = person(&app, Role::Rep, Some(&manager)).await;
        let pipeline = template_pipeline(&app, pb::Segment::MidMarket).await;
        app.forecasts()
            .await
            .set_exchange_rate(authed(
                &app.admin_token,
                pb::SetExchangeRateRequest {
                    rate: Some(pb::ExchangeRate {
                        from_currency: "EUR".into(),
                        to_currency: "USD".into(),
                        rate: 1e300,
                        update_time: None,
                    }),
                },
            ))
            .await
            .unwrap();
        let mut deals = app.deals().await;
        for name in ["Huge one", "Huge two"] {
            let mut deal = a_deal(&pipeline.name, name);
            deal.amount = Some(pb::Money {
                currency_code: "EUR".into(),
                amount_minor: 1_000_000_000_000,
            });
            deal.close_date = Some(Date {
                year: 2099,
                month: 12,
                day: 15,
            });
            deal.forecast_category = pb::ForecastCategory::BestCase as i32;
            deals
                .create_deal(authed(
                    &rep.token,
                    pb::CreateDealRequest {
                        deal: Some(deal),
                        request_id: String::new(),
                    },
                ))
                .await
                .unwrap();
        }
        let forecast = app
            .forecasts()
            .await
            .get_forecast(authed(
                &manager.token,
                pb::GetForecastRequest {
                    period: "2099-Q4".into(),
                    scope: manager.name(),
                    currency_code: "USD".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        // Each deal converts to at most the amount ceiling: the sum is exact, not wrapped.
        assert_eq!(forecast.totals.unwrap().best_case, 2_000_000_000_000);
    }
);
