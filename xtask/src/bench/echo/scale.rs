//! `cargo xtask bench echo scale`: as many connections as one box allows.
//!
//! echo-server and echo-client run as two processes on loopback, each under
//! its own open-file limit (20,000 here), and hold 19,000 TCP connections.
//! Each connection sends one 64 B message per second (`--message-rate 1`,
//! open loop, so latency counts from the scheduled send), opened at
//! `--connect-rate 5000` from 8 source addresses (`--source
//! 127.0.0.2-127.0.0.9`). Every echoed byte is verified by the client, and
//! the server's final byte counters must equal what the client sent.
//!
//! Recorded: both processes' peak RSS (VmHWM) and memory per connection
//! (peak minus the same process with one connection, divided by the
//! connections), CPU, latency percentiles, and the ramp (connect-time
//! percentiles and the time until every connection was open).
//!
//! Options: `--connections N` (19000), `--duration D` (30s), `--warmup W`
//! (5s), `--connect-rate R` (5000), `--message-rate R` (1), `--source SPEC`
//! (127.0.0.2-127.0.0.9; `none` lets the kernel choose), `--runs N` (1).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

struct Options {
    connections: usize,
    duration: String,
    warmup: String,
    connect_rate: String,
    message_rate: String,
    source: Option<String>,
    runs: usize,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut opts = Options {
        connections: 19_000,
        duration: "30s".into(),
        warmup: "5s".into(),
        connect_rate: "5000".into(),
        message_rate: "1".into(),
        source: Some("127.0.0.2-127.0.0.9".into()),
        runs: 1,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--connections" => opts.connections = value()?.parse().context("--connections")?,
            "--duration" => opts.duration = value()?,
            "--warmup" => opts.warmup = value()?,
            "--connect-rate" => opts.connect_rate = value()?,
            "--message-rate" => opts.message_rate = value()?,
            "--source" => {
                let v = value()?;
                opts.source = (v != "none").then_some(v);
            }
            "--runs" => opts.runs = value()?.parse().context("--runs")?,
            other => bail!(
                "unknown option {other:?}; options: --connections N --duration D --warmup W \
                 --connect-rate R --message-rate R --source SPEC|none --runs N"
            ),
        }
    }
    if opts.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(opts)
}

/// Runs the scale case with the release binaries in `bin_dir`.
pub fn run(bin_dir: &Path, args: &[String]) -> anyhow::Result<()> {
    let opts = parse(args)?;
    println!(
        "== scale: {} connections, {} msg/s each, ramp at {}/s, sources {}",
        opts.connections,
        opts.message_rate,
        opts.connect_rate,
        opts.source.as_deref().unwrap_or("(kernel's choice)")
    );
    println!("before: {}", socket_summary());
    let mut results = Vec::new();
    for run in 1..=opts.runs {
        if run > 1 {
            // The client closes first, so its side holds TIME_WAIT for 60 s;
            // with --source each address has its own ports, so the next run
            // only needs free ports, which 8 x 28,000 leaves plenty of.
            println!("between runs: {}", socket_summary());
        }
        let baseline = measure(bin_dir, &opts, 1, "3s", "0")?;
        let full = measure(
            bin_dir,
            &opts,
            opts.connections,
            &opts.duration,
            &opts.warmup,
        )?;
        print_run(run, &opts, &baseline, &full);
        results.push((baseline, full));
    }
    println!("after: {}", socket_summary());
    let ok = results.iter().all(|(_, f)| f.verified());
    println!(
        "\nReproduce: cargo xtask bench echo scale {}",
        args.join(" ")
    );
    if !ok {
        bail!("a scale run lost, failed or mismatched messages (see above)");
    }
    Ok(())
}

/// What one client run against a fresh server measured.
struct Measured {
    report: serde_json::Value,
    client_peak_kib: u64,
    server_before_kib: u64,
    server_peak_kib: u64,
    client_cpu_s: f64,
    server_cpu_s: f64,
    /// The kernel's slab memory (sockets, files, epoll items) before the
    /// client started and at its highest while it ran, KiB. Machine-wide,
    /// so other processes add noise.
    slab_before_kib: u64,
    slab_peak_kib: u64,
    server_final: Option<(u64, u64, u64)>,
    client_ok: bool,
}

impl Measured {
    fn get(&self, path: &[&str]) -> f64 {
        let mut v = &self.report;
        for p in path {
            v = &v[*p];
        }
        v.as_f64().unwrap_or(0.0)
    }

    /// Every message sent came back verified, and the server echoed
    /// exactly those bytes.
    fn verified(&self) -> bool {
        let sent = self.get(&["sent"]) as u64;
        let size = self.get(&["size"]) as u64;
        self.client_ok
            && self.get(&["errors"]) == 0.0
            && self.get(&["mismatches"]) == 0.0
            && self.server_final == Some((sent * size, sent * size, 0))
    }
}

fn measure(
    bin_dir: &Path,
    opts: &Options,
    connections: usize,
    duration: &str,
    warmup: &str,
) -> anyhow::Result<Measured> {
    let mut server = Command::new(bin_dir.join("echo-server"))
        .args(["--listen", "127.0.0.1:0", "--grace", "10s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting echo-server")?;
    let lines = server_lines(&mut server)?;
    let first = lines
        .recv_timeout(Duration::from_secs(10))
        .context("echo-server printed no listening line")?;
    let addr = first
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected first line {first:?}"))?
        .to_string();
    let server_pid = server.id();
    let server_before_kib = status_kib(server_pid, "VmRSS:").unwrap_or(0);
    let server_cpu0 = cpu_seconds(server_pid).unwrap_or(0.0);

    let mut cmd = Command::new(bin_dir.join("echo-client"));
    cmd.args(["bench", &addr, "--json", "--quiet"])
        .args(["--connections", &connections.to_string()])
        .args(["--message-rate", &opts.message_rate])
        .args(["--connect-rate", &opts.connect_rate])
        .args(["--duration", duration, "--warmup", warmup])
        .args(["--timeout", "10s"]);
    if let Some(source) = &opts.source {
        cmd.args(["--source", source]);
    }
    let client = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting echo-client bench")?;
    let client_pid = client.id();
    let slab_before_kib = meminfo_kib("Slab:").unwrap_or(0);
    let mut slab_peak_kib = slab_before_kib;
    let output = std::thread::spawn(move || client.wait_with_output());
    // Sample both peaks while the client runs; VmHWM only grows, so the
    // last reading before the client exits is its peak.
    let mut client_peak_kib = 0;
    let mut client_cpu_s = 0.0;
    let started = Instant::now();
    while !output.is_finished() {
        if let Some(kib) = status_kib(client_pid, "VmHWM:") {
            client_peak_kib = kib;
        }
        if let Some(cpu) = cpu_seconds(client_pid) {
            client_cpu_s = cpu;
        }
        slab_peak_kib = slab_peak_kib.max(meminfo_kib("Slab:").unwrap_or(0));
        if started.elapsed() > Duration::from_secs(3600) {
            let _ = Command::new("kill").arg(client_pid.to_string()).status();
            let _ = server.kill();
            let _ = server.wait();
            bail!("echo-client bench ran for over an hour");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = output
        .join()
        .map_err(|_| anyhow::anyhow!("client waiter panicked"))?
        .context("waiting for echo-client")?;
    let server_peak_kib = status_kib(server_pid, "VmHWM:").unwrap_or(0);
    let server_cpu_s = cpu_seconds(server_pid).unwrap_or(0.0) - server_cpu0;
    // Parsed after the server is stopped, so a bad report never leaves it
    // running.
    let report = serde_json::from_slice::<serde_json::Value>(&out.stdout).with_context(|| {
        format!(
            "echo-client bench output: {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    });

    // SIGINT: the server drains and prints its final counters.
    let _ = Command::new("kill")
        .args(["-INT", &server_pid.to_string()])
        .status();
    let mut server_final = None;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(20)) {
        if let Some(stats) = line.strip_prefix("final stats: ") {
            server_final = parse_final(stats);
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    Ok(Measured {
        report: report?,
        client_peak_kib,
        server_before_kib,
        server_peak_kib,
        client_cpu_s,
        server_cpu_s,
        slab_before_kib,
        slab_peak_kib,
        server_final,
        client_ok: out.status.success(),
    })
}

/// The server's stdout, line by line, read on a thread.
fn server_lines(server: &mut Child) -> anyhow::Result<mpsc::Receiver<String>> {
    let stdout = server.stdout.take().context("server stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line.trim().to_string()).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// (bytes_in, bytes_out, errors) from the server's `final stats:` line.
fn parse_final(stats: &str) -> Option<(u64, u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        stats
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    Some((field("bytes_in")?, field("bytes_out")?, field("errors")?))
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A `/proc/meminfo` field in KiB.
fn meminfo_kib(field: &str) -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User + system CPU seconds of a process, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux configuration that matters here.
    Some((utime + stime) / 100.0)
}

/// `ss -s`'s TCP line: established and TIME_WAIT counts.
fn socket_summary() -> String {
    Command::new("ss")
        .arg("-s")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.starts_with("TCP:"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "(ss not available)".into())
}

fn print_run(run: usize, opts: &Options, baseline: &Measured, full: &Measured) {
    let n = full.get(&["connections"]).max(1.0);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let per_conn = |peak: u64, base: u64| (peak.saturating_sub(base)) as f64 * 1024.0 / n;
    let target = full.get(&["rate"]);
    let measured_s = full.get(&["duration_s"]).max(1e-9);
    let total_s = measured_s + parse_seconds(&opts.warmup);
    println!("\n### Scale run {run}: {} connections\n", n as u64);
    println!("| | echo-client | echo-server |");
    println!("|---|---|---|");
    println!(
        "| peak RSS | {:.1} MiB | {:.1} MiB |",
        mib(full.client_peak_kib),
        mib(full.server_peak_kib)
    );
    println!(
        "| same process, 1 connection | {:.1} MiB | {:.1} MiB (before connections: {:.1} MiB) |",
        mib(baseline.client_peak_kib),
        mib(baseline.server_peak_kib),
        mib(full.server_before_kib)
    );
    println!(
        "| memory per connection | {:.0} B | {:.0} B |",
        per_conn(full.client_peak_kib, baseline.client_peak_kib),
        per_conn(full.server_peak_kib, baseline.server_peak_kib)
    );
    println!(
        "| kernel slab, both sides together (machine-wide) | {:.0} B per connection ({:.1} MiB more) | |",
        (full.slab_peak_kib.saturating_sub(full.slab_before_kib)) as f64 * 1024.0 / n,
        mib(full.slab_peak_kib.saturating_sub(full.slab_before_kib))
    );
    println!(
        "| CPU (whole run, ramp included) | {:.1} s | {:.1} s |",
        full.client_cpu_s, full.server_cpu_s
    );
    println!(
        "| CPU per message | {:.1} us | {:.1} us |",
        full.client_cpu_s * 1e6 / full.get(&["sent"]).max(1.0),
        full.server_cpu_s * 1e6 / full.get(&["sent"]).max(1.0)
    );
    println!();
    println!(
        "messages: target {:.0}/s, measured {:.0}/s; {} sent, {} verified in the {:.0} s window; errors {}, mismatches {}",
        target,
        full.get(&["msgs_per_sec"]),
        full.get(&["sent"]),
        full.get(&["msgs"]),
        measured_s,
        full.get(&["errors"]),
        full.get(&["mismatches"])
    );
    if let Some(samples) = full.report["error_samples"].as_array() {
        for e in samples {
            println!("  error: {}", e.as_str().unwrap_or_default());
        }
    }
    match full.server_final {
        Some((bytes_in, bytes_out, errors)) => println!(
            "server final counters: bytes_in {bytes_in}, bytes_out {bytes_out} (client sent {} B), errors {errors}",
            full.get(&["sent"]) * full.get(&["size"])
        ),
        None => println!("server final counters: missing"),
    }
    println!(
        "latency (open loop, from the scheduled send): p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, max {} us",
        full.get(&["latency_us", "p50"]),
        full.get(&["latency_us", "p90"]),
        full.get(&["latency_us", "p99"]),
        full.get(&["latency_us", "p999"]),
        full.get(&["latency_us", "max"])
    );
    println!(
        "ramp: every connection open after {:.0} ms (at {} connections/s: {:.0} ms at least); connect p50 {} us, p99 {} us, max {} us; from {} source addresses",
        full.get(&["ramp_ms"]),
        opts.connect_rate,
        (n - 1.0) / full.get(&["connect_rate"]).max(1e-9) * 1000.0,
        full.get(&["connect_us", "p50"]),
        full.get(&["connect_us", "p99"]),
        full.get(&["connect_us", "max"]),
        full.get(&["source_addrs"])
    );
    println!(
        "(the client ran {:.0} s after the ramp; verified: {})",
        total_s,
        if full.verified() { "yes" } else { "NO" }
    );
}

fn parse_seconds(text: &str) -> f64 {
    let t = text.trim();
    if let Some(ms) = t.strip_suffix("ms") {
        return ms.parse::<f64>().unwrap_or(0.0) / 1000.0;
    }
    if let Some(m) = t.strip_suffix('m') {
        return m.parse::<f64>().unwrap_or(0.0) * 60.0;
    }
    t.trim_end_matches('s').parse().unwrap_or(0.0)
}
