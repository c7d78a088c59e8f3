//! A private nginx on 127.0.0.1 serving the corpus.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::shell;

pub(super) struct Nginx {
    pub(super) child: Child,
    pub(super) prefix: PathBuf,
    pub(super) port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("nginx")
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(self.prefix.join("nginx.conf"))
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn start_nginx(dir: &Path, www: &Path) -> anyhow::Result<Nginx> {
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("tmp"))?;
    std::fs::create_dir_all(prefix.join("logs"))?;
    let port = netkit_testkit::free_port()?;
    let p = prefix.display();
    let user = if shell::is_root() { "user root;" } else { "" };
    let conf = format!(
        "{user}
worker_processes 2;
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60;
    types {{ text/html html; }}
    default_type application/octet-stream;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {www};
        location / {{ }}
    }}
}}
",
        www = www.display()
    );
    std::fs::write(prefix.join("nginx.conf"), conf)?;
    let child = Command::new("nginx")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .arg("-e")
        .arg(prefix.join("error.log"))
        .stdin(Stdio::null())
        .spawn()
        .context("starting nginx (apt-get install nginx)")?;
    let nginx = Nginx {
        child,
        prefix,
        port,
    };
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(nginx);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nginx did not start listening on 127.0.0.1:{port}")
}
