//! Binding the TCP listening socket.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

use super::ServerError;

/// Kernel accept backlog; surplus clients wait here (capped by somaxconn).
const BACKLOG: u32 = 4096;

/// Binds the listening socket with SO_REUSEADDR and a deep backlog.
pub(crate) fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    let err = |e| ServerError::Bind(addr, e);
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    socket.listen(BACKLOG).map_err(err)
}
