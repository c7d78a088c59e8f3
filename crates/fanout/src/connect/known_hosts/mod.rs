//! OpenSSH `known_hosts`: parsing, lookup, the host-key verdict and atomic
//! appending, with OpenSSH 9.2's rules (public library API).
//!
//! Design, one idea per file:
//! - `parse.rs`: one line as `hostfile.c` reads it:
//!   markers, comma lists of `*`/`?`/`!negation` patterns (`match.c`), hashed
//!   `|1|salt|hash` names, keys as `sshkey_read` accepts them. Lines OpenSSH
//!   skips are skipped (with a `tracing` debug message), never fatal.
//! - `index.rs`: a parsed file, with an exact-name index for lines whose
//!   names are all plain (what `ssh` and `accept-new` write); only glob,
//!   negated and hashed lines are matched one by one. [`KnownHosts::lookup`]
//!   returns every line matching a name, in file order, markers included.
//! - `file.rs`: [`KnownHosts`], one file read once per run and shared, and
//!   its atomic append.
//! - `verify.rs`: [`verify`], the verdict of `sshconnect.c`
//!   `check_host_key` over a host's files, including the `[host]:port` →
//!   `host` retry and certificates.
//! - `cert.rs`: host certificate checks (`sshkey_cert_check_host`).
//! - `order.rs`: [`host_key_order`], the host key algorithms to offer
//!   (`sshconnect2.c` `order_hostkeyalgs`).
//!
//! # The rules (OpenSSH 9.2)
//!
//! - **Files.** A host's keys are the lines matching its name in its user
//!   files (`UserKnownHostsFile`, default `~/.ssh/known_hosts
//!   ~/.ssh/known_hosts2`) then its global files (`GlobalKnownHostsFile`,
//!   default `/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2`), in
//!   that order. Missing files are empty. New keys go to the first user
//!   file only.
//! - **Name.** `HostKeyAlias` if set, else the host lowercased, as
//!   `[host]:port` unless the port is 22.
//! - **Matching a line.** A field starting with `|` is one hashed name:
//!   HMAC-SHA1 of the name keyed by the salt, compared as a whole (so a
//!   comma list starting with a hash matches nothing, and a `|1|…` later in
//!   a list is a literal that matches nothing). Otherwise the field is a
//!   comma list: any matching `!pattern` excludes the line, else any
//!   matching pattern selects it; case-insensitive.
//! - **Verdict for a plain key** (`check_hostkeys_by_key_or_type`). Among
//!   the unmarked lines of the host, in order: the first holding the key
//!   makes it **known**; otherwise, if there is any (of any key type), it is
//!   **changed**, and the offending line is the *last* of them; otherwise
//!   it is **new**. A matching `@revoked` line holding the key makes it
//!   **revoked** whatever else matched.
//! - **New under `[host]:port`** (no alias): the key is checked again under
//!   the bare `host`, quietly. Only a *known* result there counts (the key
//!   is accepted without recording); changed or new there leave it new.
//!   One deliberate difference: a key revoked under the bare name is
//!   refused, where OpenSSH 9.2 goes on to treat it as new (sshconnect.c,
//!   `case HOST_REVOKED` under `ROQUIET` falls through to `fail`, then the
//!   outer call records the key).
//! - **Certificates.** A host certificate is checked against the
//!   `@cert-authority` lines of the host (the CA key must be listed): type
//!   host, now within its validity, the name (`HostKeyAlias` or the host,
//!   without port) among its principals unless it has none, no critical
//!   options, CA signature algorithm allowed by the default
//!   `CASignatureAlgorithms` (not `ssh-rsa`). A certificate whose CA or key
//!   is `@revoked` is revoked. In every other failing case the certificate
//!   is dropped and its plain key checked as above (so a plain key, or a
//!   bad certificate, of a host covered only by a CA line is new). A
//!   certificate whose CA signature does not verify fails the connection
//!   outright, as in OpenSSH's key exchange.
//! - **Recording.** A new key is recorded as `name key` (name lowercased)
//!   in the first user file, unless there is no user file
//!   (`UserKnownHostsFile none`) or the host name holds one of
//!   `@?*#[]|'"\`.
//!
//! The policy (`strict`, `accept-new`) is applied on top, by
//! `connect::hostkey`.
//!
//! # Appending
//!
//! [`KnownHosts::append`] adds a `name key` line: the parent directory is
//! created with mode 0700 and the file with 0600, the file is locked
//! (`flock`) and the line is written with one `O_APPEND` write; existing
//! content is never rewritten. Appends of one process queue on the parsed
//! set's mutex, which holds the file's last known identity (device, inode,
//! length, mtime, ctime); under the file lock the file is re-read only when
//! that identity changed, i.e. when another process (another ssh-fanout,
//! `ssh`, an editor) wrote it, so concurrent writers never add the same key
//! twice (a *different* key recorded meanwhile is
//! [`KnownHostsError::Conflict`], never a second entry), while the first
//! contact with 500 hosts costs 500 small appends, not 500 re-reads.

mod cert;
mod file;
mod index;
mod order;
mod parse;
mod verify;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::ssh_key::public::KeyData;

pub use cert::{certificate_signature_ok, check_host_certificate};
pub use file::{Appended, KnownHosts};
pub use order::{HostKeyOrder, host_key_order};
pub use parse::hash_name;
pub use verify::{HostKeyChanged, HostQuery, Presented, Verdict, verify};

/// The marker of a known_hosts line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A plain host key line.
    None,
    /// `@cert-authority`: the key is a CA trusted for the line's names.
    CertAuthority,
    /// `@revoked`: the key is refused for the line's names.
    Revoked,
}

/// The key of a known_hosts line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownKey {
    data: KeyData,
    certificate: bool,
}

impl KnownKey {
    /// The public key (for a certificate line, the key it certifies).
    pub fn key_data(&self) -> &KeyData {
        &self.data
    }

    /// Whether the line holds a certificate rather than a plain key.
    pub fn is_certificate(&self) -> bool {
        self.certificate
    }

    /// OpenSSH's `sshkey_equal` against a plain key: same type, same key,
    /// and this line is not a certificate.
    pub fn equals(&self, key: &KeyData) -> bool {
        !self.certificate && self.data == *key
    }

    /// OpenSSH's `sshkey_equal_public`: the same public key, certificate or
    /// not.
    pub fn equals_public(&self, key: &KeyData) -> bool {
        self.data == *key
    }

    /// OpenSSH's short type name (`ED25519`, `ECDSA`, `RSA`, `RSA-CERT`...),
    /// as in its "Offending ECDSA key in ..." message.
    pub fn type_name(&self) -> &'static str {
        parse::KeyType::of(&self.data).map_or("UNKNOWN", |t| t.short_name(self.certificate))
    }
}

/// One line of a known_hosts file that matched a host name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKeyEntry {
    /// The file.
    pub path: Arc<Path>,
    /// 1-based line number (comments and blank lines count).
    pub line: usize,
    /// The line's marker.
    pub marker: Marker,
    /// The line's key.
    pub key: Arc<KnownKey>,
}

impl HostKeyEntry {
    /// `path:line`, as OpenSSH prints it.
    pub fn location(&self) -> String {
        format!("{}:{}", self.path.display(), self.line)
    }
}

/// known_hosts I/O errors.
#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    /// Reading, creating, locking or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The known_hosts file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another writer recorded a different (or revoked) key for this host
    /// between our check and our append; nothing was written.
    #[error(
        "{}:{line}: a different host key for {name} was recorded meanwhile; not appending",
        path.display()
    )]
    Conflict {
        /// The known_hosts file.
        path: PathBuf,
        /// `host` or `[host]:port`.
        name: String,
        /// 1-based line of the conflicting entry.
        line: usize,
    },
    /// The key could not be encoded in OpenSSH format.
    #[error("cannot encode host key: {0}")]
    Encode(String),
}

/// [`verify`] over parsed files: a host's user files, then its global
/// files, in that order (as OpenSSH loads them).
pub fn verify_files(
    files: &[Arc<KnownHosts>],
    query: &HostQuery<'_>,
    presented: Presented<'_>,
) -> Verdict {
    let mut lookup = |name: &str| {
        Ok::<_, std::convert::Infallible>(files.iter().flat_map(|f| f.lookup(name)).collect())
    };
    match verify(&mut lookup, query, presented) {
        Ok(verdict) => verdict,
        Err(never) => match never {},
    }
}

/// The name OpenSSH looks up and records (`put_host_port`): `host` for
/// port 22 (or 0, "no port"), `[host]:port` otherwise.
pub fn host_key_name(host: &str, port: u16) -> String {
    if port == 22 || port == 0 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// OpenSSH's default `UserKnownHostsFile`: `~/.ssh/known_hosts
/// ~/.ssh/known_hosts2` (empty without a home directory).
pub fn default_user_files(home: Option<&Path>) -> Vec<PathBuf> {
    home.map(|h| {
        let ssh = h.join(".ssh");
        vec![ssh.join("known_hosts"), ssh.join("known_hosts2")]
    })
    .unwrap_or_default()
}

/// OpenSSH's default `GlobalKnownHostsFile`.
pub const DEFAULT_GLOBAL_FILES: [&str; 2] =
    ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];
