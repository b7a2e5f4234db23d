//! Arguments people type, read into wire values: dates, amounts in major units, percentages.

use chrono::Datelike;

use crate::domain::money::{Currency, Decimal};
use crate::proto::Money;
use crate::proto::google::r#type::Date;

/// `YYYY-MM-DD` as a wire date (clap's value parser).
pub fn date(text: &str) -> Result<Date, String> {
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))?;
    Ok(Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// A discount in percent (`22`, `22.5`, `22.25%`) as basis points (clap's value parser).
pub fn percent_bps(text: &str) -> Result<i32, String> {
    let bad = || format!("`{text}` is not a percentage with at most 2 decimals (22.5)");
    let minor = decimal(text.trim().trim_end_matches('%'), 2).ok_or_else(bad)?;
    i32::try_from(minor).map_err(|_| bad())
}

/// An amount in major units of `currency` (`1234567.89`, `1,234,567.89`) as a Money.
pub fn money(flag: &str, text: &str, currency: &str) -> Result<Money, super::ClientError> {
    let code = currency.trim().to_ascii_uppercase();
    let parsed = Currency::parse(&code).ok_or_else(|| {
        super::ClientError::usage(
            "--currency",
            format!("`{currency}` is not an ISO 4217 code"),
        )
    })?;
    let digits = parsed.minor_digits() as u32;
    let minor = decimal(text, digits).ok_or_else(|| {
        super::ClientError::usage(
            flag,
            format!("`{text}` is not an amount of {code} (at most {digits} decimals)"),
        )
    })?;
    Ok(Money {
        currency_code: code,
        amount_minor: minor,
    })
}

/// A non-negative decimal with at most `digits` decimals as written, in units of 10^-digits;
/// `,` and `_` group digits, and the whole part is not left out (`.5` is refused).
fn decimal(text: &str, digits: u32) -> Option<i64> {
    let plain: String = text.chars().filter(|c| *c != ',' && *c != '_').collect();
    let (whole, fraction) = plain.split_once('.').unwrap_or((&plain, ""));
    if whole.is_empty() || fraction.len() > digits as usize {
        return None;
    }
    let units = Decimal::parse(&plain, digits)
        .ok()?
        .units(digits, false)
        .ok()?;
    i64::try_from(units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_major_units_with_the_currencys_decimals() {
        let usd = money("--commit", "1,234,567.8", "usd").unwrap();
        assert_eq!(
            (usd.currency_code.as_str(), usd.amount_minor),
            ("USD", 123_456_780)
        );
        assert_eq!(money("--commit", "500", "JPY").unwrap().amount_minor, 500);
        assert!(money("--commit", "1.5", "JPY").is_err());
        assert!(money("--commit", "-1", "USD").is_err());
        assert!(money("--commit", "1", "XXQ").is_err());
    }

    #[test]
    fn a_discount_in_percent_is_basis_points() {
        assert_eq!(percent_bps("22"), Ok(2200));
        assert_eq!(percent_bps("22.5%"), Ok(2250));
        assert!(percent_bps("22.555").is_err());
    }

    #[test]
    fn dates_are_iso_days() {
        assert_eq!(
            date("2026-12-01"),
            Ok(Date {
                year: 2026,
                month: 12,
                day: 1
            })
        );
        assert!(date("2026-13-01").is_err());
    }
}
