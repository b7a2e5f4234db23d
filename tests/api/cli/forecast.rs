//! `dealdesk forecast`.

use dealdesk::proto as pb;

use super::{field, gated_pipeline, json, table};
use crate::contract_test;
use crate::fixtures::{Org, close_won, create_deal, deal_in, in_days, today, usd};
use crate::helpers::TestApp;

/// The rep's book this month: USD 1,000.00 won today and USD 2,000.00 open in `qualify`
/// (25%) closing today. Returns the period (`YYYY-MM`).
async fn this_month(app: &TestApp, org: &Org) -> String {
    let pipeline = gated_pipeline(app).await;
    let won = pb::Deal {
        amount: usd(100_000),
        close_date: in_days(0),
        next_step: "Sign".into(),
        ..deal_in(&pipeline, "Won")
    };
    let won = create_deal(app, &org.rep().token, won).await;
    close_won(app, &org.rep().token, &won.name).await.unwrap();
    let open = pb::Deal {
        amount: usd(200_000),
        close_date: in_days(0),
        ..deal_in(&pipeline, "Open")
    };
    create_deal(app, &org.rep().token, open).await;
    today().format("%Y-%m").to_string()
}

contract_test!(forecast_prints_totals_range_and_each_report, |app| {
    let org = Org::builder().build(&app).await;
    let period = this_month(&app, &org).await;

    let out = table(&app, &org.manager.token, &["forecast", "--period", &period]).await;

    let manager = &org.manager.user;
    let rep = &org.rep().user;
    assert!(
        field(&out, "Period").starts_with(&format!("{period} (")),
        "{out}"
    );
    assert_eq!(
        field(&out, "Scope"),
        format!("{} ({})", manager.display_name, manager.name)
    );
    assert!(
        field(&out, "Method").starts_with("stage weighted, "),
        "{out}"
    );
    let figures = [
        ("Expected", "USD 1,500.00"),
        ("  closed won", "USD 1,000.00"),
        ("  period forecast", "USD 500.00"),
        ("  pulled in", "USD 0.00"),
        ("  not yet created", "USD 0.00"),
        ("Classic expected", "USD 1,500.00"),
        ("  weighted pipeline", "USD 500.00"),
        ("Commit forecast", "USD 1,000.00"),
        ("Best case forecast", "USD 1,000.00"),
        ("Open pipeline", "USD 2,000.00"),
        ("  pipeline", "USD 2,000.00"),
        ("Open deals", "1"),
        ("Range P10", "USD 1,000.00"),
        ("Range P50", "USD 1,000.00"),
        ("Range P90", "USD 3,000.00"),
        ("Range method", "exact"),
    ];
    for (label, value) in figures {
        assert_eq!(field(&out, label), value, "{label} in:\n{out}");
    }
    let by_report = out.split("\n\nBy report\n").nth(1).unwrap();
    let rows: Vec<Vec<&str>> = by_report
        .lines()
        .skip(1)
        .take(2)
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let own = format!("{} (own deals)", manager.display_name);
    assert_eq!(
        rows,
        [
            vec![
                own.as_str(),
                manager.name.as_str(),
                "USD 0.00",
                "USD 0.00",
                "USD 0.00",
                "USD 0.00",
                "USD 0.00",
                "0"
            ],
            vec![
                rep.display_name.as_str(),
                rep.name.as_str(),
                "USD 1,500.00",
                "USD 1,000.00",
                "USD 0.00",
                "USD 0.00",
                "USD 2,000.00",
                "1"
            ],
        ]
    );
    let by_stage = out.split("\n\nBy stage\n").nth(1).unwrap();
    assert_eq!(
        by_stage.lines().nth(1).unwrap(),
        "Direct    qualify     25.0%           1  USD 2,000.00  USD 500.00       USD 500.00"
    );
});

contract_test!(forecast_json_has_the_range_and_by_report, |app| {
    let org = Org::builder().build(&app).await;
    let period = this_month(&app, &org).await;
    let scope = org.manager.name();

    let answer = json(
        &app,
        &org.leader.token,
        &["forecast", "--period", &period, "--scope", &scope],
    )
    .await;

    assert_eq!(answer["period"], period.as_str());
    assert_eq!(answer["scope"], scope.as_str());
    assert_eq!(answer["currencyCode"], "USD");
    assert_eq!(answer["method"], "FORECAST_METHOD_STAGE_WEIGHTED");
    assert_eq!(answer["totals"]["closedWon"], "100000");
    assert_eq!(answer["totals"]["expected"], "150000");
    assert_eq!(answer["totals"]["openDeals"], "1");
    let range = &answer["range"];
    assert_eq!(
        (
            &range["p10"],
            &range["p50"],
            &range["p90"],
            &range["method"]
        ),
        (
            &serde_json::json!("100000"),
            &serde_json::json!("100000"),
            &serde_json::json!("300000"),
            &serde_json::json!("METHOD_EXACT")
        )
    );
    let by_report: Vec<&str> = answer["byReport"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user"].as_str().unwrap())
        .collect();
    assert_eq!(by_report, [scope.clone(), org.rep().name()]);
});
