//! Free ports on the loopback interface.

/// A free TCP port on 127.0.0.1 (bound, then released for the caller).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
