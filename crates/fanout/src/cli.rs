//! The command line (`clap` derive). Raw flags only: [`crate::config`]
//! turns them into a checked [`crate::config::RunConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use netkit_cli::{UiArgs, parse_duration};

/// `4G`, `512M`, `64K` or plain bytes (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => {
                    return Err(format!(
                        "`{text}`: unknown size suffix `{c}` (use K, M, G or T)"
                    ));
                }
            };
            (&t[..i], mult)
        }
        _ => (t, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}`: expected a size such as 4G, 512M or 1048576"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{text}`: too large"))
}

/// Run commands on many hosts over SSH (russh), like pdsh/pssh/clush.
///
/// Exit codes: 0 every host ran every command with exit 0; 1 some remote
/// command exited non-zero or was killed by a signal, or some reached
/// host's --copy/--rcopy failed; 2 usage or inventory
/// error; 3 some host could not be reached, failed host-key checks or
/// authentication, or timed out (3 wins over 1).
#[derive(Debug, Clone, Parser)]
#[command(name = "ssh-fanout", version, about, long_about = None)]
pub struct Args {
    /// Target hosts: pdsh/clush ranges (`web[01-10,15]`, `rack[1-2]-n[1-3]`),
    /// comma lists, `user@host:port`, `^FILE` (one host per line), `@group`,
    /// `-` (stdin); ClusterShell operators left to right (`,` union, `!`
    /// difference, `&` intersection, `^` symmetric difference); pdsh
    /// `-ITEM` excludes and `/regex/` filters. Repeatable.
    #[arg(short = 'w', long = "hosts", value_name = "PATTERN")]
    pub hosts: Vec<String>,

    /// Remove hosts matching this pattern (the -w syntax, globs allowed;
    /// `/regex/` removes matching hosts). Repeatable.
    #[arg(short = 'x', long = "exclude", value_name = "PATTERN")]
    pub exclude: Vec<String>,

    /// Select the hosts of this inventory group. Repeatable.
    #[arg(short = 'g', long = "group", value_name = "NAME")]
    pub group: Vec<String>,

    /// Select every host of the inventory.
    #[arg(short = 'a', long = "all")]
    pub all: bool,

    /// TOML inventory (default: ./hosts.toml, then
    /// $XDG_CONFIG_HOME/netkit/hosts.toml, if they exist).
    #[arg(short = 'i', long = "inventory", value_name = "FILE")]
    pub inventory: Option<PathBuf>,

    /// A command to run (through the remote login shell). Repeatable: all
    /// commands run over one connection per host, in order.
    #[arg(short = 'c', long = "command", value_name = "CMD")]
    pub commands: Vec<String>,

    /// Read commands from FILE, one per non-empty, non-comment line.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,

    /// Push these local files to every host over SFTP (pdcp, `clush
    /// --copy`, pscp), before any command runs. Repeatable; needs --dest.
    #[arg(long = "copy", value_name = "SRC", num_args = 1.., conflicts_with = "rcopy")]
    pub copy: Vec<PathBuf>,

    /// Pull these remote paths (`~` and globs expanded on the remote) from
    /// every host into `DEST/HOST/...` (rpdcp, `clush --rcopy`, pslurp).
    /// Repeatable; needs --dest.
    #[arg(long = "rcopy", value_name = "SRC", num_args = 1..)]
    pub rcopy: Vec<String>,

    /// Where copies go: the remote file or directory for --copy, the local
    /// directory for --rcopy. `{host}` is replaced by the host's name.
    #[arg(long = "dest", value_name = "PATH")]
    pub dest: Option<String>,

    /// Copy directories recursively. Symlinks are copied as links, never
    /// followed.
    #[arg(short = 'r', long = "recursive")]
    pub recursive: bool,

    /// Keep modes and modification times of copied files.
    #[arg(short = 'p', long = "preserve")]
    pub preserve: bool,

    /// Skip files and directories whose name (or, with a `/`, whose path
    /// below the source) matches this glob. Repeatable. (`-x/--exclude`
    /// excludes hosts, as in pdsh and clush.)
    #[arg(long = "copy-exclude", value_name = "GLOB")]
    pub copy_exclude: Vec<String>,

    /// After each copied file, compare a SHA-256 of what arrived with the
    /// source: computed by `sha256sum` on the host, else by reading the
    /// file back over SFTP.
    #[arg(long)]
    pub verify: bool,

    /// The most bytes one host may send or receive in a copy (`K`, `M`,
    /// `G` suffixes, powers of 1024) [default: 4G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes: Option<u64>,

    /// Run the commands of one host on concurrent channels instead of in
    /// sequence (the asyncssh `gather` pattern).
    #[arg(long)]
    pub parallel_commands: bool,

    /// Forward this process's stdin to every host's command (read once,
    /// shared by all hosts).
    #[arg(long)]
    pub stdin: bool,

    /// Request a pseudo-terminal for every command.
    #[arg(long)]
    pub tty: bool,

    /// Set an environment variable for the remote commands. Repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// How many hosts are in flight at once.
    #[arg(short = 'f', long = "fanout", default_value_t = 64, value_name = "N")]
    pub fanout: usize,

    /// Deadline for TCP connect + SSH handshake + authentication
    /// [default: the inventory's connect_timeout, else 10s].
    #[arg(short = 't', long = "connect-timeout", value_parser = parse_duration,
          value_name = "DURATION")]
    pub connect_timeout: Option<Duration>,

    /// Deadline for each remote command; on expiry the command is signalled
    /// (TERM) and its channel closed.
    #[arg(short = 'u', long = "command-timeout", value_parser = parse_duration,
          value_name = "DURATION")]
    pub command_timeout: Option<Duration>,

    /// At most this many new connections per second (keeps sshd's
    /// MaxStartups from dropping connections).
    #[arg(long, value_name = "PER_SEC")]
    pub handshake_rate: Option<f64>,

    /// Retry connect-phase failures (refused, timeout, handshake) this many
    /// times. Commands are never re-run.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,

    /// Host key checking: strict (unknown keys fail), accept-new (record
    /// unknown keys, fail on changed keys) or off [default: from
    /// StrictHostKeyChecking in the ssh config (yes, ask: strict;
    /// accept-new, no, off: accept-new), else accept-new].
    #[arg(long, value_enum, value_name = "POLICY")]
    pub host_key_policy: Option<HostKeyPolicy>,

    /// The ssh client configuration file, as `ssh -F` (default
    /// `~/.ssh/config`; `none` reads none): hosts not in the inventory, and
    /// the host key options of every host.
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// Connect to nothing. With a command: print, per selected host, the
    /// resolved target (address, port, user, identities, jump chain, proxy
    /// command, known_hosts files, host-key policy, timeout, and the
    /// ssh_config `file:line` that set each value). Without one: list the
    /// hosts, as `pdsh -q`. Exit 0.
    #[arg(long)]
    pub dry_run: bool,

    /// Ask for a password once (on the terminal) and use it for hosts where
    /// keys fail. Passwords are never accepted on the command line.
    #[arg(long)]
    pub ask_pass: bool,

    /// Do not prefix output lines with `host: `.
    #[arg(short = 'N')]
    pub no_prefix: bool,

    /// Gather: print each distinct output once, headed by the hosts that
    /// produced it, folded into ranges (dshbak -c style).
    #[arg(short = 'b', long = "gather", conflicts_with = "json")]
    pub gather: bool,

    /// Write each host's stdout to DIR/HOST (like pssh -o).
    #[arg(long, value_name = "DIR")]
    pub outdir: Option<PathBuf>,

    /// Write each host's stderr to DIR/HOST (like pssh -e).
    #[arg(long, value_name = "DIR")]
    pub errdir: Option<PathBuf>,

    /// Write JSON lines to stdout: output records as they arrive, then one
    /// result record per host.
    #[arg(long)]
    pub json: bool,

    /// Write the hosts that failed (any reason) to FILE, one per line, for a
    /// re-run with `-w ^FILE`.
    #[arg(long, value_name = "FILE")]
    pub failed_hosts: Option<PathBuf>,

    /// Colour and quiet flags.
    #[command(flatten)]
    pub ui: UiArgs,

    /// The command to run, as trailing words (like pdsh/clush); joined with
    /// spaces and run after any -c commands.
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// What to do with server host keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum HostKeyPolicy {
    /// Unknown and changed keys fail the host.
    Strict,
    /// Unknown keys are appended to known_hosts; changed keys fail the host.
    #[default]
    AcceptNew,
    /// No checking at all (lab use only).
    Off,
}
