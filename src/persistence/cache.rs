//! Read-through caches of what nearly every request reads and almost nothing changes: who a
//! token belongs to, the reporting tree, pipelines, each segment's newest approval policy, the
//! current win rates and the exchange rates; and the three columns of a deal an approval route
//! depends on (its owner, pipeline and amount), which the preview of a route reads and every
//! write of that deal through the store forgets. Whole deals, requests and calls are never
//! cached: every other read of a deal (a submitted request's route among them) goes to the
//! database.
//!
//! Bounds: an entry lives at most [`TTL`]; each cache holds at most [`CAPACITY`] entries (it is
//! emptied when full, so memory never grows with the data). Every write through a store (and
//! its clones, which share the caches) empties the cache it affects at once, so this process
//! never reads its own writes stale; another process sharing the database (a replica, the CLI)
//! sees them within [`TTL`]. Unknown tokens are never cached: a token issued elsewhere works at
//! once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use crate::app::ports::{DealRouting, TokenOwner};
use crate::domain::approval::PolicyVersion;
use crate::domain::directory::ReportingTree;
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::money::ExchangeRate;
use crate::domain::pipeline::{Pipeline, Segment};
use crate::domain::winrate::WinRateSnapshot;

/// How long an entry is served before it is read again.
pub const TTL: Duration = Duration::from_secs(2);
/// The most entries one cache holds.
pub const CAPACITY: usize = 10_000;

/// One cache: values by key, each with the moment it was read.
#[derive(Debug)]
pub struct Cached<K, V> {
    inner: Mutex<Entries<K, V>>,
    /// The loads under way, by key: a miss that finds one waits for it rather than reading the
    /// same row again (2,000 streams woken at once share one token read per token).
    loading: Mutex<HashMap<K, Arc<Semaphore>>>,
}

/// The lead of a key's load: when dropped (the load done, failed or cancelled), the misses
/// that waited for it go on.
pub struct Lead<'a, K: Eq + Hash, V> {
    cache: &'a Cached<K, V>,
    key: K,
    done: Arc<Semaphore>,
}

impl<K: Eq + Hash, V> Drop for Lead<'_, K, V> {
    fn drop(&mut self) {
        let mut loading = self.cache.loading.lock().unwrap_or_else(|e| e.into_inner());
        loading.remove(&self.key);
        self.done.close();
    }
}

#[derive(Debug)]
struct Entries<K, V> {
    values: HashMap<K, (V, Instant)>,
    /// Bumped by every clear: a read that began before one is not kept.
    generation: u64,
}

/// Taken before reading the database, handed back to [`Cached::put`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    generation: u64,
    at: Instant,
}

impl<K: Eq + Hash, V: Clone> Default for Cached<K, V> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Entries {
                values: HashMap::new(),
                generation: 0,
            }),
            loading: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Cached<K, V> {
    /// Before loading `key` after a miss: leads its load (`Some`), or, when another load of it
    /// is under way, waits for that one to end (`None`: read the cache again, and load without
    /// leading if it still misses, as when the other load found nothing or failed).
    pub async fn lead(&self, key: &K) -> Option<Lead<'_, K, V>> {
        let under_way = {
            let mut loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
            match loading.get(key) {
                Some(done) => done.clone(),
                None => {
                    let done = Arc::new(Semaphore::new(0));
                    loading.insert(key.clone(), done.clone());
                    return Some(Lead {
                        cache: self,
                        key: key.clone(),
                        done,
                    });
                }
            }
        };
        // Closed when the lead ends: the wait returns then, with an error that says only that.
        let _ = under_way.acquire().await;
        None
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Cached<K, V> {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        // A panic elsewhere cannot leave the map half-changed: every change is one call.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of `key` if it was read less than [`TTL`] ago.
    pub fn get(&self, key: &K) -> Option<V> {
        self.entries()
            .values
            .get(key)
            .filter(|(_, read)| read.elapsed() < TTL)
            .map(|(value, _)| value.clone())
    }

    /// Take before reading the value from the database.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            generation: self.entries().generation,
            at: Instant::now(),
        }
    }

    /// Remembers `value` read under `ticket`, unless a write cleared the cache meanwhile (the
    /// value may predate that write).
    pub fn put(&self, key: K, value: V, ticket: Ticket) {
        let mut entries = self.entries();
        if entries.generation != ticket.generation {
            return;
        }
        if entries.values.len() >= CAPACITY {
            entries.values.clear();
        }
        entries.values.insert(key, (value, ticket.at));
    }

    /// The cached value of `key`, else the value `load` reads (and remembers).
    pub async fn get_or_load<E>(
        &self,
        key: K,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E> {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let _lead = self.lead(&key).await;
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let ticket = self.ticket();
        let value = load.await?;
        self.put(key, value.clone(), ticket);
        Ok(value)
    }

    /// Forgets everything; call after a write that may change any entry has committed.
    pub fn clear(&self) {
        let mut entries = self.entries();
        entries.values.clear();
        entries.generation += 1;
    }

    /// Forgets `key`; call after a write that may change its value has committed. A read of any
    /// key under way meanwhile is not kept (it may have read `key` before the write).
    pub fn forget(&self, key: &K) {
        let mut entries = self.entries();
        entries.values.remove(key);
        entries.generation += 1;
    }
}

/// The caches of one store and its clones.
#[derive(Debug, Default)]
pub struct Caches {
    /// Token owners by the token secret's hash.
    pub tokens: Cached<String, TokenOwner>,
    /// Pipelines by id (shared: a hit copies no stage, gate or rule).
    pub pipelines: Cached<PipelineId, Arc<Pipeline>>,
    /// Each segment's newest policy (`None`: it has none yet).
    pub policies: Cached<Segment, Option<Arc<PolicyVersion>>>,
    /// Pages of pipelines by (segment, after, limit).
    pub pipeline_pages: Cached<(Option<Segment>, Option<PipelineId>, u64), Vec<Pipeline>>,
    /// Every user with their manager (for scopes and every manager's access check).
    pub tree: Cached<(), Arc<ReportingTree>>,
    /// The current win-rate snapshot of every pipeline.
    pub win_rates: Cached<(), Vec<WinRateSnapshot>>,
    /// The exchange-rate table.
    pub exchange_rates: Cached<(), Vec<(ExchangeRate, DateTime<Utc>)>>,
    /// Each deal's owner, pipeline and amount, for the preview of an approval route (a deal not
    /// found is not kept: it may be created the next moment).
    pub deal_routing: Cached<DealId, DealRouting>,
}

impl Caches {
    /// After a change to users or tokens.
    pub fn directory_changed(&self) {
        self.tokens.clear();
        self.tree.clear();
    }

    /// After a change to pipelines.
    pub fn pipelines_changed(&self) {
        self.pipelines.clear();
        self.pipeline_pages.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn misses_of_one_key_at_once_share_one_load() {
        let cache: Arc<Cached<String, u32>> = Arc::default();
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let misses: Vec<_> = (0..50)
            .map(|_| {
                let (cache, loads, gate) = (cache.clone(), loads.clone(), gate.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_load("token".to_string(), async {
                            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let _ = gate.acquire().await;
                            Ok::<_, ()>(7)
                        })
                        .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        gate.close();
        for miss in misses {
            assert_eq!(miss.await.unwrap(), Ok(7));
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(cache.loading.lock().unwrap().is_empty());
    }

    #[test]
    fn entries_expire_are_cleared_and_stay_bounded() {
        let cache: Cached<u32, &str> = Cached::default();
        cache.put(1, "one", cache.ticket());
        assert_eq!(cache.get(&1), Some("one"));
        assert_eq!(cache.get(&2), None);
        let old = Ticket {
            at: Instant::now().checked_sub(TTL).unwrap(),
            ..cache.ticket()
        };
        cache.put(2, "stale", old);
        assert_eq!(cache.get(&2), None, "read longer than TTL ago");
        cache.clear();
        assert_eq!(cache.get(&1), None);
        for i in 0..CAPACITY as u32 + 1 {
            cache.put(i, "x", cache.ticket());
        }
        assert!(cache.entries().values.len() <= CAPACITY);
        assert_eq!(cache.get(&(CAPACITY as u32)), Some("x"));
    }

    #[test]
    fn forgetting_one_key_keeps_the_others_and_drops_reads_under_way() {
        let cache: Cached<u32, &str> = Cached::default();
        cache.put(1, "one", cache.ticket());
        cache.put(2, "two", cache.ticket());
        let ticket = cache.ticket();
        cache.forget(&1);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2), Some("two"));
        cache.put(3, "read before the write of 1", ticket);
        assert_eq!(cache.get(&3), None, "it may have read 1 before its write");
        cache.put(1, "one again", cache.ticket());
        assert_eq!(cache.get(&1), Some("one again"));
    }

    #[test]
    fn a_read_that_began_before_a_write_is_not_kept() {
        let cache: Cached<u32, &str> = Cached::default();
        let ticket = cache.ticket();
        cache.clear(); // a write committed while the read was under way
        cache.put(1, "maybe stale", ticket);
        assert_eq!(cache.get(&1), None);
    }
}
