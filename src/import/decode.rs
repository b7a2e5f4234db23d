//! A file's bytes as text. A byte-order mark decides (UTF-8, UTF-16LE, UTF-16BE); without one,
//! the encoding the import names (`--encoding`, `ImportSettings.encoding` or the mapping's
//! `encoding`), else UTF-8. Windows-1252 and UTF-16 are decoded by `encoding_rs` (the WHATWG
//! Encoding Standard, where ISO-8859-1 *is* Windows-1252: the labels name one decoder, which
//! also reads bytes 0x80-0x9F as the Windows characters `€`, `‘`, `’`...).
//!
//! A file that is not valid UTF-8 and names no encoding is refused whole: one error for the
//! file with the count and the advice to try `--encoding windows-1252`, then its first
//! undecodable fields by line and column. Reading its rows anyway would hide each row's other
//! checks and report rows of other files as knock-ons.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

use super::{Location, RowError, SourceFile};

/// The encodings an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8 (the default).
    Utf8,
    /// Windows-1252, as Excel and Salesforce Data Loader write on Western-European Windows;
    /// also what the label ISO-8859-1 means (WHATWG).
    Windows1252,
    /// UTF-16, little-endian unless a byte-order mark says big-endian.
    Utf16Le,
    /// UTF-16 big-endian (a byte-order mark still wins).
    Utf16Be,
}

/// The names [`TextEncoding::parse`] accepts, for messages.
pub const ENCODING_NAMES: &str = "utf-8, windows-1252, iso-8859-1, utf-16, utf-16le, utf-16be";

impl TextEncoding {
    /// Parses a name: `utf-8`, `windows-1252` (`cp1252`), `iso-8859-1` (`latin1`; read as
    /// Windows-1252), `utf-16` (little-endian unless a byte-order mark says otherwise),
    /// `utf-16le`, `utf-16be`; case, `-`, `_` and spaces aside.
    pub fn parse(name: &str) -> Result<TextEncoding, String> {
        let key: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Ok(match key.as_str() {
            "utf8" => TextEncoding::Utf8,
            "windows1252" | "cp1252" | "iso88591" | "latin1" => TextEncoding::Windows1252,
            "utf16" | "utf16le" => TextEncoding::Utf16Le,
            "utf16be" => TextEncoding::Utf16Be,
            _ => {
                return Err(format!(
                    "{name:?} is not an encoding this import reads ({ENCODING_NAMES})"
                ));
            }
        })
    }

    fn encoding(self) -> &'static Encoding {
        match self {
            TextEncoding::Utf8 => UTF_8,
            TextEncoding::Windows1252 => WINDOWS_1252,
            TextEncoding::Utf16Le => UTF_16LE,
            TextEncoding::Utf16Be => UTF_16BE,
        }
    }
}

/// Undecodable fields named one by one before the rest are only counted.
const LISTED_PER_FILE: usize = 5;

/// The file with its bytes as UTF-8 (no byte-order mark), or why it cannot be read.
pub fn decode(
    file: SourceFile,
    declared: Option<TextEncoding>,
) -> Result<SourceFile, Vec<RowError>> {
    let (encoding, bom) = match Encoding::for_bom(&file.bytes) {
        Some((encoding, bom)) => (encoding, bom),
        None => (declared.unwrap_or(TextEncoding::Utf8).encoding(), 0),
    };
    let whole = Location::file(&file.name);
    if encoding == UTF_8 {
        // Zeros are valid UTF-8, so UTF-16 would be read as headers no column has.
        if declared.is_none() && bom == 0 && looks_like_utf16(&file.bytes) {
            return Err(vec![RowError::new(
                &whole,
                "",
                "looks like UTF-16 without a byte-order mark: try --encoding utf-16 (or \
                 \"encoding\": \"utf-16\" in the mapping)",
            )]);
        }
        if std::str::from_utf8(&file.bytes[bom..]).is_ok() {
            let mut file = file;
            file.bytes.drain(..bom);
            return Ok(file);
        }
        return Err(undecodable(
            &file.name,
            &file.bytes[bom..],
            declared.is_some() || bom > 0,
        ));
    }
    let text = encoding
        .decode_without_bom_handling_and_without_replacement(&file.bytes[bom..])
        .ok_or_else(|| {
            vec![RowError::new(
                &whole,
                "",
                format!("is not valid {}", encoding.name()),
            )]
        })?
        .into_owned();
    Ok(SourceFile {
        bytes: text.into_bytes(),
        ..file
    })
}

/// UTF-16 text of mostly ASCII has a zero in every other byte of its first line.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64)];
    head.len() >= 4 && head.chunks(2).filter(|p| p.contains(&0)).count() * 2 >= head.len() / 2
}

/// The undecodable fields of a file that should be UTF-8: one error for the file, with the
/// count and the advice, then the first few fields by line and column (the header).
fn undecodable(name: &str, bytes: &[u8], named_utf8: bool) -> Vec<RowError> {
    let (advice, hint) = if named_utf8 {
        (
            "it is not the UTF-8 its byte-order mark or --encoding declares: export it again, or \
             name its real encoding with --encoding (or \"encoding\" in the mapping)",
            "",
        )
    } else {
        (
            "it is probably Windows-1252, as Excel and Salesforce Data Loader write it: try \
             --encoding windows-1252 (or \"encoding\": \"windows-1252\" in the mapping)",
            " (try --encoding windows-1252)",
        )
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut headers: Vec<String> = Vec::new();
    let mut listed = Vec::new();
    let (mut fields, mut rows) = (0usize, 0usize);
    while let Ok(true) = reader.read_byte_record(&mut record) {
        let line = super::table::record_line(bytes, record.position());
        if headers.is_empty() {
            headers = record
                .iter()
                .map(|h| String::from_utf8_lossy(h).trim().to_string())
                .collect();
        }
        let bad: Vec<(usize, &[u8])> = record
            .iter()
            .enumerate()
            .filter(|(_, field)| std::str::from_utf8(field).is_err())
            .collect();
        fields += bad.len();
        rows += usize::from(!bad.is_empty());
        for (i, field) in bad {
            if listed.len() == LISTED_PER_FILE {
                break;
            }
            let column = headers
                .get(i)
                .filter(|_| line > 1)
                .cloned()
                .unwrap_or_else(|| format!("header {}", i + 1));
            let value = String::from_utf8_lossy(field);
            listed.push(RowError::new(
                &Location::line(name, line),
                &column,
                format!("{:?} is not valid UTF-8{hint}", value.trim()),
            ));
        }
    }
    let plural = |n: usize, what: &str| match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    };
    let count = match fields {
        0 => String::new(),
        n if n > listed.len() => format!(
            " in {} of {} (the first {} are listed)",
            plural(n, "field"),
            plural(rows, "row"),
            listed.len()
        ),
        n => format!(" in {} of {}", plural(n, "field"), plural(rows, "row")),
    };
    let mut errors = vec![RowError::new(
        &Location::file(name),
        "",
        format!("is not valid UTF-8{count}; {advice}"),
    )];
    errors.extend(listed);
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::FileKind;

    fn file(bytes: &[u8]) -> SourceFile {
        SourceFile {
            name: "Opportunity.csv".into(),
            kind: FileKind::SalesforceOpportunity,
            bytes: bytes.to_vec(),
        }
    }

    fn text(bytes: &[u8], declared: Option<TextEncoding>) -> String {
        String::from_utf8(decode(file(bytes), declared).unwrap().bytes).unwrap()
    }

    #[test]
    fn encoding_names_are_read_loosely_and_iso_8859_1_is_windows_1252() {
        assert_eq!(TextEncoding::parse("UTF-8"), Ok(TextEncoding::Utf8));
        assert_eq!(
            TextEncoding::parse("windows-1252"),
            Ok(TextEncoding::Windows1252)
        );
        assert_eq!(
            TextEncoding::parse("ISO-8859-1"),
            Ok(TextEncoding::Windows1252)
        );
        assert_eq!(TextEncoding::parse("latin1"), Ok(TextEncoding::Windows1252));
        assert_eq!(TextEncoding::parse("utf_16"), Ok(TextEncoding::Utf16Le));
        assert_eq!(TextEncoding::parse("UTF-16BE"), Ok(TextEncoding::Utf16Be));
        assert_eq!(
            TextEncoding::parse("ebcdic").unwrap_err(),
            "\"ebcdic\" is not an encoding this import reads (utf-8, windows-1252, iso-8859-1, \
             utf-16, utf-16le, utf-16be)"
        );
    }

    #[test]
    fn windows_1252_bytes_decode_when_the_encoding_is_named() {
        // "Negociación" and "€" as Windows-1252 writes them.
        let bytes = b"StageName,Amount\nNegociaci\xf3n,\x80 10\n";
        assert_eq!(
            text(bytes, Some(TextEncoding::Windows1252)),
            "StageName,Amount\nNegociación,€ 10\n"
        );
        assert_eq!(
            text(
                b"Name\nS\xe3o Paulo\n",
                Some(TextEncoding::parse("iso-8859-1").unwrap())
            ),
            "Name\nSão Paulo\n"
        );
    }

    #[test]
    fn byte_order_marks_decide_utf_8_and_utf_16_in_either_order() {
        assert_eq!(text(b"\xEF\xBB\xBFId\n1\n", None), "Id\n1\n");
        let utf16 = |big: bool| {
            let mut bytes = if big {
                vec![0xFE, 0xFF]
            } else {
                vec![0xFF, 0xFE]
            };
            for unit in "Id,Stage\n1,Negociación\n".encode_utf16() {
                bytes.extend(if big {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                });
            }
            bytes
        };
        assert_eq!(text(&utf16(false), None), "Id,Stage\n1,Negociación\n");
        assert_eq!(text(&utf16(true), None), "Id,Stage\n1,Negociación\n");
        // The mark wins over a named encoding.
        assert_eq!(
            text(&utf16(true), Some(TextEncoding::Windows1252)),
            "Id,Stage\n1,Negociación\n"
        );
    }

    #[test]
    fn utf_16_without_a_mark_is_read_when_named_and_recognised_when_not() {
        let bytes: Vec<u8> = "Id\n1\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(text(&bytes, Some(TextEncoding::Utf16Le)), "Id\n1\n");
        let err = decode(file(&bytes), None).unwrap_err();
        assert_eq!(
            err[0].to_string(),
            "Opportunity.csv: looks like UTF-16 without a byte-order mark: try --encoding utf-16 \
             (or \"encoding\": \"utf-16\" in the mapping)"
        );
    }

    #[test]
    fn invalid_utf_8_names_the_line_and_column_and_says_to_try_windows_1252() {
        let err = decode(
            file(b"Id,StageName\r\n006A,Negociaci\xf3n\r\n006B,Prospecting\r\n"),
            None,
        )
        .unwrap_err();
        let found: Vec<String> = err.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "Opportunity.csv: is not valid UTF-8 in 1 field of 1 row; it is probably Windows-1252, as Excel and Salesforce Data Loader write \
                 it: try --encoding windows-1252 (or \"encoding\": \"windows-1252\" in the mapping)",
                "Opportunity.csv:2: StageName: \"Negociaci\u{FFFD}n\" is not valid UTF-8 (try \
                 --encoding windows-1252)"
            ]
        );
    }

    #[test]
    fn a_file_of_many_undecodable_rows_gives_a_few_errors_and_a_count() {
        let mut bytes = b"Id,Name,StageName\n".to_vec();
        for i in 0..2000 {
            bytes.extend(format!("006{i},Se\u{F1}or,").as_bytes());
            bytes.extend(b"Negociaci\xf3n\n");
        }
        let err = decode(file(&bytes), None).unwrap_err();
        assert_eq!(err.len(), 1 + LISTED_PER_FILE);
        assert!(
            err[0].reason.starts_with(
                "is not valid UTF-8 in 2000 fields of 2000 rows (the first 5 are listed)"
            ),
            "{err:?}"
        );
        assert_eq!(err[1].at, Location::line("Opportunity.csv", 2));
        assert_eq!(err[5].at, Location::line("Opportunity.csv", 6));
    }

    #[test]
    fn a_file_that_says_utf_8_and_is_not_is_refused_without_guessing() {
        let err = decode(file(b"\xEF\xBB\xBFId,Name\n1,Se\xf1al\n"), None).unwrap_err();
        assert!(
            err[0]
                .reason
                .contains("it is not the UTF-8 its byte-order mark or --encoding declares"),
            "{err:?}"
        );
        assert_eq!(
            err[1].to_string(),
            "Opportunity.csv:2: Name: \"Se\u{FFFD}al\" is not valid UTF-8"
        );
    }

    #[test]
    fn a_bad_header_is_named_by_its_position() {
        let err = decode(file(b"Id,Etapa\xf1\n1,x\n"), None).unwrap_err();
        assert_eq!(err[1].at, Location::line("Opportunity.csv", 1));
        assert_eq!(err[1].column, "header 2");
    }
}
