//! `ssh-fanout --dry-run` and ssh_config refusals, through the binary.
//! Every name is under `.invalid` or an IP literal: nothing is resolved.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

fn fanout(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssh-fanout"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap_or_else(|e| panic!("ssh-fanout: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn dry_run_prints_the_resolution_with_file_and_line_and_connects_to_nothing() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = d.path().join("cfg");
    let inc = d.path().join("inc.conf");
    std::fs::write(&inc, "Host web*\n  Port 2222\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &cfg,
        format!(
            "Include {}\nHost web* # the jump box\n  HostName 127.0.0.1\n  User = \"deploy\"\n  \
             ConnectTimeout 7\n  StrictHostKeyChecking yes\nHost inner.invalid\n  ProxyJump u@192.0.2.1:2200\n\
             Host pc.invalid\n  ProxyCommand false %h %p\n",
            inc.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cfg_s = cfg.display().to_string();
    let out = fanout(
        d.path(),
        &[
            "--dry-run",
            "-F",
            &cfg_s,
            "-w",
            "web1,inner.invalid,pc.invalid",
            "uptime",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("address          127.0.0.1  (") && stdout.contains("cfg:3)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("port             2222  (") && stdout.contains("inc.conf:2)"),
        "{stdout}"
    );
    assert!(stdout.contains("user             deploy"), "{stdout}");
    assert!(stdout.contains("connect_timeout  7s"), "{stdout}");
    assert!(stdout.contains("host_key_policy  strict"), "{stdout}");
    assert!(
        stdout.contains("jump             u@192.0.2.1:2200"),
        "{stdout}"
    );
    assert!(
        stdout.contains("proxy_command    false pc.invalid 22"),
        "{stdout}"
    );

    let json = fanout(
        d.path(),
        &[
            "--dry-run",
            "--json",
            "-F",
            &cfg_s,
            "-w",
            "web1",
            "-c",
            "uptime",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&json.stdout)));
    assert_eq!(v["port"], 2222);
    assert_eq!(v["user"], "deploy");

    // Without a command, only the hosts, as `pdsh -q` lists its targets.
    let list = fanout(
        d.path(),
        &["--dry-run", "-F", &cfg_s, "-w", "web1,inner.invalid"],
    );
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert_eq!(text(&list.stdout), "web1\ninner.invalid\n");
    let list = fanout(
        d.path(),
        &["--dry-run", "--json", "-F", &cfg_s, "-w", "web1"],
    );
    assert_eq!(text(&list.stdout), "{\"host\":\"web1\"}\n");

    // A ProxyCommand host is reached only through its command (here one
    // that fails at once): never connected to directly.
    let run = fanout(d.path(), &["-F", &cfg_s, "-w", "pc.invalid", "true"]);
    assert_eq!(run.status.code(), Some(3));
    assert!(
        text(&run.stderr).contains("error (proxy_command): pc.invalid"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn a_config_ssh_refuses_is_refused_with_file_and_line() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = d.path().join("cfg");
    std::fs::write(&cfg, "Host *\n  Port 22\n  NoSuchKeyword yes\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg_s = cfg.display().to_string();
    let out = fanout(d.path(), &["--dry-run", "-F", &cfg_s, "-w", "a.invalid"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cfg:3") && err.contains("nosuchkeyword"),
        "{err}"
    );
    // IgnoreUnknown makes it acceptable, as for ssh.
    std::fs::write(&cfg, "IgnoreUnknown NoSuch*\nHost *\n  NoSuchKeyword yes\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = fanout(d.path(), &["--dry-run", "-F", &cfg_s, "-w", "a.invalid"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The host names `--dry-run` lists (its unindented lines).
fn listed(out: &Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .map(str::to_owned)
        .collect()
}

fn fanout_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssh-fanout"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("ssh-fanout: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn host_lists_as_pdsh_and_clush_users_type_them() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // `-w -`: hosts from stdin, several a line, `#` comments.
    let out = fanout_stdin(
        d.path(),
        &["--dry-run", "-F", "none", "-w", "-"],
        "h1.invalid h2.invalid,h3.invalid\n# comment\nh[4-5].invalid\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        listed(&out),
        [
            "h1.invalid",
            "h2.invalid",
            "h3.invalid",
            "h4.invalid",
            "h5.invalid"
        ]
    );
    // Operators, pdsh -ITEM and /regex/, whitespace.
    let out = fanout(
        d.path(),
        &[
            "--dry-run",
            "-F",
            "none",
            "-w",
            "h[ 1 - 6 ].invalid ! h2.invalid , -h3.invalid,/h[1456]/",
            "-x",
            "/5/",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(listed(&out), ["h1.invalid", "h4.invalid", "h6.invalid"]);
    // `@group` inside -w and -x is an inventory group.
    let inv = d.path().join("hosts.toml");
    std::fs::write(
        &inv,
        "[hosts.\"web[1-3].invalid\"]\n[groups]\nweb = [\"web[1-3].invalid\"]\nodd = [\"web1.invalid\", \"web3.invalid\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let inv_s = inv.display().to_string();
    let out = fanout(
        d.path(),
        &[
            "--dry-run",
            "-F",
            "none",
            "-i",
            &inv_s,
            "-w",
            "@web!@odd,db.invalid",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(listed(&out), ["web2.invalid", "db.invalid"]);
    let out = fanout(
        d.path(),
        &[
            "--dry-run",
            "-F",
            "none",
            "-i",
            &inv_s,
            "-w",
            "@web",
            "-x",
            "@odd",
        ],
    );
    assert_eq!(listed(&out), ["web2.invalid"]);
    let out = fanout(
        d.path(),
        &["--dry-run", "-F", "none", "-i", &inv_s, "-w", "@nope"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown group `nope`"),
        "{}",
        text(&out.stderr)
    );
    // A character that cannot be in a host name is a usage error (exit 2),
    // before anything is resolved.
    let out = fanout(d.path(), &["-F", "none", "-w", "web1.invalid,h$x", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "ssh-fanout: -w 'web1.invalid,h$x': invalid character '$' in host name `h$x` (a host \
         name holds letters, digits, `-`, `.` and `_`, and does not start with `-`)"
    );
    let out = fanout(d.path(), &["-F", "none", "-w", "a;b", "true"]);
    assert_eq!(out.status.code(), Some(2));
    // stdin cannot hold the hosts and the commands' input at once.
    let out = fanout_stdin(
        d.path(),
        &["-F", "none", "-w", "-", "--stdin", "true"],
        "h1\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--stdin"),
        "{}",
        text(&out.stderr)
    );
}
