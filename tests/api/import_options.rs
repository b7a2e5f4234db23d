//! The reading options of an import left out, one at a time, on both engines: each refusal
//! names file:line:column and the fix (issue 19). Also `ImportSettings.encoding` and the
//! `dealdesk import` command's `--encoding` and `--time-zone`.

use dealdesk::domain::directory::Role;
use dealdesk::proto::import_history_request::Part;
use dealdesk::startup::Application;
use tonic::Code;

use super::import::{
    CliDb, FIXTURES, counts, import, messages, mid_market, send, stored, violations,
};
use super::import_formats::{create_user, latam, latam_mapping, latam_sellers, lima};
use crate::contract_test;
use crate::helpers::violated_fields;

/// The mapping with `change` applied.
fn latam_mapping_with(
    change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> String {
    let mut mapping = latam_mapping();
    change(mapping.as_object_mut().unwrap());
    mapping.to_string()
}

contract_test!(
    each_reading_option_left_out_is_a_refusal_naming_file_line_column_and_the_fix,
    configure = |a: Application| a.with_calendar(lima()),
    |app| {
        latam_sellers(&app).await;
        let pipeline = mid_market(&app).await;
        let before = stored(&app).await;
        let files = latam("stage_history.csv");

        // No encoding: the first undecodable fields, a count, no knock-on errors.
        let status = import(
            &app,
            pipeline,
            &latam_mapping_with(|m| {
                m.remove("encoding");
            }),
            &files,
        )
        .await
        .unwrap_err();
        let advice = "it is probably Windows-1252, as Excel and Salesforce Data Loader write \
                      it: try --encoding windows-1252 (or \"encoding\": \"windows-1252\" in the \
                      mapping)";
        assert_eq!(
            status.message(),
            format!(
                "10 bad rows (12 problems); nothing was imported (first: deals.csv: is not valid \
                 UTF-8 in 14 fields of 5 rows (the first 5 are listed); {advice})"
            )
        );
        let found = violations(&status);
        assert_eq!(
            found[..2],
            [
                (
                    "deals.csv".to_string(),
                    format!(
                        "is not valid UTF-8 in 14 fields of 5 rows (the first 5 are listed); \
                         {advice}"
                    )
                ),
                (
                    "deals.csv:2".to_string(),
                    "owner: \"Mar\u{FFFD}a Jos\u{FFFD} Paredes\" is not valid UTF-8 (try \
                     --encoding windows-1252)"
                        .to_string()
                )
            ]
        );
        assert_eq!(found.len(), 12, "{found:?}");
        assert!(
            found
                .iter()
                .all(|(_, d)| !d.contains("not a deal of the deals file")),
            "{found:?}"
        );

        // No `columns`: the two loss-reason headers collide.
        let status = import(
            &app,
            pipeline,
            &latam_mapping_with(|m| {
                m.remove("columns");
            }),
            &files,
        )
        .await
        .unwrap_err();
        assert_eq!(
            violations(&status),
            [(
                "deals.csv:1".to_string(),
                "Loss_Reason: \"Loss_Reason\" and \"LossReason\" are one column once case and \
                 punctuation are ignored: say which feeds loss_reason in the mapping, e.g. \
                 \"columns\": {\"loss_reason\": \"LossReason\"}"
                    .to_string()
            )]
        );

        // No rounding: each amount with a third decimal, with its value.
        let status = import(
            &app,
            pipeline,
            &latam_mapping_with(|m| {
                m.remove("round_amounts");
            }),
            &files,
        )
        .await
        .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            [
                "deals.csv:2",
                "deals.csv:4",
                "stage_history.csv:4",
                "stage_history.csv:5",
                "stage_history.csv:6",
                "stage_history.csv:7",
                "stage_history.csv:13",
            ]
        );
        assert_eq!(
            violations(&status)[0].1,
            "amount: \"15200.125\" has more decimals than PEN has (2): round it in the export, \
             or set \"round_amounts\": true in the mapping"
        );

        // Month-first dates where the export writes day-first ones.
        let status = import(
            &app,
            pipeline,
            &latam_mapping_with(|m| {
                m.insert("date_format".into(), "%m/%d/%Y %H:%M".into());
            }),
            &files,
        )
        .await
        .unwrap_err();
        let found = violations(&status);
        assert_eq!(
            found[0],
            (
                "deals.csv:2".to_string(),
                "close_date: \"28/02/2023\" does not match the date format \"%m/%d/%Y %H:%M\" \
                 (the mapping's \"date_format\")"
                    .to_string()
            )
        );
        assert_eq!(stored(&app).await, before, "nothing written");
    }
);

contract_test!(
    the_encoding_setting_reads_the_files_and_an_unknown_one_is_refused,
    configure = |a: Application| a.with_calendar(lima()),
    |app| {
        latam_sellers(&app).await;
        let pipeline = mid_market(&app).await;
        let without = latam_mapping_with(|m| {
            m.remove("encoding");
        });
        let with_setting = |encoding: &str| {
            let mut m = messages(pipeline, &without, &latam("stage_history.csv"), true);
            if let Some(Part::Settings(settings)) = &mut m[0].part {
                settings.encoding = encoding.into();
            }
            m
        };
        let status = send(&app, &app.admin_token, with_setting("ebcdic"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), ["settings.encoding"]);
        let report = send(&app, &app.admin_token, with_setting("Windows-1252"))
            .await
            .unwrap();
        assert_eq!(counts(&report), (19, 0, 5, 0, 0, 14, 0));
    }
);

/// `dealdesk import generic` with `--encoding` and `--time-zone` on a SQLite file: refused
/// without the encoding (every listed problem, then the count), imported with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command_takes_the_encoding_and_the_orgs_time_zone() {
    let mut db = CliDb::new().await;
    for name in ["María José Paredes", "Andrés Núñez"] {
        create_user(&db.app, name, Role::Rep, None).await;
    }
    let mapping = db.scratch(
        "mapping.json",
        &latam_mapping_with(|m| {
            m.remove("encoding");
        }),
    );
    let run = |extra: &[&str]| {
        let (deals, history) = (
            format!("{FIXTURES}/latam/deals.csv"),
            format!("{FIXTURES}/latam/stage_history.csv"),
        );
        let mut args = vec![
            "generic",
            "--pipeline",
            &db.pipeline,
            "--mapping",
            &mapping,
            "--deals",
            &deals,
            "--history",
            &history,
        ];
        args.extend(extra);
        db.import(&args)
    };

    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{FIXTURES}/latam/deals.csv:2: owner: \"Mar\u{FFFD}a Jos\u{FFFD} Paredes\" is not \
             valid UTF-8 (try --encoding windows-1252)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{FIXTURES}/latam/deals.csv: is not valid UTF-8 in 14 fields of 5 rows"
        )),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("error: 10 bad rows (12 problems); nothing was imported"),
        "{err}"
    );

    let (code, out, err) = run(&["--encoding", "windows-1252", "--time-zone", "America/Lima"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("deals created              5"), "{out}");
    assert!(out.contains("stage changes added       14"), "{out}");
    assert!(
        out.contains(
            "left out or replaced (counted by value):\n  amount rounded half up to its \
             currency's decimals: '15200.125 PEN' 4, '22750.3349 PEN' 2, '14800.004 PEN' 1\n  \
             deal without an account: '' 1\n"
        ),
        "{out}"
    );
    let first = {
        use sea_orm::ConnectionTrait;
        let db = db.app.store.connection();
        db.query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT changed_at FROM stage_history ORDER BY changed_at LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<chrono::DateTime<chrono::Utc>>("", "changed_at")
        .unwrap()
    };
    assert_eq!(
        first.to_rfc3339(),
        "2023-01-05T14:15:00+00:00",
        "09:15 in Lima"
    );

    let (code, _, err) = run(&["--encoding", "ebcdic"]);
    assert_eq!(code, Some(2), "clap refuses it: {err}");
    assert!(
        err.contains("is not an encoding this import reads"),
        "{err}"
    );
}
