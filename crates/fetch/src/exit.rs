//! fetch-titles' exit codes, mapped from a run's result by one exhaustive
//! match ([`Exit::of_run`]) on top of the shared rules of [`netkit_cli::exit`]:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | every URL was fetched (any HTTP status); or stdout was closed (`| head`) and the run stopped quietly |
//! | 1 | some URL has an error record, or a fetch thread could not be started |
//! | 2 | usage error, or the input, `--skip-done` or output could not be read or written |
//! | 130, 143 | cut short by SIGINT or SIGTERM, after every finished record was flushed |

use crate::run::{RunError, RunOutcome};

/// How a fetch-titles process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: every URL fetched, or stdout was closed by its reader.
    Success,
    /// 1: some URL has an error record (or a fetch thread did not start).
    Failed,
    /// 2: usage, input or output error.
    Usage,
    /// 128 + N: cut short by signal N.
    Signal(i32),
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => netkit_cli::exit::SUCCESS,
            Exit::Failed => netkit_cli::exit::FAILED,
            Exit::Usage => netkit_cli::exit::USAGE,
            Exit::Signal(signo) => netkit_cli::signal_exit_code(signo),
        }
    }

    /// The exit of a run that returned `result`, `signal` being the first
    /// SIGINT/SIGTERM received, if any.
    pub fn of_run(result: &Result<RunOutcome, RunError>, signal: Option<i32>) -> Exit {
        match result {
            Err(e) if e.is_closed_stdout() => Exit::Success,
            Err(
                RunError::Input(_)
                | RunError::SkipDone { .. }
                | RunError::Output { .. }
                | RunError::Client(_)
                | RunError::Write { .. },
            ) => Exit::Usage,
            Err(RunError::Thread(_)) => Exit::Failed,
            Ok(outcome) if outcome.interrupted => {
                Exit::Signal(signal.unwrap_or(netkit_cli::signals::SIGINT))
            }
            Ok(outcome) if outcome.tally.errors() > 0 => Exit::Failed,
            Ok(_) => Exit::Success,
        }
    }
}
