//! # netkit-cli: the glue every netkit binary shares
//!
//! Written once, as ripgrep's `crates/cli`, so the four binaries agree:
//! - [`duration`]: a bare number is seconds; `500ms`, `2s`, `1m` work too;
//! - [`ui`]: `--color`, `--quiet` and `NO_COLOR`, flattened into each
//!   tool's flags;
//! - [`logging`]: `tracing` to stderr, filtered by `RUST_LOG`;
//! - [`runtime`]: the tokio runtime `main` builds;
//! - [`signals`]: the first SIGINT/SIGTERM cancels the run, a second exits;
//! - [`progress`]: indicatif bars that never cut through a record;
//! - [`prompt`]: a password prompt with echo off that always restores the
//!   terminal, even when interrupted;
//! - [`exit`]: the shared exit-code rules and the closed-stdout test;
//! - [`hash`]: FNV-1a, the stable hash of shards and host colours;
//! - [`style`]: ANSI colour;
//! - [`fd_limit`]: raising `RLIMIT_NOFILE` and checking a run fits in it.

pub mod duration;
pub mod exit;
pub mod fd_limit;
pub mod hash;
pub mod logging;
pub mod progress;
pub mod prompt;
pub mod runtime;
pub mod signals;
pub mod style;
pub mod ui;

pub use duration::parse_duration;
pub use fd_limit::{FdLimit, open_fds, raise_fd_limit};
pub use logging::init_tracing;
pub use runtime::{Threads, runtime};
pub use signals::{Interrupts, signal_exit_code};
pub use ui::{ColorChoice, UiArgs, resolve_color};
