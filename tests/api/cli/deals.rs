//! `dealdesk deals list|show|advance|close`.

use chrono::Datelike;
use dealdesk::proto as pb;

use super::{cli, error, field, gated_pipeline, json, table};
use crate::contract_test;
use crate::fixtures::{Org, create_deal, date, deal_in, in_days, today, usd};
use crate::helpers::TestApp;

/// Two open deals of the org's rep in `qualify`: Acme (USD 1,234,567.89, closing in 20 days,
/// with a next step) and Globex (USD 5,000.00, closing in 10 days, without).
async fn two_deals(app: &TestApp, org: &Org) -> (pb::Deal, pb::Deal) {
    let pipeline = gated_pipeline(app).await;
    let acme = pb::Deal {
        amount: usd(123_456_789),
        close_date: in_days(20),
        next_step: "Pricing call".into(),
        ..deal_in(&pipeline, "Acme - 500 seats")
    };
    let globex = pb::Deal {
        account: "Globex".into(),
        amount: usd(500_000),
        close_date: in_days(10),
        ..deal_in(&pipeline, "Globex renewal")
    };
    let acme = create_deal(app, &org.rep().token, acme).await;
    let globex = create_deal(app, &org.rep().token, globex).await;
    (acme, globex)
}

fn iso(d: Option<&pb::google::r#type::Date>) -> String {
    let d = d.unwrap();
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

contract_test!(
    deals_list_prints_a_row_per_deal_with_money_and_close_date,
    |app| {
        let org = Org::builder().build(&app).await;
        let (acme, globex) = two_deals(&app, &org).await;
        let rep = &org.rep().user.display_name;
        assert_eq!(rep.len(), 10, "the owner column below is 10 wide");

        let out = table(
            &app,
            &org.manager.token,
            &[
                "deals",
                "list",
                "--status",
                "open",
                "--order-by",
                "close_date",
            ],
        )
        .await;

        let header = format!(
            "{:<42}  NAME              ACCOUNT    OWNER       STAGE    STATUS  CATEGORY            AMOUNT  CLOSE DATE",
            "DEAL"
        );
        let expected = [
            header,
            format!(
                "{}  Globex renewal    Globex     {rep}  qualify  open    pipeline      USD 5,000.00  {}",
                globex.name,
                iso(globex.close_date.as_ref())
            ),
            format!(
                "{}  Acme - 500 seats  Acme Corp  {rep}  qualify  open    pipeline  USD 1,234,567.89  {}",
                acme.name,
                iso(acme.close_date.as_ref())
            ),
        ];
        assert_eq!(out, expected.join("\n") + "\n");
    }
);

contract_test!(
    deals_list_json_is_the_proto3_mapping_with_filters_applied,
    |app| {
        let org = Org::builder().build(&app).await;
        let (acme, _globex) = two_deals(&app, &org).await;
        let from = iso(in_days(15).as_ref());

        let answer = json(
            &app,
            &org.rep().token,
            &["deals", "list", "--closing-from", &from, "--page-size", "5"],
        )
        .await;

        let deals = answer["deals"].as_array().unwrap();
        assert_eq!(deals.len(), 1, "{answer}");
        let deal = &deals[0];
        assert_eq!(deal["name"], acme.name.as_str());
        assert_eq!(deal["displayName"], "Acme - 500 seats");
        assert_eq!(
            deal["amount"],
            serde_json::json!({"currencyCode": "USD", "amountMinor": "123456789"})
        );
        assert_eq!(deal["status"], "STATUS_OPEN");
        assert_eq!(deal["forecastCategory"], "FORECAST_CATEGORY_PIPELINE");
        assert_eq!(deal["nextStep"], "Pricing call");
        assert!(answer.get("nextPageToken").is_none(), "{answer}");
    }
);

contract_test!(
    deals_show_prints_the_next_stages_gate_as_a_checklist,
    |app| {
        let org = Org::builder().build(&app).await;
        let (_acme, globex) = two_deals(&app, &org).await;

        let out = table(&app, &org.rep().token, &["deals", "show", &globex.name]).await;

        assert_eq!(field(&out, "Deal"), globex.name);
        assert_eq!(
            field(&out, "Pipeline"),
            format!("Direct ({})", globex.pipeline)
        );
        assert_eq!(field(&out, "Stage"), "qualify (qualify)");
        assert_eq!(field(&out, "Amount"), "USD 5,000.00");
        assert_eq!(field(&out, "Status"), "open");
        let gate = out.split_once("\n\n").map(|(_, gate)| gate).unwrap();
        assert_eq!(
            gate,
            "Gate to propose (propose): blocked, 1 of 2 criteria unmet\n\
         \x20 [x] Amount is greater than zero (qualify)\n\
         \x20 [ ] Next step is set (qualify)\n"
        );

        let answer = json(&app, &org.rep().token, &["deals", "show", &globex.name]).await;
        assert_eq!(answer["deal"]["name"], globex.name.as_str());
        assert_eq!(answer["gateStage"], "propose");
        assert_eq!(answer["gate"]["direction"], "DIRECTION_FORWARD");
        assert!(answer["gate"].get("allowed").is_none(), "false is left out");
        let checks = answer["gate"]["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0]["met"], true);
        assert!(checks[1].get("met").is_none());
        assert_eq!(
            checks[1]["criterion"]["fieldSet"]["field"],
            "DEAL_FIELD_NEXT_STEP"
        );
    }
);

contract_test!(deals_advance_lists_each_unmet_criterion_or_moves, |app| {
    let org = Org::builder().build(&app).await;
    let (acme, globex) = two_deals(&app, &org).await;
    let token = &org.rep().token;

    let refused = error(
        &app,
        token,
        &["deals", "advance", &globex.name, "--to", "propose"],
    )
    .await;
    assert!(refused.starts_with("FAILED_PRECONDITION: "), "{refused}");
    assert!(
        refused.contains("\n  reason: EXIT_CRITERIA_NOT_MET"),
        "{refused}"
    );
    let unmet = format!(
        "\n  - EXIT_CRITERION {}/stages/qualify: Next step is set",
        globex.pipeline
    );
    assert!(refused.ends_with(&unmet), "{refused}");

    let moved = table(
        &app,
        token,
        &["deals", "advance", &acme.name, "--to", "propose"],
    )
    .await;
    assert_eq!(field(&moved, "Stage"), "propose");
    assert_eq!(field(&moved, "Next step"), "Pricing call");
});

contract_test!(deals_close_lost_records_the_reason_and_the_day, |app| {
    let org = Org::builder().build(&app).await;
    let (_acme, globex) = two_deals(&app, &org).await;
    let day = today();
    let on = day.format("%Y-%m-%d").to_string();

    let answer = json(
        &app,
        &org.rep().token,
        &[
            "deals",
            "close",
            &globex.name,
            "lost",
            "--reason",
            "No budget",
            "--close-date",
            &on,
        ],
    )
    .await;

    assert_eq!(answer["status"], "STATUS_LOST");
    assert_eq!(answer["stage"], "lost");
    assert_eq!(answer["lossReason"], "No budget");
    assert_eq!(answer["forecastCategory"], "FORECAST_CATEGORY_CLOSED");
    let wire = date(day);
    assert_eq!(
        answer["closeDate"],
        serde_json::json!({"year": day.year(), "month": wire.month, "day": wire.day})
    );

    let again = cli(
        &app,
        &org.rep().token,
        &["deals", "close", &globex.name, "won"],
    )
    .await;
    let again = again.unwrap_err();
    assert_eq!(
        again.code(),
        Some(tonic::Code::FailedPrecondition),
        "{again}"
    );
});
