//! Host certificate checks, as OpenSSH 9.2 makes them: the CA signature
//! when the certificate is received (`sshkey.c` `cert_parse`), then
//! `sshkey_cert_check_host` once a `@cert-authority` line lists its CA.

use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::{Algorithm, Certificate, HashAlg};

/// Whether the certificate's signature verifies against the CA key it
/// names. OpenSSH rejects a certificate that fails this while parsing it,
/// before any known_hosts lookup, so the connection fails.
pub fn certificate_signature_ok(cert: &Certificate) -> bool {
    cert.verify_signature().is_ok()
}

/// `sshkey_cert_check_host(cert, name, wildcard_principals = 0,
/// CASignatureAlgorithms = default)` at unix time `now`: a host
/// certificate, valid now, for `name` (exact match) unless it lists no
/// principals, without critical options, signed with an allowed
/// algorithm. The error is OpenSSH's reason.
pub fn check_host_certificate(
    cert: &Certificate,
    name: &str,
    now: u64,
) -> Result<(), &'static str> {
    if cert.cert_type() != CertType::Host {
        return Err("Certificate invalid: not a host certificate");
    }
    if now < cert.valid_after() {
        return Err("Certificate invalid: not yet valid");
    }
    if now >= cert.valid_before() {
        return Err("Certificate invalid: expired");
    }
    let principals = cert.valid_principals();
    if !principals.is_empty() && !principals.iter().any(|p| p == name) {
        return Err("Certificate invalid: name is not a listed principal");
    }
    if !cert.critical_options().is_empty() {
        return Err("Certificate contains unsupported critical options");
    }
    if !ca_signature_allowed(&cert.signature().algorithm()) {
        return Err("Certificate signed with disallowed algorithm");
    }
    Ok(())
}

/// The default `CASignatureAlgorithms` of OpenSSH 9.2: `ssh-ed25519`,
/// `ecdsa-sha2-nistp256/384/521`, `sk-ssh-ed25519@openssh.com`,
/// `sk-ecdsa-sha2-nistp256@openssh.com`, `rsa-sha2-512`, `rsa-sha2-256`
/// (not `ssh-rsa`, not `ssh-dss`).
fn ca_signature_allowed(alg: &Algorithm) -> bool {
    match alg {
        Algorithm::Ed25519
        | Algorithm::Ecdsa { .. }
        | Algorithm::SkEd25519
        | Algorithm::SkEcdsaSha2NistP256 => true,
        Algorithm::Rsa { hash } => matches!(hash, Some(HashAlg::Sha256 | HashAlg::Sha512)),
        _ => false,
    }
}
