//! Integration tests: real HTTP on loopback against an in-process server,
//! driving the library `run` and the built `fetch-titles` binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use netkit_fetch::title::{ExtractOptions, TitleExtractor, extract_title};
use netkit_fetch::{Format, Order, Scheme};
use proptest::prelude::*;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use util::*;

fn title(r: &Value) -> Option<&str> {
    r["title"].as_str()
}

fn error_kind(r: &Value) -> Option<&str> {
    r["error"]["kind"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_charset_via_header_meta_bom_and_detection() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut urls = Vec::new();
    for (label, _) in CHARSETS {
        for mode in ["header", "meta", "http-equiv"] {
            urls.push(server.url(&format!("/charset/{label}/{mode}")));
        }
    }
    for p in [
        "/bom/utf-8",
        "/bom/utf-16le",
        "/bom/utf-16be",
        "/bom-vs-meta",
        "/header-utf8-invalid-meta",
        "/undeclared",
        "/late-meta",
    ] {
        urls.push(server.url(p));
    }
    let (outcome, recs) = run_lib(dir.path(), &urls, |_| {}).await;
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(recs.len(), urls.len());
    for (label, text) in CHARSETS {
        for mode in ["header", "meta", "http-equiv"] {
            let r = &recs[&server.url(&format!("/charset/{label}/{mode}"))];
            assert_eq!(title(r), Some(*text), "{label} via {mode}: {r}");
            let name = encoding_rs::Encoding::for_label(label.as_bytes())
                .unwrap()
                .name();
            assert_eq!(r["charset"], name, "{label} via {mode}: {r}");
            let source = if mode == "header" { "header" } else { "meta" };
            assert_eq!(r["charset_source"], source, "{label} via {mode}: {r}");
        }
    }
    let provenance = |p: &str| {
        let r = &recs[&server.url(p)];
        (
            r["charset"].as_str().unwrap().to_owned(),
            r["charset_source"].as_str().unwrap().to_owned(),
        )
    };
    for (p, charset, source) in [
        ("/bom/utf-8", "UTF-8", "bom"),
        ("/bom/utf-16le", "UTF-16LE", "bom"),
        ("/bom/utf-16be", "UTF-16BE", "bom"),
        ("/bom-vs-meta", "UTF-8", "bom"),
        ("/header-utf8-invalid-meta", "Shift_JIS", "meta"),
        ("/undeclared", "windows-1251", "detected"),
        ("/late-meta", "windows-1251", "parser_meta"),
    ] {
        assert_eq!(
            provenance(p),
            (charset.to_owned(), source.to_owned()),
            "{p}"
        );
    }
    let t = |p: &str| title(&recs[&server.url(p)]).map(str::to_owned);
    assert_eq!(t("/bom/utf-8").as_deref(), Some("UTF-8 BOM — ünïcödé ☃"));
    assert_eq!(t("/bom/utf-16le").as_deref(), Some("UTF-16LE — 日本語 ☃"));
    assert_eq!(t("/bom/utf-16be").as_deref(), Some("UTF-16BE — 中文 ☃"));
    assert_eq!(t("/bom-vs-meta").as_deref(), Some("BOM wins — Grüße"));
    assert_eq!(
        t("/header-utf8-invalid-meta").as_deref(),
        Some("ヘッダーは嘘")
    );
    assert_eq!(t("/undeclared").as_deref(), Some(UNDECLARED_TITLE));
    assert_eq!(t("/late-meta").as_deref(), Some(UNDECLARED_TITLE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_title_and_how_it_is_cleaned() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let paths = [
        "/svg-first",
        "/several",
        "/in-body",
        "/no-title",
        "/entities",
        "/multiline",
        "/malformed",
    ];
    let urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
    let (outcome, recs) = run_lib(dir.path(), &urls, |_| {}).await;
    assert_eq!(outcome.exit_code(), 0);
    let r = |p: &str| recs[&server.url(p)].clone();
    assert_eq!(title(&r("/svg-first")), Some("Head Title"));
    assert_eq!(title(&r("/several")), Some("First"));
    assert_eq!(title(&r("/in-body")), Some("Body Title"));
    let none = r("/no-title");
    assert_eq!(none["title"], Value::Null);
    assert_eq!(none["status"], 200);
    assert_eq!(none["error"], Value::Null);
    assert_eq!(
        title(&r("/entities")),
        Some("Tom & Jerry <3 \"quotes\" ☺ ☃ été © 2024\u{A0}!")
    );
    assert_eq!(
        title(&r("/multiline")),
        Some("Line one line two \u{3000}wide\u{A0}")
    );
    assert_eq!(r("/malformed")["title"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_reads_are_bounded() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = ["/late-title", "/big-head-title", "/endless"]
        .iter()
        .map(|p| server.url(p))
        .collect();
    let (outcome, recs) = run_lib(dir.path(), &urls, |_| {}).await;
    assert_eq!(outcome.exit_code(), 1, "the endless page is an error");

    let late = &recs[&urls[0]];
    assert_eq!(title(late), Some("Late Title"));
    let read = late["bytes_read"].as_u64().unwrap();
    assert!((900 * 1024..=1024 * 1024).contains(&read), "read {read}");

    let big = &recs[&urls[1]];
    assert_eq!(title(big), Some("Big Page"));
    assert!(big["bytes_read"].as_u64().unwrap() <= 64 * 1024, "{big}");

    let endless = &recs[&urls[2]];
    assert_eq!(error_kind(endless), Some("body_too_large"));
    assert_eq!(endless["status"], 200);
    assert_eq!(endless["bytes_read"], 1024 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_body_and_max_title_len_flags() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls = vec![server.url("/late-title"), server.url("/entities")];
    let (_, recs) = run_lib(dir.path(), &urls, |c| {
        c.limits.max_body = 100 * 1024;
        c.limits.max_title_len = 5;
    })
    .await;
    let late = &recs[&urls[0]];
    assert_eq!(error_kind(late), Some("body_too_large"));
    assert_eq!(late["bytes_read"], 100 * 1024);
    assert_eq!(title(&recs[&urls[1]]), Some("Tom &"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_for_silent_and_trickling_servers() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls = vec![
        server.url("/never"),
        server.url("/trickle"),
        server.url("/page/1"),
    ];
    let (outcome, recs) = run_lib(dir.path(), &urls, |c| {
        c.limits.timeout = Duration::from_millis(600);
        c.pool.retries = 0;
    })
    .await;
    assert_eq!(outcome.exit_code(), 1);
    assert_eq!(error_kind(&recs[&urls[0]]), Some("timeout"));
    assert_eq!(
        recs[&urls[0]]["error"]["message"],
        "timed out after 600ms waiting for the response"
    );
    assert_eq!(recs[&urls[0]]["status"], Value::Null);
    let trickle = &recs[&urls[1]];
    assert_eq!(error_kind(trickle), Some("timeout"));
    assert_eq!(
        trickle["error"]["message"],
        "timed out after 600ms reading the body"
    );
    assert_eq!(trickle["status"], 200);
    assert!(trickle["bytes_read"].as_u64().unwrap() > 0, "{trickle}");
    assert_eq!(title(&recs[&urls[2]]), Some("Page 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_counted_and_bounded() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls = vec![server.url("/loop/a"), server.url("/chain/3")];
    let (_, recs) = run_lib(dir.path(), &urls, |_| {}).await;
    let looped = &recs[&urls[0]];
    assert_eq!(error_kind(looped), Some("too_many_redirects"));
    assert_eq!(looped["redirects"], 10);
    let chain = &recs[&urls[1]];
    assert_eq!(chain["redirects"], 3);
    assert_eq!(chain["final_url"], server.url("/chain/0"));
    assert_eq!(title(chain), Some("End of chain"));

    let (_, recs) = run_lib(dir.path(), &urls[1..], |c| c.limits.max_redirects = 2).await;
    assert_eq!(error_kind(&recs[&urls[1]]), Some("too_many_redirects"));
}

const SECRETS: [(&str, &str); 3] = [
    ("authorization", "Bearer s3cret"),
    ("cookie", "session=s3cret"),
    ("proxy-authorization", "Basic cHJveHk6czNjcmV0"),
];

fn with_secrets(c: &mut netkit_fetch::Config) {
    for (name, value) in SECRETS {
        c.client.headers.insert(name, value.parse().unwrap());
    }
    c.client.headers.insert("x-test", "kept".parse().unwrap());
}

/// Which credential headers `server` saw on its last request for `path`
/// (panics when there was none), and whether `X-Test` came along.
fn secrets_seen(server: &TestServer, path: &str) -> (Vec<&'static str>, bool) {
    let headers = server
        .state
        .headers(path)
        .unwrap_or_else(|| panic!("no request for {path}"));
    let seen = SECRETS
        .iter()
        .filter(|(name, value)| headers.get(*name).is_some_and(|v| v == value))
        .map(|(name, _)| *name)
        .collect();
    (seen, headers.get("x-test").is_some_and(|v| v == "kept"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_stay_with_the_origin_on_redirects() {
    let a = start_server().await;
    let other_port = start_server().await;
    // Another host: 127.0.0.2 is loopback too.
    let b = start_server_on("127.0.0.2").await;
    let dir = tempfile::tempdir().unwrap();
    let to = |server: &TestServer, path: &str| a.url(&format!("/redirect?to={}", server.url(path)));
    let urls = vec![
        to(&b, "/page/1"),
        to(&other_port, "/page/2"),
        a.url("/redirect?to=/page/3"),
        // a -> b -> back to a: the first origin gets them again, as in curl.
        to(&b, &format!("/redirect?to={}", a.url("/page/4"))),
    ];
    let (outcome, recs) = run_lib(dir.path(), &urls, with_secrets).await;
    assert_eq!(outcome.exit_code(), 0, "{recs:?}");
    for (u, title_) in urls.iter().zip(["Page 1", "Page 2", "Page 3", "Page 4"]) {
        assert_eq!(title(&recs[u]), Some(title_), "{}", recs[u]);
    }
    let all = vec!["authorization", "cookie", "proxy-authorization"];
    assert_eq!(secrets_seen(&a, "/redirect"), (all.clone(), true));
    assert_eq!(secrets_seen(&b, "/page/1"), (vec![], true), "other host");
    assert_eq!(
        secrets_seen(&other_port, "/page/2"),
        (vec![], true),
        "same host, other port"
    );
    assert_eq!(
        secrets_seen(&a, "/page/3"),
        (all.clone(), true),
        "same origin"
    );
    assert_eq!(secrets_seen(&b, "/redirect"), (vec![], true));
    assert_eq!(secrets_seen(&a, "/page/4"), (all.clone(), true));

    // --location-trusted: every hop gets them.
    let (_, recs) = run_lib(dir.path(), &urls[..1], |c| {
        with_secrets(c);
        c.client.location_trusted = true;
    })
    .await;
    assert_eq!(title(&recs[&urls[0]]), Some("Page 1"));
    assert_eq!(secrets_seen(&b, "/page/1"), (all, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_location_trusted_flag() {
    let a = start_server().await;
    let b = start_server_on("127.0.0.2").await;
    let url = a.url(&format!("/redirect?to={}", b.url("/page/9")));
    for (flag, expected) in [(None, false), (Some("--location-trusted"), true)] {
        let mut args = vec![
            "-q",
            "-H",
            "Authorization: Bearer s3cret",
            "-H",
            "X-Test: kept",
        ];
        args.extend(flag);
        args.push("-");
        let out = run_with_stdin(&args, &format!("{url}\n")).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let headers = b.state.headers("/page/9").unwrap();
        assert_eq!(
            headers
                .get("authorization")
                .is_some_and(|v| v == "Bearer s3cret"),
            expected,
            "{flag:?}"
        );
        assert_eq!(headers.get("x-test").unwrap(), "kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_other_schemes_are_unsupported_redirects() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("javascript:alert(1)", "javascript"),
        ("file:///etc/passwd", "file"),
        ("ftp://127.0.0.1/pub/x", "ftp"),
        ("data:text/plain,hi", "data"),
        ("mailto:a@b.invalid", "mailto"),
    ];
    let mut urls: Vec<String> = cases
        .iter()
        .map(|(to, _)| server.url(&format!("/redirect?to={to}")))
        .collect();
    urls.push(server.url("/redirect?to=http://[::1"));
    let (outcome, recs) = run_lib(dir.path(), &urls, |c| c.pool.retries = 0).await;
    assert_eq!(outcome.exit_code(), 1);
    for (u, (_, scheme)) in urls.iter().zip(cases) {
        let r = &recs[u];
        assert_eq!(error_kind(r), Some("unsupported_redirect"), "{r}");
        let message = r["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("redirect to a {scheme}: URL, not followed")),
            "{message}"
        );
        assert_eq!(r["status"], 302, "{r}");
        assert_eq!(r["redirects"], 0, "{r}");
    }
    let bad = &recs[&urls[5]];
    assert_eq!(error_kind(bad), Some("unsupported_redirect"), "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a URL"),
        "{bad}"
    );
}

/// A server that answers every request with a 200 whose head is `lines`
/// header fields of 1000 bytes each.
async fn start_big_head_server(lines: usize) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                let mut head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n".to_vec();
                for i in 0..lines {
                    head.extend_from_slice(
                        format!("X-Pad-{i}: {}\r\n", "a".repeat(990)).as_bytes(),
                    );
                }
                head.extend_from_slice(b"Content-Length: 22\r\n\r\n<title>small</title>\r\n");
                let _ = s.write_all(&head).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_response_head_is_invalid_http() {
    // 500 KB of head, past hyper's ~400 KiB buffer and 100 fields; and
    // 60 fields of 1000 bytes, within both.
    let big = start_big_head_server(500).await;
    let fine = start_big_head_server(60).await;
    let dir = tempfile::tempdir().unwrap();
    let urls = vec![format!("http://{big}/"), format!("http://{fine}/")];
    let (_, recs) = run_lib(dir.path(), &urls, |c| c.pool.retries = 0).await;
    let r = &recs[&urls[0]];
    assert_eq!(error_kind(r), Some("http_status"), "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid HTTP response: the head is too large"),
        "{r}"
    );
    assert_eq!(title(&recs[&urls[1]]), Some("small"), "{}", recs[&urls[1]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_schemes_in_the_input_are_unsupported_not_bad_ports() {
    let dir = tempfile::tempdir().unwrap();
    let lines = vec![
        "javascript:alert(1)".to_owned(),
        "mailto:someone@example.invalid".to_owned(),
        "data:text/html,hi".to_owned(),
        "localhost.invalid:8080".to_owned(),
    ];
    let (_, recs) = run_lib(dir.path(), &lines, |c| c.pool.retries = 0).await;
    for (line, scheme) in lines.iter().zip(["javascript", "mailto", "data"]) {
        let r = &recs[line];
        assert_eq!(error_kind(r), Some("invalid_url"), "{r}");
        let line_no = 1 + lines.iter().position(|l| l == line).unwrap();
        let message = r["error"]["message"].as_str().unwrap();
        let expected =
            format!("/urls.txt:{line_no}: unsupported scheme \"{scheme}\" (only http and https)");
        assert!(message.ends_with(&expected), "{message}");
    }
    // A host with a port is still a host (and .invalid fails without a lookup).
    assert_eq!(
        error_kind(&recs[&lines[3]]),
        Some("dns"),
        "{}",
        recs[&lines[3]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_hostile_titles_cannot_drive_the_terminal() {
    let server = start_server().await;
    let input = format!("{}\n", server.url("/hostile"));
    let inert = |out: &str| {
        out.chars().all(|c| {
            c == '\n'
                || c == '\t'
                || !(c.is_control()
                    || ('\u{202A}'..='\u{202E}').contains(&c)
                    || ('\u{2066}'..='\u{2069}').contains(&c))
        })
    };
    for format in ["text", "csv", "jsonl"] {
        let out = run_with_stdin(&["-q", "--format", format, "-"], &input).await;
        assert_eq!(out.status.code(), Some(0), "{format}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(inert(&stdout), "{format}: {stdout:?}");
        match format {
            "text" => assert!(
                stdout.ends_with("\t200\ta ]0;pwned b [2Jc 31md e\u{FFFD}gnp.exe\n"),
                "{stdout:?}"
            ),
            "csv" => assert!(
                stdout.contains(",200,a ]0;pwned b [2Jc 31md e\u{FFFD}gnp.exe,"),
                "{stdout:?}"
            ),
            _ => {
                let rec: Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(title(&rec), Some(HOSTILE_TEXT), "exact in jsonl");
                assert!(
                    stdout
                        .contains(r"\u001b]0;pwned\u0007b\u001b[2Jc\u009b31md\u007fe\u202egnp.exe"),
                    "{stdout}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_csv_formula_guard() {
    let server = start_server().await;
    let input = format!("{}\n", server.url("/formula"));
    let out = run_with_stdin(&["-q", "--format", "csv", "-"], &input).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(",200,=cmd|' /C calc'!A0,"), "{stdout}");
    let out = run_with_stdin(
        &["-q", "--format", "csv", "--csv-formula-guard", "-"],
        &input,
    )
    .await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(",200,\"'=cmd|' /C calc'!A0\","), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_cover_429_5xx_and_connect_errors() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let urls = vec![
        server.url("/429"),
        server.url("/flaky503"),
        server.url("/always503"),
        server.url("/404"),
        format!("http://{closed}/"),
    ];
    let (outcome, recs) = run_lib(dir.path(), &urls, |_| {}).await;
    assert_eq!(outcome.exit_code(), 1, "only the closed port fails");

    let r429 = &recs[&urls[0]];
    assert_eq!(r429["status"], 200);
    assert_eq!(title(r429), Some("After the wait"));
    assert!(
        r429["elapsed_ms"].as_u64().unwrap() >= 900,
        "Retry-After: 1 honoured: {r429}"
    );
    assert_eq!(server.state.hits("/429"), 2);

    assert_eq!(title(&recs[&urls[1]]), Some("Recovered"));
    let down = &recs[&urls[2]];
    assert_eq!(down["status"], 503);
    assert_eq!(title(down), Some("Down for maintenance"));
    assert_eq!(down["error"], Value::Null);
    assert_eq!(server.state.hits("/always503"), 2, "1 retry by default");
    assert_eq!(recs[&urls[3]]["status"], 404);
    assert_eq!(error_kind(&recs[&urls[4]]), Some("connect"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_and_non_html() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = ["/gzip", "/br", "/image", "/json"]
        .iter()
        .map(|p| server.url(p))
        .collect();
    let (outcome, recs) = run_lib(dir.path(), &urls, |_| {}).await;
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(title(&recs[&urls[0]]), Some("Gzipped — ok"));
    assert_eq!(title(&recs[&urls[1]]), Some("Brotli — ok"));
    for (u, ct) in [(&urls[2], "image/png"), (&urls[3], "application/json")] {
        let r = &recs[u];
        assert_eq!(r["content_type"], ct);
        assert_eq!(r["title"], Value::Null);
        assert_eq!(r["charset"], Value::Null, "no body decoded: {r}");
        assert_eq!(r["charset_source"], Value::Null, "no body decoded: {r}");
        assert_eq!(r["bytes_read"], 0);
        assert_eq!(r["status"], 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_limit_and_input_order() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    // Later URLs are faster, so completion order differs from input order.
    let urls: Vec<String> = (0..8)
        .map(|i| server.url(&format!("/slow/{}?i={i}", 50 + (8 - i) * 25)))
        .collect();
    let output = dir.path().join("ordered.jsonl");
    let input = write_urls(dir.path(), "ordered.txt", &urls);
    let mut config = test_config(input, output.clone());
    config.pool.per_host = 2;
    config.output.order = Order::Input;
    netkit_fetch::run(config, CancellationToken::new())
        .await
        .unwrap();
    let got: Vec<String> = read_jsonl(&output)
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, urls);
    assert_eq!(server.state.max_in_flight.load(Ordering::SeqCst), 2);
}

/// `--threads 3`: the attempts run on three threads, but the per-host
/// limit, the retries, the input order and the summary stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_threads_keep_the_limits_order_and_retries() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut urls: Vec<String> = (0..18)
        .map(|i| server.url(&format!("/slow/{}?i={i}", 20 + (18 - i) * 5)))
        .collect();
    urls.push(server.url("/always503"));
    urls.push(server.url("/late-meta"));
    let output = dir.path().join("threads.jsonl");
    let input = write_urls(dir.path(), "threads.txt", &urls);
    let mut config = test_config(input, output.clone());
    config.pool.threads = 3;
    config.pool.concurrency = 8;
    config.pool.per_host = 3;
    config.output.order = Order::Input;
    let outcome = netkit_fetch::run(config, CancellationToken::new())
        .await
        .unwrap();
    let recs = read_jsonl(&output);
    let got: Vec<&str> = recs.iter().map(|r| r["url"].as_str().unwrap()).collect();
    assert_eq!(got, urls.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(server.state.max_in_flight.load(Ordering::SeqCst), 3);
    assert_eq!(
        server.state.hits("/always503"),
        2,
        "1 retry, on whichever thread"
    );
    assert_eq!(recs[18]["status"], 503);
    assert_eq!(recs[19]["charset_source"], "parser_meta", "{}", recs[19]);
    for r in &recs[..18] {
        assert_eq!(r["status"], 200, "{r}");
        assert!(r["title"].is_string(), "{r}");
    }
    assert_eq!(outcome.tally.errors(), 0);
    let per_thread = &outcome.attempts_per_thread;
    assert_eq!(per_thread.len(), 3, "{per_thread:?}");
    assert!(
        per_thread.iter().all(|&n| n > 0),
        "every thread fetched: {per_thread:?}"
    );
    assert_eq!(per_thread.iter().sum::<u64>(), 21, "20 URLs and 1 retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_request_starts() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..6).map(|i| server.url(&format!("/page/{i}"))).collect();
    let started = std::time::Instant::now();
    let (outcome, recs) = run_lib(dir.path(), &urls, |c| c.pool.rate = Some(10.0)).await;
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(recs.len(), 6);
    // 6 starts at 10/s with a burst of 1 need at least 5 intervals of 100 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_default_user_agent() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls = vec![server.url("/echo-headers")];
    let (_, recs) = run_lib(dir.path(), &urls, |_| {}).await;
    let t = title(&recs[&urls[0]]).unwrap().to_owned();
    assert!(t.starts_with("ua=netkit-fetch-titles/0."), "{t}");
    let (_, recs) = run_lib(dir.path(), &urls, |c| {
        c.client.user_agent = "custom/1".into();
        c.client.headers.insert("x-test", "hello".parse().unwrap());
    })
    .await;
    assert_eq!(title(&recs[&urls[0]]), Some("ua=custom/1 x=hello"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_lines_comments_invalid_and_dedupe() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let good = server.url("/page/1");
    let bare = good.trim_start_matches("http://").to_owned();
    let lines = vec![
        "# a comment".to_owned(),
        String::new(),
        "http://exa mple.com/".to_owned(),
        good.clone(),
        good.clone(),
        bare.clone(),
    ];
    let (outcome, recs) = run_lib(dir.path(), &lines, |c| {
        c.input.scheme = netkit_fetch::Scheme::Http
    })
    .await;
    assert_eq!(outcome.exit_code(), 1);
    assert_eq!(
        outcome.tally.records, 2,
        "duplicates (also without scheme) are skipped: {recs:?}"
    );
    let bad = &recs["http://exa mple.com/"];
    assert_eq!(error_kind(bad), Some("invalid_url"));
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("urls.txt:3:"),
        "{bad}"
    );
    assert_eq!(bad["status"], Value::Null);

    let (outcome, _) = run_lib(dir.path(), &lines, |c| {
        c.input.scheme = netkit_fetch::Scheme::Http;
        c.input.dedupe = false;
    })
    .await;
    assert_eq!(outcome.tally.records, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_done_resumes_and_shards_partition() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..30).map(|i| server.url(&format!("/page/{i}"))).collect();
    let input = write_urls(dir.path(), "all.txt", &urls);
    let first = write_urls(dir.path(), "first.txt", &urls[..10]);
    let out = dir.path().join("resume.jsonl");
    netkit_fetch::run(test_config(first, out.clone()), CancellationToken::new())
        .await
        .unwrap();
    let mut config = test_config(input.clone(), out.clone());
    config.input.skip_done = Some(out.clone());
    let outcome = netkit_fetch::run(config, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.tally.records, 20);
    let all = by_url(read_jsonl(&out));
    assert_eq!(all.len(), 30, "appended to the same file, nothing twice");

    let mut seen = std::collections::HashSet::new();
    for k in 0..3 {
        let out = dir.path().join(format!("shard{k}.jsonl"));
        let mut config = test_config(input.clone(), out.clone());
        config.input.shard = Some(format!("{k}/3").parse().unwrap());
        netkit_fetch::run(config, CancellationToken::new())
            .await
            .unwrap();
        for r in read_jsonl(&out) {
            assert!(
                seen.insert(r["url"].as_str().unwrap().to_owned()),
                "URL in two shards"
            );
        }
    }
    assert_eq!(seen.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_keeps_finished_records_whole() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut urls: Vec<String> = (0..5).map(|i| server.url(&format!("/page/{i}"))).collect();
    urls.extend((0..5).map(|i| server.url(&format!("/never?i={i}"))));
    let input = write_urls(dir.path(), "urls.txt", &urls);
    let out = dir.path().join("out.jsonl");
    let mut config = test_config(input, out.clone());
    config.pool.grace = Duration::from_millis(200);
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        canceller.cancel();
    });
    let outcome = tokio::time::timeout(Duration::from_secs(10), netkit_fetch::run(config, token))
        .await
        .expect("run stops soon after cancel")
        .unwrap();
    assert!(outcome.interrupted);
    assert_eq!(outcome.exit_code(), 130);
    assert_eq!(outcome.tally.cancelled, 5);
    let recs = read_jsonl(&out);
    assert_eq!(recs.len(), 5);
    assert!(
        recs.iter()
            .all(|r| r["title"].as_str().unwrap().starts_with("Page "))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_records_are_written_while_others_are_in_flight() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut urls: Vec<String> = (0..3).map(|i| server.url(&format!("/page/{i}"))).collect();
    urls.push(server.url("/never"));
    let input = write_urls(dir.path(), "urls.txt", &urls);
    let out = dir.path().join("out.jsonl");
    let mut config = test_config(input, out.clone());
    config.pool.grace = Duration::from_millis(100);
    let token = CancellationToken::new();
    let run = tokio::spawn(netkit_fetch::run(config, token.clone()));
    // The batch of finished records must reach the file while /never is
    // still being fetched, not at the end of the run.
    let mut written = 0;
    for _ in 0..200 {
        written = std::fs::read_to_string(&out)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if written == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(written, 3, "finished records were not flushed");
    assert!(!run.is_finished());
    token.cancel();
    let outcome = run.await.unwrap().unwrap();
    assert_eq!(outcome.tally.cancelled, 1);
    let recs = read_jsonl(&out);
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| title(r).unwrap().starts_with("Page ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_negotiates_http2_by_alpn() {
    let both = start_tls_server(&[b"h2", b"http/1.1"]).await;
    let h1_only = start_tls_server(&[b"http/1.1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let urls = vec![
        format!("https://{both}/page"),
        format!("https://{h1_only}/page"),
    ];
    let (outcome, recs) = run_lib(dir.path(), &urls, |c| c.client.insecure = true).await;
    assert_eq!(outcome.exit_code(), 0, "{recs:?}");
    // The record has no protocol field: the server names the version the
    // request arrived with in the title.
    assert_eq!(title(&recs[&urls[0]]), Some("TLS HTTP/2.0"));
    assert_eq!(title(&recs[&urls[1]]), Some("TLS HTTP/1.1"));
    assert_eq!(recs[&urls[0]]["final_url"], urls[0].as_str());
    assert_eq!(recs[&urls[0]]["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_replies_and_tls_to_a_plain_server() {
    // A "server" that answers every connection with something that is not HTTP.
    let garbage = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_addr = garbage.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((mut s, _)) = garbage.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                let _ = s
                    .write_all(b"SSH-2.0-OpenSSH_9.2 not http at all\r\n\r\n")
                    .await;
            });
        }
    });
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls = vec![
        format!("http://{garbage_addr}/"),
        format!("https://{}/page/1", server.addr),
    ];
    let (outcome, recs) = run_lib(dir.path(), &urls, |c| c.pool.retries = 0).await;
    assert_eq!(outcome.exit_code(), 1);
    assert_eq!(
        error_kind(&recs[&urls[0]]),
        Some("http_status"),
        "{}",
        recs[&urls[0]]
    );
    assert_eq!(
        error_kind(&recs[&urls[1]]),
        Some("tls"),
        "{}",
        recs[&urls[1]]
    );
}

#[test]
fn title_engine_matches_a_full_html5_parser() {
    let docs = [
        "<title>a</title>",
        "<html><head><svg><title>x</title></svg><title>b</title>",
        "<!doctype html><!-- <title>no</title> --><title> c  d </title>",
        "<script>document.write('<title>no</title>')</script><title>e</title>",
        "<title>f &amp; g &lt;h&gt;</title><title>second</title>",
        "<head><noscript><title>n</title></noscript><title>after noscript</title>",
        "<math><title>m</title></math><title>after math</title>",
        "<title>unterminated &copy",
    ];
    let selector = scraper::Selector::parse("title").unwrap();
    for doc in docs {
        let parsed = scraper::Html::parse_document(doc);
        let expected = parsed
            .select(&selector)
            .find(|t| t.value().name.ns == html5ever::ns!(html))
            .map(|t| {
                t.text()
                    .collect::<String>()
                    .split_ascii_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        let got = extract_title(doc.as_bytes(), ExtractOptions::default()).title;
        assert_eq!(got, expected, "{doc}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn extraction_never_panics_and_ignores_chunking(
        body in proptest::collection::vec(any::<u8>(), 0..4096),
        split in 1usize..512,
        header in prop_oneof![Just(None), Just(Some("utf-8")), Just(Some("shift_jis")), Just(Some("utf-16le"))],
        max_title_len in 1usize..64,
    ) {
        let opts = ExtractOptions {
            max_title_len,
            header_charset: header.and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes())),
            xml: false,
        };
        let whole = extract_title(&body, opts);
        let mut ex = TitleExtractor::new(opts);
        for chunk in body.chunks(split) {
            if !ex.feed(chunk) {
                break;
            }
        }
        let chunked = ex.finish();
        prop_assert_eq!(&whole.title, &chunked.title);
        if let Some(t) = &whole.title {
            prop_assert!(t.chars().count() <= max_title_len);
        }
    }

    #[test]
    fn titles_made_of_markup_soup_never_panic(
        parts in proptest::collection::vec(prop_oneof![
            Just("<title>"), Just("</title>"), Just("<svg>"), Just("</svg>"), Just("<!--"), Just("-->"),
            Just("<script>"), Just("</script>"), Just("&amp;"), Just("&#x"), Just("<"), Just(">"), Just("'"),
            Just("\""), Just("<meta charset=shift_jis>"), Just("\u{feff}"), Just("é"), Just("\0"), Just("x"),
            Just("<![CDATA["), Just("]]>"), Just(" "),
        ], 0..64)
    ) {
        let doc: String = parts.concat();
        let _ = extract_title(doc.as_bytes(), ExtractOptions::default());
    }
}

// ---- the binary's CLI contract ----

fn bin() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_fetch-titles"));
    c.env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    c
}

/// Runs `command` with `input` on stdin and stdout/stderr captured, for at
/// most 30 s.
async fn output_with_stdin(
    command: &mut tokio::process::Command,
    input: &str,
) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

/// Runs the binary with `args` and `input` on stdin.
async fn run_with_stdin(args: &[&str], input: &str) -> std::process::Output {
    output_with_stdin(bin().args(args), input).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let urls = write_urls(dir.path(), "u.txt", &["127.0.0.1:1".to_owned()]);
    for args in [
        vec![
            "--shard".to_owned(),
            "4/4".to_owned(),
            urls.display().to_string(),
        ],
        vec!["--no-such-flag".to_owned()],
        vec![dir.path().join("missing.txt").display().to_string()],
        vec![
            "-H".to_owned(),
            "no colon".to_owned(),
            urls.display().to_string(),
        ],
        vec![
            "--timeout".to_owned(),
            "soon".to_owned(),
            urls.display().to_string(),
        ],
    ] {
        let out = bin()
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty());
    }
}

/// `--shard index/N` reads K from JOB_COMPLETION_INDEX, as an Indexed
/// Job's pod would, and is a usage error (exit 2) when it is unset or out
/// of range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_shard_index_comes_from_job_completion_index() {
    let server = start_server().await;
    let urls: Vec<String> = (0..24).map(|i| server.url(&format!("/page/{i}"))).collect();
    let input = urls.join("\n");
    let mut union = Vec::new();
    for k in 0..3 {
        let out = output_with_stdin(
            bin()
                .args(["--shard", "index/3", "--format", "jsonl", "-q", "-"])
                .env("JOB_COMPLETION_INDEX", k.to_string()),
            &input,
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let explicit = output_with_stdin(
            bin().args(["--shard", &format!("{k}/3"), "--format", "jsonl", "-q", "-"]),
            &input,
        )
        .await;
        let urls_of = |stdout: &[u8]| -> Vec<String> {
            let mut v: Vec<String> = String::from_utf8_lossy(stdout)
                .lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["url"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(urls_of(&out.stdout), urls_of(&explicit.stdout), "shard {k}");
        union.extend(urls_of(&out.stdout));
    }
    union.sort();
    let mut all = urls.clone();
    all.sort();
    assert_eq!(union, all);

    for (value, says) in [
        (None, "JOB_COMPLETION_INDEX"),
        (Some("3"), "0..3"),
        (Some("x"), "not a number"),
    ] {
        // Stdin stays closed: a usage error exits before reading anything.
        let mut command = bin();
        command
            .args(["--shard", "index/3", "-"])
            .env_remove("JOB_COMPLETION_INDEX")
            .stdin(Stdio::null());
        if let Some(v) = value {
            command.env("JOB_COMPLETION_INDEX", v);
        }
        let out = command.output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value:?}: {stderr}");
        assert!(
            stderr.contains(says) && stderr.contains("--shard"),
            "{value:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_stdin_text_format_and_exit_codes() {
    let server = start_server().await;
    let input = format!("{}\n{}\n", server.url("/page/7"), server.url("/404"));
    let out = run_with_stdin(&["-", "--quiet"], &input).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    let mut expected = vec![
        format!("{}\t200\tPage 7", server.url("/page/7")),
        format!("{}\t404\tNot Found", server.url("/404")),
    ];
    expected.sort();
    assert_eq!(lines, expected);
    assert!(
        out.stderr.is_empty(),
        "--quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An invalid line makes the exit code 1, and the summary names the kind.
    let input = format!("{}\nhttp://bad host/\n", server.url("/page/8"));
    let out = run_with_stdin(&["--format", "csv"], &input).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("url,final_url,status,title,"),
        "{stdout}"
    );
    assert!(
        stdout.contains("invalid_url,stdin:2: invalid URL"),
        "{stdout}"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("invalid_url=1") && stderr.contains("2xx=1"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_insecure_flag_accepts_a_self_signed_certificate() {
    let addr = start_tls_server(&[b"h2", b"http/1.1"]).await;
    let url = format!("https://{addr}/page");
    let run = |extra: &'static [&'static str]| {
        let input = format!("{url}\n");
        async move {
            let mut args = vec!["--format", "jsonl", "-q", "--retries", "0"];
            args.extend_from_slice(extra);
            args.push("-");
            let out = run_with_stdin(&args, &input).await;
            let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
            (out.status.code(), rec)
        }
    };

    let (code, rec) = run(&[]).await;
    assert_eq!(code, Some(1), "{rec}");
    assert_eq!(error_kind(&rec), Some("tls"), "{rec}");
    let message = rec["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "certificate not trusted (unknown issuer, or self-signed)"
    );
    assert_eq!(rec["status"], Value::Null);

    for flag in ["-k", "--insecure"] {
        let (code, rec) = run(if flag == "-k" {
            &["-k"]
        } else {
            &["--insecure"]
        })
        .await;
        assert_eq!(code, Some(0), "{flag}: {rec}");
        assert_eq!(title(&rec), Some("TLS HTTP/2.0"), "{flag}: {rec}");
        assert_eq!(rec["error"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_invalid_tld_is_a_dns_error_without_any_lookup() {
    // The system resolver would forward `.invalid` to its DNS server (off
    // this machine); fetch-titles fails such names itself (RFC 6761), so
    // this test sends nothing anywhere. The message proves which side
    // answered.
    let url = "http://no-such-host.invalid/page";
    let out = run_with_stdin(
        &["--format", "jsonl", "-q", "--retries", "0", "-"],
        &format!("{url}\n"),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["url"], url);
    assert_eq!(error_kind(&rec), Some("dns"), "{rec}");
    assert!(
        rec["error"]["message"].as_str().unwrap()
            == "no such host (names under .invalid never resolve, RFC 6761)",
        "{rec}"
    );
    assert_eq!(rec["status"], Value::Null);
    assert_eq!(rec["final_url"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_proxy_flag_and_environment() {
    let proxy = start_server().await;
    let target = "http://proxied.invalid/proxied";
    let input = format!("{target}\n");
    let out = run_with_stdin(
        &["--format", "jsonl", "-q", "--proxy", &proxy.url(""), "-"],
        &input,
    )
    .await;
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(title(&rec), Some("via proxy for proxied.invalid"));

    let out = output_with_stdin(
        bin()
            .args(["--format", "jsonl", "-q", "-"])
            .env("HTTP_PROXY", proxy.url("")),
        &input,
    )
    .await;
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(title(&rec), Some("via proxy for proxied.invalid"));
    assert_eq!(proxy.state.hits("/proxied"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_sigint_flushes_finished_records_and_exits_130() {
    signal_flushes_finished_records_and_exits("-INT", 130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_sigterm_flushes_finished_records_and_exits_143() {
    signal_flushes_finished_records_and_exits("-TERM", 143).await;
}

/// `kill SIGNAL` once the fast pages are written: the run stops, every
/// finished record is in the file, whole, and the exit is 128 + the signal.
async fn signal_flushes_finished_records_and_exits(signal: &str, code: i32) {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut urls: Vec<String> = (0..3).map(|i| server.url(&format!("/page/{i}"))).collect();
    urls.extend((0..3).map(|i| server.url(&format!("/never?i={i}"))));
    let input = write_urls(dir.path(), "u.txt", &urls);
    let out = dir.path().join("o.jsonl");
    let child = bin()
        .args(["--format", "jsonl", "-q", "--grace", "200ms", "-o"])
        .arg(&out)
        .arg(&input)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    // Wait (bounded) until the fast pages are written.
    for _ in 0..100 {
        if std::fs::read_to_string(&out)
            .map(|s| s.lines().count())
            .unwrap_or(0)
            >= 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let result = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.status.code(), Some(code));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(read_jsonl(&out).len(), 3);
    let _ = Format::Text;
}

// ---- a failed write of the output ----

/// A tmpfs mounted on a directory for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `size` on `dir`, or says why not (not root, no
/// mount(8), a container without CAP_SYS_ADMIN) and returns None.
fn mount_tmpfs(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
    std::fs::create_dir_all(dir).unwrap();
    let result = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output();
    match result {
        Ok(out) if out.status.success() => Some(Tmpfs(dir.to_owned())),
        Ok(out) => {
            eprintln!(
                "SKIPPED: mount -t tmpfs was refused ({}), so the ENOSPC test cannot run here",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            None
        }
        Err(e) => {
            eprintln!("SKIPPED: cannot run mount ({e}), so the ENOSPC test cannot run here");
            None
        }
    }
}

/// Runs the binary for at most 30 s with stderr captured; stdout is
/// whatever `command` says (tokio's `output()` would replace it by a pipe).
async fn run_bin(command: &mut tokio::process::Command) -> std::process::Output {
    let child = command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

/// The records of a file that must end on a whole record.
fn whole_records(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn last record: {:?}",
        &text[text.len().saturating_sub(80)..]
    );
    read_jsonl(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_disk_full_exits_2_with_whole_records_and_resumes() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    let Some(_tmpfs) = mount_tmpfs(&mnt, "64k") else {
        return;
    };
    // 120 records of about 1.2 KB: twice what the file system holds.
    let urls: Vec<String> = (0..120)
        .map(|i| server.url(&format!("/long/1000?i={i}")))
        .collect();
    let input = write_urls(dir.path(), "u.txt", &urls);

    // -o FILE, and stdout redirected to a file.
    for to_stdout in [false, true] {
        let out = mnt.join("o.jsonl");
        let _ = std::fs::remove_file(&out);
        let mut command = bin();
        command.args(["--format", "jsonl", "-q"]).arg(&input);
        if to_stdout {
            command.stdout(std::fs::File::create(&out).unwrap());
        } else {
            command.arg("-o").arg(&out);
        }
        let result = run_bin(&mut command).await;
        let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
        assert_eq!(result.status.code(), Some(2), "{stderr}");
        let done = whole_records(&out);
        assert!(
            !done.is_empty() && done.len() < urls.len(),
            "{}",
            done.len()
        );
        let len = std::fs::metadata(&out).unwrap().len();
        let target = if to_stdout {
            "stdout".to_owned()
        } else {
            format!("output file {}", out.display())
        };
        assert_eq!(
            stderr.trim_end(),
            format!(
                "fetch-titles: cannot write {target}: No space left on device (os error 28); \
                 the file was cut back to its last whole record ({len} bytes)"
            )
        );

        // --skip-done resumes where it stopped: every URL exactly once.
        let resumed = dir.path().join("resumed.jsonl");
        std::fs::copy(&out, &resumed).unwrap();
        let result = run_bin(
            bin()
                .args(["--format", "jsonl", "-q", "--skip-done"])
                .arg(&resumed)
                .arg("-o")
                .arg(&resumed)
                .arg(&input),
        )
        .await;
        assert_eq!(result.status.code(), Some(0));
        let all = whole_records(&resumed);
        assert_eq!(all.len(), urls.len());
        assert_eq!(by_url(all).len(), urls.len(), "a URL twice");
    }
}

/// What a pod killed mid-write leaves: whole records, then a torn last
/// line. The resumed run neither counts the torn URL as done nor leaves the
/// fragment in the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_skip_done_ignores_then_overwrites_a_torn_last_line() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..12).map(|i| server.url(&format!("/page/{i}"))).collect();
    let input = write_urls(dir.path(), "u.txt", &urls);
    let first = write_urls(dir.path(), "first.txt", &urls[..6]);
    let out = dir.path().join("o.jsonl");
    let result = run_bin(
        bin()
            .args(["--format", "jsonl", "-q", "--order", "input", "-o"])
            .arg(&out)
            .arg(&first),
    )
    .await;
    assert_eq!(result.status.code(), Some(0));
    // Keep 5 whole records; the 6th loses its newline (a complete JSON
    // object, but torn all the same), then a fragment of a 7th for good
    // measure in a second file.
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    for (name, tail) in [
        ("whole-json.jsonl", lines[5].to_owned()),
        (
            "fragment.jsonl",
            format!("{}\n{}", lines[5], &lines[5][..20]),
        ),
    ] {
        let resumed = dir.path().join(name);
        std::fs::write(&resumed, format!("{}\n{tail}", lines[..5].join("\n"))).unwrap();
        let result = run_bin(
            bin()
                .args(["--format", "jsonl", "-q", "--skip-done"])
                .arg(&resumed)
                .arg("-o")
                .arg(&resumed)
                .arg(&input),
        )
        .await;
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("torn last line"), "{stderr}");
        let all = whole_records(&resumed);
        assert_eq!(
            all.len(),
            urls.len(),
            "{name}: every URL once, no fragment left"
        );
        assert_eq!(by_url(all).len(), urls.len(), "{name}: a URL twice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_closed_stdout_ends_quietly_with_0() {
    use tokio::io::AsyncBufReadExt;
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..2000)
        .map(|i| server.url(&format!("/page/{i}")))
        .collect();
    let input = write_urls(dir.path(), "u.txt", &urls);
    // `fetch-titles … | head -1`: read one line, then close the pipe.
    let mut child = bin()
        .args(["-q", "-c", "4", "--per-host", "4"])
        .arg(&input)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut first)
        .await
        .unwrap();
    assert!(first.contains("/page/"), "{first:?}");
    // The reader is dropped here: later writes get EPIPE.
    let result = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&result.stderr), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_dev_full_exits_2_with_the_reason() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let input = write_urls(dir.path(), "u.txt", &[server.url("/page/1")]);
    for format in ["jsonl", "csv", "text"] {
        let result = run_bin(
            bin()
                .args(["-q", "--format", format, "-o", "/dev/full"])
                .arg(&input),
        )
        .await;
        assert_eq!(result.status.code(), Some(2), "{format}");
        assert_eq!(
            String::from_utf8_lossy(&result.stderr).trim_end(),
            "fetch-titles: cannot write output file /dev/full: No space left on device (os error 28)"
        );
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let result = run_bin(
            bin()
                .args(["-q", "--format", format])
                .arg(&input)
                .stdout(full),
        )
        .await;
        assert_eq!(result.status.code(), Some(2), "{format}");
        assert_eq!(
            String::from_utf8_lossy(&result.stderr).trim_end(),
            "fetch-titles: cannot write stdout: No space left on device (os error 28)"
        );
    }
}

/// `--scheme auto` when https hangs instead of failing: a server that takes
/// the TLS ClientHello and never answers it, but answers plain HTTP on the
/// same port. The handshake is part of connecting, so running out of time
/// there (with `--connect-timeout` left to default to `--timeout`) falls
/// back to http, as httpx does, instead of ending as a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheme_auto_falls_back_when_the_https_handshake_hangs() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = held.clone();
    tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let mut first = [0u8; 1];
            if conn.read_exact(&mut first).await.is_err() {
                continue;
            }
            if first[0] == 0x16 {
                // A TLS record: hold the connection open, say nothing.
                kept.lock().unwrap().push(conn);
                continue;
            }
            let mut rest = [0u8; 4096];
            let _ = conn.read(&mut rest).await;
            let body = "<title>plain after a silent handshake</title>";
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        }
    });
    let line = addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let (outcome, recs) = run_lib(dir.path(), std::slice::from_ref(&line), |c| {
        c.pool.retries = 0;
        c.limits.timeout = Duration::from_millis(400);
    })
    .await;
    let r = &recs[&line];
    assert_eq!(outcome.exit_code(), 0, "{r}");
    assert_eq!(r["final_url"], format!("http://{addr}/"), "{r}");
    assert_eq!(title(r), Some("plain after a silent handshake"));
    assert_eq!(held.lock().unwrap().len(), 1, "https was tried first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheme_auto_tries_https_then_http_and_the_flag_forces_one() {
    let server = start_server().await;
    let bare = format!("{}/page/1", server.addr);
    let dir = tempfile::tempdir().unwrap();

    // auto (the default): https fails its handshake with a plain-HTTP
    // server, http answers.
    let (outcome, recs) = run_lib(dir.path(), std::slice::from_ref(&bare), |c| {
        c.pool.retries = 0;
    })
    .await;
    assert_eq!(outcome.exit_code(), 0);
    let r = &recs[&bare];
    assert_eq!(
        r["final_url"],
        format!("http://{}/page/1", server.addr),
        "{r}"
    );
    assert_eq!(title(r), Some("Page 1"));
    assert_eq!(r["error"], Value::Null);

    // A bare `host:port` line, as the issue has it.
    let host_port = server.addr.to_string();
    let (_, recs) = run_lib(dir.path(), std::slice::from_ref(&host_port), |c| {
        c.pool.retries = 0;
    })
    .await;
    assert_eq!(
        recs[&host_port]["final_url"],
        format!("http://{}/", server.addr)
    );

    // https forced: no fallback, the TLS failure is the record.
    let (outcome, recs) = run_lib(dir.path(), std::slice::from_ref(&bare), |c| {
        c.input.scheme = Scheme::Https;
        c.pool.retries = 0;
    })
    .await;
    assert_eq!(outcome.exit_code(), 1);
    assert_eq!(error_kind(&recs[&bare]), Some("tls"), "{}", recs[&bare]);
    assert_eq!(recs[&bare]["final_url"], Value::Null);

    // http forced: straight to http.
    let (_, recs) = run_lib(dir.path(), std::slice::from_ref(&bare), |c| {
        c.input.scheme = Scheme::Http;
    })
    .await;
    assert_eq!(
        recs[&bare]["final_url"],
        format!("http://{}/page/1", server.addr)
    );

    // An https server that answers keeps https: auto falls back only when
    // https cannot connect.
    let tls = start_tls_server(&[b"http/1.1"]).await;
    let line = format!("{tls}/page");
    let (_, recs) = run_lib(dir.path(), std::slice::from_ref(&line), |c| {
        c.client.insecure = true;
    })
    .await;
    let r = &recs[&line];
    assert_eq!(r["final_url"], format!("https://{tls}/page"), "{r}");
    assert_eq!(title(r), Some("TLS HTTP/1.1"));

    // Nothing listens: both fail, the record says so once.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let line = closed.to_string();
    let (_, recs) = run_lib(dir.path(), std::slice::from_ref(&line), |c| {
        c.pool.retries = 0;
    })
    .await;
    assert_eq!(error_kind(&recs[&line]), Some("connect"), "{}", recs[&line]);
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_messages_name_the_root_cause() {
    let server = start_server().await;
    // Accepts connections (the kernel's backlog) and never says a word.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mute_addr = mute.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let refused = format!("http://{}/", closed_port());
    let not_tls = format!("https://{}/page/1", server.addr);
    let silent_tls = format!("https://{mute_addr}/");
    let urls = vec![refused.clone(), not_tls.clone(), silent_tls.clone()];
    let (_, recs) = run_lib(dir.path(), &urls, |c| {
        c.pool.retries = 0;
        c.limits.timeout = Duration::from_secs(3);
        c.client.connect_timeout = Some(Duration::from_millis(300));
    })
    .await;
    let said = |u: &str| {
        let r = &recs[u];
        (
            r["error"]["kind"].as_str().unwrap_or_default().to_owned(),
            r["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    assert_eq!(
        said(&refused),
        ("connect".to_owned(), "connection refused".to_owned())
    );
    assert_eq!(
        said(&not_tls),
        (
            "tls".to_owned(),
            "TLS handshake failed: the server did not answer TLS".to_owned()
        )
    );
    assert_eq!(
        said(&silent_tls),
        (
            "timeout".to_owned(),
            "timed out after 300ms connecting".to_owned()
        )
    );
    drop(mute);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_named() {
    use netkit_fetch::fetcher::{ClientOptions, Credentials, build_client, fetch};
    use tokio_rustls::rustls;

    // A private CA, and a certificate it issued for example.com only.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["example.com".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });

    let client = build_client(&ClientOptions {
        connect_timeout: Some(Duration::from_secs(2)),
        insecure: false,
        proxy: None,
        ignore_env_proxy: true,
        headers: Default::default(),
        user_agent: "test".to_owned(),
        idle_per_host: 1,
        extra_roots: vec![reqwest::Certificate::from_der(ca_cert.der()).unwrap()],
    })
    .unwrap();
    let url = url::Url::parse(&format!("https://{addr}/")).unwrap();
    let limits = netkit_fetch::FetchLimits {
        timeout: Duration::from_secs(3),
        ..Default::default()
    };
    let failure = fetch(
        &client,
        &Credentials::default(),
        &url,
        limits,
        Duration::from_secs(2),
        true,
    )
    .await
    .unwrap_err();
    let netkit_fetch::fetcher::FetchFailure::Error { kind, message, .. } = failure else {
        panic!("{failure}");
    };
    assert_eq!(kind, netkit_fetch::ErrorKind::Tls);
    assert_eq!(
        message,
        "certificate not valid for 127.0.0.1 (it is for example.com)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xhtml_served_as_xml_is_read_under_xml_rules() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/xhtml");
    let (outcome, recs) = run_lib(dir.path(), std::slice::from_ref(&url), |_| {}).await;
    assert_eq!(outcome.exit_code(), 0);
    let r = &recs[&url];
    // HTML rules would give "X<b>-not-</b>HTML" (title is RCDATA there).
    assert_eq!(title(r), Some("XHTML"), "{r}");
    assert_eq!(r["charset"], "UTF-8");
}
