use super::*;

/// Encodings, colliding headers, `columns`, dates and the generic CSV's defaults, read
/// through [`read`].
mod reading;

fn file(name: &str, kind: FileKind) -> SourceFile {
    SourceFile {
        name: name.into(),
        kind,
        bytes: Vec::new(),
    }
}

#[test]
fn an_import_needs_exactly_one_deals_file_of_one_format() {
    let read = |files: &[SourceFile]| read(files.to_vec(), &ReadOptions::default());
    let none = read(&[file("h.csv", FileKind::SalesforceOpportunityHistory)]).unwrap_err();
    assert!(
        none[0].reason.contains("exactly one deals file"),
        "{none:?}"
    );
    let mixed = read(&[
        file("o.csv", FileKind::SalesforceOpportunity),
        file("h.csv", FileKind::GenericStageHistory),
    ])
    .unwrap_err();
    assert_eq!(mixed[0].at, Location::file("h.csv"));
    assert!(mixed[0].reason.contains("another format"));
}

#[test]
fn a_role_file_needs_the_user_file() {
    let err = read(
        vec![
            file("o.csv", FileKind::SalesforceOpportunity),
            file("r.csv", FileKind::SalesforceUserRole),
        ],
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err[0].to_string(),
        "files: the UserRole file gives managers to the User file's users: send the User \
             file too"
    );
}

#[test]
fn errors_sort_by_file_then_line() {
    let e =
        |file: &str, line, column: &str| RowError::new(&Location::line(file, line), column, "bad");
    let mut errors = vec![
        e("b.csv", 2, "X"),
        e("a.csv", 9, "Y"),
        e("a.csv", 3, "Z"),
        e("a.csv", 3, "A"),
        RowError::new(&Location::file("mapping"), "stages", "bad"),
    ];
    sort_errors(&mut errors, &["a.csv", "b.csv"]);
    let order: Vec<String> = errors
        .iter()
        .map(|e| format!("{}:{}", e.at, e.column))
        .collect();
    assert_eq!(
        order,
        [
            "mapping:stages",
            "a.csv:3:Z",
            "a.csv:3:A",
            "a.csv:9:Y",
            "b.csv:2:X"
        ]
    );
}

#[test]
fn errors_read_as_file_line_column_reason() {
    let e = RowError::new(&Location::line("Opportunity.csv", 7), "Amount", "is bad");
    assert_eq!(e.to_string(), "Opportunity.csv:7: Amount: is bad");
    let whole = RowError::new(&Location::file("mapping.json"), "", "is bad");
    assert_eq!(whole.to_string(), "mapping.json: is bad");
}
