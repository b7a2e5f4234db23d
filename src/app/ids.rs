//! Where the application draws new ids and token secrets: random by default (UUIDv7 from the
//! clock, secrets from the operating system), or, for the demo only, a sequence from a seed so
//! that the same demo seed gives the same ids and tokens at every start.

use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

use crate::domain::random::Rng;

/// The instant (2025-01-01T00:00:00Z, in milliseconds) seeded ids count from: before any id the
/// service makes with the clock, so what a demo creates later through the API sorts after what
/// its seeding made.
pub const SEEDED_ID_EPOCH_MS: u64 = 1_735_689_600_000;

/// The source of new ids and secrets. The default is random; [`IdSource::demo_seeded`] is
/// predictable by design and must never serve real data.
#[derive(Debug, Clone, Default)]
pub struct IdSource {
    /// `None`: random. Shared by the application's clones, so one sequence is drawn once.
    seeded: Option<Arc<Mutex<Seeded>>>,
}

/// A seeded sequence: a counter for the ids' time part (so they sort in the order made) and a
/// generator for the rest.
#[derive(Debug)]
struct Seeded {
    rng: Rng,
    made: u64,
}

impl IdSource {
    /// Random ids and secrets: what every server uses.
    pub fn random() -> Self {
        Self::default()
    }

    /// DEMO ONLY: ids and token secrets drawn from `seed`, the same for the same seed. Anyone
    /// who knows the seed knows the secrets.
    pub fn demo_seeded(seed: u64) -> Self {
        // A stream apart from the one the book generator draws from the same seed.
        let rng = Rng::new(seed ^ 0x1D5_0DE0_5EED);
        Self {
            seeded: Some(Arc::new(Mutex::new(Seeded { rng, made: 0 }))),
        }
    }

    /// Whether ids and secrets come from a seed (the demo).
    pub fn is_seeded(&self) -> bool {
        self.seeded.is_some()
    }

    /// A new id: a UUIDv7 from the clock, or a UUIDv7-shaped id whose time part counts
    /// milliseconds from [`SEEDED_ID_EPOCH_MS`], one per id.
    pub fn id(&self) -> Uuid {
        let Some(seeded) = &self.seeded else {
            return Uuid::now_v7();
        };
        let mut seeded = seeded.lock().unwrap_or_else(PoisonError::into_inner);
        seeded.made += 1;
        let millis = SEEDED_ID_EPOCH_MS + seeded.made;
        let random = Uuid::from_u64_pair(seeded.rng.next_u64(), seeded.rng.next_u64());
        let mut bytes = *random.as_bytes();
        bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        bytes[6] = (bytes[6] & 0x0F) | 0x70;
        bytes[8] = (bytes[8] & 0x3F) | 0x80;
        Uuid::from_bytes(bytes)
    }

    /// 32 bytes for a token secret: from the operating system, or from the seed.
    pub fn secret(&self) -> Result<[u8; 32], String> {
        let mut bytes = [0u8; 32];
        match &self.seeded {
            None => getrandom::fill(&mut bytes).map_err(|e| e.to_string())?,
            Some(seeded) => {
                let mut seeded = seeded.lock().unwrap_or_else(PoisonError::into_inner);
                for chunk in bytes.chunks_mut(8) {
                    chunk.copy_from_slice(&seeded.rng.next_u64().to_le_bytes());
                }
            }
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_ids_and_secrets_and_another_seed_others() {
        let draw = |source: IdSource| (source.id(), source.id(), source.secret().unwrap());
        let first = draw(IdSource::demo_seeded(7));
        assert_eq!(first, draw(IdSource::demo_seeded(7)));
        let other = draw(IdSource::demo_seeded(8));
        assert_ne!(first.0, other.0);
        assert_ne!(first.2, other.2);
    }

    #[test]
    fn seeded_ids_are_version_7_and_sort_in_the_order_made_before_clock_ids() {
        let source = IdSource::demo_seeded(7);
        let (a, b) = (source.id(), source.id());
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
        assert!(b < Uuid::now_v7());
    }

    #[test]
    fn the_default_source_is_random() {
        let source = IdSource::random();
        assert!(!source.is_seeded());
        assert_ne!(source.id(), source.id());
        assert_ne!(source.secret().unwrap(), source.secret().unwrap());
    }
}
