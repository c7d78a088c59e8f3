//! Host-key verdicts against real OpenSSH 9.2 (Debian's `ssh`, `sshd`,
//! `ssh-keygen`), on generated known_hosts files:
//! - lookup: `ssh-keygen -l -F NAME -f FILE` lists the lines `ssh` matches
//!   (markers included); [`KnownHosts::lookup`] must list the same;
//! - verdicts: for each case, a real `ssh -F CFG case true` and one
//!   `ssh-fanout -F CFG` run over every case, against real sshds with ed25519,
//!   ECDSA and RSA host keys and host certificates made with `ssh-keygen -s`;
//!   the verdicts (ok, appended, changed naming the same file:line, new and
//!   refused, revoked) and the known_hosts files afterwards must be equal;
//! - key types: sshd's log shows the algorithm negotiated; `ssh` and
//!   ssh-fanout must negotiate the same one, the type on file.
//!
//! The generator is deterministic (a fixed seed), so a failure names a case
//! that can be replayed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netkit_fanout::known_hosts::{KnownHosts, Marker, hash_name, host_key_order};

use crate::util::*;

/// xorshift64*: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn salt(&mut self) -> [u8; 20] {
        let mut s = [0u8; 20];
        for b in &mut s {
            *b = self.next() as u8;
        }
        s
    }
}

/// Generates a key pair; returns the private key path and the public key
/// as `type base64`.
fn gen_key(dir: &Path, name: &str, kind: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
        .arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let st = cmd.stdin(Stdio::null()).status().expect("ssh-keygen");
    assert!(st.success());
    (path.clone(), public_line(&path.with_extension("pub")))
}

/// `type base64` of a `.pub` file.
fn public_line(pub_file: &Path) -> String {
    let text = std::fs::read_to_string(pub_file).unwrap();
    let mut f = text.split_whitespace();
    format!("{} {}", f.next().unwrap(), f.next().unwrap())
}

/// Runs a command with a deadline; (exit code, stdout, stderr).
fn run_bounded(cmd: &mut Command, limit: Duration) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------
// Lookup: ssh-keygen -F.

/// A random first field, from names, patterns and hashes.
fn name_field(rng: &mut Rng, names: &[&str]) -> String {
    let item = |rng: &mut Rng| -> String {
        let name = (*rng.pick(names)).to_owned();
        match rng.below(12) {
            0..=3 => name,
            4 => name.to_ascii_uppercase(),
            5 => (*rng.pick(&["*.lab", "web?.lab", "w*", "*"])).to_owned(),
            6 => (*rng.pick(&["[127.0.0.1]:*", "127.0.0.*", "[*]:2222", "?"])).to_owned(),
            7 => format!("!{name}"),
            8 => (*rng.pick(&["!*.lab", "!*", "!db*"])).to_owned(),
            9 => String::new(),
            _ => "other.invalid".to_owned(),
        }
    };
    match rng.below(12) {
        0..=2 => item(rng),
        3..=5 => {
            let n = 2 + rng.below(2);
            (0..n).map(|_| item(rng)).collect::<Vec<_>>().join(",")
        }
        6 | 7 => hash_name(rng.pick::<&str>(names), &rng.salt()),
        8 => format!(
            "{},{}",
            hash_name(rng.pick::<&str>(names), &rng.salt()),
            item(rng)
        ),
        9 => format!(
            "{},{}",
            item(rng),
            hash_name(rng.pick::<&str>(names), &rng.salt())
        ),
        // A salt of 5 bytes, a bad magic, a trailing comma.
        10 => (*rng.pick(&[
            "|1|AAAAAAA=|AAAA",
            "|2|AAAAAAAAAAAAAAAAAAAAAAAAAAA=|x",
            "|1|",
        ]))
        .to_owned(),
        _ => format!("{},", item(rng)),
    }
}

/// A random line for [`lookup_matches_ssh_keygen_on_generated_files`].
fn lookup_line(rng: &mut Rng, names: &[&str], keys: &[String]) -> String {
    if rng.chance(8) {
        return (*rng.pick(&["", "# comment", "   ", "\t# indented comment"])).to_owned();
    }
    let marker = match rng.below(30) {
        0..=2 => "@revoked ",
        3..=5 => "@cert-authority ",
        6 => "@bogus ",
        7 => "@revoked @revoked ",
        8 => "@revoked\t",
        _ => "",
    };
    let key = rng.pick(keys).clone();
    let blob = key.split(' ').nth(1).unwrap_or_default().to_owned();
    let key = match rng.below(20) {
        0 => "ssh-ed25519 AAAA".to_owned(),
        1 => format!("ssh-rsa {blob}"),
        2 => String::new(),
        3 => format!("{key} a comment"),
        4 => format!("{key}\r"),
        _ => key,
    };
    let sep = if rng.chance(10) { "\t" } else { " " };
    let lead = if rng.chance(5) { " " } else { "" };
    format!("{lead}{marker}{}{sep}{key}", name_field(rng, names))
}

/// The lines `ssh-keygen -l -F name -f file` reports: (line, marker).
fn ssh_keygen_lookup(file: &Path, name: &str) -> Vec<(usize, Marker)> {
    let (code, out, err) = run_bounded(
        Command::new("ssh-keygen")
            .args(["-l", "-F", name, "-f"])
            .arg(file),
        Duration::from_secs(20),
    );
    assert!(code == 0 || code == 1, "ssh-keygen -F {name}: {code} {err}");
    let head = format!("# Host {name} found: line ");
    out.lines()
        .filter_map(|l| l.strip_prefix(&head))
        .map(|rest| {
            let mut f = rest.split_whitespace();
            let line = f.next().unwrap().parse().unwrap();
            let marker = match f.next() {
                Some("CA") => Marker::CertAuthority,
                Some("REVOKED") => Marker::Revoked,
                _ => Marker::None,
            };
            (line, marker)
        })
        .collect()
}

#[test]
fn lookup_matches_ssh_keygen_on_generated_files() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<String> = [("ed", "ed25519"), ("ec", "ecdsa"), ("rsa", "rsa")]
        .iter()
        .map(|(n, k)| gen_key(dir.path(), n, k).1)
        .collect();
    let names = [
        "web1.lab",
        "[web1.lab]:2222",
        "db.lab",
        "127.0.0.1",
        "[127.0.0.1]:2201",
        "x",
    ];
    let mut rng = Rng(0x5eed_0011);
    let mut compared = 0;
    for f in 0..4 {
        let text: String = (0..70)
            .map(|_| lookup_line(&mut rng, &names, &keys) + "\n")
            .collect();
        let path = dir.path().join(format!("known_hosts{f}"));
        std::fs::write(&path, &text).unwrap();
        let ours = KnownHosts::load(&path).unwrap();
        for name in names {
            let theirs = ssh_keygen_lookup(&path, name);
            let mine: Vec<(usize, Marker)> = ours
                .lookup(name)
                .iter()
                .map(|e| (e.line, e.marker))
                .collect();
            assert_eq!(
                mine,
                theirs,
                "lookup of {name} in {}:\n{text}",
                path.display()
            );
            compared += theirs.len();
        }
    }
    // The generator must produce matches, or the comparison proves little.
    assert!(compared > 100, "only {compared} matching lines");
}

// ---------------------------------------------------------------------------
// Verdicts: a real ssh against real sshds.

/// The keys and certificates of the verdict tests.
struct Keys {
    host_ed: (PathBuf, String),
    host_ec: (PathBuf, String),
    host_rsa: (PathBuf, String),
    other_ed: String,
    other_ec: String,
    ca1: (PathBuf, String),
    ca2: (PathBuf, String),
    client: PathBuf,
}

impl Keys {
    fn generate(dir: &Path) -> Keys {
        let client = gen_key(dir, "client", "ed25519").0;
        Keys {
            host_ed: gen_key(dir, "host_ed", "ed25519"),
            host_ec: gen_key(dir, "host_ec", "ecdsa"),
            host_rsa: gen_key(dir, "host_rsa", "rsa"),
            other_ed: gen_key(dir, "other_ed", "ed25519").1,
            other_ec: gen_key(dir, "other_ec", "ecdsa").1,
            ca1: gen_key(dir, "ca1", "ed25519"),
            ca2: gen_key(dir, "ca2", "ed25519"),
            client,
        }
    }

    /// Signs a copy of `host_key`'s public key: `ssh-keygen -s CA -I id
    /// [-h] [-n principals] -V validity`; returns the certificate file.
    fn certify(
        dir: &Path,
        name: &str,
        host_key: &Path,
        ca: &Path,
        host: bool,
        principals: Option<&str>,
        validity: &str,
    ) -> PathBuf {
        let copy = dir.join(format!("{name}.pub"));
        std::fs::copy(host_key.with_extension("pub"), &copy).unwrap();
        let mut cmd = Command::new("ssh-keygen");
        cmd.arg("-q").arg("-s").arg(ca).args(["-I", name]);
        if host {
            cmd.arg("-h");
        }
        if let Some(p) = principals {
            cmd.args(["-n", p]);
        }
        cmd.args(["-V", validity]).arg(&copy);
        let (code, _, err) = run_bounded(&mut cmd, Duration::from_secs(20));
        assert_eq!(code, 0, "ssh-keygen -s: {err}");
        dir.join(format!("{name}-cert.pub"))
    }
}

/// What a server holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Ed,
    Ec,
    All,
    /// ed25519 key with a host certificate from CA1 for 127.0.0.1 and
    /// alias.invalid.
    CertValid,
    CertExpired,
    /// Principal other.invalid only.
    CertPrincipal,
    /// A user certificate instead of a host certificate.
    CertUser,
    /// Signed by CA2.
    CertOtherCa,
    /// No principals: valid for any name.
    CertAnyName,
    /// ed25519 and ECDSA keys, the ECDSA one certified by CA1.
    EcCert,
}

const SERVERS: [Server; 10] = [
    Server::Ed,
    Server::Ec,
    Server::All,
    Server::CertValid,
    Server::CertExpired,
    Server::CertPrincipal,
    Server::CertUser,
    Server::CertOtherCa,
    Server::CertAnyName,
    Server::EcCert,
];

impl Server {
    fn is_cert(self) -> bool {
        !matches!(self, Server::Ed | Server::Ec | Server::All)
    }

    fn start(self, dir: &Path, keys: &Keys, authorized: &Path) -> Sshd {
        let ed = keys.host_ed.0.clone();
        let ec = keys.host_ec.0.clone();
        let (ca1, ca2) = (&keys.ca1.0, &keys.ca2.0);
        let valid = "-1h:+1h";
        let name = format!("{self:?}");
        let cert = |key: &Path, ca: &Path, host: bool, p: Option<&str>, v: &str| {
            Keys::certify(dir, &format!("{name}_cert"), key, ca, host, p, v)
        };
        let (host_keys, certificate) = match self {
            Server::Ed => (vec![ed], None),
            Server::Ec => (vec![ec], None),
            Server::All => (vec![ed, ec, keys.host_rsa.0.clone()], None),
            Server::CertValid => {
                let c = cert(&ed, ca1, true, Some("127.0.0.1,alias.invalid"), valid);
                (vec![ed], Some(c))
            }
            Server::CertExpired => {
                let c = cert(
                    &ed,
                    ca1,
                    true,
                    Some("127.0.0.1,alias.invalid"),
                    "20200101:20200102",
                );
                (vec![ed], Some(c))
            }
            Server::CertPrincipal => {
                let c = cert(&ed, ca1, true, Some("other.invalid"), valid);
                (vec![ed], Some(c))
            }
            Server::CertUser => {
                let c = cert(&ed, ca1, false, Some("127.0.0.1,alias.invalid"), valid);
                (vec![ed], Some(c))
            }
            Server::CertOtherCa => {
                let c = cert(&ed, ca2, true, Some("127.0.0.1,alias.invalid"), valid);
                (vec![ed], Some(c))
            }
            Server::CertAnyName => {
                let c = cert(&ed, ca1, true, None, valid);
                (vec![ed], Some(c))
            }
            Server::EcCert => {
                let c = cert(&ec, ca1, true, Some("127.0.0.1,alias.invalid"), valid);
                (vec![ed, ec], Some(c))
            }
        };
        let mut extra = "SetEnv SHLVL=1\n".to_owned();
        if let Some(c) = certificate {
            extra.push_str(&format!("HostCertificate {}\n", c.display()));
        }
        custom_sshd(dir, &name, &host_keys, authorized, &extra, None)
    }
}

/// One generated case: a host block of the shared ssh config.
struct Case {
    server: usize,
    port: u16,
    policy: &'static str,
    alias: Option<&'static str>,
    /// `None`: `UserKnownHostsFile none`. Else one or two user files.
    user: Option<Vec<String>>,
    global: String,
}

const ALIAS: &str = "alias.invalid";

impl Case {
    fn generate(rng: &mut Rng, server: usize, port: u16, keys: &Keys) -> Case {
        let kind = SERVERS[server];
        let alias = if rng.chance(15) { Some(ALIAS) } else { None };
        let n1 = format!("[127.0.0.1]:{port}");
        let n0 = "127.0.0.1".to_owned();
        let named = |rng: &mut Rng| -> String {
            match rng.below(24) {
                0..=5 => n1.clone(),
                6..=8 => n0.clone(),
                9 | 10 => ALIAS.to_owned(),
                11 => format!("[{ALIAS}]:{port}"),
                12 => "*".to_owned(),
                13 => "[127.0.0.1]:*".to_owned(),
                14 => "127.0.0.*".to_owned(),
                15 => format!("!{n1},*"),
                16 => format!("other.invalid,{n1}"),
                17 => hash_name(&n1, &rng.salt()),
                18 => hash_name(&n0, &rng.salt()),
                19 => hash_name(ALIAS, &rng.salt()),
                20 => format!("{},other.invalid", hash_name(&n1, &rng.salt())),
                21 => format!("other.invalid,{}", hash_name(&n1, &rng.salt())),
                22 => format!("!{n0},*"),
                _ => "other.invalid".to_owned(),
            }
        };
        let plain = [
            &keys.host_ed.1,
            &keys.host_ec.1,
            &keys.host_rsa.1,
            &keys.other_ed,
            &keys.other_ec,
        ];
        let ca_share = if kind.is_cert() { 45 } else { 10 };
        let line = |rng: &mut Rng| -> String {
            let r = rng.below(100) as u64;
            if r < ca_share {
                let ca = if rng.chance(75) {
                    &keys.ca1.1
                } else {
                    &keys.ca2.1
                };
                format!("@cert-authority {} {ca}\n", named(rng))
            } else if r < ca_share + 12 {
                // Mostly a key the server presents, so revocations bite.
                let own = match kind {
                    Server::Ec => &keys.host_ec.1,
                    k if k.is_cert() && rng.chance(30) => &keys.ca1.1,
                    _ => &keys.host_ed.1,
                };
                let k = if rng.chance(70) {
                    own
                } else {
                    *rng.pick(&plain)
                };
                format!("@revoked {} {k}\n", named(rng))
            } else {
                format!("{} {}\n", named(rng), rng.pick(&plain))
            }
        };
        let file = |rng: &mut Rng, max: usize| -> String {
            let n = rng.below(max + 1);
            (0..n).map(|_| line(rng)).collect()
        };
        let user = match rng.below(20) {
            0 => None,
            1 | 2 => Some(vec![file(rng, 2), file(rng, 2)]),
            _ => Some(vec![file(rng, 3)]),
        };
        Case {
            server,
            port,
            policy: rng.pick::<&str>(&["yes", "accept-new", "no", "ask"]),
            alias,
            user,
            global: file(rng, 2),
        }
    }

    /// Writes this case's files under `dir` and returns its host block.
    fn write(&self, i: usize, dir: &Path, user: &str, client: &Path) -> String {
        let mut block = format!(
            "Host case{i}\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile {}\n  \
             IdentitiesOnly yes\n  BatchMode yes\n  UpdateHostKeys no\n  ConnectTimeout 10\n  \
             LogLevel DEBUG1\n  KexAlgorithms curve25519-sha256\n  StrictHostKeyChecking {}\n",
            self.port,
            client.display(),
            self.policy
        );
        match &self.user {
            None => block.push_str("  UserKnownHostsFile none\n"),
            Some(files) => {
                let paths: Vec<String> = files
                    .iter()
                    .enumerate()
                    .map(|(j, text)| {
                        let p = dir.join(format!("case{i}.user{j}"));
                        std::fs::write(&p, text).unwrap();
                        p.display().to_string()
                    })
                    .collect();
                block.push_str(&format!("  UserKnownHostsFile {}\n", paths.join(" ")));
            }
        }
        let g = dir.join(format!("case{i}.global"));
        std::fs::write(&g, &self.global).unwrap();
        block.push_str(&format!("  GlobalKnownHostsFile {}\n", g.display()));
        if let Some(a) = self.alias {
            block.push_str(&format!("  HostKeyAlias {a}\n"));
        }
        block
    }

    fn describe(&self) -> String {
        format!(
            "server {:?} port {} StrictHostKeyChecking {} alias {:?}\nuser files {:?}\nglobal {:?}",
            SERVERS[self.server], self.port, self.policy, self.alias, self.user, self.global
        )
    }
}

/// A verdict, as both tools report it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Connected; known_hosts untouched.
    Ok,
    /// Connected and recorded the key.
    Appended,
    /// Changed, naming this `file:line` (file name only).
    Changed(String),
    Revoked,
    /// New and refused.
    Refused,
    /// Anything else: the message.
    Other(String),
}

/// The `file:line` (file name only) of an "Offending TYPE key in PATH:LINE"
/// (ssh) or "offending TYPE key in PATH:LINE" (ssh-fanout) message.
fn offending(message: &str) -> Option<String> {
    let at = message
        .find("Offending ")
        .or_else(|| message.find("offending "))?;
    let rest = &message[at..];
    let rest = &rest[rest.find(" key in ")? + " key in ".len()..];
    let loc = rest.split_whitespace().next()?;
    let (path, line) = loc.rsplit_once(':')?;
    let file = Path::new(path).file_name()?.to_string_lossy().into_owned();
    Some(format!("{file}:{line}"))
}

/// `ssh`'s verdict from its exit code, stderr and whether it wrote.
fn ssh_outcome(code: i32, err: &str, wrote: bool) -> Outcome {
    if err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        // Under `StrictHostKeyChecking no` ssh warns and connects anyway.
        return Outcome::Changed(offending(err).unwrap_or_default());
    }
    if err.contains("REVOKED HOST KEY DETECTED") {
        return Outcome::Revoked;
    }
    match (code, wrote) {
        (0, true) => Outcome::Appended,
        (0, false) => Outcome::Ok,
        (255, false) if err.contains("Host key verification failed") => Outcome::Refused,
        _ => Outcome::Other(format!("exit {code}: {err}")),
    }
}

/// ssh-fanout's verdict from its JSON result and whether it wrote.
fn fanout_outcome(result: &serde_json::Value, wrote: bool) -> Outcome {
    let message = result["error"]["message"].as_str().unwrap_or_default();
    match (result["status"].as_str(), result["error"]["kind"].as_str()) {
        (Some("ok"), _) if wrote => Outcome::Appended,
        (Some("ok"), _) => Outcome::Ok,
        (_, Some("host_key_changed")) if message.starts_with("REVOKED") => Outcome::Revoked,
        (_, Some("host_key_changed")) if message.contains("HAS CHANGED") => {
            Outcome::Changed(offending(message).unwrap_or_default())
        }
        (_, Some("host_key_unknown")) => Outcome::Refused,
        _ => Outcome::Other(result.to_string()),
    }
}

fn read_all(dir: &Path, i: usize, case: &Case) -> Vec<String> {
    let n = case.user.as_ref().map_or(0, Vec::len);
    (0..n)
        .map(|j| std::fs::read_to_string(dir.join(format!("case{i}.user{j}"))).unwrap_or_default())
        .chain(std::iter::once(
            std::fs::read_to_string(dir.join(format!("case{i}.global"))).unwrap(),
        ))
        .collect()
}

/// The certificate algorithms ssh-fanout offers for `case` (its
/// `host_key_order` over the case's files in `dir`).
fn offered_certificates(dir: &Path, i: usize, case: &Case) -> Vec<String> {
    let n = case.user.as_ref().map_or(0, Vec::len);
    let files: Vec<KnownHosts> = (0..n)
        .map(|j| dir.join(format!("case{i}.user{j}")))
        .chain(std::iter::once(dir.join(format!("case{i}.global"))))
        .map(|p| KnownHosts::load(p).unwrap())
        .collect();
    let name = case
        .alias
        .map_or_else(|| format!("[127.0.0.1]:{}", case.port), str::to_owned);
    let entries: Vec<_> = files.iter().flat_map(|f| f.lookup(&name)).collect();
    host_key_order(&entries)
        .certificates
        .iter()
        .map(|a| a.to_certificate_type())
        .collect()
}

/// The host key algorithm `ssh` negotiated (from its `LogLevel DEBUG1`).
fn ssh_kex_algorithm(err: &str) -> String {
    err.lines()
        .filter_map(|l| l.split("kex: host key algorithm: ").nth(1))
        .next_back()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn verdicts_match_real_ssh_on_generated_known_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::generate(dir.path());
    let authorized = keys.client.with_extension("pub");
    let sshds: Vec<Sshd> = SERVERS
        .iter()
        .map(|s| s.start(dir.path(), &keys, &authorized))
        .collect();
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    let mut rng = Rng(0x0b5e_55ed_0011);
    let per_server = 9;
    let cases: Vec<Case> = (0..SERVERS.len() * per_server)
        .map(|i| {
            let s = i % SERVERS.len();
            Case::generate(&mut rng, s, sshds[s].port, &keys)
        })
        .collect();
    // The same cases, in two directories: one for ssh, one for ssh-fanout.
    let (ssh_dir, fanout_dir) = (dir.path().join("ssh"), dir.path().join("fanout"));
    let mut configs = Vec::new();
    for d in [&ssh_dir, &fanout_dir] {
        std::fs::create_dir_all(d).unwrap();
        let text: String = cases
            .iter()
            .enumerate()
            .map(|(i, c)| c.write(i, d, &user, &keys.client))
            .collect();
        let cfg = d.join("ssh_config");
        std::fs::write(&cfg, text).unwrap();
        configs.push(cfg);
    }
    let before: Vec<Vec<String>> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| read_all(&ssh_dir, i, c))
        .collect();

    // ssh, four at a time.
    let ssh_results: Vec<(i32, String)> = std::thread::scope(|scope| {
        let chunks: Vec<Vec<usize>> = (0..4)
            .map(|t| (0..cases.len()).filter(|i| i % 4 == t).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|idx| {
                let cfg = &configs[0];
                scope.spawn(move || {
                    idx.into_iter()
                        .map(|i| {
                            let (code, _, err) = run_bounded(
                                Command::new("ssh")
                                    .arg("-F")
                                    .arg(cfg)
                                    .arg(format!("case{i}"))
                                    .arg("true")
                                    .env_remove("SSH_AUTH_SOCK"),
                                Duration::from_secs(60),
                            );
                            (i, code, err)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, i32, String)> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_by_key(|r| r.0);
        all.into_iter().map(|(_, c, e)| (c, e)).collect()
    });

    // ssh-fanout, once over every case.
    let inventory = dir.path().join("empty.toml");
    std::fs::write(&inventory, "[defaults]\n").unwrap();
    let hosts = format!("case[0-{}]", cases.len() - 1);
    let (_, out, err) = run_bin(
        &[
            "-F",
            configs[1].to_str().unwrap(),
            "-i",
            inventory.to_str().unwrap(),
            "-w",
            &hosts,
            "--json",
            "-f",
            "16",
            "true",
        ],
        None,
    );
    let records = json_lines(&out);

    let mut seen = std::collections::BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        let (code, ssh_err) = &ssh_results[i];
        let ssh_after = read_all(&ssh_dir, i, case);
        let fanout_after = read_all(&fanout_dir, i, case);
        let theirs = ssh_outcome(*code, ssh_err, ssh_after != before[i]);
        let result = result_of(&records, &format!("case{i}"));
        let ours = fanout_outcome(result, fanout_after != before[i]);
        let context = format!(
            "case{i}: {}\nssh: {theirs:?}\n{ssh_err}\nssh-fanout: {ours:?}\n{result}\n{err}",
            case.describe()
        );
        assert!(!matches!(theirs, Outcome::Other(_)), "{context}");
        let negotiated = ssh_kex_algorithm(ssh_err);
        if negotiated.contains("-cert-v01@")
            && !offered_certificates(&fanout_dir, i, case).contains(&negotiated)
            && ours != theirs
        {
            // The one order russh cannot express (see known_hosts/order.rs):
            // ssh negotiated a certificate ssh-fanout does not offer, so
            // the two checked different keys. ssh-fanout's verdict is then
            // a refusal where ssh may accept.
            assert!(
                matches!(ours, Outcome::Changed(_) | Outcome::Refused),
                "{context}"
            );
            assert_eq!(fanout_after, before[i], "{context}");
            *seen.entry("unofferable certificate").or_insert(0) += 1;
            continue;
        }
        assert_eq!(ours, theirs, "{context}");
        if theirs == Outcome::Revoked && ssh_after != before[i] {
            // The one deliberate difference: OpenSSH 9.2 records a key that
            // is @revoked under the bare host name (the `[host]:port` lookup
            // was new; sshconnect.c falls through after ROQUIET). ssh-fanout
            // refuses it and writes nothing.
            assert_eq!(fanout_after, before[i], "{context}");
        } else {
            assert_eq!(
                fanout_after, ssh_after,
                "known_hosts files after, {context}"
            );
        }
        let label = match &theirs {
            Outcome::Changed(_) => "changed",
            o => match o {
                Outcome::Ok => "ok",
                Outcome::Appended => "appended",
                Outcome::Revoked => "revoked",
                _ => "refused",
            },
        };
        *seen.entry(label).or_insert(0) += 1;
    }
    eprintln!("verdicts: {seen:?}");
    // Every verdict must occur, or the generator proves little.
    for label in ["ok", "appended", "changed", "revoked", "refused"] {
        assert!(seen.get(label).copied().unwrap_or(0) >= 3, "{seen:?}");
    }
    drop(sshds);
}

// ---------------------------------------------------------------------------
// Key types: sshd's log.

/// The host key algorithm of the last key exchange in sshd's log.
fn last_kex_algorithm(log: &Path, from: usize) -> (String, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let alg = text[from.min(text.len())..]
        .lines()
        .filter_map(|l| l.split("kex: host key algorithm: ").nth(1))
        .next_back()
        .map(|a| a.split_whitespace().next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (alg, text.len())
}

#[test]
fn sshd_log_shows_the_known_key_type_negotiated() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::generate(dir.path());
    let log = dir.path().join("sshd.log");
    let sshd = custom_sshd(
        dir.path(),
        "three_keys",
        &[
            keys.host_ed.0.clone(),
            keys.host_ec.0.clone(),
            keys.host_rsa.0.clone(),
        ],
        &keys.client.with_extension("pub"),
        "SetEnv SHLVL=1\n",
        Some(&log),
    );
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    let n1 = format!("[127.0.0.1]:{}", sshd.port);
    let (ed, ec, rsa, ca) = (
        &keys.host_ed.1,
        &keys.host_ec.1,
        &keys.host_rsa.1,
        &keys.ca1.1,
    );
    // (known_hosts, the algorithm OpenSSH's order_hostkeyalgs leads to)
    let scenarios = [
        (format!("{n1} {ed}\n"), "ssh-ed25519"),
        (format!("{n1} {ec}\n"), "ecdsa-sha2-nistp256"),
        (format!("{n1} {rsa}\n"), "rsa-sha2-512"),
        (format!("{n1} {rsa}\n{n1} {ec}\n"), "ecdsa-sha2-nistp256"),
        (String::new(), "ssh-ed25519"),
        (format!("@cert-authority * {ca}\n"), "ssh-ed25519"),
        (
            format!("@cert-authority * {ca}\n{n1} {rsa}\n"),
            "rsa-sha2-512",
        ),
        // The order looks at [host]:port lines only, not the bare name.
        (format!("127.0.0.1 {ec}\n"), "ssh-ed25519"),
        // A type whose first key is revoked is not preferred.
        (format!("{n1} {ec}\n@revoked * {ec}\n"), "ssh-ed25519"),
    ];
    let inventory = dir.path().join("empty.toml");
    std::fs::write(&inventory, "[defaults]\n").unwrap();
    let mut offset = 0;
    for (i, (known, expected)) in scenarios.iter().enumerate() {
        let kh = dir.path().join(format!("kh{i}"));
        let cfg = dir.path().join(format!("cfg{i}"));
        std::fs::write(
            &cfg,
            format!(
                "Host s\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile {}\n  \
                 IdentitiesOnly yes\n  BatchMode yes\n  UpdateHostKeys no\n  \
                 KexAlgorithms curve25519-sha256\n  StrictHostKeyChecking no\n  \
                 UserKnownHostsFile {}\n  GlobalKnownHostsFile none\n",
                sshd.port,
                keys.client.display(),
                kh.display()
            ),
        )
        .unwrap();
        std::fs::write(&kh, known).unwrap();
        run_bounded(
            Command::new("ssh")
                .arg("-F")
                .arg(&cfg)
                .args(["s", "true"])
                .env_remove("SSH_AUTH_SOCK"),
            Duration::from_secs(60),
        );
        let (theirs, at) = last_kex_algorithm(&log, offset);
        std::fs::write(&kh, known).unwrap();
        run_bin(
            &[
                "-F",
                cfg.to_str().unwrap(),
                "-i",
                inventory.to_str().unwrap(),
                "-w",
                "s",
                "-q",
                "true",
            ],
            None,
        );
        let (ours, at) = last_kex_algorithm(&log, at);
        offset = at;
        assert_eq!(theirs, *expected, "ssh, known_hosts:\n{known}");
        assert_eq!(ours, theirs, "ssh-fanout vs ssh, known_hosts:\n{known}");
    }
}
