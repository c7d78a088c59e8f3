//! Connecting: TCP (or a `direct-tcpip` channel through a shared jump
//! connection), SSH handshake with host key checking, authentication.
//!
//! CPU per host is the design constraint: a few `Arc<client::Config>`s for
//! the run, one per host key algorithm order (OpenSSH's: the types on file
//! for the host first, see [`crate::connect::known_hosts::host_key_order`]; hosts
//! with nothing on file get ed25519 first), curve25519-sha256 first,
//! identities parsed once
//! ([`Credentials`]) and ed25519 ones signed without re-deriving the key
//! ([`crate::connect::signer`]), IP literals and `.invalid` names never go through
//! the resolver, and no
//! per-host threads or processes. Latency: the socket ACKs OpenSSH servers
//! at once ([`crate::connect::tcp`]), which saves a 40 ms delayed-ACK stall per
//! connection.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use russh::client::{self, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use tokio::sync::{Mutex, OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::connect::credentials::Credentials;
use crate::connect::hostkey::HostKeyStore;
use crate::connect::known_hosts::HostKeyOrder;
use crate::connect::proxy_command::ProxyCommand;
use crate::connect::tcp::host_stream;
use crate::error::{HandlerError, SshError, handshake_error, io_error};
use crate::select::target::Target;

/// An authenticated SSH connection.
pub type Connection = Handle<ClientHandler>;

/// The hash to sign with for an RSA key (the best the server accepts);
/// `None` for every other key type.
async fn rsa_signature_hash(
    handle: &Connection,
    is_rsa: bool,
) -> Result<Option<russh::keys::HashAlg>, russh::Error> {
    if !is_rsa {
        return Ok(None);
    }
    Ok(handle.best_supported_rsa_hash().await?.flatten())
}

/// The russh client configuration for hosts offered host key algorithms
/// in `order` (see [`crate::connect::known_hosts::host_key_order`]; the default is
/// OpenSSH's order: certificates, then plain keys, no `ssh-rsa`, which
/// OpenSSH 9.2 no longer offers).
pub fn client_config(order: &HostKeyOrder) -> client::Config {
    let mut preferred = russh::Preferred::default();
    // curve25519 first (cheapest kex), keep the rest as fallbacks.
    let mut kex: Vec<russh::kex::Name> =
        vec![russh::kex::CURVE25519, russh::kex::CURVE25519_PRE_RFC_8731];
    kex.extend(
        preferred
            .kex
            .iter()
            .copied()
            .filter(|k| *k != russh::kex::CURVE25519 && *k != russh::kex::CURVE25519_PRE_RFC_8731),
    );
    preferred.kex = Cow::Owned(kex);
    preferred.key = Cow::Owned(order.keys.clone());
    preferred.host_key_certificates = Cow::Owned(order.certificates.clone());
    client::Config {
        preferred,
        nodelay: true,
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        ..Default::default()
    }
}

/// The client configurations of a run, one per host key algorithm order
/// (a handful at most: orders depend only on which key types are on file),
/// built on first use and shared.
#[derive(Default)]
pub struct ClientConfigs {
    by_order: std::sync::Mutex<HashMap<HostKeyOrder, Arc<client::Config>>>,
}

impl ClientConfigs {
    /// The configuration offering host key algorithms in `order`.
    pub fn get(&self, order: &HostKeyOrder) -> Arc<client::Config> {
        let mut map = self.by_order.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(config) = map.get(order) {
            return config.clone();
        }
        let config = Arc::new(client_config(order));
        map.insert(order.clone(), config.clone());
        config
    }
}

/// The russh handler of one connection: it only checks the host key.
pub struct ClientHandler {
    target: Arc<Target>,
    hostkeys: Arc<HostKeyStore>,
}

impl client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        self.hostkeys
            .verify(&self.target, server_public_key)
            .map_err(HandlerError::HostKey)?;
        Ok(true)
    }
}

type JumpSlot = Arc<OnceCell<Result<Arc<Connection>, SshError>>>;

/// Opens authenticated connections; shares one connection per jump host.
pub struct Connector {
    configs: ClientConfigs,
    creds: Arc<Credentials>,
    hostkeys: Arc<HostKeyStore>,
    jumps: Mutex<HashMap<String, JumpSlot>>,
    /// Per jump host: permits for the targets tunnelled through it at once
    /// ([`Target::jump_concurrency`]).
    jump_permits: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// An authenticated connection to one host, holding its place behind its
/// jump host (if any) until it is dropped.
pub struct HostConnection {
    handle: Connection,
    _jump_permit: Option<OwnedSemaphorePermit>,
}

impl std::ops::Deref for HostConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.handle
    }
}

impl Connector {
    /// A connector for one run.
    pub fn new(creds: Arc<Credentials>) -> Self {
        Connector {
            configs: ClientConfigs::default(),
            creds,
            hostkeys: Arc::new(HostKeyStore::new()),
            jumps: Mutex::new(HashMap::new()),
            jump_permits: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// TCP + handshake + host key + auth, all under the target's connect
    /// timeout. A target behind a jump host first waits for a place among
    /// the jump's [`Target::jump_concurrency`], outside that timeout: a busy
    /// jump host makes hosts wait, never look unreachable.
    pub async fn connect(&self, target: &Arc<Target>) -> Result<HostConnection, SshError> {
        let permit = match &target.jump {
            Some(jump) => Some(self.jump_place(jump).await?),
            None => None,
        };
        let limit = target.connect_timeout;
        match tokio::time::timeout(limit, self.connect_untimed(target)).await {
            Ok(r) => r.map(|handle| HostConnection {
                handle,
                _jump_permit: permit,
            }),
            Err(_) => Err(SshError::ConnectTimeout(limit)),
        }
    }

    /// Waits for a place among the targets tunnelled through `jump`.
    async fn jump_place(&self, jump: &Target) -> Result<OwnedSemaphorePermit, SshError> {
        let semaphore = {
            let mut map = self
                .jump_permits
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(jump.connection_key())
                .or_insert_with(|| Arc::new(Semaphore::new(jump.jump_concurrency.max(1))))
                .clone()
        };
        semaphore
            .acquire_owned()
            .await
            .map_err(|e| SshError::Channel(format!("jump host {}: {e}", jump.name)))
    }

    fn connect_untimed<'a>(
        &'a self,
        target: &'a Arc<Target>,
    ) -> BoxFuture<'a, Result<Connection, SshError>> {
        Box::pin(async move {
            let handler = ClientHandler {
                target: target.clone(),
                hostkeys: self.hostkeys.clone(),
            };
            let label = format!("{}:{}", target.address, target.port);
            // Offer the host key types on file for this host first.
            let config = self.configs.get(&self.hostkeys.order(target)?);
            let mut handle = match (&target.jump, &target.proxy_command) {
                (None, Some(command)) => {
                    let (proxy, stream) = ProxyCommand::spawn(command)?;
                    match client::connect_stream(config, stream, handler).await {
                        Ok(handle) => handle,
                        Err(e) => return Err(proxy.failure(handshake_error(e, &label)).await),
                    }
                }
                (None, None) => {
                    let addr = resolve(&target.address, target.port).await?;
                    let tcp = tokio::net::TcpStream::connect(addr)
                        .await
                        .map_err(|e| io_error(&e, &label))?;
                    client::connect_stream(config, host_stream(tcp), handler)
                        .await
                        .map_err(|e| handshake_error(e, &label))?
                }
                (Some(jump), _) => {
                    let via = self.jump_connection(jump).await?;
                    let channel = via
                        .channel_open_direct_tcpip(
                            target.address.clone(),
                            u32::from(target.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| match e {
                            russh::Error::ChannelOpenFailure(r) => SshError::ConnectRefused {
                                addr: format!("{label} (via jump {}: {r:?})", jump.name),
                            },
                            e => SshError::Handshake(format!("via jump {}: {e}", jump.name)),
                        })?;
                    client::connect_stream(config, channel.into_stream(), handler)
                        .await
                        .map_err(|e| handshake_error(e, &label))?
                }
            };
            self.authenticate(&mut handle, target).await?;
            Ok(handle)
        })
    }

    /// The shared connection to a jump host, opened on first use.
    async fn jump_connection(&self, jump: &Arc<Target>) -> Result<Arc<Connection>, SshError> {
        let slot = {
            let mut map = self.jumps.lock().await;
            map.entry(jump.connection_key()).or_default().clone()
        };
        slot.get_or_init(|| async {
            let limit = jump.connect_timeout;
            match tokio::time::timeout(limit, self.connect_untimed(jump)).await {
                Ok(Ok(c)) => Ok(Arc::new(c)),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(SshError::ConnectTimeout(limit)),
            }
        })
        .await
        .clone()
        .map_err(|e| prefix_jump(e, &jump.name))
    }

    /// Closes the shared jump connections (end of run).
    pub async fn close_jumps(&self) {
        let slots: Vec<JumpSlot> = self.jumps.lock().await.drain().map(|(_, v)| v).collect();
        for slot in slots {
            if let Some(Ok(conn)) = slot.get() {
                let _ = conn
                    .disconnect(russh::Disconnect::ByApplication, "", "en")
                    .await;
            }
        }
    }

    /// ssh-agent, then identity files, then password. A certificate is
    /// offered before the key it certifies; `IdentitiesOnly` keeps agent keys
    /// to the public halves of the host's identity files.
    async fn authenticate(&self, handle: &mut Connection, target: &Target) -> Result<(), SshError> {
        let user = target.user.as_str();
        let auth_err = |e: &dyn std::fmt::Display| SshError::Auth {
            user: user.to_owned(),
            message: format!("connection failed during authentication: {e}"),
        };
        let mut tried: Vec<&str> = Vec::new();
        let own_keys: Vec<PublicKey> = target
            .identities
            .iter()
            .filter_map(|p| self.creds.key(p))
            .map(|i| i.key.public_key().clone())
            .collect();
        let agent_keys: Vec<&PublicKey> = match &target.agent_socket {
            Some(sock) => self
                .creds
                .agent_keys(sock)
                .iter()
                .filter(|k| {
                    !target.identities_only || own_keys.iter().any(|o| o.key_data() == k.key_data())
                })
                .collect(),
            None => Vec::new(),
        };
        if let (Some(sock), false) = (&target.agent_socket, agent_keys.is_empty()) {
            tried.push("agent");
            match russh::keys::agent::client::AgentClient::connect_uds(sock).await {
                Ok(mut agent) => {
                    for key in agent_keys {
                        let hash = rsa_signature_hash(handle, key.algorithm().is_rsa())
                            .await
                            .map_err(|e| auth_err(&e))?;
                        for cert in self.creds.certificates_for(&target.certificates, key) {
                            match handle
                                .authenticate_certificate_with(user, cert.clone(), hash, &mut agent)
                                .await
                            {
                                Ok(r) if r.success() => return Ok(()),
                                Ok(_) => {}
                                Err(e) => tracing::debug!("agent certificate signing failed: {e}"),
                            }
                        }
                        match handle
                            .authenticate_publickey_with(user, key.clone(), hash, &mut agent)
                            .await
                        {
                            Ok(r) if r.success() => return Ok(()),
                            Ok(_) => {}
                            Err(e) => tracing::debug!("agent signing failed: {e}"),
                        }
                    }
                }
                Err(e) => tracing::debug!("ssh-agent unreachable: {e}"),
            }
        }
        for path in &target.identities {
            let Some(identity) = self.creds.key(path) else {
                continue;
            };
            tried.push("publickey");
            let public = identity.key.public_key();
            for cert in self.creds.certificates_for(&target.certificates, public) {
                let r = handle
                    .authenticate_openssh_cert(user, identity.key.clone(), cert.clone())
                    .await
                    .map_err(|e| auth_err(&e))?;
                if r.success() {
                    return Ok(());
                }
            }
            let r = if let Some(ed25519) = &identity.ed25519 {
                handle
                    .authenticate_publickey_with(
                        user,
                        ed25519.public_key().clone(),
                        None,
                        &mut ed25519.signer(),
                    )
                    .await
                    .map_err(|e| auth_err(&e))?
            } else {
                let key = &identity.key;
                let hash = rsa_signature_hash(handle, key.algorithm().is_rsa())
                    .await
                    .map_err(|e| auth_err(&e))?;
                handle
                    .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                    .await
                    .map_err(|e| auth_err(&e))?
            };
            if r.success() {
                return Ok(());
            }
        }
        if let Some(pw) = self.creds.password(target.password_env.as_deref()) {
            tried.push("password");
            let r = handle
                .authenticate_password(user, &*pw)
                .await
                .map_err(|e| auth_err(&e))?;
            if r.success() {
                return Ok(());
            }
        }
        tried.dedup();
        Err(SshError::Auth {
            user: user.to_owned(),
            message: if tried.is_empty() {
                "no credentials: no ssh-agent keys, no identity file, no password".to_owned()
            } else {
                format!("rejected: tried {}", tried.join(", "))
            },
        })
    }
}

fn prefix_jump(e: SshError, jump: &str) -> SshError {
    match e {
        SshError::Handshake(m) => SshError::Handshake(format!("jump host {jump}: {m}")),
        SshError::Auth { user, message } => SshError::Auth {
            user,
            message: format!("jump host {jump}: {message}"),
        },
        SshError::Disconnected(m) => SshError::Disconnected(format!("jump host {jump}: {m}")),
        other => other,
    }
}

/// Resolves `host:port` with the system resolver, except that IP literals
/// never reach it and names under `.invalid` fail at once (see
/// [`literal_or_invalid`]).
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, SshError> {
    if let Some(known) = literal_or_invalid(host, port) {
        return known;
    }
    let dns = |message: String| SshError::Dns {
        host: host.to_owned(),
        message,
    };
    let mut addrs = tokio::net::lookup_host((host, port)).await.map_err(|e| {
        if crate::error::is_local_resource(&e) {
            SshError::LocalResource(format!("resolving {host}: {e}"))
        } else {
            dns(e.to_string())
        }
    })?;
    addrs.next().ok_or_else(|| dns("no addresses".to_owned()))
}

/// The answer for names that must not go to the resolver: an IP literal
/// is its own address; `invalid` and names under it (any case, with or
/// without the trailing dot) fail with `dns` at once, as RFC 6761 §6.4
/// asks of resolver libraries (a system resolver would forward them to its
/// DNS server like any other name). `None`: ask the resolver.
fn literal_or_invalid(host: &str, port: u16) -> Option<Result<SocketAddr, SshError>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Some(Ok(SocketAddr::new(ip, port)));
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if name == "invalid" || name.ends_with(".invalid") {
        return Some(Err(SshError::Dns {
            host: host.to_owned(),
            message: "names under .invalid never resolve (RFC 6761)".to_owned(),
        }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_invalid_names_never_reach_the_resolver() {
        for host in ["invalid", "h1.invalid", "a.b.INVALID", "x.Invalid."] {
            match literal_or_invalid(host, 22) {
                Some(Err(SshError::Dns { host: h, message })) => {
                    assert_eq!(h, host);
                    assert!(message.contains("RFC 6761"), "{message}");
                }
                other => panic!("{host}: {other:?}"),
            }
        }
        assert_eq!(
            literal_or_invalid("127.0.0.1", 22).unwrap().unwrap(),
            "127.0.0.1:22".parse().unwrap()
        );
        assert_eq!(
            literal_or_invalid("[::1]", 2222).unwrap().unwrap(),
            "[::1]:2222".parse().unwrap()
        );
        for host in [
            "localhost",
            "invalid.example",
            "notinvalid",
            "x.invalid.com",
        ] {
            assert!(literal_or_invalid(host, 22).is_none(), "{host}");
        }
    }
}
