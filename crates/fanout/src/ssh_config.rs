//! A small, honest reader for `~/.ssh/config`.
//!
//! Design: the file is parsed once into blocks (`Host` patterns plus their
//! options, in file order); [`SshConfig::lookup`] walks the blocks that match a
//! host and keeps the *first* value of each option, as OpenSSH does
//! (`IdentityFile` accumulates instead). Only what ssh-fanout uses is read:
//! `HostName` (with `%h`), `Port`, `User`, `IdentityFile` (with `~`, `%d`, `%u`,
//! `%h`, `%r`), `ProxyJump`, and for host keys `StrictHostKeyChecking`,
//! `UserKnownHostsFile` (several files, `none`, with `~` and the
//! `IdentityFile` tokens), `GlobalKnownHostsFile` (several files, `none`,
//! with `~`) and `HostKeyAlias`. An unknown `StrictHostKeyChecking` value,
//! which OpenSSH rejects, counts as `yes`. Host patterns support `*`, `?` and `!negation`
//! and match case-insensitively. `Match` blocks and `Include` are not
//! supported: they are skipped with a `tracing` debug message, never guessed
//! at. Invalid values (a non-numeric `Port`) are skipped with a debug message
//! so a config OpenSSH would reject does not silently pick a wrong value.

use std::path::{Path, PathBuf};

use crate::hosts::glob_match;

/// The options ssh-fanout takes from `~/.ssh/config` for one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshHostConfig {
    /// `HostName`, with `%h` substituted.
    pub hostname: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// `User`.
    pub user: Option<String>,
    /// Every `IdentityFile` that applies, in order, `~` expanded.
    pub identity_files: Vec<PathBuf>,
    /// `ProxyJump` (`none` yields `None`).
    pub proxy_jump: Option<String>,
    /// `StrictHostKeyChecking`.
    pub strict_host_key_checking: Option<StrictHostKeyChecking>,
    /// `UserKnownHostsFile`, expanded; `Some(empty)` for `none`.
    pub user_known_hosts_files: Option<Vec<PathBuf>>,
    /// `GlobalKnownHostsFile`, `~` expanded; `Some(empty)` for `none`.
    pub global_known_hosts_files: Option<Vec<PathBuf>>,
    /// `HostKeyAlias`, as written.
    pub host_key_alias: Option<String>,
}

/// OpenSSH's `StrictHostKeyChecking` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// `yes` (or `true`).
    Yes,
    /// `ask`.
    Ask,
    /// `accept-new`.
    AcceptNew,
    /// `no`, `off` (or `false`).
    No,
}

impl StrictHostKeyChecking {
    /// Parses a value as OpenSSH does (case-insensitive); an unknown value,
    /// which OpenSSH rejects, is `yes`.
    pub fn parse(value: &str) -> StrictHostKeyChecking {
        match value.to_ascii_lowercase().as_str() {
            "yes" | "true" => StrictHostKeyChecking::Yes,
            "ask" => StrictHostKeyChecking::Ask,
            "accept-new" => StrictHostKeyChecking::AcceptNew,
            "no" | "off" | "false" => StrictHostKeyChecking::No,
            other => {
                tracing::warn!(
                    value = other,
                    "ssh_config: unknown StrictHostKeyChecking value; treated as `yes`"
                );
                StrictHostKeyChecking::Yes
            }
        }
    }
}

/// A parsed ssh client configuration.
#[derive(Clone, Debug, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
    home: Option<PathBuf>,
}

#[derive(Clone, Debug)]
struct Block {
    /// `None` for the options before the first `Host` line (apply to all).
    patterns: Option<Vec<HostPattern>>,
    options: Vec<(Keyword, String)>,
    /// Options taking several values (`UserKnownHostsFile`...).
    lists: Vec<(Keyword, Vec<String>)>,
}

#[derive(Clone, Debug)]
struct HostPattern {
    negated: bool,
    glob: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keyword {
    HostName,
    Port,
    User,
    IdentityFile,
    ProxyJump,
    StrictHostKeyChecking,
    HostKeyAlias,
    UserKnownHostsFile,
    GlobalKnownHostsFile,
}

impl SshConfig {
    /// Parses config text. `~` in paths expands to `$HOME`.
    pub fn parse(text: &str) -> SshConfig {
        Self::parse_with_home(text, home_dir())
    }

    /// Parses config text, expanding `~` and `%d` to `home`.
    pub fn parse_with_home(text: &str, home: Option<PathBuf>) -> SshConfig {
        let mut blocks = vec![Block {
            patterns: None,
            options: Vec::new(),
            lists: Vec::new(),
        }];
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let split_at = line
                .find(|c: char| c.is_whitespace() || c == '=')
                .unwrap_or(line.len());
            let keyword = line[..split_at].to_ascii_lowercase();
            let rest = line[split_at..].trim_start();
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
            let args = split_args(rest);
            match keyword.as_str() {
                "host" => blocks.push(Block {
                    patterns: Some(
                        args.into_iter()
                            .map(|a| match a.strip_prefix('!') {
                                Some(glob) => HostPattern {
                                    negated: true,
                                    glob: glob.to_ascii_lowercase(),
                                },
                                None => HostPattern {
                                    negated: false,
                                    glob: a.to_ascii_lowercase(),
                                },
                            })
                            .collect(),
                    ),
                    options: Vec::new(),
                    lists: Vec::new(),
                }),
                "match" => {
                    tracing::debug!(
                        line = line_no,
                        "ssh_config: `Match` blocks are not supported; skipping the block"
                    );
                    blocks.push(Block {
                        patterns: Some(Vec::new()), // never matches
                        options: Vec::new(),
                        lists: Vec::new(),
                    });
                }
                "include" => {
                    tracing::debug!(
                        line = line_no,
                        "ssh_config: `Include` is not supported; ignored"
                    );
                }
                other => {
                    let keyword = match other {
                        "hostname" => Keyword::HostName,
                        "port" => Keyword::Port,
                        "user" => Keyword::User,
                        "identityfile" => Keyword::IdentityFile,
                        "proxyjump" => Keyword::ProxyJump,
                        "stricthostkeychecking" => Keyword::StrictHostKeyChecking,
                        "hostkeyalias" => Keyword::HostKeyAlias,
                        "userknownhostsfile" => Keyword::UserKnownHostsFile,
                        "globalknownhostsfile" => Keyword::GlobalKnownHostsFile,
                        _ => continue,
                    };
                    if matches!(
                        keyword,
                        Keyword::UserKnownHostsFile | Keyword::GlobalKnownHostsFile
                    ) {
                        if args.is_empty() {
                            tracing::debug!(
                                line = line_no,
                                "ssh_config: `{other}` without a value"
                            );
                        } else if let Some(block) = blocks.last_mut() {
                            block.lists.push((keyword, args));
                        }
                        continue;
                    }
                    let Some(value) = args.into_iter().next() else {
                        tracing::debug!(line = line_no, "ssh_config: `{other}` without a value");
                        continue;
                    };
                    if let Some(block) = blocks.last_mut() {
                        block.options.push((keyword, value));
                    }
                }
            }
        }
        SshConfig { blocks, home }
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> std::io::Result<SshConfig> {
        Ok(Self::parse(&std::fs::read_to_string(path)?))
    }

    /// `~/.ssh/config`, or an empty config when it is missing or unreadable.
    pub fn load_default() -> SshConfig {
        let Some(path) = home_dir().map(|h| h.join(".ssh").join("config")) else {
            return SshConfig::default();
        };
        match Self::load(&path) {
            Ok(config) => config,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!(path = %path.display(), error = %e, "ssh_config: not read");
                }
                SshConfig::default()
            }
        }
    }

    /// The options that apply to `host` (first value wins).
    pub fn lookup(&self, host: &str) -> SshHostConfig {
        let lower = host.to_ascii_lowercase();
        let mut hostname: Option<String> = None;
        let mut port: Option<u16> = None;
        let mut port_seen = false;
        let mut user: Option<String> = None;
        let mut identities: Vec<String> = Vec::new();
        let mut jump: Option<String> = None;
        let mut strict: Option<StrictHostKeyChecking> = None;
        let mut alias: Option<String> = None;
        let mut user_files: Option<&[String]> = None;
        let mut global_files: Option<&[String]> = None;
        for block in self.blocks.iter().filter(|b| b.matches(&lower)) {
            for (keyword, values) in &block.lists {
                match keyword {
                    Keyword::UserKnownHostsFile if user_files.is_none() => {
                        user_files = Some(values)
                    }
                    Keyword::GlobalKnownHostsFile if global_files.is_none() => {
                        global_files = Some(values)
                    }
                    _ => {}
                }
            }
            for (keyword, value) in &block.options {
                match keyword {
                    Keyword::HostName if hostname.is_none() => hostname = Some(value.clone()),
                    Keyword::Port if !port_seen => match value.parse::<u16>() {
                        Ok(p) if p > 0 => {
                            port = Some(p);
                            port_seen = true;
                        }
                        _ => tracing::debug!(value, "ssh_config: invalid Port ignored"),
                    },
                    Keyword::User if user.is_none() => user = Some(value.clone()),
                    Keyword::IdentityFile => identities.push(value.clone()),
                    Keyword::ProxyJump if jump.is_none() => jump = Some(value.clone()),
                    Keyword::StrictHostKeyChecking if strict.is_none() => {
                        strict = Some(StrictHostKeyChecking::parse(value));
                    }
                    Keyword::HostKeyAlias if alias.is_none() => alias = Some(value.clone()),
                    _ => {}
                }
            }
        }
        let hostname = hostname.map(|h| percent_expand(&h, host, None, None, None));
        let local_user = local_user();
        let identity_files = identities
            .iter()
            .map(|f| {
                let f = percent_expand(
                    f,
                    hostname.as_deref().unwrap_or(host),
                    user.as_deref(),
                    self.home.as_deref(),
                    local_user.as_deref(),
                );
                expand_tilde(&f, self.home.as_deref())
            })
            .collect();
        let user_known_hosts_files = user_files.map(|files| {
            file_list(files, |f| {
                let f = percent_expand(
                    f,
                    hostname.as_deref().unwrap_or(host),
                    user.as_deref(),
                    self.home.as_deref(),
                    local_user.as_deref(),
                );
                expand_tilde(&f, self.home.as_deref())
            })
        });
        let global_known_hosts_files =
            global_files.map(|files| file_list(files, |f| expand_tilde(f, self.home.as_deref())));
        SshHostConfig {
            hostname,
            port,
            user,
            identity_files,
            proxy_jump: jump.filter(|j| !j.eq_ignore_ascii_case("none")),
            strict_host_key_checking: strict,
            user_known_hosts_files,
            global_known_hosts_files,
            host_key_alias: alias,
        }
    }
}

impl Block {
    fn matches(&self, host: &str) -> bool {
        let Some(patterns) = &self.patterns else {
            return true;
        };
        let mut positive = false;
        for p in patterns {
            if glob_match(&p.glob, host) {
                if p.negated {
                    return false;
                }
                positive = true;
            }
        }
        positive
    }
}

/// A known_hosts file list: `none` (alone, first) is no file.
fn file_list(files: &[String], expand: impl Fn(&str) -> PathBuf) -> Vec<PathBuf> {
    match files.first() {
        Some(first) if first.eq_ignore_ascii_case("none") => Vec::new(),
        _ => files.iter().map(|f| expand(f)).collect(),
    }
}

/// Splits arguments on whitespace, honouring double quotes.
fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    args.push(std::mem::take(&mut current));
                    any = false;
                }
            }
            c => {
                current.push(c);
                any = true;
            }
        }
    }
    if any {
        args.push(current);
    }
    args
}

/// Expands `%h`, `%r`, `%d`, `%u` and `%%`; unknown tokens are kept verbatim.
fn percent_expand(
    text: &str,
    host: &str,
    remote_user: Option<&str>,
    home: Option<&Path>,
    local_user: Option<&str>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(host),
            Some('r') if remote_user.is_some() => out.push_str(remote_user.unwrap_or_default()),
            Some('d') if home.is_some() => {
                out.push_str(&home.map(|h| h.display().to_string()).unwrap_or_default());
            }
            Some('u') if local_user.is_some() => out.push_str(local_user.unwrap_or_default()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Expands a leading `~` or `~/` to `home`; other paths are returned as is.
pub fn expand_tilde(path: &str, home: Option<&Path>) -> PathBuf {
    match (path, home) {
        ("~", Some(home)) => home.to_owned(),
        (p, Some(home)) if p.starts_with("~/") => home.join(&p[2..]),
        (p, _) => PathBuf::from(p),
    }
}

/// `$HOME`, if set and non-empty.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The local login name (`$USER`, then `$LOGNAME`).
pub fn local_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> SshConfig {
        SshConfig::parse_with_home(text, Some(PathBuf::from("/home/me")))
    }

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let c = cfg("Host web1\n  Port 2201\n  IdentityFile ~/.ssh/web\n\
             Host web*\n  Port 2299\n  User deploy\n  IdentityFile /keys/%h\n\
             Host *\n  User nobody\n  Port 22\n");
        let h = c.lookup("web1");
        assert_eq!(h.port, Some(2201));
        assert_eq!(h.user.as_deref(), Some("deploy"));
        assert_eq!(
            h.identity_files,
            [
                PathBuf::from("/home/me/.ssh/web"),
                PathBuf::from("/keys/web1")
            ]
        );
        let other = c.lookup("db");
        assert_eq!(other.port, Some(22));
        assert_eq!(other.user.as_deref(), Some("nobody"));
        assert!(other.identity_files.is_empty());
    }

    #[test]
    fn hostname_percent_h_and_case_insensitive_keywords() {
        let c = cfg("HOST *.lab\n  hostname=%h.example.test\nhost bastion\n  HostName 127.0.0.9\n");
        assert_eq!(
            c.lookup("a.lab").hostname.as_deref(),
            Some("a.lab.example.test")
        );
        assert_eq!(c.lookup("BASTION").hostname.as_deref(), Some("127.0.0.9"));
        assert_eq!(c.lookup("other").hostname, None);
    }

    #[test]
    fn negation_and_question_mark() {
        let c = cfg("Host h? !h3\n  User u\n");
        assert_eq!(c.lookup("h1").user.as_deref(), Some("u"));
        assert_eq!(c.lookup("h3").user, None);
        assert_eq!(c.lookup("h10").user, None);
        // A block with only negations matches nothing.
        let c = cfg("Host !x\n  User u\n");
        assert_eq!(c.lookup("y").user, None);
    }

    #[test]
    fn options_before_first_host_apply_to_all() {
        let c = cfg("User top\nHost a\n  User a-user\n");
        assert_eq!(c.lookup("a").user.as_deref(), Some("top"));
    }

    #[test]
    fn proxy_jump_and_none() {
        let c = cfg(
            "Host inner\n  ProxyJump bastion:2222\nHost direct\n  ProxyJump none\nHost *\n  ProxyJump fallback\n",
        );
        assert_eq!(
            c.lookup("inner").proxy_jump.as_deref(),
            Some("bastion:2222")
        );
        assert_eq!(c.lookup("direct").proxy_jump, None);
        assert_eq!(c.lookup("x").proxy_jump.as_deref(), Some("fallback"));
    }

    #[test]
    fn match_and_include_are_skipped_and_bad_port_ignored() {
        let c = cfg(
            "Include ~/.ssh/conf.d/*\nMatch host a\n  User matched\nHost a\n  Port nope\n  Port 2022\n  User plain\n",
        );
        let a = c.lookup("a");
        assert_eq!(a.user.as_deref(), Some("plain"));
        assert_eq!(a.port, Some(2022));
    }

    #[test]
    fn quoted_values_and_comments() {
        let c = cfg("# comment\nHost \"q\"\n  IdentityFile \"/path with space/key\"\n");
        assert_eq!(
            c.lookup("q").identity_files,
            [PathBuf::from("/path with space/key")]
        );
    }

    #[test]
    fn host_key_options() {
        let c = cfg(
            "Host a\n  StrictHostKeyChecking Accept-New\n  HostKeyAlias Web.Lab\n\
             UserKnownHostsFile ~/kh1 /kh/%h_%r\n  GlobalKnownHostsFile none\n  User bob\n\
             Host *\n  StrictHostKeyChecking yes\n  UserKnownHostsFile /never\n\
             GlobalKnownHostsFile ~/g1 /g2\n",
        );
        let a = c.lookup("a");
        assert_eq!(
            a.strict_host_key_checking,
            Some(StrictHostKeyChecking::AcceptNew)
        );
        assert_eq!(a.host_key_alias.as_deref(), Some("Web.Lab"));
        assert_eq!(
            a.user_known_hosts_files,
            Some(vec![
                PathBuf::from("/home/me/kh1"),
                PathBuf::from("/kh/a_bob")
            ])
        );
        assert_eq!(a.global_known_hosts_files, Some(vec![]));
        let b = c.lookup("b");
        assert_eq!(b.strict_host_key_checking, Some(StrictHostKeyChecking::Yes));
        assert_eq!(
            b.global_known_hosts_files,
            Some(vec![PathBuf::from("/home/me/g1"), PathBuf::from("/g2")])
        );
        assert_eq!(b.host_key_alias, None);
        assert_eq!(cfg("").lookup("x").user_known_hosts_files, None);
        assert_eq!(
            StrictHostKeyChecking::parse("off"),
            StrictHostKeyChecking::No
        );
        assert_eq!(
            StrictHostKeyChecking::parse("FALSE"),
            StrictHostKeyChecking::No
        );
        assert_eq!(
            StrictHostKeyChecking::parse("ask"),
            StrictHostKeyChecking::Ask
        );
        assert_eq!(
            StrictHostKeyChecking::parse("bogus"),
            StrictHostKeyChecking::Yes
        );
    }

    #[test]
    fn tilde() {
        let home = Path::new("/h");
        assert_eq!(expand_tilde("~", Some(home)), PathBuf::from("/h"));
        assert_eq!(expand_tilde("~/k", Some(home)), PathBuf::from("/h/k"));
        assert_eq!(
            expand_tilde("~other/k", Some(home)),
            PathBuf::from("~other/k")
        );
        assert_eq!(expand_tilde("~/k", None), PathBuf::from("~/k"));
    }
}
