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

mod cases;
mod codec;
mod extremes;
mod fixture;
mod generators;
mod refused;
mod tables;
mod valid;
mod wire;

use cases::{dealdesk, deals, directory, forecasts, import, pipelines};
use codec::send;
pub(crate) use fixture::policy;
use fixture::{a_deal, fixture};
use generators::*;
use tables::shared_faults;
use wire::{key, len_field, wire_faults};

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

fn admin(fx: &Fixture) -> Auth {
    Auth::Bearer(fx.admin.clone())
}

fn as_(p: &Person) -> Auth {
    Auth::Bearer(p.token.clone())
}
