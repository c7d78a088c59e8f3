//! Address lookup shared by the two binaries (the rest of the shared CLI
//! helpers come from `netkit_cli`).

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
