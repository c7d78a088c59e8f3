//! RFC 862 echo over TCP and UDP: the `echo-server` binary and the
//! verifying load generator `echo-client`.
//!
//! # Design
//!
//! **Server** ([`server`]). [`server::Server::bind`] binds the TCP listener
//! (and the UDP socket with `--udp`) so callers learn the real address before
//! serving; [`server::Server::run`] serves until a
//! [`CancellationToken`](tokio_util::sync::CancellationToken) fires.
//! [`server::run`] does both and prints the `listening on ADDR` line.
//!
//! - One task per connection on the multi-thread runtime. Raw mode reads a
//!   chunk (at most `--buffer-size`, default 16 KiB) into its worker
//!   thread's scratch buffer and writes it back in the same poll. Only the
//!   rest of a write the peer's window cannot take yet moves into a buffer
//!   of the connection's own, written out before the next read: a client
//!   that does not read stops the server reading from it (backpressure with
//!   a bounded buffer), and connections, idle or busy, cost a task and a
//!   socket, not a buffer each.
//! - Line mode keeps at most `--max-line` + 1 bytes of an unfinished line.
//! - `--max-connections` is a semaphore whose permit is acquired *before*
//!   `accept`, so surplus clients wait in the kernel backlog.
//! - One listener. `--acceptors N` (SO_REUSEPORT listeners, each on its own
//!   thread with a current-thread runtime) was built and measured; it did
//!   not help on the benchmark machine, so it was removed (see README.md).
//! - Shutdown: the listener closes at once; each connection switches to
//!   draining (it keeps echoing, and closes after its peer has been quiet for
//!   a short moment); after `--grace` the rest are closed by force.
//!
//! **Descriptors** ([`limits`]). Both binaries raise the soft
//! `RLIMIT_NOFILE` to the hard limit at start and refuse, before binding or
//! connecting, a `--connections` / `--max-connections` that cannot fit.
//!
//! **Client** ([`client`]). One-shot, interactive and [`client::bench`], a
//! load generator that verifies every echoed byte against a per-connection
//! pattern and records latencies in an HdrHistogram.

pub mod cli;
pub mod client;
pub mod exit;
pub mod limits;
pub mod server;
