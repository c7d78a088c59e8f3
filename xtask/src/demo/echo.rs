//! The echo part of `cargo xtask demo`: echo-server on a free loopback port,
//! a one-shot echo, a 3-second verifying bench, then a graceful stop.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Runs this tool's demo with the release binaries in `bin_dir`.
pub fn run(bin_dir: &Path) -> anyhow::Result<()> {
    println!("echo-server is an RFC 862 echo server; echo-client checks it and load-tests it.");
    println!("\n1. Start the server on a free loopback port (the first stdout line names it):");
    println!("   $ echo-server --listen 127.0.0.1:0");
    let mut server = ServerGuard(
        Command::new(bin_dir.join("echo-server"))
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting echo-server")?,
    );
    let mut stdout = BufReader::new(server.0.stdout.take().context("server stdout")?);
    let mut first = String::new();
    stdout.read_line(&mut first)?;
    print!("   {first}");
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected first line {first:?}"))?
        .to_owned();

    println!("\n2. One-shot echo: the reply is verified byte for byte, exit code 0:");
    println!("   $ echo-client {addr} hello from netkit");
    let out = Command::new(bin_dir.join("echo-client"))
        .args([&addr, "hello", "from", "netkit", "--timeout", "5s"])
        .output()
        .context("running echo-client")?;
    print!("   {}", String::from_utf8_lossy(&out.stdout));
    println!("   (exit code {})", out.status.code().unwrap_or(-1));
    if !out.status.success() {
        bail!(
            "one-shot echo failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    println!("\n3. A 3-second load test: 50 connections, 64-byte messages, every byte checked:");
    println!("   $ echo-client bench {addr} --connections 50 --duration 2500ms --warmup 500ms");
    let out = Command::new(bin_dir.join("echo-client"))
        .args([
            "bench",
            &addr,
            "--connections",
            "50",
            "--duration",
            "2500ms",
        ])
        .args(["--warmup", "500ms", "--quiet"])
        .output()
        .context("running echo-client bench")?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("   {line}");
    }
    if !out.status.success() {
        bail!(
            "bench failed (exit {:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    println!("\n4. Stop the server with SIGINT: it drains, prints its final counters and exits 0:");
    let status = Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .context("kill -INT")?;
    if !status.success() {
        bail!("could not signal echo-server");
    }
    let started = Instant::now();
    let code = loop {
        if let Some(status) = server.0.try_wait()? {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("echo-server did not stop within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    stdout.read_to_string(&mut rest)?;
    for line in rest.lines() {
        println!("   {line}");
    }
    let mut err = String::new();
    if let Some(mut e) = server.0.stderr.take() {
        e.read_to_string(&mut err)?;
    }
    for line in err.lines() {
        println!("   (stderr) {line}");
    }
    println!("   (exit code {})", code.unwrap_or(-1));
    if code != Some(0) {
        bail!("echo-server exited with {code:?}");
    }
    Ok(())
}

/// Kills the server if the demo fails half-way.
struct ServerGuard(Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}
