//! From raw flags ([`Args`]) to a checked [`RunConfig`]: commands, host
//! selection (`-w`/`-g`/`-a`/`-x`), inventory and `~/.ssh/config` (or
//! `-F`) resolution, host key settings, jump hosts, output settings. Every error here is a usage or
//! inventory error (exit 2) and names the flag, file or key at fault.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{Args, HostKeyPolicy};
use crate::connect::known_hosts::{DEFAULT_GLOBAL_FILES, default_user_files};
use crate::excerpt::excerpt;
use crate::jobs::copy::{CopySpec, DEFAULT_MAX_BYTES, Direction, PushPlan, window_for};
use crate::jobs::exec::ExecSpec;
use crate::output::{Mode, OutputConfig};
use crate::select::hosts::{self, HostName};
use crate::select::inventory::{Inventory, InventoryError};
use crate::select::ssh_config::tokens::percent_expand;
use crate::select::ssh_config::{IdentityAgent, SshConfig, SshHostConfig, StrictHostKeyChecking};
use crate::select::target::{HostKeySettings, Target};

/// Default connect timeout when neither the flag nor the inventory sets one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long running hosts may finish after the first Ctrl-C.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);
/// Nested ProxyJump limit.
const MAX_JUMP_DEPTH: usize = 8;

/// A usage or inventory error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Bad flag value or combination.
    #[error("{0}")]
    Usage(String),
    /// Inventory problem (names the file and key).
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Hosts, in order (NETKIT_NODENUM is the position here).
    pub targets: Vec<Arc<Target>>,
    /// What to run (stdin is filled by the run when `read_stdin`).
    pub exec: ExecSpec,
    /// What to copy first (`--copy`/`--rcopy`), if anything.
    pub copy: Option<CopySpec>,
    /// Read our stdin once and forward it to every command.
    pub read_stdin: bool,
    /// Hosts in flight.
    pub fanout: usize,
    /// New connections per second.
    pub handshake_rate: Option<f64>,
    /// Connect-phase retries.
    pub retries: u32,
    /// Ask for a password once.
    pub ask_pass: bool,
    /// Use ssh-agent (`SSH_AUTH_SOCK`).
    pub use_agent: bool,
    /// Output settings.
    pub output: OutputConfig,
    /// Show a progress line on stderr.
    pub progress: bool,
    /// Grace after the first Ctrl-C.
    pub grace: Duration,
}

impl RunConfig {
    /// Checks `args` and resolves hosts through the inventory (explicit,
    /// discovered, or none) and `~/.ssh/config`.
    pub fn from_args(args: &Args) -> Result<RunConfig, ConfigError> {
        Self::with_inventory(args, &Self::load(args)?)
    }

    /// `--dry-run` for `args`: the report [`RunConfig::dry_run_report`]
    /// writes, from the same inventory and ssh config a run would read.
    pub fn dry_run(args: &Args) -> Result<String, ConfigError> {
        Self::dry_run_report(args, &Self::load(args)?)
    }

    /// The inventory (explicit, discovered, or none) with the ssh config
    /// `-F` selects.
    fn load(args: &Args) -> Result<Inventory, ConfigError> {
        let inventory = match &args.inventory {
            Some(path) => Inventory::load(path)?,
            None => Inventory::discover()?.unwrap_or_else(Inventory::empty),
        };
        // As `ssh`: -F FILE is the user file and then no system file;
        // -F none reads none; else ~/.ssh/config then /etc/ssh/ssh_config.
        let ssh = SshConfig::for_flag(args.ssh_config.as_deref()).map_err(|e| {
            match &args.ssh_config {
                Some(path) => ConfigError::Usage(format!("-F {}: {e}", path.display())),
                None => ConfigError::Usage(e.to_string()),
            }
        })?;
        Ok(inventory.with_ssh_config(ssh))
    }

    /// `--dry-run`: the resolution of every selected host, as text (or JSON
    /// lines with `--json`), connecting to nothing. Without a command (and
    /// without `--copy`/`--rcopy`) only the hosts are listed, one per line,
    /// as `pdsh -q` lists its targets (still resolved, so a refused config
    /// is exit 2).
    pub fn dry_run_report(args: &Args, inventory: &Inventory) -> Result<String, ConfigError> {
        let names = select_hosts(args, inventory)?;
        let mut resolver = Resolver::new(args, inventory);
        let mut out = String::new();
        let list_only = args.commands.is_empty()
            && args.command.is_empty()
            && args.script.is_none()
            && args.copy.is_empty()
            && args.rcopy.is_empty();
        for name in &names {
            let t = resolver.target(name, 0)?;
            if list_only {
                if args.json {
                    out.push_str(&serde_json::json!({ "host": t.name }).to_string());
                } else {
                    out.push_str(&t.name);
                }
                out.push('\n');
                continue;
            }
            let c = inventory
                .ssh_config()
                .try_lookup(&name.host)
                .map_err(|e| ConfigError::Usage(format!("{}: {e}", name.host)))?;
            let from = |key: &str, matches: bool| -> String {
                match (matches, c.origins.get(key)) {
                    (true, Some(o)) => format!("  ({o})"),
                    _ => String::new(),
                }
            };
            let mut chain = Vec::new();
            let mut via = t.jump.clone();
            while let Some(j) = via {
                chain.push(format!("{}@{}:{}", j.user, j.address, j.port));
                via = j.jump.clone();
            }
            chain.reverse();
            let files = |v: &[PathBuf]| {
                if v.is_empty() {
                    "none".to_owned()
                } else {
                    v.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                }
            };
            if args.json {
                let v = serde_json::json!({
                    "host": t.name,
                    "address": t.address,
                    "port": t.port,
                    "user": t.user,
                    "identities": t.identities.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                    "identities_only": t.identities_only,
                    "certificates": t.certificates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                    "agent": t.agent_socket.as_ref().map(|p| p.display().to_string()),
                    "jump": chain,
                    "proxy_command": t.proxy_command,
                    "user_known_hosts": t.host_keys.user_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                    "global_known_hosts": t.host_keys.global_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                    "host_key_alias": t.host_keys.alias,
                    "host_key_policy": policy_name(t.host_keys.policy),
                    "host_key_policy_origin": t.host_keys.policy_origin,
                    "connect_timeout_secs": t.connect_timeout.as_secs_f64(),
                    "origins": c.origins.iter().map(|(k, o)| (k.clone(), o.to_string())).collect::<std::collections::BTreeMap<_, _>>(),
                    "warnings": c.warnings,
                });
                out.push_str(&v.to_string());
                out.push('\n');
                continue;
            }
            out.push_str(&format!("{}\n", t.name));
            out.push_str(&format!(
                "  address          {}{}\n",
                t.address,
                from(
                    "hostname",
                    c.hostname.as_deref() == Some(t.address.as_str())
                )
            ));
            out.push_str(&format!(
                "  port             {}{}\n",
                t.port,
                from("port", c.port == Some(t.port))
            ));
            out.push_str(&format!(
                "  user             {}{}\n",
                t.user,
                from("user", c.user.as_deref() == Some(t.user.as_str()))
            ));
            out.push_str(&format!(
                "  identities       {}{}\n",
                files(&t.identities),
                from(
                    "identityfile",
                    !t.identities.is_empty() && c.identity_files == t.identities
                )
            ));
            if t.identities_only {
                out.push_str(&format!(
                    "  identities_only  yes{}\n",
                    from("identitiesonly", true)
                ));
            }
            if !t.certificates.is_empty() {
                out.push_str(&format!(
                    "  certificates     {}{}\n",
                    files(&t.certificates),
                    from("certificatefile", !c.certificate_files.is_empty())
                ));
            }
            out.push_str(&format!(
                "  agent            {}{}\n",
                t.agent_socket
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
                from("identityagent", c.identity_agent.is_some())
            ));
            out.push_str(&format!(
                "  jump             {}{}\n",
                if chain.is_empty() {
                    "none".to_owned()
                } else {
                    chain.join(" -> ")
                },
                from("proxyjump", !chain.is_empty() && c.proxy_jump.is_some())
            ));
            if let Some(p) = &t.proxy_command {
                out.push_str(&format!(
                    "  proxy_command    {p}{}\n",
                    from("proxycommand", true)
                ));
            }
            out.push_str(&format!(
                "  user_known_hosts {}{}\n",
                files(&t.host_keys.user_files),
                from(
                    "userknownhostsfile",
                    c.user_known_hosts_files.as_deref() == Some(&t.host_keys.user_files[..])
                )
            ));
            out.push_str(&format!(
                "  global_known_hosts {}{}\n",
                files(&t.host_keys.global_files),
                from(
                    "globalknownhostsfile",
                    c.global_known_hosts_files.as_deref() == Some(&t.host_keys.global_files[..])
                )
            ));
            if let Some(a) = &t.host_keys.alias {
                out.push_str(&format!(
                    "  host_key_alias   {a}{}\n",
                    from("hostkeyalias", true)
                ));
            }
            out.push_str(&format!(
                "  host_key_policy  {} ({}){}\n",
                policy_name(t.host_keys.policy),
                t.host_keys.policy_origin,
                from(
                    "stricthostkeychecking",
                    args.host_key_policy.is_none() && c.strict_host_key_checking.is_some()
                )
            ));
            out.push_str(&format!(
                "  connect_timeout  {}s{}\n",
                t.connect_timeout.as_secs_f64(),
                from(
                    "connecttimeout",
                    c.connect_timeout == Some(t.connect_timeout)
                )
            ));
            for w in &c.warnings {
                out.push_str(&format!("  warning          {w}\n"));
            }
        }
        Ok(out)
    }

    /// [`RunConfig::from_args`] with an already loaded inventory.
    pub fn with_inventory(args: &Args, inventory: &Inventory) -> Result<RunConfig, ConfigError> {
        let usage = |m: String| ConfigError::Usage(m);
        let commands = commands(args)?;
        let env = parse_env(&args.env)?;
        if args.fanout == 0 {
            return Err(usage("--fanout must be at least 1".into()));
        }
        if let Some(rate) = args.handshake_rate
            && (!rate.is_finite() || rate <= 0.0)
        {
            return Err(usage(format!(
                "--handshake-rate {rate}: must be a positive number of connections per second"
            )));
        }
        let names = select_hosts(args, inventory)?;
        let copy = copy_spec(args, names.len())?;
        let mut resolver = Resolver::new(args, inventory);
        let mut targets = Vec::with_capacity(names.len());
        for name in &names {
            targets.push(resolver.target(name, 0)?);
        }
        let mode = if args.json {
            Mode::Json
        } else if args.gather {
            Mode::Gather
        } else {
            Mode::Stream {
                prefix: !args.no_prefix,
            }
        };
        let output = OutputConfig {
            mode,
            color: args.ui.color_for_stdout(),
            outdir: args.outdir.clone(),
            errdir: args.errdir.clone(),
            summary: !args.ui.quiet,
            failed_hosts: args.failed_hosts.clone(),
            ..OutputConfig::default()
        };
        Ok(RunConfig {
            targets,
            exec: ExecSpec {
                commands: commands.into(),
                env: env.into(),
                stdin: None,
                tty: args.tty,
                command_timeout: args.command_timeout,
                parallel: args.parallel_commands,
            },
            copy,
            read_stdin: args.stdin,
            fanout: args.fanout,
            handshake_rate: args.handshake_rate,
            retries: args.retries,
            ask_pass: args.ask_pass,
            use_agent: true,
            output,
            progress: args.ui.progress_enabled(),
            grace: DEFAULT_GRACE,
        })
    }
}

fn commands(args: &Args) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = args.commands.clone();
    if let Some(path) = &args.script {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Usage(format!("--script {}: {e}", path.display())))?;
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if !args.command.is_empty() {
        out.push(args.command.join(" "));
    }
    let copies = !args.copy.is_empty() || !args.rcopy.is_empty();
    if copies && out.is_empty() {
        return Ok(out);
    }
    if out.iter().all(|c| c.trim().is_empty()) {
        return Err(ConfigError::Usage(
            "no command: give -c CMD, --script FILE, a trailing COMMAND, or --copy/--rcopy".into(),
        ));
    }
    Ok(out)
}

/// `--copy`/`--rcopy` and their options, checked; the push's sources
/// scanned once here.
fn copy_spec(args: &Args, hosts: usize) -> Result<Option<CopySpec>, ConfigError> {
    let usage = |m: String| ConfigError::Usage(m);
    let copies = !args.copy.is_empty() || !args.rcopy.is_empty();
    if !copies {
        let stray = [
            ("--dest", args.dest.is_some()),
            ("--recursive", args.recursive),
            ("--preserve", args.preserve),
            ("--copy-exclude", !args.copy_exclude.is_empty()),
            ("--verify", args.verify),
            ("--max-bytes", args.max_bytes.is_some()),
        ];
        if let Some((flag, _)) = stray.iter().find(|(_, set)| *set) {
            return Err(usage(format!("{flag} needs --copy or --rcopy")));
        }
        return Ok(None);
    }
    let Some(dest) = args.dest.clone().filter(|d| !d.is_empty()) else {
        return Err(usage("--copy and --rcopy need --dest PATH".into()));
    };
    let direction = if args.copy.is_empty() {
        if args.rcopy.iter().any(|s| s.is_empty()) {
            return Err(usage("--rcopy: empty path".into()));
        }
        Direction::Pull(args.rcopy.clone().into())
    } else {
        let plan = PushPlan::scan(&args.copy, args.recursive, &args.copy_exclude).map_err(usage)?;
        Direction::Push(Arc::new(plan))
    };
    Ok(Some(CopySpec {
        direction,
        dest,
        recursive: args.recursive,
        preserve: args.preserve,
        exclude: args.copy_exclude.clone().into(),
        verify: args.verify,
        max_bytes: args.max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
        chunks: Arc::default(),
        window: window_for(args.fanout.min(hosts)),
    }))
}

fn parse_env(items: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    items
        .iter()
        .map(|item| {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| ConfigError::Usage(format!("-e {item:?}: expected KEY=VALUE")))?;
            let valid = !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ConfigError::Usage(format!(
                    "-e {item:?}: {k:?} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"
                )));
            }
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// One [`hosts::Selection`] for every `-w`, `-g` and `-a`, in that order, so
/// the [`hosts::MAX_HOSTS`] cap is on the whole run; then `-x`. `-w -`
/// reads the hosts from stdin (pdsh), and `@group` inside `-w`/`-x` is an
/// inventory group.
fn select_hosts(args: &Args, inventory: &Inventory) -> Result<Vec<HostName>, ConfigError> {
    select_hosts_from(args, inventory, &mut std::io::stdin().lock())
}

/// [`select_hosts`] with `-w -` reading `stdin`.
fn select_hosts_from(
    args: &Args,
    inventory: &Inventory,
    stdin: &mut dyn std::io::Read,
) -> Result<Vec<HostName>, ConfigError> {
    let pattern_err = |flag: &str, p: &str, e: hosts::PatternError| {
        ConfigError::Usage(format!("{flag} '{}': {e}", excerpt(p)))
    };
    let dashes = args.hosts.iter().filter(|p| p.trim() == "-").count();
    if dashes > 1 {
        return Err(ConfigError::Usage(
            "-w -: stdin can be read once only".into(),
        ));
    }
    if dashes == 1 && args.stdin {
        return Err(ConfigError::Usage(
            "-w - reads the hosts from stdin, so --stdin cannot forward it too".into(),
        ));
    }
    let mut groups = |name: &str| -> Result<Vec<HostName>, hosts::PatternError> {
        let names = inventory
            .group(name)
            .map_err(|e| hosts::PatternError::Group {
                name: name.to_owned(),
                message: e.to_string(),
            })?;
        names.iter().map(|n| hosts::parse_target(n)).collect()
    };
    let mut selection = hosts::Selection::new();
    for p in &args.hosts {
        if p.trim() == "-" {
            selection
                .add_reader("stdin", &mut *stdin, &mut groups)
                .map_err(|e| pattern_err("-w", p, e))?;
        } else {
            selection
                .add_with_groups(p, &mut groups)
                .map_err(|e| pattern_err("-w", p, e))?;
        }
    }
    for g in &args.group {
        inventory
            .select_group(g, &mut selection)
            .map_err(|e| match e {
                e @ InventoryError::UnknownGroup { .. } => ConfigError::Inventory(e),
                e => ConfigError::Usage(format!("-g '{}': {e}", excerpt(g))),
            })?;
    }
    if args.all {
        let all = inventory.all();
        if all.is_empty() {
            return Err(ConfigError::Usage(
                "-a/--all: no inventory hosts (give -i FILE or create ./hosts.toml)".into(),
            ));
        }
        let all = all.into_iter().map(HostName::new).collect();
        selection
            .add_hosts("the inventory's hosts", all)
            .map_err(|e| ConfigError::Usage(format!("-a: {e}")))?;
    }
    let mut list = selection.into_hosts();
    for x in &args.exclude {
        list = hosts::exclude_with_groups(list, x, &mut groups)
            .map_err(|e| pattern_err("-x", x, e))?;
    }
    let mut seen = std::collections::HashSet::new();
    list.retain(|h| seen.insert(h.to_string()));
    if list.is_empty() {
        return Err(ConfigError::Usage(
            "no hosts selected: use -w PATTERN, -g GROUP or -a".into(),
        ));
    }
    Ok(list)
}

struct Resolver<'a> {
    inventory: &'a Inventory,
    cli_timeout: Option<Duration>,
    cli_policy: Option<HostKeyPolicy>,
    /// `~/.ssh/known_hosts ~/.ssh/known_hosts2` (empty without `$HOME`).
    default_user_files: Vec<PathBuf>,
    jumps: HashMap<String, Arc<Target>>,
}

impl<'a> Resolver<'a> {
    /// A resolver for one run's (or one dry run's) hosts.
    fn new(args: &Args, inventory: &'a Inventory) -> Self {
        Resolver {
            inventory,
            cli_timeout: args.connect_timeout,
            cli_policy: args.host_key_policy,
            default_user_files: default_user_files(
                crate::select::local_user::home_dir().as_deref(),
            ),
            jumps: HashMap::new(),
        }
    }

    fn target(&mut self, name: &HostName, depth: usize) -> Result<Arc<Target>, ConfigError> {
        // A refused ssh config stops here, naming file:line, before the
        // inventory reads it.
        let ssh = self
            .inventory
            .ssh_config()
            .try_lookup_for(&name.host, name.user.as_deref(), name.port)
            .map_err(|e| ConfigError::Usage(format!("{}: {e}", name.host)))?;
        let spec = self.inventory.resolve_with(name, &ssh);
        let jump = match &spec.jump {
            None => None,
            Some(j) if j.eq_ignore_ascii_case("none") => None,
            Some(j) => {
                if depth >= MAX_JUMP_DEPTH {
                    return Err(ConfigError::Usage(format!(
                        "{}: jump chain deeper than {MAX_JUMP_DEPTH} (a cycle?)",
                        spec.name
                    )));
                }
                // ProxyJump may list several hops; the last one is adjacent
                // to the target, each hop jumps through the previous.
                let mut via: Option<Arc<Target>> = None;
                for hop in j.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                    let key = format!(
                        "{hop}>{}",
                        via.as_ref().map(|v| v.connection_key()).unwrap_or_default()
                    );
                    let t = match self.jumps.get(&key) {
                        Some(t) => t.clone(),
                        None => {
                            let hn = hosts::parse_target(hop).map_err(|e| {
                                ConfigError::Usage(format!("{}: jump {hop:?}: {e}", spec.name))
                            })?;
                            let mut t = (*self.target(&hn, depth + 1)?).clone();
                            if via.is_some() && t.jump.is_none() {
                                t.jump = via.clone();
                            }
                            let t = Arc::new(t);
                            self.jumps.insert(key, t.clone());
                            t
                        }
                    };
                    via = Some(t);
                }
                via
            }
        };
        // ssh_config lets only one of ProxyJump and ProxyCommand apply (the
        // first set); an inventory `jump` outranks both. Its tokens take the
        // values the host resolved to (`%h` is an inventory `address` too),
        // as ssh expands them with its final HostName, Port and User.
        let proxy_command = match (&spec.jump, &ssh.proxy_command_template) {
            (Some(_), _) | (None, None) => None,
            (None, Some(template)) => {
                let port = spec.port.to_string();
                let table = [
                    ('h', spec.address.as_str()),
                    ('n', name.host.as_str()),
                    ('p', port.as_str()),
                    ('r', spec.user.as_str()),
                ];
                percent_expand(template, &table)
                    .ok()
                    .or_else(|| ssh.proxy_command.clone())
            }
        };
        let host_keys = self.host_keys(&name.host, &ssh, spec.known_hosts.clone())?;
        let display = if name.user.is_some() || name.port.is_some() {
            name.to_string()
        } else {
            spec.name.clone()
        };
        Ok(Arc::new(Target {
            name: display,
            address: spec.address,
            port: spec.port,
            user: spec.user,
            identities_only: ssh.identities_only.unwrap_or(false),
            certificates: certificates(&ssh.certificate_files, &spec.identities),
            agent_socket: agent_socket(ssh.agent.as_ref()),
            identities: spec.identities,
            password_env: spec.password_env,
            host_keys,
            connect_timeout: self
                .cli_timeout
                .or(spec.connect_timeout)
                .or(ssh.connect_timeout)
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            jump,
            proxy_command,
            jump_concurrency: spec
                .jump_concurrency
                .unwrap_or(crate::select::target::DEFAULT_JUMP_CONCURRENCY),
        }))
    }

    /// Host key settings, from the ssh config's `StrictHostKeyChecking`,
    /// `UserKnownHostsFile`, `GlobalKnownHostsFile` and `HostKeyAlias` for
    /// `host` (looked up by the name given, as `ssh` matches `Host` lines),
    /// every host alike. `--host-key-policy` wins over
    /// `StrictHostKeyChecking`. The inventory's `known_hosts` (the host's
    /// entry, else `[defaults]`) is the user file and wins over
    /// `UserKnownHostsFile`, as every inventory setting wins over the ssh
    /// config.
    fn host_keys(
        &self,
        host: &str,
        from_config: &SshHostConfig,
        inventory_file: Option<PathBuf>,
    ) -> Result<HostKeySettings, ConfigError> {
        let (policy, policy_origin) = match (self.cli_policy, from_config.strict_host_key_checking)
        {
            (Some(p), _) => (p, format!("--host-key-policy {}", policy_name(p))),
            (None, Some(s)) => {
                let (p, word) = match s {
                    StrictHostKeyChecking::Yes => (HostKeyPolicy::Strict, "yes"),
                    StrictHostKeyChecking::Ask => (HostKeyPolicy::Strict, "ask"),
                    StrictHostKeyChecking::AcceptNew => (HostKeyPolicy::AcceptNew, "accept-new"),
                    StrictHostKeyChecking::No => (HostKeyPolicy::AcceptNew, "no"),
                };
                (p, format!("StrictHostKeyChecking {word} in the ssh config"))
            }
            (None, None) => (HostKeyPolicy::AcceptNew, "the default policy".to_owned()),
        };
        let user_files = match inventory_file
            .map(|f| vec![f])
            .or_else(|| from_config.user_known_hosts_files.clone())
        {
            Some(files) => files,
            None if self.default_user_files.is_empty() && policy != HostKeyPolicy::Off => {
                return Err(ConfigError::Usage(format!(
                    "{host}: no known_hosts file: HOME is unset; set known_hosts in the \
                     inventory or UserKnownHostsFile in the ssh config"
                )));
            }
            None => self.default_user_files.clone(),
        };
        let global_files = from_config
            .global_known_hosts_files
            .clone()
            .unwrap_or_else(|| DEFAULT_GLOBAL_FILES.iter().map(PathBuf::from).collect());
        Ok(HostKeySettings {
            policy,
            policy_origin,
            user_files,
            global_files,
            // ssh lowercases HostKeyAlias before using it (ssh.c).
            alias: from_config
                .host_key_alias
                .as_ref()
                .map(|a| a.to_ascii_lowercase()),
        })
    }
}

/// `CertificateFile`s, then each identity's `-cert.pub` that exists (as
/// ssh loads `id_ed25519-cert.pub` beside `id_ed25519`), once each.
fn certificates(configured: &[PathBuf], identities: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = configured.to_vec();
    for id in identities {
        let mut cert = id.clone().into_os_string();
        cert.push("-cert.pub");
        let cert = PathBuf::from(cert);
        if cert.is_file() {
            out.push(cert);
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// The agent socket: `IdentityAgent` (`none`, `SSH_AUTH_SOCK`, `$VAR`, a
/// path), else `$SSH_AUTH_SOCK`. An unset or empty variable: no agent.
fn agent_socket(agent: Option<&IdentityAgent>) -> Option<PathBuf> {
    let from_env = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    match agent {
        None => from_env("SSH_AUTH_SOCK"),
        Some(IdentityAgent::None) => None,
        Some(IdentityAgent::Env(var)) => from_env(var),
        Some(IdentityAgent::Socket(path)) => Some(path.clone()),
    }
}

fn policy_name(p: HostKeyPolicy) -> &'static str {
    match p {
        HostKeyPolicy::Strict => "strict",
        HostKeyPolicy::AcceptNew => "accept-new",
        HostKeyPolicy::Off => "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(v: &[&str]) -> Args {
        Args::parse_from(std::iter::once("ssh-fanout").chain(v.iter().copied()))
    }

    #[test]
    fn positional_command_and_c_flags_combine() {
        let a = args(&["-w", "h[1-2]", "-c", "one", "uname", "-a"]);
        let cfg = RunConfig::with_inventory(&a, &Inventory::empty()).unwrap();
        assert_eq!(
            &*cfg.exec.commands,
            &["one".to_owned(), "uname -a".to_owned()]
        );
        assert_eq!(cfg.targets.len(), 2);
        assert_eq!(cfg.targets[1].name, "h2");
    }

    #[test]
    fn exclude_and_dedup() {
        let a = args(&["-w", "h[1-4],h2", "-x", "h3", "true"]);
        let cfg = RunConfig::with_inventory(&a, &Inventory::empty()).unwrap();
        let names: Vec<_> = cfg.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["h1", "h2", "h4"]);
    }

    #[test]
    fn usage_errors_are_precise() {
        let no_cmd = RunConfig::with_inventory(&args(&["-w", "h1"]), &Inventory::empty());
        assert!(no_cmd.unwrap_err().to_string().contains("no command"));
        let bad_env = RunConfig::with_inventory(
            &args(&["-w", "h1", "-e", "1X=2", "true"]),
            &Inventory::empty(),
        );
        assert!(
            bad_env
                .unwrap_err()
                .to_string()
                .contains("not a valid variable name")
        );
        let no_hosts = RunConfig::with_inventory(&args(&["true"]), &Inventory::empty());
        assert!(
            no_hosts
                .unwrap_err()
                .to_string()
                .contains("no hosts selected")
        );
    }

    #[test]
    fn user_and_port_typed_on_the_command_line_win() {
        let a = args(&["-w", "bob@h1:2222", "-t", "3s", "true"]);
        let cfg = RunConfig::with_inventory(&a, &Inventory::empty()).unwrap();
        let t = &cfg.targets[0];
        assert_eq!((t.user.as_str(), t.port), ("bob", 2222));
        assert_eq!(t.connect_timeout, Duration::from_secs(3));
        assert_eq!(t.name, "bob@h1:2222");
    }

    #[test]
    fn jump_hosts_resolve_and_are_shared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.toml");
        std::fs::write(
            &path,
            "[defaults]\nuser = \"u\"\n[hosts.bastion]\naddress = \"127.0.0.1\"\nport = 2200\n\
             [hosts.\"n[1-2]\"]\naddress = \"127.0.0.1\"\nport_base = 2300\njump = \"bastion\"\n",
        )
        .unwrap();
        let inv = Inventory::load(&path).unwrap();
        let cfg = RunConfig::with_inventory(&args(&["-w", "n[1-2]", "true"]), &inv).unwrap();
        let j1 = cfg.targets[0].jump.clone().unwrap();
        let j2 = cfg.targets[1].jump.clone().unwrap();
        assert!(Arc::ptr_eq(&j1, &j2));
        assert_eq!(j1.port, 2200);
        assert_eq!(cfg.targets[1].port, 2301);
    }

    #[test]
    fn host_key_settings_come_from_the_ssh_config_and_the_flag_wins() {
        let dir = tempfile::tempdir().unwrap();
        let inv_path = dir.path().join("hosts.toml");
        std::fs::write(
            &inv_path,
            "[hosts.inv]\naddress = \"127.0.0.1\"\nknown_hosts = \"kh\"\n",
        )
        .unwrap();
        let ssh = "Host strict1 inv\n  StrictHostKeyChecking yes\n  UserKnownHostsFile ~/a /b\n  \
                   GlobalKnownHostsFile none\n  HostKeyAlias Web.Alias\n\
                   Host ask\n  StrictHostKeyChecking ask\nHost no\n  StrictHostKeyChecking no\n\
                   Host new\n  StrictHostKeyChecking accept-new\nHost none\n  UserKnownHostsFile none\n";
        let inv = Inventory::load(&inv_path).unwrap().with_ssh_config(
            crate::select::ssh_config::SshConfig::parse_with_home(
                ssh,
                Some(PathBuf::from("/home/me")),
            ),
        );
        let hosts = "strict1,ask,no,new,inv,none,other";
        let cfg = RunConfig::with_inventory(&args(&["-w", hosts, "true"]), &inv).unwrap();
        let k = |i: usize| &cfg.targets[i].host_keys;
        let policies: Vec<HostKeyPolicy> = (0..7).map(|i| k(i).policy).collect();
        use HostKeyPolicy::{AcceptNew, Strict};
        assert_eq!(
            policies,
            [
                Strict, Strict, AcceptNew, AcceptNew, Strict, AcceptNew, AcceptNew
            ]
        );
        assert!(k(0).policy_origin.contains("StrictHostKeyChecking yes"));
        assert_eq!(
            k(0).user_files,
            [PathBuf::from("/home/me/a"), PathBuf::from("/b")]
        );
        assert!(k(0).global_files.is_empty());
        assert_eq!(k(0).alias.as_deref(), Some("web.alias"));
        // The inventory's known_hosts is the user file of an inventory host.
        assert_eq!(k(4).user_files, [dir.path().join("kh")]);
        assert!(k(5).user_files.is_empty(), "UserKnownHostsFile none");
        assert_eq!(
            k(6).global_files,
            [
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2")
            ]
        );
        let flag = args(&["-w", hosts, "--host-key-policy", "accept-new", "true"]);
        let cfg = RunConfig::with_inventory(&flag, &inv).unwrap();
        assert!(cfg.targets.iter().all(|t| t.host_keys.policy == AcceptNew));
    }

    #[test]
    fn dash_f_selects_the_ssh_config() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("hosts.toml");
        std::fs::write(&inv, "[defaults]\n").unwrap();
        let cfg_path = dir.path().join("cfg");
        std::fs::write(
            &cfg_path,
            "Host h\n  HostName 127.0.0.9\n  StrictHostKeyChecking yes\n",
        )
        .unwrap();
        let run = |f: &str| {
            RunConfig::from_args(&args(&[
                "-F",
                f,
                "-i",
                inv.to_str().unwrap(),
                "-w",
                "h",
                "true",
            ]))
        };
        let cfg = run(cfg_path.to_str().unwrap()).unwrap();
        assert_eq!(cfg.targets[0].address, "127.0.0.9");
        assert_eq!(cfg.targets[0].host_keys.policy, HostKeyPolicy::Strict);
        let cfg = run("none").unwrap();
        assert_eq!(cfg.targets[0].address, "h");
        let missing = dir.path().join("missing");
        let err = run(missing.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.starts_with("-F "), "{err}");
    }
}
