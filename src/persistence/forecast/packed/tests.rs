use proptest::prelude::*;

use super::*;
use crate::app::ports::{PeriodValuation, segment as segment_of};
use crate::domain::forecast::weigh;
use crate::domain::ids::PipelineId;
use crate::domain::money::{Currency, convert_minor};

const PIPELINE: &str = "01a2504e-3e72-718c-a222-b888a9ba5200";

fn pipeline() -> PipelineId {
    PipelineId(PIPELINE.parse().unwrap())
}

/// Reporting in USD, EUR at 1.1; stage "s1" at 40%, and with period rates: EUR bands cut at
/// 1,000 and 5,000 minor units, s1's q 0.01 x (segment + 1).
fn valuation(period: bool) -> Valuation {
    let mut q = [0.0; SEGMENTS];
    for (i, q) in q.iter_mut().enumerate() {
        *q = 0.01 * (i + 1) as f64;
    }
    Valuation {
        into: Currency::USD,
        rates: vec![(Currency::EUR, 1.1)],
        win_rates: vec![(pipeline(), vec![("s1".into(), 0.4)])],
        period: period.then(|| PeriodValuation {
            bands: vec![(pipeline(), vec![(Currency::EUR, [1_000, 5_000])])],
            q: vec![(pipeline(), vec![("s1".into(), q)])],
        }),
    }
}

fn key(stage: &str, currency: Option<&str>) -> GroupKey {
    GroupKey {
        owner: None,
        pipeline: PIPELINE.into(),
        stage: stage.into(),
        category: "PIPELINE".into(),
        currency: currency.map(str::to_string),
    }
}

fn groups(valuation: &Valuation, packed: &[(GroupKey, &str)]) -> Vec<OpenGroupRow> {
    let prices = Prices::of(valuation);
    let mut groups = Groups::new();
    for (key, deals) in packed {
        prices
            .add(&mut groups, key.clone(), deals.split(','))
            .unwrap();
    }
    groups
        .into_iter()
        .map(|((key, segment), sums)| sums.row(key, segment).unwrap())
        .collect()
}

/// A row's segment, deals and sums: converted, weighed at the win rate and at q.
fn shape(r: &OpenGroupRow) -> (Option<u8>, u64, Option<i64>, Option<i64>, Option<i64>) {
    (
        r.segment,
        r.deals,
        r.converted,
        r.weighted,
        r.period_weighted,
    )
}

#[test]
fn each_deal_is_converted_put_in_its_segment_and_weighed_as_the_sql_does() {
    // EUR 999 (band 0, no push), EUR 1,000 and 4,999 (band 1; one and three pushes), and a
    // deal without an amount (the band of an amount of 0, two pushes).
    let rows = groups(
        &valuation(true),
        &[
            (key("s1", Some("EUR")), "999 0,1000 1,4999 3"),
            (key("s1", None), " 2"),
        ],
    );
    let shapes: Vec<_> = rows.iter().map(|r| (r.currency, shape(r))).collect();
    // 999 x 1.1 = 1,098.9 -> 1,099 (weighed 439.6 -> 440 at 40%, 0.04 x 1,099 = 43.96 -> 44 in
    // segment 3); 1,000 -> 1,100 (440; 0.08 x 1,100 = 88 in segment 7); 4,999 -> 5,498.9 ->
    // 5,499 (2,199.6 -> 2,200; 0.09 x 5,499 = 494.91 -> 495 in segment 8).
    let eur = Some(Currency::EUR);
    assert_eq!(
        shapes,
        vec![
            (None, (Some(5), 1, None, None, None)),
            (eur, (Some(3), 1, Some(1_099), Some(440), Some(44))),
            (eur, (Some(7), 1, Some(1_100), Some(440), Some(88))),
            (eur, (Some(8), 1, Some(5_499), Some(2_200), Some(495))),
        ]
    );
    assert_eq!((rows[1].squares, rows[1].cubes), (998_001.0, 997_002_999.0));
    assert_eq!((rows[0].squares, rows[0].cubes), (0.0, 0.0));
}

#[test]
fn without_period_rates_a_group_is_one_row_and_its_period_weight_is_left_out() {
    let rows = groups(&valuation(false), &[(key("s1", Some("USD")), "100,,250")]);
    assert_eq!(rows.len(), 1);
    assert_eq!(shape(&rows[0]), (None, 3, Some(350), Some(40 + 100), None));
}

#[test]
fn a_currency_without_a_rate_or_a_stage_without_rates_weighs_as_sql_nulls_do() {
    // GBP has no rate: counted, its powers summed, nothing converted (the caller names it).
    // Stage s9 has neither a win rate nor q: converted, weighed at 0.
    let rows = groups(
        &valuation(true),
        &[
            (key("s1", Some("GBP")), "300 0"),
            (key("s9", Some("USD")), "300 0"),
        ],
    );
    let shapes: Vec<_> = rows
        .iter()
        .map(|r| (r.stage.as_str(), r.squares, shape(r)))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("s1", 90_000.0, (Some(0), 1, None, None, None)),
            ("s9", 90_000.0, (Some(0), 1, Some(300), Some(0), Some(0))),
        ]
    );
}

#[test]
fn a_group_read_across_months_adds_up_into_one() {
    let rows = groups(
        &valuation(true),
        &[
            (key("s1", Some("USD")), "100 0"),
            (key("s1", Some("USD")), "200 0"),
        ],
    );
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].deals, rows[0].converted), (2, Some(300)));
}

#[test]
fn a_scopes_deals_are_kept_per_owner_and_others_left_out() {
    let (ann, bob, eve) = (
        "01a2504e-3d44-7165-b1b5-87f1994dca45",
        "01a2504e-3da0-75fb-9af8-6c7aa31f2366",
        "01a2504e-3de6-736a-9b4f-d6db84a27d3e",
    );
    let valuation = valuation(true);
    let prices = Prices::of(&valuation);
    let scope: HashSet<String> = [ann, bob].map(String::from).into();
    let mut groups = Groups::new();
    let deals = format!("{bob} 100 0,{eve} 900 0,{ann} 200 0,{bob} 300 0");
    prices
        .add_owned(&mut groups, key("s9", Some("USD")), &deals, &scope)
        .unwrap();
    let rows: Vec<_> = groups
        .into_iter()
        .map(|((key, segment), sums)| sums.row(key, segment).unwrap())
        .map(|r| (r.owner.unwrap().0.to_string(), r.deals, r.converted))
        .collect();
    assert_eq!(
        rows,
        vec![(ann.into(), 1, Some(200)), (bob.into(), 2, Some(400))]
    );
    assert!(
        prices
            .add_owned(&mut Groups::new(), key("s9", None), "100", &scope)
            .is_err()
    );
}

#[test]
fn text_the_read_cannot_have_packed_is_an_error() {
    let valuation = valuation(true);
    let prices = Prices::of(&valuation);
    for bad in ["x 0", "100 y", "1e3 0", "100 0,,"] {
        let mut groups = Groups::new();
        assert!(
            prices
                .add(&mut groups, key("s1", Some("USD")), bad.split(','))
                .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn sums_that_overflow_are_an_error_as_in_sql() {
    let mut sums = Sums {
        converted: Some(i64::MAX),
        ..Sums::default()
    };
    assert!(sums.add(Some(1), Some(1.0), 0.0, None).is_err());
}

proptest! {
    /// The mirror of the SQL agrees with the domain's arithmetic, which values deals read one
    /// by one: `convert_minor`, `weigh` and the segment of a band and pushes.
    #[test]
    fn a_deal_is_valued_as_one_read_alone_is(
        amount in 1i64..=MAX_AMOUNT_MINOR,
        rate in 0.0001f64..10_000.0,
        win in 0.0f64..=1.0,
        pushes in 0u32..6,
        cuts in (1i64..MAX_AMOUNT_MINOR, 1i64..MAX_AMOUNT_MINOR),
    ) {
        let (one, two) = (cuts.0.min(cuts.1), cuts.0.max(cuts.1));
        let mut q = [0.0; SEGMENTS];
        for (i, q) in q.iter_mut().enumerate() {
            *q = (i as f64 + 0.5) / SEGMENTS as f64;
        }
        let valuation = Valuation {
            into: Currency::USD,
            rates: vec![(Currency::EUR, rate)],
            win_rates: vec![(pipeline(), vec![("s1".into(), win)])],
            period: Some(PeriodValuation {
                bands: vec![(pipeline(), vec![(Currency::EUR, [one, two])])],
                q: vec![(pipeline(), vec![("s1".into(), q)])],
            }),
        };
        let rows = groups(&valuation, &[(key("s1", Some("EUR")), &format!("{amount} {pushes}"))]);
        let band = match amount {
            a if a >= two => 2,
            a if a >= one => 1,
            _ => 0,
        };
        let segment = segment_of(Some(band), pushes);
        let converted = convert_minor(amount, rate);
        prop_assert_eq!(rows.len(), 1);
        prop_assert_eq!(rows[0].segment, Some(segment as u8));
        prop_assert_eq!(rows[0].converted, Some(converted));
        prop_assert_eq!(rows[0].weighted, Some(weigh(converted, win)));
        prop_assert_eq!(rows[0].period_weighted, Some(weigh(converted, q[segment])));
    }
}
