//! Answers already built for one asset, kept for one store generation and
//! bounded by the bytes they hold. Any change to the live catalog or its
//! governance overlay (here, or seen from another replica at the next
//! reconcile) starts a new generation, which empties the cache. Values are
//! opaque: the gRPC layer keeps encoded GetAsset responses here, so a
//! repeated read costs a lookup instead of a query, an assembly and an
//! encoding.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

use crate::domain::asset::AssetKey;

/// What an entry costs beyond its value and its key's text: the map's and
/// the clock's bookkeeping and the strings' headers, roughly.
const ENTRY_OVERHEAD: usize = 160;

/// A generation-scoped cache of encoded answers, keyed by asset.
#[derive(Debug)]
pub struct ReadCache {
    budget: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    bytes: usize,
    values: HashMap<AssetKey, Entry>,
    /// Every key once, in the order eviction looks at them (a clock whose
    /// hand is the front): an entry read since the hand last passed it
    /// goes to the back instead of out, so it gets a full turn to be read
    /// again before it is looked at twice.
    clock: VecDeque<AssetKey>,
}

#[derive(Debug)]
struct Entry {
    value: Bytes,
    /// Read since the last eviction pass looked at it (second chance).
    referenced: bool,
}

impl ReadCache {
    /// A cache holding at most `budget` bytes (0 keeps nothing).
    pub fn new(budget: usize) -> Self {
        ReadCache {
            budget,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// The value of `key` stored at `generation`, if any.
    pub fn get(&self, key: &AssetKey, generation: u64) -> Option<Bytes> {
        if self.budget == 0 {
            return None;
        }
        let mut entries = self.lock();
        if entries.generation != generation {
            return None;
        }
        let entry = entries.values.get_mut(key)?;
        entry.referenced = true;
        Some(entry.value.clone())
    }

    /// Keeps `value` for `key`. `generation` must be the one read before
    /// the value was built: a value built from an older generation than the
    /// cache already holds is dropped, never served as current.
    pub fn put(&self, key: AssetKey, value: Bytes, generation: u64) {
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
        match entries.values.insert(key.clone(), entry) {
            Some(old) => entries.bytes -= cost_of(&key, &old.value),
            None => entries.clock.push_back(key),
        }
        entries.bytes += cost;
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
                self.bytes -= cost_of(&key, &entry.value);
            }
        }
    }
}

fn cost_of(key: &AssetKey, value: &Bytes) -> usize {
    // The key is held twice: in the map and in the clock.
    value.len() + 2 * (key.plugin.len() + key.kind.len() + key.name.len()) + ENTRY_OVERHEAD
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
        let per_entry = cost_of(&key("asset-000"), &value(1000));
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
        let per_entry = cost_of(&key("hot-000"), &value(1000));
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
        let small = ReadCache::new(512);
        small.put(key("big"), value(4096), 1);
        assert_eq!(small.get(&key("big"), 1), None);
        assert_eq!(small.held_bytes(), 0);
    }
}
