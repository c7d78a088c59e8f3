//! The host-key verdict of OpenSSH 9.2's `check_host_key` (sshconnect.c)
//! over `check_hostkeys_by_key_or_type` (hostfile.c), without the parts
//! that depend on the policy: [`verify`] says whether the key is known,
//! new (and whether it could be recorded), changed or revoked; the policy
//! (`strict` refuses new keys, `accept-new` records them) is applied by the
//! caller.
//!
//! The walk, as in OpenSSH (`StrictHostKeyChecking` other than `off`,
//! `CheckHostIP no`, no `KnownHostsCommand`):
//! 1. Look the name up (`HostKeyAlias`, else `host` or `[host]:port`) in
//!    every file, user files first.
//! 2. A certificate is checked against the `@cert-authority` lines, a
//!    plain key against the unmarked lines (first holding it: known; else
//!    any line: changed, naming the last; else new), then against the
//!    `@revoked` lines.
//! 3. Known certificate: [`check_host_certificate`]; a failure drops to 5.
//! 4. New, with a port other than 22 and no alias: check again under the
//!    bare host, read-only and quiet; known there means accepted.
//! 5. Any failure with a certificate (other than revoked): drop the
//!    certificate and start again at 2 with its plain key.

use std::fmt;
use std::path::PathBuf;

use russh::keys::HashAlg;
use russh::keys::ssh_key::Certificate;
use russh::keys::ssh_key::public::KeyData;

use super::cert::{certificate_signature_ok, check_host_certificate};
use super::{HostKeyEntry, Marker, host_key_name};

/// What the server presented.
#[derive(Clone, Copy, Debug)]
pub enum Presented<'a> {
    /// A plain host key.
    Key(&'a KeyData),
    /// A host certificate.
    Certificate(&'a Certificate),
}

impl<'a> Presented<'a> {
    /// The plain key (for a certificate, the key it certifies).
    pub fn key_data(&self) -> &'a KeyData {
        match *self {
            Presented::Key(k) => k,
            Presented::Certificate(c) => c.public_key(),
        }
    }

    /// SHA256 fingerprint of the plain key.
    pub fn fingerprint(&self) -> String {
        self.key_data().fingerprint(HashAlg::Sha256).to_string()
    }

    /// The algorithm of the plain key, e.g. `ssh-ed25519`.
    pub fn algorithm(&self) -> String {
        self.key_data().algorithm().as_str().to_owned()
    }

    fn is_certificate(&self) -> bool {
        matches!(self, Presented::Certificate(_))
    }
}

/// The host being verified.
#[derive(Clone, Copy, Debug)]
pub struct HostQuery<'a> {
    /// The host connected to (`HostName`), any case.
    pub host: &'a str,
    /// Its port.
    pub port: u16,
    /// `HostKeyAlias`: looked up (and recorded) instead of the host, never
    /// with a port, and checked against certificate principals.
    pub alias: Option<&'a str>,
    /// Whether the host has a user known_hosts file to record new keys in.
    pub can_record: bool,
    /// Unix time, for certificate validity.
    pub now: u64,
}

/// The verdict on a presented host key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The key (or a valid certificate from a listed CA) is on file.
    Known {
        /// The line holding the key or the CA.
        entry: HostKeyEntry,
        /// Accepted as a certificate.
        certificate: bool,
    },
    /// No line for the host holds the key, and the host has no other key:
    /// record it (`accept-new`) or refuse it (`strict`).
    New {
        /// The name to record it under (`name key`, lowercased).
        name: String,
        /// The plain key to record.
        key: KeyData,
        /// Why it cannot be recorded (then it is refused under every
        /// policy), if so.
        unrecordable: Option<&'static str>,
        /// Why the server's certificate was not accepted, if it sent one.
        certificate_problem: Option<String>,
    },
    /// The host has keys on file, none of them this one: possible
    /// man-in-the-middle.
    Changed {
        /// The name looked up.
        name: String,
        /// The offending line OpenSSH names: the last unmarked line of the
        /// host holding another key.
        entry: HostKeyEntry,
        /// Why the server's certificate was not accepted, if it sent one.
        certificate_problem: Option<String>,
    },
    /// The key (or the CA of its certificate) is `@revoked` for the host.
    Revoked {
        /// The name it is revoked under.
        name: String,
        /// The `@revoked` line.
        entry: HostKeyEntry,
    },
    /// A certificate whose CA signature does not verify (OpenSSH fails the
    /// key exchange on it).
    InvalidCertificate,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    ReadWrite,
    ReadOnly,
    /// The `[host]:port` → `host` retry (OpenSSH's `ROQUIET`).
    Quiet,
}

enum Status {
    Ok(HostKeyEntry),
    New,
    Changed(HostKeyEntry),
    Revoked(HostKeyEntry),
}

enum Step {
    Accept(HostKeyEntry, bool),
    Record(String, KeyData),
    Refuse(Refusal),
}

enum Refusal {
    New(String, &'static str),
    Changed(String, HostKeyEntry),
    Revoked,
    Quiet,
}

/// Characters that make OpenSSH refuse to record a host name.
const UNRECORDABLE: &[u8] = b"@?*#[]|'\"\\";

struct Walk<'l, E> {
    lookup: &'l mut dyn FnMut(&str) -> Result<Vec<HostKeyEntry>, E>,
    query: HostQuery<'l>,
    revoked: Option<(String, HostKeyEntry)>,
    certificate_problem: Option<String>,
}

/// The verdict on `presented` for `query`, looking names up with `lookup`
/// (all of a host's files, user files first, lines in file order).
pub fn verify<E>(
    lookup: &mut dyn FnMut(&str) -> Result<Vec<HostKeyEntry>, E>,
    query: &HostQuery<'_>,
    presented: Presented<'_>,
) -> Result<Verdict, E> {
    if let Presented::Certificate(c) = presented
        && !certificate_signature_ok(c)
    {
        return Ok(Verdict::InvalidCertificate);
    }
    let host = query.host.to_ascii_lowercase();
    let mut walk = Walk {
        lookup,
        query: HostQuery {
            host: &host,
            ..*query
        },
        revoked: None,
        certificate_problem: None,
    };
    let step = walk.check(&host, query.port, presented, Mode::ReadWrite, false)?;
    let certificate_problem = walk.certificate_problem.take();
    if let Some((name, entry)) = walk.revoked.take() {
        return Ok(Verdict::Revoked { name, entry });
    }
    Ok(match step {
        Step::Accept(entry, certificate) => Verdict::Known { entry, certificate },
        Step::Record(name, key) => Verdict::New {
            name,
            key,
            unrecordable: None,
            certificate_problem,
        },
        Step::Refuse(Refusal::New(name, why)) => Verdict::New {
            name,
            key: presented.key_data().clone(),
            unrecordable: Some(why),
            certificate_problem,
        },
        Step::Refuse(Refusal::Changed(name, entry)) => Verdict::Changed {
            name,
            entry,
            certificate_problem,
        },
        // Not reachable at the top level (revoked is handled above, quiet
        // refusals only happen in the retry); refuse anyway.
        Step::Refuse(Refusal::Revoked | Refusal::Quiet) => Verdict::New {
            name: host_key_name(query.alias.unwrap_or(&host), query.port),
            key: presented.key_data().clone(),
            unrecordable: Some("refused"),
            certificate_problem,
        },
    })
}

impl<E> Walk<'_, E> {
    /// `check_host_key(hostname, port, key, readonly, clobber_port)`.
    fn check(
        &mut self,
        hostname: &str,
        port: u16,
        presented: Presented<'_>,
        mut mode: Mode,
        clobber_port: bool,
    ) -> Result<Step, E> {
        let mut unrecordable = "the host name has a character OpenSSH never records";
        if hostname.bytes().any(|b| UNRECORDABLE.contains(&b)) {
            mode = Mode::ReadOnly;
        }
        let name = match self.query.alias {
            Some(alias) => alias.to_owned(),
            None => host_key_name(hostname, if clobber_port { 0 } else { port }),
        };
        let entries = (self.lookup)(&name)?;
        let mut key = presented;
        loop {
            let want_cert = key.is_certificate();
            if mode == Mode::ReadWrite && !self.query.can_record {
                mode = Mode::ReadOnly;
                unrecordable = "there is no user known_hosts file (UserKnownHostsFile none)";
            }
            let status = check_key(&entries, key);
            let revoked = matches!(status, Status::Revoked(_));
            let refusal = match status {
                Status::Ok(entry) => match key {
                    Presented::Certificate(cert) => {
                        let principal = self.query.alias.unwrap_or(hostname);
                        match check_host_certificate(cert, principal, self.query.now) {
                            Ok(()) => return Ok(Step::Accept(entry, true)),
                            Err(reason) => {
                                self.certificate_problem.get_or_insert_with(|| {
                                    format!("{reason} (CA in {})", entry.location())
                                });
                                Refusal::Quiet
                            }
                        }
                    }
                    Presented::Key(_) => return Ok(Step::Accept(entry, false)),
                },
                Status::New => {
                    if want_cert {
                        self.certificate_problem.get_or_insert_with(|| {
                            format!("no @cert-authority line for {name} lists its CA")
                        });
                    }
                    if self.query.alias.is_none() && port != 0 && port != 22 && !clobber_port {
                        // "checking without port identifier"
                        if let Step::Accept(entry, c) =
                            self.check(hostname, 0, key, Mode::Quiet, true)?
                        {
                            return Ok(Step::Accept(entry, c));
                        }
                    }
                    if mode != Mode::ReadWrite || want_cert {
                        Refusal::New(name.clone(), unrecordable)
                    } else {
                        return Ok(Step::Record(name, key.key_data().clone()));
                    }
                }
                Status::Revoked(entry) => {
                    self.revoked.get_or_insert_with(|| (name.clone(), entry));
                    Refusal::Revoked
                }
                Status::Changed(entry) => {
                    if mode == Mode::Quiet {
                        Refusal::Quiet
                    } else {
                        Refusal::Changed(name.clone(), entry)
                    }
                }
            };
            if want_cert && !revoked {
                // "No matching CA found. Retry with plain key"
                key = Presented::Key(key.key_data());
                continue;
            }
            return Ok(Step::Refuse(refusal));
        }
    }
}

/// `check_key_in_hostkeys`: the host's lines against the presented key.
fn check_key(entries: &[HostKeyEntry], key: Presented<'_>) -> Status {
    let want = if key.is_certificate() {
        Marker::CertAuthority
    } else {
        Marker::None
    };
    let mut status = Status::New;
    for e in entries.iter().filter(|e| e.marker == want) {
        match key {
            Presented::Certificate(cert) => {
                if e.key.equals_public(cert.signature_key()) {
                    status = Status::Ok(e.clone());
                    break;
                }
            }
            Presented::Key(k) => {
                if e.key.equals(k) {
                    status = Status::Ok(e.clone());
                    break;
                }
                status = Status::Changed(e.clone());
            }
        }
    }
    // check_key_not_revoked
    let revoked = entries.iter().find(|e| {
        e.marker == Marker::Revoked
            && (e.key.equals_public(key.key_data())
                || matches!(key, Presented::Certificate(c) if e.key.equals_public(c.signature_key())))
    });
    match revoked {
        Some(e) => Status::Revoked(e.clone()),
        None => status,
    }
}

/// The possible-MITM failure for a host whose key changed or is revoked.
///
/// `Display` is one line (for `--json` and the summary); [`Self::banner`] is
/// the multi-line OpenSSH-style warning for a terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKeyChanged {
    /// The name looked up (`host`, `[host]:port` or the alias).
    pub name: String,
    /// Key algorithm presented, e.g. `ssh-ed25519`.
    pub algorithm: String,
    /// SHA256 fingerprint of the presented key.
    pub fingerprint: String,
    /// The known_hosts file of the offending (or `@revoked`) line.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// OpenSSH's type name of the key on that line (`ED25519`, ...); `None`
    /// when another writer recorded it while we were appending.
    pub offending_type: Option<String>,
    /// True for a `@revoked` key rather than a changed one.
    pub revoked: bool,
    /// Why the server's certificate was not accepted, if it sent one.
    pub certificate_problem: Option<String>,
}

impl std::error::Error for HostKeyChanged {}

impl fmt::Display for HostKeyChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.revoked {
            write!(
                f,
                "REVOKED HOST KEY for {}: the server sent {} key {}, marked @revoked in {}:{}",
                self.name,
                self.algorithm,
                self.fingerprint,
                self.path.display(),
                self.line
            )?;
        } else {
            write!(
                f,
                "REMOTE HOST IDENTIFICATION HAS CHANGED for {}: possible man-in-the-middle \
                 attack; server sent {} key {}; offending {}key in {}:{}",
                self.name,
                self.algorithm,
                self.fingerprint,
                self.offending_type
                    .as_deref()
                    .map_or_else(String::new, |t| format!("{t} ")),
                self.path.display(),
                self.line
            )?;
            if self.offending_type.is_none() {
                f.write_str(" (recorded by another writer meanwhile)")?;
            }
        }
        if let Some(p) = &self.certificate_problem {
            write!(f, " (host certificate not accepted: {p})")?;
        }
        Ok(())
    }
}

impl HostKeyChanged {
    /// Builds the error from a [`Verdict::Changed`] or [`Verdict::Revoked`];
    /// `None` for the other verdicts.
    pub fn from_verdict(verdict: &Verdict, presented: Presented<'_>) -> Option<Self> {
        let (name, entry, revoked, problem) = match verdict {
            Verdict::Changed {
                name,
                entry,
                certificate_problem,
            } => (name, entry, false, certificate_problem.clone()),
            Verdict::Revoked { name, entry } => (name, entry, true, None),
            _ => return None,
        };
        Some(HostKeyChanged {
            name: name.clone(),
            algorithm: presented.algorithm(),
            fingerprint: presented.fingerprint(),
            path: entry.path.to_path_buf(),
            line: entry.line,
            offending_type: Some(entry.key.type_name().to_owned()),
            revoked,
            certificate_problem: problem,
        })
    }

    /// The OpenSSH-style warning, several lines, no trailing newline.
    pub fn banner(&self) -> String {
        let bar = "@".repeat(59);
        if self.revoked {
            return format!(
                "{bar}\n@       WARNING: REVOKED HOST KEY DETECTED!               @\n{bar}\n\
                 The {} host key for {} is marked as revoked.\n\
                 This could mean that a stolen key is being used to\n\
                 impersonate this host.\n\
                 Revoked key in {}:{}\n\
                 Host key verification failed.",
                self.algorithm,
                self.name,
                self.path.display(),
                self.line
            );
        }
        format!(
            "{bar}\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n{bar}\n\
             IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
             Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
             It is also possible that a host key has just been changed.\n\
             The fingerprint for the {} key sent by the remote host {} is\n{}.\n\
             Offending {}key in {}:{}\n\
             Host key verification failed.",
            self.algorithm,
            self.name,
            self.fingerprint,
            self.offending_type
                .as_deref()
                .map_or_else(String::new, |t| format!("{t} ")),
            self.path.display(),
            self.line
        )
    }
}
