//! Names that come from a host, made safe for this file system. A pull
//! never obeys a name: `.`, `..` and empty names are dropped, `/` and NUL
//! are escaped (`%2F`, `%00`) so a name is always one component, and a
//! symlink is created only when following it cannot leave the host's
//! directory.

/// A host name as one path component (`/` cannot occur in host names, but
/// the escape keeps the rule total).
pub fn host_component(host: &str) -> String {
    match component(host) {
        Some(c) => c,
        None => format!("%2E{}", &host[host.len().min(1)..]),
    }
}

/// One remote name as one local component; `None` for `.`, `..` and ``.
pub fn component(name: &str) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    Some(name.replace('/', "%2F").replace('\0', "%00"))
}

/// The last component of a remote path (`/var/log/` → `log`).
pub fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// Why a symlink target from a host is refused, or `None` when it is safe
/// to create at `depth` directories below the host's directory.
///
/// Safe targets are relative, go up at most `depth` levels, and only at
/// their start: `../lib/x` is fine one level down, `a/../../x` never is,
/// because `a` may itself be a link and `..` then leaves from wherever it
/// points. Following such a link from anywhere inside the tree stays
/// inside it, since every link created under the rule does.
pub fn unsafe_link(target: &str, depth: usize) -> Option<&'static str> {
    if target.is_empty() {
        return Some("an empty symlink target");
    }
    if target.contains('\0') {
        return Some("a NUL byte in a symlink target");
    }
    if target.starts_with('/') {
        return Some("an absolute symlink target");
    }
    let mut ups = 0usize;
    let mut down = false;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." if down => return Some("a `..` after a name in a symlink target"),
            ".." => ups += 1,
            _ => down = true,
        }
    }
    if ups > depth {
        return Some("a symlink target that leaves the host's directory");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_names_are_one_component() {
        assert_eq!(component(".."), None);
        assert_eq!(component("."), None);
        assert_eq!(component(""), None);
        assert_eq!(
            component("../../etc/passwd").unwrap(),
            "..%2F..%2Fetc%2Fpasswd"
        );
        assert_eq!(component("/etc/shadow").unwrap(), "%2Fetc%2Fshadow");
        assert_eq!(component("a\0b").unwrap(), "a%00b");
        assert_eq!(component("ok.txt").unwrap(), "ok.txt");
        assert_eq!(host_component(".."), "%2E.");
        assert_eq!(host_component("root@web1:2222"), "root@web1:2222");
        assert_eq!(base_name("/var/log/"), "log");
        assert_eq!(base_name("syslog"), "syslog");
    }

    #[test]
    fn links_that_could_leave_the_tree_are_refused() {
        assert!(unsafe_link("/etc/passwd", 5).is_some());
        assert!(unsafe_link("..", 0).is_some());
        assert!(unsafe_link("../x", 0).is_some());
        assert!(unsafe_link("../x", 1).is_none());
        assert!(unsafe_link("../../x", 1).is_some());
        assert!(unsafe_link("a/../../x", 3).is_some());
        assert!(unsafe_link("a/..", 3).is_some());
        assert!(unsafe_link("sub/file", 0).is_none());
        assert!(unsafe_link("./file", 0).is_none());
        assert!(unsafe_link("", 0).is_some());
    }
}
