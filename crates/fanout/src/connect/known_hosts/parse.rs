//! One known_hosts line, read as OpenSSH 9.2 reads it (`hostfile.c`
//! `hostkeys_foreach_file`, `check_markers`; `sshkey.c` `sshkey_read`;
//! `match.c` `match_hostname`), and the host-name matching of its first
//! field.
//!
//! A line is skipped (never fatal) exactly when OpenSSH skips it: a blank or
//! `#` line; a bad marker (unknown, two markers, no blank after it); a
//! hashed field that is not `|1|base64(20-byte salt)|…`; no key after the
//! names; a key type OpenSSH does not know; a blob that is not base64, does
//! not decode, has trailing bytes, is not of the type named before it (or
//! of its curve), or is an RSA key under 1024 or over 16384 bits.

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::{Algorithm, Certificate, EcdsaCurve};
use sha1::Sha1;

use super::{KnownKey, Marker};
use crate::wildcard::{MAX_SUBPATTERN, Match, match_pattern_list};

/// `HASH_MAGIC` in `hostfile.h`.
const HASH_MAGIC: &[u8] = b"|1|";

/// A parsed, valid line.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    pub marker: Marker,
    pub names: HostNames,
    pub key: KnownKey,
}

/// The first field of a line.
#[derive(Clone, Debug)]
pub(crate) enum HostNames {
    /// The field starts with `|`: the whole field is one hashed name,
    /// `|1|salt|hash`. A comma list that starts with a hashed name matches
    /// nothing, as in OpenSSH (the field is compared as a whole).
    Hashed { salt: [u8; 20], field: Box<[u8]> },
    /// A comma-separated list of patterns (`*`, `?`, `!negation`), matched
    /// case-insensitively. A `|1|…` item later in the list is a literal
    /// pattern, which matches nothing.
    Patterns(Box<[u8]>),
}

/// The kind of key a type name announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyType {
    Ed25519,
    SkEd25519,
    Ecdsa(EcdsaCurve),
    SkEcdsa,
    Dsa,
    Rsa,
}

/// Every type name `sshkey_read` accepts (`keyimpls[]` of a Debian build:
/// OpenSSL, ECC, security keys; no XMSS), with whether it is a certificate.
const KEY_NAMES: &[(&str, KeyType, bool)] = &[
    ("ssh-ed25519", KeyType::Ed25519, false),
    ("ssh-ed25519-cert-v01@openssh.com", KeyType::Ed25519, true),
    ("sk-ssh-ed25519@openssh.com", KeyType::SkEd25519, false),
    (
        "sk-ssh-ed25519-cert-v01@openssh.com",
        KeyType::SkEd25519,
        true,
    ),
    (
        "ecdsa-sha2-nistp256",
        KeyType::Ecdsa(EcdsaCurve::NistP256),
        false,
    ),
    (
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        KeyType::Ecdsa(EcdsaCurve::NistP256),
        true,
    ),
    (
        "ecdsa-sha2-nistp384",
        KeyType::Ecdsa(EcdsaCurve::NistP384),
        false,
    ),
    (
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        KeyType::Ecdsa(EcdsaCurve::NistP384),
        true,
    ),
    (
        "ecdsa-sha2-nistp521",
        KeyType::Ecdsa(EcdsaCurve::NistP521),
        false,
    ),
    (
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        KeyType::Ecdsa(EcdsaCurve::NistP521),
        true,
    ),
    (
        "sk-ecdsa-sha2-nistp256@openssh.com",
        KeyType::SkEcdsa,
        false,
    ),
    (
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        KeyType::SkEcdsa,
        true,
    ),
    (
        "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
        KeyType::SkEcdsa,
        false,
    ),
    ("ssh-dss", KeyType::Dsa, false),
    ("ssh-dss-cert-v01@openssh.com", KeyType::Dsa, true),
    ("ssh-rsa", KeyType::Rsa, false),
    ("ssh-rsa-cert-v01@openssh.com", KeyType::Rsa, true),
    ("rsa-sha2-256", KeyType::Rsa, false),
    ("rsa-sha2-256-cert-v01@openssh.com", KeyType::Rsa, true),
    ("rsa-sha2-512", KeyType::Rsa, false),
    ("rsa-sha2-512-cert-v01@openssh.com", KeyType::Rsa, true),
];

impl KeyType {
    /// The type of plain key data, if OpenSSH knows it.
    pub(crate) fn of(key: &KeyData) -> Option<KeyType> {
        Some(match key.algorithm() {
            Algorithm::Ed25519 => KeyType::Ed25519,
            Algorithm::SkEd25519 => KeyType::SkEd25519,
            Algorithm::Ecdsa { curve } => KeyType::Ecdsa(curve),
            Algorithm::SkEcdsaSha2NistP256 => KeyType::SkEcdsa,
            Algorithm::Dsa => KeyType::Dsa,
            Algorithm::Rsa { .. } => KeyType::Rsa,
            _ => return None,
        })
    }

    /// OpenSSH's `sshkey_type()` short name (`ED25519`, `ECDSA`, `RSA`, ...).
    pub(crate) fn short_name(self, certificate: bool) -> &'static str {
        match (self, certificate) {
            (KeyType::Ed25519, false) => "ED25519",
            (KeyType::Ed25519, true) => "ED25519-CERT",
            (KeyType::SkEd25519, false) => "ED25519-SK",
            (KeyType::SkEd25519, true) => "ED25519-SK-CERT",
            (KeyType::Ecdsa(_), false) => "ECDSA",
            (KeyType::Ecdsa(_), true) => "ECDSA-CERT",
            (KeyType::SkEcdsa, false) => "ECDSA-SK",
            (KeyType::SkEcdsa, true) => "ECDSA-SK-CERT",
            (KeyType::Dsa, false) => "DSA",
            (KeyType::Dsa, true) => "DSA-CERT",
            (KeyType::Rsa, false) => "RSA",
            (KeyType::Rsa, true) => "RSA-CERT",
        }
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn skip_blanks(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_blank(b)).count();
    s.get(n..).unwrap_or_default()
}

/// Splits at the first blank: (token, rest starting at the blank).
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|&&b| !is_blank(b)).count();
    s.split_at(n)
}

/// Why a line is skipped (for the debug log).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Blank or comment: not an entry, not an error.
    Comment,
    BadMarker,
    BadHash,
    NoKey,
    BadKey,
}

/// Parses one line (without its `\n`).
pub(crate) fn parse_line(raw: &[u8]) -> Result<Line, Skip> {
    let cp = skip_blanks(raw);
    if cp.is_empty() || cp[0] == b'#' {
        return Err(Skip::Comment);
    }
    let (marker, cp) = markers(cp)?;
    let (field, rest) = token(cp);
    let names = if field.first() == Some(&b'|') {
        HostNames::Hashed {
            salt: extract_salt(field).ok_or(Skip::BadHash)?,
            field: field.into(),
        }
    } else {
        HostNames::Patterns(field.into())
    };
    let rest = skip_blanks(rest);
    if rest.is_empty() || rest[0] == b'#' {
        return Err(Skip::NoKey);
    }
    let key = read_key(rest).ok_or(Skip::BadKey)?;
    Ok(Line { marker, names, key })
}

/// `check_markers`: at most one `@cert-authority` or `@revoked`, ended by
/// the first space of the rest of the line (else its first tab).
fn markers(mut cp: &[u8]) -> Result<(Marker, &[u8]), Skip> {
    let mut marker = Marker::None;
    while cp.first() == Some(&b'@') {
        if marker != Marker::None {
            return Err(Skip::BadMarker);
        }
        let end = cp
            .iter()
            .position(|&b| b == b' ')
            .or_else(|| cp.iter().position(|&b| b == b'\t'))
            .ok_or(Skip::BadMarker)?;
        if end <= 1 || end >= 32 {
            return Err(Skip::BadMarker);
        }
        marker = match &cp[..end] {
            b"@cert-authority" => Marker::CertAuthority,
            b"@revoked" => Marker::Revoked,
            _ => return Err(Skip::BadMarker),
        };
        cp = skip_blanks(&cp[end..]);
    }
    Ok((marker, cp))
}

/// `extract_salt`: `|1|` then a base64 salt of exactly 20 bytes before the
/// next `|`.
fn extract_salt(field: &[u8]) -> Option<[u8; 20]> {
    let rest = field.strip_prefix(HASH_MAGIC)?;
    let end = rest.iter().position(|&b| b == b'|')?;
    if end == 0 || end > 1024 {
        return None;
    }
    let salt = b64_decode(&rest[..end])?;
    salt.try_into().ok()
}

/// `b64_pton` as `sshbuf_b64tod` uses it: whitespace is ignored, padding
/// and zero trailing bits are required.
fn b64_decode(text: &[u8]) -> Option<Vec<u8>> {
    // C `isspace`: space, \t, \n, \v, \f, \r.
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    if text.iter().any(space) {
        let clean: Vec<u8> = text.iter().copied().filter(|b| !space(b)).collect();
        return BASE64.decode(&clean).ok();
    }
    BASE64.decode(text).ok()
}

/// `sshkey_read`: `type blob [comment]`.
fn read_key(cp: &[u8]) -> Option<KnownKey> {
    let (name, rest) = token(cp);
    if rest.is_empty() {
        return None; // no blank after the type
    }
    let &(_, expected, certificate) = KEY_NAMES.iter().find(|(n, ..)| n.as_bytes() == name)?;
    let rest = skip_blanks(rest);
    if rest.is_empty() {
        return None;
    }
    let (blob, _comment) = token(rest);
    let blob = b64_decode(blob)?;
    let data = if certificate {
        let cert = Certificate::from_bytes(&blob).ok()?;
        // `cert_parse` verifies the CA signature of a certificate line.
        cert.verify_signature().ok()?;
        cert.public_key().clone()
    } else {
        let key = russh::keys::PublicKey::from_bytes(&blob).ok()?;
        if key.key_data().is_certificate() {
            return None;
        }
        key.key_data().clone()
    };
    if KeyType::of(&data)? != expected || !plausible(&data) {
        return None;
    }
    Some(KnownKey { data, certificate })
}

/// What OpenSSH's deserialisers check beyond the encoding: RSA modulus
/// size (`sshkey_check_rsa_length`, `SSHBUF_MAX_BIGNUM`) and uncompressed
/// EC points (`sshbuf_get_ec`).
fn plausible(key: &KeyData) -> bool {
    match key {
        KeyData::Rsa(rsa) => {
            let bits = rsa.n().as_positive_bytes().map_or(0, |b| {
                let lead = b.first().map_or(0, |f| 8 - f.leading_zeros() as usize);
                b.len().saturating_sub(1) * 8 + lead
            });
            (1024..=16384).contains(&bits)
        }
        KeyData::Ecdsa(ec) => ec.as_sec1_bytes().first() == Some(&0x04),
        _ => true,
    }
}

impl HostNames {
    /// `match_maybe_hashed(name, field) == 1`. `name` is used as given for
    /// hashes (OpenSSH passes it lowercased, except a `HostKeyAlias`) and
    /// lowercased for patterns.
    pub(crate) fn matches(&self, name: &str) -> bool {
        match self {
            HostNames::Hashed { salt, field } => hash_name(name, salt).as_bytes() == &field[..],
            HostNames::Patterns(list) => {
                match_pattern_list(name.to_ascii_lowercase().as_bytes(), list, true)
                    == Match::Positive
            }
        }
    }

    /// The lowercase names of a field that holds only plain names (no
    /// hash, glob or negation): such an entry matches exactly these.
    pub(crate) fn plain_names(&self) -> Option<Vec<String>> {
        let HostNames::Patterns(list) = self else {
            return None;
        };
        if list.iter().any(|b| matches!(b, b'*' | b'?' | b'!')) {
            return None;
        }
        if list.is_empty() {
            return Some(Vec::new());
        }
        let mut out = Vec::new();
        for item in list.split(|&b| b == b',') {
            if item.len() >= MAX_SUBPATTERN {
                return None;
            }
            out.push(String::from_utf8_lossy(&item.to_ascii_lowercase()).into_owned());
        }
        // `a,` ends the list at the comma: no empty last item.
        if list.last() == Some(&b',') {
            out.pop();
        }
        Some(out)
    }
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as `ssh-keygen -H` and
/// `HashKnownHosts yes` write it.
pub fn hash_name(name: &str, salt: &[u8]) -> String {
    let digest = match Hmac::<Sha1>::new_from_slice(salt) {
        Ok(mac) => mac
            .chain_update(name.as_bytes())
            .finalize()
            .into_bytes()
            .to_vec(),
        Err(_) => Vec::new(),
    };
    format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(&digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_follow_check_markers() {
        assert_eq!(markers(b"@revoked h").map(|m| m.0), Ok(Marker::Revoked));
        assert_eq!(
            markers(b"@cert-authority\th k").map(|m| m.0),
            Err(Skip::BadMarker),
            "the first space, not the tab, ends the marker"
        );
        assert_eq!(
            markers(b"@revoked @revoked h").map(|m| m.0),
            Err(Skip::BadMarker)
        );
        assert_eq!(markers(b"@ h").map(|m| m.0), Err(Skip::BadMarker));
        assert_eq!(markers(b"@other h").map(|m| m.0), Err(Skip::BadMarker));
    }

    #[test]
    fn salts_must_be_twenty_bytes() {
        let good = hash_name("h", &[7; 20]);
        assert!(extract_salt(good.as_bytes()).is_some());
        let short = hash_name("h", &[7; 19]);
        assert!(extract_salt(short.as_bytes()).is_none());
        assert!(extract_salt(b"|2|abc|def").is_none());
        assert!(extract_salt(b"|1||def").is_none());
    }

    #[test]
    fn plain_names_index_only_plain_fields() {
        let names = |f: &str| HostNames::Patterns(f.as_bytes().into()).plain_names();
        assert_eq!(names("A,b,"), Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(names("*.lab"), None);
        assert_eq!(names("a,!b"), None);
    }
}
