//! `dealdesk calls submit|adjust`.

use super::{error, field, json, table};
use crate::contract_test;
use crate::fixtures::Org;

contract_test!(
    calls_submit_prints_the_call_and_adjust_answers_json,
    |app| {
        let org = Org::builder().build(&app).await;
        let rep = org.rep();

        let out = table(
            &app,
            &rep.token,
            &[
                "calls",
                "submit",
                "--period",
                "2026-Q4",
                "--commit",
                "1,250,000",
                "--best-case",
                "1500000.50",
                "--note",
                "two big ones",
            ],
        )
        .await;

        assert!(field(&out, "Event").starts_with("submit #"), "{out}");
        assert_eq!(field(&out, "Period"), "2026-Q4");
        let rep_line = format!("{} ({})", rep.user.display_name, rep.name());
        assert_eq!(field(&out, "Call of"), rep_line);
        assert_eq!(field(&out, "By"), rep_line);
        assert_eq!(field(&out, "Commit"), "USD 1,250,000.00");
        assert_eq!(field(&out, "Best case"), "USD 1,500,000.50");
        assert_eq!(field(&out, "Note"), "two big ones");

        let adjusted = json(
            &app,
            &org.leader.token,
            &[
                "calls",
                "adjust",
                "--period",
                "2026-Q4",
                "--user",
                &rep.name(),
                "--commit",
                "1000000",
                "--best-case",
                "1200000",
                "--currency",
                "usd",
            ],
        )
        .await;
        assert_eq!(adjusted["kind"], "KIND_ADJUST");
        assert_eq!(adjusted["period"], "2026-Q4");
        assert_eq!(adjusted["user"], rep.name().as_str());
        assert_eq!(adjusted["author"], org.leader.name().as_str());
        assert_eq!(
            adjusted["commit"],
            serde_json::json!({"currencyCode": "USD", "amountMinor": "100000000"})
        );
        assert_eq!(adjusted["bestCase"]["amountMinor"], "120000000");
        assert!(adjusted.get("note").is_none());
    }
);

contract_test!(
    calls_refuse_a_bad_amount_before_calling_and_show_the_servers_reasons,
    |app| {
        let org = Org::builder().build(&app).await;
        let args = |commit: &'static str| {
            [
                "calls",
                "submit",
                "--period",
                "2026-Q4",
                "--commit",
                commit,
                "--best-case",
                "1",
            ]
        };

        let bad = error(&app, &org.rep().token, &args("1.001")).await;
        assert_eq!(
            bad,
            "--commit `1.001` is not an amount of USD (at most 2 decimals)"
        );

        let refused = error(&app, &org.rep().token, &args("2")).await;
        assert!(refused.starts_with("INVALID_ARGUMENT: "), "{refused}");
        assert!(
            refused.ends_with("\n  - best_case.amount_minor: must be at least the commit"),
            "{refused}"
        );
    }
);
