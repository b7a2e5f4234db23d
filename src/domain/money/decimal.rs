//! Amounts in major units as people and exports write them (`1250.50`): read into a
//! [`Decimal`] and then into minor units, and minor units printed back ([`major_units`]).

use std::fmt;

/// A non-negative decimal number as written: digits with at most one point, no sign and no
/// separators (`123`, `123.4`, `.5`). Trailing zeros of the fraction are not decimals: `12.00`
/// is 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// The digits without the point (`12500050`).
    digits: u64,
    /// How many of them follow the point (`2`).
    scale: u32,
}

/// Why a text is not a [`Decimal`], in the order the rules are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not digits with at most one point.
    Malformed,
    /// More decimals (trailing zeros aside) than the reader allows.
    TooManyDecimals,
    /// More than `u64` holds.
    TooLarge,
}

/// Why a [`Decimal`] is not a whole number of minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitsError {
    /// It has more decimals than the unit has.
    TooManyDecimals,
    /// More units than `u64` holds.
    TooLarge,
}

impl Decimal {
    /// Reads `text`, refusing more than `max_scale` decimals (trailing zeros aside).
    pub fn parse(text: &str, max_scale: u32) -> Result<Decimal, DecimalError> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction)
        {
            return Err(DecimalError::Malformed);
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() as u32 > max_scale {
            return Err(DecimalError::TooManyDecimals);
        }
        let digits = format!("{whole}{fraction}");
        let digits = digits.trim_start_matches('0');
        let digits = if digits.is_empty() {
            0
        } else {
            digits.parse::<u64>().map_err(|_| DecimalError::TooLarge)?
        };
        Ok(Decimal {
            digits,
            scale: fraction.len() as u32,
        })
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.digits == 0
    }

    /// In units of 10^-`digits` (cents for 2). One with more decimals than that is refused,
    /// unless `round`: then it is rounded half up (it is never negative, so half up is half
    /// away from zero).
    pub fn units(self, digits: u32, round: bool) -> Result<u64, UnitsError> {
        if self.scale <= digits {
            10u64
                .checked_pow(digits - self.scale)
                .and_then(|factor| self.digits.checked_mul(factor))
                .ok_or(UnitsError::TooLarge)
        } else {
            let divisor = 10u64.pow(self.scale - digits);
            let (whole, rest) = (self.digits / divisor, self.digits % divisor);
            if rest != 0 && !round {
                return Err(UnitsError::TooManyDecimals);
            }
            Ok(whole + u64::from(rest * 2 >= divisor))
        }
    }
}

impl fmt::Display for Decimal {
    /// The number as a decimal (`10.005`), trailing zeros of the fraction left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = self.scale as usize;
        let digits = format!("{:0>width$}", self.digits, width = scale + 1);
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        if fraction.is_empty() {
            f.write_str(whole)
        } else {
            write!(f, "{whole}.{fraction}")
        }
    }
}

/// `minor` units of a currency of `digits` decimals in major units, every decimal shown:
/// `1234567.89`, or `1,234,567.89` when `grouped`; a negative amount's sign before its digits.
pub fn major_units(minor: i64, digits: u32, grouped: bool) -> String {
    let scale = 10u64.pow(digits);
    let magnitude = minor.unsigned_abs();
    let whole = if grouped {
        group_thousands(magnitude / scale)
    } else {
        (magnitude / scale).to_string()
    };
    let sign = if minor < 0 { "-" } else { "" };
    if digits == 0 {
        format!("{sign}{whole}")
    } else {
        let fraction = magnitude % scale;
        format!("{sign}{whole}.{fraction:0width$}", width = digits as usize)
    }
}

/// `1234567` as `1,234,567`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decimal_is_digits_with_at_most_one_point() {
        let parse = |text| Decimal::parse(text, 6);
        assert_eq!(
            parse("125000.50").map(|d| d.to_string()),
            Ok("125000.5".into())
        );
        assert_eq!(parse(".5").map(|d| d.to_string()), Ok("0.5".into()));
        assert_eq!(parse("1.").map(|d| d.to_string()), Ok("1".into()));
        for bad in ["", ".", "1.2.3", "12x", "1,250", "-5", " 1"] {
            assert_eq!(parse(bad), Err(DecimalError::Malformed), "{bad:?}");
        }
        assert_eq!(parse("1.0000001"), Err(DecimalError::TooManyDecimals));
        assert_eq!(
            parse("1.0000000000000000000000").map(|d| d.to_string()),
            Ok("1".into())
        );
        assert_eq!(parse("99999999999999999999"), Err(DecimalError::TooLarge));
    }

    #[test]
    fn units_are_exact_unless_rounding_is_asked_for() {
        let d = |text| Decimal::parse(text, 6).unwrap();
        assert_eq!(d("12.5").units(2, false), Ok(1_250));
        assert_eq!(d("12.00").units(0, false), Ok(12));
        assert_eq!(d("12.5").units(0, false), Err(UnitsError::TooManyDecimals));
        assert_eq!(d("12.5").units(0, true), Ok(13));
        assert_eq!(d("0.004999").units(2, true), Ok(0));
        assert_eq!(
            d("18446744073709551615").units(1, false),
            Err(UnitsError::TooLarge)
        );
    }

    #[test]
    fn minor_units_print_in_major_units_with_every_decimal() {
        assert_eq!(major_units(123_456_789, 2, true), "1,234,567.89");
        assert_eq!(major_units(123_456_789, 2, false), "1234567.89");
        assert_eq!(major_units(-5, 2, true), "-0.05");
        assert_eq!(major_units(1_000_000, 0, true), "1,000,000");
        assert_eq!(major_units(1_234_567, 3, false), "1234.567");
        assert_eq!(major_units(0, 2, false), "0.00");
    }
}
