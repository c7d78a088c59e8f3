//! # ssh-fanout: run commands on many hosts over SSH
//!
//! Design, one idea per module:
//! - [`cli`] raw flags (clap) and [`config`] the checked [`config::RunConfig`]
//!   (host selection, inventory and `~/.ssh/config` or `-F` resolution,
//!   host key settings, jumps);
//! - [`hosts`] pdsh/clush range patterns, [`inventory`] the TOML inventory,
//!   [`ssh_config`] the `~/.ssh/config` subset, [`known_hosts`] OpenSSH
//!   9.2's known_hosts rules (parsing, lookup, verdict, certificates, key
//!   type order, atomic append), [`hostkey`] the policy on top of it;
//! - [`credentials`] keys, agent identities and passwords, loaded once;
//!   [`signer`] ed25519 identities prepared once for signing;
//! - [`session`] one russh connection per host (TCP or `direct-tcpip`
//!   through a shared jump connection, handshake, host key, auth), with one
//!   shared `Arc<client::Config>` per host key algorithm order, preferring
//!   curve25519;
//!   [`tcp`] the socket under it (`TCP_NODELAY`, read buffer, immediate
//!   ACKs for OpenSSH servers, which leave Nagle on);
//! - [`exec`] the commands over that connection (sequential or concurrent
//!   channels, env, stdin, pty, exit status/signal, command timeout);
//! - [`fd_budget`] the descriptors a run needs, and `--fanout` lowered
//!   to what the open-file limit holds;
//! - [`run`] the pool-driven loop, Ctrl-C, a closed stdout, results;
//!   [`exit`] the one map from a run's result to the exit code; [`progress`] the
//!   progress line (stderr is a terminal only), drawn between records;
//! - [`output`] the single output task: streaming, gather, outdir, JSON,
//!   summary and exit codes. Connection tasks only send it events, so lines
//!   never interleave and memory stays bounded (bounded queue, back-pressure
//!   to the SSH window).
//!
//! Failures are typed ([`error::SshError`]) and map one-to-one to the JSON
//! error kinds.

pub mod cli;
pub mod config;
pub mod credentials;
pub mod dry_run;
pub mod error;
pub mod excerpt;
pub mod exec;
pub mod exit;
pub mod fd_budget;
pub mod hostkey;
pub mod hosts;
pub mod inventory;
pub mod known_hosts;
pub mod output;
pub mod progress;
pub mod run;
pub mod session;
pub mod signer;
pub mod ssh_config;
pub mod target;
pub mod tcp;

pub use cli::Args;
pub use config::{ConfigError, RunConfig};
pub use exit::Exit;
pub use run::{RunError, RunOutcome, run};
