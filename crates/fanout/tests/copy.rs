//! `--copy`/`--rcopy` against real OpenSSH sshd hosts (internal-sftp).
//! The lab's hosts share this machine's file system, so every test puts
//! `{host}` in the remote paths to keep the hosts apart.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::util::*;

/// Random bytes from a fixed seed, so failures reproduce.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    netkit_testkit::rng::Rng(seed | 1).bytes(len)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run_json(args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = run_bin(&all, None);
    (code, json_lines(&out), err)
}

fn temps_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".netkit-"))
        .collect()
}

#[test]
fn sshd_copy_pushes_files_several_sources_and_trees_byte_exact() {
    let lab = SshdLab::start(2);
    let inv = lab.inventory(false);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("tree/sub")).unwrap();
    // Sizes around the 64 KiB request length, 0 bytes and several MiB.
    let sizes = [0usize, 1, 65_535, 65_536, 65_537, 1_048_583, 6 << 20];
    let mut files = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        let p = src.join(format!("f{i}.bin"));
        std::fs::write(&p, random_bytes(*n, i as u64 + 1)).unwrap();
        files.push(p);
    }
    std::fs::write(src.join("tree/a.txt"), b"alpha\n").unwrap();
    std::fs::write(src.join("tree/skip.log"), b"skip").unwrap();
    std::fs::write(src.join("tree/sub/b.bin"), random_bytes(200_000, 9)).unwrap();
    std::os::unix::fs::symlink("../a.txt", src.join("tree/sub/link")).unwrap();
    let dest = work.path().join("dest");
    for h in ["host0", "host1"] {
        std::fs::create_dir_all(dest.join(h)).unwrap();
    }

    // One file: --dest names the file.
    let one = format!("{}/{{host}}/single.bin", s(&dest));
    let (code, recs, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "--copy",
        s(&files[5]),
        "--dest",
        &one,
        "--verify",
    ]);
    assert_eq!(code, 0, "{err}");
    for h in ["host0", "host1"] {
        let got = std::fs::read(dest.join(h).join("single.bin")).unwrap();
        assert_eq!(got, std::fs::read(&files[5]).unwrap(), "{h}");
        let r = result_of(&recs, h);
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["bytes"], sizes[5] as u64, "{r}");
        assert_eq!(r["files"], 1, "{r}");
        assert_eq!(r["verified"], "sha256sum", "{r}");
        assert!(r["exit_code"].is_null(), "{r}");
        assert!(temps_in(&dest.join(h)).is_empty());
    }

    // Several sources: --dest is a directory, created if missing.
    let multi = format!("{}/{{host}}/multi", s(&dest));
    let mut args = vec!["-i", s(&inv), "-a", "--dest", &multi, "--copy"];
    args.extend(files.iter().map(|p| s(p)));
    let (code, recs, err) = run_json(&args);
    assert_eq!(code, 0, "{err}");
    let total: usize = sizes.iter().sum();
    for h in ["host0", "host1"] {
        for (i, f) in files.iter().enumerate() {
            let got = std::fs::read(dest.join(h).join("multi").join(format!("f{i}.bin"))).unwrap();
            assert!(
                got == std::fs::read(f).unwrap(),
                "{h} f{i}: {} bytes",
                got.len()
            );
        }
        assert_eq!(result_of(&recs, h)["bytes"], total as u64);
    }

    // A tree: links stay links, --copy-exclude skips names.
    let trees = format!("{}/{{host}}/trees", s(&dest));
    let tree = src.join("tree");
    let (code, _, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "-r",
        "--copy",
        s(&tree),
        "--dest",
        &trees,
        "--copy-exclude",
        "*.log",
    ]);
    assert_eq!(code, 0, "{err}");
    for h in ["host0", "host1"] {
        let t = dest.join(h).join("trees/tree");
        assert_eq!(std::fs::read(t.join("a.txt")).unwrap(), b"alpha\n");
        assert_eq!(
            std::fs::read(t.join("sub/b.bin")).unwrap(),
            std::fs::read(src.join("tree/sub/b.bin")).unwrap()
        );
        assert!(!t.join("skip.log").exists(), "excluded file copied on {h}");
        let link = t.join("sub/link");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from("../a.txt")
        );
    }
}

#[test]
fn sshd_copy_replaces_atomically_preserves_and_removes_stale_temporaries() {
    let lab = SshdLab::start(1);
    let inv = lab.inventory(false);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("app.conf");
    std::fs::write(&src, b"new contents\n").unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o751)).unwrap();
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let dir = work.path().join("host0");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.conf"), b"old\n").unwrap();
    // Left by a push whose connection dropped; another target's is kept.
    std::fs::write(dir.join(".app.conf.netkit-0123abcd.tmp"), b"torn").unwrap();
    std::fs::write(dir.join(".other.netkit-89abcdef.tmp"), b"fresh").unwrap();
    let dest = format!("{}/{{host}}/app.conf", s(work.path()));
    let (code, recs, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "-p",
        "--copy",
        s(&src),
        "--dest",
        &dest,
    ]);
    assert_eq!(code, 0, "{err} {recs:?}");
    let target = dir.join("app.conf");
    assert_eq!(std::fs::read(&target).unwrap(), b"new contents\n");
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o751);
    assert_eq!(meta.mtime(), 1_000_000_000);
    assert_eq!(
        temps_in(&dir),
        vec![".other.netkit-89abcdef.tmp".to_owned()]
    );
}

#[test]
fn sshd_copy_pulls_globs_trees_and_both_layouts() {
    let lab = SshdLab::start(2);
    let inv = lab.inventory(false);
    let work = tempfile::tempdir().unwrap();
    // What each "host" serves (the hosts share this file system).
    for h in ["host0", "host1"] {
        let r = work.path().join("remote").join(h);
        std::fs::create_dir_all(r.join("tree/deep")).unwrap();
        std::fs::write(r.join("a.log"), format!("a from {h}\n")).unwrap();
        std::fs::write(r.join("b.log"), random_bytes(3 << 20, 7)).unwrap();
        std::fs::write(r.join("c.txt"), b"not matched").unwrap();
        std::fs::write(r.join("tree/deep/x"), format!("x {h}")).unwrap();
        std::os::unix::fs::symlink("deep/x", r.join("tree/ok-link")).unwrap();
    }
    let remote = format!("{}/remote/{{host}}", s(work.path()));
    let out = work.path().join("out");
    // pslurp's layout: DEST/HOST/name; globs expanded on the host.
    let (code, recs, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "--rcopy",
        &format!("{remote}/*.log"),
        "--dest",
        s(&out),
        "--verify",
    ]);
    assert_eq!(code, 0, "{err} {recs:?}");
    for h in ["host0", "host1"] {
        assert_eq!(
            std::fs::read_to_string(out.join(h).join("a.log")).unwrap(),
            format!("a from {h}\n")
        );
        assert_eq!(
            std::fs::read(out.join(h).join("b.log")).unwrap(),
            random_bytes(3 << 20, 7)
        );
        assert!(!out.join(h).join("c.txt").exists());
        let r = result_of(&recs, h);
        assert_eq!(r["files"], 2, "{r}");
        assert_eq!(r["verified"], "sha256sum", "{r}");
    }
    // A tree with -r.
    let (code, _, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "-r",
        "--rcopy",
        &format!("{remote}/tree"),
        "--dest",
        s(&out),
    ]);
    assert_eq!(code, 0, "{err}");
    for h in ["host0", "host1"] {
        let t = out.join(h).join("tree");
        assert_eq!(
            std::fs::read_to_string(t.join("deep/x")).unwrap(),
            format!("x {h}")
        );
        assert_eq!(
            std::fs::read_link(t.join("ok-link")).unwrap(),
            PathBuf::from("deep/x")
        );
    }
    // --copy-exclude with a `/` matches the path below the source.
    let excl = work.path().join("excl");
    let (code, _, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "-r",
        "--rcopy",
        &format!("{remote}/tree"),
        "--dest",
        s(&excl),
        "--copy-exclude",
        "deep/*",
    ]);
    assert_eq!(code, 0, "{err}");
    for h in ["host0", "host1"] {
        let t = excl.join(h).join("tree");
        assert!(t.join("deep").is_dir(), "{h}");
        assert!(std::fs::symlink_metadata(t.join("ok-link")).is_ok(), "{h}");
        assert!(!t.join("deep/x").exists(), "deep/x was not excluded on {h}");
    }
    // clush's layout with {host}: one file per host.
    let logs = work.path().join("logs");
    let (code, _, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "--rcopy",
        &format!("{remote}/a.log"),
        "--dest",
        &format!("{}/a.log.{{host}}", s(&logs)),
    ]);
    assert_eq!(code, 0, "{err}");
    for h in ["host0", "host1"] {
        assert_eq!(
            std::fs::read_to_string(logs.join(format!("a.log.{h}"))).unwrap(),
            format!("a from {h}\n")
        );
    }
    // Several sources, with --preserve (times and permission bits, but
    // never set-uid from a host).
    for h in ["host0", "host1"] {
        let c = work.path().join("remote").join(h).join("c.txt");
        std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o4750)).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&c)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567_890))
            .unwrap();
    }
    let several = work.path().join("several");
    let (code, recs, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "-p",
        "--rcopy",
        &format!("{remote}/a.log"),
        &format!("{remote}/c.txt"),
        "--dest",
        s(&several),
    ]);
    assert_eq!(code, 0, "{err}");
    for h in ["host0", "host1"] {
        assert_eq!(result_of(&recs, h)["files"], 2);
        let c = std::fs::metadata(several.join(h).join("c.txt")).unwrap();
        assert_eq!(c.mode() & 0o7777, 0o750, "set-uid must not survive a pull");
        assert_eq!(c.mtime(), 1_234_567_890);
        assert!(several.join(h).join("a.log").exists());
    }
    // A directory without -r, and a path that matches nothing.
    let (code, recs, _) = run_json(&[
        "-i",
        s(&inv),
        "-w",
        "host0",
        "--rcopy",
        &format!("{remote}/nothing*"),
        "--dest",
        s(&out),
    ]);
    assert_eq!(code, 1);
    assert_eq!(result_of(&recs, "host0")["error"]["kind"], "not_found");
}

/// An inventory entry for an extra sshd of the lab.
fn inventory_with(lab: &SshdLab, extra: &[(&str, u16)]) -> PathBuf {
    let mut text = std::fs::read_to_string(lab.inventory(false)).unwrap();
    let groups = text.find("[groups]").unwrap();
    let mut hosts = String::new();
    for (name, port) in extra {
        hosts.push_str(&format!(
            "[hosts.{name}]\naddress = \"127.0.0.1\"\nport = {port}\n\n"
        ));
    }
    text.insert_str(groups, &hosts);
    let path = lab.dir.path().join("hosts-extra.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn sshd_copy_failures_are_typed_and_the_command_runs_only_after_a_good_copy() {
    let lab = SshdLab::start(1);
    let key = lab.dir.path().join("odd_key");
    keygen(&key);
    let auth = lab.dir.path().join("authorized_keys");
    let ro = custom_sshd(
        lab.dir.path(),
        "ro",
        std::slice::from_ref(&key),
        &auth,
        "Subsystem sftp internal-sftp -R",
        None,
    );
    let nosftp = custom_sshd(
        lab.dir.path(),
        "nosftp",
        &[key],
        &auth,
        "Subsystem other internal-sftp",
        None,
    );
    let inv = inventory_with(&lab, &[("ro", ro.port), ("nosftp", nosftp.port)]);
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("job.sh");
    std::fs::write(
        &script,
        "echo ran on $NETKIT_HOST > \"$(dirname \"$0\")/ran.$NETKIT_HOST\"\n",
    )
    .unwrap();
    let dir = work.path().join("d");
    std::fs::create_dir_all(&dir).unwrap();
    let dest = format!("{}/job.{{host}}.sh", s(&dir));
    let run_it = format!("sh {}/job.$NETKIT_HOST.sh", s(&dir));
    let (code, recs, err) = run_json(&[
        "-i",
        s(&inv),
        "-w",
        "host0,ro,nosftp",
        "--copy",
        s(&script),
        "--dest",
        &dest,
        "-c",
        &run_it,
    ]);
    assert_eq!(code, 1, "{err}");
    let ok = result_of(&recs, "host0");
    assert_eq!(
        (ok["status"].as_str(), ok["exit_code"].as_u64()),
        (Some("ok"), Some(0)),
        "{ok}"
    );
    assert!(dir.join("ran.host0").exists(), "pushed script did not run");
    let r = result_of(&recs, "ro");
    assert_eq!(
        (r["status"].as_str(), r["error"]["kind"].as_str()),
        (Some("failed"), Some("permission_denied")),
        "{r}"
    );
    let r = result_of(&recs, "nosftp");
    assert_eq!(
        (r["status"].as_str(), r["error"]["kind"].as_str()),
        (Some("failed"), Some("sftp_unavailable")),
        "{r}"
    );
    assert!(
        !dir.join("ran.ro").exists() && !dir.join("ran.nosftp").exists(),
        "command ran after a failed copy"
    );

    // A missing destination directory is not_found, and the command is skipped.
    let missing = format!("{}/no/such/dir/x", s(work.path()));
    let (code, recs, _) = run_json(&[
        "-i",
        s(&inv),
        "-w",
        "host0",
        "--copy",
        s(&script),
        "--dest",
        &missing,
        "-c",
        "touch /nonexistent-marker",
    ]);
    assert_eq!(code, 1);
    assert_eq!(result_of(&recs, "host0")["error"]["kind"], "not_found");
}

#[test]
fn sshd_copy_to_a_full_file_system_is_no_space_and_keeps_the_old_file() {
    let lab = SshdLab::start(1);
    let inv = lab.inventory(false);
    let work = tempfile::tempdir().unwrap();
    let mnt = work.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs", s(&mnt)])
        .status()
        .is_ok_and(|st| st.success());
    assert!(
        mounted,
        "mount -t tmpfs failed: this test needs root (CI runs as root)"
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    std::fs::write(mnt.join("big.bin"), b"old").unwrap();
    let src = work.path().join("big.bin");
    std::fs::write(&src, random_bytes(1 << 20, 3)).unwrap();
    let (code, recs, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "--copy",
        s(&src),
        "--dest",
        &format!("{}/big.bin", s(&mnt)),
    ]);
    assert_eq!(code, 1, "{err}");
    let r = result_of(&recs, "host0");
    assert_eq!(r["error"]["kind"], "no_space", "{r}");
    assert_eq!(std::fs::read(mnt.join("big.bin")).unwrap(), b"old");
    assert!(temps_in(&mnt).is_empty(), "the temporary was not removed");
}

#[test]
fn copy_flags_are_checked_before_any_host_is_contacted() {
    let (code, _, err) = run_bin(
        &[
            "-w",
            "h.invalid",
            "--copy",
            "/nonexistent/file",
            "--dest",
            "/tmp/x",
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/file"), "{err}");
    let (code, _, err) = run_bin(&["-w", "h.invalid", "--copy", "/etc/hostname"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--dest"), "{err}");
    let (code, _, err) = run_bin(
        &["-w", "h.invalid", "--copy", "/etc", "--dest", "/tmp/x"],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("--recursive"), "{err}");
    let (code, _, err) = run_bin(&["-w", "h.invalid", "--verify", "true"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--verify needs --copy or --rcopy"), "{err}");
}

/// Waits (bounded) until a temporary in `dir` holds at least `bytes`.
fn wait_for_temp(dir: &Path, bytes: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let big = std::fs::read_dir(dir).unwrap().any(|e| {
            let e = e.unwrap();
            e.file_name().to_string_lossy().contains(".netkit-")
                && e.metadata().is_ok_and(|m| m.len() >= bytes)
        });
        if big {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    false
}

fn spawn_bin(args: &[&str]) -> std::process::Child {
    std::process::Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_bounded(child: std::process::Child) -> std::process::Output {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(std::time::Duration::from_secs(90))
        .expect("ssh-fanout did not finish within 90 s")
        .unwrap()
}

#[test]
fn sshd_copy_a_disconnect_or_ctrl_c_mid_transfer_keeps_the_old_file() {
    let lab = SshdLab::start(1);
    let inv = lab.inventory(false);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("big.bin");
    let data = random_bytes(64 << 20, 11);
    std::fs::write(&src, &data).unwrap();
    let dir = work.path().join("host0");
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("big.bin");
    std::fs::write(&target, b"old").unwrap();
    let dest = format!("{}/{{host}}/big.bin", s(work.path()));
    let args = [
        "-i",
        s(&inv),
        "-a",
        "--copy",
        s(&src),
        "--dest",
        &dest,
        "--json",
    ];

    // The host's connection dies mid-transfer (its sshd session killed).
    let child = spawn_bin(&args);
    assert!(wait_for_temp(&dir, 256 << 10), "the transfer never started");
    let listener = lab.hosts[0].pid().unwrap();
    let killed = std::process::Command::new("pkill")
        .args(["-KILL", "-P", &listener.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "no sshd session to kill");
    let out = wait_bounded(child);
    let recs = json_lines(&String::from_utf8_lossy(&out.stdout));
    let r = result_of(&recs, "host0");
    assert_eq!(out.status.code(), Some(1), "{r}");
    assert_eq!(r["error"]["kind"], "transfer_interrupted", "{r}");
    assert!(r["bytes"].as_u64().unwrap() < data.len() as u64, "{r}");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"old",
        "a torn file replaced the old one"
    );

    // Ctrl-C twice: the run stops at once; the target is old or whole.
    let child = spawn_bin(&args);
    assert!(wait_for_temp(&dir, 256 << 10), "the transfer never started");
    for _ in 0..2 {
        let _ = send_signal(child.id(), "-INT");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = wait_bounded(child);
    // The second press ends the process by SIGINT itself (or exit 130).
    let by_sigint = std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(2)
        || out.status.code() == Some(130);
    assert!(
        by_sigint,
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let now = std::fs::read(&target).unwrap();
    assert!(
        now == b"old" || now == data,
        "torn target: {} bytes",
        now.len()
    );

    // The next push completes byte for byte and removes the stale temporaries.
    let (code, recs, err) = run_json(&args[..args.len() - 1]);
    assert_eq!(code, 0, "{err} {recs:?}");
    assert!(std::fs::read(&target).unwrap() == data, "64 MiB differ");
    assert!(
        temps_in(&dir).is_empty(),
        "stale temporaries left: {:?}",
        temps_in(&dir)
    );
}

#[test]
fn sshd_copy_expands_tilde_on_the_host() {
    let lab = SshdLab::start(1);
    let inv = lab.inventory(false);
    let work = tempfile::tempdir().unwrap();
    let home = netkit_testkit::sshd::current_user()
        .ok()
        .and_then(|_| std::env::var_os("HOME"))
        .map(PathBuf::from)
        .unwrap();
    let name = format!("netkit-copy-tilde-{}.txt", std::process::id());
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _cleanup = Remove(home.join(&name));
    let src = work.path().join("t.txt");
    std::fs::write(&src, b"tilde\n").unwrap();
    let (code, _, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "--copy",
        s(&src),
        "--dest",
        &format!("~/{name}"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(home.join(&name)).unwrap(), b"tilde\n");
    let out = work.path().join("out");
    let (code, _, err) = run_json(&[
        "-i",
        s(&inv),
        "-a",
        "--rcopy",
        &format!("~/{name}"),
        "--dest",
        s(&out),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(out.join("host0").join(&name)).unwrap(),
        b"tilde\n"
    );
}
