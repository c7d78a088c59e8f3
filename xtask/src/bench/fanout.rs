//! `cargo xtask bench fanout`: ssh-fanout side by side with parallel-ssh
//! (Debian `pssh`), `pdsh -R ssh`, `clush` and a Python asyncssh script
//! (`gather` under a `Semaphore`), against 16 and 64 local OpenSSH sshd
//! hosts, commands `true` and `uname -a`; then ssh-fanout alone against 500
//! in-process simulated russh hosts (`examples/sim_hosts`).
//!
//! Fairness: every sshd runs with `SetEnv SHLVL=1` (root's `.bashrc` pyenv
//! hook does not run) from the shared template `tests/hosts/sshd_config`;
//! every client uses curve25519-sha256 key exchange (ssh-fanout prefers it;
//! OpenSSH peers get `-o KexAlgorithms=curve25519-sha256` via a generated
//! ssh_config; asyncssh gets `kex_algs`) and the same ed25519 key; fan-out
//! is the host count (16 or 64) for every tool.
//!
//! Measured per run: wall time; user+sys CPU of the tool's whole process
//! tree (the `cutime`/`cstime` of this process in `/proc/self/stat`, which
//! the kernel fills from `wait4` of the child and, recursively, of every
//! descendant it waited for); peak RSS summed over the tree (sampled from
//! `/proc` every 10 ms) and the peak process count. Medians of `--runs N`
//! (default 3).
//!
//! Options: `--runs N`, `--hosts 16,64` (`''` skips the sshd part), `--sim N`
//! (default 500, 0 skips), `--tools fanout,pssh,pdsh,clush,asyncssh`.
//!
//! `--scale N [--fanout 256,1024] [--connect-timeout 5s]` runs only the
//! 10,000-host case of issue 18 instead (`fanout_scale.rs`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use netkit_testkit::sshd::SshdLab;
use netkit_testkit::{keygen, median};

use crate::shell;

const ASYNCSSH_SCRIPT: &str = r#"
import asyncio, sys, asyncssh

async def main():
    key, user, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cmd = sys.argv[4]
    ports = [int(p) for p in sys.argv[5:]]
    sem = asyncio.Semaphore(limit)
    client_key = asyncssh.read_private_key(key)
    async def one(port):
        async with sem:
            async with asyncssh.connect("127.0.0.1", port, username=user,
                                        client_keys=[client_key], known_hosts=None,
                                        kex_algs=["curve25519-sha256"]) as conn:
                r = await conn.run(cmd)
                return r.exit_status
    codes = await asyncio.gather(*(one(p) for p in ports), return_exceptions=True)
    bad = [c for c in codes if c != 0]
    if bad:
        print("failures:", bad[:3], file=sys.stderr)
        sys.exit(1)

asyncio.run(main())
"#;

pub(super) trait BenchFiles {
    fn write_inventory(&self, path: &Path) -> anyhow::Result<()>;
    fn write_client_files(&self) -> anyhow::Result<()>;
    fn command(&self, tool: &str, bin: &Path, n: usize, cmd: &str) -> Command;
}

impl BenchFiles for SshdLab {
    /// Writes an ssh-fanout inventory naming the hosts `h0`, `h1`, ...
    fn write_inventory(&self, path: &Path) -> anyhow::Result<()> {
        let mut inv = format!(
            "[defaults]\nuser = \"{}\"\nidentity = \"{}\"\nknown_hosts = \"{}\"\n\n[groups]\nlab = [\"h[0-{}]\"]\n",
            self.user,
            self.client_key.display(),
            self.known_hosts.display(),
            self.hosts.len().saturating_sub(1)
        );
        for (i, h) in self.hosts.iter().enumerate() {
            inv.push_str(&format!(
                "\n[hosts.h{i}]\naddress = \"127.0.0.1\"\nport = {}\n",
                h.port
            ));
        }
        std::fs::write(path, inv)?;
        Ok(())
    }

    /// ssh-fanout inventory + OpenSSH client config + pssh host file.
    fn write_client_files(&self) -> anyhow::Result<()> {
        let d = self.dir.path();
        self.write_inventory(&d.join("hosts.toml"))?;
        let mut ssh = String::new();
        let mut pssh = String::new();
        for (i, p) in self.ports().iter().enumerate() {
            ssh.push_str(&format!("Host h{i}\n  HostName 127.0.0.1\n  Port {p}\n"));
            pssh.push_str(&format!("h{i}\n"));
        }
        ssh.push_str(&format!(
            "Host *\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  \
             UserKnownHostsFile /dev/null\n  KexAlgorithms curve25519-sha256\n  BatchMode yes\n  \
             LogLevel ERROR\n  ControlMaster no\n",
            self.user,
            self.client_key.display()
        ));
        std::fs::write(d.join("ssh_config"), ssh)?;
        std::fs::write(d.join("pssh_hosts"), pssh)?;
        std::fs::write(d.join("bench_asyncssh.py"), ASYNCSSH_SCRIPT)?;
        Ok(())
    }

    fn command(&self, tool: &str, bin: &Path, n: usize, cmd: &str) -> Command {
        let d = self.dir.path();
        let ssh_cfg = d.join("ssh_config").display().to_string();
        match tool {
            "fanout" => {
                let mut c = Command::new(bin);
                c.arg("-i")
                    .arg(d.join("hosts.toml"))
                    .args(["-a", "-q", "-f", &n.to_string(), cmd]);
                c
            }
            "pssh" => {
                let mut c = Command::new("parallel-ssh");
                c.arg("-h").arg(d.join("pssh_hosts")).args([
                    "-p",
                    &n.to_string(),
                    "-t",
                    "60",
                    "-x",
                    &format!("-F {ssh_cfg}"),
                    "-i",
                    cmd,
                ]);
                c
            }
            "pdsh" => {
                let mut c = Command::new("pdsh");
                c.env("PDSH_SSH_ARGS_APPEND", format!("-F {ssh_cfg}"))
                    .args([
                        "-R",
                        "ssh",
                        "-f",
                        &n.to_string(),
                        "-w",
                        &format!("h[0-{}]", n - 1),
                        cmd,
                    ]);
                c
            }
            "clush" => {
                let mut c = Command::new("clush");
                c.args([
                    "-f",
                    &n.to_string(),
                    "-o",
                    &format!("-F {ssh_cfg}"),
                    "-w",
                    &format!("h[0-{}]", n - 1),
                    cmd,
                ]);
                c
            }
            _ => {
                let mut c = Command::new("python3");
                c.arg(d.join("bench_asyncssh.py"))
                    .arg(&self.client_key)
                    .arg(&self.user)
                    .arg(n.to_string())
                    .arg(cmd)
                    .args(self.hosts.iter().map(|h| h.port.to_string()));
                c
            }
        }
    }
}

/// User+sys CPU of waited-for children of this process, in seconds.
pub(super) fn children_cpu() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After "pid (comm) ": field 3 is state -> index 0; cutime is field 16, cstime 17.
    let cutime: f64 = fields.get(13).context("cutime")?.parse()?;
    let cstime: f64 = fields.get(14).context("cstime")?.parse()?;
    Ok((cutime + cstime) / 100.0)
}

/// Sum of VmRSS (kB) over `root` and its descendants, and their count.
fn tree_rss(root: u32) -> (u64, usize) {
    let mut parent: HashMap<u32, u32> = HashMap::new();
    let mut rss: HashMap<u32, u64> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let mut ppid = 0;
        let mut kb = 0;
        for l in status.lines() {
            if let Some(v) = l.strip_prefix("PPid:") {
                ppid = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = l.strip_prefix("VmRSS:") {
                kb = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            }
        }
        parent.insert(pid, ppid);
        rss.insert(pid, kb);
    }
    let mut total = 0;
    let mut count = 0;
    for (&pid, &kb) in &rss {
        let mut cur = pid;
        for _ in 0..64 {
            if cur == root {
                total += kb;
                count += 1;
                break;
            }
            match parent.get(&cur) {
                Some(&p) if p != 0 => cur = p,
                _ => break,
            }
        }
    }
    (total, count)
}

#[derive(Clone, Copy, Default)]
pub(super) struct Sample {
    pub(super) wall: f64,
    pub(super) cpu: f64,
    pub(super) rss_kb: u64,
    pub(super) procs: usize,
}

pub(super) fn measure(mut cmd: Command) -> anyhow::Result<Sample> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let cpu0 = children_cpu()?;
    let start = Instant::now();
    let mut child = cmd.spawn().context("spawn contender")?;
    let pid = child.id();
    let mut stderr = child.stderr.take().context("stderr")?;
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let (mut peak, mut procs) = (0u64, 0usize);
    let status = loop {
        let (kb, n) = tree_rss(pid);
        peak = peak.max(kb);
        procs = procs.max(n);
        if let Some(st) = child.try_wait()? {
            break st;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = start.elapsed().as_secs_f64();
    let cpu = children_cpu()? - cpu0;
    let err = errs.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "contender failed ({status}): {}",
            err.lines().take(5).collect::<Vec<_>>().join(" | ")
        );
    }
    Ok(Sample {
        wall,
        cpu,
        rss_kb: peak,
        procs,
    })
}

fn ensure_asyncssh() -> anyhow::Result<()> {
    let ok = Command::new("python3")
        .args(["-c", "import asyncssh"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        shell::run(
            "pip install asyncssh",
            Command::new("python3").args(["-m", "pip", "install", "--quiet", "asyncssh"]),
        )?;
    }
    Ok(())
}

pub(crate) fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let runs: usize = arg(args, "--runs").unwrap_or("3").parse()?;
    let sizes: Vec<usize> = arg(args, "--hosts")
        .unwrap_or("16,64")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let sim: usize = arg(args, "--sim").unwrap_or("500").parse()?;
    let tools: Vec<&str> = arg(args, "--tools")
        .unwrap_or("fanout,pssh,pdsh,clush,asyncssh")
        .split(',')
        .collect();
    shell::step(
        "build ssh-fanout and sim_hosts (release)",
        &[
            "build",
            "--release",
            "-p",
            "netkit-fanout",
            "--bin",
            "ssh-fanout",
            "--example",
            "sim_hosts",
        ],
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| shell::root().join("target"));
    let bin = target.join("release/ssh-fanout");
    let sim_bin = target.join("release/examples/sim_hosts");
    if arg(args, "--scale").is_some() {
        return super::fanout_scale::run(args, &bin, &sim_bin);
    }
    if tools.contains(&"asyncssh") {
        ensure_asyncssh()?;
    }
    for (tool, program) in [
        ("pssh", "parallel-ssh"),
        ("pdsh", "pdsh"),
        ("clush", "clush"),
    ] {
        if tools.contains(&tool) && !shell::have(program) {
            bail!("{program} missing: apt-get install -y pssh pdsh clustershell");
        }
    }

    let mut table = String::from(
        "| hosts | command | tool | wall s | CPU s (tree) | CPU ms/host | peak RSS MB (procs) | wall vs fanout | CPU vs fanout |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for &n in &sizes {
        let lab = SshdLab::start(n, "SetEnv SHLVL=1")?;
        lab.write_client_files()?;
        // Warm-up: record host keys for ssh-fanout, warm sshd and caches.
        measure(lab.command("fanout", &bin, n, "true"))?;
        for cmd in ["true", "uname -a"] {
            let mut rows: Vec<(&str, Sample)> = Vec::new();
            for &tool in &tools {
                let mut samples = Vec::new();
                for _ in 0..runs {
                    samples.push(measure(lab.command(tool, &bin, n, cmd))?);
                }
                let s = Sample {
                    wall: median(&samples.iter().map(|s| s.wall).collect::<Vec<_>>()),
                    cpu: median(&samples.iter().map(|s| s.cpu).collect::<Vec<_>>()),
                    rss_kb: median(&samples.iter().map(|s| s.rss_kb as f64).collect::<Vec<_>>())
                        as u64,
                    procs: samples.iter().map(|s| s.procs).max().unwrap_or(0),
                };
                println!(
                    "{n} hosts, {cmd:?}, {tool}: wall {:.3}s cpu {:.3}s ({:.2} ms/host) rss {:.1} MB",
                    s.wall,
                    s.cpu,
                    s.cpu * 1000.0 / n as f64,
                    s.rss_kb as f64 / 1024.0
                );
                rows.push((tool, s));
            }
            let base = rows.iter().find(|(t, _)| *t == "fanout").map(|(_, s)| *s);
            for (tool, s) in &rows {
                let (rw, rc) = match base {
                    Some(b) if b.wall > 0.0 && b.cpu > 0.0 => (
                        format!("{:.1}x", s.wall / b.wall),
                        format!("{:.1}x", s.cpu / b.cpu),
                    ),
                    _ => ("-".into(), "-".into()),
                };
                table.push_str(&format!(
                    "| {n} | `{cmd}` | {tool} | {:.2} | {:.3} | {:.2} | {:.0} ({}) | {rw} | {rc} |\n",
                    s.wall,
                    s.cpu,
                    s.cpu * 1000.0 / n as f64,
                    s.rss_kb as f64 / 1024.0,
                    s.procs
                ));
            }
        }
    }
    println!("\n{table}");

    if sim > 0 {
        let dir = tempfile::tempdir()?;
        let host_key = dir.path().join("sim_host_key");
        let client_key = dir.path().join("sim_client_key");
        keygen(&host_key)?;
        keygen(&client_key)?;
        let inv = dir.path().join("sim.toml");
        let mut server = Command::new(&sim_bin)
            .arg(sim.to_string())
            .arg(&host_key)
            .arg(&client_key)
            .arg(&inv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("start sim_hosts")?;
        let mut line = String::new();
        BufReader::new(server.stdout.take().context("sim stdout")?).read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("sim_hosts did not start: {line:?}");
        }
        let fanout_cmd = |cmd: &str| {
            let mut c = Command::new(&bin);
            c.arg("-i").arg(&inv).args(["-a", "-q", "-f", "128", cmd]);
            c
        };
        measure(fanout_cmd("true"))?; // warm-up, records host keys
        let mut out = format!(
            "\n{sim} simulated russh hosts (in one process on the same 2 cores), ssh-fanout -f 128:\n\n| command | wall s | hosts/s | client CPU ms/host | peak RSS MB |\n|---|---|---|---|---|\n"
        );
        for cmd in ["true", "uname -a"] {
            let samples: Vec<Sample> = (0..runs)
                .map(|_| measure(fanout_cmd(cmd)))
                .collect::<Result<_, _>>()?;
            let wall = median(&samples.iter().map(|s| s.wall).collect::<Vec<_>>());
            let cpu = median(&samples.iter().map(|s| s.cpu).collect::<Vec<_>>());
            let rss = median(&samples.iter().map(|s| s.rss_kb as f64).collect::<Vec<_>>());
            out.push_str(&format!(
                "| `{cmd}` | {wall:.2} | {:.0} | {:.2} | {:.0} |\n",
                sim as f64 / wall,
                cpu * 1000.0 / sim as f64,
                rss / 1024.0
            ));
        }
        if let Some(mut stdin) = server.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = server.kill();
        let _ = server.wait();
        println!("{out}");
    }
    Ok(())
}
