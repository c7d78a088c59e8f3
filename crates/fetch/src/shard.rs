//! `--shard K/N`: a stable, documented partition of the URL space, so N
//! machines can split one list without talking to each other.
//!
//! A URL belongs to shard `fnv1a64(normalized URL) % N`, with K counted from
//! 0 (which is what a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` gives).
//! FNV-1a ([`netkit_cli::hash`]) is fixed forever, unlike `std`'s hasher.
//!
//! `--shard index/N` takes K from the `JOB_COMPLETION_INDEX` environment
//! variable that Kubernetes sets in every pod of an Indexed Job, so the Job
//! runs fetch-titles directly, with no shell to expand the variable.

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

/// The variable a Kubernetes Indexed Job sets to the pod's index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

impl Shard {
    /// Parses `K/N` or `index/N`, looking `JOB_COMPLETION_INDEX` up with
    /// `env` for the latter (so tests need not touch the process
    /// environment). The error is a one-line usage message.
    pub fn parse_with(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard must look like K/N or index/N (e.g. 0/4), got {s:?}"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count {n:?} is not a number"))?;
        if count == 0 {
            return Err("shard count N must be at least 1".into());
        }
        let index: u64 = if k.trim() == "index" {
            let Some(value) = env(INDEX_ENV) else {
                return Err(format!(
                    "--shard index/{count} takes K from ${INDEX_ENV} (set by a Kubernetes \
                     Indexed Job), which is not set"
                ));
            };
            value.trim().parse().map_err(|_| {
                format!(
                    "--shard index/{count}: ${INDEX_ENV}={value:?} is not a number in 0..{count}"
                )
            })?
        } else {
            k.trim()
                .parse()
                .map_err(|_| format!("shard index {k:?} is not a number (or `index`)"))?
        };
        if index >= count {
            let from = if k.trim() == "index" {
                format!(" (from ${INDEX_ENV})")
            } else {
                String::new()
            };
            return Err(format!(
                "shard index K must be in 0..{count} (K counts from 0), got {index}{from}"
            ));
        }
        Ok(Self { index, count })
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_with(s, |name| std::env::var(name).ok())
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

    fn env_of(value: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            assert_eq!(name, INDEX_ENV);
            value.map(str::to_owned)
        }
    }

    #[test]
    fn index_comes_from_the_job_completion_index() {
        assert_eq!(
            Shard::parse_with("index/16", env_of(Some("7"))),
            Ok(Shard {
                index: 7,
                count: 16
            })
        );
        assert_eq!(
            Shard::parse_with("index/4", env_of(Some(" 0\n"))),
            Ok(Shard { index: 0, count: 4 })
        );
        // A plain K/N never reads the variable.
        assert_eq!(
            Shard::parse_with("2/4", |_| -> Option<String> { unreachable!() }),
            Ok(Shard { index: 2, count: 4 })
        );
    }

    #[test]
    fn index_errors_name_the_variable() {
        let unset = Shard::parse_with("index/4", env_of(None)).unwrap_err();
        assert!(
            unset.contains("JOB_COMPLETION_INDEX") && unset.contains("not set"),
            "{unset}"
        );
        let word = Shard::parse_with("index/4", env_of(Some("two"))).unwrap_err();
        assert!(
            word.contains("\"two\"") && word.contains("not a number"),
            "{word}"
        );
        let big = Shard::parse_with("index/4", env_of(Some("4"))).unwrap_err();
        assert!(
            big.contains("0..4") && big.contains("JOB_COMPLETION_INDEX"),
            "{big}"
        );
        let negative = Shard::parse_with("index/4", env_of(Some("-1"))).unwrap_err();
        assert!(negative.contains("not a number"), "{negative}");
        // N is checked before the variable is read.
        assert!(
            Shard::parse_with("index/0", env_of(None))
                .unwrap_err()
                .contains("at least 1")
        );
    }
}
