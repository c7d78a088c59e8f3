//! A compact set of 64-bit hashes, for dedupe and `--skip-done` over lists
//! of tens of millions of URLs.
//!
//! std's `HashSet<u64>` keeps a control byte per slot, rounds its capacity
//! up to a power of two (so it sits between 44% and 87% full) and, while it
//! grows, holds the old table and the new one at once: 435 MiB at peak for
//! 27 million distinct URLs (measured, README). This set instead:
//! - stores bare `u64`s in open-addressed tables with linear probing (the
//!   value 0 marks an empty slot; the hash 0 itself is a flag);
//! - splits the hashes over [`SHARDS`] tables by their top bits, so a table
//!   that grows copies 1/16 of the set, never all of it;
//! - keeps each table between about 80% and 93% full, growing it by a
//!   sixth;
//! - starts each table at [`FIRST`] slots (32 KiB) and doubles it until it
//!   is one block; from then on builds it from blocks of one size
//!   ([`BLOCK`] slots, 1 MiB), so the blocks a growing table frees are the
//!   very ones the next one takes: the allocator (mimalloc in the binary)
//!   never holds freed tables of odd sizes that nothing reuses. With 32 KiB
//!   blocks throughout, mimalloc kept 60 MiB more resident at 27 million
//!   hashes (341 vs 280 MiB). Starting every table at a whole block cost
//!   16 MiB of zeroed pages for the first 16 URLs, whose page faults took
//!   about 2% of the CPU of a 100,000-URL run.
//!
//! So 27 million hashes take about 270 MiB, and growth adds a few MiB.
//! Lookups hash nothing: the keys already are FNV-1a hashes; the murmur3
//! finaliser spreads their bits over the slots.

/// Tables the hashes are spread over (by their top 4 mixed bits).
const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// Slots per block (1 MiB).
const BLOCK_BITS: u32 = 17;
const BLOCK: usize = 1 << BLOCK_BITS;
/// Slots of a table's first block (32 KiB); it doubles up to [`BLOCK`].
const FIRST: usize = 1 << 12;
/// A table grows when an insert would make it fuller than this (93%)...
const MAX_LOAD: (usize, usize) = (93, 100);
/// ... by this fraction of its blocks (at least one).
const GROWTH_DIVISOR: usize = 6;

/// A set of `u64` hashes (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct HashSet64 {
    /// Empty until the first insert (an unused set costs nothing).
    shards: Vec<Table>,
    len: usize,
    has_zero: bool,
}

/// One shard: either a single block of [`FIRST`] to [`BLOCK`] slots, or
/// several blocks of [`BLOCK`] slots.
#[derive(Clone, Debug, Default)]
struct Table {
    blocks: Vec<Box<[u64]>>,
    len: usize,
}

/// Spreads the bits of a hash (the murmur3 finaliser).
fn mix(h: u64) -> u64 {
    let mut x = h;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The slot for mixed hash `x` in a table of `n` slots (below the shard
/// bits, scaled without a division).
fn slot(x: u64, n: usize) -> usize {
    let low = x << SHARD_BITS;
    ((u128::from(low) * n as u128) >> 64) as usize
}

fn new_block(slots: usize) -> Box<[u64]> {
    vec![0u64; slots].into_boxed_slice()
}

impl Table {
    fn slots(&self) -> usize {
        match self.blocks.as_slice() {
            [only] => only.len(),
            blocks => blocks.len() * BLOCK,
        }
    }

    fn get(&self, i: usize) -> u64 {
        self.blocks
            .get(i >> BLOCK_BITS)
            .and_then(|b| b.get(i & (BLOCK - 1)))
            .copied()
            .unwrap_or(0)
    }

    fn set(&mut self, i: usize, h: u64) {
        if let Some(v) = self
            .blocks
            .get_mut(i >> BLOCK_BITS)
            .and_then(|b| b.get_mut(i & (BLOCK - 1)))
        {
            *v = h;
        }
    }

    /// `Ok(slot)` holding `h`, or `Err(slot)` where it would go. The table
    /// is never full (it grows first), so the probe ends.
    fn find(&self, h: u64, x: u64) -> Result<usize, usize> {
        let n = self.slots();
        let mut i = slot(x, n);
        loop {
            match self.get(i) {
                0 => return Err(i),
                v if v == h => return Ok(i),
                _ => i = if i + 1 == n { 0 } else { i + 1 },
            }
        }
    }

    fn grow(&mut self) {
        let slots = self.slots();
        let old = std::mem::take(&mut self.blocks);
        self.blocks = if slots < BLOCK {
            vec![new_block((slots * 2).clamp(FIRST, BLOCK))]
        } else {
            let more = (old.len() / GROWTH_DIVISOR).max(1);
            (0..old.len() + more).map(|_| new_block(BLOCK)).collect()
        };
        for block in old {
            for &h in block.iter().filter(|&&h| h != 0) {
                if let Err(i) = self.find(h, mix(h)) {
                    self.set(i, h);
                }
            }
            // Each old block is freed here, before the next one is read.
        }
    }
}

impl HashSet64 {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many hashes the set holds.
    pub fn len(&self) -> usize {
        self.len + usize::from(self.has_zero)
    }

    /// True when the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `h` is in the set.
    pub fn contains(&self, h: u64) -> bool {
        if h == 0 {
            return self.has_zero;
        }
        let x = mix(h);
        match self.shards.get((x >> (64 - SHARD_BITS)) as usize) {
            Some(table) if !table.blocks.is_empty() => table.find(h, x).is_ok(),
            _ => false,
        }
    }

    /// Adds `h`; false when it was there already.
    pub fn insert(&mut self, h: u64) -> bool {
        if h == 0 {
            return !std::mem::replace(&mut self.has_zero, true);
        }
        if self.shards.is_empty() {
            self.shards = vec![Table::default(); SHARDS];
        }
        let x = mix(h);
        let Some(table) = self.shards.get_mut((x >> (64 - SHARD_BITS)) as usize) else {
            return false;
        };
        if (table.len + 1) * MAX_LOAD.1 > table.slots() * MAX_LOAD.0 {
            table.grow();
        }
        match table.find(h, x) {
            Ok(_) => false,
            Err(i) => {
                table.set(i, h);
                table.len += 1;
                self.len += 1;
                true
            }
        }
    }

    /// Bytes held by the tables.
    pub fn heap_bytes(&self) -> usize {
        self.shards.capacity() * std::mem::size_of::<Table>()
            + self.shards.iter().map(|t| t.slots() * 8).sum::<usize>()
    }
}

impl Extend<u64> for HashSet64 {
    fn extend<I: IntoIterator<Item = u64>>(&mut self, iter: I) {
        for h in iter {
            self.insert(h);
        }
    }
}

impl FromIterator<u64> for HashSet64 {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        let mut set = HashSet64::new();
        set.extend(iter);
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn agrees_with_std_on_a_million_hashes_with_repeats_and_zero() {
        let mut ours = HashSet64::new();
        let mut std_set = HashSet::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..1_000_000u64 {
            // xorshift; every 7th value repeats an earlier one, and 0 once.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let h = match i {
                500 => 0,
                i if i % 7 == 0 => i / 7,
                _ => x,
            };
            assert_eq!(ours.insert(h), std_set.insert(h), "insert {h}");
        }
        assert_eq!(ours.len(), std_set.len());
        for h in std_set.iter().take(100_000) {
            assert!(ours.contains(*h));
        }
        assert!(ours.contains(0));
        assert!(!ours.contains(0xdead_beef_dead_beef) || std_set.contains(&0xdead_beef_dead_beef));
        // Every table is at most 93% full, and holds no more blocks than
        // an 80%-full table needs, rounded up to a block.
        for t in &ours.shards {
            assert!(t.len * 100 <= t.slots() * 93, "{} in {}", t.len, t.slots());
            assert!(t.blocks.len() <= (t.len * 100 / 80).div_ceil(BLOCK).max(1));
        }
    }

    #[test]
    fn small_sets_stay_small_and_large_ones_grow_by_blocks() {
        let mut set = HashSet64::new();
        for h in 1..=1_000u64 {
            assert!(set.insert(h.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
        // 16 tables of 4,096 slots: 512 KiB, not 16 MiB.
        assert!(
            set.heap_bytes() <= SHARDS * FIRST * 8 + 4096,
            "{}",
            set.heap_bytes()
        );
        // Past one block per table: several blocks of BLOCK slots each.
        for h in 1_001..=2_600_000u64 {
            assert!(set.insert(h.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
        for t in &set.shards {
            assert!(t.blocks.len() >= 2, "{} slots", t.slots());
            assert!(t.blocks.iter().all(|b| b.len() == BLOCK));
            assert!(t.len * 100 <= t.slots() * 93);
        }
        for h in (1..=2_600_000u64).step_by(997) {
            assert!(set.contains(h.wrapping_mul(0x9e37_79b9_7f4a_7c15)), "{h}");
            assert!(!set.insert(h.wrapping_mul(0x9e37_79b9_7f4a_7c15)), "{h}");
        }
        assert_eq!(set.len(), 2_600_000);
    }

    #[test]
    fn an_empty_set_holds_nothing() {
        let set = HashSet64::new();
        assert!(set.is_empty());
        assert!(!set.contains(1));
        assert!(!set.contains(0));
        assert_eq!(set.heap_bytes(), 0);
    }
}
