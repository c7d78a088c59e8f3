//! Oracle test: generated configs (fixed seeds) resolved by
//! `netkit_fanout::ssh_config` and by OpenSSH's `ssh -G -F cfg host`; the
//! supported keywords must agree. Skipped when `ssh` is not installed.
//!
//! `SSHCFG_ORACLE_CONFIGS=N` changes the number of configs (default 500);
//! the agreement rate is printed (`--nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use netkit_fanout::ssh_config::SshConfig;
use netkit_testkit::rng::Rng;

const HOSTS: &[&str] = &[
    "web1.invalid",
    "web2.invalid",
    "DB.invalid",
    "10.0.0.5",
    "bastion",
    "x",
    "alice@web1.invalid",
];

fn pattern(r: &mut Rng) -> String {
    let p = r.pick(&[
        "*",
        "web*",
        "web?.invalid",
        "db.invalid",
        "DB.invalid",
        "*.invalid",
        "10.0.0.*",
        "bastion",
        "x",
        "nomatch",
        "w*1*",
    ]);
    if r.below(5) == 0 {
        format!("!{p}")
    } else {
        p.to_owned()
    }
}

fn header(r: &mut Rng) -> String {
    match r.below(10) {
        0..=5 => {
            let n = 1 + r.below(3);
            let pats: Vec<String> = (0..n).map(|_| pattern(r)).collect();
            let comment = if r.below(4) == 0 {
                " # the jump box"
            } else {
                ""
            };
            format!(
                "{} {}{comment}",
                r.pick(&["Host", "host", "HOST"]),
                pats.join(" ")
            )
        }
        _ => {
            let mut crit = Vec::new();
            for _ in 0..1 + r.below(2) {
                let neg = if r.below(4) == 0 { "!" } else { "" };
                crit.push(match r.below(7) {
                    0 => format!(
                        "{neg}host {}",
                        r.pick(&["web*", "*.invalid", "db.invalid,web1*", "10.*"])
                    ),
                    1 => format!(
                        "{neg}originalhost {}",
                        r.pick(&["web1*", "DB*", "x,bastion"])
                    ),
                    2 => format!("{neg}user {}", r.pick(&["alice", "root", "b*"])),
                    3 => format!("{neg}localuser {}", r.pick(&["root", "nobody"])),
                    4 => format!("{neg}final"),
                    5 => format!(
                        "{neg}exec \"{}\"",
                        r.pick(&["true", "false", "test %h = web1.invalid", "test %n = x"])
                    ),
                    _ => format!("{neg}canonical"),
                });
            }
            if r.below(8) == 0 {
                "Match all".to_owned()
            } else {
                format!("Match {}", crit.join(" "))
            }
        }
    }
}

fn sep(r: &mut Rng) -> &'static str {
    r.pick(&[" ", "=", " = ", "\t", "  "])
}

fn option(r: &mut Rng, dir: &Path) -> String {
    let s = sep(r);
    match r.below(16) {
        0 => format!(
            "HostName{s}{}",
            r.pick(&[
                "%h.lab.invalid",
                "127.0.0.1",
                "Real.invalid",
                "\"q.invalid\""
            ])
        ),
        1 => format!("Port{s}{}", r.pick(&["22", "2222", "\"2200\"", "65535"])),
        2 => format!(
            "User{s}{}",
            r.pick(&["alice", "bob", "'carol'", "dave # comment"])
        ),
        3 => format!(
            "IdentityFile{s}{}",
            r.pick(&[
                "~/.ssh/id_%h",
                "/keys/%r@%h",
                "\"/with space/k\"",
                "/k/%u_%d",
                "/k/plain"
            ])
        ),
        4 => format!(
            "ProxyJump{s}{}",
            r.pick(&["none", "j1.invalid", "u@j2.invalid:2222,j3.invalid"])
        ),
        5 => format!("ConnectTimeout{s}{}", r.pick(&["5", "1m5s", "none", "30"])),
        6 => format!(
            "StrictHostKeyChecking{s}{}",
            r.pick(&["yes", "accept-new", "no", "off", "ask", "Yes"])
        ),
        7 => format!(
            "UserKnownHostsFile{s}{}",
            r.pick(&["~/kh1 /kh/%h_%r", "none", "/kh/a /kh/b /kh/c"])
        ),
        8 => format!(
            "GlobalKnownHostsFile{s}{}",
            r.pick(&["/g1 /g2", "none", "~/g"])
        ),
        9 => format!("HostKeyAlias{s}{}", r.pick(&["alias.invalid", "Other"])),
        10 => format!(
            "ProxyCommand{s}{}",
            r.pick(&["ssh -W %h:%p j.invalid", "none", "nc %h %p"])
        ),
        11 => format!("IgnoreUnknown{s}{}", r.pick(&["Bogus*", "useKeychain,Foo"])),
        12 if r.below(3) == 0 => "UseKeychain yes".to_owned(),
        12 => format!("Port{s}2022"),
        13 => format!("ForwardAgent{s}no"),
        14 => {
            let name = format!("inc{}", r.below(3));
            format!("Include {}/{name}*", dir.display())
        }
        _ => "# a comment line".to_owned(),
    }
}

fn config(r: &mut Rng, dir: &Path, lines: usize) -> String {
    let mut out = String::new();
    for _ in 0..lines {
        if r.below(4) == 0 {
            out.push_str(&header(r));
        } else {
            out.push_str("  ");
            out.push_str(&option(r, dir));
        }
        out.push('\n');
    }
    out
}

fn ssh_g(cfg: &Path, host: &str) -> Option<HashMap<String, Vec<String>>> {
    let out = Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(cfg)
        .arg(host)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        let k = k.to_ascii_lowercase();
        if k == "identityfile" {
            map.entry(k).or_default().push(v.to_owned());
        } else {
            map.entry(k).or_insert_with(|| vec![v.to_owned()]);
        }
    }
    Some(map)
}

fn ours(cfg: &Path, host: &str, home: &Path, me: &str) -> Option<HashMap<String, Vec<String>>> {
    let (user, host) = match host.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, host),
    };
    let c = SshConfig::load(cfg)
        .ok()?
        .try_lookup_for(host, user, None)
        .ok()?;
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    let lower = if host.parse::<std::net::IpAddr>().is_ok() {
        host.to_owned()
    } else {
        host.to_ascii_lowercase()
    };
    m.insert("hostname".into(), vec![c.hostname.clone().unwrap_or(lower)]);
    m.insert("port".into(), vec![c.port.unwrap_or(22).to_string()]);
    m.insert(
        "user".into(),
        vec![c.user.clone().unwrap_or_else(|| me.to_owned())],
    );
    m.insert("identityfile".into(), c.identity_file_patterns.clone());
    if let Some(j) = &c.proxy_jump {
        m.insert("proxyjump".into(), vec![j.clone()]);
    }
    if let Some(p) = &c.proxy_command_template {
        m.insert("proxycommand".into(), vec![p.clone()]);
    }
    m.insert(
        "connecttimeout".into(),
        vec![
            c.connect_timeout
                .map(|d| d.as_secs().to_string())
                .unwrap_or_else(|| "none".into()),
        ],
    );
    m.insert(
        "stricthostkeychecking".into(),
        vec![
            c.strict_host_key_checking
                .map(|s| s.ssh_g_word())
                .unwrap_or("ask")
                .to_owned(),
        ],
    );
    let join = |v: &[PathBuf]| {
        v.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    m.insert(
        "userknownhostsfile".into(),
        vec![match &c.user_known_hosts_files {
            Some(v) if v.is_empty() => "none".into(),
            Some(v) => join(v),
            None => format!("{0}/.ssh/known_hosts {0}/.ssh/known_hosts2", home.display()),
        }],
    );
    m.insert(
        "globalknownhostsfile".into(),
        vec![match &c.global_known_hosts_files {
            Some(v) if v.is_empty() => "none".into(),
            Some(v) => join(v),
            None => "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2".into(),
        }],
    );
    if let Some(a) = &c.host_key_alias {
        m.insert("hostkeyalias".into(), vec![a.to_ascii_lowercase()]);
    }
    Some(m)
}

const KEYS: &[&str] = &[
    "hostname",
    "port",
    "user",
    "identityfile",
    "proxyjump",
    "proxycommand",
    "connecttimeout",
    "stricthostkeychecking",
    "userknownhostsfile",
    "globalknownhostsfile",
    "hostkeyalias",
];

#[test]
fn generated_configs_agree_with_ssh_g() {
    if Command::new("ssh").arg("-V").output().is_err() {
        eprintln!("ssh not installed: skipped");
        return;
    }
    let configs: usize = std::env::var("SSHCFG_ORACLE_CONFIGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let home = netkit_fanout::ssh_config::LocalUser::current()
        .map(|u| u.home)
        .unwrap_or_else(|| PathBuf::from("/root"));
    let me = netkit_fanout::ssh_config::LocalUser::current()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".into());
    let defaults: Vec<String> = ssh_g(Path::new("/dev/null"), "x")
        .and_then(|m| m.get("identityfile").cloned())
        .unwrap_or_default();
    let (mut total, mut agree, mut refused_both) = (0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    for seed in 0..configs {
        let mut r =
            Rng(0x9e37_79b9_7f4a_7c15 ^ (seed as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        for i in 0..3 {
            let n = 1 + r.below(5);
            let text = config(&mut r, dir.path(), n);
            std::fs::write(dir.path().join(format!("inc{i}.conf")), text)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let main = dir.path().join("config");
        let n = 3 + r.below(12);
        let text = config(&mut r, dir.path(), n);
        std::fs::write(&main, &text).unwrap_or_else(|e| panic!("{e}"));
        for host in HOSTS {
            total += 1;
            let theirs = ssh_g(&main, host).map(|mut m| {
                if let Some(g) = m.get_mut("globalknownhostsfile") {
                    let expanded: Vec<String> = g[0]
                        .split(' ')
                        .map(|f| {
                            netkit_fanout::ssh_config::expand_tilde(f, Some(&home))
                                .display()
                                .to_string()
                        })
                        .collect();
                    g[0] = expanded.join(" ");
                }
                if m.get("identityfile") == Some(&defaults) {
                    m.insert("identityfile".into(), Vec::new());
                }
                m
            });
            let mine = ours(&main, host, &home, &me);
            let same = match (&theirs, &mine) {
                (None, None) => {
                    refused_both += 1;
                    true
                }
                (Some(t), Some(o)) => KEYS.iter().all(|k| {
                    t.get(*k).cloned().unwrap_or_default() == o.get(*k).cloned().unwrap_or_default()
                }),
                _ => false,
            };
            if same {
                agree += 1;
            } else if misses.len() < 5 {
                let diff: Vec<String> = match (&theirs, &mine) {
                    (Some(t), Some(o)) => KEYS
                        .iter()
                        .filter(|k| {
                            t.get(**k).cloned().unwrap_or_default()
                                != o.get(**k).cloned().unwrap_or_default()
                        })
                        .map(|k| format!("{k}: ssh {:?} ours {:?}", t.get(*k), o.get(*k)))
                        .collect(),
                    (None, _) => vec!["ssh refused, we did not".into()],
                    (_, None) => vec![format!(
                        "we refused: {:?}",
                        SshConfig::load(&main)
                            .and_then(|c| c.try_lookup(host))
                            .err()
                    )],
                };
                let incs: String = (0..3)
                    .map(|i| {
                        std::fs::read_to_string(dir.path().join(format!("inc{i}.conf")))
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join("---\n");
                misses.push(format!(
                    "seed {seed} host {host}: {diff:?}\n{text}--- includes:\n{incs}"
                ));
            }
        }
    }
    let rate = agree as f64 * 100.0 / total as f64;
    eprintln!(
        "ssh -G oracle: {agree}/{total} lookups agree ({rate:.2}%), {refused_both} refused by both; {configs} configs x {} hosts",
        HOSTS.len()
    );
    assert!(misses.is_empty(), "disagreements:\n{}", misses.join("\n"));
}

/// Keywords ssh-fanout reads without acting on them: each value is
/// accepted or refused exactly as `ssh -G` accepts or refuses it.
const IGNORED_KEYWORDS: &[&str] = &[
    "gssapiauthentication",
    "exitonforwardfailure",
    "gatewayports",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "challengeresponseauthentication",
    "pubkeyauthentication",
    "hostbasedauthentication",
    "batchmode",
    "checkhostip",
    "tcpkeepalive",
    "keepalive",
    "clearallforwardings",
    "enablesshkeysign",
    "nohostauthenticationforlocalhost",
    "hashknownhosts",
    "permitlocalcommand",
    "visualhostkey",
    "stdinnull",
    "proxyusefdpass",
    "canonicalizefallbacklocal",
    "streamlocalbindunlink",
    "enableescapecommandline",
    "smartcarddevice",
    "pkcs11provider",
    "forwardagent",
    "xauthlocation",
    "kbdinteractivedevices",
    "preferredauthentications",
    "bindaddress",
    "bindinterface",
    "controlpath",
    "revokedhostkeys",
    "securitykeyprovider",
    "numberofpasswordprompts",
    "serveralivecountmax",
    "canonicalizemaxdots",
    "requiredrsasize",
    "connectionattempts",
    "compression",
    "verifyhostkeydns",
    "updatehostkeys",
    "controlmaster",
    "requesttty",
    "tunnel",
    "addressfamily",
    "fingerprinthash",
    "sessiontype",
    "loglevel",
    "syslogfacility",
    "serveraliveinterval",
    "controlpersist",
    "addkeystoagent",
    "rekeylimit",
    "ciphers",
    "macs",
    "kexalgorithms",
    "hostkeyalgorithms",
    "pubkeyacceptedalgorithms",
    "escapechar",
    "streamlocalbindmask",
    "setenv",
    "sendenv",
    "protocol",
    "cipher",
    "compressionlevel",
    "localcommand",
    "remotecommand",
];

const VALUES: &[&str] = &[
    "yes",
    "No",
    "TRUE",
    "false",
    "ask",
    "auto",
    "always",
    "none",
    "confirm",
    "autoask",
    "maybe",
    "0",
    "1",
    "+5",
    "-1",
    "0022",
    "1h30m",
    "5x",
    "99999999999",
    "2147483647",
    "inet6",
    "force",
    "VERBOSE",
    "local7",
    "sha256",
    "md5",
    "subsystem",
    "ethernet",
    "x",
    "^x",
    "ab",
    "0777",
    "8",
    "aes*",
    "+aes128-ctr",
    "-nope*",
    "a,,b",
    "A=b",
    "A",
    "yes no",
    "1G 1h",
    "1G x",
    "confirm 5m",
    "\"\"",
];

#[test]
fn values_of_keywords_not_acted_on_are_refused_as_ssh_refuses_them() {
    if Command::new("ssh").arg("-V").output().is_err() {
        eprintln!("ssh not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_owned();
    let cases: Vec<(&str, &str)> = IGNORED_KEYWORDS
        .iter()
        .flat_map(|k| VALUES.iter().map(move |v| (*k, *v)))
        // ssh.c refuses these for want of a command (which `ssh -G` lacks),
        // not for the value.
        .filter(|(k, v)| !(*k == "forkafterauthentication" && ["yes", "TRUE"].contains(v)))
        .collect();
    let mismatches = std::sync::Mutex::new(Vec::new());
    let chunks: Vec<&[(&str, &str)]> = cases.chunks(cases.len().div_ceil(4)).collect();
    std::thread::scope(|s| {
        for (n, chunk) in chunks.iter().enumerate() {
            let (home, mismatches) = (&home, &mismatches);
            s.spawn(move || {
                let cfg = home.join(format!("cfg{n}"));
                for (k, v) in chunk.iter() {
                    let text = format!("Host *\n  {k} {v}\n");
                    std::fs::write(&cfg, &text).unwrap();
                    let theirs = Command::new("ssh")
                        .args(["-G", "-F"])
                        .arg(&cfg)
                        .arg("h.invalid")
                        .output()
                        .unwrap()
                        .status
                        .success();
                    let ours = SshConfig::try_parse_with_home(&text, Some(home.clone()))
                        .and_then(|c| c.try_lookup("h.invalid"))
                        .is_ok();
                    if theirs != ours {
                        mismatches
                            .lock()
                            .unwrap()
                            .push(format!("`{k} {v}`: ssh {theirs}, ours {ours}"));
                    }
                }
            });
        }
    });
    let mismatches = mismatches.into_inner().unwrap();
    eprintln!(
        "{} keyword values compared with ssh -G, {} disagree",
        cases.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
