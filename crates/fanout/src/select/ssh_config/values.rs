//! The values of the keywords ssh-fanout accepts without acting on them,
//! checked as OpenSSH 9.2's readconf.c (and ssh.c, for the few it checks
//! after reading) checks them, so a config `ssh` refuses is refused here too,
//! naming `file:line`. Compared with `ssh -G` in `tests/ssh_config_oracle.rs`.
//!
//! Checked: yes/no flags and the multi-state keywords, integers, times,
//! one-argument keywords, the algorithm lists (by prefix form only), the
//! escape character, the socket mask and `SetEnv`. Not checked (accepted
//! as `ssh` may accept them): forwarding specs, `IPQoS`, `RekeyLimit`'s
//! size, `CanonicalizePermittedCNAMEs`, and the algorithm names themselves,
//! which depend on how `ssh` was built.

use super::eval::convtime;

/// Checks `words`, the arguments of `keyword` (lowercase). `Err` is
/// OpenSSH's message.
pub fn check(keyword: &str, words: &[String]) -> Result<(), String> {
    let Some(class) = class_of(keyword) else {
        return Ok(());
    };
    if class == Class::Any {
        return Ok(());
    }
    let first = match words {
        [] => return Err(format!("no argument after keyword \"{keyword}\"")),
        [a, ..] if a.is_empty() => return Err(format!("no argument after keyword \"{keyword}\"")),
        [a, ..] => a.as_str(),
    };
    let extra = || Err(format!("keyword {keyword} extra arguments at end of line"));
    let lower = first.to_ascii_lowercase();
    let one_of = |allowed: &[&str]| -> Result<(), String> {
        if allowed.contains(&lower.as_str()) {
            Ok(())
        } else {
            Err(format!("unsupported option \"{first}\""))
        }
    };
    let flag = ["yes", "no", "true", "false"];
    match class {
        Class::Any => Ok(()),
        Class::Several => Ok(()),
        Class::Sendenv => match words.iter().find(|w| w.contains('=')) {
            Some(w) => Err(format!("Invalid environment name in SendEnv: {w}")),
            None => Ok(()),
        },
        Class::Setenv => match words.iter().find(|w| !w.contains('=')) {
            Some(_) => Err("Invalid SetEnv.".to_owned()),
            None => Ok(()),
        },
        _ if words.len() > 1 && class != Class::RekeyLimit && class != Class::AddKeys => extra(),
        Class::One => Ok(()),
        Class::Flag => one_of(&flag),
        Class::Enum(values) => one_of(values),
        Class::Int { min } => match int(first) {
            Some(n) if n >= min => Ok(()),
            Some(n) => Err(format!("invalid {keyword} value {n}")),
            None => Err(format!("invalid integer value \"{first}\"")),
        },
        Class::TimeOrNone => {
            if lower == "none" || convtime(first).is_some() {
                Ok(())
            } else {
                Err("invalid time value.".to_owned())
            }
        }
        Class::FlagOrTime => {
            // ControlPersist compares its flags case-sensitively (strcmp).
            if flag.contains(&first) || convtime(first).is_some() {
                Ok(())
            } else {
                Err(format!("Bad {keyword} argument."))
            }
        }
        Class::AddKeys => {
            let l = lower.as_str();
            let mut ok = words.len() <= 2
                && (["yes", "no", "true", "false", "ask", "confirm"].contains(&l)
                    || convtime(first).is_some());
            if let Some(time) = words.get(1) {
                ok &= convtime(time).is_some();
            }
            if ok {
                Ok(())
            } else {
                Err(format!("unsupported option \"{first}\""))
            }
        }
        Class::RekeyLimit if lower != "default" && !rekey_size_ok(first) => {
            Err(format!("Bad RekeyLimit '{first}'"))
        }
        Class::RekeyLimit => match words.get(1) {
            Some(t) if words.len() == 2 => {
                if t.eq_ignore_ascii_case("none") || convtime(t).is_some() {
                    Ok(())
                } else {
                    Err("invalid time value.".to_owned())
                }
            }
            Some(_) => extra(),
            None => Ok(()),
        },
        // A `-` list removes patterns and is not checked; otherwise every
        // name must be known (no wildcards), as `ciphers_valid` and friends.
        Class::Algorithms(known) => {
            let list = first.strip_prefix(['+', '^']).unwrap_or(first);
            if first.starts_with('-') || list.split(',').all(|a| known.contains(&a)) {
                Ok(())
            } else {
                Err(format!("Bad SSH2 algorithm spec '{first}'."))
            }
        }
        Class::EscapeChar => {
            let ok = lower == "none"
                || first.chars().count() == 1
                || (first.len() == 2 && first.starts_with('^'));
            if ok {
                Ok(())
            } else {
                Err("Bad escape character.".to_owned())
            }
        }
        // strtol(arg, &end, 8): the leading octal digits count, the rest
        // is not looked at.
        Class::Mask => {
            let digits: String = first
                .strip_prefix('+')
                .unwrap_or(first)
                .chars()
                .take_while(|c| ('0'..='7').contains(c))
                .collect();
            match u32::from_str_radix(&digits, 8) {
                Ok(m) if m <= 0o777 => Ok(()),
                _ => Err("Bad mask.".to_owned()),
            }
        }
    }
}

/// `scan_scaled` (`1G`, `512M`, `1.5K`, bytes) and then RekeyLimit's
/// rule: 0 (no limit) or at least 16 bytes.
fn rekey_size_ok(s: &str) -> bool {
    let (number, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], Some(c.to_ascii_uppercase())),
        _ => (s, None),
    };
    let scale: f64 = match unit {
        None | Some('B') => 1.0,
        Some('K') => 1024.0,
        Some('M') => 1024f64.powi(2),
        Some('G') => 1024f64.powi(3),
        Some('T') => 1024f64.powi(4),
        Some('P') => 1024f64.powi(5),
        Some('E') => 1024f64.powi(6),
        Some(_) => return false,
    };
    let (int_part, frac) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return false;
    }
    match number.parse::<f64>() {
        Ok(v) => {
            let bytes = v * scale;
            bytes == 0.0 || (16.0..9.2e18).contains(&bytes)
        }
        Err(_) => false,
    }
}

/// An integer as readconf.c reads one (`strtonum`): optional sign,
/// decimal digits, within `int`.
fn int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>()
        .ok()
        .filter(|n| (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(n))
}

// The algorithm names of Debian's OpenSSH 9.2 (`ssh -Q cipher`, `mac`,
// `kex`, `key-sig`).
const CIPHERS: &[&str] = &[
    "3des-cbc",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
];
const MACS: &[&str] = &[
    "hmac-sha1",
    "hmac-sha1-96",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-md5",
    "hmac-md5-96",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha1-96-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-md5-etm@openssh.com",
    "hmac-md5-96-etm@openssh.com",
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
];
const KEX: &[&str] = &[
    "diffie-hellman-group1-sha1",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group-exchange-sha256",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
];
const KEY_SIG: &[&str] = &[
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
    "ssh-dss-cert-v01@openssh.com",
    "ssh-rsa",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-512-cert-v01@openssh.com",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Anything (deprecated keywords, commands, lists ssh parses later).
    Any,
    /// One or more words, not checked.
    Several,
    /// Exactly one argument.
    One,
    /// yes/no/true/false.
    Flag,
    /// One of these, case-insensitive.
    Enum(&'static [&'static str]),
    /// An integer of at least `min`.
    Int { min: i64 },
    /// A time (`1h30m`) or `none`.
    TimeOrNone,
    /// A flag or a time.
    FlagOrTime,
    /// `AddKeysToAgent`: a flag, `ask` or `confirm`, and a time.
    AddKeys,
    /// `RekeyLimit SIZE [TIME]`.
    RekeyLimit,
    /// An algorithm list (`+`, `-`, `^` prefixes) of these names.
    Algorithms(&'static [&'static str]),
    /// `EscapeChar`.
    EscapeChar,
    /// An octal mask.
    Mask,
    /// `SetEnv VAR=value ...`.
    Setenv,
    /// `SendEnv NAME ...`: names without `=`.
    Sendenv,
}

fn class_of(keyword: &str) -> Option<Class> {
    use Class::*;
    const LOG_LEVELS: &[&str] = &[
        "quiet", "fatal", "error", "info", "verbose", "debug", "debug1", "debug2", "debug3",
    ];
    const FACILITIES: &[&str] = &[
        "daemon", "user", "auth", "authpriv", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];
    Some(match keyword {
        "gssapiauthentication"
        | "gssapidelegatecredentials"
        | "exitonforwardfailure"
        | "gatewayports"
        | "passwordauthentication"
        | "kbdinteractiveauthentication"
        | "challengeresponseauthentication"
        | "skeyauthentication"
        | "tisauthentication"
        | "pubkeyauthentication"
        | "dsaauthentication"
        | "hostbasedauthentication"
        | "batchmode"
        | "checkhostip"
        | "tcpkeepalive"
        | "keepalive"
        | "clearallforwardings"
        | "enablesshkeysign"
        | "nohostauthenticationforlocalhost"
        | "hashknownhosts"
        | "permitlocalcommand"
        | "visualhostkey"
        | "stdinnull"
        | "proxyusefdpass"
        | "canonicalizefallbacklocal"
        | "streamlocalbindunlink"
        | "enableescapecommandline"
        | "forkafterauthentication" => Flag,
        "smartcarddevice"
        | "pkcs11provider"
        | "forwardagent"
        | "xauthlocation"
        | "kbdinteractivedevices"
        | "identityfile2"
        | "preferredauthentications"
        | "bindaddress"
        | "bindinterface"
        | "controlpath"
        | "revokedhostkeys"
        | "securitykeyprovider" => One,
        "numberofpasswordprompts"
        | "serveralivecountmax"
        | "canonicalizemaxdots"
        | "requiredrsasize" => Int { min: 0 },
        "connectionattempts" => Int { min: 1 },
        "compression" => Enum(&["yes", "no"]),
        "verifyhostkeydns" | "updatehostkeys" => Enum(&["yes", "no", "true", "false", "ask"]),
        "controlmaster" => Enum(&["yes", "no", "true", "false", "ask", "auto", "autoask"]),
        "requesttty" => Enum(&["yes", "no", "true", "false", "auto", "force"]),
        "tunnel" => Enum(&["yes", "no", "true", "false", "point-to-point", "ethernet"]),
        "addressfamily" => Enum(&["inet", "inet6", "any"]),
        "fingerprinthash" => Enum(&["sha256", "md5"]),
        "sessiontype" => Enum(&["none", "default", "subsystem"]),
        "loglevel" => Enum(LOG_LEVELS),
        "syslogfacility" => Enum(FACILITIES),
        "serveraliveinterval" => TimeOrNone,
        "controlpersist" => FlagOrTime,
        "addkeystoagent" => AddKeys,
        "rekeylimit" => RekeyLimit,
        "ciphers" => Algorithms(CIPHERS),
        "macs" => Algorithms(MACS),
        "kexalgorithms" => Algorithms(KEX),
        "hostkeyalgorithms"
        | "casignaturealgorithms"
        | "hostbasedacceptedalgorithms"
        | "hostbasedkeytypes"
        | "pubkeyacceptedalgorithms"
        | "pubkeyacceptedkeytypes" => Algorithms(KEY_SIG),
        "escapechar" => EscapeChar,
        "streamlocalbindmask" => Mask,
        "setenv" => Setenv,
        "localforward"
        | "remoteforward"
        | "dynamicforward"
        | "permitremoteopen"
        | "tunneldevice"
        | "ipqos"
        | "canonicaldomains"
        | "canonicalizepermittedcnames" => Several,
        "sendenv" => Sendenv,
        _ => Any,
    })
}
