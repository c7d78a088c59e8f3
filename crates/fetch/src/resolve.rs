//! Host name resolution: the system resolver (`getaddrinfo` on tokio's
//! blocking pool, as reqwest does by default), except for names under the
//! reserved `.invalid` top-level domain, which fail at once without asking
//! anyone, as RFC 6761 §6.4 asks of resolver libraries. (A system resolver
//! forwards such a name to its DNS server like any other.)

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The resolver given to the HTTP client.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resolver;

/// True for `invalid` and any name under it (any case, trailing dot or not).
pub fn is_special_invalid(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    host == "invalid" || host.ends_with(".invalid")
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if is_special_invalid(&host) {
                let message = format!("{host}: names under .invalid never resolve (RFC 6761)");
                return Err(std::io::Error::new(std::io::ErrorKind::NotFound, message).into());
            }
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_invalid_tld_is_special() {
        for host in ["invalid", "x.invalid", "a.b.INVALID", "x.Invalid."] {
            assert!(is_special_invalid(host), "{host}");
        }
        for host in [
            "",
            "invalid.example",
            "notinvalid",
            "x.notinvalid",
            "x.invalid.com",
            "localhost",
            "127.0.0.1",
        ] {
            assert!(!is_special_invalid(host), "{host}");
        }
    }
}
