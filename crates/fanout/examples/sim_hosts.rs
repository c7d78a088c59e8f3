//! Simulated SSH hosts for `cargo xtask bench fanout`: N in-process russh
//! servers on 127.0.0.1 (or the loopback `--addr`), one port each, one
//! shared ed25519 host key,
//! accepting any public key. `true` exits 0, `uname -a` prints one line,
//! anything else prints its text back.
//!
//! Usage: `sim_hosts N HOST_KEY CLIENT_KEY INVENTORY_OUT [--faults] [--addr
//! 127.0.0.X]`.
//! Writes an inventory for `ssh-fanout -i INVENTORY_OUT -a` (hosts `sim0`,
//! `sim1`, ...), a known_hosts file `INVENTORY_OUT.known_hosts` holding the
//! host key under `[ADDR]:PORT` for every port, and a plan
//! `INVENTORY_OUT.plan` (`NAME KIND` per line, `ok` or the error kind or
//! `exit 1` that ssh-fanout must report), prints `ready`, and runs until
//! stdin closes.
//!
//! With `--faults`, host `i` behaves by `i % 100` (so 1% of the hosts each,
//! exactly when N is a multiple of 100):
//!
//! | `i % 100` | port | expected |
//! |---|---|---|
//! | 1 | bound but not listening: the kernel answers RST | `connect_refused` |
//! | 2 | accepts TCP, never sends a banner (a tarpit) | `connect_timeout` |
//! | 3 | rejects every public key | `auth` |
//! | 4 | known_hosts holds another key (the client's) for the port | `host_key_changed` |
//! | 5 | the command exits 1 | `exit 1` |
//! | 6 | after `exec`: one line of output, then the TCP connection drops | `disconnected` |
//!
//! One process holds N descriptors for its ports plus one per connection in
//! flight, so 10,000 hosts at `--fanout 1024` stay far under a 20,000
//! descriptor limit; the client runs in its own process.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PublicKeyBase64 as _;
use russh::server::{self, Auth, Msg, Server as _, Session};
use russh::{Channel, ChannelId};
use tokio::io::AsyncReadExt;

/// What one simulated host does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Ok,
    Refuse,
    Tarpit,
    AuthFail,
    ChangedKey,
    ExitNonZero,
    Disconnect,
}

impl Behaviour {
    fn of(i: usize, faults: bool) -> Behaviour {
        if !faults {
            return Behaviour::Ok;
        }
        match i % 100 {
            1 => Behaviour::Refuse,
            2 => Behaviour::Tarpit,
            3 => Behaviour::AuthFail,
            4 => Behaviour::ChangedKey,
            5 => Behaviour::ExitNonZero,
            6 => Behaviour::Disconnect,
            _ => Behaviour::Ok,
        }
    }

    /// What ssh-fanout must report: `ok`, an error kind, or `exit N`.
    fn expected(self) -> &'static str {
        match self {
            Behaviour::Ok => "ok",
            Behaviour::Refuse => "connect_refused",
            Behaviour::Tarpit => "connect_timeout",
            Behaviour::AuthFail => "auth",
            Behaviour::ChangedKey => "host_key_changed",
            Behaviour::ExitNonZero => "exit 1",
            Behaviour::Disconnect => "disconnected",
        }
    }
}

#[derive(Clone, Copy)]
struct Sim(Behaviour);

impl server::Server for Sim {
    type Handler = Sim;
    fn new_client(&mut self, _: Option<SocketAddr>) -> Sim {
        *self
    }
}

impl server::Handler for Sim {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        _offer: server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.0 == Behaviour::AuthFail {
            Ok(Auth::reject())
        } else {
            Ok(Auth::Accept)
        }
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        _key: server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.0 == Behaviour::AuthFail {
            Ok(Auth::reject())
        } else {
            Ok(Auth::Accept)
        }
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        id: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(id)?;
        if self.0 == Behaviour::Disconnect {
            session.data(id, &b"working...\n"[..])?;
            // Ends the session: russh drops the socket, the client sees the
            // connection close with the command still running.
            return Err(russh::Error::Disconnect);
        }
        let line = String::from_utf8_lossy(data);
        let cmd = match line.find("; ") {
            Some(i) if line.starts_with("export ") => &line[i + 2..],
            _ => &line[..],
        };
        match cmd.trim() {
            "true" => {}
            "uname -a" => session.data(id, &b"Linux sim 6.1.0 #1 SMP x86_64 GNU/Linux\n"[..])?,
            other => session.data(id, format!("{other}\n").into_bytes())?,
        }
        let code = if self.0 == Behaviour::ExitNonZero {
            1
        } else {
            0
        };
        session.exit_status_request(id, code)?;
        session.eof(id)?;
        session.close(id)?;
        Ok(())
    }
}

/// Accepts connections and never answers; each is held until the client
/// gives up and closes it.
async fn tarpit(listener: tokio::net::TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        });
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut faults = false;
    let mut ip = std::net::Ipv4Addr::LOCALHOST;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--faults" => faults = true,
            "--addr" => {
                let v = args.next().unwrap_or_default();
                ip = v.parse()?;
                if !ip.is_loopback() {
                    anyhow::bail!("--addr {ip}: only loopback addresses (127.0.0.0/8)");
                }
            }
            _ => positional.push(a),
        }
    }
    let [n, host_key, client_key, inventory] = positional.as_slice() else {
        anyhow::bail!(
            "usage: sim_hosts N HOST_KEY CLIENT_KEY INVENTORY_OUT [--faults] [--addr 127.0.0.X]"
        );
    };
    let n: usize = n.parse()?;
    // One descriptor per port plus one per connection: raise the soft limit.
    let limit = netkit_cli::raise_fd_limit();
    if (n as u64).saturating_add(limit.open) > limit.soft.saturating_sub(64) {
        anyhow::bail!(
            "{n} ports do not fit in RLIMIT_NOFILE {} ({} open)",
            limit.soft,
            limit.open
        );
    }
    let key = russh::keys::load_secret_key(host_key, None)?;
    let host_line = format!("{} {}", key.algorithm().as_str(), key.public_key_base64());
    let other = russh::keys::load_secret_key(client_key, None)?;
    let other_line = format!(
        "{} {}",
        other.algorithm().as_str(),
        other.public_key_base64()
    );
    let config = Arc::new(server::Config {
        keys: vec![key],
        auth_rejection_time: Duration::from_millis(10),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(Duration::from_secs(120)),
        nodelay: true,
        ..Default::default()
    });
    let known_hosts = format!("{inventory}.known_hosts");
    let mut text = format!(
        "[defaults]\nuser = \"bench\"\nidentity = \"{client_key}\"\nknown_hosts = \"{known_hosts}\"\n"
    );
    let mut known = String::new();
    let mut plan = String::new();
    // Ports that refuse: bound (so no one else takes them) but never listening.
    let mut refusing = Vec::new();
    let addr = SocketAddr::from((ip, 0));
    for i in 0..n {
        let behaviour = Behaviour::of(i, faults);
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(addr).map_err(|e| {
            anyhow::anyhow!(
                "binding port {} of {n} on {ip}: {e} (ephemeral ports are shared with \
                 other listeners and TIME_WAIT sockets: try another --addr)",
                i + 1
            )
        })?;
        let port = socket.local_addr()?.port();
        match behaviour {
            Behaviour::Refuse => refusing.push(socket),
            Behaviour::Tarpit => {
                tokio::spawn(tarpit(socket.listen(1024)?));
            }
            _ => {
                let listener = socket.listen(1024)?;
                let config = config.clone();
                tokio::spawn(async move {
                    let _ = Sim(behaviour).run_on_socket(config, &listener).await;
                });
            }
        }
        let _ = write!(
            text,
            "\n[hosts.sim{i}]\naddress = \"{ip}\"\nport = {port}\n"
        );
        let line = if behaviour == Behaviour::ChangedKey {
            &other_line
        } else {
            &host_line
        };
        let _ = writeln!(known, "[{ip}]:{port} {line}");
        let _ = writeln!(plan, "sim{i} {}", behaviour.expected());
    }
    std::fs::write(&known_hosts, known)?;
    std::fs::write(format!("{inventory}.plan"), plan)?;
    std::fs::write(inventory, text)?;
    println!("ready");
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    drop(refusing);
    Ok(())
}
