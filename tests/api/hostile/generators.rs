//! Hostile values of each kind, drawn from the seeded generator.

use super::*;

// ---------------------------------------------------------------------------------------------
// Hostile values.

pub(super) fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len())]
}

/// A random well-formed resource id nobody has.
pub(super) fn unknown_id(rng: &mut Rng) -> String {
    uuid::Uuid::from_u64_pair(rng.next_u64(), rng.next_u64() | 1).to_string()
}

/// A malformed resource name for the `collection` (never empty: some fields treat empty as
/// unset).
pub(super) fn bad_name(rng: &mut Rng, collection: &str) -> String {
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
pub(super) fn bad_page_token(rng: &mut Rng) -> String {
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
pub(super) fn bad_page_size(rng: &mut Rng) -> i32 {
    *pick(rng, &[-1, -50, i32::MIN, -501])
}

/// An enum number outside every enum's range.
pub(super) fn bad_enum(rng: &mut Rng) -> i32 {
    *pick(rng, &[99, -1, i32::MAX, i32::MIN, 1 << 20])
}

/// Text longer than any limit of the API (limits are at most 2000 characters).
pub(super) fn huge(rng: &mut Rng) -> String {
    let unit = pick(rng, &["a", "é", "\u{202e}", "e\u{301}", "🦀", "\u{fffd}"]);
    unit.repeat(2_001 + rng.below(20_000))
}

/// Text that a human-readable field refuses: control characters.
pub(super) fn control_text(rng: &mut Rng) -> String {
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
pub(super) fn bad_period(rng: &mut Rng) -> String {
    pick(
        rng,
        &[
            "2026",
            "2026-13",
            "2026-00",
            "2026-Q0",
            "2026-Q5",
            "2026-q4",
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

pub(super) fn bad_currency(rng: &mut Rng) -> String {
    pick(
        rng,
        &["usd", "US", "USDD", "U$D", "\0SD", "ÜSD", "XYZ", "€"],
    )
    .to_string()
}

/// An amount no money field accepts: not positive, or above 10^12 minor units.
pub(super) fn bad_amount(rng: &mut Rng) -> i64 {
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

pub(super) fn bad_date(rng: &mut Rng) -> Date {
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

pub(super) fn bad_timestamp(rng: &mut Rng) -> Timestamp {
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
pub(super) fn malformed_etag(rng: &mut Rng) -> String {
    pick(
        rng,
        &["abc", "\"\"", "\"x\"", "'1'", "\"1", "W/\"1\"", "\"1\"\0"],
    )
    .to_string()
}

pub(super) fn bad_request_id(rng: &mut Rng) -> String {
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
