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

/// `percent_dollar_expand`: `%x` tokens from `table` and `${NAME}` from
/// the environment in one pass (so neither expands the other's output), as
/// ssh expands `IdentityFile`, `CertificateFile`, `IdentityAgent` and
/// `UserKnownHostsFile`. An unset variable is an error, as in OpenSSH
/// (`env var ${NAME} has no value`); a `$` not followed by `{` is literal.
pub fn percent_dollar_expand(text: &str, table: &[(char, &str)]) -> Result<String, String> {
    percent_dollar_expand_with(text, table, |name| std::env::var(name).ok())
}

/// [`percent_dollar_expand`] with the environment given by `env`.
pub fn percent_dollar_expand_with(
    text: &str,
    table: &[(char, &str)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['%', '$']) {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if rest.as_bytes()[i] == b'$' {
            let Some(inner) = after.strip_prefix('{') else {
                out.push('$');
                rest = after;
                continue;
            };
            let Some(end) = inner.find('}') else {
                return Err(format!(
                    "environment variable '{text}' missing closing '}}'"
                ));
            };
            let name = &inner[..end];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!(
                    "invalid environment variable \"{name}\" in \"{text}\""
                ));
            }
            match env(name) {
                Some(v) => out.push_str(&v),
                None => return Err(format!("env var ${{{name}}} has no value")),
            }
            rest = &inner[end + 1..];
            continue;
        }
        let mut chars = after.chars();
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match table.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => return Err(format!("unknown key %{t} in \"{text}\"")),
            },
            None => return Err(format!("invalid format \"{text}\"")),
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_and_dollar_expand_in_one_pass() {
        let env = |n: &str| match n {
            "HOME" => Some("/h".to_owned()),
            "PCT" => Some("%h".to_owned()),
            _ => None,
        };
        let t = [('h', "web1"), ('p', "22")];
        let x = |s: &str| percent_dollar_expand_with(s, &t, env);
        assert_eq!(x("${HOME}/.ssh/id_%h").unwrap(), "/h/.ssh/id_web1");
        assert_eq!(
            x("${PCT}").unwrap(),
            "%h",
            "an env value is not expanded again"
        );
        assert_eq!(x("a$b%%").unwrap(), "a$b%");
        assert_eq!(x("${NOPE}").unwrap_err(), "env var ${NOPE} has no value");
        assert!(x("${HOME").unwrap_err().contains("missing closing"));
        assert!(x("%z").unwrap_err().contains("unknown key %z"));
        assert!(x("${}").is_err());
    }
}
