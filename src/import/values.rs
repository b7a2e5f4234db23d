//! Values as CRM exports write them: decimal amounts in major units, dates, times with or
//! without a zone, booleans, and header names compared loosely (`Account.Name`, `ACCOUNTNAME`
//! and `account_name` are one column).

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use super::dates::DateReader;

use crate::domain::money::{Currency, Decimal, DecimalError, MAX_AMOUNT_MINOR, UnitsError};

/// A non-negative decimal amount in major units (`125000.50`), before its currency is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(Decimal);

/// Most digits after the point an amount may have.
const MAX_SCALE: u32 = 6;

impl Amount {
    /// Parses `123`, `123.4`, `0.50`: digits with at most one point, no sign, no thousands
    /// separators (`1,250.00` is ambiguous between locales, so it is refused).
    pub fn parse(text: &str) -> Result<Amount, String> {
        if text.starts_with('-') {
            return Err(format!("{text:?} is negative"));
        }
        Decimal::parse(text, MAX_SCALE).map(Amount).map_err(|why| match why {
            DecimalError::Malformed => format!(
                "{text:?} is not an amount (digits with an optional decimal point, like 1250.50)"
            ),
            DecimalError::TooManyDecimals => format!("{text:?} has more than {MAX_SCALE} decimals"),
            DecimalError::TooLarge => format!("{text:?} is too large"),
        })
    }

    /// Whether the amount is zero (imported as "no amount": a deal's amount is positive).
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The amount in minor units of `currency`, refusing amounts above the service's limit and
    /// digits the currency does not have, unless `round`: then rounded half up to the
    /// currency's minor unit (`10.005` USD is 10.01).
    pub fn to_minor(self, currency: Currency, round: bool) -> Result<i64, String> {
        let digits = currency.minor_digits().max(0) as u32;
        let too_large = || format!("is larger than {MAX_AMOUNT_MINOR} minor units of {currency}");
        let minor = self.0.units(digits, round).map_err(|why| match why {
            UnitsError::TooManyDecimals => format!(
                "{:?} has more decimals than {currency} has ({digits}): round it in the \
                 export, or set \"round_amounts\": true in the mapping",
                self.to_string()
            ),
            UnitsError::TooLarge => too_large(),
        })?;
        i64::try_from(minor)
            .ok()
            .filter(|m| *m <= MAX_AMOUNT_MINOR)
            .ok_or_else(too_large)
    }
}

impl fmt::Display for Amount {
    /// The amount as a decimal (`10.005`), trailing zeros of the fraction left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Parses a point in time in UTC with no `date_format`: see [`DateReader::time`].
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateReader::default().time(text)
}

/// Parses a calendar date in UTC with no `date_format`: see [`DateReader::date`].
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    DateReader::default().date(text)
}

/// Parses `true`/`false` (any case) or `1`/`0`.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{text:?} is not true or false")),
    }
}

/// A header or name compared loosely: lower case, letters and digits only.
pub fn loose(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(text: &str, code: &str) -> Result<i64, String> {
        Amount::parse(text)?.to_minor(Currency::parse(code).unwrap(), false)
    }

    #[test]
    fn amounts_in_major_units_become_minor_units_of_their_currency() {
        assert_eq!(minor("125000", "USD"), Ok(12_500_000));
        assert_eq!(minor("125000.5", "USD"), Ok(12_500_050));
        assert_eq!(minor("0.50", "EUR"), Ok(50));
        assert_eq!(minor("1500", "JPY"), Ok(1_500));
        assert_eq!(minor("1.250", "KWD"), Ok(1_250));
        assert_eq!(
            minor("12.00", "JPY"),
            Ok(12),
            "trailing zeros are not decimals"
        );
        assert_eq!(minor(".5", "USD"), Ok(50));
    }

    #[test]
    fn malformed_amounts_are_refused_with_the_reason() {
        for (text, why) in [
            ("12x", "is not an amount"),
            ("1,250.00", "is not an amount"),
            ("", "is not an amount"),
            (".", "is not an amount"),
            ("-5", "is negative"),
            ("1.2.3", "is not an amount"),
            ("1.0000001", "more than 6 decimals"),
            ("99999999999999999999", "too large"),
        ] {
            let err = Amount::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert_eq!(
            minor("12.5", "JPY").unwrap_err(),
            "\"12.5\" has more decimals than JPY has (0): round it in the export, or set \
             \"round_amounts\": true in the mapping"
        );
        assert_eq!(
            minor("1520.125", "PEN").unwrap_err(),
            "\"1520.125\" has more decimals than PEN has (2): round it in the export, or set \
             \"round_amounts\": true in the mapping"
        );
        assert!(
            minor("10000000001", "USD")
                .unwrap_err()
                .contains("larger than")
        );
        assert!(Amount::parse("0").unwrap().is_zero());
    }

    #[test]
    fn round_amounts_rounds_half_up_to_the_currencys_minor_unit() {
        let rounded = |text: &str, code: &str| {
            Amount::parse(text)
                .unwrap()
                .to_minor(Currency::parse(code).unwrap(), true)
        };
        assert_eq!(rounded("1520.125", "PEN"), Ok(152_013), "half goes up");
        assert_eq!(rounded("1520.124", "PEN"), Ok(152_012));
        assert_eq!(rounded("1520.1251", "PEN"), Ok(152_013));
        assert_eq!(rounded("0.005", "USD"), Ok(1));
        assert_eq!(rounded("0.004999", "USD"), Ok(0));
        assert_eq!(rounded("12.5", "JPY"), Ok(13));
        assert_eq!(rounded("1.2345", "KWD"), Ok(1_235));
        assert_eq!(rounded("10.50", "USD"), Ok(1_050), "exact amounts are kept");
    }

    #[test]
    fn amounts_show_as_written_less_trailing_zeros() {
        for (text, shown) in [
            ("1520.125", "1520.125"),
            ("0.050", "0.05"),
            (".5", "0.5"),
            ("12", "12"),
            ("007", "7"),
        ] {
            assert_eq!(Amount::parse(text).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn times_are_read_in_the_shapes_the_exports_write() {
        let t = |s: &str| parse_time(s).unwrap().to_rfc3339();
        assert_eq!(t("2025-01-15T10:00:00.000Z"), "2025-01-15T10:00:00+00:00");
        assert_eq!(
            t("2025-01-15T10:00:00.000+0000"),
            "2025-01-15T10:00:00+00:00"
        );
        assert_eq!(t("2025-01-15T12:00:00+02:00"), "2025-01-15T10:00:00+00:00");
        assert_eq!(t("2025-01-15 10:00"), "2025-01-15T10:00:00+00:00");
        assert_eq!(t("2025-01-15 10:00:30"), "2025-01-15T10:00:30+00:00");
        assert_eq!(t("2025-01-15"), "2025-01-15T00:00:00+00:00");
        assert_eq!(t("1736935200000"), "2025-01-15T10:00:00+00:00");
        for bad in ["15/01/2025", "yesterday", "2025-13-01", "0001-01-01"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_accept_a_date_or_a_time() {
        assert_eq!(parse_date("2025-06-30").unwrap().to_string(), "2025-06-30");
        assert_eq!(
            parse_date("2025-06-30T23:00:00Z").unwrap().to_string(),
            "2025-06-30"
        );
        assert!(parse_date("06/30/2025").unwrap_err().contains("YYYY-MM-DD"));
    }

    #[test]
    fn booleans_and_loose_names() {
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("yes").is_err());
        assert_eq!(loose("Account.Name"), "accountname");
        assert_eq!(loose("ACCOUNT_NAME"), "accountname");
        assert_eq!(loose("Date entered \"Won\""), "dateenteredwon");
    }
}
