//! Child processes with a time limit, a visible header and timing, and the
//! Ctrl-C flag that lets the lab clean up after itself.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Catches Ctrl-C and SIGTERM from now on: instead of dying, this process
/// sets a flag (see [`interrupted`]) so the caller can take the lab down.
/// Children in the foreground process group still get the signal and stop.
pub fn catch_interrupts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("lab-signals".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    let _ = ready_tx.send(());
                    return;
                };
                rt.block_on(async move {
                    use tokio::signal::unix::{SignalKind, signal};
                    let (Ok(mut int), Ok(mut term)) = (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                    ) else {
                        let _ = ready_tx.send(());
                        return;
                    };
                    let _ = ready_tx.send(());
                    loop {
                        tokio::select! {
                            _ = int.recv() => {}
                            _ = term.recv() => {}
                        }
                        INTERRUPTED.store(true, Ordering::SeqCst);
                        eprintln!("\nlab: interrupted; cleaning up (the lab is taken down)");
                    }
                });
            });
        if spawned.is_ok() {
            let _ = ready_rx.recv_timeout(Duration::from_secs(5));
        }
    });
}

/// Whether Ctrl-C or SIGTERM arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails if the user pressed Ctrl-C.
pub fn check_interrupt() -> anyhow::Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// Runs `command` (inheriting stdio) for at most `limit`, with a `==> what`
/// header and the time it took; kills it and fails on timeout.
pub fn run(what: &str, command: &mut Command, limit: Duration) -> anyhow::Result<()> {
    println!("==> {what}");
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start: {what}"))?;
    let status = wait(&mut child, limit).with_context(|| format!("{what}: timed out"))?;
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("{what}: failed after {secs:.1}s ({status})");
    }
    println!("<== {what} ({secs:.1}s)");
    Ok(())
}

/// Like [`run`], but the output is captured and shown only on failure
/// (its last 30 lines), so progress stays one line per step.
pub fn quiet(what: &str, command: &mut Command, limit: Duration) -> anyhow::Result<()> {
    println!("==> {what}");
    let start = Instant::now();
    let out = output(command, limit).with_context(|| what.to_owned())?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        bail!(
            "{what}: failed after {} ({}):\n{}",
            secs(start),
            out.status,
            lines[lines.len().saturating_sub(30)..].join("\n")
        );
    }
    println!("<== {what} ({})", secs(start));
    Ok(())
}

/// Runs `command` with stdout and stderr captured, for at most `limit`.
pub fn output(command: &mut Command, limit: Duration) -> anyhow::Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {program}"))?;
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let status = wait(&mut child, limit).with_context(|| format!("{program}: timed out"))?;
    let collect = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: collect(out),
        stderr: collect(err),
    })
}

/// Runs `command` quietly; true when it exits 0 within `limit`.
pub fn succeeds(command: &mut Command, limit: Duration) -> bool {
    output(command, limit).is_ok_and(|o| o.status.success())
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Waits for `child` at most `limit`; on timeout kills it and fails.
fn wait(child: &mut Child, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("no result within {}s; stopped it", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a process with this PID exists and its command line contains
/// `marker` (so a recycled PID is never mistaken for ours).
pub fn is_ours(pid: u32, marker: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
}

/// Sends `signal` (e.g. `TERM`) to one PID with kill(1).
pub fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Stops one of our processes: TERM, up to `grace`, then KILL.
pub fn stop(pid: u32, marker: &str, grace: Duration) {
    if !is_ours(pid, marker) {
        return;
    }
    signal(pid, "TERM");
    let start = Instant::now();
    while is_ours(pid, marker) && !is_zombie(pid) {
        if start.elapsed() > grace {
            signal(pid, "KILL");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

/// The last `n` lines of a log file, for failure messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Formats a duration for progress messages.
pub fn secs(start: Instant) -> String {
    format!("{:.1}s", start.elapsed().as_secs_f64())
}

/// Runs `command` with inherited stdio for at most `limit` and returns its
/// exit status (any status; the caller judges it).
pub fn status(command: &mut Command, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start {program}"))?;
    wait(&mut child, limit).with_context(|| format!("{program}: timed out"))
}
