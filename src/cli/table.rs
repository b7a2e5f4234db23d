//! The small printer of readable answers: aligned tables, `label  value` fields, and the
//! forms of money (`USD 1,234,567.89`), dates, instants, rates and enum values in them.

use std::io::{self, Write};

use crate::domain::money::{Currency, group_thousands, major_units};
use crate::proto::Money;
use crate::proto::google::r#type::Date;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers and amounts.
    Right,
}

/// Rows under upper-case headers, columns two spaces apart, no trailing spaces.
#[derive(Debug)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table of these columns.
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row, one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the headers and rows.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let headers: Vec<String> = self.columns.iter().map(|(h, _)| h.to_string()).collect();
        let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(widths.len()) {
                widths[i] = widths[i].max(width(cell));
            }
        }
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, (_, align))) in row.iter().zip(&self.columns).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(widths[i] - width(cell));
                match align {
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&pad);
                    }
                    Align::Right => {
                        line.push_str(&pad);
                        line.push_str(cell);
                    }
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// Writes `label  value` lines with the values aligned; fields with an empty value are left
/// out.
pub fn write_fields(out: &mut dyn Write, fields: &[(&str, String)]) -> io::Result<()> {
    let shown: Vec<_> = fields.iter().filter(|(_, v)| !v.is_empty()).collect();
    let label_width = shown.iter().map(|(l, _)| width(l)).max().unwrap_or(0);
    for (label, value) in shown {
        let pad = " ".repeat(label_width - width(label));
        writeln!(out, "{label}{pad}  {value}")?;
    }
    Ok(())
}

/// Minor units of `currency` as `USD 1,234,567.89` (the currency's own decimals).
pub fn amount(currency: &str, minor: i64) -> String {
    let digits = Currency::parse(currency).map_or(2, |c| c.minor_digits()) as u32;
    format!("{currency} {}", major_units(minor, digits, true))
}

/// A Money as [`amount`]; empty when unset.
pub fn money(value: Option<&Money>) -> String {
    value.map_or_else(String::new, |m| amount(&m.currency_code, m.amount_minor))
}

/// A count with thousands separators.
pub fn count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", group_thousands(n.unsigned_abs()))
}

/// A date as `YYYY-MM-DD`; empty when unset.
pub fn date(value: Option<&Date>) -> String {
    value.map_or_else(String::new, |d| {
        format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
    })
}

/// An instant as `YYYY-MM-DD HH:MM UTC`; empty when unset.
pub fn instant(value: Option<&prost_types::Timestamp>) -> String {
    value
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// A probability as a percentage with one decimal (`37.3%`).
pub fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// Basis points as a percentage (`22.5%`).
pub fn bps(value: i32) -> String {
    format!("{:.1}%", f64::from(value) / 100.0)
}

/// An enum value's proto name without its prefix, lower case, words apart:
/// `FORECAST_CATEGORY_BEST_CASE` with prefix `FORECAST_CATEGORY_` is `best case`.
pub fn label(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_lowercase()
        .replace('_', " ")
}

/// "yes" or "no".
pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_prints_with_thousands_and_the_currencys_decimals() {
        assert_eq!(amount("USD", 123_456_789), "USD 1,234,567.89");
        assert_eq!(amount("USD", -5), "USD -0.05");
        assert_eq!(amount("JPY", 1_000_000), "JPY 1,000,000");
        assert_eq!(amount("KWD", 1_234_567), "KWD 1,234.567");
        assert_eq!(amount("USD", 0), "USD 0.00");
    }

    #[test]
    fn a_table_aligns_its_columns_and_trims_trailing_spaces() {
        let mut table = Table::new(&[("NAME", Align::Left), ("AMOUNT", Align::Right)]);
        table.row(vec!["Acme".into(), "USD 1.00".into()]);
        table.row(vec!["Globex Corp".into(), "USD 1,000.00".into()]);
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME               AMOUNT\n\
             Acme             USD 1.00\n\
             Globex Corp  USD 1,000.00\n"
        );
    }

    #[test]
    fn an_enum_label_drops_its_prefix() {
        assert_eq!(
            label("FORECAST_CATEGORY_BEST_CASE", "FORECAST_CATEGORY_"),
            "best case"
        );
    }
}
