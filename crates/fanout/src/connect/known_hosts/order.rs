//! The host key algorithms to offer a host, as OpenSSH 9.2's
//! `order_hostkeyalgs` (sshconnect2.c) orders its default
//! `HostKeyAlgorithms`, so the server presents a key that is on file.
//!
//! OpenSSH's rule, over the lines of the host's name (`[host]:port` or the
//! alias; the bare-name retry plays no part): if an unmarked ed25519 key is
//! on file (the type of the first default algorithm), the default list is
//! used as is; otherwise the certificate algorithms come first when a
//! `@cert-authority` line matches, then the plain algorithms whose key type
//! is on file, each group in default order, then the rest in default
//! order.
//!
//! A key type is "on file" when the first unmarked line of that type (for
//! ECDSA, of that curve) is not `@revoked` (`lookup_key_in_hostkeys_by_type`).
//!
//! russh advertises every certificate algorithm ahead of every plain one,
//! so one of OpenSSH's orders has no exact equivalent: plain keys on file,
//! none of them ed25519, and no CA line. OpenSSH then offers the
//! certificate and plain algorithms of the types on file, then the other
//! certificate algorithms, then the other plain ones; here the other
//! certificate algorithms are left out. The verdict differs only for a
//! server that presents none of the types on file but holds a certificate
//! of another type: OpenSSH negotiates that certificate, which (with no CA
//! line for `[host]:port`) is *new* rather than changed, so it retries under
//! the bare host name and accepts the certificate or its key if that name
//! trusts them (or refuses a CA `@revoked` there); ssh-fanout gets the plain
//! key, which is *changed* under `[host]:port`, and refuses. The tests
//! (`tests/host_keys.rs`) check that such cases are always refusals here.

use russh::keys::Algorithm;
use russh::keys::ssh_key::{EcdsaCurve, HashAlg};

use super::parse::KeyType;
use super::{HostKeyEntry, Marker};

/// OpenSSH 9.2's default `HostKeyAlgorithms`, restricted to what russh can
/// verify (no security-key types, which no sshd serves as host keys), in
/// order; the certificate list is the same, as `*-cert-v01@openssh.com`.
pub const DEFAULT_HOST_KEY_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// Host key algorithms to offer, most preferred first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostKeyOrder {
    /// Certificate algorithms (russh's `Preferred::host_key_certificates`),
    /// offered ahead of the plain ones.
    pub certificates: Vec<Algorithm>,
    /// Plain algorithms (russh's `Preferred::key`).
    pub keys: Vec<Algorithm>,
}

impl Default for HostKeyOrder {
    fn default() -> Self {
        HostKeyOrder {
            certificates: DEFAULT_HOST_KEY_ALGORITHMS.to_vec(),
            keys: DEFAULT_HOST_KEY_ALGORITHMS.to_vec(),
        }
    }
}

fn key_type(alg: &Algorithm) -> Option<KeyType> {
    Some(match alg {
        Algorithm::Ed25519 => KeyType::Ed25519,
        Algorithm::Ecdsa { curve } => KeyType::Ecdsa(*curve),
        Algorithm::Rsa { .. } => KeyType::Rsa,
        _ => return None,
    })
}

/// The order for a host whose name matches `entries` (all its files).
pub fn host_key_order(entries: &[HostKeyEntry]) -> HostKeyOrder {
    let on_file = |t: KeyType| {
        let first = entries.iter().find(|e| {
            e.marker == Marker::None
                && !e.key.is_certificate()
                && KeyType::of(e.key.key_data()) == Some(t)
        });
        first.is_some_and(|f| {
            !entries
                .iter()
                .any(|r| r.marker == Marker::Revoked && r.key.equals_public(f.key.key_data()))
        })
    };
    if on_file(KeyType::Ed25519) {
        return HostKeyOrder::default();
    }
    let has_ca = entries.iter().any(|e| e.marker == Marker::CertAuthority);
    let (known, other): (Vec<Algorithm>, Vec<Algorithm>) = DEFAULT_HOST_KEY_ALGORITHMS
        .iter()
        .cloned()
        .partition(|a| key_type(a).is_some_and(on_file));
    let certificates = if has_ca || known.is_empty() {
        DEFAULT_HOST_KEY_ALGORITHMS.to_vec()
    } else {
        known.clone()
    };
    HostKeyOrder {
        certificates,
        keys: known.into_iter().chain(other).collect(),
    }
}
