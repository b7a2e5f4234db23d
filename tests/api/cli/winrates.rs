//! `dealdesk winrates compute|show`.

use dealdesk::proto as pb;

use super::{field, gated_pipeline, json, table};
use crate::contract_test;
use crate::fixtures::{Org, close_lost, close_won, create_deal, deal_in, usd};

contract_test!(
    winrates_compute_prints_each_stage_and_show_reads_the_newest,
    |app| {
        let org = Org::builder().build(&app).await;
        let pipeline = gated_pipeline(&app).await;
        for (name, won) in [("Won", true), ("Lost", false)] {
            let deal = pb::Deal {
                amount: usd(100_000),
                next_step: "Sign".into(),
                ..deal_in(&pipeline, name)
            };
            let deal = create_deal(&app, &org.rep().token, deal).await;
            if won {
                close_won(&app, &org.rep().token, &deal.name).await.unwrap();
            } else {
                close_lost(&app, &org.rep().token, &deal.name, "No budget")
                    .await
                    .unwrap();
            }
        }

        let out = table(
            &app,
            &org.leader.token,
            &["winrates", "compute", &pipeline.name],
        )
        .await;

        let snapshot = format!("{}/winRateSnapshots/1", pipeline.name);
        assert_eq!(field(&out, "Snapshot"), snapshot);
        assert_eq!(field(&out, "Current"), "yes");
        assert_eq!(field(&out, "Prior weight"), "10");
        assert_eq!(field(&out, "Computed by"), org.leader.user.display_name);
        let stages = out.split("\n\n").nth(1).unwrap();
        assert_eq!(
            stages,
            "STAGE    DEALS  WINS     RAW  SMOOTHED    95% INTERVAL   PRIOR\n\
         qualify      2     1   50.0%     29.2%    9.5% - 90.5%   25.0%\n\
         propose      0     0       -     50.0%   0.0% - 100.0%   50.0%\n\
         won          1     1  100.0%    100.0%  20.7% - 100.0%  100.0%\n\
         lost         1     0    0.0%      0.0%    0.0% - 79.3%    0.0%\n"
        );

        let shown = json(
            &app,
            &org.rep().token,
            &["winrates", "show", &pipeline.name],
        )
        .await;
        assert_eq!(shown["name"], snapshot.as_str());
        assert_eq!(shown["version"], "1");
        assert_eq!(shown["current"], true);
        assert_eq!(shown["stages"][0]["stageId"], "qualify");
        assert_eq!(shown["stages"][0]["n"], "2");
        assert_eq!(shown["stages"][0]["wins"], "1");
        let by_name = json(&app, &org.rep().token, &["winrates", "show", &snapshot]).await;
        assert_eq!(by_name, shown);
    }
);
