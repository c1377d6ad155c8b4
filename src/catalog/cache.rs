//! Answers already built for one asset, kept for one store generation and
//! bounded by the bytes they hold. Any change to the live catalog or its
//! governance overlay (here, or seen from another replica at the next
//! reconcile) starts a new generation, which empties the cache. Values are
//! opaque: the gRPC layer keeps encoded GetAsset responses here, so a
//! repeated read costs a lookup instead of a query, an assembly and an
//! encoding. Values are held in the compact form [`super::packing`] gives
//! them, so the budget counts the bytes actually held.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;

use super::packing::{Packed, Packer};
use crate::domain::asset::AssetKey;

/// What an entry costs beyond its value and its key's text: the map's and
/// the clock's bookkeeping and the strings' headers, roughly.
const ENTRY_OVERHEAD: usize = 160;

/// A generation-scoped cache of encoded answers, keyed by asset.
#[derive(Debug)]
pub struct ReadCache {
    budget: usize,
    inner: Mutex<Entries>,
    /// One packer per plugin and kind: answers of one kind share their
    /// shape, answers of different kinds little.
    packers: RwLock<HashMap<(String, String), Arc<Packer>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What the cache holds and how it has served, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads the cache could not answer.
    pub misses: u64,
    /// Answers held.
    pub entries: usize,
    /// Of those, the answers held compressed.
    pub compressed: usize,
    /// Bytes counted against the budget.
    pub held_bytes: usize,
    /// The size of the answers held, as served.
    pub answer_bytes: usize,
    /// The budget.
    pub budget_bytes: usize,
}

#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    bytes: usize,
    /// The served size of the answers held (`bytes` counts what is kept).
    answer_bytes: usize,
    /// Answers held compressed.
    compressed: usize,
    values: HashMap<AssetKey, Entry>,
    /// Every key once, in the order eviction looks at them (a clock whose
    /// hand is the front): an entry read since the hand last passed it
    /// goes to the back instead of out, so it gets a full turn to be read
    /// again before it is looked at twice.
    clock: VecDeque<AssetKey>,
}

#[derive(Debug)]
struct Entry {
    value: Packed,
    /// Read since the last eviction pass looked at it (second chance).
    referenced: bool,
}

impl ReadCache {
    /// A cache holding at most `budget` bytes (0 keeps nothing).
    pub fn new(budget: usize) -> Self {
        ReadCache {
            budget,
            inner: Mutex::new(Entries::default()),
            packers: RwLock::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The value of `key` stored at `generation`, if any.
    pub fn get(&self, key: &AssetKey, generation: u64) -> Option<Bytes> {
        if self.budget == 0 {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let packed = {
            let mut entries = self.lock();
            let current = entries.generation == generation;
            entries
                .values
                .get_mut(key)
                .filter(|_| current)
                .map(|entry| {
                    entry.referenced = true;
                    entry.value.clone()
                })
        };
        let answer = packed.and_then(Packed::unpack);
        let counter = if answer.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        answer
    }

    /// Counts and sizes, as of now.
    pub fn stats(&self) -> CacheStats {
        let entries = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: entries.values.len(),
            compressed: entries.compressed,
            held_bytes: entries.bytes,
            answer_bytes: entries.answer_bytes,
            budget_bytes: self.budget,
        }
    }

    /// Keeps `value` for `key`. `generation` must be the one read before
    /// the value was built: a value built from an older generation than the
    /// cache already holds is dropped, never served as current.
    pub fn put(&self, key: AssetKey, value: Bytes, generation: u64) {
        if self.budget == 0 {
            return;
        }
        let value = self.packer(&key).pack(value);
        let cost = cost_of(&key, &value);
        if cost > self.budget {
            return;
        }
        let mut entries = self.lock();
        if generation < entries.generation {
            return;
        }
        if generation > entries.generation {
            entries.values.clear();
            entries.clock.clear();
            entries.bytes = 0;
            entries.answer_bytes = 0;
            entries.compressed = 0;
            entries.generation = generation;
        }
        if entries.bytes + cost > self.budget {
            // Room for this value and a tenth of the budget, so the next
            // few puts do not each pay for an eviction pass.
            entries.shrink_to((self.budget - cost).min(self.budget - self.budget / 10));
        }
        let entry = Entry {
            value,
            referenced: false,
        };
        entries.count_in(&entry.value, cost);
        match entries.values.insert(key.clone(), entry) {
            Some(old) => entries.count_out(&old.value, cost_of(&key, &old.value)),
            None => entries.clock.push_back(key),
        }
    }

    fn packer(&self, key: &AssetKey) -> Arc<Packer> {
        let kind = (key.plugin.clone(), key.kind.clone());
        if let Some(packer) = self
            .packers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&kind)
        {
            return Arc::clone(packer);
        }
        let mut packers = self.packers.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(packers.entry(kind).or_default())
    }

    /// Bytes held now (values and their keys).
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Entries {
    fn count_in(&mut self, value: &Packed, cost: usize) {
        self.bytes += cost;
        self.answer_bytes += value.answer_len();
        self.compressed += usize::from(value.is_compressed());
    }

    fn count_out(&mut self, value: &Packed, cost: usize) {
        self.bytes -= cost;
        self.answer_bytes -= value.answer_len();
        self.compressed -= usize::from(value.is_compressed());
    }

    /// Drops entries until at most `target` bytes are held: first those
    /// not read since the hand last passed them (a one-off scan of many
    /// assets does not flush the assets read over and over). Two turns at
    /// most: the first may only clear marks, the second then evicts.
    fn shrink_to(&mut self, target: usize) {
        let mut steps = self.clock.len() * 2;
        while self.bytes > target && steps > 0 {
            steps -= 1;
            let Some(key) = self.clock.pop_front() else {
                break;
            };
            let Some(entry) = self.values.get_mut(&key) else {
                continue;
            };
            if std::mem::take(&mut entry.referenced) {
                self.clock.push_back(key);
            } else if let Some(entry) = self.values.remove(&key) {
                self.count_out(&entry.value, cost_of(&key, &entry.value));
            }
        }
    }
}

fn cost_of(key: &AssetKey, value: &Packed) -> usize {
    // The key is held twice: in the map and in the clock.
    value.held() + 2 * (key.plugin.len() + key.kind.len() + key.name.len()) + ENTRY_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> AssetKey {
        AssetKey::new("agents", "Agent", name)
    }

    fn value(len: usize) -> Bytes {
        Bytes::from(vec![7u8; len])
    }

    #[test]
    fn serves_a_value_only_in_the_generation_it_was_built_for() {
        let cache = ReadCache::new(1 << 20);
        cache.put(key("a"), value(10), 5);
        assert_eq!(cache.get(&key("a"), 5), Some(value(10)));
        assert_eq!(cache.get(&key("a"), 6), None);
        assert_eq!(cache.get(&key("b"), 5), None);
    }

    #[test]
    fn a_newer_generation_empties_it_and_an_older_one_is_refused() {
        let cache = ReadCache::new(1 << 20);
        cache.put(key("a"), value(10), 5);
        cache.put(key("b"), value(10), 6);
        assert_eq!(
            cache.get(&key("a"), 6),
            None,
            "generation 5 entries are gone"
        );
        cache.put(key("c"), value(10), 5);
        assert_eq!(cache.get(&key("c"), 5), None);
        assert_eq!(
            cache.get(&key("c"), 6),
            None,
            "a stale build is never served"
        );
        assert_eq!(cache.get(&key("b"), 6), Some(value(10)));
    }

    #[test]
    fn stays_within_its_byte_budget() {
        let budget = 64 * 1024;
        let cache = ReadCache::new(budget);
        for i in 0..1000 {
            cache.put(key(&format!("asset-{i}")), value(1000), 1);
            assert!(
                cache.held_bytes() <= budget,
                "{} > {budget}",
                cache.held_bytes()
            );
        }
        let kept = (0..1000)
            .filter(|i| cache.get(&key(&format!("asset-{i}")), 1).is_some())
            .count();
        assert!(kept > 40, "kept only {kept} of 1000 entries in 64 KiB");
        assert!(
            cache.get(&key("asset-999"), 1).is_some(),
            "the last put is kept"
        );
    }

    #[test]
    fn assets_read_again_survive_a_scan_of_new_ones() {
        let per_entry = cost_of(&key("asset-000"), &Packed::Plain(value(1000)));
        let cache = ReadCache::new(50 * per_entry);
        for i in 0..40 {
            cache.put(key(&format!("asset-{i:03}")), value(1000), 1);
        }
        for i in 0..10 {
            assert!(cache.get(&key(&format!("asset-{i:03}")), 1).is_some());
        }
        for i in 40..60 {
            cache.put(key(&format!("asset-{i:03}")), value(1000), 1);
        }
        assert!(cache.held_bytes() <= 50 * per_entry);
        for i in 0..10 {
            assert!(
                cache.get(&key(&format!("asset-{i:03}")), 1).is_some(),
                "hot asset-{i:03} was evicted by the scan"
            );
        }
    }

    #[test]
    fn a_long_scan_does_not_age_out_the_hot_set_before_a_full_turn() {
        let per_entry = cost_of(&key("hot-000"), &Packed::Plain(value(1000)));
        let cache = ReadCache::new(100 * per_entry);
        for i in 0..50 {
            cache.put(key(&format!("hot-{i:03}")), value(1000), 1);
        }
        for i in 0..50 {
            assert!(cache.get(&key(&format!("hot-{i:03}")), 1).is_some());
        }
        // Cold assets, read once each: three eviction passes, together
        // short of a full turn of the hand; the hot set is not read again.
        for i in 0..70 {
            cache.put(key(&format!("cold-{i:03}")), value(1000), 1);
        }
        let kept = (0..50)
            .filter(|i| cache.get(&key(&format!("hot-{i:03}")), 1).is_some())
            .count();
        assert!(kept >= 48, "only {kept} of 50 hot assets survived the scan");
    }

    #[test]
    fn once_trained_the_same_budget_holds_several_times_the_answers() {
        use crate::catalog::packing::sample_answer;
        let budget = 256 * 1024;
        let cache = ReadCache::new(budget);
        let kept = |cache: &ReadCache, from: usize| {
            (from..from + 2000)
                .filter(|&i| cache.get(&key(&format!("agent-{i}")), 1) == Some(sample_answer(i)))
                .count()
        };
        // Enough answers to train on; the last 2 000 are checked.
        for i in 0..6000 {
            cache.put(key(&format!("agent-{i}")), sample_answer(i), 1);
        }
        let before = kept(&cache, 4000);
        assert!(cache
            .packer(&key("agent-0"))
            .wait_for_dictionary(std::time::Duration::from_secs(10)));
        for i in 10_000..12_000 {
            cache.put(key(&format!("agent-{i}")), sample_answer(i), 1);
        }
        assert!(cache.held_bytes() <= budget);
        let after = kept(&cache, 10_000);
        let stats = cache.stats();
        assert!(stats.compressed > 0 && stats.compressed <= stats.entries);
        assert!(stats.answer_bytes > stats.held_bytes, "{stats:?}");
        // A new generation empties it, counts included.
        cache.put(key("fresh"), sample_answer(1), 2);
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.compressed), (1, 1));
        assert_eq!(stats.answer_bytes, sample_answer(1).len());
        assert!(
            after >= 2 * before,
            "{after} answers kept compressed against {before} plain"
        );
    }

    #[test]
    fn replacing_a_value_accounts_its_size_once() {
        let cache = ReadCache::new(1 << 20);
        cache.put(key("a"), value(100), 1);
        let once = cache.held_bytes();
        cache.put(key("a"), value(100), 1);
        assert_eq!(cache.held_bytes(), once);
    }

    #[test]
    fn a_zero_budget_or_an_oversized_value_keeps_nothing() {
        let off = ReadCache::new(0);
        off.put(key("a"), value(1), 1);
        assert_eq!(off.get(&key("a"), 1), None);
        assert_eq!((off.stats().hits, off.stats().misses), (0, 1));
        let small = ReadCache::new(512);
        small.put(key("big"), value(4096), 1);
        assert_eq!(small.get(&key("big"), 1), None);
        assert_eq!(small.held_bytes(), 0);
    }
}
