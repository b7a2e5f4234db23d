//! The forecast range: enumerated exactly when small, ordered and bounded.

use super::*;

// ---------------------------------------------------------------------------------------------
// Range.

contract_test!(a_small_range_is_enumerated_exactly, |app| {
    let rep = person(&app, Role::Rep, None).await;
    // No snapshot: the default probabilities. half 50%, sure 100%, never 0%.
    let p = pipeline(&app, &[("half", 5_000), ("sure", 10_000), ("never", 0)]).await;
    // Won now: 1_000 (closed won this month).
    closed_deal(&app, &rep, &p, &["half"], usd(1_000), Lead::Inbound, true).await;
    create_deal(&app, &rep.token, draft(&p, "half", usd(10_000))).await;
    create_deal(&app, &rep.token, draft(&p, "half", usd(10_000))).await;
    create_deal(&app, &rep.token, draft(&p, "sure", usd(5_000))).await;
    create_deal(&app, &rep.token, draft(&p, "never", usd(8_000))).await;
    let f = forecast(&app, &rep.token, scope(&this_month(), &rep.name())).await;
    // Certain: 1_000 won + 5_000 sure = 6_000; the never deal adds nothing; two independent
    // 10_000 deals at 1/2: 6_000 (1/4), 16_000 (1/2), 26_000 (1/4).
    // P10 = 6_000, P50 = 16_000, P90 = 26_000.
    let range = f.range.unwrap();
    assert_eq!((range.p10, range.p50, range.p90), (6_000, 16_000, 26_000));
    assert!(range.exact);
    assert_eq!(range.samples, 0);
    // Expected: 1_000 + 5_000 + 5_000 + 5_000 + 0 = 16_000.
    assert_eq!(f.totals.unwrap().expected, 16_000);
    assert_eq!(f.totals.unwrap().closed_won, 1_000);
});

contract_test!(
    the_range_is_ordered_and_bounded_exact_up_to_sixteen_deals,
    |app| {
        let w = world(&app).await;
        let t = &w.team;
        let month = this_month();
        // The manager's scope: 5 uncertain deals (O6 has no amount) -> exact.
        let f = forecast(&app, &t.manager.token, scope(&month, &t.manager.name())).await;
        let (range, totals) = (f.range.unwrap(), f.totals.unwrap());
        assert!(range.exact);
        // Bounds: 300_000 won; everything won adds 10_000 + 30_000 + 20_000 + 7_000 + 12_345.
        let everything = 300_000 + 79_345;
        assert!(
            totals.closed_won <= range.p10
                && range.p10 <= range.p50
                && range.p50 <= range.p90
                && range.p90 <= everything,
            "{range:?}"
        );

        // A rep with 16 uncertain deals is still exact; a 17th makes it sampled.
        let rep = person(&app, Role::Rep, None).await;
        let mut amounts = 0;
        for i in 1..=16 {
            create_deal(&app, &rep.token, draft(&w.pipeline, "s2", usd(1_000 * i))).await;
            amounts += 1_000 * i;
        }
        let mine = scope(&month, &rep.name());
        let sixteen = forecast(&app, &rep.token, mine.clone()).await;
        let r = sixteen.range.unwrap();
        assert!(r.exact, "{r:?}");
        assert_eq!(r.method(), pb::revenue_range::Method::Exact);
        assert!(0 <= r.p10 && r.p10 <= r.p50 && r.p50 <= r.p90 && r.p90 <= amounts);
        create_deal(&app, &rep.token, draft(&w.pipeline, "s3", usd(17_000))).await;
        amounts += 17_000;
        let seventeen = forecast(&app, &rep.token, mine.clone()).await;
        let r = seventeen.range.unwrap();
        assert!(!r.exact, "{r:?}");
        assert_eq!(r.method(), pb::revenue_range::Method::MonteCarlo);
        // Samples: 200_000 / 17 capped at 10_000; 99% DKW bound sqrt(ln(200) / 20_000).
        assert_eq!(r.samples, 10_000);
        assert_close(
            r.error_bound,
            ((200f64).ln() / 20_000.0).sqrt(),
            "error bound",
        );
        assert!(
            0 <= r.p10 && r.p10 < r.p50 && r.p50 < r.p90 && r.p90 <= amounts,
            "{r:?}"
        );
        // Seeded: the same inputs give the same range.
        let again = forecast(&app, &rep.token, mine).await;
        assert_eq!(again.range, seventeen.range);
    }
);
