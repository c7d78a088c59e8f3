//! ssh-fanout integration tests: the built binary against in-process russh
//! servers (fault injection) and real OpenSSH sshd processes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod copy;
mod copy_lies;
mod host_keys;
mod identities;
mod util;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use util::*;

struct Fixture {
    dir: tempfile::TempDir,
    client_key: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let client_key = dir.path().join("client_key");
    keygen(&client_key);
    Fixture { dir, client_key }
}

impl Fixture {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn client_public(&self) -> russh::keys::PublicKey {
        russh::keys::load_public_key(self.client_key.with_extension("pub")).unwrap()
    }

    async fn host(&self, key_name: &str) -> FakeHost {
        let cfg = FakeConfig {
            accept_key: Some(self.client_public()),
            ..Default::default()
        };
        fake_host(host_key(self.path(), key_name), cfg).await
    }

    fn inventory(&self, hosts: &[(&str, &FakeHost)]) -> String {
        let list: Vec<(String, std::net::SocketAddr)> =
            hosts.iter().map(|(n, h)| (n.to_string(), h.addr)).collect();
        fake_inventory(self.path(), &list, Some(&self.client_key), None)
            .display()
            .to_string()
    }
}

// ---------------------------------------------------------------------------
// In-process russh servers.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_contract_for_ok_failed_signal_and_env() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("a", &h)]);
    let (code, out, err) = run_async(
        &[
            "-i",
            &inv,
            "-w",
            "a",
            "--json",
            "-e",
            "GREETING=it's ok",
            "-c",
            "env",
            "-c",
            "echo hi",
            "-c",
            "exit 4",
            "-c",
            "signal",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(
        code, 1,
        "a non-zero exit and a signal give exit 1; stderr: {err}"
    );
    let recs = json_lines(&out);
    let lines: Vec<&str> = recs
        .iter()
        .filter(|r| r["type"] == "output")
        .map(|r| r["line"].as_str().unwrap())
        .collect();
    // env requests reach a server that accepts them, in addition to the
    // export prefix (which the fake server strips).
    assert!(lines.contains(&"GREETING=it's ok"), "{lines:?}");
    assert!(lines.contains(&"NETKIT_HOST=a"), "{lines:?}");
    assert!(lines.contains(&"NETKIT_NODENUM=0"), "{lines:?}");
    assert!(lines.contains(&"NETKIT_NUMNODES=1"), "{lines:?}");
    assert!(lines.contains(&"hi"));
    let r = result_of(&recs, "a");
    assert_eq!(r["status"], "failed");
    assert_eq!(
        r["exit_code"], 4,
        "the first failing command is reported: {r}"
    );
    assert!(r["error"].is_null());
    assert!(r["elapsed_ms"].as_u64().is_some());

    let (code, out, _) = run_async(
        &["-i", &inv, "-w", "a", "--json", "-c", "signal"],
        &[],
        None,
    )
    .await;
    assert_eq!(code, 1);
    let recs = json_lines(&out);
    let r = result_of(&recs, "a");
    assert_eq!(r["signal"], "KILL");
    assert!(r["exit_code"].is_null());
    assert_eq!(r["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_and_wrong_password_are_auth_errors() {
    let fx = fixture();
    let other = fx.path().join("other_key");
    keygen(&other);
    let cfg = FakeConfig {
        password: Some("right".into()),
        accept_key: Some(russh::keys::load_public_key(other.with_extension("pub")).unwrap()),
        ..Default::default()
    };
    let h = fake_host(host_key(fx.path(), "hk"), cfg).await;
    let inv = fake_inventory(
        fx.path(),
        &[("a".into(), h.addr)],
        Some(&fx.client_key),
        Some("FANOUT_TEST_PW"),
    );
    let inv = inv.to_str().unwrap();
    let (code, out, _) = run_async(
        &["-i", inv, "-w", "a", "--json", "true"],
        &[("FANOUT_TEST_PW", "wrong")],
        None,
    )
    .await;
    assert_eq!(code, 3);
    let recs = json_lines(&out);
    let r = result_of(&recs, "a");
    assert_eq!(r["status"], "error");
    assert_eq!(r["error"]["kind"], "auth");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("password"),
        "{r}"
    );

    // The right password (from the environment, never argv) gets in after
    // the key is refused.
    let (code, _, err) = run_async(
        &["-i", inv, "-w", "a", "true"],
        &[("FANOUT_TEST_PW", "right")],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_a_hard_failure() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("a", &h)]);
    let impostor = host_key(fx.path(), "old_key");
    std::fs::write(
        fx.path().join("known_hosts"),
        known_hosts_line(h.addr, &impostor),
    )
    .unwrap();
    let (code, out, err) =
        run_async(&["-i", &inv, "-w", "a", "--json", "echo never"], &[], None).await;
    assert_eq!(code, 3, "{err}");
    let recs = json_lines(&out);
    assert!(
        !recs.iter().any(|r| r["type"] == "output"),
        "no command ran"
    );
    let r = result_of(&recs, "a");
    assert_eq!(r["error"]["kind"], "host_key_changed");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{msg}"
    );
    assert!(msg.contains("man-in-the-middle"), "{msg}");
    // Even accept-new and strict both refuse; the file is left alone.
    let kh = std::fs::read_to_string(fx.path().join("known_hosts")).unwrap();
    assert_eq!(kh.lines().count(), 1);
}

/// Issue 11: a server offering only an ECDSA key, for a host recorded with
/// an ed25519 key, is changed (as `ssh` says), not new, under the default
/// accept-new; nothing is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_an_unrecorded_type_is_changed_not_new() {
    let fx = fixture();
    let ecdsa = fx.path().join("hk_ecdsa");
    keygen_typed(&ecdsa, "ecdsa", "");
    let cfg = FakeConfig {
        accept_key: Some(fx.client_public()),
        ..Default::default()
    };
    let h = fake_host(russh::keys::load_secret_key(&ecdsa, None).unwrap(), cfg).await;
    let inv = fx.inventory(&[("a", &h)]);
    let recorded = known_hosts_line(h.addr, &host_key(fx.path(), "ed25519_key"));
    std::fs::write(fx.path().join("known_hosts"), &recorded).unwrap();
    let (code, out, err) = run_async(&["-i", &inv, "-w", "a", "--json", "true"], &[], None).await;
    assert_eq!(code, 3, "{err}");
    let r = result_of(&json_lines(&out), "a").clone();
    assert_eq!(r["error"]["kind"], "host_key_changed", "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("server sent ecdsa-sha2-nistp256 key"), "{msg}");
    let at = format!(
        "offending ED25519 key in {}:1",
        fx.path().join("known_hosts").display()
    );
    assert!(msg.contains(&at), "{msg}");
    assert_eq!(
        std::fs::read_to_string(fx.path().join("known_hosts")).unwrap(),
        recorded
    );
}

/// A known_hosts file that cannot be read fails the host with its own kind,
/// not `handshake`, and names the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_known_hosts_is_a_known_hosts_error() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("a", &h)]);
    std::fs::create_dir(fx.path().join("known_hosts")).unwrap();
    let (code, out, err) = run_async(&["-i", &inv, "-w", "a", "--json", "true"], &[], None).await;
    assert_eq!(code, 3, "{err}");
    let r = result_of(&json_lines(&out), "a").clone();
    assert_eq!(r["error"]["kind"], "known_hosts", "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&fx.path().join("known_hosts").display().to_string()),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tarpit_hits_the_connect_timeout_and_refused_port_is_typed() {
    let fx = fixture();
    let (tarpit_addr, _t) = tarpit().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let inv = fake_inventory(
        fx.path(),
        &[("pit".into(), tarpit_addr), ("closed".into(), closed)],
        Some(&fx.client_key),
        None,
    );
    let started = Instant::now();
    let (code, out, _) = run_async(
        &[
            "-i",
            inv.to_str().unwrap(),
            "-a",
            "--json",
            "-t",
            "300ms",
            "--retries",
            "1",
            "true",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code, 3);
    // Two attempts of 300 ms each (one retry, connect phase only).
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert!(started.elapsed() < Duration::from_secs(10));
    let recs = json_lines(&out);
    assert_eq!(result_of(&recs, "pit")["error"]["kind"], "connect_timeout");
    assert_eq!(
        result_of(&recs, "closed")["error"]["kind"],
        "connect_refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_output_streams_line_by_line_with_prefix() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("s", &h)]);
    let (code, out, _) = run_async(&["-i", &inv, "-w", "s", "slow 5"], &[], None).await;
    assert_eq!(code, 0);
    let want: Vec<String> = (0..5).map(|i| format!("s: tick {i}")).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    let (_, out, _) = run_async(&["-i", &inv, "-w", "s", "-N", "slow 2"], &[], None).await;
    assert_eq!(out, "tick 0\ntick 1\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_mid_command_keeps_partial_output() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("d", &h)]);
    let (code, out, _) = run_async(&["-i", &inv, "-w", "d", "--json", "drop"], &[], None).await;
    assert_eq!(code, 3);
    let recs = json_lines(&out);
    assert!(
        recs.iter()
            .any(|r| r["line"] == "partial line before the drop")
    );
    assert_eq!(result_of(&recs, "d")["error"]["kind"], "disconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_command_is_signalled_at_the_command_timeout() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("hung", &h)]);
    let before = HANG_SIGNALLED.load(Ordering::SeqCst);
    let started = Instant::now();
    let (code, out, _) = run_async(
        &["-i", &inv, "-w", "hung", "--json", "-u", "300ms", "hang"],
        &[],
        None,
    )
    .await;
    assert_eq!(code, 3);
    assert!(started.elapsed() < Duration::from_secs(10));
    let recs = json_lines(&out);
    assert_eq!(result_of(&recs, "hung")["error"]["kind"], "command_timeout");
    // The server saw the TERM signal request before the channel closed.
    let deadline = Instant::now() + Duration::from_secs(2);
    while HANG_SIGNALLED.load(Ordering::SeqCst) == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(HANG_SIGNALLED.load(Ordering::SeqCst) > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_and_parallel_commands_share_one_connection() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("c", &h)]);
    let (code, out, _) = run_async(
        &["-i", &inv, "-w", "c", "--stdin", "cat"],
        &[],
        Some(b"line one\nline two\n"),
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(out, "c: line one\nc: line two\n");
    let (code, out, _) = run_async(
        &[
            "-i",
            &inv,
            "-w",
            "c",
            "--parallel-commands",
            "-c",
            "slow 3",
            "-c",
            "echo quick",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code, 0);
    // Concurrent channels: the quick command finishes before the slow one.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let quick = lines.iter().position(|l| *l == "c: quick").unwrap();
    let last_tick = lines.iter().position(|l| *l == "c: tick 2").unwrap();
    assert!(quick < last_tick, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabytes_stream_through_in_bounded_memory() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("big", &h)]);
    const TOTAL: usize = 100 * 1024 * 1024;
    let mut child = tokio::process::Command::new(bin())
        .args(["-i", &inv, "-w", "big", &format!("big {TOTAL}")])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let counter = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        let (mut bytes, mut newlines) = (0usize, 0usize);
        loop {
            let n = stdout.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            bytes += n;
            newlines += buf[..n].iter().filter(|b| **b == b'\n').count();
        }
        (bytes, newlines)
    });
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            for l in status.lines() {
                if let Some(v) = l.strip_prefix("VmHWM:") {
                    let kb: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak_kb = peak_kb.max(kb);
                }
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(status.success());
    let (bytes, lines) = counter.await.unwrap();
    let expected_lines = TOTAL / 64;
    assert_eq!(lines, expected_lines);
    assert_eq!(bytes, TOTAL + expected_lines * "big: ".len());
    assert!(peak_kb > 0, "could not sample memory");
    assert!(
        peak_kb < 64 * 1024,
        "peak RSS {peak_kb} kB for 100 MB of output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_simulated_hosts() {
    let fx = fixture();
    let key = host_key(fx.path(), "shared_host_key");
    let cfg = FakeConfig {
        any_key: true,
        ..Default::default()
    };
    let mut hosts = Vec::new();
    for _ in 0..500 {
        hosts.push(fake_host(key.clone(), cfg.clone()).await);
    }
    let list = sim_names(&hosts);
    let inv = fake_inventory(fx.path(), &list, Some(&fx.client_key), None);
    let (code, out, err) = run_async(
        &[
            "-i",
            inv.to_str().unwrap(),
            "-a",
            "-f",
            "128",
            "--json",
            "true",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let recs = json_lines(&out);
    let ok = recs
        .iter()
        .filter(|r| r["type"] == "result" && r["status"] == "ok")
        .count();
    assert_eq!(ok, 500);
    // accept-new recorded every host exactly once, under concurrency.
    let kh = std::fs::read_to_string(fx.path().join("known_hosts")).unwrap();
    assert_eq!(kh.lines().count(), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_contact_records_each_host_once_then_strict_accepts_them() {
    use russh::keys::PrivateKey;
    use russh::keys::ssh_key::private::Ed25519Keypair;
    let fx = fixture();
    let cfg = FakeConfig {
        any_key: true,
        ..Default::default()
    };
    let mut hosts = Vec::new();
    for i in 0..200u32 {
        // A host key of its own per host, derived in-process (fast).
        let mut seed = [0x5a; 32];
        seed[..4].copy_from_slice(&i.to_be_bytes());
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        hosts.push(fake_host(key, cfg.clone()).await);
    }
    let list = sim_names(&hosts);
    let inv = fake_inventory(fx.path(), &list, Some(&fx.client_key), None);
    let inv = inv.to_str().unwrap();
    let args = |policy| {
        [
            "-i",
            inv,
            "-a",
            "-f",
            "64",
            "--json",
            "--host-key-policy",
            policy,
            "true",
        ]
    };
    let ok_count = |out: &str| {
        json_lines(out)
            .iter()
            .filter(|r| r["type"] == "result" && r["status"] == "ok")
            .count()
    };

    let (code, out, err) = run_async(&args("accept-new"), &[], None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(ok_count(&out), 200);
    let kh_path = fx.path().join("known_hosts");
    let recorded = std::fs::read_to_string(&kh_path).unwrap();
    assert_eq!(recorded.lines().count(), 200, "{recorded}");
    for h in &hosts {
        let line = known_hosts_line(h.addr, &h.host_key);
        let n = recorded.lines().filter(|l| *l == line.trim_end()).count();
        assert_eq!(n, 1, "{line} recorded {n} times");
    }

    let (code, out, err) = run_async(&args("strict"), &[], None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(ok_count(&out), 200);
    assert_eq!(std::fs::read_to_string(&kh_path).unwrap(), recorded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_with_the_culprit() {
    let fx = fixture();
    let bad = fx.path().join("bad.toml");
    std::fs::write(&bad, "[hosts.a]\nport = \"twenty-two\"\n").unwrap();
    let (code, _, err) = run_async(&["-i", bad.to_str().unwrap(), "-a", "true"], &[], None).await;
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml") && err.contains("port"), "{err}");
    let (code, _, err) = run_async(&["-w", "h1.invalid"], &[], None).await;
    assert_eq!(code, 2);
    assert!(err.contains("no command"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_bad_line_gives_a_short_error_with_line_and_column() {
    let fx = fixture();
    let bad = fx.path().join("huge.toml");
    let line = format!("lab = [\"{}\" oops]", "h".repeat(10 << 20));
    std::fs::write(&bad, format!("[groups]\n{line}\n")).unwrap();
    let (code, out, err) = run_async(&["-i", bad.to_str().unwrap(), "-a", "true"], &[], None).await;
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.len() < 4096, "{} bytes of stderr", err.len());
    assert!(
        err.contains(&format!("{}: line 2, column 10485771: ", bad.display())),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_under_invalid_fail_with_dns_and_no_lookup() {
    // 300 hosts and a 60 s connect timeout: a resolver call would either
    // answer (no "RFC 6761" in the message) or hang; the message below is
    // only given without one.
    let (code, out, err) = run_async(
        &[
            "-w",
            "h[1-299].invalid,LAB.Invalid.",
            "-t",
            "60",
            "--json",
            "true",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code, 3, "{err}");
    let recs = json_lines(&out);
    let results: Vec<_> = recs.iter().filter(|r| r["type"] == "result").collect();
    assert_eq!(results.len(), 300);
    for r in results {
        assert_eq!(r["error"]["kind"], "dns", "{r}");
        let message = r["error"]["message"].as_str().unwrap();
        assert!(message.contains("never resolve (RFC 6761)"), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_beyond_the_descriptor_limit_is_lowered_and_no_host_fails() {
    let fx = fixture();
    let cfg = FakeConfig {
        any_key: true,
        ..Default::default()
    };
    let host = fake_host(host_key(fx.path(), "hk"), cfg).await;
    // 200 inventory names, all at this one loopback server.
    let inv = fx.path().join("many.toml");
    std::fs::write(
        &inv,
        format!(
            "[defaults]\nuser = \"tester\"\nidentity = \"{}\"\nknown_hosts = \"{}\"\n\n\
             [hosts.\"n[1-200]\"]\naddress = \"127.0.0.1\"\nport = {}\n",
            fx.client_key.display(),
            fx.path().join("known_hosts").display(),
            host.addr.port()
        ),
    )
    .unwrap();
    // A limit of 64 descriptors (soft and hard) and --fanout 512: without
    // the budget, most sockets could not be created (EMFILE, reported as
    // `local_resource`); with it, the fanout is lowered and every host runs.
    let child = tokio::process::Command::new("sh")
        .args(["-c", "ulimit -n 64; exec \"$0\" \"$@\"", bin()])
        .args(["-i", inv.to_str().unwrap(), "-a", "-f", "512", "-t", "30"])
        .args(["--json", "true"])
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), child)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let recs = json_lines(&stdout);
    let results: Vec<_> = recs.iter().filter(|r| r["type"] == "result").collect();
    assert_eq!(results.len(), 200, "{stderr}");
    assert!(results.iter().all(|r| r["status"] == "ok"), "{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.starts_with("ssh-fanout: warning: --fanout 200 needs 200 file descriptors"),
        "{stderr}"
    );
    assert!(stderr.contains("soft 64 / hard 64"), "{stderr}");
    assert!(!stderr.contains("Too many open files"), "{stderr}");
}

// ---------------------------------------------------------------------------
// Host selection caps (issue 12). Every case fails or ends before any
// connection: names are under `.invalid`, and legal selections are emptied
// with `-x '*'` (exit 2, "no hosts selected") once they have been built.

/// Runs the binary without an inventory or ssh config of the machine.
fn select(args: &[&str]) -> (i32, String) {
    let mut v = vec!["-F", "none"];
    v.extend_from_slice(args);
    let (code, _, err) = run_bin(&v, None);
    (code, err)
}

#[test]
fn host_cap_is_on_the_whole_selection_across_every_w() {
    let (code, err) = select(&[
        "-w",
        "a[1-333334].invalid",
        "-w",
        "b[1-333334].invalid",
        "-w",
        "c[1-333333].invalid",
        "true",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "-w 'c[1-333333].invalid': `c[1-333333].invalid` would bring the selection to \
             1,000,001 hosts (666,668 before it), more than the 1,000,000"
        ),
        "{err}"
    );
    // One item of one -w: the second item is blamed, not the first.
    let (code, err) = select(&["-w", "a[1-500000].invalid b[1-500001].invalid", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "`b[1-500001].invalid` would bring the selection to 1,000,001 hosts \
             (500,000 before it)"
        ),
        "{err}"
    );
}

#[test]
fn host_cap_counts_groups_and_inventory_keys() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("hosts.toml");
    std::fs::write(
        &inv,
        "[hosts.\"n[1-400000]\"]\naddress = \"127.0.0.1\"\n\
         [groups]\nbig = [\"g[1-600000].invalid\"]\n",
    )
    .unwrap();
    let inv = inv.to_str().unwrap();
    let (code, err) = select(&["-i", inv, "-w", "w[1-400001].invalid", "-g", "big", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("-g 'big': ")
            && err.contains(
                "hosts.toml: groups.big[0]: `g[1-600000].invalid` would bring the \
                 selection to 1,000,001 hosts (400,001 before it)"
            ),
        "{err}"
    );
    // 600,000 + 400,000 is legal (emptied by -x so nothing runs); one more
    // -w host first, and -a is the one that crosses.
    let (code, err) = select(&["-i", inv, "-g", "big", "-a", "-x", "*", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no hosts selected"), "{err}");
    let (code, err) = select(&["-i", inv, "-w", "x.invalid", "-g", "big", "-a", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "-a: `the inventory's hosts` would bring the selection to 1,000,001 hosts \
             (600,001 before it)"
        ),
        "{err}"
    );
    // The inventory's own keys share one cap, counted before expanding.
    let over = dir.path().join("over.toml");
    std::fs::write(
        &over,
        "[hosts.\"n[1-600000]\"]\naddress = \"127.0.0.1\"\n\
         [hosts.\"m[1-400001]\"]\naddress = \"127.0.0.1\"\n",
    )
    .unwrap();
    let (code, err) = select(&["-i", over.to_str().unwrap(), "-a", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("hosts.\"m[1-400001]\"") && err.contains("1000001 hosts"),
        "{err}"
    );
}

#[test]
fn duplicates_from_host_files_do_not_fail_a_legal_selection() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("part.txt");
    std::fs::write(&part, "h[1-700000].invalid\n").unwrap();
    let all = dir.path().join("all.txt");
    std::fs::write(
        &all,
        format!("^{0}\n^{0}\nh[300001-1000000].invalid\n", part.display()),
    )
    .unwrap();
    let w = format!("^{}", all.display());
    // 2,100,000 as written, 1,000,000 distinct: legal. `-x '*'` then
    // empties it, so nothing is run.
    let (code, err) = select(&["-w", &w, "-x", "*", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no hosts selected"), "{err}");
    let (code, err) = select(&["-w", &w, "-w", "one.more.invalid", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "-w 'one.more.invalid': `one.more.invalid` would bring the selection to \
             1,000,001 hosts (1,000,000 before it)"
        ),
        "{err}"
    );
}

#[test]
fn host_file_reads_are_bounded_and_errors_quote_excerpts() {
    let (code, err) = select(&["-w", "^/dev/zero", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("-w '^/dev/zero': /dev/zero:1: line longer than 64 KiB"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts.txt");
    let line = format!("ok.invalid,h{}[1-", "x".repeat(60_000));
    std::fs::write(&file, format!("a.invalid\n{line}\n")).unwrap();
    let w = format!("^{}", file.display());
    let (code, err) = select(&["-w", &w, "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("hosts.txt:2: unclosed bracket"), "{err}");
    assert!(err.contains("(60015 bytes in all)"), "{err}");
    assert!(err.len() < 600, "{} bytes of stderr", err.len());
    let long_w = format!("h{}[1-", "y".repeat(100_000));
    let (code, err) = select(&["-w", &long_w, "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.len() < 800, "{} bytes of stderr", err.len());
}

// ---------------------------------------------------------------------------
// Real OpenSSH sshd.

fn lab_args<'a>(inv: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-i", inv];
    v.extend_from_slice(extra);
    v
}

#[test]
fn sshd_exit_codes_env_and_unreachable_hosts() {
    let lab = SshdLab::start(3);
    let inv = lab.inventory(false);
    let inv = inv.to_str().unwrap();
    let (code, out, err) = run_bin(
        &lab_args(
            inv,
            &[
                "-a",
                "echo $NETKIT_HOST $NETKIT_NODENUM $NETKIT_NUMNODES $X",
            ],
        ),
        None,
    );
    let _ = &err;
    assert_eq!(code, 0, "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    // The export prefix makes -e and NETKIT_* work on a stock sshd, which
    // drops env requests not in AcceptEnv.
    assert_eq!(
        lines,
        ["host0: host0 0 3", "host1: host1 1 3", "host2: host2 2 3"]
    );
    let (code, out, _) = run_bin(
        &lab_args(
            inv,
            &[
                "-a",
                "-e",
                "X=a b'c",
                "-N",
                "-w",
                "host0",
                "-x",
                "host[1-2]",
                "printf '%s\\n' \"$X\"",
            ],
        ),
        None,
    );
    assert_eq!(code, 0);
    assert!(out.contains("a b'c"), "{out}");
    let (code, _, _) = run_bin(
        &lab_args(inv, &["-a", "exit $((NETKIT_NODENUM % 2))"]),
        None,
    );
    assert_eq!(code, 1);
    // One unreachable host makes it 3, even with a failing command.
    let closed = free_port().to_string();
    let fh = lab.dir.path().join("failed.txt");
    let (code, _, err) = run_bin(
        &lab_args(
            inv,
            &[
                "-a",
                "-w",
                &format!("127.0.0.1:{closed}"),
                "--failed-hosts",
                fh.to_str().unwrap(),
                "exit 1",
            ],
        ),
        None,
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("connect_refused"), "{err}");
    let failed = std::fs::read_to_string(&fh).unwrap();
    assert_eq!(failed.lines().count(), 4, "{failed}");
}

#[test]
fn sshd_stdin_and_gather() {
    let lab = SshdLab::start(4);
    let inv = lab.inventory(false);
    let inv = inv.to_str().unwrap();
    let (code, out, _) = run_bin(
        &lab_args(inv, &["-a", "--stdin", "tr a-z A-Z"]),
        Some("hello\n"),
    );
    assert_eq!(code, 0);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "host0: HELLO",
            "host1: HELLO",
            "host2: HELLO",
            "host3: HELLO"
        ]
    );
    let (code, out, _) = run_bin(
        &lab_args(
            inv,
            &[
                "-a",
                "-b",
                "echo same; [ $NETKIT_NODENUM = 2 ] && echo odd; true",
            ],
        ),
        None,
    );
    assert_eq!(code, 0);
    assert!(out.contains("host[0-1,3]"), "{out}");
    assert!(out.contains("host2"), "{out}");
    assert_eq!(
        out.matches("same").count(),
        2,
        "one block per distinct output: {out}"
    );
}

#[test]
fn sshd_json_contract() {
    let lab = SshdLab::start(2);
    let inv = lab.inventory(false);
    let (code, out, _) = run_bin(
        &lab_args(
            inv.to_str().unwrap(),
            &[
                "-a",
                "--json",
                "echo out; echo err >&2; exit $NETKIT_NODENUM",
            ],
        ),
        None,
    );
    assert_eq!(code, 1);
    let recs = json_lines(&out);
    for r in &recs {
        match r["type"].as_str().unwrap() {
            "output" => {
                let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
                assert_eq!(keys.len(), 4, "{r}");
                assert!(r["host"].is_string() && r["line"].is_string());
                assert!(r["stream"] == "stdout" || r["stream"] == "stderr");
            }
            "result" => {
                for k in [
                    "host",
                    "status",
                    "exit_code",
                    "signal",
                    "error",
                    "elapsed_ms",
                ] {
                    assert!(r.get(k).is_some(), "{k} missing in {r}");
                }
            }
            other => panic!("unknown record type {other}"),
        }
    }
    let r0 = result_of(&recs, "host0");
    assert_eq!(
        (r0["status"].as_str(), r0["exit_code"].as_u64()),
        (Some("ok"), Some(0))
    );
    let r1 = result_of(&recs, "host1");
    assert_eq!(
        (r1["status"].as_str(), r1["exit_code"].as_u64()),
        (Some("failed"), Some(1))
    );
    assert!(
        recs.iter()
            .any(|r| r["host"] == "host1" && r["stream"] == "stderr" && r["line"] == "err")
    );
    // Output records of a host come before its result.
    let pos_out = recs
        .iter()
        .position(|r| r["host"] == "host1" && r["line"] == "out")
        .unwrap();
    let pos_res = recs
        .iter()
        .position(|r| r["host"] == "host1" && r["type"] == "result")
        .unwrap();
    assert!(pos_out < pos_res);
}

#[test]
fn sshd_known_hosts_accept_new_then_strict_then_changed_key() {
    let mut lab = SshdLab::start(3);
    let inv = lab.inventory(false);
    let inv = inv.to_str().unwrap().to_owned();
    let strict = |extra: &[&str]| {
        let mut a = vec![
            "-i",
            inv.as_str(),
            "-a",
            "--json",
            "--host-key-policy",
            "strict",
        ];
        a.extend_from_slice(extra);
        run_bin(&a, None)
    };
    let (code, out, _) = strict(&["true"]);
    assert_eq!(code, 3);
    let recs = json_lines(&out);
    assert_eq!(
        result_of(&recs, "host0")["error"]["kind"],
        "host_key_unknown"
    );
    assert!(
        !lab.known_hosts.exists()
            || std::fs::read_to_string(&lab.known_hosts)
                .unwrap()
                .is_empty()
    );

    let (code, _, err) = run_bin(&["-i", &inv, "-a", "true"], None);
    assert_eq!(code, 0, "{err}");
    let kh = std::fs::read_to_string(&lab.known_hosts).unwrap();
    assert_eq!(kh.lines().count(), 3);
    assert!(kh.lines().all(|l| l.starts_with("[127.0.0.1]:")), "{kh}");

    let (code, _, err) = strict(&["true"]);
    assert_eq!(code, 0, "{err}");

    lab.rekey(1);
    let (code, out, _) = run_bin(&["-i", &inv, "-a", "--json", "true"], None);
    assert_eq!(code, 3);
    let recs = json_lines(&out);
    assert_eq!(
        result_of(&recs, "host1")["error"]["kind"],
        "host_key_changed"
    );
    assert_eq!(result_of(&recs, "host0")["status"], "ok");
    assert_eq!(result_of(&recs, "host2")["status"], "ok");
    // The changed key was not recorded.
    assert_eq!(std::fs::read_to_string(&lab.known_hosts).unwrap(), kh);
}

#[test]
fn sshd_proxy_jump_through_one_host() {
    let mut lab = SshdLab::start(3);
    let inv = lab.inventory(true);
    let inv = inv.to_str().unwrap().to_owned();
    let (code, out, err) = run_bin(
        &["-i", &inv, "-w", "host[1-2]", "echo via $NETKIT_HOST"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["host1: via host1", "host2: via host2"]);
    // Stop the jump host: the targets are now unreachable, which proves
    // the traffic went through it.
    drop(lab.hosts.remove(0));
    let (code, out, _) = run_bin(&["-i", &inv, "-w", "host[1-2]", "--json", "true"], None);
    assert_eq!(code, 3);
    let recs = json_lines(&out);
    assert_eq!(
        result_of(&recs, "host1")["error"]["kind"],
        "connect_refused"
    );
    assert_eq!(
        result_of(&recs, "host2")["error"]["kind"],
        "connect_refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_starting_hosts_then_a_second_one_aborts() {
    let fx = fixture();
    let hosts = [
        fx.host("hk").await,
        fx.host("hk").await,
        fx.host("hk").await,
    ];
    let inv = fx.inventory(&[("c0", &hosts[0]), ("c1", &hosts[1]), ("c2", &hosts[2])]);
    let sigint = |pid: u32| send_signal(pid, "-INT");
    let spawn = |cmd: &str| {
        tokio::process::Command::new(bin())
            .args(["-i", &inv, "-a", "-f", "1", "--json", cmd])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    // First press: the running host finishes within the grace, the others
    // are never started.
    let child = spawn("slow 20");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sigint(child.id().unwrap()));
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "128 + SIGINT: {stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("c0"),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 3 hosts were not started"), "{stderr}");
    let recs = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        result_of(&recs, "c0")["status"],
        "ok",
        "finished within the grace"
    );
    assert_eq!(recs.iter().filter(|r| r["type"] == "result").count(), 1);

    // SIGTERM (a container runtime's stop) is handled the same way: 143.
    let child = spawn("slow 20");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(143),
        "128 + SIGTERM: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(result_of(&recs, "c0")["status"], "ok");

    // Second press: abort now.
    let child = spawn("hang");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().unwrap();
    assert!(sigint(pid));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sigint(pid));
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// The open-file limit: a soft limit below what `--fanout` needs is raised
/// to the hard one, silently (the hard limit is 20,000 here), and 80
/// sockets at once then fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_soft_open_file_limit_is_raised_to_the_hard_one() {
    let fx = fixture();
    let mut hosts = Vec::new();
    for _ in 0..80 {
        hosts.push(fx.host("hk").await);
    }
    let names: Vec<String> = (0..80).map(|i| format!("n{i}")).collect();
    let list: Vec<(&str, &FakeHost)> = names.iter().map(String::as_str).zip(&hosts).collect();
    let inv = fx.inventory(&list);
    let under = |ulimit: &str| {
        let script = format!("ulimit {ulimit} && exec \"$0\" \"$@\"");
        tokio::process::Command::new("sh")
            .args([
                "-c",
                &script,
                bin(),
                "-i",
                &inv,
                "-a",
                "-f",
                "80",
                "-q",
                "true",
            ])
            .output()
    };
    // Soft 40, hard unchanged (20,000 here): raised, nothing to say.
    let out = tokio::time::timeout(Duration::from_secs(60), under("-Sn 40"))
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

/// `ssh-fanout … | head -1`: once stdout's reader is gone, no more hosts
/// start, nothing more is said, `--failed-hosts` is still written whole and
/// the exit is 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_stdout_stops_quietly_with_0_and_completes_failed_hosts() {
    use tokio::io::AsyncBufReadExt;
    let fx = fixture();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut hosts = Vec::new();
    for _ in 0..4 {
        let cfg = FakeConfig {
            connections: connections.clone(),
            accept_key: Some(fx.client_public()),
            ..Default::default()
        };
        hosts.push(fake_host(host_key(fx.path(), "hk"), cfg).await);
    }
    let refused: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut list = vec![("c0".to_string(), refused)];
    list.extend(
        hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("c{}", i + 1), h.addr)),
    );
    let inv = fake_inventory(fx.path(), &list, Some(&fx.client_key), None);
    let failed = fx.path().join("failed.txt");
    // c0 is refused, c1 prints 4 MB: its first line is read, then the pipe
    // is closed; c2-c4 must never start.
    let mut child = tokio::process::Command::new(bin())
        .arg("-i")
        .arg(&inv)
        .args(["-a", "-f", "1", "--failed-hosts"])
        .arg(&failed)
        .arg("big 4000000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut first)
        .await
        .unwrap();
    assert!(first.starts_with("c1: xxx"), "{first:?}");
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("c0: "),
        "c0 failed before the pipe closed: {stderr}"
    );
    assert!(!stderr.contains("hosts:"), "no summary: {stderr}");
    assert!(!stderr.contains("not started"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(connections.load(Ordering::SeqCst), 1, "only c1 was started");
    assert_eq!(std::fs::read_to_string(&failed).unwrap(), "c0\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_commands_run_in_order_over_one_connection() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("s", &h)]);
    let script = fx.path().join("script.txt");
    std::fs::write(&script, "# setup\necho one\n\necho two\n").unwrap();
    let (code, out, _) = run_async(
        &[
            "-i",
            &inv,
            "-w",
            "s",
            "--script",
            script.to_str().unwrap(),
            "-N",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(out, "one\ntwo\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_ecdsa_and_rsa_identities_authenticate() {
    let fx = fixture();
    for (kind, passphrase) in [("ed25519", "s3cret phrase"), ("ecdsa", ""), ("rsa", "")] {
        let key = fx.path().join(format!("id_{kind}"));
        keygen_typed(&key, kind, passphrase);
        let cfg = FakeConfig {
            accept_key: Some(russh::keys::load_public_key(key.with_extension("pub")).unwrap()),
            ..Default::default()
        };
        let h = fake_host(host_key(fx.path(), "hk"), cfg).await;
        let inv = fake_inventory(fx.path(), &[("k".into(), h.addr)], Some(&key), None);
        let (code, out, err) = run_async(
            &["-i", inv.to_str().unwrap(), "-w", "k", "echo in"],
            &[("NETKIT_SSH_PASSPHRASE", passphrase)],
            None,
        )
        .await;
        assert_eq!((code, out.as_str()), (0, "k: in\n"), "{kind}: {err}");
        drop(h);
    }
}

/// 1,000 targets behind one jump host with `jump_concurrency = 8` and
/// `--fanout 256`: every target runs, the jump host never forwards more
/// than 8 at once, and waiting for a place is not counted against the
/// 2-second connect timeout (the 1,000 hosts take longer than that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_targets_behind_one_jump_host_wait_for_their_turn() {
    let fx = fixture();
    let jump_cfg = FakeConfig {
        accept_key: Some(fx.client_public()),
        ..Default::default()
    };
    let (peak, jump_connections) = (jump_cfg.forwards_peak.clone(), jump_cfg.connections.clone());
    let jump = fake_host(host_key(fx.path(), "jump_key"), jump_cfg).await;
    let target = fake_host(
        host_key(fx.path(), "hk"),
        FakeConfig {
            any_key: true,
            ..Default::default()
        },
    )
    .await;
    let text = format!(
        "[defaults]\nuser = \"t\"\nidentity = \"{}\"\nknown_hosts = \"{}\"\n\n\
         [hosts.bastion]\naddress = \"127.0.0.1\"\nport = {}\njump_concurrency = 8\n\n\
         [hosts.\"t[1-1000]\"]\naddress = \"127.0.0.1\"\nport = {}\njump = \"bastion\"\n",
        fx.client_key.display(),
        fx.path().join("known_hosts").display(),
        jump.addr.port(),
        target.addr.port()
    );
    let inv = fx.path().join("jump.toml");
    std::fs::write(&inv, text).unwrap();
    let started = Instant::now();
    let (code, out, err) = run_async(
        &[
            "-i",
            inv.to_str().unwrap(),
            "-w",
            "t[1-1000]",
            "-f",
            "256",
            "-t",
            "2s",
            "--json",
            "true",
        ],
        &[],
        None,
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(code, 0, "{err}");
    let recs = json_lines(&out);
    let ok = recs
        .iter()
        .filter(|r| r["type"] == "result" && r["status"] == "ok")
        .count();
    assert_eq!(ok, 1000, "{err}");
    // The jump host sees a channel close a moment after the client let
    // its place go (the close crosses the jump connection), so its count
    // may lag by a few; without the limit it would reach the fanout, 256.
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        (1..=16).contains(&peak),
        "peak {peak} channels through the jump"
    );
    assert_eq!(jump_connections.load(Ordering::SeqCst), 1);
    eprintln!("1,000 hosts through one jump host, 8 at a time: {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shared_connection_per_jump_host() {
    let fx = fixture();
    let jump_cfg = FakeConfig {
        accept_key: Some(fx.client_public()),
        ..Default::default()
    };
    let jump_connections = jump_cfg.connections.clone();
    let jump = fake_host(host_key(fx.path(), "jump_key"), jump_cfg).await;
    let targets = [
        fx.host("hk").await,
        fx.host("hk").await,
        fx.host("hk").await,
    ];
    let mut text = format!(
        "[defaults]\nuser = \"t\"\nidentity = \"{}\"\nknown_hosts = \"{}\"\n\n[hosts.bastion]\naddress = \"127.0.0.1\"\nport = {}\n",
        fx.client_key.display(),
        fx.path().join("known_hosts").display(),
        jump.addr.port()
    );
    for (i, t) in targets.iter().enumerate() {
        text.push_str(&format!(
            "\n[hosts.t{i}]\naddress = \"127.0.0.1\"\nport = {}\njump = \"bastion\"\n",
            t.addr.port()
        ));
    }
    let inv = fx.path().join("jump.toml");
    std::fs::write(&inv, text).unwrap();
    let (code, out, err) = run_async(
        &[
            "-i",
            inv.to_str().unwrap(),
            "-w",
            "t[0-2]",
            "-N",
            "echo through",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "through\nthrough\nthrough\n");
    assert_eq!(
        jump_connections.load(Ordering::SeqCst),
        1,
        "one shared jump connection"
    );
    // Every target's own host key was checked end to end and recorded.
    let kh = std::fs::read_to_string(fx.path().join("known_hosts")).unwrap();
    for t in &targets {
        assert!(
            kh.contains(&format!("[127.0.0.1]:{}", t.addr.port())),
            "{kh}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_stdin_to_a_command_that_never_reads_it_does_not_hang() {
    let fx = fixture();
    let h = fx.host("hk").await;
    let inv = fx.inventory(&[("n", &h)]);
    // 8 MB: far more than the 2 MB SSH window; `true` never reads it.
    let input = vec![b'z'; 8 * 1024 * 1024];
    let (code, _, err) = run_async(
        &["-i", &inv, "-w", "n", "--stdin", "true"],
        &[],
        Some(&input),
    )
    .await;
    assert_eq!(code, 0, "{err}");
}

// ---------------------------------------------------------------------------
// The password prompt, on a real pseudo-terminal.

/// A pty whose slave is the controlling terminal of an ssh-fanout started
/// with `setsid -c`, and everything the program wrote to it.
struct PtyRun {
    master: std::fs::File,
    slave: std::fs::File,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    child: std::process::Child,
}

impl PtyRun {
    fn start(args: &[&str]) -> PtyRun {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        use std::os::unix::fs::OpenOptionsExt;
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(name.to_str().unwrap())
            .unwrap();
        let master = std::fs::File::from(master);
        let child = std::process::Command::new("setsid")
            .arg("-c")
            .arg(bin())
            .args(args)
            .env_remove("SSH_AUTH_SOCK")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap())
            .spawn()
            .unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = seen.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtyRun {
            master,
            slave,
            seen,
            child,
        }
    }

    fn echo_on(&self) -> bool {
        let modes = rustix::termios::tcgetattr(&self.slave).unwrap().local_modes;
        modes.contains(rustix::termios::LocalModes::ECHO)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits (bounded) for the prompt to be shown with echo off.
    fn wait_for_prompt(&self) {
        for _ in 0..200 {
            if self.text().contains("SSH password: ") && !self.echo_on() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("no hidden prompt: {:?}", self.text());
    }

    fn type_keys(&mut self, keys: &[u8]) {
        use std::io::Write;
        self.master.write_all(keys).unwrap();
    }

    /// Waits (bounded) for the program to exit; kills it after 20 s.
    fn exit_code(&mut self) -> Option<i32> {
        for _ in 0..800 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        panic!("still running: {:?}", self.text());
    }
}

#[test]
fn a_ctrl_c_at_the_password_prompt_restores_echo_and_exits_130() {
    let port = free_port().to_string();
    let target = format!("127.0.0.1:{port}");
    let mut run = PtyRun::start(&["-F", "none", "-w", &target, "--ask-pass", "true"]);
    assert!(run.echo_on(), "a new pty echoes");
    run.wait_for_prompt();
    // Ctrl-C typed on the terminal: the line discipline sends SIGINT.
    run.type_keys(b"\x03");
    assert_eq!(run.exit_code(), Some(130), "{}", run.text());
    assert!(run.echo_on(), "echo restored: {}", run.text());
}

#[test]
fn a_typed_password_is_not_echoed_and_echo_comes_back() {
    let port = free_port().to_string();
    let target = format!("127.0.0.1:{port}");
    let mut run = PtyRun::start(&["-F", "none", "-w", &target, "--ask-pass", "true"]);
    run.wait_for_prompt();
    run.type_keys(b"hunter2\n");
    // The port is closed: the run goes on to connect and is refused.
    assert_eq!(run.exit_code(), Some(3), "{}", run.text());
    assert!(run.echo_on(), "echo restored: {}", run.text());
    let text = run.text();
    assert!(
        !text.contains("hunter2"),
        "the password was echoed: {text:?}"
    );
    assert!(text.contains("connect_refused"), "{text}");
}

/// `ProxyCommand ssh -W %h:%p bastion`, the classic form, with OpenSSH's own
/// `ssh` as the command: the target is reached through host0, and `%h`/`%p`
/// are the inventory's address and port. With host0 stopped, the host fails
/// as `proxy_command`, with ssh's own words in the message.
#[test]
fn sshd_proxy_command_runs_ssh_dash_w_through_a_bastion() {
    let mut lab = SshdLab::start(2);
    let inv = lab.inventory(false);
    let inv = inv.to_str().unwrap().to_owned();
    let cfg = lab.dir.path().join("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host host1 # the target, behind host0\n  ProxyCommand ssh -F none -i {key} \
             -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=accept-new \
             -o BatchMode=yes -o ConnectTimeout=5 -p {port} -W %h:%p {user}@127.0.0.1\n",
            key = lab.client_key.display(),
            kh = lab.dir.path().join("bastion_known_hosts").display(),
            port = lab.hosts[0].port,
            user = lab.user,
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    let (code, out, err) = run_bin(
        &["-F", &cfg, "-i", &inv, "-w", "host1", "echo via proxy"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "host1: via proxy\n", "{err}");
    let (code, out, _) = run_bin(
        &["-F", &cfg, "-i", &inv, "-w", "host1", "--dry-run", "true"],
        None,
    );
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("-W 127.0.0.1:{} ", lab.hosts[1].port)),
        "%h and %p are the inventory's address and port: {out}"
    );
    drop(lab.hosts.remove(0));
    let (code, out, err) = run_bin(
        &["-F", &cfg, "-i", &inv, "-w", "host1", "--json", "true"],
        None,
    );
    assert_eq!(code, 3, "{err}");
    let recs = json_lines(&out);
    let error = &result_of(&recs, "host1")["error"];
    assert_eq!(error["kind"], "proxy_command", "{out}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("exited with status 255") && message.contains("Connection refused"),
        "{message}"
    );
}

/// A ProxyCommand that cannot work fails its host only, with its status and
/// stderr; nothing is written to our stderr by the command itself.
#[test]
fn a_failing_proxy_command_fails_only_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ssh_config");
    std::fs::write(
        &cfg,
        "Host bad.invalid\n  ProxyCommand sh -c 'echo no route to %h >&2; exit 7'\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    let (code, out, err) = run_bin(
        &[
            "-F",
            &cfg,
            "-w",
            "bad.invalid",
            "--json",
            "--connect-timeout",
            "5s",
            "true",
        ],
        None,
    );
    assert_eq!(code, 3, "{err}");
    let recs = json_lines(&out);
    let error = &result_of(&recs, "bad.invalid")["error"];
    assert_eq!(error["kind"], "proxy_command", "{out}");
    assert_eq!(
        error["message"],
        "ProxyCommand `sh -c 'echo no route to bad.invalid >&2; exit 7'` exited with status 7: \
         no route to bad.invalid"
    );
    assert!(
        !err.contains("no route to"),
        "the command's stderr is not ours: {err}"
    );
}
