//! Faults below the API: bytes that do not decode as the method's request.

use super::*;

/// Larger than the server's 4 MiB message limit.
const OVERSIZE: usize = 4 * 1024 * 1024 + 1024;

// ---------------------------------------------------------------------------------------------
// Hand-encoded protobuf.

pub(super) fn key(number: u32, wire: WireType, out: &mut Vec<u8>) {
    encode_key(number, wire, out);
}

pub(super) fn len_field(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
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

/// Faults below the API: bytes that do not decode as the method's request. Decoding comes
/// before authentication, so these go out with the admin's token.
pub(super) fn wire_faults(api: &Api, fx: &Arc<Fixture>, f: &mut Families) {
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
