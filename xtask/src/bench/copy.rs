//! `cargo xtask bench copy`: ssh-fanout's file copy (`--copy`/`--rcopy`,
//! SFTP) side by side with pdcp/rpdcp (Debian `pdsh`), parallel-scp and
//! parallel-slurp (Debian `pssh`), `clush --copy`/`--rcopy` and a loop of
//! OpenSSH `scp` (the floor), against real sshds on 127.0.0.1 (issue 16).
//!
//! Cases: push a 4 KiB file to 64 hosts, push a 100 MiB file to 8 hosts,
//! pull a 10 MiB file from 16 hosts. Every contender uses the same key
//! exchange (curve25519) and cipher (chacha20-poly1305, russh's first
//! choice); sshd runs with `SetEnv SHLVL=1`. The hosts share this machine's
//! filesystem and its 2 cores: each host gets its own destination path
//! where the tool allows it, and sshd's CPU is part of what is measured.
//! Options: `--runs N` (default 3), `--tools fanout,pdcp,pscp,clush,scp`,
//! `--cases small,big,pull` (also `wide`: `--wide-mib N`, default 64, to
//! 64 hosts, for client memory), `--big-mib N` (default 100),
//! `--big-hosts N` (default 8; 1 compares one transfer with one `scp`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;
use netkit_testkit::median;
use netkit_testkit::sshd::SshdLab;

use super::fanout::{BenchFiles, Sample, arg, measure};
use crate::shell;

/// One case: direction, file size and host count.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    push: bool,
    bytes: u64,
    hosts: usize,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let runs: usize = arg(args, "--runs").unwrap_or("3").parse()?;
    let tools: Vec<&str> = arg(args, "--tools")
        .unwrap_or("fanout,pdcp,pscp,clush,scp")
        .split(',')
        .collect();
    let wanted: Vec<&str> = arg(args, "--cases")
        .unwrap_or("small,big,pull")
        .split(',')
        .collect();
    let big_mib: u64 = arg(args, "--big-mib").unwrap_or("100").parse()?;
    let wide_mib: u64 = arg(args, "--wide-mib").unwrap_or("64").parse()?;
    let big_hosts: usize = arg(args, "--big-hosts").unwrap_or("8").parse()?;
    for (tool, program) in [
        ("pdcp", "pdcp"),
        ("pscp", "parallel-scp"),
        ("clush", "clush"),
        ("scp", "scp"),
    ] {
        if tools.contains(&tool) && !shell::have(program) {
            bail!("{program} missing: apt-get install -y pdsh pssh clustershell openssh-client");
        }
    }
    shell::step(
        "build ssh-fanout (release)",
        &[
            "build",
            "--release",
            "-p",
            "netkit-fanout",
            "--bin",
            "ssh-fanout",
        ],
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| shell::root().join("target"));
    let bin = target.join("release/ssh-fanout");
    let cases = [
        Case {
            name: "small",
            push: true,
            bytes: 4096,
            hosts: 64,
        },
        Case {
            name: "big",
            push: true,
            bytes: big_mib << 20,
            hosts: big_hosts,
        },
        Case {
            name: "pull",
            push: false,
            bytes: 10 << 20,
            hosts: 16,
        },
        // Not in the default list: memory with many hosts (a file larger
        // than the 32 MiB shared cache, so slow hosts re-read).
        Case {
            name: "wide",
            push: true,
            bytes: wide_mib << 20,
            hosts: 64,
        },
    ];
    let mut table = String::from(
        "| case | tool | wall s | client CPU s | MiB/s per host | peak RSS MB | wall vs fanout |\n|---|---|---|---|---|---|---|\n",
    );
    for case in cases.iter().filter(|c| wanted.contains(&c.name)) {
        let lab = SshdLab::start(case.hosts, "SetEnv SHLVL=1")?;
        lab.write_client_files()?;
        let d = lab.dir.path().to_owned();
        let cfg = d.join("ssh_config");
        let mut text = std::fs::read_to_string(&cfg)?;
        text.push_str("  Ciphers chacha20-poly1305@openssh.com\n");
        std::fs::write(&cfg, text)?;
        let src = d.join("payload.bin");
        write_random(&src, case.bytes)?;
        // Warm-up: record host keys, warm sshd.
        measure(lab.command("fanout", &bin, case.hosts, "true"))?;
        let mut rows: Vec<(&str, Sample)> = Vec::new();
        for &tool in &tools {
            let mut samples = Vec::new();
            for r in 0..runs {
                let out = d.join(format!("out-{tool}-{r}"));
                std::fs::create_dir_all(&out)?;
                let Some(cmd) = contender(&lab, tool, &bin, case, &src, &out) else {
                    continue;
                };
                samples.push(measure(cmd)?);
                let _ = std::fs::remove_dir_all(&out);
            }
            if samples.is_empty() {
                continue;
            }
            let s = Sample {
                wall: median(&samples.iter().map(|s| s.wall).collect::<Vec<_>>()),
                cpu: median(&samples.iter().map(|s| s.cpu).collect::<Vec<_>>()),
                rss_kb: median(&samples.iter().map(|s| s.rss_kb as f64).collect::<Vec<_>>()) as u64,
                procs: samples.iter().map(|s| s.procs).max().unwrap_or(0),
            };
            println!(
                "{} ({} hosts, {} bytes): {tool}: wall {:.3}s cpu {:.3}s",
                case.name, case.hosts, case.bytes, s.wall, s.cpu
            );
            rows.push((tool, s));
        }
        let base = rows.iter().find(|(t, _)| *t == "fanout").map(|(_, s)| *s);
        for (tool, s) in &rows {
            // The scp loop copies one host at a time: its per-host rate is
            // that of a single scp.
            let per_host_secs = if *tool == "scp" {
                s.wall / case.hosts as f64
            } else {
                s.wall
            };
            let mibs = case.bytes as f64 / 1048576.0 / per_host_secs.max(1e-9);
            let vs = base.map_or("-".to_owned(), |b| format!("{:.2}x", s.wall / b.wall));
            table.push_str(&format!(
                "| {} ({} hosts, {}) | {tool} | {:.2} | {:.3} | {mibs:.1} | {:.0} | {vs} |\n",
                case.name,
                case.hosts,
                human(case.bytes),
                s.wall,
                s.cpu,
                s.rss_kb as f64 / 1024.0
            ));
        }
    }
    println!("\n{table}");
    Ok(())
}

/// The command for `tool` on `case`; `None` where the tool has no such
/// mode. Pushes go to a per-host name where the tool allows it.
fn contender(
    lab: &SshdLab,
    tool: &str,
    bin: &Path,
    case: &Case,
    src: &Path,
    out: &Path,
) -> Option<Command> {
    let d = lab.dir.path();
    let cfg = d.join("ssh_config").display().to_string();
    let n = case.hosts;
    let hosts = format!("h[0-{}]", n - 1);
    let f = n.to_string();
    let dest = out.join("payload.bin").display().to_string();
    let src_s = src.display().to_string();
    match (tool, case.push) {
        ("fanout", true) => {
            let mut c = Command::new(bin);
            c.arg("-i").arg(d.join("hosts.toml")).args([
                "-a",
                "-q",
                "-f",
                &f,
                "--copy",
                &src_s,
                "--dest",
                &out.join("{host}.bin").display().to_string(),
            ]);
            Some(c)
        }
        ("fanout", false) => {
            let mut c = Command::new(bin);
            c.arg("-i").arg(d.join("hosts.toml")).args([
                "-a",
                "-q",
                "-f",
                &f,
                "--rcopy",
                &src_s,
                "--dest",
                &out.display().to_string(),
            ]);
            Some(c)
        }
        ("pdcp", push) => {
            let mut c = Command::new(if push { "pdcp" } else { "rpdcp" });
            c.env("PDSH_SSH_ARGS_APPEND", format!("-F {cfg}"))
                .args(["-R", "ssh", "-f", &f, "-w", &hosts, &src_s])
                .arg(if push {
                    dest.clone()
                } else {
                    out.display().to_string()
                });
            Some(c)
        }
        ("pscp", push) => {
            let mut c = Command::new(if push {
                "parallel-scp"
            } else {
                "parallel-slurp"
            });
            c.arg("-h").arg(d.join("pssh_hosts")).args([
                "-p",
                &f,
                "-t",
                "600",
                "-x",
                &format!("-F {cfg}"),
            ]);
            if push {
                c.args([&src_s, &dest]);
            } else {
                c.arg("-L").arg(out).args([&src_s, "payload.bin"]);
            }
            Some(c)
        }
        ("clush", push) => {
            let mut c = Command::new("clush");
            c.args(["-f", &f, "-o", &format!("-F {cfg}"), "-w", &hosts]);
            c.arg(if push { "--copy" } else { "--rcopy" })
                .arg(&src_s)
                .args(["--dest", &out.display().to_string()]);
            Some(c)
        }
        ("scp", push) => {
            let mut script = String::new();
            for i in 0..n {
                if push {
                    script.push_str(&format!("scp -q -F {cfg} {src_s} h{i}:{dest}.{i} && "));
                } else {
                    script.push_str(&format!(
                        "scp -q -F {cfg} h{i}:{src_s} {}/h{i}.bin && ",
                        out.display()
                    ));
                }
            }
            script.push_str("true");
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            Some(c)
        }
        _ => None,
    }
}

/// `bytes` of pseudo-random data (xorshift), so no layer can compress it.
fn write_random(path: &Path, bytes: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut left = bytes;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let chunk = x.to_le_bytes();
        let take = usize::try_from(left.min(8))?;
        f.write_all(&chunk[..take])?;
        left -= take as u64;
    }
    f.flush()?;
    Ok(())
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}
