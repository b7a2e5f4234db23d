//! The pure parsers, fuzzed: arbitrary input never panics, and what a formatter writes parses
//! back to the same value.
//!
//! Run: `cargo test --test api hostile_fuzz`.

use dealdesk::domain::approval::{
    Approver, DiscountTier, Mode, Policy, SizeThreshold, StepSpec, Terms, check_policy,
    check_terms, route,
};
use dealdesk::domain::directory::Role;
use dealdesk::domain::ids::DealId;
use dealdesk::domain::money::{Currency, Money};
use dealdesk::domain::paging::{PageToken, RequestId, page_size};
use dealdesk::domain::period::Period;
use dealdesk::domain::pipeline::{
    BuyingRole, DealField, ExitCriterion, QualificationElement, QualificationStatus, Segment,
};
use dealdesk::grpc::codec::field_path;
use dealdesk::grpc::convert::{
    criterion_from, criterion_to, etag, parse_etag, parse_name, parse_token_name, parse_user_name,
};
use dealdesk::import::mapping::Mapping;
use dealdesk::import::values::{parse_bool, parse_date, parse_time};
use dealdesk::proto as pb;
use proptest::prelude::*;
use prost::Message;

fn period() -> impl Strategy<Value = Period> {
    prop_oneof![
        (1900i32..=9998, 1u32..=12).prop_map(|(year, month)| Period::Month { year, month }),
        (1900i32..=9998, 1u32..=4).prop_map(|(fiscal_year, quarter)| Period::Quarter {
            fiscal_year,
            quarter
        }),
    ]
}

fn criterion() -> impl Strategy<Value = ExitCriterion> {
    let field = prop::sample::select(vec![
        DealField::Amount,
        DealField::CloseDate,
        DealField::NextStep,
        DealField::BantBudget,
        DealField::ConfirmedBudget,
        DealField::LeadSource,
    ]);
    let role = prop::sample::select(vec![
        BuyingRole::EconomicBuyer,
        BuyingRole::Champion,
        BuyingRole::Legal,
        BuyingRole::Procurement,
    ]);
    let element = prop::sample::select(vec![
        QualificationElement::Metrics,
        QualificationElement::Champion,
        QualificationElement::Competition,
    ]);
    let status = prop::sample::select(vec![
        QualificationStatus::Yellow,
        QualificationStatus::Green,
    ]);
    prop_oneof![
        field.prop_map(ExitCriterion::FieldSet),
        Just(ExitCriterion::CloseDateInFuture),
        Just(ExitCriterion::AmountPositive),
        role.prop_map(ExitCriterion::ContactWithRole),
        (1u8..=20).prop_map(ExitCriterion::DepartmentsEngaged),
        (element, status).prop_map(|(element, min_status)| {
            ExitCriterion::QualificationAtLeast {
                element,
                min_status,
            }
        }),
        Just(ExitCriterion::NoPendingApproval),
        Just(ExitCriterion::DiscountCovered),
    ]
}

/// Any wire criterion: known and unknown enum numbers, any minimum.
fn wire_criterion() -> impl Strategy<Value = pb::ExitCriterion> {
    use pb::exit_criterion::{self as ec, Rule};
    let number = prop_oneof![-2i32..12, any::<i32>()];
    prop_oneof![
        Just(None),
        number
            .clone()
            .prop_map(|field| Some(Rule::FieldSet(ec::FieldSet { field }))),
        number
            .clone()
            .prop_map(|role| Some(Rule::ContactWithRole(ec::ContactWithRole { role }))),
        number
            .clone()
            .prop_map(
                |min_departments| Some(Rule::DepartmentsEngaged(ec::DepartmentsEngaged {
                    min_departments
                }))
            ),
        (number.clone(), number).prop_map(|(element, min_status)| Some(
            Rule::QualificationAtLeast(ec::QualificationAtLeast {
                element,
                min_status
            })
        )),
        Just(Some(Rule::DiscountCovered(ec::DiscountCovered {}))),
    ]
    .prop_map(|rule| pb::ExitCriterion {
        rule,
        description: String::new(),
    })
}

fn step() -> impl Strategy<Value = StepSpec> {
    let approver = prop_oneof![
        Just(Approver::OwnersManager),
        Just(Approver::LeaderAboveOwner),
        prop::sample::select(vec![Role::Rep, Role::DealDesk, Role::Finance, Role::Legal])
            .prop_map(Approver::Queue),
    ];
    (
        ".{0,8}",
        prop::collection::vec(approver, 0..3),
        any::<bool>(),
        0u32..1000,
    )
        .prop_map(|(name, approvers, any, sla_hours)| StepSpec {
            name,
            approvers,
            mode: if any { Mode::Any } else { Mode::All },
            sla_hours,
        })
}

fn policy() -> impl Strategy<Value = Policy> {
    let tier = (0u32..12_000, prop::collection::vec(step(), 0..3))
        .prop_map(|(ceiling_bps, steps)| DiscountTier { ceiling_bps, steps });
    let threshold = (any::<i64>(), step()).prop_map(|(minor, step)| SizeThreshold {
        above: Money {
            minor,
            currency: Currency::USD,
        },
        step,
    });
    (
        prop::collection::vec(tier, 0..5),
        prop::collection::vec(threshold, 0..3),
        prop::collection::vec("[A-Z_]{0,6}|.{0,6}", 0..4),
        step(),
        any::<u32>(),
        step(),
    )
        .prop_map(
            |(tiers, size_thresholds, playbook, legal_step, payment_days_limit, finance_step)| {
                Policy {
                    segment: Segment::MidMarket,
                    tiers,
                    size_thresholds,
                    playbook,
                    legal_step,
                    payment_days_limit,
                    finance_step,
                }
            },
        )
}

fn terms() -> impl Strategy<Value = Terms> {
    (
        any::<u32>(),
        prop::collection::vec("[A-Z_]{1,6}|.{0,6}", 0..4),
        ".{0,20}",
        any::<u32>(),
    )
        .prop_map(
            |(discount_bps, clauses, non_standard, payment_days)| Terms {
                discount_bps,
                clauses,
                non_standard,
                payment_days,
            },
        )
}

proptest! {
    #[test]
    fn periods_round_trip(p in period()) {
        prop_assert_eq!(Period::parse(&p.to_string()).unwrap(), p);
    }

    #[test]
    fn any_text_parses_as_a_period_only_in_its_own_form(text in "\\PC{0,12}|[0-9Q-]{0,9}") {
        if let Ok(p) = Period::parse(&text) {
            prop_assert_eq!(p.to_string(), text);
        }
    }

    #[test]
    fn page_tokens_from_any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), query in any::<u64>()) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = PageToken::decode(&text, query);
        let _ = page_size(bytes.len() as i32 - 300);
    }

    #[test]
    fn resource_names_round_trip_and_any_text_is_refused_or_canonical(
        high in any::<u64>(), low in 1u64.., token in any::<u128>(), text in "\\PC{0,60}",
    ) {
        let id = uuid::Uuid::from_u64_pair(high, low);
        let name = format!("users/{id}");
        prop_assert_eq!(parse_user_name("f", &name).unwrap().0, id);
        let token = uuid::Uuid::from_u128(token);
        let (user, parsed) = parse_token_name("f", &format!("{name}/apiTokens/{token}")).unwrap();
        prop_assert_eq!((user.0, parsed.0), (id, token));
        if let Ok(parsed) = parse_name::<DealId>("f", &text) {
            prop_assert_eq!(format!("deals/{parsed}"), text.to_lowercase());
        }
        let _ = parse_token_name("f", &text);
    }

    #[test]
    fn etags_round_trip(version in any::<i64>(), text in "\\PC{0,24}") {
        prop_assert_eq!(parse_etag("etag", &etag(version)).unwrap(), Some(version));
        let _ = parse_etag("etag", &text);
    }

    #[test]
    fn request_ids_and_currencies_never_panic(text in "\\PC{0,140}") {
        if let Ok(Some(id)) = RequestId::parse(&text) {
            prop_assert_eq!(id.as_str(), text.as_str());
        }
        if let Some(c) = Currency::parse(&text) {
            prop_assert_eq!(c.code(), text.as_str());
        }
    }

    #[test]
    fn exit_criteria_round_trip(c in criterion()) {
        prop_assert_eq!(criterion_from("c", &criterion_to(&c)).unwrap(), c);
    }

    #[test]
    fn any_wire_criterion_is_refused_or_round_trips(wire in wire_criterion()) {
        if let Ok(c) = criterion_from("c", &wire) {
            prop_assert_eq!(criterion_from("c", &criterion_to(&c)).unwrap(), c);
        }
    }

    #[test]
    fn policies_round_trip_through_their_stored_form_and_route_without_panicking(
        p in policy(), t in terms(), amount in any::<i64>(),
    ) {
        let json = serde_json::to_string(&p).unwrap();
        prop_assert_eq!(&serde_json::from_str::<Policy>(&json).unwrap(), &p);
        if check_policy(&p).is_ok() && check_terms(&p, &t).is_ok() {
            let amount = Money { minor: amount, currency: Currency::USD };
            let _ = route(&p, Some(amount), &t);
        }
    }

    #[test]
    fn import_mappings_and_values_never_panic(text in "\\PC{0,80}|\\{.{0,80}\\}") {
        let _ = Mapping::parse("m.json", &text);
        let _ = parse_time(&text);
        let _ = parse_date(&text);
        let _ = parse_bool(&text);
    }

    #[test]
    fn any_bytes_decode_to_a_request_or_a_named_failure(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for error in [
            pb::CreateDealRequest::decode(bytes.as_slice()).err(),
            pb::CreatePipelineRequest::decode(bytes.as_slice()).err(),
            pb::CreateApprovalPolicyRequest::decode(bytes.as_slice()).err(),
            pb::ImportHistoryRequest::decode(bytes.as_slice()).err(),
        ]
        .into_iter()
        .flatten()
        {
            let path = field_path(&error);
            prop_assert!(path.split('.').all(|p| !p.is_empty()) || path.is_empty(), "{}", path);
        }
    }
}
