//! The SSH connection to one host: the socket ([`tcp`]), the handshake and
//! authentication ([`session`]), the host-key policy ([`hostkey`]) on top of
//! OpenSSH's [`known_hosts`] rules, and the identities ([`credentials`],
//! [`signer`]) loaded once per run.

pub(crate) mod credentials;
pub(crate) mod hostkey;
pub mod known_hosts;
pub(crate) mod proxy_command;
pub(crate) mod session;
pub(crate) mod signer;
pub(crate) mod tcp;
