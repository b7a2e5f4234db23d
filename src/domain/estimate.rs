//! What the stage rates and the period rates share: the prior's default weight and the Wilson
//! interval on a count (both are "wins of n, shrunk toward a prior").

/// z for a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// Default weight of the prior, in pseudo-observations.
pub const DEFAULT_PRIOR_WEIGHT: u32 = 10;

/// The 95% Wilson score interval for `wins` of `n`; [0, 1] when n = 0.
pub fn wilson(wins: f64, n: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = wins / n;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}
