//! `cargo xtask bench fanout --scale N` (issue 18): ssh-fanout (release)
//! against N in-process russh hosts of `examples/sim_hosts --faults`, in
//! their own process, with 1% of the hosts failing in each typed way:
//! refused, timeout, auth, changed key, non-zero exit, disconnect.
//!
//! Each run is `ssh-fanout -F none -i INV -a -f F -t T --host-key-policy
//! strict --json --failed-hosts FILE true`, and is checked against the plan
//! the simulator wrote (`NAME EXPECTED` per host):
//! - exit code 3;
//! - exactly N result records, every host once, each with its planned
//!   outcome (`ok`, `exit 1` or the error kind);
//! - the summary on stderr: the count line and, for every reason, the
//!   folded host list expanded back, equal to the planned set;
//! - `--failed-hosts`: exactly the planned failing hosts, each once.
//!
//! Measured per run: wall time, the client's user+sys CPU (`cutime` +
//! `cstime` of this process around the wait, so only ssh-fanout: the
//! simulator is not waited for until the end), its peak RSS (`VmHWM` from
//! `/proc/PID/status`, read every 10 ms while it runs; the kernel keeps the
//! high-water mark, so the last read before exit is the peak), and the
//! simulator's CPU in the same interval (`/proc/PID/stat`), and from
//! `/proc/stat` the softirq time (loopback packet processing, charged to
//! no process) and what the rest of the machine used (other builds and
//! benchmarks on the shared VM, which slow the wall time). Medians of
//! `--runs` runs per fanout, after one unmeasured warm-up run.
//!
//! Options: `--scale N` (a multiple of 100), `--fanout 256,1024`,
//! `--runs 3`, `--connect-timeout 5s`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use netkit_testkit::{keygen, median};

use super::fanout::{arg, children_cpu};

/// The simulator's address. Its ports come from the ephemeral range (bound
/// to port 0), which on 127.0.0.1 it shares with the client's side of every
/// connection (held in TIME_WAIT for a minute) and with any other listener:
/// once, with another 10,000-port simulator still up and tens of thousands
/// of connections in the minute before, the bind failed with EADDRINUSE. A
/// port of 127.0.0.2 does not conflict with those of 127.0.0.1.
const SIM_ADDR: &str = "127.0.0.2";

/// Goals of issue 18.
const CPU_MS_PER_HOST_GOAL: f64 = 0.6;
const RSS_MIB_GOAL: f64 = 256.0;

/// One measured, verified run.
#[derive(Clone, Copy, Default)]
struct Run {
    wall: f64,
    cpu: f64,
    rss_kb: u64,
    sim_cpu: f64,
    /// CPU seconds the rest of the machine used meanwhile (other builds).
    other_cpu: f64,
    /// softirq CPU seconds meanwhile (mostly this run's loopback traffic).
    softirq: f64,
}

/// Busy CPU seconds of the whole machine so far: (all but idle, iowait and
/// softirq; softirq). With IRQ time accounting, loopback packet processing
/// in softirq context is charged to neither process but to softirq.
fn machine_busy() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0.0, 0.0);
    };
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal
    let softirq = at(6);
    let total: f64 = v.iter().take(8).sum();
    ((total - at(3) - at(4) - softirq) / 100.0, softirq / 100.0)
}

/// The simulator process and its files.
struct Sim {
    child: Child,
    inventory: PathBuf,
    /// host -> expected outcome, in host order.
    plan: Vec<(String, String)>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(sim_bin: &Path, dir: &Path, n: usize) -> anyhow::Result<Sim> {
    let host_key = dir.join("sim_host_key");
    let client_key = dir.join("sim_client_key");
    keygen(&host_key)?;
    keygen(&client_key)?;
    let inventory = dir.join("sim.toml");
    let mut child = Command::new(sim_bin)
        .arg(n.to_string())
        .arg(&host_key)
        .arg(&client_key)
        .arg(&inventory)
        .args(["--faults", "--addr", SIM_ADDR])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("start sim_hosts")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("sim stdout")?).read_line(&mut line)?;
    let mut sim = Sim {
        child,
        inventory,
        plan: Vec::new(),
    };
    if line.trim() != "ready" {
        bail!("sim_hosts did not start: {line:?}");
    }
    let plan = std::fs::read_to_string(dir.join("sim.toml.plan"))?;
    for l in plan.lines() {
        let (host, kind) = l.split_once(' ').context("plan line")?;
        sim.plan.push((host.to_owned(), kind.to_owned()));
    }
    if sim.plan.len() != n {
        bail!("plan has {} hosts, expected {n}", sim.plan.len());
    }
    Ok(sim)
}

/// user+sys CPU seconds of a running process (not of its children).
fn proc_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime is field 14, stime 15: indexes 11, 12 after "pid (comm) ".
    (get(11) + get(12)) / 100.0
}

/// `VmHWM` (peak resident set, kB) of a running process.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Expands a list folded by ssh-fanout (`sim[1,101-103],web01`).
fn expand_folded(text: &str) -> anyhow::Result<Vec<String>> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    let mut out = Vec::new();
    for item in items {
        expand_item(item.trim(), &mut out)?;
    }
    Ok(out)
}

fn expand_item(item: &str, out: &mut Vec<String>) -> anyhow::Result<()> {
    let Some(open) = item.find('[') else {
        out.push(item.to_owned());
        return Ok(());
    };
    let close = item[open..]
        .find(']')
        .map(|c| open + c)
        .with_context(|| format!("unclosed bracket in {item:?}"))?;
    let (prefix, ranges, rest) = (&item[..open], &item[open + 1..close], &item[close + 1..]);
    for range in ranges.split(',') {
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        let width = if lo.len() > 1 && lo.starts_with('0') {
            lo.len()
        } else {
            0
        };
        let (a, b): (u64, u64) = (lo.parse()?, hi.parse()?);
        for v in a..=b {
            expand_item(&format!("{prefix}{v:0width$}{rest}"), out)?;
        }
    }
    Ok(())
}

/// Checks one run's outputs against the plan; returns the problems found.
fn verify(
    plan: &[(String, String)],
    code: Option<i32>,
    stdout: &str,
    stderr: &str,
    failed_file: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    if code != Some(3) {
        problems.push(format!("exit code {code:?}, expected 3"));
    }
    let expected: HashMap<&str, &str> =
        plan.iter().map(|(h, k)| (h.as_str(), k.as_str())).collect();
    // host -> reported outcome, from the JSON result records.
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut results = 0usize;
    let mut bad_outcomes = Vec::new();
    for line in stdout.lines() {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("stdout line is not JSON ({e}): {line:.120}"));
                continue;
            }
        };
        if v["type"] != "result" {
            continue;
        }
        results += 1;
        let host = v["host"].as_str().unwrap_or_default().to_owned();
        let outcome = match v["status"].as_str() {
            Some("ok") => "ok".to_owned(),
            Some("failed") => match (v["exit_code"].as_i64(), v["signal"].as_str()) {
                (_, Some(sig)) => format!("signal {sig}"),
                (Some(c), None) => format!("exit {c}"),
                _ => "no exit status".to_owned(),
            },
            _ => v["error"]["kind"].as_str().unwrap_or("?").to_owned(),
        };
        match expected.get(host.as_str()) {
            None => problems.push(format!("result for a host not in the plan: {host:?}")),
            Some(want) if *want != outcome => bad_outcomes.push(format!(
                "{host}: {outcome} ({}), expected {want}",
                v["error"]["message"].as_str().unwrap_or("")
            )),
            Some(_) => {}
        }
        if seen.insert(host.clone(), outcome).is_some() {
            problems.push(format!("{host} reported twice"));
        }
    }
    if results != plan.len() {
        problems.push(format!("{results} result records, expected {}", plan.len()));
    }
    let lost: Vec<&str> = plan
        .iter()
        .map(|(h, _)| h.as_str())
        .filter(|h| !seen.contains_key(*h))
        .collect();
    if !lost.is_empty() {
        problems.push(format!(
            "{} hosts lost: {}",
            lost.len(),
            lost.iter().take(10).copied().collect::<Vec<_>>().join(" ")
        ));
    }
    if !bad_outcomes.is_empty() {
        problems.push(format!(
            "{} hosts with the wrong outcome: {}",
            bad_outcomes.len(),
            bad_outcomes
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }

    // The summary: counts, then one line per reason with the folded hosts.
    let mut by_reason: BTreeMap<String, HashSet<&str>> = BTreeMap::new();
    for (h, k) in plan {
        if k != "ok" {
            by_reason.entry(k.clone()).or_default().insert(h.as_str());
        }
    }
    let ok = plan.iter().filter(|(_, k)| k == "ok").count();
    let failed = plan.iter().filter(|(_, k)| k.starts_with("exit ")).count();
    let errors = plan.len() - ok - failed;
    let count_line = format!(
        "ssh-fanout: {} host{}: {ok} ok, {failed} failed, {errors} error{}",
        plan.len(),
        if plan.len() == 1 { "" } else { "s" },
        if errors == 1 { "" } else { "s" },
    );
    let mut lines = stderr.lines();
    match lines.next() {
        Some(l) if l == count_line => {}
        other => problems.push(format!("summary {other:?}, expected {count_line:?}")),
    }
    let mut reported: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for l in lines {
        let parsed = l
            .strip_prefix("ssh-fanout: ")
            .and_then(|r| {
                r.strip_prefix("failed (")
                    .or_else(|| r.strip_prefix("error ("))
            })
            .and_then(|r| r.split_once("): "));
        let Some((reason, folded)) = parsed else {
            problems.push(format!("unexpected stderr line: {l:.160}"));
            continue;
        };
        match expand_folded(folded) {
            Ok(hosts) => {
                let set = reported.entry(reason.to_owned()).or_default();
                for h in hosts {
                    if !set.insert(h.clone()) {
                        problems.push(format!("summary names {h} twice under {reason}"));
                    }
                }
            }
            Err(e) => problems.push(format!("summary line {l:.80}: {e}")),
        }
    }
    for (reason, want) in &by_reason {
        let got = reported.remove(reason).unwrap_or_default();
        let got: HashSet<&str> = got.iter().map(String::as_str).collect();
        if &got != want {
            problems.push(format!(
                "summary for {reason}: {} hosts, {} expected, {} missing, {} extra",
                got.len(),
                want.len(),
                want.difference(&got).count(),
                got.difference(want).count()
            ));
        }
    }
    for (reason, got) in reported {
        problems.push(format!(
            "summary has unplanned reason {reason} ({} hosts)",
            got.len()
        ));
    }

    // --failed-hosts: exactly the planned failing set, each once.
    let want: HashSet<&str> = by_reason.values().flatten().copied().collect();
    let listed: Vec<&str> = failed_file.lines().collect();
    let listed_set: HashSet<&str> = listed.iter().copied().collect();
    if listed.len() != listed_set.len() {
        problems.push("--failed-hosts lists a host twice".to_owned());
    }
    if listed_set != want {
        problems.push(format!(
            "--failed-hosts: {} hosts, {} expected, {} missing, {} extra",
            listed_set.len(),
            want.len(),
            want.difference(&listed_set).count(),
            listed_set.difference(&want).count()
        ));
    }
    problems
}

fn run_once(
    bin: &Path,
    sim: &Sim,
    dir: &Path,
    fanout: usize,
    timeout: &str,
) -> anyhow::Result<Run> {
    let out_path = dir.join("out.json");
    let err_path = dir.join("err.txt");
    let failed_path = dir.join("failed.txt");
    let _ = std::fs::remove_file(&failed_path);
    let mut cmd = Command::new(bin);
    cmd.args(["-F", "none", "-i"])
        .arg(&sim.inventory)
        .args(["-a", "-f", &fanout.to_string(), "-t", timeout])
        .args(["--host-key-policy", "strict", "--json", "--failed-hosts"])
        .arg(&failed_path)
        .arg("true")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?);
    let sim_pid = sim.child.id();
    let sim0 = proc_cpu(sim_pid);
    let busy0 = machine_busy();
    let cpu0 = children_cpu()?;
    let start = Instant::now();
    let mut child = cmd.spawn().context("spawn ssh-fanout")?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kb) = peak_rss_kb(pid) {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait()? {
            break st;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = start.elapsed().as_secs_f64();
    let cpu = children_cpu()? - cpu0;
    let sim_cpu = proc_cpu(sim_pid) - sim0;
    let busy1 = machine_busy();
    let other_cpu = (busy1.0 - busy0.0 - cpu - sim_cpu).max(0.0);
    let softirq = busy1.1 - busy0.1;
    let stdout = std::fs::read_to_string(&out_path)?;
    let stderr = std::fs::read_to_string(&err_path)?;
    let failed = std::fs::read_to_string(&failed_path).unwrap_or_default();
    let problems = verify(&sim.plan, status.code(), &stdout, &stderr, &failed);
    if !problems.is_empty() {
        bail!(
            "-f {fanout}: the run is not exact:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(Run {
        wall,
        cpu,
        rss_kb: peak,
        sim_cpu,
        other_cpu,
        softirq,
    })
}

pub fn run(args: &[String], bin: &Path, sim_bin: &Path) -> anyhow::Result<()> {
    let n: usize = arg(args, "--scale").unwrap_or("10000").parse()?;
    if n == 0 || !n.is_multiple_of(100) {
        bail!("--scale must be a positive multiple of 100 (1% of the hosts per failure)");
    }
    let runs: usize = arg(args, "--runs").unwrap_or("3").parse()?;
    let fanouts: Vec<usize> = arg(args, "--fanout")
        .unwrap_or("256,1024")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let timeout = arg(args, "--connect-timeout").unwrap_or("5s");
    let dir = tempfile::tempdir()?;
    let sim = start_sim(sim_bin, dir.path(), n)?;
    let first = fanouts.first().copied().unwrap_or(256);
    run_once(bin, &sim, dir.path(), first, timeout).context("warm-up run")?;
    println!("warm-up run at -f {first}: exact");
    let mut table = format!(
        "\n{n} simulated russh hosts (one process, one port each), 1% each refused, \
         timeout, auth, changed key, exit 1, disconnect; `ssh-fanout -F none -i INV -a -f F \
         -t {timeout} --host-key-policy strict --json --failed-hosts FILE true`, medians of \
         {runs} (range):\n\n\
         | fanout | wall s | client CPU s | client CPU ms/host | peak RSS MiB | simulator CPU s | softirq s | other CPU s | exact |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    let mut misses = Vec::new();
    for &f in &fanouts {
        let mut samples = Vec::new();
        for r in 0..runs {
            let s = run_once(bin, &sim, dir.path(), f, timeout)?;
            println!(
                "-f {f} run {}: wall {:.2}s, client cpu {:.2}s ({:.3} ms/host), peak rss {:.1} MiB, sim cpu {:.2}s, softirq {:.2}s, others {:.2}s: exact",
                r + 1,
                s.wall,
                s.cpu,
                s.cpu * 1000.0 / n as f64,
                s.rss_kb as f64 / 1024.0,
                s.sim_cpu,
                s.softirq,
                s.other_cpu
            );
            samples.push(s);
        }
        let col = |get: &dyn Fn(&Run) -> f64| {
            let v: Vec<f64> = samples.iter().map(get).collect();
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(0.0, f64::max);
            (median(&v), lo, hi)
        };
        let wall = col(&|s| s.wall);
        let cpu = col(&|s| s.cpu * 1000.0 / n as f64);
        let cpu_s = col(&|s| s.cpu);
        let rss = col(&|s| s.rss_kb as f64 / 1024.0);
        let sim_cpu = col(&|s| s.sim_cpu);
        let other = col(&|s| s.other_cpu);
        let softirq = col(&|s| s.softirq);
        table.push_str(&format!(
            "| {f} | {:.2} ({:.2}–{:.2}) | {:.2} | {:.3} ({:.3}–{:.3}) | {:.0} ({:.0}–{:.0}) | {:.2} | {:.2} | {:.2} | {runs}/{runs} |\n",
            wall.0,
            wall.1,
            wall.2,
            cpu_s.0,
            cpu.0,
            cpu.1,
            cpu.2,
            rss.0,
            rss.1,
            rss.2,
            sim_cpu.0,
            softirq.0,
            other.0
        ));
        if cpu.0 > CPU_MS_PER_HOST_GOAL {
            misses.push(format!(
                "-f {f}: client CPU {:.3} ms/host > {CPU_MS_PER_HOST_GOAL}",
                cpu.0
            ));
        }
        if rss.0 > RSS_MIB_GOAL {
            misses.push(format!(
                "-f {f}: peak RSS {:.0} MiB > {RSS_MIB_GOAL}",
                rss.0
            ));
        }
    }
    println!("{table}");
    if misses.is_empty() {
        println!(
            "goals met: client CPU <= {CPU_MS_PER_HOST_GOAL} ms/host, peak RSS <= {RSS_MIB_GOAL} MiB"
        );
    } else {
        println!("goals missed:\n  {}", misses.join("\n  "));
    }
    std::io::stdout().flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_lists_expand() {
        assert_eq!(
            expand_folded("sim[1,101-103],login,web[01-02]x").unwrap(),
            [
                "sim1", "sim101", "sim102", "sim103", "login", "web01x", "web02x"
            ]
        );
    }

    #[test]
    fn verify_finds_lost_twice_and_wrong() {
        let plan: Vec<(String, String)> = vec![
            ("a".into(), "ok".into()),
            ("b".into(), "auth".into()),
            ("c".into(), "exit 1".into()),
        ];
        let good = concat!(
            r#"{"type":"result","host":"a","status":"ok","exit_code":0,"signal":null,"error":null}"#,
            "\n",
            r#"{"type":"result","host":"b","status":"error","exit_code":null,"signal":null,"error":{"kind":"auth","message":"x"}}"#,
            "\n",
            r#"{"type":"result","host":"c","status":"failed","exit_code":1,"signal":null,"error":null}"#,
            "\n"
        );
        let summary = "ssh-fanout: 3 hosts: 1 ok, 1 failed, 1 error\n\
                       ssh-fanout: failed (exit 1): c\nssh-fanout: error (auth): b\n";
        assert!(verify(&plan, Some(3), good, summary, "b\nc\n").is_empty());
        let twice = good.replacen("\"host\":\"c\"", "\"host\":\"a\"", 1);
        let p = verify(&plan, Some(1), &twice, summary, "b\n");
        assert!(p.iter().any(|m| m.contains("a reported twice")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("1 hosts lost: c")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("exit code")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("--failed-hosts")), "{p:?}");
    }
}
