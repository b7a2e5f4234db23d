//! The binary's `import` command: progress, bad files, what it left out.

use super::*;

/// `dealdesk import` on a SQLite file: a dry run, the import with progress on stderr, and a
/// bad file refused with every bad row and exit status 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command_shows_progress_and_refuses_bad_files() {
    let db = CliDb::new().await;
    let run = |opportunities: &str, history: &str, dry_run: bool| {
        let (mapping, opportunities, history, users) = (
            format!("{FIXTURES}/salesforce/mapping.json"),
            format!("{FIXTURES}/salesforce/{opportunities}"),
            format!("{FIXTURES}/salesforce/{history}"),
            format!("{FIXTURES}/salesforce/User.csv"),
        );
        let mut args = vec![
            "salesforce",
            "--pipeline",
            &db.pipeline,
            "--mapping",
            &mapping,
            "--opportunities",
            &opportunities,
            "--history",
            &history,
            "--users",
            &users,
        ];
        if dry_run {
            args.push("--dry-run");
        }
        db.import(&args)
    };

    let (code, out, err) = run("Opportunity.csv", "OpportunityHistory.csv", true);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("dry run (nothing written): source salesforce"),
        "{out}"
    );
    assert!(err.contains("read 52 rows"), "{err}");
    assert!(
        err.contains("checked: 9 deals to write, 33 stage changes, 4 users to create"),
        "{err}"
    );
    assert_eq!(db.deals().await, 0);

    let (code, out, err) = run("Opportunity.csv", "OpportunityHistory.csv", false);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("writing deals: 9/9 (100%)"), "{err}");
    assert!(err.contains("committed"), "{err}");
    assert!(out.contains("deals created              9"), "{out}");
    assert_eq!(db.deals().await, 9);

    let (code, _, err) = run("bad/Opportunity.csv", "bad/OpportunityHistory.csv", false);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "{FIXTURES}/salesforce/bad/Opportunity.csv:3: Amount: \"12,5x\" is not an amount"
        )),
        "{err}"
    );
    assert!(
        err.contains("error: 7 bad rows (7 problems) of 13 read; nothing was imported"),
        "{err}"
    );
    assert_eq!(db.deals().await, 9);
}

/// `dealdesk import hubspot`: a bad file refused with its bad rows counted, then the good one
/// imported with what it left out printed, counted by value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command_counts_hubspots_bad_rows_and_what_it_left_out() {
    let db = CliDb::new().await;
    ann_and_ben(&db.app).await;
    let run = |deals: &str| {
        db.import(&[
            "hubspot",
            "--pipeline",
            &db.pipeline,
            "--mapping",
            &format!("{FIXTURES}/hubspot/mapping.json"),
            "--deals",
            &format!("{FIXTURES}/hubspot/{deals}"),
        ])
    };

    let (code, _, err) = run("bad/deals.csv");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{FIXTURES}/hubspot/bad/deals.csv:3: ")),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("error: 4 bad rows (4 problems) of 5 read; nothing was imported"),
        "{err}"
    );

    let (code, out, err) = run("deals.csv");
    assert_eq!(code, Some(0), "{err}");
    for line in [
        "  deals created              4",
        "left out or replaced (counted by value):",
        "  deal of another source pipeline skipped: 'Renewals' 1",
        "  deal without an amount (zero or empty): '' 1",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} not in:\n{out}");
    }
}

/// `dealdesk import salesforce` with `--roles`, `--accounts` and `--encoding`: refused, with
/// the count of bad rows, while the two loss-reason headers collide; then the report prints
/// what was left out, counted by value, and the manager picked among a role's holders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command_reads_roles_and_accounts_and_prints_what_was_left_out() {
    let mut db = CliDb::new().await;
    let f = |name: &str| format!("{FIXTURES}/salesforce-latam/{name}");
    // The files' encoding comes from the command line here, not the mapping.
    let mut mapping_file = |name: &str, keep_columns: bool| {
        let mut m: serde_json::Value = serde_json::from_str(&mapping("salesforce-latam")).unwrap();
        let m_obj = m.as_object_mut().unwrap();
        m_obj.remove("encoding");
        if !keep_columns {
            m_obj.remove("columns");
        }
        db.scratch(&format!("{name}.json"), &m.to_string())
    };
    let (with_columns, without_columns) = (mapping_file("a", true), mapping_file("b", false));
    let run = |mapping: &str| {
        db.import(&[
            "salesforce",
            "--pipeline",
            &db.pipeline,
            "--mapping",
            mapping,
            "--encoding",
            "windows-1252",
            "--opportunities",
            &f("Opportunity.csv"),
            "--history",
            &f("OpportunityHistory.csv"),
            "--users",
            &f("User.csv"),
            "--roles",
            &f("UserRole.csv"),
            "--accounts",
            &f("Account.csv"),
        ])
    };

    let (code, _, err) = run(&without_columns);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{}:1: LossReason__c: \"LossReason__c\" and \"Loss_Reason__c\" are one column once \
             case and punctuation are ignored",
            f("Opportunity.csv")
        )),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("error: 1 bad row (1 problem); nothing was imported"),
        "{err}"
    );

    let (code, out, err) = run(&with_columns);
    assert_eq!(code, Some(0), "{err}");
    for line in [
        "  deals created             48",
        "  users created             17",
        "left out or replaced (counted by value):",
        "  lead source not mapped (left unset): 'LinkedIn' 7, 'Partners' 3, 'Otro' 2",
        "  user skipped (not a seller): 'UserType AutomatedProcess' 1, 'UserType CsnOnly' 1, \
         'inactive, owns no deal' 1, 'integration or automated user' 1",
        "managers picked among several holders of a role (name one in \"role_managers\"):",
        "  Gerente de Vendas Brasil: fernanda.oliveira@andescorp.example chosen among \
         fernanda.oliveira@andescorp.example, paulo.santos@andescorp.example",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} not in:\n{out}");
    }
}
