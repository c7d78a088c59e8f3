//! The Kubernetes checks of `cargo xtask test`, as far as a machine without
//! a cluster allows:
//!
//! - [`validate_manifests`]: `deploy/kubernetes/*.yaml` against the
//!   Kubernetes 1.29 and 1.37 schemas, offline (`kubernetes-validate
//!   --strict`; `kubectl --dry-run=client` would need a cluster).
//! - [`sharded_run`]: the image run 4 times as the Job's pods would
//!   (`JOB_COMPLETION_INDEX=k`, `--shard index/4`, host network, read-only
//!   root, uid 10001) against a loopback HTTP server bound to 127.0.0.1:
//!   the 4 parts must equal one unsharded run record for record, with no URL
//!   twice; then a pod killed mid-run (SIGKILL) and restarted with
//!   `--skip-done` must finish its shard without requesting a finished URL
//!   again, its torn last line ignored and overwritten.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use super::netkit_image::{self, Profile, TEST_TAG};
use super::proc;
use crate::{provision, shell};

/// The schema versions checked: the first with `backoffLimitPerIndex`, and
/// the newest the pinned kubernetes-validate bundles.
const SCHEMA_VERSIONS: &[&str] = &["1.29.0", "1.37.0"];

/// `kubernetes-validate --strict -k V deploy/kubernetes/*.yaml` for each
/// version in [`SCHEMA_VERSIONS`].
pub fn validate_manifests() -> anyhow::Result<()> {
    let program = provision::ensure_kubernetes_validate()?;
    let dir = shell::root().join("deploy/kubernetes");
    let mut manifests: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    ensure!(!manifests.is_empty(), "no manifests in {}", dir.display());
    for version in SCHEMA_VERSIONS {
        proc::quiet(
            &format!("kubernetes-validate --strict -k {version} deploy/kubernetes/*.yaml"),
            Command::new(&program)
                .args(["--strict", "--quiet", "-k", version])
                .args(&manifests),
            Duration::from_secs(120),
        )?;
    }
    Ok(())
}

/// Shards, as in deploy/kubernetes/job.yaml.
const SHARDS: usize = 4;
/// Distinct URLs in the list.
const URLS: usize = 400;
/// The container the restart check kills.
const KILLED: &str = "netkit-k8s-test-killed";

/// `cargo xtask k8s`: the manifests, then the pods, on the running Docker
/// engine or on a dockerd started (and stopped again) for the check, as
/// the smoke test does.
pub fn check() -> anyhow::Result<()> {
    validate_manifests()?;
    proc::catch_interrupts();
    let _dockerd = match super::docker::engine() {
        Ok(()) => None,
        Err(why) => {
            println!("lab: {why}; starting dockerd for the check");
            Some(super::docker::Dockerd::start(Duration::from_secs(90))?)
        }
    };
    sharded_run()
}

/// Builds [`TEST_TAG`] from the debug binaries and runs the pod checks.
pub fn sharded_run() -> anyhow::Result<()> {
    let start = Instant::now();
    println!("==> sharded run: {SHARDS} pods of {TEST_TAG} against a loopback server");
    crate::dist::build_binaries(false)?;
    netkit_image::build(Profile::Debug)?;
    let server = Server::start()?;
    let dir = tempfile::Builder::new()
        .prefix("netkit-k8s-")
        .tempdir()
        .context("a temporary directory")?;
    // The pods run as uid 10001.
    set_mode(dir.path(), 0o777)?;
    let mut list = String::from("# the Job's URL list\n");
    for i in 0..URLS {
        list.push_str(&format!("http://127.0.0.1:{}/p/{i}\n", server.port));
        if i % 50 == 0 {
            // Duplicates: dropped by dedupe within the shard that owns them.
            list.push_str(&format!("http://127.0.0.1:{}/p/{i}\n", server.port));
        }
    }
    std::fs::write(dir.path().join("urls.txt"), list)?;
    set_mode(&dir.path().join("urls.txt"), 0o644)?;

    // One unsharded run, then 4 pods at once.
    run_pod(dir.path(), None, "all.jsonl", &[])?;
    let all = records(&dir.path().join("all.jsonl"))?;
    ensure!(
        all.len() == URLS,
        "the unsharded run wrote {} records for {URLS} URLs",
        all.len()
    );
    let pods: Vec<std::thread::JoinHandle<anyhow::Result<()>>> = (0..SHARDS)
        .map(|k| {
            let dir = dir.path().to_owned();
            std::thread::spawn(move || run_pod(&dir, Some(k), &format!("part-{k}.jsonl"), &[]))
        })
        .collect();
    for pod in pods {
        pod.join()
            .map_err(|_| anyhow::anyhow!("a pod thread panicked"))??;
    }
    let mut union: BTreeMap<String, Value> = BTreeMap::new();
    let mut owner: HashMap<String, usize> = HashMap::new();
    for k in 0..SHARDS {
        for (url, record) in records(&dir.path().join(format!("part-{k}.jsonl")))? {
            owner.insert(url.clone(), k);
            ensure!(
                union.insert(url.clone(), record).is_none(),
                "{url} is in two parts"
            );
        }
    }
    ensure!(
        union == all,
        "the {SHARDS} parts ({} records) differ from the unsharded run ({} records)",
        union.len(),
        all.len()
    );
    println!("    {SHARDS} parts = the unsharded run: {URLS} records, no URL twice");

    restart_check(dir.path(), &server, &all, &owner)?;
    println!("<== sharded run passed ({})", proc::secs(start));
    Ok(())
}

/// Pod 1 is killed once it has written some records, its file gets a torn
/// line, and the replacement pod resumes with `--skip-done`.
fn restart_check(
    dir: &Path,
    server: &Server,
    all: &BTreeMap<String, Value>,
    owner: &HashMap<String, usize>,
) -> anyhow::Result<()> {
    let k = 1;
    let file = dir.join("killed.jsonl");
    server.delay_ms.store(40, Ordering::SeqCst);
    let _cleanup = RemoveOnDrop(KILLED);
    let _ = proc::output(
        Command::new("docker").args(["rm", "-f", KILLED]),
        Duration::from_secs(30),
    );
    // Two at a time, 40 ms each: about 2 s for the shard, killed long before.
    let mut detached = pod_command(dir, Some(k), "killed.jsonl", &["-c", "2"], Some(KILLED));
    let out = proc::output(&mut detached, Duration::from_secs(60))?;
    ensure!(
        out.status.success(),
        "docker run -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = std::fs::read(&file).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
        if lines >= 10 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the pod wrote {lines} records in 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    proc::quiet(
        "docker kill (SIGKILL) the pod mid-run",
        Command::new("docker").args(["kill", "--signal", "KILL", KILLED]),
        Duration::from_secs(30),
    )?;
    server.delay_ms.store(0, Ordering::SeqCst);
    let hits_at_kill = server.hits();

    // What the kill left: whole records, maybe a torn line. Make sure there
    // is one, from a URL of this shard that has no record yet.
    let mut text = std::fs::read_to_string(&file)?;
    let done: Vec<String> = text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("url").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let shard: Vec<&String> = all
        .keys()
        .filter(|url| owner.get(*url) == Some(&k))
        .collect();
    ensure!(
        done.len() < shard.len(),
        "the pod finished its shard ({} URLs) before it was killed",
        shard.len()
    );
    if text.ends_with('\n') {
        let torn = shard
            .iter()
            .find(|url| !done.contains(url))
            .context("no unfinished URL")?;
        let whole = serde_json::to_string(&all[*torn])?;
        text.push_str(&whole[..whole.len() / 2]);
        std::fs::write(&file, &text)?;
    }

    run_pod(dir, Some(k), "killed.jsonl", &[])?;
    let bytes = std::fs::read(&file)?;
    ensure!(
        bytes.last() == Some(&b'\n'),
        "the resumed part does not end on a whole record"
    );
    let resumed = records(&file)?;
    let expected: BTreeMap<String, Value> = shard
        .iter()
        .map(|url| ((*url).clone(), all[*url].clone()))
        .collect();
    ensure!(
        resumed == expected,
        "the resumed part ({} records) differs from shard {k} of the unsharded run ({} records)",
        resumed.len(),
        expected.len()
    );
    let hits = server.hits();
    for url in &done {
        let path = url_path(url);
        let again =
            hits.get(&path).copied().unwrap_or(0) - hits_at_kill.get(&path).copied().unwrap_or(0);
        ensure!(
            again == 0,
            "{url} was finished before the kill but requested again"
        );
    }
    println!(
        "    pod {k} killed after {} of {} records; the restart added {} without repeating one",
        done.len(),
        shard.len(),
        shard.len() - done.len()
    );
    Ok(())
}

fn url_path(url: &str) -> String {
    url.splitn(4, '/')
        .nth(3)
        .map_or_else(String::new, |p| format!("/{p}"))
}

/// `docker run` of the test image as a pod of deploy/kubernetes/job.yaml:
/// `--shard index/4` with `JOB_COMPLETION_INDEX=k` (none for the unsharded
/// run), the same file for `--skip-done` and `-o`.
/// `detached` names a container started with `-d` instead of `--rm`, so it
/// can be killed by name.
fn pod_command(
    dir: &Path,
    index: Option<usize>,
    out: &str,
    extra: &[&str],
    detached: Option<&str>,
) -> Command {
    let mut command = Command::new("docker");
    command.arg("run");
    match detached {
        Some(name) => command.args(["-d", "--name", name]),
        None => command.arg("--rm"),
    };
    command.args([
        "--network",
        "host",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-v",
    ]);
    command.arg(format!("{}:/out", dir.display()));
    if let Some(k) = index {
        command.args(["-e", &format!("JOB_COMPLETION_INDEX={k}")]);
    }
    command.args([TEST_TAG, "fetch-titles"]);
    if index.is_some() {
        command.args(["--shard", &format!("index/{SHARDS}")]);
    }
    let out = format!("/out/{out}");
    command
        .args([
            "--format",
            "jsonl",
            "--quiet",
            "--skip-done",
            &out,
            "-o",
            &out,
        ])
        .args(extra)
        .arg("/out/urls.txt");
    command
}

fn run_pod(dir: &Path, index: Option<usize>, out: &str, extra: &[&str]) -> anyhow::Result<()> {
    let what = match index {
        Some(k) => format!("pod {k}"),
        None => "the unsharded run".to_owned(),
    };
    let result = proc::output(
        &mut pod_command(dir, index, out, extra, None),
        Duration::from_secs(60),
    )
    .with_context(|| what.clone())?;
    if !result.status.success() {
        bail!(
            "{what}: exit {:?}: {}",
            result.status.code(),
            String::from_utf8_lossy(&result.stderr)
        );
    }
    Ok(())
}

/// The records of a jsonl file by URL, without `elapsed_ms` (the one field
/// that differs between runs); a URL twice or a line that is not a record
/// is an error.
fn records(path: &Path) -> anyhow::Result<BTreeMap<String, Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let mut record: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a record: {line:?}", path.display(), n + 1))?;
        if let Some(object) = record.as_object_mut() {
            object.remove("elapsed_ms");
        }
        let url = record
            .get("url")
            .and_then(Value::as_str)
            .with_context(|| format!("{}:{}: no url", path.display(), n + 1))?
            .to_owned();
        ensure!(
            map.insert(url.clone(), record).is_none(),
            "{}: {url} twice",
            path.display()
        );
    }
    Ok(map)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// `docker rm -f` of the killed container, whatever happened.
struct RemoveOnDrop(&'static str);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = proc::output(
            Command::new("docker").args(["rm", "-f", self.0]),
            Duration::from_secs(30),
        );
    }
}

/// A loopback HTTP/1.1 server on 127.0.0.1 (never another address): every
/// path answers 200 with `<title>page PATH</title>`, after `delay_ms`, and
/// is counted. One request per connection. It stops when dropped.
struct Server {
    port: u16,
    delay_ms: Arc<AtomicU64>,
    hits: Arc<Mutex<HashMap<String, u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> anyhow::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (delay_ms, hits, stop) = (delay_ms.clone(), hits.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (delay_ms, hits) = (delay_ms.clone(), hits.clone());
                            std::thread::spawn(move || {
                                let _ = serve(stream, &delay_ms, &hits);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Ok(Server {
            port,
            delay_ms,
            hits,
            stop,
            thread: Some(thread),
        })
    }

    fn hits(&self) -> HashMap<String, u64> {
        self.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    mut stream: TcpStream,
    delay_ms: &AtomicU64,
    hits: &Mutex<HashMap<String, u64>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    if let Ok(mut hits) = hits.lock() {
        *hits.entry(path.clone()).or_default() += 1;
    }
    let delay = delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        std::thread::sleep(Duration::from_millis(delay));
    }
    let body = format!(
        "<!doctype html><html><head><title>page {path}</title></head><body>ok</body></html>"
    );
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
