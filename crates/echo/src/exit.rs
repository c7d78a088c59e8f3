//! The stable exit codes of `echo-server` and `echo-client` (documented in
//! the README).

/// Success: clean shutdown (server) or every reply verified (client).
pub const OK: i32 = 0;
/// An unexpected runtime error (I/O error after start-up).
pub const RUNTIME: i32 = 1;
/// Bad command line (clap's own code).
pub const USAGE: i32 = 2;
/// Server: the address could not be bound. Client: could not connect.
pub const CONNECT: i32 = 3;
/// Client: no (complete) reply within `--timeout`.
pub const TIMEOUT: i32 = 4;
/// Client: an echoed byte differed from what was sent.
pub const MISMATCH: i32 = 5;
/// Client bench: at least one connection failed (and no byte mismatched).
pub const CONN_FAILED: i32 = 6;
