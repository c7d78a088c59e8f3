//! ssh-fanout's exit codes, mapped from a run's result by one exhaustive
//! match ([`Exit::of_run`]) on top of the shared rules of [`netkit_cli::exit`]:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | every host ran every command with exit 0; or stdout was closed (`| head`) and the run stopped quietly |
//! | 1 | some command exited non-zero or was killed by a signal |
//! | 2 | usage, inventory or credentials error; or the output could not be written |
//! | 3 | some host has no verdict: unreachable, host key, auth, timeout, local resource (wins over 1) |
//! | 130, 143 | cut short by SIGINT or SIGTERM, after every finished host's output was flushed |

use crate::output::{EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::run::{RunError, RunOutcome};

/// How an ssh-fanout process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: all good, or stdout was closed by its reader.
    Success,
    /// 1: some command failed.
    Failed,
    /// 2: usage, inventory, credentials or output error.
    Usage,
    /// 3: some host has no verdict.
    Unreachable,
    /// 128 + N: cut short by signal N.
    Signal(i32),
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => EXIT_OK,
            Exit::Failed => EXIT_FAILED,
            Exit::Usage => EXIT_USAGE,
            Exit::Unreachable => EXIT_UNREACHABLE,
            Exit::Signal(signo) => netkit_cli::signal_exit_code(signo),
        }
    }

    /// The exit of a run that returned `result`, `signal` being the first
    /// SIGINT/SIGTERM received, if any.
    pub fn of_run(result: &Result<RunOutcome, RunError>, signal: Option<i32>) -> Exit {
        match (result, signal) {
            (Ok(outcome), _) if outcome.stdout_closed => Exit::Success,
            (Err(RunError::Io(e)), _) if netkit_cli::exit::is_closed_pipe(e) => Exit::Success,
            (_, Some(signo)) => Exit::Signal(signo),
            (Ok(outcome), None) => match outcome.exit_code() {
                EXIT_OK => Exit::Success,
                EXIT_FAILED => Exit::Failed,
                _ => Exit::Unreachable,
            },
            (Err(RunError::Credentials(_) | RunError::Io(_)), None) => Exit::Usage,
        }
    }
}
