//! # ssh-fanout: run commands on many hosts over SSH
//!
//! Design, by layer (one folder each), then one idea per module:
//! - `select/`: host selection and resolution. [`hosts`] pdsh/clush range
//!   patterns, the TOML inventory, [`ssh_config`] as `ssh -G` reads it, and
//!   the `Target` each host resolves to;
//! - `connect/`: the SSH connection to one host. The socket (`TCP_NODELAY`,
//!   read buffer, immediate ACKs for OpenSSH servers, which leave Nagle on),
//!   one russh session per host (TCP, or `direct-tcpip` through a shared jump
//!   connection, or a `ProxyCommand`'s stdin and stdout; handshake, host
//!   key, auth) with one shared
//!   `Arc<client::Config>` per host-key algorithm order, preferring
//!   curve25519; the host-key policy on top of [`known_hosts`] (OpenSSH
//!   9.2's rules: parsing, lookup, verdict, certificates, key-type order,
//!   locked append); keys, agent identities and passwords loaded once, and
//!   ed25519 identities prepared once for signing;
//! - `jobs/`: what runs on a host's one connection. The copy (`--copy`,
//!   `--rcopy`: SFTP on a subsystem channel, pipelined, atomic
//!   replacement, one shared chunk cache for a push, hostile names
//!   refused on a pull), then the command (sequential or concurrent
//!   channels, env, stdin, pty, exit status/signal, command timeout);
//! - `output/`: the single output task: streaming, gather, outdir, JSON,
//!   summary. Connection tasks only send it events, so lines never
//!   interleave and memory stays bounded (bounded queue, back-pressure to
//!   the SSH window). A closed stdout cancels the run quietly.
//!
//! At the top: `cli` the raw flags (clap), `config` the checked
//! [`RunConfig`], [`fd_budget`] the descriptors a run needs (`--fanout`
//! lowered to what the open-file limit holds), `run` the pool-driven loop
//! and Ctrl-C, [`Exit`] the one map from a run's result to the exit code,
//! `progress` the progress line (stderr a terminal only), [`dry_run`] the
//! resolution printed by `--dry-run`.
//!
//! Only the documented API is public: [`run`], [`RunConfig`], [`Args`],
//! [`Exit`], and the three modules other tools reuse: [`hosts`],
//! [`ssh_config`] and [`known_hosts`]. Everything else is private, so the
//! compiler reports dead code. Failures are typed (`SshError`) with one
//! `ErrorKind` and one string per kind.

mod cli;
mod config;
mod connect;
pub mod dry_run;
mod error;
mod excerpt;
mod exit;
pub mod fd_budget;
mod jobs;
mod output;
mod progress;
mod run;
mod select;
mod wildcard;

pub use connect::known_hosts;
pub use select::{hosts, ssh_config};

pub use cli::Args;
pub use config::{ConfigError, RunConfig};
pub use exit::Exit;
pub use run::{RunError, RunOutcome, run};
