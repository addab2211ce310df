//! Spreading one logical queue over several partition keys.
//!
//! A partition key of a DynamoDB table or index takes about 1,000 write units a second
//! (docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html,
//! read 2026-12-06), and a throttled index throttles the writes to its base table. So a
//! list that every event writes to — the outbox's pending items, reviews held by conflict
//! rules, the history's days — must not live under one constant key: it is written under
//! `{base}#{n}`, `n` picked by a hash of the item's id, and read by querying every
//! partition and merging. The hash is stable and the same everywhere, so a reader that
//! knows `shards` finds every item a writer with `shards` or fewer put there.

use sha2::{Digest, Sha256};

/// The most partitions a spread may have: a partition is picked by one byte of a hash.
pub const MAX_SHARDS: u16 = 256;

/// Which of `shards` partitions (clamped to 1..=[`MAX_SHARDS`]) `id` belongs to.
pub fn shard_of(id: &str, shards: u16) -> u16 {
    u16::from(Sha256::digest(id.as_bytes())[0]) % shards.clamp(1, MAX_SHARDS)
}

/// A logical queue spread over `shards` partition keys named `{base}#{n}`. `legacy`: the
/// constant key items were written under before the spread; still read, never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub base: &'static str,
    pub shards: u16,
    pub legacy: bool,
}

impl Spread {
    pub const fn new(base: &'static str, shards: u16) -> Self {
        Self {
            base,
            shards,
            legacy: false,
        }
    }

    /// Also read the constant key `base` itself (items written before the spread).
    pub const fn with_legacy(mut self) -> Self {
        self.legacy = true;
        self
    }

    /// The same spread over `shards` partitions (clamped to 1..=[`MAX_SHARDS`]).
    pub fn with_shards(mut self, shards: u16) -> Self {
        self.shards = shards.clamp(1, MAX_SHARDS);
        self
    }

    /// Which of the `shards` partitions `id` belongs to.
    pub fn shard_of(&self, id: &str) -> u16 {
        shard_of(id, self.shards)
    }

    /// The partition key `id` is written under.
    pub fn partition_of(&self, id: &str) -> String {
        format!("{}#{}", self.base, self.shard_of(id))
    }

    /// Every partition key a reader queries: the legacy one first (if any), then
    /// `{base}#0` ….
    pub fn partitions(&self) -> Vec<String> {
        self.legacy
            .then(|| self.base.to_string())
            .into_iter()
            .chain((0..self.shards.clamp(1, MAX_SHARDS)).map(|n| format!("{}#{n}", self.base)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_partition_is_read_at_the_same_or_a_higher_count() {
        let ids: Vec<String> = (0..2_000).map(|i| format!("evt_{i}")).collect();
        for (written, read) in [(1, 1), (4, 16), (16, 16), (16, 64), (32, 256)] {
            let w = Spread::new("q", written);
            let r = Spread::new("q", read).with_legacy().partitions();
            for id in &ids {
                assert!(r.contains(&w.partition_of(id)), "{id} at {written}/{read}");
            }
        }
    }

    #[test]
    fn ids_spread_over_every_partition_evenly() {
        let spread = Spread::new("outbox", 16);
        let mut counts = [0usize; 16];
        for i in 0..16_000 {
            counts[usize::from(spread.shard_of(&format!("evt_{i}")))] += 1;
        }
        // 1,000 expected each; a hash that clumped would put several times that in one.
        assert!(
            counts.iter().all(|&c| (800..1_200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn the_legacy_key_is_read_first_and_never_written() {
        let spread = Spread::new("review", 4).with_legacy();
        assert_eq!(
            spread.partitions(),
            ["review", "review#0", "review#1", "review#2", "review#3"]
        );
        assert!((0..100).all(|i| spread.partition_of(&i.to_string()) != "review"));
        assert_eq!(Spread::new("x", 0).partitions(), ["x#0"], "at least one");
    }
}
