//! The TOML inventory (`hosts.toml`) and per-host settings resolution.
//!
//! Design: the file is read once by [`Inventory::load`]. A large file is
//! cut into batches of whole sections ([`batches`]), each parsed on its own,
//! because toml's parser holds about 25 times its input at peak. Each batch
//! is deserialised with serde only down to its three sections (unknown
//! sections are rejected by `deny_unknown_fields`; `[hosts]` and `[groups]`
//! keep file order), then every value is checked by hand so that each error
//! names the file and the exact key, e.g. `hosts.toml: hosts."web[1-3]".port:
//! expected an integer`. Unknown keys anywhere are errors. Host keys are
//! patterns expanded with [`crate::select::hosts::expand`]; `port_base` gives the
//! i-th host of a pattern `port_base + i`. Paths (`identity`, `known_hosts`)
//! are `~` expanded and relative to the inventory file's directory.
//!
//! Memory: what a host key's hosts share (address, settings) is kept once
//! per key as a `Rule`; each host keeps its name once, in an [`IndexMap`]
//! (file order and lookup in one), with its rule's index and what its name
//! sets (`user@`, `:port`, `port_base`). Group items are checked word by word
//! without being kept, and expanded only when the group is selected.
//!
//! [`Inventory::resolve`] turns a [`HostName`] into a [`HostSpec`]. Precedence,
//! highest first: what the user typed (`user@host:port`), the host's inventory
//! entry, `[defaults]`, built-in defaults. Hosts that are not in the inventory
//! use `~/.ssh/config` instead of an entry (then `[defaults]`).

mod batches;
mod builder;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::excerpt::excerpt;
use crate::select::hosts::{self, HostName};
use crate::select::local_user::{expand_tilde, home_dir, local_user};
use crate::select::ssh_config::{SshConfig, SshHostConfig};
use builder::Builder;

/// Everything needed to connect to one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// The name the user knows the host by (inventory name or pattern word).
    pub name: String,
    /// Where to connect: inventory `address`, ssh_config `HostName`, or `name`.
    pub address: String,
    /// TCP port (default 22).
    pub port: u16,
    /// Login name (default: the local user).
    pub user: String,
    /// Identity files to try, in order. Configured files are listed even if
    /// missing (report them); when none is configured this holds the default
    /// `~/.ssh/id_{ed25519,ecdsa,rsa}` that exist.
    pub identities: Vec<PathBuf>,
    /// Name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// known_hosts file to use instead of `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Connect timeout from the inventory (the CLI flag wins over it).
    pub connect_timeout: Option<Duration>,
    /// Jump host as written (`bastion`, `user@bastion:2222`); resolve it with
    /// [`crate::select::hosts::parse_target`] and [`Inventory::resolve`].
    pub jump: Option<String>,
    /// When this host is a jump host: how many channels (targets) may go
    /// through it at once (`jump_concurrency`; `None`: the default).
    pub jump_concurrency: Option<usize>,
}

/// Why an inventory could not be used. The binary maps these to exit 2.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The inventory file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown section.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The inventory file.
        path: PathBuf,
        /// `line L, column C: ` (when the parser gave a position), the
        /// parser's message, and at most an excerpt of the text there.
        message: String,
    },
    /// A key has a wrong type or value, or is unknown.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The inventory file.
        path: PathBuf,
        /// Dotted key, e.g. `hosts."web[1-3]".port`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `-g NAME` names no group.
    #[error("{}: unknown group `{name}` (known groups: {known})", path.display())]
    UnknownGroup {
        /// The inventory file.
        path: PathBuf,
        /// The requested group.
        name: String,
        /// Comma-separated known groups.
        known: String,
    },
}

/// Settings shared by `[defaults]` and host entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Settings {
    user: Option<String>,
    port: Option<u16>,
    identities: Vec<PathBuf>,
    password_env: Option<String>,
    known_hosts: Option<PathBuf>,
    connect_timeout: Option<Duration>,
    jump: Option<String>,
    jump_concurrency: Option<usize>,
}

/// One `[hosts."pattern"]` key: what all of its hosts share.
#[derive(Clone, Debug)]
struct Rule {
    /// The dotted key, e.g. `hosts."web[1-3]"` (for errors).
    key: Box<str>,
    address: Option<Box<str>>,
    /// `None` when the key sets nothing but `address`, `port` and
    /// `port_base` (the port is in each [`Entry`]; this copy's is unset).
    settings: Option<Box<Settings>>,
}

/// One host of `[hosts]` (its name is the key of [`Inventory::entries`]).
#[derive(Clone, Debug)]
struct Entry {
    /// Index into [`Inventory::rules`].
    rule: u32,
    /// The port from `port_base`, else the key's `port`, else `:port` in the
    /// pattern.
    port: Option<u16>,
    /// `user@` in the pattern (the key's `user` wins over it).
    user: Option<Box<str>>,
}

/// A loaded inventory.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    path: PathBuf,
    defaults: Settings,
    rules: Vec<Rule>,
    entries: IndexMap<Box<str>, Entry>,
    groups: Vec<(String, Vec<String>)>,
    ssh_config: OnceLock<SshConfig>,
    default_identities: OnceLock<Vec<PathBuf>>,
}

const DEFAULT_KEYS: &[&str] = &[
    "user",
    "port",
    "identity",
    "password_env",
    "known_hosts",
    "connect_timeout",
    "jump",
    "jump_concurrency",
];
const HOST_KEYS: &[&str] = &[
    "address",
    "port",
    "port_base",
    "user",
    "identity",
    "password_env",
    "known_hosts",
    "connect_timeout",
    "jump",
    "jump_concurrency",
];

impl Inventory {
    /// An inventory with no hosts: every host resolves through ssh_config.
    pub fn empty() -> Inventory {
        Inventory::default()
    }

    /// Loads and checks an inventory file.
    pub fn load(path: impl AsRef<Path>) -> Result<Inventory, InventoryError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses inventory text; `path` names the file in errors and anchors
    /// relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
        Self::parse_in_batches(text, path, batches::BATCH_BYTES)
    }

    /// [`Inventory::parse`], cutting batches of at least `batch_bytes`.
    fn parse_in_batches(
        text: &str,
        path: &Path,
        batch_bytes: usize,
    ) -> Result<Inventory, InventoryError> {
        let syntax = |offset: usize, message: &str| InventoryError::Syntax {
            path: path.to_owned(),
            message: syntax_message(text, Some(offset), message),
        };
        let ranges =
            batches::split(text, batch_bytes).map_err(|d| syntax(d.offset, "duplicate key"))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_owned);
        let mut builder = Builder::new(Checker {
            path,
            base: &base,
            home: home_dir(),
        });
        for range in ranges {
            let doc = parse_batch(text, range, path)?;
            builder.add(doc)?;
        }
        builder.finish()
    }

    /// Finds `./hosts.toml`, then `$XDG_CONFIG_HOME/netkit/hosts.toml`
    /// (`~/.config` when `XDG_CONFIG_HOME` is unset or empty).
    pub fn discover() -> Result<Option<Inventory>, InventoryError> {
        let xdg = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|x| !x.is_empty())
            .map(PathBuf::from);
        match discover_path(Path::new("."), xdg.as_deref(), home_dir().as_deref()) {
            Some(path) => Self::load(path).map(Some),
            None => Ok(None),
        }
    }

    /// Uses `config` instead of `~/.ssh/config` for hosts not in the inventory.
    pub fn with_ssh_config(self, config: SshConfig) -> Inventory {
        let cell = OnceLock::new();
        let _ = cell.set(config);
        Inventory {
            ssh_config: cell,
            ..self
        }
    }

    /// The ssh client configuration for hosts not in `[hosts]`
    /// (`~/.ssh/config` unless replaced, read on first use).
    pub fn ssh_config(&self) -> &SshConfig {
        self.ssh_config.get_or_init(SshConfig::load_default)
    }

    /// The file this inventory came from (empty for [`Inventory::empty`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Group names in file order.
    pub fn group_names(&self) -> Vec<&str> {
        self.groups.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The hosts of a group, expanded, in order, without duplicates. Items
    /// may be patterns or `@other` group references.
    pub fn group(&self, name: &str) -> Result<Vec<String>, InventoryError> {
        // One selection for the whole group: the host cap is on the group.
        let mut selection = hosts::Selection::new();
        self.group_into(name, &mut Vec::new(), Some(&mut selection))?;
        Ok(selection
            .into_hosts()
            .iter()
            .map(ToString::to_string)
            .collect())
    }

    /// Adds the hosts of a group to `selection`, one pattern at a time, so
    /// the selection's host cap (on a whole run) sizes each before it is
    /// expanded.
    pub fn select_group(
        &self,
        name: &str,
        selection: &mut hosts::Selection,
    ) -> Result<(), InventoryError> {
        self.group_into(name, &mut Vec::new(), Some(selection))
    }

    /// Checks that the `@group` references under `name` name known groups
    /// and make no cycle, expanding nothing.
    fn check_references(&self, name: &str, stack: &mut Vec<String>) -> Result<(), InventoryError> {
        self.group_into(name, stack, None)
    }

    /// Walks group `name` (references depth first), adding its patterns to
    /// `selection` when there is one.
    fn group_into(
        &self,
        name: &str,
        stack: &mut Vec<String>,
        mut selection: Option<&mut hosts::Selection>,
    ) -> Result<(), InventoryError> {
        let Some((_, patterns)) = self.groups.iter().find(|(n, _)| n == name) else {
            return Err(InventoryError::UnknownGroup {
                path: self.path.clone(),
                name: excerpt(name).into_owned(),
                known: excerpt(&self.group_names().join(", ")).into_owned(),
            });
        };
        if stack.iter().any(|s| s == name) {
            return Err(InventoryError::Invalid {
                path: self.path.clone(),
                key: format!("groups.{}", quote_key(name)),
                message: excerpt(&format!("group cycle: {} -> {name}", stack.join(" -> ")))
                    .into_owned(),
            });
        }
        stack.push(name.to_owned());
        for (i, pattern) in patterns.iter().enumerate() {
            if let Some(other) = pattern.strip_prefix('@') {
                self.group_into(other, stack, selection.as_deref_mut())?;
                continue;
            }
            let Some(selection) = selection.as_deref_mut() else {
                continue;
            };
            selection
                .add(pattern)
                .map_err(|e| InventoryError::Invalid {
                    path: self.path.clone(),
                    key: format!("groups.{}[{i}]", quote_key(name)),
                    message: excerpt(&e.to_string()).into_owned(),
                })?;
        }
        stack.pop();
        Ok(())
    }

    /// Every host of `[hosts]`, in file order.
    pub fn all(&self) -> Vec<String> {
        self.entries.keys().map(|name| name.to_string()).collect()
    }

    /// Whether `host` has an entry in `[hosts]`.
    pub fn contains(&self, host: &str) -> bool {
        self.entries.contains_key(host)
    }

    /// Everything needed to connect to `target`, with its ssh config looked
    /// up by name (see [`Inventory::resolve_with`]).
    pub fn resolve(&self, target: &HostName) -> HostSpec {
        let ssh = self.ssh_config().lookup(&target.host);
        self.resolve_with(target, &ssh)
    }

    /// Everything needed to connect to `target`, given what the ssh config
    /// says for it. One precedence for every host, in or out of `[hosts]`:
    /// what was typed (`user@host:port`), the host's `[hosts]` entry, the
    /// inventory's `[defaults]`, the ssh config, then the built-in defaults.
    /// An inventory's settings are its own: a `Host *` block of
    /// `~/.ssh/config` does not redirect its user, port, identities or jump.
    pub fn resolve_with(&self, target: &HostName, ssh: &SshHostConfig) -> HostSpec {
        let d = &self.defaults;
        let none = Settings::default();
        let found = self.entries.get(target.host.as_str()).and_then(|entry| {
            let rule = self.rules.get(entry.rule as usize)?;
            Some((entry, rule))
        });
        let (s, entry) = match found {
            Some((entry, rule)) => (
                rule.settings.as_deref().unwrap_or(&none),
                Some((entry, rule)),
            ),
            None => (&none, None),
        };
        let address = entry.and_then(|(_, rule)| rule.address.as_deref());
        let entry_port = entry.and_then(|(e, _)| e.port);
        let pattern_user = entry.and_then(|(e, _)| e.user.as_deref());
        HostSpec {
            name: target.host.clone(),
            address: address
                .map(str::to_owned)
                .or_else(|| ssh.hostname.clone())
                .unwrap_or_else(|| target.host.clone()),
            port: target
                .port
                .or(entry_port)
                .or(d.port)
                .or(ssh.port)
                .unwrap_or(22),
            user: target
                .user
                .clone()
                .or_else(|| s.user.clone())
                .or_else(|| pattern_user.map(str::to_owned))
                .or_else(|| d.user.clone())
                .or_else(|| ssh.user.clone())
                .unwrap_or_else(|| local_user().unwrap_or_else(|| "root".to_owned())),
            identities: self.identities(&[&s.identities, &d.identities, &ssh.identity_files]),
            password_env: s.password_env.clone().or_else(|| d.password_env.clone()),
            known_hosts: s.known_hosts.clone().or_else(|| d.known_hosts.clone()),
            connect_timeout: s.connect_timeout.or(d.connect_timeout),
            jump: s
                .jump
                .clone()
                .or_else(|| d.jump.clone())
                .or_else(|| ssh.proxy_jump.clone()),
            jump_concurrency: s.jump_concurrency.or(d.jump_concurrency),
        }
    }

    /// The first non-empty configured list, else the default keys that exist.
    fn identities(&self, configured: &[&Vec<PathBuf>]) -> Vec<PathBuf> {
        if let Some(list) = configured.iter().find(|l| !l.is_empty()) {
            return (*list).clone();
        }
        self.default_identities
            .get_or_init(|| {
                let Some(home) = home_dir() else {
                    return Vec::new();
                };
                ["id_ed25519", "id_ecdsa", "id_rsa"]
                    .iter()
                    .map(|k| home.join(".ssh").join(k))
                    .filter(|p| p.is_file())
                    .collect()
            })
            .clone()
    }
}

/// The inventory file `discover` would load, if any.
fn discover_path(cwd: &Path, xdg: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    let local = cwd.join("hosts.toml");
    if local.is_file() {
        // Keep the short relative name for error messages.
        return Some(if cwd == Path::new(".") {
            PathBuf::from("hosts.toml")
        } else {
            local
        });
    }
    let config_dir = xdg
        .map(Path::to_owned)
        .or_else(|| home.map(|h| h.join(".config")))?;
    let path = config_dir.join("netkit").join("hosts.toml");
    path.is_file().then_some(path)
}

/// `web` stays bare; `web[1-3]` becomes `"web[1-3]"` (TOML key syntax).
/// A long key is cut to an [`excerpt`].
fn quote_key(key: &str) -> String {
    let key = excerpt(key);
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.into_owned()
    } else {
        format!("{key:?}")
    }
}

/// Parses one batch of `text` (see [`batches`]); errors are placed in the
/// whole text.
fn parse_batch(text: &str, range: Range<usize>, path: &Path) -> Result<Document, InventoryError> {
    let start = range.start;
    let batch = text.get(range).unwrap_or_default();
    toml::from_str(batch).map_err(|e| InventoryError::Syntax {
        path: path.to_owned(),
        message: syntax_message(text, e.span().map(|span| start + span.start), e.message()),
    })
}

/// A TOML error as one line: `line L, column C: message: near `text``,
/// for an error at byte `offset` of `text`. toml's own `Display` quotes the
/// whole source line (and underlines the whole span), which for a 10 MB
/// line is 10 MB of stderr; this quotes at most an [`excerpt`] of the text
/// from just before the error.
fn syntax_message(text: &str, offset: Option<usize>, message: &str) -> String {
    let message = excerpt(message.trim_end()).replace('\n', " ");
    let Some(offset) = offset else {
        return message;
    };
    let (line, column, line_start) = position(text, offset);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    // Up to 20 characters of context before the error, on its line.
    let at = offset.min(line_end);
    let from = text[line_start..at]
        .char_indices()
        .rev()
        .nth(19)
        .map_or(line_start, |(i, _)| line_start + i);
    let near = excerpt(text[from..line_end].trim_end_matches('\r'));
    if near.trim().is_empty() {
        format!("line {line}, column {column}: {message}")
    } else {
        format!("line {line}, column {column}: {message}: near `{near}`")
    }
}

/// 1-based line and column (in characters) of byte `offset`, and the byte
/// offset where its line starts.
fn position(text: &str, offset: usize) -> (usize, usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let column = text[line_start..offset].chars().count() + 1;
    (line, column, line_start)
}

/// The document down to its sections; values are checked by [`Checker`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    defaults: Option<toml::Table>,
    /// In file order: toml's `preserve_order` feature keeps a table's
    /// keys in the order they were written.
    hosts: Option<toml::Table>,
    groups: Option<toml::Table>,
}

/// Checks values and builds errors that name the file and the key.
struct Checker<'a> {
    path: &'a Path,
    base: &'a Path,
    home: Option<PathBuf>,
}

impl Checker<'_> {
    /// An error naming `key`; the message (which may quote a value or a
    /// host pattern) is cut to an [`excerpt`].
    fn invalid(&self, key: &str, message: &str) -> InventoryError {
        InventoryError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            message: excerpt(message).into_owned(),
        }
    }

    fn settings(
        &self,
        table: &toml::Table,
        key: &str,
        allowed: &[&str],
    ) -> Result<Settings, InventoryError> {
        for k in table.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(self.invalid(
                    &format!("{key}.{}", quote_key(k)),
                    &format!("unknown key (expected one of: {})", allowed.join(", ")),
                ));
            }
        }
        let identities = match table.get("identity") {
            None => Vec::new(),
            Some(toml::Value::String(s)) => vec![self.path_value(s)],
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().map(|s| self.path_value(s)).ok_or_else(|| {
                        self.invalid(&format!("{key}.identity[{i}]"), "expected a string")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(self.invalid(
                    &format!("{key}.identity"),
                    "expected a string or an array of strings",
                ));
            }
        };
        let connect_timeout = match table.get("connect_timeout") {
            None => None,
            Some(toml::Value::String(s)) => Some(
                netkit_cli::parse_duration(s)
                    .map_err(|e| self.invalid(&format!("{key}.connect_timeout"), &e))?,
            ),
            Some(toml::Value::Integer(n)) if *n >= 0 => Some(Duration::from_secs(n.unsigned_abs())),
            Some(_) => {
                return Err(self.invalid(
                    &format!("{key}.connect_timeout"),
                    "expected a duration such as \"10s\"",
                ));
            }
        };
        Ok(Settings {
            user: self.opt_string(table, key, "user")?,
            port: self.opt_port(table, key, "port")?,
            identities,
            password_env: self.opt_string(table, key, "password_env")?,
            known_hosts: self
                .opt_string(table, key, "known_hosts")?
                .map(|s| self.path_value(&s)),
            connect_timeout,
            jump: self.opt_string(table, key, "jump")?,
            jump_concurrency: self.opt_count(table, key, "jump_concurrency")?,
        })
    }

    fn opt_count(
        &self,
        table: &toml::Table,
        key: &str,
        name: &str,
    ) -> Result<Option<usize>, InventoryError> {
        match table.get(name) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) => match usize::try_from(*n) {
                Ok(c) if c > 0 => Ok(Some(c)),
                _ => Err(self.invalid(&format!("{key}.{name}"), "expected a positive integer")),
            },
            Some(_) => Err(self.invalid(&format!("{key}.{name}"), "expected an integer")),
        }
    }

    fn opt_string(
        &self,
        table: &toml::Table,
        key: &str,
        name: &str,
    ) -> Result<Option<String>, InventoryError> {
        match table.get(name) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(toml::Value::String(_)) => {
                Err(self.invalid(&format!("{key}.{name}"), "must not be empty"))
            }
            Some(_) => Err(self.invalid(&format!("{key}.{name}"), "expected a string")),
        }
    }

    fn opt_port(
        &self,
        table: &toml::Table,
        key: &str,
        name: &str,
    ) -> Result<Option<u16>, InventoryError> {
        match table.get(name) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) => match u16::try_from(*n) {
                Ok(p) if p > 0 => Ok(Some(p)),
                _ => {
                    Err(self.invalid(&format!("{key}.{name}"), "expected a port number (1-65535)"))
                }
            },
            Some(_) => Err(self.invalid(&format!("{key}.{name}"), "expected an integer")),
        }
    }

    /// `~` expanded, relative to the inventory's directory.
    fn path_value(&self, text: &str) -> PathBuf {
        let p = expand_tilde(text, self.home.as_deref());
        if p.is_relative() {
            self.base.join(p)
        } else {
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[defaults]              # applies to every host unless it overrides it
user = "netkit"
port = 22
identity = "keys/id_ed25519"
password_env = "LAB_PASSWORD"
known_hosts = "known_hosts"
connect_timeout = "10s"

[hosts."host[0-7]"]
address = "127.0.0.1"
port_base = 2200

[hosts.bastion]
address = "127.0.0.2"
port = 2222
user = "jumper"
identity = ["~/k1", "/abs/k2"]
connect_timeout = "1500ms"

[hosts."web[01-02]"]
jump = "bastion"

[groups]
lab = ["host[0-7]"]
edge = ["bastion", "@lab", "host3"]
"#;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("hosts.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn err(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), text);
        let e = Inventory::load(&path).unwrap_err().to_string();
        // Every error names the file.
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        e.replacen(&path.display().to_string(), "hosts.toml", 1)
    }

    fn inv(dir: &Path) -> Inventory {
        Inventory::load(write(dir, EXAMPLE))
            .unwrap()
            .with_ssh_config(SshConfig::parse_with_home(
                "Host alias\n  HostName 127.0.0.5\n  Port 2022\n  User cfg\n  IdentityFile /cfg/key\n  ProxyJump bastion\n",
                Some(PathBuf::from("/home/me")),
            ))
    }

    #[test]
    fn example_resolves_with_port_base_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let inv = inv(dir.path());
        let h3 = inv.resolve(&HostName::new("host3"));
        assert_eq!(h3.name, "host3");
        assert_eq!(h3.address, "127.0.0.1");
        assert_eq!(h3.port, 2203);
        assert_eq!(h3.user, "netkit");
        assert_eq!(h3.identities, [dir.path().join("keys/id_ed25519")]);
        assert_eq!(h3.password_env.as_deref(), Some("LAB_PASSWORD"));
        assert_eq!(h3.known_hosts, Some(dir.path().join("known_hosts")));
        assert_eq!(h3.connect_timeout, Some(Duration::from_secs(10)));
        assert_eq!(h3.jump, None);
        assert_eq!(inv.resolve(&HostName::new("host0")).port, 2200);
        assert_eq!(inv.resolve(&HostName::new("host7")).port, 2207);
    }

    #[test]
    fn host_overrides_and_cli_target_wins() {
        let dir = tempfile::tempdir().unwrap();
        let inv = inv(dir.path());
        let b = inv.resolve(&HostName::new("bastion"));
        assert_eq!(
            (b.address.as_str(), b.port, b.user.as_str()),
            ("127.0.0.2", 2222, "jumper")
        );
        assert_eq!(b.connect_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(b.identities[1], PathBuf::from("/abs/k2"));
        assert!(b.identities[0].ends_with("k1"));
        assert!(
            !b.identities[0].starts_with(dir.path()),
            "~ must expand to home"
        );
        let typed = inv.resolve(&"root@bastion:9".parse().unwrap());
        assert_eq!((typed.port, typed.user.as_str()), (9, "root"));
        let web = inv.resolve(&HostName::new("web02"));
        assert_eq!(web.jump.as_deref(), Some("bastion"));
        assert_eq!(web.address, "web02");
        assert_eq!(web.port, 22);
    }

    #[test]
    fn one_precedence_for_every_host_defaults_before_ssh_config() {
        let dir = tempfile::tempdir().unwrap();
        let inv = inv(dir.path());
        // Not in [hosts]: HostName and ProxyJump come from the ssh config
        // ([defaults] sets neither), user, port, identity and known_hosts
        // from [defaults], which outrank the ssh config.
        let a = inv.resolve(&HostName::new("alias"));
        assert_eq!(a.address, "127.0.0.5");
        assert_eq!(a.port, 22);
        assert_eq!(a.user, "netkit");
        assert_eq!(a.identities, [dir.path().join("keys/id_ed25519")]);
        assert_eq!(a.jump.as_deref(), Some("bastion"));
        assert_eq!(a.known_hosts, Some(dir.path().join("known_hosts")));
        let other = inv.resolve(&HostName::new("elsewhere"));
        assert_eq!(other.address, "elsewhere");
        assert_eq!(other.user, "netkit");
        assert_eq!(other.port, 22);
        assert_eq!(other.identities, [dir.path().join("keys/id_ed25519")]);
    }

    #[test]
    fn ssh_config_fills_what_the_inventory_leaves_unset() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[hosts.db1]\n[hosts.web1]\naddress = \"127.0.0.9\"\nuser = \"inv\"\n",
        );
        let inv = Inventory::load(path).unwrap().with_ssh_config(SshConfig::parse_with_home(
            "Host db1\n  HostName 127.0.0.7\n  Port 2201\nHost *\n  User star\n  IdentityFile /cfg/star\n  ProxyJump jump1\n",
            Some(PathBuf::from("/home/me")),
        ));
        let db = inv.resolve(&HostName::new("db1"));
        assert_eq!(
            (db.address.as_str(), db.port, db.user.as_str()),
            ("127.0.0.7", 2201, "star")
        );
        assert_eq!(db.identities, [PathBuf::from("/cfg/star")]);
        assert_eq!(db.jump.as_deref(), Some("jump1"));
        // The entry's address and user win over HostName and `Host *`.
        let web = inv.resolve(&HostName::new("web1"));
        assert_eq!(
            (web.address.as_str(), web.user.as_str()),
            ("127.0.0.9", "inv")
        );
        let typed = inv.resolve(&"root@db1:7".parse().unwrap());
        assert_eq!((typed.user.as_str(), typed.port), ("root", 7));
    }

    #[test]
    fn all_and_groups_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let inv = inv(dir.path());
        let all = inv.all();
        assert_eq!(all.len(), 11);
        assert_eq!(all[0], "host0");
        assert_eq!(all[8], "bastion");
        assert_eq!(all[10], "web02");
        assert_eq!(inv.group("lab").unwrap().len(), 8);
        let edge = inv.group("edge").unwrap();
        assert_eq!(edge[0], "bastion");
        assert_eq!(edge[1], "host0");
        assert_eq!(edge.len(), 9, "host3 de-duplicated: {edge:?}");
        let e = inv.group("nope").unwrap_err().to_string();
        assert!(
            e.contains("unknown group `nope`") && e.contains("lab, edge"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_and_key() {
        assert_eq!(
            err("[hosts.\"web[1-3]\"]\nport = \"x\"\n"),
            "hosts.toml: hosts.\"web[1-3]\".port: expected an integer"
        );
        assert_eq!(
            err("[hosts.web]\nport = 70000\n"),
            "hosts.toml: hosts.web.port: expected a port number (1-65535)"
        );
        assert!(
            err("[defaults]\nusr = \"x\"\n").starts_with("hosts.toml: defaults.usr: unknown key")
        );
        assert!(
            err("[hosts.a]\naddres = \"x\"\n")
                .starts_with("hosts.toml: hosts.a.addres: unknown key")
        );
        assert!(err("[defaults]\naddress = \"x\"\n").contains("defaults.address: unknown key"));
        assert!(
            err("[hosts.a]\nconnect_timeout = \"soon\"\n")
                .starts_with("hosts.toml: hosts.a.connect_timeout: ")
        );
        assert_eq!(
            err("[hosts.\"h[1-\"]\n"),
            "hosts.toml: hosts.\"h[1-\": unclosed bracket in host pattern `h[1-`"
        );
        assert!(
            err("[hosts.\"h[1-2]\"]\nport = 1\nport_base = 2\n").contains("cannot both be set")
        );
        assert!(
            err("[hosts.\"h[1-2]\"]\n[hosts.h2]\n")
                .contains("hosts.h2: host `h2` is already defined by hosts.\"h[1-2]\"")
        );
        assert!(
            err("[hosts.\"h[0-9]\"]\nport_base = 65530\n")
                .contains("port_base + host index exceeds 65535")
        );
        assert_eq!(
            err("[groups]\nlab = \"h1\"\n"),
            "hosts.toml: groups.lab: expected an array of host patterns"
        );
        assert!(
            err("[groups]\nlab = [\"h[2-1]\"]\n")
                .starts_with("hosts.toml: groups.lab[0]: reversed range")
        );
        assert!(err("[groups]\nlab = [\"@missing\"]\n").contains("unknown group `missing`"));
        assert!(err("[groups]\na = [\"@b\"]\nb = [\"@a\"]\n").contains("group cycle"));
        assert!(err("[hosts]\nh1 = 3\n").contains("hosts.h1: expected a table"));
        assert!(
            err("[defaults]\nidentity = 3\n")
                .contains("defaults.identity: expected a string or an array")
        );
        // Unknown section and TOML syntax errors.
        assert!(err("[hostz]\n").contains("unknown field `hostz`"));
        assert!(err("[defaults\n").starts_with("hosts.toml: "));
    }

    #[test]
    fn syntax_errors_name_line_and_column_and_quote_an_excerpt() {
        let e = err("[defaults]\nuser = \"x\"\nport = = 3\n");
        assert!(e.starts_with("hosts.toml: line 3, column 8: "), "{e}");
        assert!(e.ends_with(": near `port = = 3`"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        // One 10 MB line: the error names line and column, quotes little.
        let big = format!("[groups]\nlab = [\"{}\" oops]\n", "h".repeat(10 << 20));
        let e = err(&big);
        assert!(e.len() < 1024, "{} bytes: {}", e.len(), &e[..300]);
        assert!(
            e.starts_with("hosts.toml: line 2, column 10485771: "),
            "{e}"
        );
        assert!(e.contains("near `hhhh"), "{e}");
        // A 10 MB key: the key and the pattern error are excerpts too.
        let e = err(&format!("[hosts.\"h[1-{}\"]\n", "9".repeat(10 << 20)));
        assert!(e.len() < 1024, "{} bytes", e.len());
        assert!(e.starts_with("hosts.toml: hosts.\"h[1-999"), "{e}");
        assert!(e.contains("bytes in all"), "{e}");
    }

    /// A document with every kind of section, `hosts` hosts long.
    fn many_sections(hosts: usize) -> String {
        let mut text = String::from("# lab\n[defaults]\nuser = \"d\"\nport = 2000\n\n");
        for i in 0..hosts {
            match i % 3 {
                0 => text.push_str(&format!("[hosts.\"n{i}\"]\naddress = \"127.0.0.{i}\"\n\n")),
                1 => text.push_str(&format!("[hosts.\"u@m{i}-[1-2]\"]\nport_base = 3000\n\n")),
                _ => text.push_str(&format!("[hosts.k{i}]\nuser = \"k\"\nport = {i}\n\n")),
            }
            if i == hosts / 2 {
                text.push_str("[groups]\nhalf = [\"n0\", \"@rest\"]\nrest = [\"k2\"]\n\n");
            }
        }
        text
    }

    #[test]
    fn batches_build_the_inventory_one_document_builds() {
        let text = many_sections(60);
        let path = Path::new("hosts.toml");
        let whole = Inventory::parse_in_batches(&text, path, usize::MAX).unwrap();
        let cut = Inventory::parse_in_batches(&text, path, 100).unwrap();
        assert!(batches::split(&text, 100).unwrap().len() > 10);
        assert_eq!(whole.all(), cut.all());
        assert_eq!(whole.all().len(), 20 + 40 + 20);
        for host in whole.all() {
            let target = HostName::new(host);
            assert_eq!(whole.resolve(&target), cut.resolve(&target));
        }
        assert_eq!(cut.group("half").unwrap(), ["n0", "k2"]);
        let m = cut.resolve(&HostName::new("m1-2"));
        assert_eq!((m.user.as_str(), m.port), ("u", 3001));
        let k = cut.resolve(&HostName::new("k2"));
        assert_eq!((k.user.as_str(), k.port), ("k", 2));
    }

    #[test]
    fn errors_in_later_batches_name_their_line_in_the_file() {
        let path = Path::new("hosts.toml");
        let text = format!("{}[hosts.bad]\nport = = 1\n", many_sections(30));
        let line = text.lines().count();
        let e = Inventory::parse_in_batches(&text, path, 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            Inventory::parse_in_batches(&text, path, usize::MAX)
                .unwrap_err()
                .to_string()
        );
        assert!(
            e.to_string()
                .starts_with(&format!("hosts.toml: line {line}, column 8: ")),
            "{e}"
        );
        // A section opened again in a later batch is toml's duplicate key.
        let text = format!("{}[defaults]\n", many_sections(30));
        let line = text.lines().count();
        let e = Inventory::parse_in_batches(&text, path, 100)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("hosts.toml: line {line}, column 2: duplicate key")),
            "{e}"
        );
        // A host defined by keys in two batches.
        let text = format!("{}[hosts.n0]\n", many_sections(30));
        let e = Inventory::parse_in_batches(&text, path, 100)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hosts.n0: host `n0` is already defined by hosts.n0"),
            "{e}"
        );
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Inventory::load(dir.path().join("nope.toml")).unwrap_err();
        assert!(matches!(e, InventoryError::Read { .. }));
        assert!(e.to_string().contains("nope.toml"));
    }

    #[test]
    fn discovery_order() {
        let cwd = tempfile::tempdir().unwrap();
        let xdg = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        assert_eq!(
            discover_path(cwd.path(), Some(xdg.path()), Some(home.path())),
            None
        );
        let home_file = home.path().join(".config/netkit/hosts.toml");
        std::fs::create_dir_all(home_file.parent().unwrap()).unwrap();
        std::fs::write(&home_file, "").unwrap();
        assert_eq!(
            discover_path(cwd.path(), None, Some(home.path())),
            Some(home_file.clone())
        );
        // XDG_CONFIG_HOME replaces ~/.config.
        assert_eq!(
            discover_path(cwd.path(), Some(xdg.path()), Some(home.path())),
            None
        );
        let xdg_file = xdg.path().join("netkit/hosts.toml");
        std::fs::create_dir_all(xdg_file.parent().unwrap()).unwrap();
        std::fs::write(&xdg_file, "").unwrap();
        assert_eq!(
            discover_path(cwd.path(), Some(xdg.path()), Some(home.path())),
            Some(xdg_file)
        );
        std::fs::write(cwd.path().join("hosts.toml"), "").unwrap();
        assert_eq!(
            discover_path(cwd.path(), Some(xdg.path()), Some(home.path())),
            Some(cwd.path().join("hosts.toml"))
        );
    }

    #[test]
    fn empty_inventory_resolves_through_defaults() {
        let inv = Inventory::empty().with_ssh_config(SshConfig::default());
        let h = inv.resolve(&"u@h:2".parse().unwrap());
        assert_eq!((h.address.as_str(), h.port, h.user.as_str()), ("h", 2, "u"));
        assert!(inv.all().is_empty());
    }
}
