//! The exit-code rules every binary shares (each binary's own type maps its
//! outcomes onto them with one exhaustive match):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | all good; also a run stopped quietly because stdout was closed (`| head`) |
//! | 1 | some job failed |
//! | 2 | usage error, or the output could not be written |
//! | 3.. | the binary's own (ssh-fanout: unreachable; echo-client: 3-6) |
//! | 128 + N | cut short by signal N after flushing what finished (130 SIGINT, 143 SIGTERM) |

use std::io;

/// All good.
pub const SUCCESS: u8 = 0;
/// Some job failed.
pub const FAILED: u8 = 1;
/// A usage error, or the output could not be written.
pub const USAGE: u8 = 2;

/// Whether `error` means the reader of our stdout has gone (`| head`): the
/// run then stops quietly, as ripgrep does, and exits 0.
pub fn is_closed_pipe(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::BrokenPipe
}
