//! `--shard K/N`: a stable, documented partition of the URL space, so N
//! machines can split one list without talking to each other.
//!
//! A URL belongs to shard `fnv1a64(normalized URL) % N`, with K counted from
//! 0 (which is what a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` gives).
//! FNV-1a ([`netkit_cli::hash`]) is fixed forever, unlike `std`'s hasher.

use std::str::FromStr;

pub use netkit_cli::hash::fnv1a64;

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
