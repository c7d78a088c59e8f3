//! The fetch part of `cargo xtask demo`: a tiny page corpus on loopback in
//! a few charsets (UTF-8, windows-1251, ISO-8859-1, UTF-16 with a BOM),
//! plus a broken server that accepts connections and never answers, and
//! fetch-titles run over it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::charsets::{cp1251, latin1, utf16le_bom};

/// (status line, extra headers, body) for a path.
fn page(path: &str) -> (&'static str, String, Vec<u8>) {
    let html = |t: &str| {
        format!("<!doctype html><html><head><title>{t}</title></head><body><p>hi</p></body></html>")
    };
    match path {
        "/en" => (
            "200 OK",
            "Content-Type: text/html; charset=utf-8\r\n".into(),
            html("Hello from netkit ☃").into_bytes(),
        ),
        "/ru" => (
            "200 OK",
            "Content-Type: text/html\r\n".into(),
            cp1251(
                "<html><head><meta charset=\"windows-1251\"><title>Привет, мир</title></head><body>текст</body>",
            ),
        ),
        "/fr" => (
            "200 OK",
            "Content-Type: text/html; charset=iso-8859-1\r\n".into(),
            latin1(&html("Café crème brûlée")),
        ),
        "/ja" => (
            "200 OK",
            "Content-Type: text/html\r\n".into(),
            utf16le_bom(&html("日本語のページ")),
        ),
        "/svg" => (
            "200 OK",
            "Content-Type: text/html\r\n".into(),
            b"<html><head><svg><title>an icon</title></svg><title>The real title</title>".to_vec(),
        ),
        "/spaces" => (
            "200 OK",
            "Content-Type: text/html\r\n".into(),
            b"<title>\n   Tom &amp; Jerry\n\t&mdash; a   multi-line title\n</title>".to_vec(),
        ),
        "/moved" => (
            "301 Moved Permanently",
            "Location: /en\r\n".into(),
            Vec::new(),
        ),
        "/logo.png" => (
            "200 OK",
            "Content-Type: image/png\r\n".into(),
            vec![0x89; 4096],
        ),
        _ => (
            "404 Not Found",
            "Content-Type: text/html\r\n".into(),
            html("Not Found").into_bytes(),
        ),
    }
}

async fn serve_one(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request = String::from_utf8_lossy(&buf);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, headers, body) = page(path);
    let head = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

async fn serve(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_one(stream));
    }
}

/// Accepts connections and never answers (held for at most a minute).
async fn broken(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(stream);
        });
    }
}

/// Runs this tool's demo with the release binaries in `bin_dir`.
pub fn run(bin_dir: &Path) -> anyhow::Result<()> {
    let bin = bin_dir.join("fetch-titles");
    if !bin.exists() {
        bail!(
            "{} not found (build the release binaries first)",
            bin.display()
        );
    }
    let rt = tokio::runtime::Runtime::new()?;
    let (good, bad) = rt.block_on(async {
        let good = TcpListener::bind("127.0.0.1:0").await?;
        let bad = TcpListener::bind("127.0.0.1:0").await?;
        Ok::<_, std::io::Error>((good, bad))
    })?;
    let good_addr = good.local_addr()?;
    let bad_addr = bad.local_addr()?;
    rt.spawn(serve(good));
    rt.spawn(broken(bad));

    let dir = tempfile::tempdir()?;
    let list = dir.path().join("urls.txt");
    let urls = format!(
        "# a small corpus on loopback, in four charsets\n\
         http://{good_addr}/en\nhttp://{good_addr}/ru\nhttp://{good_addr}/fr\nhttp://{good_addr}/ja\n\
         http://{good_addr}/svg\nhttp://{good_addr}/spaces\nhttp://{good_addr}/moved\nhttp://{good_addr}/logo.png\n\
         http://{good_addr}/missing\n{good_addr}/en\n\
         # a server that accepts and never answers\nhttp://{bad_addr}/\n\
         # not a URL at all\nhttp://exa mple.com/\n"
    );
    std::fs::write(&list, &urls)?;
    println!("URL list ({}):\n{urls}", list.display());

    println!(
        "$ fetch-titles --scheme http --timeout 2s --order input urls.txt\n\
         (windows-1251 comes from <meta>, ISO-8859-1 from the header, UTF-16 from its BOM;\n\
         the svg title is skipped; the bare duplicate of /en is dropped; the broken server times out)"
    );
    let status = Command::new(&bin)
        .args([
            "--scheme",
            "http",
            "--timeout",
            "2s",
            "--order",
            "input",
            "--color",
            "never",
        ])
        .arg(&list)
        .stdin(Stdio::null())
        .status()
        .context("running fetch-titles")?;
    println!(
        "exit code: {:?} (1 = some URLs have error records, as expected here)\n",
        status.code()
    );
    if status.code() != Some(1) {
        bail!("fetch-titles exited with {status}, expected 1 (one timeout, one invalid line)");
    }

    println!("$ fetch-titles --format jsonl -q  (two URLs)");
    let two = dir.path().join("two.txt");
    std::fs::write(
        &two,
        format!("http://{good_addr}/moved\nhttp://{good_addr}/ja\n"),
    )?;
    let status = Command::new(&bin)
        .args(["--format", "jsonl", "-q", "--order", "input"])
        .arg(&two)
        .stdin(Stdio::null())
        .status()
        .context("running fetch-titles")?;
    if !status.success() {
        bail!("fetch-titles exited with {status}, expected 0");
    }
    rt.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}
