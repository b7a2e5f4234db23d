//! The answer to an import refused for bad rows: how many rows are bad (not how many problems
//! they have), and each row's problems in file and line order, capped per row so that one
//! broken row cannot hide the others.

use super::{Location, RowError, sort_errors};
use crate::domain::money::group_thousands;

/// Problems listed per row (or file) before the rest are counted.
pub const LISTED_PER_ROW: usize = 5;

/// An import's bad rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRows {
    /// Rows (or files, or the mapping) with at least one problem.
    pub rows: usize,
    /// Problems in all.
    pub problems: usize,
    /// Data rows read, when the files could be read.
    pub rows_read: Option<usize>,
    /// Each row's problems in order, at most [`LISTED_PER_ROW`] of each, then one saying how
    /// many more the row has.
    pub listed: Vec<RowError>,
}

impl BadRows {
    /// Counts and lists `errors`, ordered by file (in the order `files` names them) and line.
    pub fn new(mut errors: Vec<RowError>, files: &[&str], rows_read: Option<usize>) -> Self {
        sort_errors(&mut errors, files);
        let problems = errors.len();
        let mut rows = 0;
        let mut listed = Vec::new();
        let mut at_row: Option<(Location, usize)> = None;
        for error in errors {
            let seen = match &mut at_row {
                Some((at, seen)) if *at == error.at => {
                    *seen += 1;
                    *seen
                }
                _ => {
                    close_row(&mut listed, at_row.take());
                    rows += 1;
                    at_row = Some((error.at.clone(), 1));
                    1
                }
            };
            if seen <= LISTED_PER_ROW {
                listed.push(error);
            }
        }
        close_row(&mut listed, at_row);
        BadRows {
            rows,
            problems,
            rows_read,
            listed,
        }
    }

    /// `23 bad rows (31 problems) of 23,811 read; nothing was imported`.
    pub fn summary(&self) -> String {
        let rows = match self.rows {
            1 => "1 bad row".to_string(),
            n => format!("{} bad rows", group_thousands(n as u64)),
        };
        let problems = match self.problems {
            1 => "1 problem".to_string(),
            n => format!("{} problems", group_thousands(n as u64)),
        };
        let read = self
            .rows_read
            .map(|n| format!(" of {} read", group_thousands(n as u64)))
            .unwrap_or_default();
        format!("{rows} ({problems}){read}; nothing was imported")
    }
}

/// After a row's listed problems, how many more it has.
fn close_row(listed: &mut Vec<RowError>, row: Option<(Location, usize)>) {
    if let Some((at, seen)) = row
        && seen > LISTED_PER_ROW
    {
        listed.push(RowError::new(
            &at,
            "",
            format!("and {} more problems on this row", seen - LISTED_PER_ROW),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(line: u64, column: &str) -> RowError {
        RowError::new(&Location::line("deals.csv", line), column, "is bad")
    }

    #[test]
    fn bad_rows_count_rows_not_problems() {
        let bad = BadRows::new(
            vec![e(3, "amount"), e(2, "stage"), e(3, "owner"), e(9, "name")],
            &["deals.csv"],
            Some(23_811),
        );
        assert_eq!((bad.rows, bad.problems), (3, 4));
        assert_eq!(
            bad.summary(),
            "3 bad rows (4 problems) of 23,811 read; nothing was imported"
        );
        let lines: Vec<String> = bad.listed.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "deals.csv:2: stage: is bad",
                "deals.csv:3: amount: is bad",
                "deals.csv:3: owner: is bad",
                "deals.csv:9: name: is bad",
            ]
        );
    }

    #[test]
    fn a_rows_problems_are_listed_up_to_five_then_counted() {
        let mut errors: Vec<RowError> = (0..8).map(|i| e(4, &format!("c{i}"))).collect();
        errors.push(e(5, "stage"));
        let bad = BadRows::new(errors, &["deals.csv"], None);
        assert_eq!((bad.rows, bad.problems), (2, 9));
        let lines: Vec<String> = bad.listed.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "deals.csv:4: c0: is bad",
                "deals.csv:4: c1: is bad",
                "deals.csv:4: c2: is bad",
                "deals.csv:4: c3: is bad",
                "deals.csv:4: c4: is bad",
                "deals.csv:4: and 3 more problems on this row",
                "deals.csv:5: stage: is bad",
            ]
        );
        assert_eq!(
            bad.summary(),
            "2 bad rows (9 problems); nothing was imported"
        );
    }

    #[test]
    fn one_bad_row_reads_in_the_singular() {
        let bad = BadRows::new(vec![e(2, "stage")], &["deals.csv"], Some(1));
        assert_eq!(
            bad.summary(),
            "1 bad row (1 problem) of 1 read; nothing was imported"
        );
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(999), "999");
    }
}
