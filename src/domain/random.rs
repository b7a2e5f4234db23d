//! A small seedable random sequence, for reproducible simulations and generated data.

/// SplitMix64: a tiny, well-known, seedable generator; plenty for simulations
/// and test data, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

/// 2^53, the number of values [`Rng::unit`] draws from.
const UNIT: f64 = (1u64 << 53) as f64;

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1): a draw of 53 bits over 2^53.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / UNIT
    }

    /// The odds of a chance `p` in [0, 1], for [`Rng::wins`]: computed once for many draws.
    pub fn odds(p: f64) -> u64 {
        (p * UNIT).ceil() as u64
    }

    /// True when the next draw falls below `odds` ([`Rng::odds`]): exactly when `unit() < p`
    /// would be, decided on the draw's 53 bits without the float (`x / 2^53 < p` when
    /// `x < ceil(p x 2^53)`, both sides exact).
    #[inline]
    pub fn wins(&mut self, odds: u64) -> bool {
        (self.next_u64() >> 11) < odds
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.wins(Self::odds(p))
    }

    /// One of `items` by weight.
    pub fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut pick = (self.unit() * f64::from(total)) as u32;
        for (item, weight) in items {
            if pick < *weight {
                return *item;
            }
            pick -= weight;
        }
        items[items.len() - 1].0
    }

    /// Exponentially distributed with this median.
    pub fn exponential(&mut self, median: f64) -> f64 {
        -(1.0 - self.unit()).ln() * median / std::f64::consts::LN_2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert_eq, proptest};

    proptest! {
        /// A draw wins at a chance's odds exactly when its unit value is below the chance: for
        /// any chance, and at the edge, a chance equal to the draw's own value (not below it)
        /// and the next chance above it.
        #[test]
        fn a_draw_wins_exactly_when_its_unit_value_is_below_p(seed in any::<u64>(), p in 0.0f64..=1.0, edge in 0u8..3) {
            let own = Rng::new(seed).unit();
            let p = match edge {
                0 => p,
                1 => own,
                _ => f64::from_bits(own.to_bits() + 1),
            };
            prop_assert_eq!(Rng::new(seed).wins(Rng::odds(p)), Rng::new(seed).unit() < p);
        }
    }
}
