//! `--shard K/N`: a stable, documented partition of the URL space, so N
//! machines can split one list without talking to each other.
//!
//! A URL belongs to shard `fnv1a64(normalized URL) % N`, with K counted from
//! 0 (which is what a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` gives).
//! FNV-1a is fixed forever, unlike `std`'s hasher.

use std::str::FromStr;

/// The 64-bit FNV-1a hash.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Shard K of N (0 <= K < N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This machine's index, from 0.
    pub index: u64,
    /// How many shards in total.
    pub count: u64,
}

impl Shard {
    /// True when `normalized_url` belongs to this shard.
    pub fn contains(&self, normalized_url: &str) -> bool {
        fnv1a64(normalized_url.as_bytes()) % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard must look like K/N (e.g. 0/4), got {s:?}"))?;
        let index: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("shard index {k:?} is not a number"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count {n:?} is not a number"))?;
        if count == 0 {
            return Err("shard count N must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "shard index K must be in 0..{count} (K counts from 0), got {index}"
            ));
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_partition_urls() {
        let shards: Vec<Shard> = (0..4).map(|k| format!("{k}/4").parse().unwrap()).collect();
        for i in 0..1000 {
            let url = format!("https://host{i}.example/");
            assert_eq!(shards.iter().filter(|s| s.contains(&url)).count(), 1);
        }
        let counts: Vec<usize> = shards
            .iter()
            .map(|s| {
                (0..1000)
                    .filter(|i| s.contains(&format!("https://h/{i}")))
                    .count()
            })
            .collect();
        assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
    }

    #[test]
    fn parse_errors() {
        assert!("4/4".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
    }
}
