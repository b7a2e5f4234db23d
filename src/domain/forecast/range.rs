//! The range of a period's revenue: P10, P50 and P90 of closed won plus each open deal won
//! independently, enumerated, sampled or approximated by the normal distribution, whichever errs
//! least within a budget.

use super::OpenDeals;
use crate::domain::random::Rng;

/// How a range was computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeMethod {
    /// Every combination of outcomes enumerated (few deals, or no uncertainty).
    Exact,
    /// Sampled: each reported quantile is, with 99% confidence, a true quantile within
    /// `dkw_bound` of the one named (Dvoretzky-Kiefer-Wolfowitz).
    MonteCarlo {
        /// How many simulated periods.
        samples: u32,
        /// The sampler's seed (the same inputs always give the same range).
        seed: u64,
        /// sqrt(ln(2 / 0.01) / (2 * samples)).
        dkw_bound: f64,
    },
    /// The normal distribution with the revenue's mean and variance (many deals, by the
    /// central limit theorem): the true distribution function is nowhere further than
    /// `berry_esseen_bound` from it (Berry-Esseen, with Shevtsova's constant 0.56).
    Normal {
        /// 0.56 x sum E|X - EX|^3 / sd^3 over the uncertain deals.
        berry_esseen_bound: f64,
    },
}

/// P10, P50 and P90 of the period's revenue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// 10th percentile.
    pub p10: i64,
    /// Median.
    pub p50: i64,
    /// 90th percentile.
    pub p90: i64,
    /// How it was computed.
    pub method: RangeMethod,
}

/// Deals enumerated exactly up to this many uncertain ones (2^16 outcomes).
pub const EXACT_LIMIT: u64 = 16;
/// Most samples, and the budget of samples x deals a sampled range may cost.
const MAX_SAMPLES: u64 = 10_000;
const MIN_SAMPLES: u64 = 1_000;
const SAMPLE_BUDGET: u64 = 200_000;
/// The 90th percentile of the standard normal distribution.
const Z90: f64 = 1.281_551_565_544_600_4;

/// What the uncertain deals add up to: the revenue is `certain` plus a sum of independent
/// `amount x Bernoulli(p)`.
#[derive(Debug, Clone, Copy, Default)]
struct Spread {
    certain: i64,
    deals: u64,
    /// Their amounts, if all were won.
    most: i64,
    mean: f64,
    variance: f64,
    /// sum of E|X - EX|^3.
    third: f64,
    /// Whether some uncertain entry is a group rather than one deal.
    grouped: bool,
}

impl Spread {
    fn of(closed_won: i64, deals: &[OpenDeals]) -> Spread {
        let mut s = Spread {
            certain: closed_won,
            ..Spread::default()
        };
        for d in deals {
            let p = d.probability.clamp(0.0, 1.0);
            if d.uncertain() {
                s.deals += d.deals;
                s.most += d.amount;
                s.mean += d.amount as f64 * p;
                s.variance += d.squares * p * (1.0 - p);
                s.third += d.cubes.abs() * p * (1.0 - p) * (p * p + (1.0 - p) * (1.0 - p));
                s.grouped |= d.deals > 1;
            } else if p >= 1.0 {
                s.certain += d.amount;
            }
        }
        s
    }

    /// The method with the smallest error within the sampling budget.
    fn method(&self, seed: u64) -> RangeMethod {
        if self.deals <= EXACT_LIMIT {
            return RangeMethod::Exact;
        }
        let samples = (SAMPLE_BUDGET / self.deals).clamp(MIN_SAMPLES, MAX_SAMPLES);
        let dkw_bound = ((2.0f64 / 0.01).ln() / (2.0 * samples as f64)).sqrt();
        let berry_esseen_bound = 0.56 * self.third / self.variance.powf(1.5);
        if berry_esseen_bound < dkw_bound {
            RangeMethod::Normal { berry_esseen_bound }
        } else {
            RangeMethod::MonteCarlo {
                samples: samples as u32,
                seed,
                dkw_bound,
            }
        }
    }
}

/// Whether the range of `deals` (grouped or one by one: a group's powers are its deals' summed)
/// needs them one by one (enumerated or sampled) rather than the normal approximation: few
/// uncertain deals, or so uneven that sampling beats it.
pub fn range_needs_each_deal(deals: &[OpenDeals]) -> bool {
    !matches!(Spread::of(0, deals).method(0), RangeMethod::Normal { .. })
}

/// The range of `closed_won` plus each deal won independently with its probability; `None`
/// when the deals are grouped and the range needs them one by one ([`range_needs_each_deal`]).
pub fn revenue_range(closed_won: i64, deals: &[OpenDeals], seed: u64) -> Option<Range> {
    let spread = Spread::of(closed_won, deals);
    let method = spread.method(seed);
    let certain = spread.certain;
    let uncertain = || deals.iter().filter(|d| d.uncertain());
    let (p10, p50, p90) = match method {
        _ if spread.grouped && !matches!(method, RangeMethod::Normal { .. }) => return None,
        RangeMethod::Normal { .. } => {
            let sd = spread.variance.sqrt();
            let at = |z: f64| {
                let value = (certain as f64 + spread.mean + z * sd).round() as i64;
                value.clamp(certain, certain + spread.most)
            };
            (at(-Z90), at(0.0), at(Z90))
        }
        RangeMethod::Exact => {
            let mut outcomes: Vec<(i64, f64)> = vec![(certain, 1.0)];
            for d in uncertain() {
                let (amount, p) = (d.amount, d.probability);
                outcomes = outcomes
                    .iter()
                    .flat_map(|&(value, prob)| {
                        [(value + amount, prob * p), (value, prob * (1.0 - p))]
                    })
                    .collect();
            }
            outcomes.sort_by_key(|&(value, _)| value);
            let quantile = |q: f64| {
                let mut cumulative = 0.0;
                for &(value, prob) in &outcomes {
                    cumulative += prob;
                    if cumulative >= q - 1e-12 {
                        return value;
                    }
                }
                outcomes.last().map(|o| o.0).unwrap_or(certain)
            };
            (quantile(0.1), quantile(0.5), quantile(0.9))
        }
        RangeMethod::MonteCarlo { samples, .. } => {
            let draws: Vec<(i64, u64)> = uncertain()
                .map(|d| (d.amount, Rng::odds(d.probability)))
                .collect();
            let mut totals = sampled_totals(certain, &draws, samples as usize, seed);
            totals.sort_unstable();
            let at =
                |q: f64| totals[((q * samples as f64).ceil() as usize).clamp(1, totals.len()) - 1];
            (at(0.1), at(0.5), at(0.9))
        }
    };
    Some(Range {
        p10,
        p50,
        p90,
        method,
    })
}

/// The range of the period forecast's model (DESIGN.md, "Weighted forecast"): `closed_won`, plus
/// each open deal won independently with its probability (q) scaled by the period's effect, plus
/// the not-yet-created revenue. `new` holds the not-yet-created term's past values, drawn
/// uniformly (none: no such term); `effects` the past periods' booked / expected of the
/// period rates ([`crate::domain::period_rate::PeriodOutcome`]), one drawn per period: whole
/// periods run hot or cold together, which independent coin tosses alone leave out. A spread
/// needs two different values of either: with no more than one value of each (one effect alone
/// is ignored), this is [`revenue_range`] shifted by the past value.
///
/// Many deals take a mixture of normal distributions (one per effect and past value, each
/// within its Berry-Esseen bound, so the mixture is within the largest); otherwise periods are
/// simulated (every deal one by one: `None` for grouped deals, as [`revenue_range`]).
pub fn model_range(
    closed_won: i64,
    deals: &[OpenDeals],
    new: &[i64],
    effects: &[f64],
    seed: u64,
) -> Option<Range> {
    let new_varies = new.windows(2).any(|w| w[0] != w[1]);
    let effects_vary = effects.windows(2).any(|w| w[0] != w[1]);
    if !new_varies && !effects_vary {
        let shift = new.first().copied().unwrap_or(0);
        return revenue_range(closed_won.saturating_add(shift), deals, seed);
    }
    let effects: &[f64] = if effects_vary { effects } else { &[1.0] };
    let new: &[i64] = if new.is_empty() { &[0] } else { new };
    let scaled: Vec<Vec<OpenDeals>> = effects
        .iter()
        .map(|&e| {
            deals
                .iter()
                .map(|d| OpenDeals {
                    probability: (d.probability * e).clamp(0.0, 1.0),
                    ..*d
                })
                .collect()
        })
        .collect();
    let spreads: Vec<Spread> = scaled.iter().map(|d| Spread::of(closed_won, d)).collect();
    let spread = Spread::of(closed_won, deals);
    match spread.method(seed) {
        RangeMethod::Normal { .. } => Some(normal_mixture(&spreads, new)),
        _ if spread.grouped => None,
        _ => {
            let samples = (SAMPLE_BUDGET / spread.deals.max(1)).clamp(MIN_SAMPLES, MAX_SAMPLES);
            Some(simulated_mixture(
                &scaled,
                &spreads,
                new,
                samples as usize,
                seed,
            ))
        }
    }
}

/// P10, P50 and P90 of the equal-weight mixture of one normal distribution per (effect, past
/// value), each with its spread's mean and variance shifted by the value.
fn normal_mixture(spreads: &[Spread], new: &[i64]) -> Range {
    let components: Vec<(f64, f64)> = spreads
        .iter()
        .flat_map(|s| {
            new.iter()
                .map(move |&v| (s.certain as f64 + v as f64 + s.mean, s.variance.sqrt()))
        })
        .collect();
    let lowest =
        spreads.iter().map(|s| s.certain).min().unwrap_or(0) + new.iter().min().unwrap_or(&0);
    let highest = spreads
        .iter()
        .map(|s| s.certain + s.most)
        .max()
        .unwrap_or(0)
        + new.iter().max().unwrap_or(&0);
    let cdf = |x: f64| {
        components
            .iter()
            .map(|&(mean, sd)| match sd > 0.0 {
                true => normal_cdf((x - mean) / sd),
                false => f64::from(u8::from(x >= mean)),
            })
            .sum::<f64>()
            / components.len() as f64
    };
    // The smallest whole amount whose probability reaches q, by bisection.
    let quantile = |q: f64| {
        let (mut lo, mut hi) = (lowest, highest);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if cdf(mid as f64) >= q {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    };
    let berry_esseen_bound = spreads
        .iter()
        .filter(|s| s.variance > 0.0)
        .map(|s| 0.56 * s.third / s.variance.powf(1.5))
        .fold(0.0, f64::max);
    Range {
        p10: quantile(0.1),
        p50: quantile(0.5),
        p90: quantile(0.9),
        method: RangeMethod::Normal { berry_esseen_bound },
    }
}

/// P10, P50 and P90 of `samples` simulated periods, spread evenly over the effects (each a run
/// of [`sampled_totals`] with its deals' scaled probabilities), each adding one past value of
/// the not-yet-created term drawn uniformly.
fn simulated_mixture(
    scaled: &[Vec<OpenDeals>],
    spreads: &[Spread],
    new: &[i64],
    samples: usize,
    seed: u64,
) -> Range {
    let runs = scaled.len().max(1);
    let mut totals = Vec::with_capacity(samples);
    for (j, (deals, spread)) in scaled.iter().zip(spreads).enumerate() {
        let share = samples / runs + usize::from(j < samples % runs);
        let draws: Vec<(i64, u64)> = deals
            .iter()
            .filter(|d| d.uncertain())
            .map(|d| (d.amount, Rng::odds(d.probability)))
            .collect();
        totals.extend(sampled_totals(
            spread.certain,
            &draws,
            share,
            seed.wrapping_add(j as u64),
        ));
    }
    let mut rng = Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    for total in &mut totals {
        *total = total.saturating_add(new[rng.below(new.len())]);
    }
    totals.sort_unstable();
    let at =
        |q: f64| totals[((q * totals.len() as f64).ceil() as usize).clamp(1, totals.len()) - 1];
    Range {
        p10: at(0.1),
        p50: at(0.5),
        p90: at(0.9),
        method: RangeMethod::MonteCarlo {
            samples: samples as u32,
            seed,
            dkw_bound: ((2.0f64 / 0.01).ln() / (2.0 * samples as f64)).sqrt(),
        },
    }
}

/// The standard normal distribution function, by Abramowitz and Stegun's 7.1.26 for erf
/// (absolute error below 1.5e-7: far inside any Berry-Esseen bound a forecast reports).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Each of `samples` simulated periods' revenue: `certain`, plus the amount of each of `draws`
/// (amount, [`Rng::odds`] of its win) that its draw wins in that period, drawn from `seed`.
///
/// Deal by deal, each period's total gets the deal's amount when its draw wins: the periods'
/// additions are independent of each other, so the processor overlaps them (period by period,
/// each deal's addition would wait on the last), and each is added without a branch, which a
/// coin toss would mispredict half the time. Where the processor has them, the same loop runs on
/// its vector instructions, several periods' draws at once: integer arithmetic, the same totals
/// whichever runs. The timings are in BENCHMARKS.md.
fn sampled_totals(certain: i64, draws: &[(i64, u64)], samples: usize, seed: u64) -> Vec<i64> {
    let mut totals = vec![certain; samples];
    let mut rng = Rng::new(seed);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the processor has just been found to have each feature it is built for.
            unsafe { add_draws_avx512(&mut totals, draws, &mut rng) };
            return totals;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            unsafe { add_draws_avx2(&mut totals, draws, &mut rng) };
            return totals;
        }
    }
    add_draws(&mut totals, draws, &mut rng);
    totals
}

/// The loop of [`sampled_totals`], compiled once per instruction set.
#[inline(always)]
fn add_draws(totals: &mut [i64], draws: &[(i64, u64)], rng: &mut Rng) {
    for &(amount, odds) in draws {
        for total in totals.iter_mut() {
            *total += amount & -i64::from(rng.wins(odds));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512dq,avx512vl")]
fn add_draws_avx512(totals: &mut [i64], draws: &[(i64, u64)], rng: &mut Rng) {
    add_draws(totals, draws, rng)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn add_draws_avx2(totals: &mut [i64], draws: &[(i64, u64)], rng: &mut Rng) {
    add_draws(totals, draws, rng)
}

#[cfg(test)]
pub(super) mod tests;
