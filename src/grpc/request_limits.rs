//! The most elements each request's repeated fields may hold, by field number, for the count
//! made on a request's bytes before it is decoded ([`super::wire_counts`]). The numbers are the
//! domain's and the adapters' own constants; the adapters check decoded values against the same
//! entries, so a limit and its wording are written once.

use std::any::TypeId;

use super::wire_counts::{Elements, Repeated, Shape, Singular};
use crate::domain::approval::{
    MAX_APPROVERS, MAX_CLAUSES, MAX_PLAYBOOK, MAX_SIZE_THRESHOLDS, MAX_TIER_STEPS, MAX_TIERS,
};
use crate::domain::deal::{MAX_CONTACTS, MAX_QUALIFICATION_ITEMS};
use crate::domain::pipeline::{MAX_CRITERIA, MAX_STAGES};
use crate::proto as pb;

/// Most snapshots one forecast may name (one per pipeline).
pub const MAX_FORECAST_SNAPSHOTS: usize = 100;
/// Most as-of days of one backtest.
pub const MAX_BACKTEST_DAYS: usize = 60;

/// Clause codes of `PreviewApprovalRouteRequest` and `SubmitApprovalRequestRequest` (3).
pub const CLAUSES: Repeated = records(3, "clauses", MAX_CLAUSES, "clause codes");
/// `GetForecastRequest.snapshots` (3).
pub const SNAPSHOTS: Repeated = records(3, "snapshots", MAX_FORECAST_SNAPSHOTS, "snapshots");
/// `BacktestForecastRequest.as_of_dates` (3).
pub const AS_OF_DAYS: Repeated = records(3, "as_of_dates", MAX_BACKTEST_DAYS, "days");

/// `Deal.contacts` (17).
pub const CONTACTS: Repeated = records(17, "contacts", MAX_CONTACTS, "contacts");
/// `Deal.qualification` (18).
pub const QUALIFICATION: Repeated = records(
    18,
    "qualification",
    MAX_QUALIFICATION_ITEMS,
    "items (one per element)",
);

/// `ApprovalStep.approvers` (2).
pub const APPROVERS: Repeated = records(2, "approvers", MAX_APPROVERS, "approvers");
/// `DiscountTier.steps` (2).
pub const TIER_STEPS: Repeated = Repeated {
    number: 2,
    name: "steps",
    max: MAX_TIER_STEPS,
    what: "steps",
    elements: Elements::Messages(&STEP),
};
/// `ApprovalPolicy.tiers` (4).
pub const TIERS: Repeated = Repeated {
    number: 4,
    name: "tiers",
    max: MAX_TIERS,
    what: "tiers",
    elements: Elements::Messages(&TIER),
};
/// `ApprovalPolicy.size_thresholds` (5).
pub const SIZE_THRESHOLDS: Repeated = Repeated {
    number: 5,
    name: "size_thresholds",
    max: MAX_SIZE_THRESHOLDS,
    what: "size thresholds",
    elements: Elements::Messages(&SIZE_THRESHOLD),
};
/// `ApprovalPolicy.playbook` (6).
pub const PLAYBOOK: Repeated = records(6, "playbook", MAX_PLAYBOOK, "clause codes");

/// `Pipeline.stages` (4).
pub const STAGES: Repeated = Repeated {
    number: 4,
    name: "stages",
    max: MAX_STAGES,
    what: "stages",
    elements: Elements::Messages(&STAGE),
};
/// `Stage.exit_criteria` (10).
pub const EXIT_CRITERIA: Repeated = records(10, "exit_criteria", MAX_CRITERIA, "criteria");

/// The fields an `UpdateDeal` may change, each at most once in its mask.
pub const DEAL_UPDATABLE: [&str; 14] = [
    "display_name",
    "account",
    "owner",
    "amount",
    "close_date",
    "lead_source",
    "next_step",
    "next_step_date",
    "bant",
    "confirmed_budget",
    "discount_bps",
    "forecast_category",
    "contacts",
    "qualification",
];
/// The fields an `UpdatePipeline` may change.
pub const PIPELINE_UPDATABLE: [&str; 3] = ["display_name", "segment", "stages"];
/// The fields an `UpdateUser` may change.
pub const USER_UPDATABLE: [&str; 5] = ["display_name", "email", "role", "manager", "active"];

const fn records(number: u32, name: &'static str, max: usize, what: &'static str) -> Repeated {
    Repeated {
        number,
        name,
        max,
        what,
        elements: Elements::Records,
    }
}

/// `FieldMask.paths` (1) of an update that may change `allowed`, each at most once.
const fn mask_paths(allowed: &'static [&'static str]) -> Repeated {
    records(1, "paths", allowed.len(), "paths")
}

/// A message with counted repeated fields and no counted messages.
const fn only(repeated: &'static [Repeated]) -> Shape {
    Shape {
        repeated,
        singular: &[],
    }
}

const fn singular(number: u32, name: &'static str, shape: &'static Shape) -> Singular {
    Singular {
        number,
        name,
        shape,
    }
}

const STEP: Shape = only(&[APPROVERS]);
const TIER: Shape = only(&[TIER_STEPS]);
const SIZE_THRESHOLD: Shape = Shape {
    repeated: &[],
    singular: &[singular(2, "step", &STEP)],
};
const POLICY: Shape = Shape {
    repeated: &[TIERS, SIZE_THRESHOLDS, PLAYBOOK],
    singular: &[
        singular(7, "legal_step", &STEP),
        singular(9, "finance_step", &STEP),
    ],
};
const DEAL: Shape = only(&[CONTACTS, QUALIFICATION]);
const STAGE: Shape = only(&[EXIT_CRITERIA]);
const PIPELINE: Shape = only(&[STAGES]);
const DEAL_MASK: Shape = only(&[mask_paths(&DEAL_UPDATABLE)]);
const PIPELINE_MASK: Shape = only(&[mask_paths(&PIPELINE_UPDATABLE)]);
const USER_MASK: Shape = only(&[mask_paths(&USER_UPDATABLE)]);

/// An entry of [`REQUESTS`]: the message's name and type from one identifier.
macro_rules! request {
    ($message:ident, $shape:expr $(,)?) => {
        (
            stringify!($message),
            TypeId::of::<pb::$message> as fn() -> TypeId,
            $shape,
        )
    };
}

/// A request message with counted fields: its proto name, its type, its shape.
type Request = (&'static str, fn() -> TypeId, &'static Shape);

/// Every request message with counted fields.
static REQUESTS: &[Request] = &[
    request!(PreviewApprovalRouteRequest, &only(&[CLAUSES])),
    request!(SubmitApprovalRequestRequest, &only(&[CLAUSES])),
    request!(
        CreateApprovalPolicyRequest,
        &Shape {
            repeated: &[],
            singular: &[singular(1, "policy", &POLICY)],
        },
    ),
    request!(GetForecastRequest, &only(&[SNAPSHOTS])),
    request!(BacktestForecastRequest, &only(&[AS_OF_DAYS])),
    request!(
        CreateDealRequest,
        &Shape {
            repeated: &[],
            singular: &[singular(1, "deal", &DEAL)],
        },
    ),
    request!(
        UpdateDealRequest,
        &Shape {
            repeated: &[],
            singular: &[
                singular(1, "deal", &DEAL),
                singular(2, "update_mask", &DEAL_MASK),
            ],
        },
    ),
    request!(
        CreatePipelineRequest,
        &Shape {
            repeated: &[],
            singular: &[singular(1, "pipeline", &PIPELINE)],
        },
    ),
    request!(
        UpdatePipelineRequest,
        &Shape {
            repeated: &[],
            singular: &[
                singular(1, "pipeline", &PIPELINE),
                singular(2, "update_mask", &PIPELINE_MASK),
            ],
        },
    ),
    request!(
        UpdateUserRequest,
        &Shape {
            repeated: &[],
            singular: &[singular(2, "update_mask", &USER_MASK)],
        },
    ),
];

/// The counted fields of request message `T`, if it has any.
pub fn shape_of<T: 'static>() -> Option<&'static Shape> {
    let id = TypeId::of::<T>();
    REQUESTS
        .iter()
        .find(|(_, type_id, _)| type_id() == id)
        .map(|(_, _, shape)| *shape)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prost::Message;
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FileDescriptorSet};

    use super::*;
    use crate::proto::FILE_DESCRIPTOR_SET;

    const NOTHING: Shape = only(&[]);

    /// Every message of the API by full name (`.dealdesk.v1.Deal`), nested ones included.
    fn messages(set: &FileDescriptorSet) -> HashMap<String, DescriptorProto> {
        fn add(
            prefix: &str,
            message: &DescriptorProto,
            all: &mut HashMap<String, DescriptorProto>,
        ) {
            let name = format!("{prefix}.{}", message.name());
            for nested in &message.nested_type {
                add(&name, nested, all);
            }
            all.insert(name, message.clone());
        }
        let mut all = HashMap::new();
        for file in &set.file {
            for message in &file.message_type {
                add(&format!(".{}", file.package()), message, &mut all);
            }
        }
        all
    }

    /// Checks that `shape` counts every repeated field of `message` (and of the messages it
    /// holds) and names only its fields, by number, name and encoding.
    fn check(
        all: &HashMap<String, DescriptorProto>,
        message: &DescriptorProto,
        shape: &Shape,
        path: &str,
        problems: &mut Vec<String>,
    ) {
        let known = |number: u32| message.field.iter().any(|f| f.number() as u32 == number);
        for number in shape.repeated.iter().map(|r| r.number) {
            if !known(number) {
                problems.push(format!("{path}: no field {number}"));
            }
        }
        for field in &message.field {
            let at = format!("{path}.{}", field.name());
            let number = field.number() as u32;
            let inner = (field.r#type() == Type::Message).then(|| &all[field.type_name()]);
            if field.label() == Label::Repeated {
                let Some(limit) = shape.repeated.iter().find(|r| r.number == number) else {
                    problems.push(format!("{at} has no limit"));
                    continue;
                };
                let encoding_fits = match (&limit.elements, field.r#type()) {
                    (Elements::Records, Type::String | Type::Bytes | Type::Message) => true,
                    (Elements::Messages(_), Type::Message) => true,
                    (Elements::Fixed32s, Type::Fixed32 | Type::Sfixed32 | Type::Float) => true,
                    (Elements::Fixed64s, Type::Fixed64 | Type::Sfixed64 | Type::Double) => true,
                    (Elements::Varints, t) => matches!(
                        t,
                        Type::Int32
                            | Type::Int64
                            | Type::Uint32
                            | Type::Uint64
                            | Type::Sint32
                            | Type::Sint64
                            | Type::Bool
                            | Type::Enum
                    ),
                    _ => false,
                };
                if limit.name != field.name() || !encoding_fits {
                    problems.push(format!("{at}: the limit is {limit:?}"));
                }
                if let Some(inner) = inner {
                    let inner_shape = match limit.elements {
                        Elements::Messages(shape) => shape,
                        _ => &NOTHING,
                    };
                    check(all, inner, inner_shape, &at, problems);
                }
            } else if let Some(inner) = inner {
                let counted = shape.singular.iter().find(|s| s.number == number);
                if counted.is_some_and(|s| s.name != field.name()) {
                    problems.push(format!("{at}: named otherwise in its shape"));
                }
                check(
                    all,
                    inner,
                    counted.map_or(&NOTHING, |s| s.shape),
                    &at,
                    problems,
                );
            }
        }
    }

    #[test]
    fn every_repeated_field_of_every_request_has_a_limit() {
        let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let all = messages(&set);
        let mut problems = Vec::new();
        let mut requests = 0;
        for file in set.file.iter().filter(|f| f.package() == "dealdesk.v1") {
            for method in file.service.iter().flat_map(|s| &s.method) {
                let name = method.input_type().trim_start_matches(".dealdesk.v1.");
                let shape = REQUESTS
                    .iter()
                    .find(|(request, _, _)| *request == name)
                    .map_or(&NOTHING, |(_, _, shape)| *shape);
                check(&all, &all[method.input_type()], shape, name, &mut problems);
                requests += 1;
            }
        }
        assert!(requests > 50, "{requests} requests");
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn every_counted_request_is_named_by_its_type() {
        for (name, type_id, _) in REQUESTS {
            let found = REQUESTS
                .iter()
                .filter(|(_, id, _)| id() == type_id())
                .count();
            assert_eq!(found, 1, "{name}");
        }
        assert!(
            shape_of::<pb::PreviewApprovalRouteRequest>()
                .is_some_and(|s| s.repeated[0].number == 3)
        );
    }
}
