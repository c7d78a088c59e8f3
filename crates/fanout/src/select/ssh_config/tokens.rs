//! `%` token expansion (`~` and the local account are in
//! `select/local_user.rs`).

/// Expands `%x` tokens from `table` (`%%` is always `%`). An unknown
/// token is an error, as in OpenSSH's `percent_expand`.
pub fn percent_expand(text: &str, table: &[(char, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match table.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => return Err(format!("unknown key %{t} in \"{text}\"")),
            },
            None => return Err(format!("invalid format \"{text}\"")),
        }
    }
    Ok(out)
}

/// The local host name (`%l`) and its first label (`%L`).
pub fn local_host_names() -> (String, String) {
    let long = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let short = long.split('.').next().unwrap_or_default().to_owned();
    (long, short)
}

/// `%C`: SHA-1 of `%l%h%p%r`, hex, as `ssh_connection_hash`.
pub fn connection_hash(local: &str, host: &str, port: &str, user: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(local.as_bytes());
    h.update(host.as_bytes());
    h.update(port.as_bytes());
    h.update(user.as_bytes());
    data_encoding::HEXLOWER.encode(&h.finalize())
}
