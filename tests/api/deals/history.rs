//! The stage history of a deal.

use super::*;

/// One history entry as (direction, from, to, actor, amount, close date).
type Summary<'a> = (
    i32,
    &'a str,
    &'a str,
    String,
    Option<pb::Money>,
    Option<Date>,
);

// ---------------------------------------------------------------------------------------------
// Stage history.

contract_test!(
    the_stage_history_lists_every_change_oldest_first_with_who_and_how_much,
    |app| {
        let org = org(&app).await;
        let pipeline = gated_pipeline(&app).await;
        let deal = create_deal(
            &app,
            &org.rep().token,
            pb::Deal {
                amount: usd(100_000),
                close_date: in_days(30),
                ..ready(&pipeline, "Storied")
            },
        )
        .await;
        update(
            &app,
            &org.rep().token,
            pb::Deal {
                name: deal.name.clone(),
                amount: usd(250_000),
                close_date: in_days(45),
                ..Default::default()
            },
            &["amount", "close_date"],
        )
        .await
        .unwrap();
        move_to(&app, &org.rep().token, &deal.name, "propose")
            .await
            .unwrap();
        move_to(&app, &org.manager.token, &deal.name, "qualify")
            .await
            .unwrap();
        close_lost(&app, &org.rep().token, &deal.name, "Budget cut")
            .await
            .unwrap();

        let entries = history(&app, &org.rep().token, &deal.name).await;
        let summary: Vec<Summary> = entries
            .iter()
            .map(|e| {
                (
                    e.direction,
                    e.from_stage.as_str(),
                    e.to_stage.as_str(),
                    e.actor.clone(),
                    e.amount.clone(),
                    e.close_date,
                )
            })
            .collect();
        let (rep, manager) = (org.rep().name(), org.manager.name());
        assert_eq!(
            summary,
            [
                (
                    History::Create as i32,
                    "",
                    "qualify",
                    rep.clone(),
                    usd(100_000),
                    in_days(30)
                ),
                (
                    History::Forward as i32,
                    "qualify",
                    "propose",
                    rep.clone(),
                    usd(250_000),
                    in_days(45)
                ),
                (
                    History::Backward as i32,
                    "propose",
                    "qualify",
                    manager,
                    usd(250_000),
                    in_days(45)
                ),
                (
                    History::Close as i32,
                    "qualify",
                    "closed-lost",
                    rep,
                    usd(250_000),
                    // Closing sets the close date to the day of closing.
                    in_days(0)
                ),
            ]
        );
        assert!(entries.windows(2).all(|w| w[0].sequence < w[1].sequence));
        assert!(
            entries
                .windows(2)
                .all(|w| instant(&w[0].change_time) <= instant(&w[1].change_time))
        );
        assert!(entries.iter().all(|e| !e.overridden));

        // Paged, the same entries.
        let mut deals = app.deals().await;
        let mut walked = Vec::new();
        let mut token = String::new();
        loop {
            let page = deals
                .list_deal_stage_history(authed(
                    &org.rep().token,
                    pb::ListDealStageHistoryRequest {
                        parent: deal.name.clone(),
                        page_size: 3,
                        page_token: token.clone(),
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            walked.extend(page.entries);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(walked, entries);
    }
);
