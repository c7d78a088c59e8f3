//! Test helpers: an in-process HTTP server on 127.0.0.1:0 serving every
//! fixture the issue lists, plus helpers to run the library and the binary.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use encoding_rs::Encoding;
use netkit_fetch::{Config, Format, Source};
use tokio_util::sync::CancellationToken;

/// Legacy charsets with a known string each (encoded with encoding_rs, so
/// the expected titles are exact).
pub const CHARSETS: &[(&str, &str)] = &[
    ("windows-1251", "Новости дня — главное"),
    ("Shift_JIS", "日本語のタイトル「テスト」"),
    ("EUC-JP", "日本語のページ見出し"),
    ("GBK", "中文网页标题测试"),
    ("gb18030", "中文标题 — 测试"),
    ("Big5", "繁體中文標題測試"),
    ("EUC-KR", "한국어 제목 테스트"),
    ("ISO-8859-2", "Zażółć gęślą jaźń"),
    ("ISO-8859-5", "Привет из ISO-8859-5"),
    ("ISO-8859-7", "Ελληνικά νέα σήμερα"),
    ("windows-1252", "Café crème brûlée"),
];

/// The markup of `/hostile`'s title: an OSC that retitles the terminal,
/// a clear-screen CSI, a C1 CSI (U+009B, raw UTF-8), DEL and a
/// right-to-left override.
pub const HOSTILE_TITLE: &str =
    "<title>a\u{1b}]0;pwned\u{7}b\u{1b}[2Jc\u{9b}31md\u{7f}e\u{202e}gnp.exe</title>";

/// `/hostile`'s title as `document.title` has it.
pub const HOSTILE_TEXT: &str = "a\u{1b}]0;pwned\u{7}b\u{1b}[2Jc\u{9b}31md\u{7f}e\u{202e}gnp.exe";

/// The title of the undeclared-charset fixture (windows-1251, detected).
pub const UNDECLARED_TITLE: &str = "Новости России и мира сегодня";

pub fn encode(label: &str, text: &str) -> Vec<u8> {
    let enc = Encoding::for_label(label.as_bytes()).expect("known label");
    let (bytes, _, unmappable) = enc.encode(text);
    assert!(!unmappable, "{label} cannot encode {text}");
    bytes.into_owned()
}

fn utf16(text: &str, little: bool) -> Vec<u8> {
    let mut out = if little {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for u in text.encode_utf16() {
        out.extend_from_slice(&if little {
            u.to_le_bytes()
        } else {
            u.to_be_bytes()
        });
    }
    out
}

fn page(title_markup: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head>{title_markup}</head><body><p>content</p></body></html>\n"
    )
}

fn html(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("response")
}

#[derive(Default)]
pub struct ServerState {
    counters: std::sync::Mutex<HashMap<String, Arc<AtomicU32>>>,
    in_flight: AtomicU32,
    /// Highest number of concurrent `/slow/..` requests seen.
    pub max_in_flight: AtomicU32,
    /// The request headers of the last request for each path.
    headers: std::sync::Mutex<HashMap<String, axum::http::HeaderMap>>,
}

impl ServerState {
    fn hit(&self, key: &str) -> u32 {
        let c = self
            .counters
            .lock()
            .expect("lock")
            .entry(key.to_owned())
            .or_default()
            .clone();
        c.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The headers the last request for `path` arrived with.
    pub fn headers(&self, path: &str) -> Option<axum::http::HeaderMap> {
        self.headers.lock().expect("lock").get(path).cloned()
    }

    pub fn hits(&self, key: &str) -> u32 {
        self.counters
            .lock()
            .expect("lock")
            .get(key)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }
}

/// A finite stream of `count` chunks, each produced after `delay`.
fn chunks(chunk: Vec<u8>, count: usize, delay: Duration) -> Body {
    let stream = futures::stream::unfold(0usize, move |i| {
        let chunk = chunk.clone();
        async move {
            if i >= count {
                return None;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), i + 1))
        }
    });
    Body::from_stream(stream)
}

async fn fixture(State(state): State<Arc<ServerState>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    state.hit(&path);
    state
        .headers
        .lock()
        .expect("lock")
        .insert(path.clone(), headers.clone());
    let ok = StatusCode::OK;
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["charset", label, "header"] => {
            let (_, text) = CHARSETS.iter().find(|(l, _)| l == label).expect("label");
            let body = encode(label, &page(&format!("<title>{text}</title>")));
            html(ok, &format!("text/html; charset={label}"), body)
        }
        ["charset", label, "meta"] => {
            let (_, text) = CHARSETS.iter().find(|(l, _)| l == label).expect("label");
            let body = encode(
                label,
                &page(&format!("<meta charset=\"{label}\"><title>{text}</title>")),
            );
            html(ok, "text/html", body)
        }
        ["charset", label, "http-equiv"] => {
            let (_, text) = CHARSETS.iter().find(|(l, _)| l == label).expect("label");
            let body = encode(
                label,
                &page(&format!(
                    "<meta http-equiv=\"Content-Type\" content=\"text/html; charset={label}\"><title>{text}</title>"
                )),
            );
            html(ok, "text/html", body)
        }
        ["bom", "utf-8"] => {
            let mut body = b"\xEF\xBB\xBF".to_vec();
            body.extend_from_slice(page("<title>UTF-8 BOM — ünïcödé ☃</title>").as_bytes());
            html(ok, "text/html", body)
        }
        ["bom", "utf-16le"] => html(
            ok,
            "text/html",
            utf16(&page("<title>UTF-16LE — 日本語 ☃</title>"), true),
        ),
        ["bom", "utf-16be"] => html(
            ok,
            "text/html",
            utf16(&page("<title>UTF-16BE — 中文 ☃</title>"), false),
        ),
        ["bom-vs-meta"] => {
            // The BOM says UTF-8, the header and the meta lie.
            let mut body = b"\xEF\xBB\xBF".to_vec();
            body.extend_from_slice(
                page("<meta charset=windows-1251><title>BOM wins — Grüße</title>").as_bytes(),
            );
            html(ok, "text/html; charset=iso-8859-1", body)
        }
        ["header-utf8-invalid-meta"] => {
            let body = encode(
                "Shift_JIS",
                &page("<meta charset=shift_jis><title>ヘッダーは嘘</title>"),
            );
            html(ok, "text/html; charset=utf-8", body)
        }
        ["xhtml"] => html(
            ok,
            "application/xhtml+xml",
            "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\">\
             <head><title>X<b>-not-</b>HTML</title></head><body/></html>",
        ),
        ["late-meta"] => {
            // The declaration comes after 2 KB of comment: past the
            // prescan's window, met by the parser.
            let doc = format!(
                "<!--{}--><meta charset=windows-1251><title>{UNDECLARED_TITLE}</title>",
                "x".repeat(2048)
            );
            html(ok, "text/html", encode("windows-1251", &doc))
        }
        ["undeclared"] => {
            let para =
                "Последние новости России и мира, главные события дня, аналитика и комментарии. ";
            let doc = format!(
                "<html><head><title>{UNDECLARED_TITLE}</title></head><body><p>{}</p></body></html>",
                para.repeat(60)
            );
            html(ok, "text/html", encode("windows-1251", &doc))
        }
        ["svg-first"] => html(
            ok,
            "text/html",
            "<html><head><svg><title>svg icon</title></svg><math><title>math</title></math><title>Head Title</title></head>",
        ),
        ["several"] => html(
            ok,
            "text/html",
            page("<title>First</title><title>Second</title>"),
        ),
        ["in-body"] => html(
            ok,
            "text/html",
            "<html><head></head><body><title>Body Title</title><p>x</p>",
        ),
        ["no-title"] => html(ok, "text/html", page("<meta charset=utf-8>")),
        ["entities"] => html(
            ok,
            "text/html",
            page(
                "<title>Tom &amp; Jerry &lt;3 &quot;quotes&quot; &#x263A; &#9731; &eacute;t&eacute; &copy 2024&nbsp;!</title>",
            ),
        ),
        ["multiline"] => html(
            ok,
            "text/html",
            page("<title>\n   Line one\n\tline  two\r\n  \u{3000}wide\u{A0}</title>"),
        ),
        ["malformed"] => html(
            ok,
            "text/html",
            "<html><head><title</></title></head><body>x</body>",
        ),
        ["late-title"] => {
            let mut doc = String::from("<html><head>");
            let pad = format!("<meta name=\"pad\" content=\"{}\">\n", "x".repeat(1000));
            while doc.len() < 900 * 1024 {
                doc.push_str(&pad);
            }
            doc.push_str("<title>Late Title</title></head><body>x</body>");
            html(ok, "text/html", doc)
        }
        ["big-head-title"] => {
            let mut doc = String::from("<html><head><title>Big Page</title></head><body>");
            doc.push_str(&"<p>filler text</p>\n".repeat(2 * 1024 * 1024 / 19));
            html(ok, "text/html", doc)
        }
        ["endless"] => {
            // Endless head: an unterminated comment, 64 KiB at a time (bounded at 64 MiB).
            let mut first = b"<html><head><!--".to_vec();
            first.extend(std::iter::repeat_n(b'x', 64 * 1024 - first.len()));
            let rest = chunks(vec![b'x'; 64 * 1024], 1024, Duration::ZERO);
            let stream =
                futures::stream::once(
                    async move { Ok::<_, axum::Error>(bytes::Bytes::from(first)) },
                )
                .chain(rest.into_data_stream());
            html(ok, "text/html", Body::from_stream(stream))
        }
        ["never"] => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            html(ok, "text/html", "<title>too late</title>")
        }
        ["trickle"] => html(
            ok,
            "text/html",
            chunks(b" ".to_vec(), 400, Duration::from_millis(25)),
        ),
        ["loop", n] => {
            let next = if *n == "a" { "/loop/b" } else { "/loop/a" };
            Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, next)
                .body(Body::empty())
                .expect("response")
        }
        ["chain", n] => {
            let n: u32 = n.parse().expect("n");
            if n == 0 {
                html(ok, "text/html", page("<title>End of chain</title>"))
            } else {
                Response::builder()
                    .status(StatusCode::MOVED_PERMANENTLY)
                    .header(header::LOCATION, format!("/chain/{}", n - 1))
                    .body(Body::empty())
                    .expect("response")
            }
        }
        ["redirect"] => {
            // `/redirect?to=URL`: a 302 to URL (taken as written).
            let to = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("to="))
                .expect("?to=");
            Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, to)
                .body(Body::empty())
                .expect("response")
        }
        ["429"] => {
            if state.hits("/429") == 1 {
                Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header(header::RETRY_AFTER, "1")
                    .body(Body::empty())
                    .expect("response")
            } else {
                html(ok, "text/html", page("<title>After the wait</title>"))
            }
        }
        ["flaky503"] => {
            if state.hits("/flaky503") == 1 {
                html(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/html",
                    page("<title>Busy</title>"),
                )
            } else {
                html(ok, "text/html", page("<title>Recovered</title>"))
            }
        }
        ["always503"] => html(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/html",
            page("<title>Down for maintenance</title>"),
        ),
        ["404"] => html(
            StatusCode::NOT_FOUND,
            "text/html",
            page("<title>Not Found</title>"),
        ),
        ["gzip"] => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(page("<title>Gzipped — ok</title>").as_bytes())
                .expect("gzip");
            let body = enc.finish().expect("gzip");
            let mut r = html(ok, "text/html; charset=utf-8", body);
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, "gzip".parse().expect("hv"));
            r
        }
        ["br"] => {
            let mut body = Vec::new();
            {
                let mut enc = brotli::CompressorWriter::new(&mut body, 4096, 5, 22);
                enc.write_all(page("<title>Brotli — ok</title>").as_bytes())
                    .expect("br");
            }
            let mut r = html(ok, "text/html; charset=utf-8", body);
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, "br".parse().expect("hv"));
            r
        }
        ["image"] => html(
            ok,
            "image/png",
            chunks(vec![0x89; 64 * 1024], 64, Duration::ZERO),
        ),
        ["json"] => html(ok, "application/json", "{\"title\": \"not html\"}"),
        ["echo-headers"] => {
            let ua = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let x = headers
                .get("x-test")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            html(
                ok,
                "text/html",
                page(&format!("<title>ua={ua} x={x}</title>")),
            )
        }
        ["proxied"] => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            html(
                ok,
                "text/html",
                page(&format!("<title>via proxy for {host}</title>")),
            )
        }
        ["slow", ms] => {
            let ms: u64 = ms.parse().expect("ms");
            let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            state.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            state.in_flight.fetch_sub(1, Ordering::SeqCst);
            html(ok, "text/html", page(&format!("<title>slow {ms}</title>")))
        }
        ["hostile"] => html(ok, "text/html; charset=utf-8", page(HOSTILE_TITLE)),
        ["formula"] => html(ok, "text/html", page("<title>=cmd|' /C calc'!A0</title>")),
        ["long", n] => {
            let n: usize = n.parse().expect("n");
            html(
                ok,
                "text/html",
                page(&format!("<title>{}</title>", "x".repeat(n))),
            )
        }
        ["page", n] => html(ok, "text/html", page(&format!("<title>Page {n}</title>"))),
        _ => html(StatusCode::NOT_FOUND, "text/plain", "no such fixture"),
    }
}

use futures::StreamExt as _;

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Starts the fixture server on 127.0.0.1:0 in the current runtime.
pub async fn start_server() -> TestServer {
    start_server_on("127.0.0.1").await
}

/// Starts the fixture server on `ip`, port 0 (any loopback address: all of
/// 127.0.0.0/8 reaches `lo`).
pub async fn start_server_on(ip: &str) -> TestServer {
    let state = Arc::new(ServerState::default());
    let app = Router::new().fallback(fixture).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestServer { addr, state }
}

/// Starts an HTTPS server on 127.0.0.1:0 with a fresh self-signed
/// certificate (so clients reject it unless told to accept anything),
/// offering the ALPN protocols `alpn` and answering HTTP/2 or HTTP/1.1 by
/// what was negotiated. Every page's title names the HTTP version the
/// request arrived with: `TLS HTTP/2.0` or `TLS HTTP/1.1`.
pub async fn start_tls_server(alpn: &[&[u8]]) -> SocketAddr {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_rustls::rustls;

    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("self-signed certificate");
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key.into())
        .expect("server certificate");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate ends here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                let service = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                    let body = page(&format!("<title>TLS {:?}</title>", req.version()));
                    Ok::<_, std::convert::Infallible>(html(StatusCode::OK, "text/html", body))
                });
                let io = TokioIo::new(tls);
                let _ = if h2 {
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await
                } else {
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await
                };
            });
        }
    });
    addr
}

/// Writes `lines` to a file in `dir`.
pub fn write_urls(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write urls");
    path
}

/// A config for tests: jsonl into a temp file, no env proxies, no summary.
pub fn test_config(input: PathBuf, output: PathBuf) -> Config {
    let mut c = Config::default();
    c.input.sources = vec![Source::File(input)];
    c.output.format = Format::Jsonl;
    c.output.path = Some(output);
    c.output.summary = false;
    c.client.ignore_env_proxy = true;
    c.limits.timeout = Duration::from_secs(5);
    c.pool.backoff_base = Duration::from_millis(20);
    c
}

/// Reads a jsonl output file.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad jsonl line {l:?}: {e}")))
        .collect()
}

/// Records keyed by their `url` field.
pub fn by_url(records: Vec<serde_json::Value>) -> HashMap<String, serde_json::Value> {
    records
        .into_iter()
        .map(|r| (r["url"].as_str().expect("url").to_owned(), r))
        .collect()
}

/// Runs the library over `urls` and returns the records by URL.
pub async fn run_lib(
    dir: &Path,
    urls: &[String],
    tweak: impl FnOnce(&mut Config),
) -> (netkit_fetch::RunOutcome, HashMap<String, serde_json::Value>) {
    let input = write_urls(dir, "urls.txt", urls);
    let output = dir.join("out.jsonl");
    let mut config = test_config(input, output.clone());
    tweak(&mut config);
    let outcome = netkit_fetch::run(config, CancellationToken::new())
        .await
        .expect("run");
    (outcome, by_url(read_jsonl(&output)))
}
