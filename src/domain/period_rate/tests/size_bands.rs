//! Size bands: terciles of the window's closed deals, in the currency most of them are in.

use super::*;

/// A deal created in June 2025 that closed (`won`, else lost) for `amount` on `closed`.
fn closed_deal(id: u128, amount: i64, won_it: bool, closed: DateTime<Utc>) -> DealTimeline {
    let created = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
    let first = open("a", amount, closed.date_naive());
    let last = if won_it {
        won(&first, amount, closed.date_naive())
    } else {
        lost(&first, closed.date_naive())
    };
    timeline(id, created, first, &[(closed, last)])
}

#[test]
fn size_bands_are_terciles_of_the_deals_closed_in_the_window() {
    let before_window = Utc.with_ymd_and_hms(2025, 7, 1, 12, 0, 0).unwrap();
    let deals = [
        closed_deal(1, 10_00, true, at(2, 1)),
        closed_deal(2, 60_00, false, at(3, 1)),
        closed_deal(3, 30_00, true, at(4, 1)),
        closed_deal(4, 20_00, false, at(5, 1)),
        closed_deal(5, 50_00, true, at(6, 1)),
        closed_deal(6, 40_00, true, at(7, 1)),
        closed_deal(7, 1_000_00, true, before_window),
        closed_deal(8, 1_000_00, true, at(8, 5)),
        timeline(9, at(1, 5), open("a", 1_000_00, day(9, 1)), &[]),
    ];
    let table = learn(&months_at(at(8, 1)), &deals, &[]);
    assert_eq!(table.size_cuts, Some([20_00, 40_00]));
    let bands: Vec<u8> = [1, 20_00, 20_01, 40_00, 40_01]
        .into_iter()
        .map(|amount| table.size_band(amount))
        .collect();
    assert_eq!(bands, [0, 0, 1, 1, 2]);
}

/// `deal` with every amount in `currency`.
fn in_currency(mut deal: DealTimeline, currency: Currency) -> DealTimeline {
    deal.current.currency = Some(currency);
    for row in &mut deal.rows {
        for value in [&mut row.old, &mut row.new] {
            if let Some(FieldValue::Currency(c)) = value {
                *c = currency;
            }
        }
    }
    deal
}

#[test]
fn a_pipeline_in_euros_is_learned_without_any_exchange_rate() {
    let eur = Currency::EUR;
    let deals = [
        in_currency(closed_deal(1, 10_00, true, at(2, 1)), eur),
        in_currency(closed_deal(2, 60_00, false, at(3, 1)), eur),
        in_currency(closed_deal(3, 30_00, true, at(4, 1)), eur),
        in_currency(won_in_june(4, 100_00), eur),
    ];
    let table = learn(&months_at(at(8, 1)), &deals, &[("propose", 0.5)]);
    assert_eq!(table.size_currency, eur);
    assert_eq!(table.size_cuts, Some([30_00, 60_00]));
    // The June deal, seen on 6, 13 and 20 June, won in its period.
    assert_eq!(total_observations(&table), 3);
    assert_eq!(cell(&table, "propose", key(1, None, None)).outcome_sum, 1.0);
}

#[test]
fn size_bands_are_in_the_currency_most_closed_deals_are_in() {
    let deals = [
        closed_deal(1, 10_00, true, at(2, 1)),
        in_currency(closed_deal(2, 60_00, false, at(3, 1)), Currency::EUR),
        in_currency(closed_deal(3, 30_00, true, at(4, 1)), Currency::EUR),
    ];
    let table = learn(&months_at(at(8, 1)), &deals, &[]);
    assert_eq!(table.size_currency, Currency::EUR);
    // The dollar deal has no rate into euros: left out of the cuts.
    assert_eq!(table.size_cuts, Some([30_00, 60_00]));
    let eur = |minor| {
        Some(Money {
            minor,
            currency: Currency::EUR,
        })
    };
    let usd = Some(Money {
        minor: 1,
        currency: usd(),
    });
    assert_eq!(table.band_of(eur(30_01), &no_rates), Some(1));
    assert_eq!(table.band_of(usd, &no_rates), None);
    assert_eq!(table.band_of(None, &no_rates), Some(0));
}

#[test]
fn with_no_closed_deals_the_bands_are_in_the_currency_most_deals_are_in() {
    let deal = |id| {
        in_currency(
            timeline(id, at(6, 1), open("a", 100_00, day(6, 30)), &[]),
            Currency::GBP,
        )
    };
    let table = learn(&months_at(at(8, 1)), &[deal(1), deal(2)], &[]);
    assert_eq!(table.size_currency, Currency::GBP);
    assert_eq!(table.size_cuts, None);
    // Each seen open on 6, 13, 20 and 27 June.
    assert_eq!(total_observations(&table), 8);
}

#[test]
fn with_no_closed_deals_there_is_one_size_band() {
    let deal = timeline(1, at(6, 1), open("a", 100_00, day(6, 30)), &[]);
    let table = learn(&months_at(at(8, 1)), &[deal], &[]);
    assert_eq!(table.size_cuts, None);
    assert_eq!(table.size_band(1), 0);
    assert_eq!(table.size_band(1_000_000_00), 0);
}

#[test]
fn an_amount_that_cannot_be_converted_is_not_observed() {
    let mut first = open("a", 100_00, day(6, 30));
    first.currency = Currency::parse("EUR");
    let deals = [
        timeline(1, at(6, 1), first, &[]),
        closed_deal(2, 10_00, true, at(2, 1)),
        closed_deal(3, 20_00, false, at(3, 1)),
    ];
    let table = learn(&months_at(at(8, 1)), &deals, &[]);
    assert_eq!(table.size_currency, usd());
    assert!(table.cells.is_empty());
}
