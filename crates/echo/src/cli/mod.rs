//! The two binaries' command lines: [`server`] and [`client`] hold their
//! flags (clap derive), and this module the address lookup they share (the
//! rest of the shared CLI glue comes from `netkit_cli`).

pub mod client;
pub mod server;

use std::net::SocketAddr;

/// Resolves `HOST:PORT` (an IP address or a name) to its first address.
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(|e| format!("invalid address {addr:?} (expected HOST:PORT): {e}"))?
        .next()
        .ok_or_else(|| format!("{addr:?} resolves to no address"))
}
