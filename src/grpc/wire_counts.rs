//! Counts the elements of a request's repeated fields on its raw bytes, before prost decodes
//! it: prost allocates every element it reads, so a 4 MiB message of two million empty strings
//! costs tens of megabytes before any count check could refuse it. The scan allocates nothing
//! per element: a tally the size of the message's [`Shape`], and the violations it reports.
//!
//! The scan is never stricter than prost. Where the bytes stop making sense (a varint past the
//! end, a length past the end, a wire type that does not exist), prost's decode fails at the
//! same place, having read no more than was counted; the scan then reports the counts seen so
//! far (when one is over) and otherwise leaves the error to prost, which names the field.

use std::fmt;

use crate::domain::{Violations, too_many, within_limit};

/// How a repeated field's elements are written on the wire.
#[derive(Debug)]
pub enum Elements {
    /// One length-delimited record per element: strings, bytes, and messages whose own repeated
    /// fields need no count.
    Records,
    /// Varints (integers, enums, bools): one per element, or many packed in one record.
    Varints,
    /// Four-byte numbers (`fixed32`, `float`): one per element, or packed.
    Fixed32s,
    /// Eight-byte numbers (`fixed64`, `double`): one per element, or packed.
    Fixed64s,
    /// Messages with repeated fields of their own to count, element by element.
    Messages(&'static Shape),
}

/// A repeated field and the most elements it may hold.
#[derive(Debug)]
pub struct Repeated {
    /// Field number.
    pub number: u32,
    /// Field name, as a violation names it.
    pub name: &'static str,
    /// Most elements.
    pub max: usize,
    /// What the elements are, in a violation's words ("clause codes").
    pub what: &'static str,
    /// How they are written.
    pub elements: Elements,
}

impl Repeated {
    /// The decoded `items` of this field (at `field`) when they are within its limit, else none
    /// and one violation: the scan's check, for an adapter reading decoded values.
    pub fn within<'a, T>(
        &self,
        violations: &mut Violations,
        field: &str,
        items: &'a [T],
    ) -> &'a [T] {
        within_limit(violations, field, items, self.max, self.what)
    }
}

/// A singular message field whose message has repeated fields to count. prost merges every
/// occurrence of such a field into one message, so their counts add up across occurrences.
#[derive(Debug)]
pub struct Singular {
    /// Field number.
    pub number: u32,
    /// Field name, as a violation's path names it.
    pub name: &'static str,
    /// The message's own limits.
    pub shape: &'static Shape,
}

/// The counted fields of one message type; every other field is skipped.
#[derive(Debug)]
pub struct Shape {
    /// Repeated fields with a limit.
    pub repeated: &'static [Repeated],
    /// Singular message fields that hold counted fields.
    pub singular: &'static [Singular],
}

/// Deepest nesting of counted messages the scan follows; deeper ones are skipped as records.
/// Our shapes nest three deep; the bound only keeps a mistaken recursive table from recursing.
const MAX_SHAPE_DEPTH: usize = 16;

/// Deepest nesting of (unknown) groups the scan skips. prost refuses more than 100 levels of
/// nesting, so a message the scan stops on here has already failed to decode.
const MAX_GROUP_DEPTH: usize = 128;

/// Every repeated field of `message` (the bytes of a message of `shape`) that holds more than
/// its limit, one violation each (`must have at most 50 clause codes, got 2100000`); none when
/// every count is within its limit. The elements of a field that is over its limit are not
/// reported on, as a count check after decoding would not read them either.
pub fn count_violations(message: &[u8], shape: &'static Shape) -> Violations {
    let mut tally = Tally::new(shape, 0);
    // A malformed message: the counts up to where prost will stop are what is reported.
    let _ = scan(message, &mut tally, &Path::Root, 0);
    let mut violations = Violations::new();
    tally.report(&Path::Root, &mut violations);
    violations
}

/// Where a message sits in the request, built on the stack and written out only for a
/// violation: `policy.tiers[3].steps`.
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'static str),
    Element(&'a Path<'a>, &'static str, usize),
}

impl Path<'_> {
    /// The path of field `name` of the message at `self`.
    fn field(&self, name: &'static str) -> String {
        match self {
            Path::Root => name.to_string(),
            _ => format!("{self}.{name}"),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let separate = |f: &mut fmt::Formatter<'_>, parent: &Path<'_>| match parent {
            Path::Root => Ok(()),
            _ => write!(f, "{parent}."),
        };
        match self {
            Path::Root => Ok(()),
            Path::Field(parent, name) => {
                separate(f, parent)?;
                write!(f, "{name}")
            }
            Path::Element(parent, name, index) => {
                separate(f, parent)?;
                write!(f, "{name}[{index}]")
            }
        }
    }
}

/// The counts of one message being scanned, shaped like its [`Shape`]. Built once per request
/// and reset between the elements of a repeated message field, so its size is the shape's.
struct Tally {
    shape: &'static Shape,
    /// Elements seen of each repeated field.
    counts: Vec<usize>,
    /// Per repeated field of messages: the tally of the element being read, and what the
    /// elements read so far reported (dropped if the field itself is over its limit).
    elements: Vec<Option<(Tally, Violations)>>,
    /// Per singular message field: its tally, summed over every occurrence.
    singular: Vec<Tally>,
}

impl Tally {
    fn new(shape: &'static Shape, depth: usize) -> Self {
        let deeper = depth < MAX_SHAPE_DEPTH;
        Tally {
            shape,
            counts: vec![0; shape.repeated.len()],
            elements: shape
                .repeated
                .iter()
                .map(|field| match field.elements {
                    Elements::Messages(inner) if deeper => {
                        Some((Tally::new(inner, depth + 1), Violations::new()))
                    }
                    _ => None,
                })
                .collect(),
            singular: shape
                .singular
                .iter()
                .filter(|_| deeper)
                .map(|field| Tally::new(field.shape, depth + 1))
                .collect(),
        }
    }

    /// Back to no elements seen.
    fn reset(&mut self) {
        self.counts.fill(0);
        for (tally, violations) in self.elements.iter_mut().flatten() {
            tally.reset();
            *violations = Violations::new();
        }
        for tally in &mut self.singular {
            tally.reset();
        }
    }

    /// Adds the violations of the message at `path` to `out`, in the shape's field order.
    fn report(&mut self, path: &Path<'_>, out: &mut Violations) {
        for (i, field) in self.shape.repeated.iter().enumerate() {
            if self.counts[i] > field.max {
                out.add(
                    path.field(field.name),
                    too_many(field.max, field.what, self.counts[i]),
                );
            } else if let Some((_, inner)) = &mut self.elements[i] {
                out.extend(std::mem::take(inner));
            }
        }
        for (field, tally) in self.shape.singular.iter().zip(&mut self.singular) {
            tally.report(&Path::Field(path, field.name), out);
        }
    }
}

/// The bytes do not make a message; prost stops here too.
struct Malformed;

/// Counts the fields of `message` into `tally`, recursing into counted nested messages.
fn scan(message: &[u8], tally: &mut Tally, path: &Path<'_>, depth: usize) -> Result<(), Malformed> {
    let mut rest = message;
    while !rest.is_empty() {
        let (number, wire_type) = key(&mut rest)?;
        let repeated = tally
            .shape
            .repeated
            .iter()
            .position(|field| field.number == number);
        match wire_type {
            // Varint.
            0 => {
                varint(&mut rest)?;
                count_scalar(tally, repeated, Elements::Varints)
            }
            // Eight bytes.
            1 => {
                take(&mut rest, 8)?;
                count_scalar(tally, repeated, Elements::Fixed64s)
            }
            // Four bytes.
            5 => {
                take(&mut rest, 4)?;
                count_scalar(tally, repeated, Elements::Fixed32s)
            }
            // Length-delimited.
            2 => {
                let length = usize::try_from(varint(&mut rest)?).map_err(|_| Malformed)?;
                let record = take(&mut rest, length)?;
                if let Some(i) = repeated {
                    record_element(tally, i, record, path, depth)?;
                } else if let Some(j) = tally
                    .shape
                    .singular
                    .iter()
                    .position(|field| field.number == number)
                    && let Some(inner) = tally.singular.get_mut(j)
                {
                    let name = tally.shape.singular[j].name;
                    scan(record, inner, &Path::Field(path, name), depth + 1)?;
                }
            }
            // A group: skipped, as prost skips an unknown one.
            3 => skip_group(number, &mut rest)?,
            // An end of group outside one, or a wire type that does not exist.
            _ => return Err(Malformed),
        }
    }
    Ok(())
}

/// Counts a varint or fixed-size value if it is an element of a repeated field of `written`.
fn count_scalar(tally: &mut Tally, repeated: Option<usize>, written: Elements) {
    if let Some(i) = repeated {
        let shape: &'static Shape = tally.shape;
        let field = &shape.repeated[i];
        if std::mem::discriminant(&field.elements) == std::mem::discriminant(&written) {
            tally.counts[i] += 1;
        }
    }
}

/// Counts the elements of one length-delimited record of repeated field `i`: one string or
/// message, or a packed run of numbers. A message's own fields are counted, then reported
/// under its index.
fn record_element(
    tally: &mut Tally,
    i: usize,
    record: &[u8],
    path: &Path<'_>,
    depth: usize,
) -> Result<(), Malformed> {
    let shape: &'static Shape = tally.shape;
    let field = &shape.repeated[i];
    let index = tally.counts[i];
    tally.counts[i] += match field.elements {
        // Every varint ends in the one byte of it whose top bit is clear.
        Elements::Varints => record.iter().filter(|&&byte| byte < 0x80).count(),
        Elements::Fixed32s => record.len() / 4,
        Elements::Fixed64s => record.len() / 8,
        Elements::Records | Elements::Messages(_) => 1,
    };
    let Some((inner, reported)) = &mut tally.elements[i] else {
        return Ok(());
    };
    let at = Path::Element(path, field.name, index);
    let scanned = scan(record, inner, &at, depth + 1);
    inner.report(&at, reported);
    inner.reset();
    scanned
}

/// Skips the rest of group `number`, up to its matching end (nested groups included).
fn skip_group(number: u32, rest: &mut &[u8]) -> Result<(), Malformed> {
    let mut open = [0u32; MAX_GROUP_DEPTH];
    open[0] = number;
    let mut depth = 1;
    while depth > 0 {
        let (inner, wire_type) = key(rest)?;
        match wire_type {
            0 => {
                varint(rest)?;
            }
            1 => {
                take(rest, 8)?;
            }
            5 => {
                take(rest, 4)?;
            }
            2 => {
                let length = usize::try_from(varint(rest)?).map_err(|_| Malformed)?;
                take(rest, length)?;
            }
            3 => {
                *open.get_mut(depth).ok_or(Malformed)? = inner;
                depth += 1;
            }
            4 if open[depth - 1] == inner => depth -= 1,
            _ => return Err(Malformed),
        }
    }
    Ok(())
}

/// A field's key: its number and wire type. prost refuses keys past `u32` and number 0.
fn key(rest: &mut &[u8]) -> Result<(u32, u8), Malformed> {
    let key = u32::try_from(varint(rest)?).map_err(|_| Malformed)?;
    let number = key >> 3;
    if number == 0 {
        return Err(Malformed);
    }
    Ok((number, (key & 7) as u8))
}

/// A varint of at most ten bytes.
fn varint(rest: &mut &[u8]) -> Result<u64, Malformed> {
    let mut value = 0u64;
    for (i, &byte) in rest.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *rest = &rest[i + 1..];
            return Ok(value);
        }
    }
    Err(Malformed)
}

/// The next `length` bytes.
fn take<'a>(rest: &mut &'a [u8], length: usize) -> Result<&'a [u8], Malformed> {
    if length > rest.len() {
        return Err(Malformed);
    }
    let (taken, after) = rest.split_at(length);
    *rest = after;
    Ok(taken)
}

#[cfg(test)]
mod tests {
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
}
