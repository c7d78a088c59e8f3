//! Key pairs made with OpenSSH's `ssh-keygen` (package openssh-client).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The comment of the keys made by [`keygen`] and [`keygen_typed`].
const COMMENT: &str = "netkit-test";

/// An unencrypted ed25519 key pair at `path` and `path.pub`.
pub fn keygen(path: &Path) -> anyhow::Result<()> {
    keygen_typed(path, "ed25519", "")
}

/// A key pair of type `kind` (ed25519, ecdsa, rsa) encrypted with
/// `passphrase` (empty: none).
pub fn keygen_typed(path: &Path, kind: &str, passphrase: &str) -> anyhow::Result<()> {
    ssh_keygen(path, kind, passphrase, COMMENT)
}

/// An unencrypted ed25519 key pair with its own comment (the lab names
/// its keys).
pub fn keygen_commented(path: &Path, comment: &str) -> anyhow::Result<()> {
    ssh_keygen(path, "ed25519", "", comment)
}

/// Replaces any key at `path`: ssh-keygen would ask before overwriting.
fn ssh_keygen(path: &Path, kind: &str, passphrase: &str, comment: &str) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", passphrase, "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .context("running ssh-keygen (package openssh-client must be installed)")?;
    if !status.success() {
        bail!("ssh-keygen failed for {}", path.display());
    }
    Ok(())
}
