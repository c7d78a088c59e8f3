//! Helpers for the echo integration tests: in-process servers on
//! 127.0.0.1:0, raw clients, and the built binaries.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use netkit_echo::server::{Server, ServerConfig, ServerError, StatsSnapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub udp: Option<SocketAddr>,
    pub shutdown: CancellationToken,
    pub stats: std::sync::Arc<netkit_echo::server::Stats>,
    pub task: JoinHandle<Result<StatsSnapshot, ServerError>>,
}

impl TestServer {
    /// Cancels and waits for the final counters.
    pub async fn stop(self) -> StatsSnapshot {
        self.shutdown.cancel();
        self.task.await.expect("server task").expect("server run")
    }
}

/// A loopback config on a free port.
pub fn config() -> ServerConfig {
    ServerConfig::new("127.0.0.1:0".parse().expect("addr"))
}

/// Binds `config` and serves it on a task.
pub async fn start(config: ServerConfig) -> TestServer {
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addr();
    let udp = server.udp_addr();
    let stats = server.stats();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));
    TestServer {
        addr,
        udp,
        shutdown,
        stats,
        task,
    }
}

/// Connects with TCP_NODELAY.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Sends `data` and reads back exactly as many bytes.
pub async fn roundtrip(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    stream.write_all(data).await.expect("write");
    let mut back = vec![0u8; data.len()];
    stream.read_exact(&mut back).await.expect("read echo");
    back
}

/// Reads until EOF.
pub async fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.expect("read to eof");
    out
}

/// Random bytes.
pub fn random_bytes(len: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut v = vec![0u8; len];
    rand::rng().fill_bytes(&mut v);
    v
}

/// A spawned `echo-server` binary and the address from its first line.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub first_line: String,
    pub stdout: BufReader<ChildStdout>,
}

impl ServerProcess {
    pub fn start(args: &[&str]) -> Self {
        Self::spawn(Command::new(env!("CARGO_BIN_EXE_echo-server")), args)
    }

    /// Starts the server under `ulimit -n limit` (via sh), so that accept
    /// runs out of file descriptors after a few connections.
    pub fn start_with_fd_limit(limit: u32, args: &[&str]) -> Self {
        let mut sh = Command::new("sh");
        sh.args([
            "-c",
            &format!("ulimit -n {limit} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_echo-server"),
        ]);
        Self::spawn(sh, args)
    }

    fn spawn(mut command: Command, args: &[&str]) -> Self {
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn echo-server");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).expect("first line");
        let addr = first_line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
            .parse()
            .expect("address in first line");
        Self {
            child,
            addr,
            first_line,
            stdout,
        }
    }

    /// Sends `signal` (e.g. "INT") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for exit (bounded) and returns the code and the rest of stdout.
    pub fn wait(&mut self, limit: Duration) -> (Option<i32>, String, String) {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut rest = String::new();
                std::io::Read::read_to_string(&mut self.stdout, &mut rest).expect("stdout");
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    std::io::Read::read_to_string(&mut e, &mut err).expect("stderr");
                }
                return (status.code(), rest, err);
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("echo-server did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `echo-client` with `args` (bounded by the client's own timeouts).
pub fn client(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_echo-client"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run echo-client")
}

/// Runs `echo-client` with `input` on stdin.
pub fn client_with_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_echo-client"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn echo-client");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait echo-client")
}

/// Runs `echo-client` with `args` under the shell's `ulimit` settings
/// `limits` (e.g. `-Sn 256`), via sh.
pub fn client_with_ulimit(limits: &str, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .args([
            "-c",
            &format!("ulimit {limits} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_echo-client"),
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run echo-client under ulimit")
}

/// Starts `echo-server` (on 127.0.0.1:0) under the shell's `ulimit`
/// settings `limits` and returns the child without waiting for its first
/// line (it may refuse to start).
pub fn server_with_ulimit(limits: &str, args: &[&str]) -> Child {
    Command::new("sh")
        .args([
            "-c",
            &format!("ulimit {limits} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_echo-server"),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn echo-server under ulimit")
}

/// The soft and hard `Max open files` of process `pid`, from /proc.
pub fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

/// This process's hard open-file limit.
pub fn own_hard_fd_limit() -> u64 {
    open_file_limits(std::process::id()).1
}

/// Waits (bounded) until `check` holds for the server's counters.
pub async fn wait_for_stats(
    stats: &netkit_echo::server::Stats,
    what: &str,
    check: impl Fn(&StatsSnapshot) -> bool,
) -> StatsSnapshot {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = stats.snapshot();
        if check(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited 10 s for {what}: {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Server-side TCP connections established on local port `port`, by peer
/// IP address, as `ss` (iproute2) lists them.
pub fn ss_peers_of_port(port: u16) -> std::collections::BTreeMap<String, usize> {
    let out = Command::new("ss")
        .args([
            "-Htn",
            "state",
            "established",
            &format!("( sport = :{port} )"),
        ])
        .output()
        .expect("run ss (iproute2)");
    assert!(out.status.success(), "ss failed: {out:?}");
    let mut peers = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // Recv-Q Send-Q Local:Port Peer:Port
        let addrs: Vec<&str> = line
            .split_whitespace()
            .filter(|w| w.contains(':'))
            .collect();
        let Some(peer) = addrs.get(1) else { continue };
        let peer: SocketAddr = peer.parse().unwrap_or_else(|_| panic!("ss peer {peer:?}"));
        *peers.entry(peer.ip().to_string()).or_insert(0) += 1;
    }
    peers
}
