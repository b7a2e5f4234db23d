//! The wire scanner against prost's own encoding: nested, packed and merged repeats, malformed
//! tails and the depth bound, by example and by property.

use proptest::prelude::*;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};

use super::*;
use crate::grpc::request_limits::shape_of;
use crate::proto as pb;

fn violations_of<T: Message + 'static>(message: &T) -> Violations {
    scan_bytes::<T>(&message.encode_to_vec())
}

fn scan_bytes<T: 'static>(bytes: &[u8]) -> Violations {
    count_violations(bytes, shape_of::<T>().unwrap())
}

fn listed(violations: &Violations) -> Vec<(String, String)> {
    violations
        .0
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect()
}

fn preview(clauses: usize) -> pb::PreviewApprovalRouteRequest {
    pb::PreviewApprovalRouteRequest {
        deal: "deals/x".into(),
        clauses: vec!["MUTUAL_NDA".into(); clauses],
        ..Default::default()
    }
}

fn step(approvers: usize) -> pb::ApprovalStep {
    pb::ApprovalStep {
        approvers: vec![pb::Approver::default(); approvers],
        ..Default::default()
    }
}

fn policy(tiers: Vec<pb::DiscountTier>) -> pb::CreateApprovalPolicyRequest {
    pb::CreateApprovalPolicyRequest {
        policy: Some(pb::ApprovalPolicy {
            tiers,
            ..Default::default()
        }),
    }
}

fn tier(steps: usize) -> pb::DiscountTier {
    pb::DiscountTier {
        ceiling_bps: 100,
        steps: vec![step(1); steps],
    }
}

#[test]
fn a_repeated_field_over_its_limit_is_one_violation_with_its_count() {
    assert!(violations_of(&preview(50)).is_empty());
    assert_eq!(
        listed(&violations_of(&preview(51))),
        [(
            "clauses".into(),
            "must have at most 50 clause codes, got 51".into()
        )]
    );
}

#[test]
fn a_nested_repeated_field_is_counted_per_element_under_its_index() {
    let mut request = policy(vec![tier(0), tier(11), tier(10)]);
    let wire = request.policy.as_mut().unwrap();
    wire.size_thresholds = vec![pb::SizeThreshold {
        above: None,
        step: Some(step(11)),
    }];
    wire.legal_step = Some(step(12));
    wire.finance_step = Some(step(10));
    assert_eq!(
        listed(&violations_of(&request)),
        [
            (
                "policy.tiers[1].steps".into(),
                "must have at most 10 steps, got 11".into()
            ),
            (
                "policy.size_thresholds[0].step.approvers".into(),
                "must have at most 10 approvers, got 11".into()
            ),
            (
                "policy.legal_step.approvers".into(),
                "must have at most 10 approvers, got 12".into()
            ),
        ]
    );
}

#[test]
fn the_elements_of_a_field_over_its_limit_are_not_reported_on() {
    let request = policy(vec![tier(11); 21]);
    assert_eq!(
        listed(&violations_of(&request)),
        [(
            "policy.tiers".into(),
            "must have at most 20 tiers, got 21".into()
        )]
    );
}

#[test]
fn a_message_field_sent_twice_sums_its_counts_as_prost_merges_them() {
    let half = pb::UpdateDealRequest {
        deal: Some(pb::Deal {
            contacts: vec![pb::Contact::default(); 60],
            ..Default::default()
        }),
        update_mask: None,
    }
    .encode_to_vec();
    let twice = [half.clone(), half].concat();
    let merged = pb::UpdateDealRequest::decode(&twice[..]).unwrap();
    assert_eq!(merged.deal.unwrap().contacts.len(), 120);
    assert_eq!(
        listed(&scan_bytes::<pb::UpdateDealRequest>(&twice)),
        [(
            "deal.contacts".into(),
            "must have at most 100 contacts, got 120".into()
        )]
    );
}

#[test]
fn an_update_mask_holds_each_updatable_field_at_most_once() {
    let request = pb::UpdateUserRequest {
        user: None,
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["email".into(); 6],
        }),
    };
    assert_eq!(
        listed(&violations_of(&request)),
        [(
            "update_mask.paths".into(),
            "must have at most 5 paths, got 6".into()
        )]
    );
}

/// A message of three repeated numbers: varints (1), fixed32s (2), fixed64s (3).
static NUMBERS: Shape = Shape {
    repeated: &[
        Repeated {
            number: 1,
            name: "varints",
            max: 4,
            what: "numbers",
            elements: Elements::Varints,
        },
        Repeated {
            number: 2,
            name: "fixed32s",
            max: 2,
            what: "numbers",
            elements: Elements::Fixed32s,
        },
        Repeated {
            number: 3,
            name: "fixed64s",
            max: 1,
            what: "numbers",
            elements: Elements::Fixed64s,
        },
    ],
    singular: &[],
};

#[test]
fn packed_and_unpacked_numbers_count_each_element() {
    let mut bytes = Vec::new();
    // Packed varints 1, 300, 70000, then 5 and 6 unpacked: 5 elements.
    encode_key(1, WireType::LengthDelimited, &mut bytes);
    encode_varint(6, &mut bytes);
    for n in [1, 300, 70_000] {
        encode_varint(n, &mut bytes);
    }
    for n in [5, 6] {
        encode_key(1, WireType::Varint, &mut bytes);
        encode_varint(n, &mut bytes);
    }
    // Three packed fixed32s; two fixed64s, one packed and one not.
    encode_key(2, WireType::LengthDelimited, &mut bytes);
    encode_varint(12, &mut bytes);
    bytes.extend_from_slice(&[0; 12]);
    encode_key(3, WireType::LengthDelimited, &mut bytes);
    encode_varint(8, &mut bytes);
    bytes.extend_from_slice(&[0; 8]);
    encode_key(3, WireType::SixtyFourBit, &mut bytes);
    bytes.extend_from_slice(&[0; 8]);
    assert_eq!(
        listed(&count_violations(&bytes, &NUMBERS)),
        [
            (
                "varints".into(),
                "must have at most 4 numbers, got 5".into()
            ),
            (
                "fixed32s".into(),
                "must have at most 2 numbers, got 3".into()
            ),
            (
                "fixed64s".into(),
                "must have at most 1 numbers, got 2".into()
            ),
        ]
    );
}

#[test]
fn unknown_fields_and_groups_are_skipped_and_the_count_goes_on() {
    let mut bytes = Vec::new();
    // Unknown group 9 holding group 10 holding a record, then unknown fields of every type.
    encode_key(9, WireType::StartGroup, &mut bytes);
    encode_key(10, WireType::StartGroup, &mut bytes);
    encode_key(3, WireType::LengthDelimited, &mut bytes);
    encode_varint(0, &mut bytes);
    encode_key(10, WireType::EndGroup, &mut bytes);
    encode_key(9, WireType::EndGroup, &mut bytes);
    encode_key(20, WireType::SixtyFourBit, &mut bytes);
    bytes.extend_from_slice(&[0; 8]);
    encode_key(21, WireType::ThirtyTwoBit, &mut bytes);
    bytes.extend_from_slice(&[0; 4]);
    encode_key(22, WireType::Varint, &mut bytes);
    encode_varint(u64::MAX, &mut bytes);
    bytes.extend(preview(51).encode_to_vec());
    pb::PreviewApprovalRouteRequest::decode(&bytes[..]).unwrap();
    assert_eq!(
        listed(&scan_bytes::<pb::PreviewApprovalRouteRequest>(&bytes)),
        [(
            "clauses".into(),
            "must have at most 50 clause codes, got 51".into()
        )]
    );
}

#[test]
fn a_malformed_message_reports_the_counts_before_the_malformation() {
    for tail in [&[0x80][..], &[0x1a, 0x05, b'x'], &[0x0f], &[0x0c]] {
        let mut bytes = preview(51).encode_to_vec();
        bytes.extend_from_slice(tail);
        pb::PreviewApprovalRouteRequest::decode(&bytes[..]).unwrap_err();
        assert_eq!(
            scan_bytes::<pb::PreviewApprovalRouteRequest>(&bytes).count(),
            1,
            "{tail:?}"
        );
        // Within the limit, the error is left to prost (which names the field).
        let mut bytes = preview(3).encode_to_vec();
        bytes.extend_from_slice(tail);
        assert!(scan_bytes::<pb::PreviewApprovalRouteRequest>(&bytes).is_empty());
    }
}

#[test]
fn a_response_or_a_request_without_repeated_fields_has_no_shape() {
    assert!(shape_of::<pb::GetUserRequest>().is_none());
    assert!(shape_of::<pb::ListDealsResponse>().is_none());
}

/// A PreviewApprovalRouteRequest of mostly clauses (so counts cross the limit of 50),
/// some other and unknown fields, and now and then a byte that may break it.
fn preview_records() -> impl Strategy<Value = Vec<u8>> {
    let record = (0u8..=40, 0usize..3, any::<u8>());
    prop::collection::vec(record, 0..100).prop_map(|records| {
        let mut bytes = Vec::new();
        for (kind, length, byte) in records {
            match kind {
                0..=35 => {
                    encode_key(3, WireType::LengthDelimited, &mut bytes);
                    encode_varint(length as u64, &mut bytes);
                    bytes.extend(std::iter::repeat_n(b'A', length));
                }
                36 => {
                    encode_key(2, WireType::Varint, &mut bytes);
                    encode_varint(u64::from(byte), &mut bytes);
                }
                37 => {
                    encode_key(1, WireType::LengthDelimited, &mut bytes);
                    encode_varint(1, &mut bytes);
                    bytes.push(b'd');
                }
                38 => {
                    encode_key(12, WireType::ThirtyTwoBit, &mut bytes);
                    bytes.extend_from_slice(&[byte; 4]);
                }
                39 => {
                    encode_key(13, WireType::StartGroup, &mut bytes);
                    encode_key(13, WireType::EndGroup, &mut bytes);
                }
                _ => bytes.push(byte),
            }
        }
        bytes
    })
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_scan(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = scan_bytes::<pb::PreviewApprovalRouteRequest>(&bytes);
        let _ = scan_bytes::<pb::CreateApprovalPolicyRequest>(&bytes);
        let _ = scan_bytes::<pb::UpdateDealRequest>(&bytes);
        let _ = scan_bytes::<pb::UpdatePipelineRequest>(&bytes);
        let _ = count_violations(&bytes, &NUMBERS);
    }

    #[test]
    fn the_scan_refuses_exactly_the_messages_prost_decodes_over_the_limit(
        bytes in preview_records()
    ) {
        let scanned = scan_bytes::<pb::PreviewApprovalRouteRequest>(&bytes);
        match pb::PreviewApprovalRouteRequest::decode(&bytes[..]) {
            Ok(decoded) => prop_assert_eq!(scanned.is_empty(), decoded.clauses.len() <= 50),
            // What prost would read before its error is within the limit, or refused.
            Err(_) => prop_assert!(scanned.count() <= 1),
        }
    }
}
