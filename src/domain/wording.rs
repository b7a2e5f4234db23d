//! The words of a refusal that several rules share, written once: a bad value is echoed (cut
//! when long, so a hostile megabyte is never copied into an error) and, where the valid values
//! are few, they are listed, as the import's errors do (`"nope" is not a stage of the deal's
//! pipeline (its stages: discovery, proposal)`).

use std::fmt::Display;

/// Characters of a bad value echoed at most; a longer one is cut and ends in `…`.
pub const MAX_ECHOED_CHARS: usize = 100;

/// Valid values listed at most; past them the list ends in `…`.
pub const MAX_LISTED_VALUES: usize = 30;

/// `value` quoted as a caller wrote it (escapes as in Rust string literals), its first
/// [`MAX_ECHOED_CHARS`] characters only: `"2026-q5"`, `"aaaa…"…`.
pub fn echoed(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHOED_CHARS) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// The valid values, comma-separated, at most [`MAX_LISTED_VALUES`] of them.
pub fn listed<I>(valid: I) -> String
where
    I: IntoIterator,
    I::Item: Display,
{
    let mut out = Vec::new();
    for (i, value) in valid.into_iter().enumerate() {
        if i == MAX_LISTED_VALUES {
            out.push("…".to_string());
            break;
        }
        out.push(value.to_string());
    }
    out.join(", ")
}

/// `"{value}" is not {what} ({label}: {valid, ...})`: the wording of every value that must be
/// one of a small known set (`what` is `a stage of the deal's pipeline`, `label` is
/// `its stages`).
pub fn not_one_of<I>(value: &str, what: &str, label: &str, valid: I) -> String
where
    I: IntoIterator,
    I::Item: Display,
{
    format!(
        "{} is not {what} ({label}: {})",
        echoed(value),
        listed(valid)
    )
}

/// The wording of an enum field set to a number it does not know (a newer client, a typo in
/// JSON): `42 is not a known segment (one of: SMB, MID_MARKET, ENTERPRISE)`.
pub fn unknown_number<I>(value: i32, what: &str, valid: I) -> String
where
    I: IntoIterator,
    I::Item: Display,
{
    format!("{value} is not a known {what} (one of: {})", listed(valid))
}

/// The one wording of the discount rule, wherever a discount is written (a deal's discount,
/// the terms of an approval request): `must be 0 to 3000 basis points, got 4500`.
pub fn discount_out_of_range(max_bps: u32, got: i64) -> String {
    format!("must be 0 to {max_bps} basis points, got {got}")
}

/// The one wording of a currency code that is not one (the import's words too):
/// `"usdx" is not an ISO 4217 currency code such as USD`.
pub fn not_a_currency(code: &str) -> String {
    format!(
        "{} is not an ISO 4217 currency code such as USD",
        echoed(code)
    )
}

/// The largest discount any deal or request may carry, in basis points (100%).
pub const MAX_DISCOUNT_BPS: u32 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_value_is_echoed_whole_and_quoted() {
        assert_eq!(echoed("2026-q5"), "\"2026-q5\"");
        assert_eq!(echoed("tab\there"), "\"tab\\there\"");
    }

    #[test]
    fn a_long_value_is_echoed_cut_at_100_characters() {
        let hostile = "é".repeat(1_000_000);
        let shown = echoed(&hostile);
        assert_eq!(shown, format!("\"{}\"…", "é".repeat(100)));
        assert_eq!(echoed(&"x".repeat(100)), format!("\"{}\"", "x".repeat(100)));
    }

    #[test]
    fn a_value_not_in_a_small_set_names_the_set() {
        assert_eq!(
            not_one_of(
                "nope",
                "a stage of the deal's pipeline",
                "its stages",
                ["discovery", "proposal"]
            ),
            "\"nope\" is not a stage of the deal's pipeline (its stages: discovery, proposal)"
        );
    }

    #[test]
    fn a_long_set_is_listed_up_to_its_cap() {
        let many: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
        let list = listed(&many);
        assert!(list.starts_with("s0, s1, "));
        assert!(list.ends_with("s29, …"));
    }

    #[test]
    fn an_unknown_enum_number_lists_the_known_names() {
        assert_eq!(
            unknown_number(42, "segment", ["SMB", "MID_MARKET", "ENTERPRISE"]),
            "42 is not a known segment (one of: SMB, MID_MARKET, ENTERPRISE)"
        );
    }

    #[test]
    fn the_discount_rule_has_one_wording() {
        assert_eq!(
            discount_out_of_range(MAX_DISCOUNT_BPS, 10_001),
            "must be 0 to 10000 basis points, got 10001"
        );
        assert_eq!(
            discount_out_of_range(3_000, -5),
            "must be 0 to 3000 basis points, got -5"
        );
    }
}
