//! Test peers for ssh-fanout:
//! - [`SshdLab`]: N real OpenSSH `sshd` processes on 127.0.0.1, from the
//!   shared template `tests/hosts/sshd_config` at the repository root;
//! - [`FakeHost`]: in-process russh servers for fault injection;
//! - [`tarpit`]: accepts TCP and never says a word.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netkit_testkit::sshd::{Launch, Log, current_user, permit_root_for};
pub use netkit_testkit::sshd::{SSHD, Sshd};
use russh::keys::PrivateKey;
use russh::server::{self, Auth, Msg, Server as _, Session};
use russh::{Channel, ChannelId};
use tokio::io::AsyncWriteExt;

pub const INSTALL_HINT: &str = "real-sshd tests need OpenSSH's server at /usr/sbin/sshd: \
     install it with `sudo apt-get install -y openssh-server` (Debian/Ubuntu), \
     or run `cargo xtask test` as root, which installs it";

/// The path of the built binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ssh-fanout")
}

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    netkit_testkit::repo_root()
}

/// Generates an unencrypted ed25519 key pair with ssh-keygen.
pub fn keygen(path: &Path) {
    keygen_with(path, "");
}

/// Generates an ed25519 key pair with the given passphrase.
pub fn keygen_with(path: &Path, passphrase: &str) {
    keygen_typed(path, "ed25519", passphrase);
}

/// Generates a key pair of type `kind` (ed25519, ecdsa, rsa).
pub fn keygen_typed(path: &Path, kind: &str, passphrase: &str) {
    netkit_testkit::keygen_typed(path, kind, passphrase).unwrap_or_else(|e| panic!("{e:#}"));
}

pub fn free_port() -> u16 {
    netkit_testkit::free_port().unwrap()
}

/// N real sshd processes with their own host keys, one authorized client
/// key, and an inventory/known_hosts in a temp dir. Killed on drop. The
/// fields (`dir`, `user`, `client_key`, `known_hosts`, `hosts`) are those of
/// [`netkit_testkit::sshd::SshdLab`], through `Deref`.
pub struct SshdLab(netkit_testkit::sshd::SshdLab);

impl std::ops::Deref for SshdLab {
    type Target = netkit_testkit::sshd::SshdLab;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for SshdLab {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// Fails (never skips) when sshd is missing.
pub fn require_sshd() {
    assert!(Path::new(SSHD).exists(), "{INSTALL_HINT}");
}

impl SshdLab {
    pub fn start(n: usize) -> SshdLab {
        Self::start_with(n, "")
    }

    /// `extra` lines are appended to every config (e.g. `SetEnv SHLVL=1`).
    pub fn start_with(n: usize, extra: &str) -> SshdLab {
        require_sshd();
        match netkit_testkit::sshd::SshdLab::start(n, extra) {
            Ok(lab) => SshdLab(lab),
            Err(e) => panic!("{e:#}"),
        }
    }

    /// Restarts host `i` on the same port with a freshly generated host key.
    pub fn rekey(&mut self, i: usize) {
        self.0.rekey(i).unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// An inventory with one entry per host, `jump` optionally set for
    /// hosts other than `host0`.
    pub fn inventory(&self, jump_via_host0: bool) -> PathBuf {
        let mut text = format!(
            "[defaults]\nuser = \"{}\"\nidentity = \"{}\"\nknown_hosts = \"{}\"\nconnect_timeout = \"10s\"\n\n",
            self.user,
            self.client_key.display(),
            self.known_hosts.display()
        );
        for (i, h) in self.hosts.iter().enumerate() {
            text.push_str(&format!(
                "[hosts.{}]\naddress = \"127.0.0.1\"\nport = {}\n",
                h.name, h.port
            ));
            if jump_via_host0 && i > 0 {
                text.push_str("jump = \"host0\"\n");
            }
            text.push('\n');
        }
        text.push_str(&format!(
            "[groups]\nlab = [\"host[0-{}]\"]\n",
            self.hosts.len().saturating_sub(1)
        ));
        let path = self.dir.path().join(if jump_via_host0 {
            "hosts-jump.toml"
        } else {
            "hosts.toml"
        });
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// One sshd from the shared template with several `HostKey` files, extra
/// config lines (`HostCertificate ...`, `SetEnv ...`) and, with `log`,
/// `LogLevel DEBUG1` written to that file (`-E`). `authorized_keys` is the
/// client's public key file. Waits (bounded) for its banner.
pub fn custom_sshd(
    dir: &Path,
    name: &str,
    host_keys: &[PathBuf],
    authorized_keys: &Path,
    extra: &str,
    log: Option<&Path>,
) -> Sshd {
    require_sshd();
    let user = current_user().unwrap();
    let launch = Launch {
        name,
        dir,
        port: free_port(),
        host_keys,
        authorized_keys,
        permit_root: permit_root_for(&user),
        extra,
        log: log.map_or(Log::Discard, Log::Debug),
        own_process_group: false,
    };
    let mut sshd = launch.spawn().unwrap_or_else(|e| panic!("{e:#}"));
    sshd.wait_ready(Instant::now() + Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e:#}"));
    sshd
}

/// `kill -SIG PID` through kill(1); whether it was delivered.
pub fn send_signal(pid: u32, sig: &str) -> bool {
    std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the binary with `args`, returning (exit code, stdout, stderr).
pub fn run_bin(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    // `run_async` on a private runtime in its own thread, so this also works
    // from inside an async test.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(run_async(args, &[], stdin.map(str::as_bytes)))
            })
            .join()
            .unwrap()
    })
}

// ---------------------------------------------------------------------------
// In-process russh servers.

/// How a fake host behaves.
#[derive(Clone, Default)]
pub struct FakeConfig {
    /// Counts accepted TCP connections (SSH sessions) to this server.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Accepted password (none: passwords rejected).
    pub password: Option<String>,
    /// Accepted public key (none: every key accepted).
    pub accept_key: Option<russh::keys::PublicKey>,
    /// Accept any public key.
    pub any_key: bool,
    /// Jump host: `direct-tcpip` channels forwarding right now.
    pub forwards_now: Arc<std::sync::atomic::AtomicUsize>,
    /// Jump host: the most `direct-tcpip` channels forwarding at once.
    pub forwards_peak: Arc<std::sync::atomic::AtomicUsize>,
    /// Serves the `sftp` subsystem: called with each channel's stream
    /// (none: the subsystem is refused).
    pub sftp: Option<SftpServe>,
}

/// Starts an SFTP server on one subsystem channel.
pub type SftpServe = Arc<dyn Fn(russh::ChannelStream<Msg>) + Send + Sync>;

/// A running in-process SSH server. Commands understood (after the
/// `export ...; ` prefix the client adds):
/// `true`, `exit N`, `echo TEXT`, `stderr TEXT`, `env` (prints received
/// `env` requests), `cat` (stdin to stdout), `big N` (N bytes of 'x' in
/// lines of 64), `slow N` (N lines 20 ms apart), `hang`, `signal` (exit by
/// KILL), `drop` (one line, then disconnect).
pub struct FakeHost {
    pub addr: SocketAddr,
    pub host_key: PrivateKey,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Loads (once per call) a generated host key.
pub fn host_key(dir: &Path, name: &str) -> PrivateKey {
    let path = dir.join(name);
    if !path.exists() {
        keygen(&path);
    }
    russh::keys::load_secret_key(&path, None).unwrap()
}

pub async fn fake_host(key: PrivateKey, cfg: FakeConfig) -> FakeHost {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    fake_host_on(listener, key, cfg)
}

pub fn fake_host_on(
    listener: tokio::net::TcpListener,
    key: PrivateKey,
    cfg: FakeConfig,
) -> FakeHost {
    let addr = listener.local_addr().unwrap();
    let config = Arc::new(server_config(key.clone()));
    let task = tokio::spawn(async move {
        let mut srv = FakeServer {
            cfg: Arc::new(cfg),
            channels: HashMap::new(),
            env: HashMap::new(),
        };
        let _ = srv.run_on_socket(config, &listener).await;
    });
    FakeHost {
        addr,
        host_key: key,
        task,
    }
}

pub fn server_config(key: PrivateKey) -> server::Config {
    server::Config {
        keys: vec![key],
        auth_rejection_time: Duration::from_millis(10),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(Duration::from_secs(60)),
        nodelay: true,
        ..Default::default()
    }
}

/// Accepts TCP connections and never sends a banner.
pub async fn tarpit() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

struct FakeServer {
    cfg: Arc<FakeConfig>,
    channels: HashMap<ChannelId, Channel<Msg>>,
    env: HashMap<String, String>,
}

impl server::Server for FakeServer {
    type Handler = FakeServer;
    fn new_client(&mut self, _: Option<SocketAddr>) -> FakeServer {
        self.cfg
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        FakeServer {
            cfg: self.cfg.clone(),
            channels: HashMap::new(),
            env: HashMap::new(),
        }
    }
}

impl server::Handler for FakeServer {
    type Error = russh::Error;

    async fn auth_password(&mut self, _user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(match &self.cfg.password {
            Some(p) if p == password => Auth::Accept,
            _ => Auth::reject(),
        })
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.cfg.any_key {
            return Ok(Auth::Accept);
        }
        Ok(match &self.cfg.accept_key {
            Some(k) if k.key_data() == key.public_key.key_data() => Auth::Accept,
            _ => Auth::reject(),
        })
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    /// Jump host support: proxy the channel to a loopback address.
    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        assert!(
            host_to_connect == "127.0.0.1",
            "tests only forward to loopback"
        );
        let Ok(mut tcp) =
            tokio::net::TcpStream::connect((host_to_connect, port_to_connect as u16)).await
        else {
            reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
            return Ok(());
        };
        reply.accept().await;
        let (now, peak) = (
            self.cfg.forwards_now.clone(),
            self.cfg.forwards_peak.clone(),
        );
        let open = now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        peak.fetch_max(open, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            let mut stream = channel.into_stream();
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut tcp).await;
            now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        });
        Ok(())
    }

    async fn env_request(
        &mut self,
        _channel: ChannelId,
        name: &str,
        value: &str,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.env.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match (name, &self.cfg.sftp, self.channels.remove(&id)) {
            ("sftp", Some(serve), Some(channel)) => {
                session.channel_success(id)?;
                serve(channel.into_stream());
            }
            _ => session.channel_failure(id)?,
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        id: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(channel) = self.channels.remove(&id) else {
            session.channel_failure(id)?;
            return Ok(());
        };
        session.channel_success(id)?;
        let line = String::from_utf8_lossy(data).into_owned();
        // Strip the client's `export ...; ` prefix.
        let cmd = match line.find("; ") {
            Some(i) if line.starts_with("export ") => line[i + 2..].to_owned(),
            _ => line,
        };
        let env = self.env.clone();
        let handle = session.handle();
        tokio::spawn(async move {
            let _ = run_fake_command(channel, handle, &cmd, env).await;
        });
        Ok(())
    }
}

async fn run_fake_command(
    mut channel: Channel<Msg>,
    handle: server::Handle,
    cmd: &str,
    env: HashMap<String, String>,
) -> Result<(), russh::Error> {
    let id = channel.id();
    let (word, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let mut code = 0u32;
    match word {
        "true" => {}
        "exit" => code = rest.trim().parse().unwrap_or(1),
        "echo" => channel.data_bytes(format!("{rest}\n")).await?,
        "stderr" => channel.extended_data_bytes(1, format!("{rest}\n")).await?,
        "env" => {
            let mut keys: Vec<_> = env.iter().collect();
            keys.sort();
            for (k, v) in keys {
                channel.data_bytes(format!("{k}={v}\n")).await?;
            }
        }
        "cat" => {
            let mut w = channel.make_writer();
            while let Some(msg) = channel.wait().await {
                match msg {
                    russh::ChannelMsg::Data { data } => w.write_all(&data).await?,
                    russh::ChannelMsg::Eof => break,
                    _ => {}
                }
            }
            w.flush().await?;
        }
        "big" => {
            let total: usize = rest.trim().parse().unwrap_or(0);
            let mut line = vec![b'x'; 63];
            line.push(b'\n');
            let block: Vec<u8> = line.iter().copied().cycle().take(64 * 512).collect();
            let mut w = channel.make_writer();
            let mut left = total;
            while left > 0 {
                let n = left.min(block.len());
                w.write_all(&block[..n]).await?;
                left -= n;
            }
            w.flush().await?;
        }
        "slow" => {
            let n: usize = rest.trim().parse().unwrap_or(1);
            for i in 0..n {
                channel.data_bytes(format!("tick {i}\n")).await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "hang" => {
            // Runs until the client signals or closes the channel.
            while let Some(msg) = channel.wait().await {
                match msg {
                    russh::ChannelMsg::Signal { signal } => {
                        let _ = handle
                            .exit_signal_request(id, signal, false, String::new(), String::new())
                            .await;
                        let _ = handle.close(id).await;
                        HANG_SIGNALLED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        return Ok(());
                    }
                    russh::ChannelMsg::Close => return Ok(()),
                    _ => {}
                }
            }
            return Ok(());
        }
        "signal" => {
            let _ = handle
                .exit_signal_request(id, russh::Sig::KILL, false, "killed".into(), String::new())
                .await;
            let _ = channel.eof().await;
            let _ = channel.close().await;
            return Ok(());
        }
        "drop" => {
            channel.data_bytes("partial line before the drop\n").await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    "bye".into(),
                    String::new(),
                )
                .await;
            return Ok(());
        }
        other => {
            channel
                .extended_data_bytes(1, format!("sh: {other}: not found\n"))
                .await?;
            code = 127;
        }
    }
    let _ = handle.exit_status_request(id, code).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
    Ok(())
}

/// How many `hang` commands were ended by a signal request.
pub static HANG_SIGNALLED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A known_hosts line for a fake host.
pub fn known_hosts_line(addr: SocketAddr, key: &PrivateKey) -> String {
    format!(
        "[{}]:{} {}\n",
        addr.ip(),
        addr.port(),
        key.public_key().to_openssh().unwrap()
    )
}

// ---------------------------------------------------------------------------
// Running the binary from async tests, inventories for fake hosts, JSON.

/// Runs the binary (async, bounded to 90 s), returning (code, stdout, stderr).
pub async fn run_async(
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args)
        .env_remove("SSH_AUTH_SOCK")
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input).await.unwrap();
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("ssh-fanout did not finish within 90 s")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Names fake hosts `sim0`, `sim1`, ... in order, for [`fake_inventory`].
pub fn sim_names(hosts: &[FakeHost]) -> Vec<(String, SocketAddr)> {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (format!("sim{i}"), h.addr))
        .collect()
}

/// Writes an inventory naming each `(name, addr)`.
pub fn fake_inventory(
    dir: &Path,
    hosts: &[(String, SocketAddr)],
    identity: Option<&Path>,
    password_env: Option<&str>,
) -> PathBuf {
    let mut text = format!(
        "[defaults]\nuser = \"tester\"\nknown_hosts = \"{}\"\n",
        dir.join("known_hosts").display()
    );
    if let Some(id) = identity {
        text.push_str(&format!("identity = \"{}\"\n", id.display()));
    }
    if let Some(var) = password_env {
        text.push_str(&format!("password_env = \"{var}\"\n"));
    }
    for (name, addr) in hosts {
        text.push_str(&format!(
            "\n[hosts.{name}]\naddress = \"{}\"\nport = {}\n",
            addr.ip(),
            addr.port()
        ));
    }
    let path = dir.join("fake-hosts.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Parses JSON lines; panics on any line that is not JSON.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// The result record of `host`.
pub fn result_of<'a>(records: &'a [serde_json::Value], host: &str) -> &'a serde_json::Value {
    records
        .iter()
        .find(|r| r["type"] == "result" && r["host"] == host)
        .unwrap_or_else(|| panic!("no result for {host} in {records:?}"))
}
