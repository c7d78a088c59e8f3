//! The run loop: one pool job per host (connect, run every command over
//! the one connection, disconnect), results and output events sent to the
//! single output task, Ctrl-C handling, exit code.
//!
//! Ctrl-C: the caller cancels `shutdown` on the first press. The pool then
//! stops starting hosts; we print the hosts still running on stderr; they get
//! [`RunConfig::grace`] to finish, then are aborted (reported as
//! `disconnected`). Hosts never started are counted in a final notice. The
//! binary exits on a second press.
//!
//! A closed stdout (`| head`) stops the pool the same way, but quietly: the
//! output drops stdout records, notices and the summary from then on, and
//! still completes the side files.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use netkit_pool::{CancellationToken, Outcome, Pool, Retry, RetryPolicy};
use tokio::io::AsyncReadExt;

use crate::config::RunConfig;
use crate::connect::credentials::{CredentialError, Credentials, Wanted};
use crate::connect::session::Connector;
use crate::error::SshError;
use crate::jobs::copy::{self, CopySpec, CopyStats};
use crate::jobs::exec::{self, CommandStatus, HostEnv, HostOutput};
use crate::output::{ErrorKind, Event, HostError, HostResult, Output, Summary};
use crate::progress::Progress;
use crate::select::target::Target;

/// Errors that stop the whole run before or after hosts run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Identity files, passphrase or password problems (exit 2).
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// Reading stdin or writing output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// Counts, failed hosts, exit code.
    pub summary: Summary,
    /// Hosts never started because of Ctrl-C.
    pub not_started: usize,
    /// Whether the run was interrupted.
    pub interrupted: bool,
    /// Whether stdout's reader went away (`| head`): the run stopped
    /// starting hosts and ended quietly (exit 0).
    pub stdout_closed: bool,
}

impl RunOutcome {
    /// The process exit code (0, 1 or 3; interrupted runs with unstarted
    /// hosts are 3).
    pub fn exit_code(&self) -> u8 {
        let code = self.summary.exit_code();
        if self.not_started > 0 {
            code.max(crate::output::EXIT_UNREACHABLE)
        } else {
            code
        }
    }
}

/// Runs everything with output on this process's stdout/stderr.
pub async fn run(cfg: RunConfig, shutdown: CancellationToken) -> Result<RunOutcome, RunError> {
    if cfg.progress {
        let progress = Progress::new();
        let output = Output::new(
            cfg.output.clone(),
            Box::new(progress.wrap(std::io::stdout())),
            Box::new(progress.wrap(std::io::stderr())),
        )?;
        return run_inner(cfg, output, Some(progress), shutdown).await;
    }
    let output = Output::stdio(cfg.output.clone())?;
    run_inner(cfg, output, None, shutdown).await
}

async fn run_inner(
    mut cfg: RunConfig,
    output: Output,
    progress: Option<Arc<Progress>>,
    shutdown: CancellationToken,
) -> Result<RunOutcome, RunError> {
    let mut identity_paths = Vec::new();
    let mut certificate_paths = Vec::new();
    let mut agent_sockets = Vec::new();
    let mut password_envs = Vec::new();
    for t in &cfg.targets {
        let mut cur: Option<&Target> = Some(t);
        while let Some(t) = cur {
            identity_paths.extend(t.identities.iter().map(|p| p.as_path()));
            certificate_paths.extend(t.certificates.iter().map(|p| p.as_path()));
            if cfg.use_agent {
                agent_sockets.extend(t.agent_socket.as_deref());
            }
            password_envs.extend(t.password_env.as_deref());
            cur = t.jump.as_deref();
        }
    }
    for list in [
        &mut identity_paths,
        &mut certificate_paths,
        &mut agent_sockets,
    ] {
        list.sort();
        list.dedup();
    }
    password_envs.sort();
    password_envs.dedup();
    let creds = Credentials::load(
        Wanted {
            identities: &identity_paths,
            certificates: &certificate_paths,
            agents: &agent_sockets,
            password_envs: &password_envs,
            ask_pass: cfg.ask_pass,
        },
        &shutdown,
    )
    .await?;
    if cfg.read_stdin {
        let mut buf = Vec::new();
        tokio::io::stdin().read_to_end(&mut buf).await?;
        cfg.exec.stdin = Some(buf.into());
    }

    let connector = Arc::new(Connector::new(Arc::new(creds)));
    // The pool stops on a signal (`shutdown`) or when stdout's reader goes
    // away; only the first prints the "interrupted" notice.
    let stdout_closed = output.stdout_closed();
    let stop = shutdown.child_token();
    let closer = {
        let (closed, stop) = (stdout_closed.clone(), stop.clone());
        tokio::spawn(async move {
            closed.cancelled().await;
            stop.cancel();
        })
    };
    let (tx, out_task) = output.spawn(1024);
    let running: Arc<Mutex<BTreeMap<usize, Arc<str>>>> = Arc::default();
    let total = cfg.targets.len();

    let watcher = {
        let shutdown = shutdown.clone();
        let running = running.clone();
        let tx = tx.clone();
        let grace = cfg.grace;
        tokio::spawn(async move {
            shutdown.cancelled().await;
            let names: Vec<String> = running
                .lock()
                .map(|m| m.values().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            let folded = crate::select::hosts::fold(&names);
            let _ = tx
                .send(Event::Notice(format!(
                    "ssh-fanout: interrupted: starting no more hosts; {} still running ({}), \
                     waiting up to {grace:?}; press Ctrl-C again to abort",
                    names.len(),
                    if folded.is_empty() { "-" } else { &folded }
                )))
                .await;
        })
    };

    let mut builder = Pool::builder()
        .concurrency(cfg.fanout)
        .cancel_token(stop.clone())
        .grace(cfg.grace);
    if let Some(rate) = cfg.handshake_rate {
        builder = builder.rate(rate, 1);
    }
    if cfg.retries > 0 {
        builder = builder.retry(
            RetryPolicy::exponential(cfg.retries)
                .base(Duration::from_millis(200))
                .max_delay(Duration::from_secs(5)),
        );
    }
    let pool = builder.build();
    let spec = Arc::new(cfg.exec.clone());
    let copy_spec = cfg.copy.clone().map(Arc::new);
    // One set of copy counters per host, read when its report arrives
    // (also after a failure or Ctrl-C, so partial copies are counted).
    let copy_stats: Arc<[CopyStats]> = if copy_spec.is_some() {
        (0..cfg.targets.len())
            .map(|_| CopyStats::default())
            .collect()
    } else {
        Arc::from(Vec::new())
    };
    let inputs: Vec<(usize, Arc<Target>)> = cfg.targets.iter().cloned().enumerate().collect();
    let mut started = 0usize;
    let mut reports = pool
        .jobs(inputs)
        .retry_if(|e: &SshError| {
            if e.is_retryable_connect() {
                Retry::Yes
            } else {
                Retry::No
            }
        })
        .run({
            let connector = connector.clone();
            let running = running.clone();
            let tx = tx.clone();
            let copy_stats = copy_stats.clone();
            move |(index, target), _ctx| {
                let connector = connector.clone();
                let running = running.clone();
                let spec = spec.clone();
                let copy_spec = copy_spec.clone();
                let copy_stats = copy_stats.clone();
                let out = HostOutput {
                    host: Arc::from(target.name.as_str()),
                    tx: tx.clone(),
                };
                async move {
                    if let Ok(mut m) = running.lock() {
                        m.insert(index, out.host.clone());
                    }
                    let job = HostJob {
                        spec: &spec,
                        copy: copy_spec.as_deref().zip(copy_stats.get(index)),
                        index,
                        total,
                    };
                    let result = host_job(&connector, &target, &job, &out).await;
                    if let Ok(mut m) = running.lock() {
                        m.remove(&index);
                    }
                    result
                }
            }
        });

    let ticker = progress.clone().map(|progress| {
        let counters = reports.counters();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let text = crate::progress::line(total, &counters.snapshot());
                progress.draw(&text);
            }
        })
    });
    while let Some(report) = reports.next().await {
        started += 1;
        let (index, target) = &report.input;
        let copied = copy_stats.get(*index).map(CopyStats::snapshot);
        let result = to_result(&target.name, report.outcome, report.elapsed, copied);
        if tx.send(Event::Result(result)).await.is_err() {
            break;
        }
    }
    drop(reports);
    watcher.abort();
    closer.abort();
    if let Some(ticker) = ticker {
        ticker.abort();
        let _ = ticker.await;
    }
    if let Some(p) = &progress {
        p.clear();
    }
    connector.close_jumps().await;
    let interrupted = shutdown.is_cancelled();
    let not_started = total.saturating_sub(started);
    if not_started > 0 {
        let _ = tx
            .send(Event::Notice(format!(
                "ssh-fanout: {not_started} of {total} hosts were not started (interrupted)"
            )))
            .await;
    }
    drop(tx);
    let summary = out_task
        .await
        .map_err(|e| std::io::Error::other(format!("output task: {e}")))??;
    Ok(RunOutcome {
        summary,
        not_started,
        interrupted,
        stdout_closed: stdout_closed.is_cancelled(),
    })
}

/// What one host does after connecting.
struct HostJob<'a> {
    spec: &'a exec::ExecSpec,
    copy: Option<(&'a CopySpec, &'a CopyStats)>,
    index: usize,
    total: usize,
}

/// Connect, copy (when asked), then run the commands (when given and the
/// copy succeeded), over one connection.
async fn host_job(
    connector: &Connector,
    target: &Arc<Target>,
    job: &HostJob<'_>,
    out: &HostOutput,
) -> Result<CommandStatus, SshError> {
    let conn = connector.connect(target).await?;
    let env = HostEnv {
        host: target.name.clone(),
        nodenum: job.index,
        numnodes: job.total,
    };
    let copied = match job.copy {
        Some((spec, stats)) => {
            let copy = copy::run(&conn, spec, &target.name, stats);
            // `-u` bounds the copy as it bounds each command.
            match job.spec.command_timeout {
                Some(limit) => match tokio::time::timeout(limit, copy).await {
                    Ok(r) => r,
                    Err(_) => Err(copy::CopyError::new(
                        ErrorKind::TransferInterrupted,
                        format!("the copy did not finish within --command-timeout {limit:?}"),
                    )),
                },
                None => copy.await,
            }
            .map_err(SshError::Copy)
        }
        None => Ok(()),
    };
    let status = match copied {
        Err(e) => Err(e),
        Ok(()) if job.spec.commands.is_empty() => Ok(CommandStatus::default()),
        Ok(()) => exec::run_all(&conn, job.spec, &env, out).await,
    };
    let _ = conn
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    status
}

/// One pool report as a host result.
fn to_result(
    host: &str,
    outcome: Outcome<CommandStatus, SshError>,
    elapsed: Duration,
    copy: Option<copy::CopySummary>,
) -> HostResult {
    let failed = |kind, msg: String| HostResult {
        copy,
        ..HostResult::failed(host, HostError::new(kind, msg), elapsed)
    };
    match outcome {
        Outcome::Ok(status) => HostResult {
            host: host.to_owned(),
            exit_code: status.exit_code,
            signal: status.signal,
            error: None,
            elapsed,
            copy,
        },
        Outcome::Err(e) => failed(e.kind(), e.to_string()),
        Outcome::TimedOut => failed(ErrorKind::CommandTimeout, "timed out".into()),
        Outcome::Panicked(msg) => failed(ErrorKind::Channel, format!("internal error: {msg}")),
        Outcome::Cancelled => failed(
            ErrorKind::Disconnected,
            "aborted by Ctrl-C before the host finished".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_spelling_and_errors_keep_their_kind() {
        for kind in ErrorKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        let cert = SshError::HostCertificateInvalid { host: "h".into() };
        assert_eq!(cert.kind(), ErrorKind::HostKeyChanged);
        // A local failure is no command verdict: exit 3, like an unreachable host.
        let local = to_result(
            "h",
            Outcome::Err(SshError::LocalResource("l".into())),
            Duration::ZERO,
            None,
        );
        assert_eq!(local.exit_class(), crate::output::EXIT_UNREACHABLE);
        assert_eq!(local.error.unwrap().kind, ErrorKind::LocalResource);
        let refused = SshError::ConnectRefused { addr: "a".into() };
        let r = to_result("h", Outcome::Err(refused), Duration::ZERO, None);
        assert_eq!(r.exit_class(), crate::output::EXIT_UNREACHABLE);
        assert_eq!(r.error.unwrap().kind, ErrorKind::ConnectRefused);
    }
}
