//! Simulated SSH hosts for `cargo xtask bench fanout`: N in-process russh
//! servers on 127.0.0.1 (one listener each, one shared ed25519 host key),
//! accepting any public key. `true` exits 0, `uname -a` prints one line,
//! anything else prints its text back.
//!
//! Usage: `sim_hosts N HOST_KEY CLIENT_KEY INVENTORY_OUT`. Writes an
//! inventory for `ssh-fanout -i INVENTORY_OUT -a`, prints `ready`, and runs
//! until stdin closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{self, Auth, Msg, Server as _, Session};
use russh::{Channel, ChannelId};
use tokio::io::AsyncReadExt;

#[derive(Clone)]
struct Sim;

impl server::Server for Sim {
    type Handler = Sim;
    fn new_client(&mut self, _: Option<SocketAddr>) -> Sim {
        Sim
    }
}

impl server::Handler for Sim {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        _user: &str,
        _key: server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
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
        session.exit_status_request(id, 0)?;
        session.eof(id)?;
        session.close(id)?;
        Ok(())
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [n, host_key, client_key, inventory] = args.as_slice() else {
        anyhow::bail!("usage: sim_hosts N HOST_KEY CLIENT_KEY INVENTORY_OUT");
    };
    let n: usize = n.parse()?;
    let key = russh::keys::load_secret_key(host_key, None)?;
    let config = Arc::new(server::Config {
        keys: vec![key],
        auth_rejection_time: Duration::from_millis(10),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(Duration::from_secs(120)),
        nodelay: true,
        ..Default::default()
    });
    let mut text = format!(
        "[defaults]\nuser = \"bench\"\nidentity = \"{client_key}\"\nknown_hosts = \"{inventory}.known_hosts\"\n"
    );
    for i in 0..n {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        text.push_str(&format!(
            "\n[hosts.sim{i}]\naddress = \"127.0.0.1\"\nport = {port}\n"
        ));
        let config = config.clone();
        tokio::spawn(async move {
            let _ = Sim.run_on_socket(config, &listener).await;
        });
    }
    std::fs::write(inventory, text)?;
    println!("ready");
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    Ok(())
}
