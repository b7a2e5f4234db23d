//! Money: integer minor units of an ISO 4217 currency. Amounts in different currencies are
//! never added silently. Amounts as people write them (major units) are read and printed in
//! [`decimal`].

mod decimal;

pub use decimal::{Decimal, DecimalError, UnitsError, group_thousands, major_units};

use std::fmt;

use super::wording::not_a_currency;
use super::{Problem, Violations};

/// Active ISO 4217 currency codes (funds and metals left out).
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB \
BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR \
FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES \
KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR \
MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR \
SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH \
UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

/// Whether `code` is in [`ISO_4217`], by binary search: the list is sorted and every code takes
/// four bytes with its space (storage parses a currency per row it reads, so a linear search
/// over the list showed in the forecast's profile).
fn is_listed(code: &[u8; 3]) -> bool {
    let list = ISO_4217.as_bytes();
    let (mut low, mut high) = (0, list.len().div_ceil(4));
    while low < high {
        let middle = (low + high) / 2;
        match list[middle * 4..middle * 4 + 3].cmp(code) {
            std::cmp::Ordering::Less => low = middle + 1,
            std::cmp::Ordering::Greater => high = middle,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// An ISO 4217 currency code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// Pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");

    /// Parses a three-letter upper-case ISO 4217 code in current use.
    pub fn parse(code: &str) -> Option<Currency> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        let known = bytes.iter().all(u8::is_ascii_uppercase) && is_listed(&bytes);
        known.then_some(Currency(bytes))
    }

    /// Digits after the decimal point of the currency's minor unit (ISO 4217 exponent).
    pub fn minor_digits(&self) -> i32 {
        const NONE: &str = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
        const THREE: &str = "BHD IQD JOD KWD LYD OMR TND";
        let code = self.code();
        if NONE.split(' ').any(|c| c == code) {
            0
        } else if THREE.split(' ').any(|c| c == code) {
            3
        } else {
            2
        }
    }

    pub fn code(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    /// Minor units (cents).
    pub minor: i64,
    pub currency: Currency,
}

impl fmt::Display for Money {
    /// The amount in words: `1000000.00 USD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits() as u32;
        write!(
            f,
            "{} {}",
            major_units(self.minor, digits, false),
            self.currency
        )
    }
}

/// `minor` cents: the unit tests' amount.
#[cfg(test)]
pub(crate) fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: Currency::USD,
    }
}

/// Largest amount accepted: 10^12 minor units (ten billion dollars), so that summing a
/// million deals at the limit (10^18) stays below `i64::MAX` (9.2 x 10^18).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

/// Parses a positive amount in `field`.
pub fn parse_positive(field: &str, minor: i64, currency: &str) -> Result<Money, Violations> {
    let mut violations = Violations::new();
    let code = currency;
    let currency = Currency::parse(code);
    if currency.is_none() {
        violations.add_as(
            Problem::BadCurrency,
            format!("{field}.currency_code"),
            not_a_currency(code),
        );
    }
    if minor <= 0 {
        violations.add_as(
            Problem::BadMoney,
            format!("{field}.amount_minor"),
            format!("must be greater than zero, got {minor}"),
        );
    } else if minor > MAX_AMOUNT_MINOR {
        violations.add_as(
            Problem::BadMoney,
            format!("{field}.amount_minor"),
            format!("must be at most {MAX_AMOUNT_MINOR} minor units, got {minor}"),
        );
    }
    match currency {
        Some(currency) if violations.is_empty() => Ok(Money { minor, currency }),
        _ => Err(violations),
    }
}

/// How many units of `to` one unit of `from` is worth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExchangeRate {
    /// Converted from.
    pub from: Currency,
    /// Converted to.
    pub to: Currency,
    /// Units of `to` per unit of `from`, finite and greater than zero.
    pub rate: f64,
}

/// `x` rounded to the nearest integer, halves up: `floor(x + 0.5)`, which SQL computes the
/// same way on every engine (the database adds up per-deal conversions and weights with it).
/// Saturates at the ends of `i64`; NaN is 0.
pub fn round_half_up(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

/// One amount of minor units converted at `rate` (target minor units per minor unit), halves
/// up, capped at the amount ceiling: sums of converted amounts stay as far from overflow as sums
/// of entered ones, where a huge (but finite) rate would make each saturate at `i64::MAX`.
pub fn convert_minor(minor: i64, rate: f64) -> i64 {
    round_half_up(minor as f64 * rate).clamp(-MAX_AMOUNT_MINOR, MAX_AMOUNT_MINOR)
}

/// Converts minor units between currencies with a table of rates per major unit (either
/// direction of a pair serves), minding each currency's minor-unit digits.
pub fn convert(minor: i64, from: Currency, to: Currency, rates: &[ExchangeRate]) -> Option<i64> {
    if from == to {
        return Some(minor); // exact beyond 2^53, where a double is not
    }
    minor_unit_rate(from, to, rates).map(|rate| convert_minor(minor, rate))
}

/// How many minor units of `to` one minor unit of `from` is worth, if a rate serves.
pub fn minor_unit_rate(from: Currency, to: Currency, rates: &[ExchangeRate]) -> Option<f64> {
    if from == to {
        return Some(1.0);
    }
    let rate = rates
        .iter()
        .find(|r| r.from == from && r.to == to)
        .map(|r| r.rate)
        .or_else(|| {
            rates
                .iter()
                .find(|r| r.from == to && r.to == from)
                .map(|r| 1.0 / r.rate)
        })?;
    Some(rate * 10f64.powi(to.minor_digits() - from.minor_digits()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_list_is_sorted_with_one_space_between_codes() {
        let codes: Vec<&str> = ISO_4217.split(' ').collect();
        assert!(codes.iter().all(|c| c.len() == 3));
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_listed_code_parses_and_nothing_else_does() {
        for code in ISO_4217.split(' ') {
            assert_eq!(
                Currency::parse(code).map(|c| c.code().to_string()),
                Some(code.into())
            );
        }
        for code in ["AAA", "ZZZ", "usd", "US", "USDX", "XAU", "AEE", "ZWH"] {
            assert_eq!(Currency::parse(code), None, "{code}");
        }
    }

    #[test]
    fn halves_round_up_as_the_database_rounds_them() {
        assert_eq!(round_half_up(2.5), 3);
        assert_eq!(round_half_up(0.5), 1);
        assert_eq!(round_half_up(2.499_999), 2);
        assert_eq!(round_half_up(0.0), 0);
        assert_eq!(round_half_up(1e300), i64::MAX, "saturates");
        // 5 cents at 1.1 is 5.5, 15 cents 16.5 (a hair above in binary): both round up.
        assert_eq!(convert_minor(5, 1.1), 6);
        assert_eq!(convert_minor(15, 1.1), 17);
    }

    #[test]
    fn a_converted_amount_never_exceeds_the_amount_ceiling() {
        let rates = [ExchangeRate {
            from: Currency::EUR,
            to: Currency::USD,
            rate: 1e300,
        }];
        let usd = convert(MAX_AMOUNT_MINOR, Currency::EUR, Currency::USD, &rates);
        assert_eq!(usd, Some(MAX_AMOUNT_MINOR));
        assert_eq!(
            convert(1, Currency::USD, Currency::EUR, &rates),
            Some(0),
            "the other direction rounds to nothing"
        );
    }

    #[test]
    fn conversion_uses_either_direction_of_a_pair_and_refuses_a_missing_one() {
        let rates = [ExchangeRate {
            from: Currency::EUR,
            to: Currency::USD,
            rate: 1.25,
        }];
        assert_eq!(
            convert(100, Currency::EUR, Currency::USD, &rates),
            Some(125)
        );
        assert_eq!(
            convert(125, Currency::USD, Currency::EUR, &rates),
            Some(100)
        );
        assert_eq!(convert(7, Currency::USD, Currency::USD, &[]), Some(7));
        assert_eq!(convert(100, Currency::GBP, Currency::USD, &rates), None);
        let yen = Currency::parse("JPY").unwrap();
        let to_yen = [ExchangeRate {
            from: Currency::USD,
            to: yen,
            rate: 150.0,
        }];
        assert_eq!(
            convert(1_000, Currency::USD, yen, &to_yen),
            Some(1_500),
            "$10.00 is 1500 yen"
        );
    }

    #[test]
    fn known_codes_parse_and_others_do_not() {
        assert_eq!(Currency::parse("EUR").unwrap().code(), "EUR");
        for bad in ["eur", "EURO", "XYZ", "", "US", "ÉUR"] {
            assert!(Currency::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn amounts_must_be_positive_and_bounded() {
        assert!(parse_positive("amount", 1, "USD").is_ok());
        let err = parse_positive("amount", 0, "usd").unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["amount.currency_code", "amount.amount_minor"]);
        assert!(parse_positive("amount", MAX_AMOUNT_MINOR + 1, "USD").is_err());
        assert!(parse_positive("amount", -5, "USD").is_err());
    }
}
