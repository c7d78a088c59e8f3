//! Unit tests of the known_hosts module. The verdicts are also compared
//! with real OpenSSH (`ssh-keygen -F`, `ssh` against `sshd`) in
//! `tests/host_keys.rs`; these cover the library API, the append path and
//! the cases that need no OpenSSH.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use russh::keys::PrivateKey;
use russh::keys::ssh_key::Certificate;
use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::public::KeyData;

use super::*;

fn key(seed: u8) -> KeyData {
    PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
        .public_key()
        .key_data()
        .clone()
}

fn openssh(k: &KeyData) -> String {
    russh::keys::PublicKey::new(k.clone(), "")
        .to_openssh()
        .unwrap()
}

const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGZRwyWC9fbXbfLKZ9GUf/KHYHrrFuSICeQZddKEKKpsPjMW+9pbe3evxKPFP6hwX/VXqytopuCYc9+1r8evwpk=";

fn kh(text: &str) -> KnownHosts {
    KnownHosts::parse(text, Path::new("/kh"))
}

fn lines(k: &KnownHosts, name: &str) -> Vec<usize> {
    k.lookup(name).iter().map(|e| e.line).collect()
}

/// The verdict of `presented` for `host:port` over `files`.
fn verdict(files: &[&KnownHosts], host: &str, port: u16, presented: Presented<'_>) -> Verdict {
    let q = HostQuery {
        host,
        port,
        alias: None,
        can_record: true,
        now: 1_000_000,
    };
    let mut lookup = |name: &str| {
        Ok::<_, ()>(
            files
                .iter()
                .flat_map(|f| f.lookup(name))
                .collect::<Vec<_>>(),
        )
    };
    verify(&mut lookup, &q, presented).unwrap()
}

fn is_known(v: &Verdict) -> bool {
    matches!(v, Verdict::Known { .. })
}

fn changed_line(v: &Verdict) -> Option<usize> {
    match v {
        Verdict::Changed { entry, .. } => Some(entry.line),
        _ => None,
    }
}

#[test]
fn plain_comma_lists_and_ports() {
    let (a, b) = (key(1), key(2));
    let k = kh(&format!(
        "# comment\n\nalpha,beta {}\n[alpha]:2200 {}\n",
        openssh(&a),
        openssh(&b)
    ));
    assert_eq!(lines(&k, "alpha"), [3]);
    assert_eq!(lines(&k, "BETA"), [3]);
    assert_eq!(lines(&k, "[alpha]:2200"), [4]);
    assert!(lines(&k, "gamma").is_empty());
    assert!(is_known(&verdict(&[&k], "alpha", 22, Presented::Key(&a))));
    assert!(is_known(&verdict(&[&k], "alpha", 2200, Presented::Key(&b))));
    // Another key for [alpha]:2200: changed, line 4 (comments count).
    assert_eq!(
        changed_line(&verdict(&[&k], "alpha", 2200, Presented::Key(&a))),
        Some(4)
    );
    assert_eq!(
        changed_line(&verdict(&[&k], "beta", 22, Presented::Key(&b))),
        Some(3)
    );
}

#[test]
fn a_key_of_another_type_is_changed_not_new() {
    // The issue's case: [127.0.0.1]:2201 known with ed25519, the server
    // now offers only ECDSA.
    let ed = key(10);
    let k = kh(&format!("[127.0.0.1]:2201 {}\n", openssh(&ed)));
    let ecdsa = russh::keys::PublicKey::from_openssh(ECDSA).unwrap();
    let v = verdict(&[&k], "127.0.0.1", 2201, Presented::Key(ecdsa.key_data()));
    assert_eq!(changed_line(&v), Some(1), "{v:?}");
    let Verdict::Changed { entry, .. } = &v else {
        unreachable!()
    };
    assert_eq!(entry.key.type_name(), "ED25519");
}

#[test]
fn offending_line_is_the_last_other_key_across_files() {
    let (a, b, c, d) = (key(1), key(2), key(3), key(4));
    let user = KnownHosts::parse(
        &format!("h {}\nh {}\n", openssh(&a), openssh(&b)),
        Path::new("/user"),
    );
    let global = KnownHosts::parse(
        &format!("x {}\nh {}\n", openssh(&a), openssh(&c)),
        Path::new("/global"),
    );
    let v = verdict(&[&user, &global], "h", 22, Presented::Key(&d));
    let Verdict::Changed { entry, name, .. } = v else {
        panic!("{v:?}")
    };
    assert_eq!((entry.path.as_ref(), entry.line), (Path::new("/global"), 2));
    assert_eq!(name, "h");
    // A match anywhere wins over other keys.
    assert!(is_known(&verdict(
        &[&user, &global],
        "h",
        22,
        Presented::Key(&c)
    )));
}

#[test]
fn bare_name_retry_accepts_only_a_known_key() {
    let (a, b) = (key(1), key(2));
    let k = kh(&format!("127.0.0.1 {}\n", openssh(&a)));
    // Known under the bare name: accepted, nothing to record.
    assert!(is_known(&verdict(
        &[&k],
        "127.0.0.1",
        2201,
        Presented::Key(&a)
    )));
    // Another key under the bare name: new under [host]:port (OpenSSH's
    // quiet retry ignores "changed").
    match verdict(&[&k], "127.0.0.1", 2201, Presented::Key(&b)) {
        Verdict::New {
            name, unrecordable, ..
        } => {
            assert_eq!(name, "[127.0.0.1]:2201");
            assert_eq!(unrecordable, None);
        }
        v => panic!("{v:?}"),
    }
    // Port 22 has no retry; the bare name is the name.
    assert_eq!(
        changed_line(&verdict(&[&k], "127.0.0.1", 22, Presented::Key(&b))),
        Some(1)
    );
}

#[test]
fn revoked_wins_even_in_the_bare_name_retry() {
    let a = key(1);
    let k = kh(&format!("h {}\n@revoked h {}\n", openssh(&a), openssh(&a)));
    assert!(matches!(
        verdict(&[&k], "h", 22, Presented::Key(&a)),
        Verdict::Revoked { entry, .. } if entry.line == 2
    ));
    // Revoked under the bare name only: refused (OpenSSH 9.2 would record
    // it under [h]:2201; see the module docs).
    let k = kh(&format!("@revoked h {}\n", openssh(&a)));
    assert!(matches!(
        verdict(&[&k], "h", 2201, Presented::Key(&a)),
        Verdict::Revoked { name, .. } if name == "h"
    ));
}

#[test]
fn unrecordable_names_and_no_user_file() {
    let a = key(1);
    let empty = kh("");
    let q = |host, can_record| HostQuery {
        host,
        port: 22,
        alias: None,
        can_record,
        now: 0,
    };
    let mut lookup = |name: &str| Ok::<_, ()>(empty.lookup(name));
    for (host, can_record) in [("we*rd", true), ("h", false)] {
        match verify(&mut lookup, &q(host, can_record), Presented::Key(&a)).unwrap() {
            Verdict::New { unrecordable, .. } => assert!(unrecordable.is_some(), "{host}"),
            v => panic!("{v:?}"),
        }
    }
}

#[test]
fn alias_replaces_the_name_and_has_no_retry() {
    let (a, b) = (key(1), key(2));
    let k = kh(&format!(
        "web.lab {}\n127.0.0.1 {}\n",
        openssh(&a),
        openssh(&b)
    ));
    let q = HostQuery {
        host: "127.0.0.1",
        port: 2201,
        alias: Some("web.lab"),
        can_record: true,
        now: 0,
    };
    let mut lookup = |name: &str| Ok::<_, ()>(k.lookup(name));
    assert!(is_known(
        &verify(&mut lookup, &q, Presented::Key(&a)).unwrap()
    ));
    let v = verify(&mut lookup, &q, Presented::Key(&b)).unwrap();
    assert_eq!(changed_line(&v), Some(1), "{v:?}");
}

#[test]
fn hashed_names_match_whole_fields_only() {
    let a = key(3);
    let h1 = hash_name("[127.0.0.1]:2222", b"0123456789abcdefghij");
    let h2 = hash_name("h", b"saltsaltsaltsaltsalt");
    let text = format!(
        "{h1} {k}\n{h2} {k}\nother,{h2} {k}\n{h2},other {k}\n",
        k = openssh(&a)
    );
    let k = kh(&text);
    assert_eq!(lines(&k, "[127.0.0.1]:2222"), [1]);
    assert_eq!(
        lines(&k, "h"),
        [2],
        "a hash inside a comma list matches nothing"
    );
    assert_eq!(lines(&k, "other"), [3]);
    assert!(lines(&k, "H").is_empty(), "hashes are of the name as given");
}

#[test]
fn hashed_entries_from_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    let a = key(5);
    std::fs::write(
        &path,
        format!("[127.0.0.1]:2201 {}\nplain {}\n", openssh(&a), openssh(&a)),
    )
    .unwrap();
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen (openssh-client) must be installed");
    assert!(status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    assert!(!text.contains("127.0.0.1"));
    let k = KnownHosts::load(&path).unwrap();
    assert_eq!(lines(&k, "[127.0.0.1]:2201"), [1]);
    assert_eq!(lines(&k, "plain"), [2]);
}

#[test]
fn wildcards_negation_and_markers() {
    let (a, b) = (key(7), key(8));
    let text = format!(
        "*.lab,!bad.lab {a}\n\
         @cert-authority *.lab {b}\n\
         garbage line\n\
         h ssh-ed25519 not-base64!!\n\
         @weird h {a}\n\
         @revoked * {b}\n\
         h {a}\n",
        a = openssh(&a),
        b = openssh(&b)
    );
    let k = kh(&text);
    assert_eq!(lines(&k, "x.lab"), [1, 2, 6]);
    // Line 2 has no negation: `*.lab` selects bad.lab there.
    assert_eq!(lines(&k, "bad.lab"), [2, 6]);
    assert_eq!(lines(&k, "h"), [6, 7]);
    let markers: Vec<Marker> = k.lookup("x.lab").iter().map(|e| e.marker).collect();
    assert_eq!(
        markers,
        [Marker::None, Marker::CertAuthority, Marker::Revoked]
    );
    // A CA key is not a host key.
    assert_eq!(
        changed_line(&verdict(&[&k], "x.lab", 22, Presented::Key(&b))),
        None
    );
}

#[test]
fn key_types_must_match_their_names() {
    let a = key(9);
    let blob = openssh(&a);
    let blob = blob.split(' ').nth(1).unwrap();
    let k = kh(&format!(
        "h1 ssh-rsa {blob}\nh2 ssh-ed25519 {blob} comment\nh3 ssh-ed25519\nh4 ssh-ed25519 {blob}\r\n#h5 ssh-ed25519 {blob}\n h6\tssh-ed25519 \t{blob}\n"
    ));
    assert!(lines(&k, "h1").is_empty());
    assert_eq!(lines(&k, "h2"), [2]);
    assert!(lines(&k, "h3").is_empty());
    assert_eq!(lines(&k, "h4"), [4], "CR is whitespace inside base64");
    assert!(lines(&k, "#h5").is_empty());
    assert_eq!(lines(&k, "h6"), [6]);
}

#[test]
fn order_prefers_types_on_file() {
    let ed = key(1);
    let ecdsa = russh::keys::PublicKey::from_openssh(ECDSA).unwrap();
    let ecdsa = openssh(ecdsa.key_data());
    let k = kh(&format!(
        "e {ecdsa}\ned {}\n@cert-authority ca {ecdsa}\nca2 {ecdsa}\n@cert-authority ca2 {ecdsa}\n",
        openssh(&ed)
    ));
    let order = |name: &str| host_key_order(&k.lookup(name));
    assert_eq!(order("nothing"), HostKeyOrder::default());
    assert_eq!(order("ed"), HostKeyOrder::default());
    let e = order("e");
    // OpenSSH puts the certificate algorithms of the types on file first
    // too; only the other certificate algorithms cannot be offered.
    assert_eq!(e.certificates.len(), 1, "{e:?}");
    assert_eq!(e.certificates[0].as_str(), "ecdsa-sha2-nistp256");
    assert_eq!(e.keys[0].as_str(), "ecdsa-sha2-nistp256");
    assert_eq!(e.keys[1].as_str(), "ssh-ed25519");
    assert_eq!(e.keys.len(), 6);
    let ca = order("ca");
    assert_eq!(ca, HostKeyOrder::default(), "CA only: certificates first");
    let ca2 = order("ca2");
    assert_eq!(ca2.certificates.len(), 6);
    assert_eq!(ca2.keys[0].as_str(), "ecdsa-sha2-nistp256");
    // A type whose first key on file is revoked is not on file
    // (`lookup_key_in_hostkeys_by_type`).
    let r = kh(&format!("r {ecdsa}\n@revoked * {ecdsa}\n"));
    assert_eq!(host_key_order(&r.lookup("r")), HostKeyOrder::default());
}

#[test]
fn append_creates_private_file_and_keeps_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("known_hosts");
    let (a, b) = (key(11), key(12));
    let set = KnownHosts::load(&path).unwrap();
    assert_eq!(
        set.append("[127.0.0.1]:2200", &a).unwrap(),
        Appended::Written(1)
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dmode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dmode, 0o700);
    // A file without a trailing newline keeps its last line intact.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("# no newline");
    std::fs::write(&path, &text).unwrap();
    let set = KnownHosts::load(&path).unwrap();
    assert_eq!(set.append("H", &b).unwrap(), Appended::Written(3));
    // Appending the same key again is a no-op.
    assert_eq!(set.append("h", &b).unwrap(), Appended::AlreadyThere(3));
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        after,
        format!(
            "[127.0.0.1]:2200 {}\n# no newline\nh {}\n",
            openssh(&a),
            openssh(&b)
        ),
        "names are written lowercased, keys without comment"
    );
    assert_eq!(lines(&set, "h"), [3]);
    assert_eq!(lines(&KnownHosts::load(&path).unwrap(), "h"), [3]);
}

#[test]
fn concurrent_appends_do_not_tear_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    let threads: Vec<_> = (0..8u8)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                KnownHosts::load(&path)
                    .unwrap()
                    .append(&format!("[h{i}]:2200"), &key(20 + i))
                    .unwrap()
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let k = KnownHosts::load(&path).unwrap();
    for i in 0..8u8 {
        let v = verdict(&[&k], &format!("h{i}"), 2200, Presented::Key(&key(20 + i)));
        assert!(is_known(&v), "{v:?}");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 8);
}

#[test]
fn append_refuses_when_another_writer_recorded_a_different_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    let stale = KnownHosts::load(&path).unwrap(); // loaded while empty
    KnownHosts::load(&path)
        .unwrap()
        .append("[h]:2200", &key(30))
        .unwrap(); // someone else records a key
    let err = stale.append("[h]:2200", &key(31)).unwrap_err();
    assert!(
        matches!(err, KnownHostsError::Conflict { line: 1, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[test]
fn two_writers_interleave_without_duplicates_or_lost_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    let one = KnownHosts::load(&path).unwrap();
    let two = KnownHosts::load(&path).unwrap();
    let name = |i: u8| format!("[h{i}]:2200");
    for i in 0..20u8 {
        let writer = if i % 3 == 0 { &two } else { &one };
        writer.append(&name(i), &key(50 + i)).unwrap();
        // The other writer's host, already on disk: no second line.
        if i > 0 {
            one.append(&name(i - 1), &key(50 + i - 1)).unwrap();
        }
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 20, "{text}");
    // Each writer caught up with the other's lines when it appended.
    assert_eq!(lines(&one, &name(18)), [19]);
    assert_eq!(lines(&two, &name(17)), [18]);
    assert_eq!(lines(&KnownHosts::load(&path).unwrap(), &name(7)), [8]);
}

#[test]
fn appends_in_one_process_keep_the_file_and_memory_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    std::fs::write(&path, "# comment without newline").unwrap();
    let set = std::sync::Arc::new(KnownHosts::load(&path).unwrap());
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let set = set.clone();
            std::thread::spawn(move || {
                for i in 0..25u8 {
                    let n = t * 25 + i;
                    set.append(&format!("[h{n}]:2200"), &key(n)).unwrap();
                    set.append(&format!("[h{n}]:2200"), &key(n)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 101, "{text}");
    assert!(text.starts_with("# comment without newline\n["));
    let fresh = KnownHosts::load(&path).unwrap();
    for n in 0..100u8 {
        let name = format!("[h{n}]:2200");
        assert_eq!(
            lines(&set, &name),
            lines(&fresh, &name),
            "memory and disk agree"
        );
        assert_eq!(lines(&fresh, &name).len(), 1);
    }
}

#[test]
fn missing_file_is_empty_and_unreadable_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        KnownHosts::load(dir.path().join("none"))
            .unwrap()
            .lookup("h")
            .is_empty()
    );
    // A directory cannot be read as a file.
    assert!(matches!(
        KnownHosts::load(dir.path()),
        Err(KnownHostsError::Io { .. })
    ));
}

#[test]
fn changed_message_names_the_offending_line() {
    let a = key(13);
    let k = KnownHosts::parse(
        &format!("# c\n[127.0.0.1]:2200 {}\n", openssh(&key(14))),
        Path::new("/home/u/.ssh/known_hosts"),
    );
    let v = verdict(&[&k], "127.0.0.1", 2200, Presented::Key(&a));
    let err = HostKeyChanged::from_verdict(&v, Presented::Key(&a)).unwrap();
    let one = err.to_string();
    assert!(
        one.contains("REMOTE HOST IDENTIFICATION HAS CHANGED for [127.0.0.1]:2200"),
        "{one}"
    );
    assert!(one.contains("man-in-the-middle"));
    assert!(
        one.contains("offending ED25519 key in /home/u/.ssh/known_hosts:2"),
        "{one}"
    );
    assert!(one.contains("SHA256:"));
    assert!(!one.contains('\n'));
    let banner = err.banner();
    assert!(banner.contains("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @"));
    assert!(banner.contains("Offending ED25519 key in /home/u/.ssh/known_hosts:2"));
    let known = verdict(&[&k], "127.0.0.1", 2200, Presented::Key(&key(14)));
    assert!(HostKeyChanged::from_verdict(&known, Presented::Key(&a)).is_none());
    let _ = PathBuf::new();
}

// ---------------------------------------------------------------------------
// Host certificates (`sshkey_cert_check_host`, and the drop to the plain key).

const NOW: u64 = 1_800_000_000;

fn private(seed: u8) -> PrivateKey {
    PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
}

fn line(seed: u8) -> String {
    private(seed).public_key().to_openssh().unwrap()
}

/// Files named by path, in order (user files first).
fn files(texts: &[(&str, &str)]) -> Vec<std::sync::Arc<KnownHosts>> {
    texts
        .iter()
        .map(|(path, text)| std::sync::Arc::new(KnownHosts::parse(text, Path::new(path))))
        .collect()
}

fn query(port: u16) -> HostQuery<'static> {
    HostQuery {
        host: "Web.Lab",
        port,
        alias: None,
        can_record: true,
        now: NOW,
    }
}

/// (verdict kind, file:line of the entry it names).
fn check(texts: &[(&str, &str)], q: &HostQuery<'_>, p: Presented<'_>) -> (String, String) {
    let v = verify_files(&files(texts), q, p);
    let (kind, entry) = match &v {
        Verdict::Known { entry, .. } => ("known", Some(entry)),
        Verdict::Changed { entry, .. } => ("changed", Some(entry)),
        Verdict::Revoked { entry, .. } => ("revoked", Some(entry)),
        Verdict::New {
            unrecordable: None, ..
        } => ("new", None),
        Verdict::New { .. } => ("new-unrecordable", None),
        Verdict::InvalidCertificate => ("invalid-cert", None),
    };
    (
        kind.to_owned(),
        entry.map_or_else(|| "-".to_owned(), |e| e.location()),
    )
}

fn pair(k: &str, at: &str) -> (String, String) {
    (k.to_owned(), at.to_owned())
}

fn cert(
    ca: u8,
    host_key: u8,
    cert_type: CertType,
    principals: &[&str],
    valid: (u64, u64),
) -> Certificate {
    let mut b = Builder::new([7u8; 16], key(host_key), valid.0, valid.1).unwrap();
    b.cert_type(cert_type).unwrap();
    b.key_id("test").unwrap();
    if principals.is_empty() {
        b.all_principals_valid().unwrap();
    }
    for p in principals {
        b.valid_principal(*p).unwrap();
    }
    b.sign(&private(ca)).unwrap()
}

#[test]
fn host_certificates() {
    let ca = line(50);
    let plain = line(1);
    let ca_file = format!("@cert-authority *.lab {ca}\n");
    let window = (NOW - 60, NOW + 60);
    let good = cert(50, 1, CertType::Host, &["web.lab"], window);
    let files_ca = [("/u1", ca_file.as_str())];
    assert_eq!(
        check(&files_ca, &query(2201), Presented::Certificate(&good)),
        pair("known", "/u1:1")
    );
    // No principals: any name.
    let any = cert(50, 1, CertType::Host, &[], window);
    assert_eq!(
        check(&files_ca, &query(22), Presented::Certificate(&any)).0,
        "known"
    );
    // Each failure drops to the plain key, which is new here...
    for bad in [
        cert(50, 1, CertType::Host, &["web.lab"], (NOW - 60, NOW - 1)),
        cert(50, 1, CertType::Host, &["other.lab"], window),
        cert(50, 1, CertType::User, &["web.lab"], window),
        cert(51, 1, CertType::Host, &["web.lab"], window),
    ] {
        let v = verify_files(&files(&files_ca), &query(22), Presented::Certificate(&bad));
        assert!(
            matches!(
                &v,
                Verdict::New {
                    unrecordable: None,
                    certificate_problem: Some(_),
                    ..
                }
            ),
            "{v:?}"
        );
    }
    // ...and known when the plain key is on file.
    let both = format!("{ca_file}web.lab {plain}\n");
    let expired = cert(50, 1, CertType::Host, &["web.lab"], (0, 1));
    assert_eq!(
        check(
            &[("/u1", &both)],
            &query(22),
            Presented::Certificate(&expired)
        ),
        pair("known", "/u1:2")
    );
    // A plain key of a host covered only by a CA line is new.
    assert_eq!(
        check(&files_ca, &query(22), Presented::Key(&key(1))).0,
        "new"
    );
    // A revoked CA revokes its certificates.
    let revoked = format!("{ca_file}@revoked * {ca}\n");
    assert_eq!(
        check(
            &[("/u1", &revoked)],
            &query(22),
            Presented::Certificate(&good)
        ),
        pair("revoked", "/u1:2")
    );
    // The principal is the alias when there is one.
    let aliased = cert(50, 1, CertType::Host, &["alias.lab"], window);
    let q = HostQuery {
        alias: Some("alias.lab"),
        ..query(2201)
    };
    assert_eq!(
        check(&files_ca, &q, Presented::Certificate(&aliased)).0,
        "known"
    );
    // A forged signature fails outright.
    let mut bytes = good.to_bytes().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let forged = Certificate::from_bytes(&bytes).unwrap();
    assert_eq!(
        check(&files_ca, &query(22), Presented::Certificate(&forged)).0,
        "invalid-cert"
    );
}
