//! The CSV mechanics every reader shares: headers matched loosely against a format's columns
//! (with aliases, or as the mapping's `columns` says), headers that collide refused, required
//! columns checked once per file, and each record deserialised (serde) with the line it starts
//! on, so every problem names file, line and column.

use csv::{ReaderBuilder, StringRecord, Trim};
use serde::de::DeserializeOwned;

use super::values::loose;
use super::{Location, ReadOptions, RowError, SourceFile};

/// A column a format knows: its name in the row struct and the headers that mean it.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The field name of the row struct (and the name errors use).
    pub name: &'static str,
    /// Headers meaning this column, compared loosely ([`loose`]).
    pub headers: &'static [&'static str],
    /// Whether a file without it is refused.
    pub required: bool,
}

/// A required column.
pub const fn required(name: &'static str, headers: &'static [&'static str]) -> Column {
    Column {
        name,
        headers,
        required: true,
    }
}

/// An optional column.
pub const fn optional(name: &'static str, headers: &'static [&'static str]) -> Column {
    Column {
        name,
        headers,
        required: false,
    }
}

/// The line a record starts on. The csv crate counts a line when it reads its `\n`, and a
/// record after a `\r\n` starts on that `\n` (the `\r` ended the record before): the line
/// count is then one short, so Excel's and Data Loader's CRLF files would name the line above.
pub fn record_line(bytes: &[u8], position: Option<&csv::Position>) -> u64 {
    position.map_or(0, |p| {
        let at_newline = usize::try_from(p.byte())
            .ok()
            .and_then(|b| bytes.get(b))
            .is_some_and(|b| *b == b'\n');
        p.line() + u64::from(at_newline)
    })
}

/// One file's table, headers resolved.
pub struct Table<'a> {
    file: &'a SourceFile,
    /// The bytes read (after any byte-order mark), for [`record_line`].
    bytes: &'a [u8],
    reader: csv::Reader<&'a [u8]>,
    /// The headers renamed to the format's column names (unknown ones kept, marked).
    headers: StringRecord,
    /// The headers as written in the file.
    pub raw_headers: Vec<String>,
    /// Columns fed by a header of another name (the mapping's `columns`): the names a reader
    /// gives the column in its errors, and the header to name instead.
    renamed: Vec<(Vec<&'static str>, String)>,
}

/// The header line of a (decoded) file, trimmed; empty when it has none.
pub fn headers(file: &SourceFile) -> Vec<String> {
    ReaderBuilder::new()
        .trim(Trim::All)
        .from_reader(file.bytes.as_slice())
        .headers()
        .map(|h| h.iter().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The header `wanted` names: the one written exactly so, else the only one equal to it once
/// case and punctuation are ignored.
pub fn header_index(headers: &[String], wanted: &str) -> Option<usize> {
    let wanted = wanted.trim();
    headers.iter().position(|h| h == wanted).or_else(|| {
        let key = loose(wanted);
        let mut found = headers.iter().enumerate().filter(|(_, h)| loose(h) == key);
        match (found.next(), found.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    })
}

/// Opens `file`, resolving its headers against `columns` (the mapping's `columns` first, then
/// by name); `None` (with the errors recorded) when it cannot be read, lacks a required column,
/// or has two headers for one column that the mapping does not settle.
pub fn open<'a>(
    file: &'a SourceFile,
    columns: &[Column],
    options: &ReadOptions,
    errors: &mut Vec<RowError>,
) -> Option<Table<'a>> {
    let bytes = file
        .bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&file.bytes);
    let mut reader = ReaderBuilder::new()
        .trim(Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let header_line = Location::line(&file.name, 1);
    let raw = match reader.headers() {
        Ok(raw) if raw.iter().any(|h| !h.is_empty()) => raw.clone(),
        Ok(_) => {
            errors.push(RowError::new(
                &Location::file(&file.name),
                "",
                "is empty: expected a header line",
            ));
            return None;
        }
        Err(err) => {
            errors.push(RowError::new(
                &header_line,
                "",
                format!("cannot read the header line: {err}"),
            ));
            return None;
        }
    };
    let raw_headers: Vec<String> = raw.iter().map(str::to_string).collect();
    let (feeds, taken) = resolve(&raw_headers, columns, options, &header_line, errors)?;
    let headers: StringRecord = raw_headers
        .iter()
        .zip(&feeds)
        .map(|(header, feeds)| match feeds {
            Some(i) => columns[*i].name.to_string(),
            // Not a column of ours (or a second header for one): ignored by the rows.
            None => format!("?{header}"),
        })
        .collect();
    let mut complete = true;
    for (column, taken) in columns.iter().zip(&taken) {
        if column.required && !taken {
            complete = false;
            errors.push(RowError::new(
                &header_line,
                column.headers[0],
                format!(
                    "missing column (a header named {}, or the header the mapping's \"columns\" \
                     names for {})",
                    column
                        .headers
                        .iter()
                        .map(|h| format!("{h:?}"))
                        .collect::<Vec<_>>()
                        .join(" or "),
                    column.name
                ),
            ));
        }
    }
    let renamed = feeds
        .iter()
        .zip(&raw_headers)
        .filter_map(|(feeds, header)| {
            let column = &columns[(*feeds)?];
            let key = loose(header);
            (!column.headers.iter().any(|h| loose(h) == key)).then(|| {
                let mut labels = column.headers.to_vec();
                labels.push(column.name);
                (labels, header.clone())
            })
        })
        .collect();
    complete.then_some(Table {
        file,
        bytes,
        reader,
        headers,
        raw_headers,
        renamed,
    })
}

/// Which column each header feeds (`None`: none), and which columns are fed: first the
/// mapping's `columns`, then each header by name (a column's first header wins). Two headers
/// that are one name once case and punctuation are ignored, for a column the mapping does not
/// settle, are refused (`None`): reading either would be a guess.
fn resolve(
    raw: &[String],
    columns: &[Column],
    options: &ReadOptions,
    header_line: &Location,
    errors: &mut Vec<RowError>,
) -> Option<(Vec<Option<usize>>, Vec<bool>)> {
    let mut feeds: Vec<Option<usize>> = vec![None; raw.len()];
    let mut taken = vec![false; columns.len()];
    for (i, column) in columns.iter().enumerate() {
        let named = options
            .columns
            .get(column.name)
            .and_then(|wanted| header_index(raw, wanted));
        if let Some(h) = named.filter(|h| feeds[*h].is_none()) {
            feeds[h] = Some(i);
            taken[i] = true;
        }
    }
    let column_of = |key: &str, taken: &[bool]| {
        columns
            .iter()
            .enumerate()
            .find(|(i, c)| !taken[*i] && c.headers.iter().any(|h| loose(h) == key))
            .map(|(i, _)| i)
    };
    let mut collided = false;
    for (h, header) in raw.iter().enumerate() {
        let key = loose(header);
        let twin = raw[..h]
            .iter()
            .enumerate()
            .find(|(t, other)| feeds[*t].is_none() && loose(other) == key);
        if let (Some((_, twin)), None, Some(i)) = (twin, feeds[h], column_of(&key, &taken)) {
            collided = true;
            let name = columns[i].name;
            errors.push(RowError::new(
                header_line,
                twin,
                format!(
                    "{twin:?} and {header:?} are one column once case and punctuation are \
                     ignored: say which feeds {name} in the mapping, e.g. \"columns\": \
                     {{\"{name}\": {header:?}}}"
                ),
            ));
        }
    }
    if collided {
        return None;
    }
    for (h, header) in raw.iter().enumerate() {
        if feeds[h].is_some() {
            continue;
        }
        if let Some(i) = column_of(&loose(header), &taken) {
            taken[i] = true;
            feeds[h] = Some(i);
        }
    }
    Some((feeds, taken))
}

impl Table<'_> {
    /// Errors about a column the mapping's `columns` feeds from another header name that
    /// header, as the file writes it (`engage_date`, not `created_at`).
    fn name_source_headers(&self, errors: &mut [RowError]) {
        for error in errors {
            if let Some((_, header)) = self
                .renamed
                .iter()
                .find(|(labels, _)| labels.contains(&error.column.as_str()))
            {
                error.column.clone_from(header);
            }
        }
    }

    /// Whether the file has the column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h == name)
    }

    /// Calls `row` with each record deserialised as `T`, its location, its raw fields and the
    /// error list; records the CSV cannot give (wrong field count, bad UTF-8) are errors.
    /// Returns how many data rows there were.
    pub fn rows<T: DeserializeOwned>(
        mut self,
        errors: &mut Vec<RowError>,
        mut row: impl FnMut(Location, T, &StringRecord, &mut Vec<RowError>),
    ) -> usize {
        let mut count = 0;
        let mut record = StringRecord::new();
        loop {
            match self.reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    count += 1;
                    let line = record_line(self.bytes, record.position());
                    let at = Location::line(&self.file.name, line);
                    if record.iter().all(str::is_empty) {
                        continue;
                    }
                    let before = errors.len();
                    match record.deserialize::<T>(Some(&self.headers)) {
                        Ok(value) => row(at, value, &record, errors),
                        Err(err) => errors.push(RowError::new(&at, "", err.to_string())),
                    }
                    self.name_source_headers(&mut errors[before..]);
                }
                Err(err) => {
                    count += 1;
                    let line = record_line(self.bytes, err.position());
                    let reason = match err.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => format!("has {len} fields where the header has {expected_len}"),
                        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
                        _ => err.to_string(),
                    };
                    errors.push(RowError::new(
                        &Location::line(&self.file.name, line),
                        "",
                        reason,
                    ));
                    if !matches!(
                        err.kind(),
                        csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                    ) {
                        break;
                    }
                }
            }
        }
        count
    }
}

/// A required text field: trimmed, refused when empty.
pub fn text(
    at: &Location,
    column: &str,
    value: Option<String>,
    errors: &mut Vec<RowError>,
) -> Option<String> {
    match value {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            errors.push(RowError::new(at, column, "is empty"));
            None
        }
    }
}

/// An optional field parsed with `parse`; empty means `None`, a parse failure is an error.
pub fn parsed<T>(
    at: &Location,
    column: &str,
    value: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, String>,
    errors: &mut Vec<RowError>,
) -> Option<T> {
    let value = value.filter(|v| !v.is_empty())?;
    parse(value)
        .map_err(|why| errors.push(RowError::new(at, column, why)))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::FileKind;

    #[test]
    fn records_of_a_crlf_file_are_named_by_their_own_line() {
        for text in ["Id,Name\n1,a\n2,\n3,c\n", "Id,Name\r\n1,a\r\n2,\r\n3,c\r\n"] {
            let file = SourceFile {
                name: "f.csv".into(),
                kind: FileKind::GenericDeals,
                bytes: text.as_bytes().to_vec(),
            };
            let columns = [required("id", &["Id"]), required("name", &["Name"])];
            let mut errors = Vec::new();
            let table = open(&file, &columns, &ReadOptions::default(), &mut errors).unwrap();
            let mut lines = Vec::new();
            table.rows(&mut errors, |at, _: serde::de::IgnoredAny, _, _| {
                lines.extend(at.line)
            });
            assert_eq!(lines, [2, 3, 4], "{text:?}");
        }
    }
}
