//! What a job produced: [`Outcome`], wrapped with its bookkeeping in a
//! [`Report`], and the job's own say on retrying an error, [`Retry`].

use std::time::Duration;

/// How one job ended. Every job taken from the input ends in exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T, E> {
    /// The job returned `Ok`.
    Ok(T),
    /// The job returned `Err` (after any retries).
    Err(E),
    /// An attempt ran past the per-job timeout, or the run's deadline passed
    /// while the job was running.
    TimedOut,
    /// The job panicked. The message is kept; the pool keeps running.
    Panicked(String),
    /// The run was cancelled (token, fail-fast or grace expiry) before the
    /// job could finish, or before it could start.
    Cancelled,
}

impl<T, E> Outcome<T, E> {
    /// `Ok` or `Err` from a job's own result.
    pub fn from_result(result: Result<T, E>) -> Self {
        match result {
            Ok(value) => Outcome::Ok(value),
            Err(error) => Outcome::Err(error),
        }
    }

    /// `true` for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }

    /// The short name of the variant: `ok`, `err`, `timed_out`, `panicked`
    /// or `cancelled`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Ok(_) => "ok",
            Outcome::Err(_) => "err",
            Outcome::TimedOut => "timed_out",
            Outcome::Panicked(_) => "panicked",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// Converts into a `Result`, keeping the job's own error and turning the
    /// pool's outcomes into [`Failure`].
    pub fn into_result(self) -> Result<T, Failure<E>> {
        match self {
            Outcome::Ok(value) => Ok(value),
            Outcome::Err(error) => Err(Failure::Job(error)),
            Outcome::TimedOut => Err(Failure::TimedOut),
            Outcome::Panicked(message) => Err(Failure::Panicked(message)),
            Outcome::Cancelled => Err(Failure::Cancelled),
        }
    }
}

/// A non-`Ok` outcome as an error type, for `?` in callers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Failure<E> {
    /// The job's own error.
    #[error("job failed: {0}")]
    Job(E),
    /// The job timed out.
    #[error("job timed out")]
    TimedOut,
    /// The job panicked.
    #[error("job panicked: {0}")]
    Panicked(String),
    /// The job was cancelled.
    #[error("job cancelled")]
    Cancelled,
}

/// One finished job: its input, position, outcome and timing.
#[derive(Debug, Clone)]
pub struct Report<I, T, E> {
    /// Position of the input in the input sequence, from 0.
    pub index: u64,
    /// The input the job was started with.
    pub input: I,
    /// The per-key limiter key, when the run has one.
    pub key: Option<String>,
    /// How it ended.
    pub outcome: Outcome<T, E>,
    /// Attempts made: 1 without retries; 0 if the job never started.
    pub attempts: u32,
    /// Time from the job's first start to its end, retries included;
    /// zero if it never started.
    pub elapsed: Duration,
}

/// A job's answer to "should this error be retried?", given by the
/// classifier passed to [`crate::Jobs::retry_if`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Final: report the error.
    No,
    /// Retry after the policy's next backoff delay.
    Yes,
    /// Retry after at least this long (an HTTP `Retry-After`, say), capped
    /// by [`crate::RetryPolicy::retry_after_cap`].
    After(Duration),
}
