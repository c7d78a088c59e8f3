//! Test support shared by the crates' integration tests, `cargo xtask lab`
//! and the benchmarks, one file per idea:
//! - [`sshd`]: real OpenSSH `sshd` processes on 127.0.0.1, rendered from the
//!   template `tests/hosts/sshd_config` at the repository root;
//! - [`keygen`]: key pairs made with `ssh-keygen`;
//! - [`ports`]: a free TCP port on 127.0.0.1;
//! - [`stats`]: medians, the one summary the benchmarks report;
//! - [`rng`]: a deterministic generator for generated test cases.
//!
//! Functions return `anyhow::Result`; the tests' own helpers (for example
//! `crates/fanout/tests/util.rs`) turn errors into panics.

pub mod keygen;
pub mod ports;
pub mod rng;
pub mod sshd;
pub mod stats;

pub use keygen::{keygen, keygen_commented, keygen_typed};
pub use ports::free_port;
pub use stats::{median, median_u64};

use std::path::{Path, PathBuf};

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map_or_else(|| here.join("../.."), Path::to_path_buf)
}
