//! `cargo xtask bench echo`: echo-server side by side with a naive tokio echo
//! server (the baseline, written below) and a Python asyncio streams echo
//! server, all driven by the same `echo-client bench` on loopback.
//!
//! Options: `--runs N` (default 3; medians are reported), `--duration D`
//! and `--warmup W` per load point (default 5s / 1s), `--quick` (1 run,
//! 2s / 0.5s), `--servers echo,naive,asyncio`, `--echo-args "ARGS"` (extra
//! echo-server flags, for experiments), `--client-args "ARGS"` (extra
//! `echo-client bench` flags, e.g. `--write-each`), `--skip-idle`.
//!
//! Also measured: the floor (a blocking std `TcpStream` ping-pong pair,
//! 64 B, in this process) and the RSS of each server holding 10,000 idle
//! connections.
//!
//! `cargo xtask bench echo scale [OPTIONS]` is its own case: echo-client
//! and echo-server holding 19,000 connections ([`scale`]).

mod scale;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use netkit_testkit::{median, median_u64};

use crate::shell;

/// The load points of the issue: (connections, size, pipeline).
const POINTS: &[(usize, usize, usize)] = &[
    (1, 64, 1),
    (100, 64, 1),
    (1000, 64, 1),
    (100, 16 * 1024, 1),
    (1, 64, 16),
    (100, 64, 16),
];

const IDLE_CONNECTIONS: usize = 10_000;

const ASYNCIO_SERVER: &str = r#"
import asyncio

async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"#;

struct Options {
    runs: usize,
    duration: String,
    warmup: String,
    servers: Vec<String>,
    echo_args: Vec<String>,
    client_args: Vec<String>,
    skip_idle: bool,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    if args.first().map(String::as_str) == Some("--serve-naive") {
        return serve_naive();
    }
    if args.first().map(String::as_str) == Some("scale") {
        shell::step(
            "build release echo binaries",
            &["build", "--release", "-p", "netkit-echo"],
        )?;
        return scale::run(
            &target_dir().join("release"),
            args.get(1..).unwrap_or_default(),
        );
    }
    let opts = parse(args)?;
    shell::step(
        "build release echo binaries",
        &["build", "--release", "-p", "netkit-echo"],
    )?;
    let bin_dir = target_dir().join("release");
    let client = bin_dir.join("echo-client");
    let scratch = tempfile::tempdir()?;
    let script = scratch.path().join("asyncio_echo.py");
    std::fs::write(&script, ASYNCIO_SERVER)?;

    let mut servers = Vec::new();
    for name in &opts.servers {
        let server = match name.as_str() {
            "echo" => {
                let mut cmd = Command::new(bin_dir.join("echo-server"));
                cmd.args(["--listen", "127.0.0.1:0"]).args(&opts.echo_args);
                Server::start("echo-server", cmd)?
            }
            "naive" => {
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.args(["bench", "echo", "--serve-naive"]);
                Server::start("naive tokio", cmd)?
            }
            "asyncio" => {
                let mut cmd = Command::new("python3");
                cmd.arg(&script);
                Server::start("asyncio streams", cmd)?
            }
            other => bail!("unknown server {other:?} (echo, naive, asyncio)"),
        };
        println!(
            "{} listening on {} (pid {})",
            server.name,
            server.addr,
            server.child.id()
        );
        servers.push(server);
    }

    // results[point][server] = list of runs
    let mut results: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); servers.len()]; POINTS.len()];
    let mut floors = Vec::new();
    let mut std_rtts: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    for run in 1..=opts.runs {
        println!("\n== run {run} of {}", opts.runs);
        let floor = ping_pong_floor()?;
        println!("floor (std TcpStream ping-pong, 64 B): p50 {:.1} us", floor);
        floors.push(floor);
        for (i, server) in servers.iter().enumerate() {
            let rtt = ping_pong(server.addr)?;
            println!(
                "  {:<16} std client ping-pong, 64 B: p50 {rtt:.1} us",
                server.name
            );
            if let Some(v) = std_rtts.get_mut(i) {
                v.push(rtt);
            }
        }
        for (p, &(c, s, pipeline)) in POINTS.iter().enumerate() {
            for (i, server) in servers.iter().enumerate() {
                let sample = drive(&client, server.addr, c, s, pipeline, &opts)?;
                println!(
                    "  {:<16} c={c:<5} size={s:<6} pipeline={pipeline:<3} {:>10.0} msgs/s  p50 {:>6} us  p99 {:>6} us{}",
                    server.name,
                    sample.msgs_per_sec,
                    sample.p50,
                    sample.p99,
                    if sample.ok { "" } else { "  FAILED" }
                );
                if let Some(slot) = results.get_mut(p).and_then(|r| r.get_mut(i)) {
                    slot.push(sample);
                }
            }
        }
    }

    let idle: Vec<Option<IdleRss>> = if opts.skip_idle {
        servers.iter().map(|_| None).collect()
    } else {
        println!("\n== {IDLE_CONNECTIONS} idle connections");
        servers
            .iter()
            .map(|s| {
                let r = idle_rss(s);
                match &r {
                    Ok(m) => println!(
                        "  {:<16} RSS {:.1} MiB before, {:.1} MiB with {} idle connections",
                        s.name, m.before_mib, m.after_mib, m.connections
                    ),
                    Err(e) => println!("  {:<16} idle test failed: {e:#}", s.name),
                }
                r.ok()
            })
            .collect()
    };

    let floor = median(&floors);
    let std_rtt: Vec<f64> = std_rtts.iter().map(|v| median(v)).collect();
    print_table(&servers, &results, floor, &std_rtt, &idle, &opts, args);
    Ok(())
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut opts = Options {
        runs: 3,
        duration: "5s".into(),
        warmup: "1s".into(),
        servers: vec!["echo".into(), "naive".into(), "asyncio".into()],
        echo_args: Vec::new(),
        client_args: Vec::new(),
        skip_idle: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--runs" => opts.runs = value()?.parse().context("--runs")?,
            "--duration" => opts.duration = value()?,
            "--warmup" => opts.warmup = value()?,
            "--servers" => opts.servers = value()?.split(',').map(str::to_owned).collect(),
            "--echo-args" => {
                opts.echo_args = value()?.split_whitespace().map(str::to_owned).collect();
            }
            "--client-args" => {
                opts.client_args = value()?.split_whitespace().map(str::to_owned).collect();
            }
            "--skip-idle" => opts.skip_idle = true,
            "--quick" => {
                opts.runs = 1;
                opts.duration = "2s".into();
                opts.warmup = "500ms".into();
            }
            other => bail!(
                "unknown option {other:?}; options: --runs N --duration D --warmup W \
                 --servers echo,naive,asyncio --echo-args \"ARGS\" --client-args \"ARGS\" \
                 --skip-idle --quick; or: scale [OPTIONS]"
            ),
        }
    }
    if opts.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(opts)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| shell::root().join("target"))
}

/// A server process and the address from its `listening on` line.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
}

impl Server {
    fn start(name: &'static str, mut cmd: Command) -> anyhow::Result<Self> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines.read_line(&mut first)?;
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .with_context(|| format!("{name}: unexpected first line {first:?}"))?
            .parse()?;
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = lines.read_to_end(&mut sink);
        });
        Ok(Self { name, addr, child })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    msgs_per_sec: f64,
    p50: u64,
    p99: u64,
    ok: bool,
}

fn drive(
    client: &Path,
    addr: SocketAddr,
    connections: usize,
    size: usize,
    pipeline: usize,
    opts: &Options,
) -> anyhow::Result<Sample> {
    let out = Command::new(client)
        .args(["bench", &addr.to_string(), "--json", "--quiet"])
        .args(["--connections", &connections.to_string()])
        .args(["--size", &size.to_string()])
        .args(["--pipeline", &pipeline.to_string()])
        .args(["--duration", &opts.duration, "--warmup", &opts.warmup])
        .args(["--timeout", "10s"])
        .args(&opts.client_args)
        .stderr(Stdio::inherit())
        .output()
        .context("running echo-client bench")?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "echo-client bench output: {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    Ok(Sample {
        msgs_per_sec: v["msgs_per_sec"].as_f64().unwrap_or(0.0),
        p50: v["latency_us"]["p50"].as_u64().unwrap_or(0),
        p99: v["latency_us"]["p99"].as_u64().unwrap_or(0),
        ok: out.status.success(),
    })
}

/// p50 round trip (µs) of a blocking std `TcpStream` ping-pong pair with
/// 64 B: the floor.
fn ping_pong_floor() -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        loop {
            if s.read_exact(&mut buf).is_err() {
                return Ok(());
            }
            s.write_all(&buf)?;
        }
    });
    let p50 = ping_pong(addr)?;
    let _ = server.join();
    Ok(p50)
}

/// p50 round trip (µs) of a blocking std `TcpStream` client doing 64 B
/// ping-pong against `addr` (the floor's client, so only servers differ).
fn ping_pong(addr: SocketAddr) -> anyhow::Result<f64> {
    const ROUNDS: usize = 20_000;
    const WARMUP: usize = 2_000;
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    let mut rtts = Vec::with_capacity(ROUNDS);
    for i in 0..WARMUP + ROUNDS {
        let t = Instant::now();
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
        if i >= WARMUP {
            rtts.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    if back != msg {
        bail!("ping-pong reply differs");
    }
    Ok(median(&rtts))
}

struct IdleRss {
    before_mib: f64,
    after_mib: f64,
    connections: usize,
}

/// Opens 10,000 idle connections to `server` and reads its RSS.
fn idle_rss(server: &Server) -> anyhow::Result<IdleRss> {
    let pid = server.child.id();
    let before_mib = rss_mib(pid)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let addr = server.addr;
    let (connections, after_mib) = rt.block_on(async move {
        let mut streams = Vec::with_capacity(IDLE_CONNECTIONS);
        // In batches, so the accept backlog never overflows.
        for _ in 0..IDLE_CONNECTIONS / 250 {
            let batch = (0..250).map(|_| tokio::net::TcpStream::connect(addr));
            for s in futures::future::join_all(batch).await {
                streams.push(s?);
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = rss_mib(pid)?;
        // Still serving: one more connection echoes.
        let mut probe = tokio::net::TcpStream::connect(addr).await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        probe.write_all(b"still alive\n").await?;
        let mut buf = [0u8; 12];
        tokio::time::timeout(Duration::from_secs(10), probe.read_exact(&mut buf)).await??;
        let n = streams.len();
        drop(streams);
        Ok::<_, anyhow::Error>((n, rss))
    })?;
    // Let the server notice the closes before the next one is measured.
    std::thread::sleep(Duration::from_secs(1));
    Ok(IdleRss {
        before_mib,
        after_mib,
        connections,
    })
}

fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmRSS")?
        .parse()?;
    Ok(kb / 1024.0)
}

fn print_table(
    servers: &[Server],
    results: &[Vec<Vec<Sample>>],
    floor: f64,
    std_rtt: &[f64],
    idle: &[Option<IdleRss>],
    opts: &Options,
    args: &[String],
) {
    println!(
        "\n### Results: medians of {} run(s), {} measured after {} warm-up per point\n",
        opts.runs, opts.duration, opts.warmup
    );
    let mut header = String::from("| connections | size | pipeline |");
    let mut rule = String::from("|---|---|---|");
    for s in servers {
        header.push_str(&format!(" {} msgs/s | p50 / p99 us |", s.name));
        rule.push_str("---|---|");
    }
    let echo = servers.iter().position(|s| s.name == "echo-server");
    // The servers run one after another at each point of each run, so a
    // run's ratio compares them under the same load; on a noisy box the
    // median of those paired ratios is steadier than a ratio of medians.
    let peers: Vec<usize> = servers
        .iter()
        .enumerate()
        .filter(|(i, _)| echo.is_some_and(|e| e != *i))
        .map(|(i, _)| i)
        .collect();
    for &i in &peers {
        header.push_str(&format!(
            " echo-server / {}: median of per-run ratios (range) |",
            servers[i].name
        ));
        rule.push_str("---|");
    }
    println!("{header}\n{rule}");
    for (p, &(c, size, pipeline)) in POINTS.iter().enumerate() {
        let mut row = format!("| {c} | {size} B | {pipeline} |");
        for (i, _) in servers.iter().enumerate() {
            let samples = results
                .get(p)
                .and_then(|r| r.get(i))
                .map_or(&[][..], Vec::as_slice);
            let rate = median(&samples.iter().map(|s| s.msgs_per_sec).collect::<Vec<_>>());
            let p50 = median_u64(samples.iter().map(|s| s.p50));
            let p99 = median_u64(samples.iter().map(|s| s.p99));
            let failed = if samples.iter().all(|s| s.ok) {
                ""
            } else {
                " (failures)"
            };
            row.push_str(&format!(" {rate:.0}{failed} | {p50} / {p99} |"));
        }
        let runs_of = |i: usize| {
            results
                .get(p)
                .and_then(|r| r.get(i))
                .map_or(&[][..], Vec::as_slice)
        };
        if let Some(e) = echo {
            for &i in &peers {
                let ratios: Vec<f64> = runs_of(e)
                    .iter()
                    .zip(runs_of(i))
                    .map(|(a, b)| a.msgs_per_sec / b.msgs_per_sec.max(1.0))
                    .collect();
                let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = ratios.iter().copied().fold(0.0, f64::max);
                row.push_str(&format!(" {:.2}x ({lo:.2}–{hi:.2}) |", median(&ratios)));
            }
        }
        println!("{row}");
    }
    println!(
        "\nFloor: blocking std TcpStream ping-pong, 64 B, p50 round trip {floor:.1} us (median of runs)."
    );
    for (s, rtt) in servers.iter().zip(std_rtt) {
        println!(
            "{}: 1 connection, 64 B, same blocking std client: p50 round trip {rtt:.1} us = {:.2}x the floor.",
            s.name,
            rtt / floor.max(1e-9)
        );
    }
    if let Some(e) = echo {
        let p50 = median_u64(
            results
                .first()
                .and_then(|r| r.get(e))
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|s| s.p50),
        );
        println!(
            "echo-server, 1 connection, 64 B, through echo-client bench: p50 {p50} us = {:.2}x the floor \
             (includes the load generator's own overhead).",
            p50 as f64 / floor.max(1e-9)
        );
    }
    for (s, r) in servers.iter().zip(idle) {
        if let Some(r) = r {
            println!(
                "{}: {} idle connections held with {:.1} MiB RSS (before: {:.1} MiB).",
                s.name, r.connections, r.after_mib, r.before_mib
            );
        }
    }
    println!("\nReproduce: cargo xtask bench echo {}", args.join(" "));
}

/// The baseline: the classic naive tokio echo server (read, then write_all,
/// 4 KiB buffer, one task per connection, multi-thread runtime).
fn serve_naive() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (mut socket, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
