//! ForecastService: a valid request of each RPC and the single faults that make it refused.

use super::*;

pub(in crate::hostile) fn forecasts(fx: &Arc<Fixture>, f: &mut Families) {
    let compute = valid::compute_win_rates;
    f.credentials("ForecastService/ComputeWinRates", compute(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/ComputeWinRates",
        "win rates: bad field",
        move |rng| {
            let mut r = compute(&x);
            let expect = match rng.below(5) {
                0 => {
                    r.pipeline = bad_name(rng, "pipelines");
                    field("pipeline")
                }
                1 => {
                    r.prior_weight = Some(*pick(rng, &[-1, i32::MIN, i32::MAX]));
                    field("prior_weight")
                }
                2 => {
                    r.window_start_date = Some(bad_date(rng));
                    field("window_start_date")
                }
                3 => {
                    r.window_start_date = Some(Date {
                        year: 2026,
                        month: 6,
                        day: 1,
                    });
                    r.window_end_date = Some(Date {
                        year: 2025,
                        month: 6,
                        day: 1,
                    });
                    field("window_start_date")
                }
                _ => {
                    r.pipeline = format!("pipelines/{}", unknown_id(rng));
                    field("pipeline")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "ForecastService/ComputeWinRates",
        "win rates: a rep",
        move |_| {
            (
                as_(&x.rep),
                compute(&x),
                Expect::Code(Code::PermissionDenied),
            )
        },
    );

    f.credentials(
        "ForecastService/GetWinRateSnapshot",
        pb::GetWinRateSnapshotRequest {
            name: fx.snapshot.clone(),
        },
    );
    let x = fx.clone();
    f.add(
        "ForecastService/GetWinRateSnapshot",
        "snapshot: bad or unknown",
        move |rng| {
            let (name, expect) = match rng.below(3) {
                0 => (bad_name(rng, "pipelines"), field("name")),
                1 => (
                    format!(
                        "{}/winRateSnapshots/{}",
                        x.pipeline,
                        pick(rng, &["-1", "x", "99999999999999999999", "1 "])
                    ),
                    field("name"),
                ),
                _ => (
                    format!("{}/winRateSnapshots/{}", x.pipeline, 1000 + rng.below(1000)),
                    Expect::Code(Code::NotFound),
                ),
            };
            (as_(&x.rep), pb::GetWinRateSnapshotRequest { name }, expect)
        },
    );

    let list = valid::list_win_rate_snapshots;
    f.credentials("ForecastService/ListWinRateSnapshots", list(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/ListWinRateSnapshots",
        "list snapshots: bad field",
        move |rng| {
            let mut r = list(&x);
            r.parent = bad_name(rng, "pipelines");
            let expect = field("parent");
            (as_(&x.rep), r, expect)
        },
    );

    // Period and scope faults shared by the forecast reads.
    fn period_scope(
        rng: &mut Rng,
        fx: &Fixture,
        period: &mut String,
        scope: &mut String,
    ) -> Expect {
        match rng.below(4) {
            0 => {
                *period = bad_period(rng);
                field("period")
            }
            1 => {
                *scope = bad_name(rng, "users");
                field("scope")
            }
            2 => {
                *scope = fx.other_rep.name();
                Expect::Code(Code::PermissionDenied)
            }
            _ => {
                *scope = "org".into();
                Expect::Code(Code::PermissionDenied)
            }
        }
    }

    let forecast = |fx: &Fixture| pb::GetForecastRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
        ..Default::default()
    };
    f.credentials("ForecastService/GetForecast", forecast(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/GetForecast",
        "forecast: bad field",
        move |rng| {
            let mut r = forecast(&x);
            let expect = match rng.below(4) {
                0 => {
                    r.currency_code = bad_currency(rng);
                    field("currency_code")
                }
                1 => {
                    r.snapshots = vec![bad_name(rng, "pipelines")];
                    field("snapshots[0]")
                }
                _ => period_scope(rng, &x, &mut r.period, &mut r.scope),
            };
            (as_(&x.rep), r, expect)
        },
    );

    let rate = || pb::SetExchangeRateRequest {
        rate: Some(pb::ExchangeRate {
            from_currency: "EUR".into(),
            to_currency: "USD".into(),
            rate: 1.1,
            update_time: None,
        }),
    };
    f.credentials("ForecastService/SetExchangeRate", rate());
    let x = fx.clone();
    f.add(
        "ForecastService/SetExchangeRate",
        "exchange rate: bad field",
        move |rng| {
            let mut r = rate();
            let e = r.rate.as_mut().unwrap();
            let expect = match rng.below(5) {
                0 => {
                    r.rate = None;
                    field("rate")
                }
                1 => {
                    e.rate = *pick(
                        rng,
                        &[0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
                    );
                    field("rate.rate")
                }
                2 => {
                    e.from_currency = bad_currency(rng);
                    field("rate.from_currency")
                }
                3 => {
                    e.to_currency = "EUR".into();
                    field("rate.to_currency")
                }
                _ => {
                    e.to_currency = bad_currency(rng);
                    field("rate.to_currency")
                }
            };
            (admin(&x), r, expect)
        },
    );
    let x = fx.clone();
    f.add(
        "ForecastService/SetExchangeRate",
        "exchange rate: not admin",
        move |rng| {
            let callers = [&x.rep, &x.manager, &x.desk];
            let caller = *pick(rng, &callers);
            (as_(caller), rate(), Expect::Code(Code::PermissionDenied))
        },
    );

    f.credentials(
        "ForecastService/ListExchangeRates",
        pb::ListExchangeRatesRequest::default(),
    );

    let call = || pb::SubmitForecastCallRequest {
        period: "2026-Q4".into(),
        commit: usd(1_000),
        best_case: usd(2_000),
        note: String::new(),
    };
    f.credentials("ForecastService/SubmitForecastCall", call());
    let x = fx.clone();
    f.add(
        "ForecastService/SubmitForecastCall",
        "call: bad field",
        move |rng| {
            let mut r = call();
            let expect = match rng.below(7) {
                0 => {
                    r.period = bad_period(rng);
                    field("period")
                }
                1 => {
                    r.commit = usd(*pick(rng, &[-1, i64::MIN, i64::MAX, 1_000_000_000_001]));
                    field("commit.amount_minor")
                }
                2 => {
                    r.best_case = usd(*pick(rng, &[-1, i64::MIN, i64::MAX]));
                    field("best_case.amount_minor")
                }
                3 => {
                    r.commit = None;
                    field("commit")
                }
                4 => {
                    r.best_case.as_mut().unwrap().currency_code = bad_currency(rng);
                    field("best_case.currency_code")
                }
                5 => {
                    r.note = huge(rng);
                    field("note")
                }
                _ => {
                    r.note = control_text(rng);
                    field("note")
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let adjust = |fx: &Fixture| pb::AdjustForecastCallRequest {
        period: "2026-Q4".into(),
        user: fx.rep.name(),
        commit: usd(1_000),
        best_case: usd(2_000),
        note: String::new(),
    };
    f.credentials("ForecastService/AdjustForecastCall", adjust(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/AdjustForecastCall",
        "adjust: bad field or subject",
        move |rng| {
            let mut r = adjust(&x);
            let mut caller = &x.manager;
            let expect = match rng.below(6) {
                0 => {
                    r.period = bad_period(rng);
                    field("period")
                }
                1 => {
                    r.user = bad_name(rng, "users");
                    field("user")
                }
                2 => {
                    // Calls may be zero, not negative or huge.
                    r.commit = usd(*pick(rng, &[-1, i64::MIN, i64::MAX, 1_000_000_000_001]));
                    field("commit.amount_minor")
                }
                3 => {
                    r.user = x.other_rep.name();
                    Expect::Code(Code::PermissionDenied)
                }
                4 => {
                    // A rep adjusting their own manager.
                    caller = &x.rep;
                    r.user = x.manager.name();
                    Expect::Code(Code::PermissionDenied)
                }
                _ => {
                    r.user = format!("users/{}", unknown_id(rng));
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(caller), r, expect)
        },
    );

    let judge = |fx: &Fixture| pb::JudgeDealRequest {
        period: "2026-Q4".into(),
        deal: fx.deal.name.clone(),
        include: true,
        note: String::new(),
    };
    f.credentials("ForecastService/JudgeDeal", judge(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/JudgeDeal",
        "judge: bad field or deal",
        move |rng| {
            let mut r = judge(&x);
            let expect = match rng.below(5) {
                0 => {
                    r.period = bad_period(rng);
                    field("period")
                }
                1 => {
                    r.deal = bad_name(rng, "deals");
                    field("deal")
                }
                2 => {
                    r.note = huge(rng);
                    field("note")
                }
                3 => {
                    r.deal = x.foreign_deal.name.clone();
                    Expect::Code(Code::NotFound)
                }
                _ => {
                    r.deal = format!("deals/{}", unknown_id(rng));
                    Expect::Code(Code::NotFound)
                }
            };
            (as_(&x.manager), r, expect)
        },
    );

    let get_call = |fx: &Fixture| pb::GetForecastCallRequest {
        period: "2026-Q4".into(),
        user: fx.rep.name(),
        as_of_time: None,
    };
    f.credentials("ForecastService/GetForecastCall", get_call(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/GetForecastCall",
        "get call: bad field",
        move |rng| {
            let mut r = get_call(&x);
            let expect = match rng.below(4) {
                0 => {
                    r.period = bad_period(rng);
                    field("period")
                }
                1 => {
                    r.user = bad_name(rng, "users");
                    field("user")
                }
                2 => {
                    r.as_of_time = Some(bad_timestamp(rng));
                    field("as_of_time")
                }
                _ => {
                    r.user = x.other_rep.name();
                    Expect::Code(Code::PermissionDenied)
                }
            };
            (as_(&x.rep), r, expect)
        },
    );

    let snapshot = valid::snapshot_forecast;
    f.credentials("ForecastService/SnapshotForecast", snapshot(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/SnapshotForecast",
        "snapshot forecast: bad field",
        move |rng| {
            let mut r = snapshot(&x);
            let expect = match rng.below(5) {
                0 => {
                    r.currency_code = bad_currency(rng);
                    field("currency_code")
                }
                _ => period_scope(rng, &x, &mut r.period, &mut r.scope),
            };
            (as_(&x.rep), r, expect)
        },
    );

    let listsnap = |fx: &Fixture| pb::ListForecastSnapshotsRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
        ..Default::default()
    };
    f.credentials("ForecastService/ListForecastSnapshots", listsnap(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/ListForecastSnapshots",
        "list forecast snapshots: bad field",
        move |rng| {
            let mut r = listsnap(&x);
            let expect = period_scope(rng, &x, &mut r.period, &mut r.scope);
            (as_(&x.rep), r, expect)
        },
    );

    let accuracy = |fx: &Fixture| pb::GetForecastAccuracyRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
    };
    f.credentials("ForecastService/GetForecastAccuracy", accuracy(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/GetForecastAccuracy",
        "accuracy: bad field",
        move |rng| {
            let mut r = accuracy(&x);
            let expect = period_scope(rng, &x, &mut r.period, &mut r.scope);
            (as_(&x.rep), r, expect)
        },
    );

    let backtest = |fx: &Fixture| pb::BacktestForecastRequest {
        period: "2026-Q4".into(),
        scope: fx.rep.name(),
        ..Default::default()
    };
    f.credentials("ForecastService/BacktestForecast", backtest(fx));
    let x = fx.clone();
    f.add(
        "ForecastService/BacktestForecast",
        "backtest: bad field",
        move |rng| {
            let mut r = backtest(&x);
            let expect = match rng.below(5) {
                0 => {
                    r.as_of_dates = vec![bad_date(rng)];
                    field("as_of_dates[0]")
                }
                1 => {
                    let d = Date {
                        year: 2026,
                        month: 10,
                        day: 15,
                    };
                    r.as_of_dates = vec![d; 101 + rng.below(500)];
                    field("as_of_dates")
                }
                2 => {
                    r.currency_code = bad_currency(rng);
                    field("currency_code")
                }
                _ => period_scope(rng, &x, &mut r.period, &mut r.scope),
            };
            (as_(&x.rep), r, expect)
        },
    );
}
