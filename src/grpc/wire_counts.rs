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

use crate::domain::{Problem, Violations, too_many, within_limit};

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
                out.add_as(
                    Problem::TooMany,
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
mod tests;
