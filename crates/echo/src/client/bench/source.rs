//! `--source`: the local addresses connections come from.
//!
//! One source IP talking to one server address has at most one connection
//! per ephemeral port (about 28,000 with Linux's default
//! `ip_local_port_range`), so a load generator that wants more spreads its
//! connections over several source addresses, binding each socket before it
//! connects (as tcpkali does). Connection `id` uses source `id mod n`, so
//! the sources share the connections evenly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most addresses one `--source` may name.
pub const MAX_SOURCES: usize = 65_536;

/// Parses `--source`: a comma-separated list of addresses and inclusive
/// ranges, `127.0.0.2-127.0.0.9` (IPv4 may shorten the end to its last
/// octet, `127.0.0.2-9`). Duplicates are dropped; order is kept.
///
/// ```
/// # use netkit_echo::client::bench::parse_sources;
/// let s = parse_sources("127.0.0.2-127.0.0.4,127.0.0.9").unwrap();
/// assert_eq!(s.len(), 4);
/// assert_eq!(parse_sources("127.0.0.2-4").unwrap().len(), 3);
/// assert!(parse_sources("127.0.0.9-127.0.0.2").is_err());
/// ```
pub fn parse_sources(spec: &str) -> Result<Vec<IpAddr>, String> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in spec.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("--source {spec:?}: empty item"));
        }
        for ip in expand(item)? {
            if seen.insert(ip) {
                out.push(ip);
            }
            if out.len() > MAX_SOURCES {
                return Err(format!(
                    "--source {spec:?}: more than {MAX_SOURCES} addresses"
                ));
            }
        }
    }
    Ok(out)
}

/// One item: an address, or a range `FIRST-LAST`.
fn expand(item: &str) -> Result<Vec<IpAddr>, String> {
    let bad = |why: &str| format!("--source {item:?}: {why}");
    let Some((first, last)) = item.split_once('-') else {
        return item
            .parse::<IpAddr>()
            .map(|ip| vec![ip])
            .map_err(|_| bad("not an IP address or a FIRST-LAST range"));
    };
    let first: IpAddr = first
        .trim()
        .parse()
        .map_err(|_| bad("the range's start is not an IP address"))?;
    let last = last.trim();
    let last: IpAddr = match (first, last.parse::<IpAddr>(), last.parse::<u8>()) {
        (_, Ok(ip), _) => ip,
        (IpAddr::V4(f), Err(_), Ok(octet)) => {
            let [a, b, c, _] = f.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, octet))
        }
        _ => return Err(bad("the range's end is not an IP address")),
    };
    let (lo, hi, v4) = match (first, last) {
        (IpAddr::V4(f), IpAddr::V4(l)) => {
            (u128::from(u32::from(f)), u128::from(u32::from(l)), true)
        }
        (IpAddr::V6(f), IpAddr::V6(l)) => (u128::from(f), u128::from(l), false),
        _ => return Err(bad("the range mixes IPv4 and IPv6")),
    };
    if hi < lo {
        return Err(bad("the range ends before it starts"));
    }
    if hi - lo >= MAX_SOURCES as u128 {
        return Err(bad(&format!("more than {MAX_SOURCES} addresses")));
    }
    Ok((lo..=hi)
        .map(|n| {
            if v4 {
                IpAddr::V4(Ipv4Addr::from(n as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from(n))
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lists_ranges_and_short_ranges() {
        assert_eq!(
            parse_sources("127.0.0.2-127.0.0.4").unwrap(),
            vec![v4("127.0.0.2"), v4("127.0.0.3"), v4("127.0.0.4")]
        );
        assert_eq!(
            parse_sources("127.0.0.8-9, 127.0.0.2,127.0.0.8").unwrap(),
            vec![v4("127.0.0.8"), v4("127.0.0.9"), v4("127.0.0.2")]
        );
        // Ranges cross octet boundaries.
        assert_eq!(parse_sources("10.0.0.255-10.0.1.1").unwrap().len(), 3);
        assert_eq!(
            parse_sources("::1").unwrap(),
            vec!["::1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(parse_sources("fd00::1-fd00::10").unwrap().len(), 16);
    }

    #[test]
    fn bad_specs_say_why() {
        for (spec, why) in [
            ("", "empty item"),
            ("127.0.0.2,", "empty item"),
            ("localhost", "not an IP address"),
            ("127.0.0.9-127.0.0.2", "ends before it starts"),
            ("127.0.0.1-::1", "mixes IPv4 and IPv6"),
            ("127.0.0.1-300", "end is not an IP address"),
            ("10.0.0.0-10.2.0.0", "more than 65536"),
        ] {
            let err = parse_sources(spec).unwrap_err();
            assert!(err.contains(why), "{spec:?}: {err}");
        }
    }
}
