//! One run: input stream -> pool (concurrency, per-host limit, rate,
//! retries) -> fetch -> record -> output, with a progress bar and a summary.

use crate::hash_set::HashSet64;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use netkit_pool::{JobCtx, Outcome, Pool, Retry, RetryPolicy};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Order};
use crate::fetcher::{ClientOptions, Credentials, FetchFailure, Fetched, human_duration};
use crate::input::{InputFilter, Job, job_stream, load_done, open_sources};
use crate::output::{Output, RecordWriter, WriteFailure};
use crate::record::{ErrorKind, Record, RecordError};
use crate::summary::Tally;
use crate::threads::{FetchThreads, StartError};

/// Errors that stop a run before or while it writes records.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An input file could not be opened.
    #[error("cannot read input {0}")]
    Input(#[source] std::io::Error),
    /// The `--skip-done` file could not be read.
    #[error("cannot read --skip-done file {path}: {source}")]
    SkipDone {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output file could not be opened.
    #[error("cannot open output file {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built (bad proxy URL, ...).
    #[error("invalid HTTP client settings: {0}")]
    Client(#[source] reqwest::Error),
    /// A fetch thread (`--threads`) or its runtime could not be started.
    #[error("cannot start a fetch thread: {0}")]
    Thread(#[source] std::io::Error),
    /// Writing records failed (disk full, closed pipe): the file was cut
    /// back to its last whole record when it could be.
    #[error("cannot write {target}: {source}")]
    Write {
        /// `output file PATH` or `stdout`.
        target: String,
        /// Why, and what became of the file.
        #[source]
        source: WriteFailure,
    },
}

impl RunError {
    /// True when the reader of stdout went away (`fetch-titles … | head`):
    /// as in ripgrep, the run stops starting work and the binary exits 0
    /// without a message.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, Self::Write { target, source }
            if target == STDOUT_NAME && source.source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Counts.
    pub tally: Tally,
    /// Ctrl-C / shutdown token fired.
    pub interrupted: bool,
    /// Wall time.
    pub wall: Duration,
    /// Attempts started on each fetch thread, the run's own first.
    pub attempts_per_thread: Vec<u64>,
}

impl RunOutcome {
    /// 0: every URL fetched (any status); 1: some URL has an error record;
    /// 130: interrupted.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            130
        } else if self.tally.errors() > 0 {
            1
        } else {
            0
        }
    }
}

/// Opens `-o FILE`, or stdout; records written to a terminal hide `bar`
/// while they are written.
fn open_output(config: &Config, bar: &indicatif::ProgressBar) -> Result<Output, RunError> {
    let Some(path) = &config.output.path else {
        return Ok(Output::stdout(bar));
    };
    let resume = config.input.skip_done.as_ref() == Some(path);
    let append = config.output.append || resume;
    let mut opts = OpenOptions::new();
    opts.create(true);
    if append {
        opts.append(true).read(resume);
    } else {
        opts.write(true).truncate(true);
    }
    let err = |source| RunError::Output {
        path: path.clone(),
        source,
    };
    let mut file = opts.open(path).map_err(err)?;
    if resume
        && file.metadata().map_err(err)?.file_type().is_file()
        && let Some(torn) = cut_torn_tail(&mut file).map_err(err)?
    {
        eprintln!(
            "fetch-titles: {}: removed a torn last line ({torn} bytes, no newline) left by an \
             interrupted run; its URL is fetched again",
            path.display()
        );
    }
    Output::file(file).map_err(err)
}

/// Cuts a regular file back to just after its last newline, so that a
/// resumed run appends after whole lines only. A run killed in the middle
/// of a write (SIGKILL, OOM, a node lost) can leave a partial last record;
/// [`load_done`] does not count it as done, and this removes it, so it is
/// neither glued to the first appended record nor left in mid-file.
/// Returns the bytes removed, if any.
fn cut_torn_tail(file: &mut std::fs::File) -> std::io::Result<Option<u64>> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..usize::try_from(end - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end == len {
        return Ok(None);
    }
    file.set_len(end)?;
    Ok(Some(len - end))
}

/// How errors name standard output.
const STDOUT_NAME: &str = "stdout";

fn output_name(config: &Config) -> String {
    match &config.output.path {
        Some(path) => format!("output file {}", path.display()),
        None => STDOUT_NAME.to_owned(),
    }
}

fn record_from(given: String, f: Fetched, error: Option<RecordError>) -> Record {
    Record {
        url: given,
        final_url: f.final_url,
        status: f.status,
        title: f.title,
        content_type: f.content_type,
        charset: f.charset,
        charset_source: f.charset_source,
        redirects: f.redirects,
        bytes_read: f.bytes_read,
        elapsed_ms: 0,
        error,
    }
}

/// The next report. Records are batched while reports keep coming: when
/// the next one is not ready yet, the batch is written out before the run
/// waits, so no finished record sits in memory while the tool waits for
/// more work.
async fn next_flushing<S>(
    reports: &mut S,
    writer: &mut RecordWriter,
) -> Result<Option<S::Item>, WriteFailure>
where
    S: Stream + Unpin,
{
    std::future::poll_fn(|cx| match reports.poll_next_unpin(cx) {
        Poll::Ready(item) => Poll::Ready(Ok(item)),
        Poll::Pending => match writer.flush() {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        },
    })
    .await
}

/// Runs fetch-titles until the input is exhausted or `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let done = match &config.input.skip_done {
        Some(path) if path.exists() => {
            load_done(path, config.input.scheme)
                .await
                .map_err(|source| RunError::SkipDone {
                    path: path.clone(),
                    source,
                })?
        }
        _ => HashSet64::new(),
    };
    let sources = open_sources(&config.input.sources)
        .await
        .map_err(RunError::Input)?;
    let mut headers = config.client.headers.clone();
    let credentials = Arc::new(Credentials::take_from(
        &mut headers,
        config.client.location_trusted,
    ));
    // `--connect-timeout` defaults to `--timeout` and never exceeds it.
    let connect_timeout = config
        .client
        .connect_timeout
        .unwrap_or(config.limits.timeout)
        .min(config.limits.timeout);
    let opts = ClientOptions {
        connect_timeout: Some(connect_timeout),
        insecure: config.client.insecure,
        proxy: config.client.proxy.clone(),
        ignore_env_proxy: config.client.ignore_env_proxy,
        headers,
        user_agent: config.client.user_agent.clone(),
        idle_per_host: config.pool.per_host.max(1),
        extra_roots: Vec::new(),
    };
    let fetchers = FetchThreads::start(
        config.pool.threads,
        &opts,
        credentials,
        config.limits,
        connect_timeout,
    )
    .map_err(|e| match e {
        StartError::Client(e) => RunError::Client(e),
        StartError::Thread(e) => RunError::Thread(e),
    })?;
    let fetchers = Arc::new(fetchers);
    let per_thread = fetchers.clone();
    let bar = netkit_cli::progress::bar(
        config.output.progress,
        "{spinner} {pos}/{len} URLs  {per_sec}  {msg}  ETA {eta}  [{wide_bar}]",
    );
    let out = open_output(&config, &bar)?;
    let write_error = |source| RunError::Write {
        target: output_name(&config),
        source,
    };
    let fresh = out.is_fresh();
    let mut writer = RecordWriter::new(
        out,
        config.output.format,
        config.output.color,
        config.output.csv_formula_guard,
        fresh,
    )
    .map_err(write_error)?;

    let emitted = Arc::new(AtomicU64::new(0));
    let jobs = job_stream(
        sources,
        InputFilter {
            scheme: config.input.scheme,
            dedupe: config.input.dedupe,
            shard: config.input.shard,
            done,
            emitted: emitted.clone(),
            skipped: Arc::new(AtomicU64::new(0)),
        },
    );

    let mut builder = Pool::builder()
        .concurrency(config.pool.concurrency.max(1))
        .per_key(config.pool.per_host.max(1))
        .cancel_token(shutdown.clone())
        .grace(config.pool.grace)
        .retry(
            RetryPolicy::exponential(config.pool.retries)
                .base(config.pool.backoff_base)
                .max_delay(Duration::from_secs(10))
                .retry_after_cap(config.pool.retry_after_cap),
        )
        .ordered(config.output.order == Order::Input);
    if let Some(rate) = config.pool.rate {
        builder = builder.rate(rate, 1);
    }
    let pool = builder.build();

    let retries = config.pool.retries;
    let cap = config.pool.retry_after_cap;
    // The pool clones its input for every attempt: an `Arc` makes that a
    // reference count instead of two string copies.
    let mut bound = pool
        .jobs_stream(jobs.map(Arc::new))
        .key(|job: &Arc<Job>| job.host_key());
    if retries > 0 {
        bound = bound.retry_if(move |e: &FetchFailure| match e {
            FetchFailure::RetryableStatus {
                retry_after: Some(d),
                ..
            } => Retry::After((*d).min(cap)),
            e if e.is_transient() => Retry::Yes,
            _ => Retry::No,
        });
    }
    let mut reports = bound
        .run(move |job: Arc<Job>, ctx: JobCtx<'_>| fetchers.attempt(job, ctx.attempt > retries));

    let mut tally = Tally::default();
    loop {
        let report = match next_flushing(&mut reports, &mut writer).await {
            Ok(Some(report)) => report,
            Ok(None) => break,
            Err(e) => {
                shutdown.cancel();
                bar.finish_and_clear();
                return Err(write_error(e));
            }
        };
        // The pool holds the last reference by now: no copy.
        let given =
            Arc::try_unwrap(report.input).map_or_else(|job| job.given.clone(), |job| job.given);
        let mut record = match report.outcome {
            Outcome::Ok(f) => record_from(given, f, None),
            Outcome::Err(FetchFailure::Error {
                kind,
                message,
                partial,
                ..
            }) => record_from(given, partial, Some(RecordError { kind, message })),
            Outcome::Err(FetchFailure::RetryableStatus { partial, .. }) => {
                record_from(given, partial, None)
            }
            Outcome::TimedOut => record_from(
                given,
                Fetched::default(),
                Some(RecordError {
                    kind: ErrorKind::Timeout,
                    message: format!("timed out after {}", human_duration(config.limits.timeout)),
                }),
            ),
            Outcome::Panicked(msg) => record_from(
                given,
                Fetched::default(),
                Some(RecordError {
                    kind: ErrorKind::Io,
                    message: format!("internal error: {msg}"),
                }),
            ),
            Outcome::Cancelled => {
                tally.cancelled += 1;
                continue;
            }
        };
        record.elapsed_ms = u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX);
        tally.add(&record);
        if let Err(e) = writer.write(&record) {
            shutdown.cancel();
            bar.finish_and_clear();
            return Err(write_error(e));
        }
        bar.set_length(emitted.load(Ordering::Relaxed));
        bar.inc(1);
        if tally.errors() > 0 {
            bar.set_message(format!("errors: {}", tally.errors()));
        }
    }
    bar.finish_and_clear();
    writer.flush().map_err(write_error)?;
    let outcome = RunOutcome {
        wall: started.elapsed(),
        interrupted: shutdown.is_cancelled(),
        tally,
        attempts_per_thread: per_thread.started(),
    };
    tracing::debug!(attempts_per_thread = ?outcome.attempts_per_thread, "fetch threads");
    if config.output.summary {
        eprintln!("{}", outcome.tally.render(outcome.wall));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_cut_back_to_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.jsonl");
        for (text, kept, cut) in [
            ("", "", None),
            ("{\"a\":1}\n", "{\"a\":1}\n", None),
            ("{\"a\":1}\n{\"url\":\"http", "{\"a\":1}\n", Some(12)),
            ("{\"a\":1}\n{\"b\":2}", "{\"a\":1}\n", Some(7)),
            ("no newline at all", "", Some(17)),
        ] {
            std::fs::write(&path, text).unwrap();
            let mut file = OpenOptions::new()
                .append(true)
                .read(true)
                .open(&path)
                .unwrap();
            assert_eq!(cut_torn_tail(&mut file).unwrap(), cut, "{text:?}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), kept, "{text:?}");
        }
        // Longer than one read chunk, newline far back.
        let long = format!("x\n{}", "y".repeat(200_000));
        std::fs::write(&path, &long).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .read(true)
            .open(&path)
            .unwrap();
        assert_eq!(cut_torn_tail(&mut file).unwrap(), Some(200_000));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x\n");
    }
}
