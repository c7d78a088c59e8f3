//! `--rcopy` from in-process SFTP servers that lie: names with `..` and
//! `/`, links out of the tree, a device, a file that never ends. A hostile
//! host is a normal input: nothing lands outside `DEST/HOST`, the honest
//! entries are still copied, and the host fails with a precise kind.

use std::collections::HashMap;
use std::sync::Arc;

use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};

use crate::util::*;

/// What the liar serves under `/srv` (one per SFTP session).
#[derive(Clone, Default)]
struct Liar {
    /// The listing of `/srv` was sent (the next read of it is the end).
    listed: bool,
}

fn attrs(mode: u32, size: u64) -> FileAttributes {
    FileAttributes {
        size: Some(size),
        permissions: Some(mode),
        ..FileAttributes::empty()
    }
}

fn entry(name: &str, mode: u32) -> File {
    File {
        filename: name.to_owned(),
        longname: name.to_owned(),
        attrs: attrs(mode, 4),
    }
}

const DIR: u32 = 0o040_755;
const REG: u32 = 0o100_644;
const LNK: u32 = 0o120_777;
const CHR: u32 = 0o020_644;

fn status(id: u32, code: StatusCode) -> Status {
    Status {
        id,
        status_code: code,
        error_message: String::new(),
        language_tag: "en".into(),
    }
}

impl russh_sftp::server::Handler for Liar {
    type Error = StatusCode;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported
    }

    async fn init(&mut self, _v: u32, _e: HashMap<String, String>) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let a = match path.as_str() {
            "/srv" => attrs(DIR, 0),
            "/srv/endless" => attrs(REG, 10),
            "/srv/good.txt" => attrs(REG, 4),
            "/srv/slow" => attrs(REG, 4),
            _ => return Err(StatusCode::NoSuchFile),
        };
        Ok(Attrs { id, attrs: a })
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        Ok(Handle {
            id,
            handle: format!("dir:{path}"),
        })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        if handle != "dir:/srv" {
            return Err(StatusCode::Eof);
        }
        // Sent again and again would be endless; once, then EOF.
        if std::mem::replace(&mut self.listed, true) {
            return Err(StatusCode::Eof);
        }
        Ok(Name {
            id,
            files: vec![
                entry(".", DIR),
                entry("..", DIR),
                entry("good.txt", REG),
                entry("../escape.txt", REG),
                entry("/etc/evil", REG),
                entry("link-out", LNK),
                entry("link-up", LNK),
                entry("link-ok", LNK),
                entry("dev", CHR),
            ],
        })
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let target = match path.as_str() {
            "/srv/link-out" => "/etc/passwd",
            "/srv/link-up" => "../../../outside",
            "/srv/link-ok" => "../srv/good.txt",
            _ => return Err(StatusCode::NoSuchFile),
        };
        Ok(Name {
            id,
            files: vec![entry(target, LNK)],
        })
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        _flags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        Ok(Handle {
            id,
            handle: filename,
        })
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        if handle == "/srv/slow" {
            // Answers, but later than any reasonable deadline.
            tokio::time::sleep(std::time::Duration::from_secs(20)).await;
        }
        if handle == "/srv/endless" {
            // Never an end of file, whatever the size said.
            return Ok(Data {
                id,
                data: vec![b'x'; len as usize],
            });
        }
        let body = b"good";
        if offset >= body.len() as u64 {
            return Err(StatusCode::Eof);
        }
        Ok(Data {
            id,
            data: body[offset as usize..].to_vec(),
        })
    }

    async fn close(&mut self, id: u32, _handle: String) -> Result<Status, Self::Error> {
        Ok(status(id, StatusCode::Ok))
    }
}

async fn liar_host(fx_dir: &std::path::Path, key: &std::path::Path) -> FakeHost {
    let cfg = FakeConfig {
        accept_key: Some(russh::keys::load_public_key(key.with_extension("pub")).unwrap()),
        sftp: Some(Arc::new(|stream| {
            tokio::spawn(russh_sftp::server::run(stream, Liar::default()));
        })),
        ..Default::default()
    };
    fake_host(host_key(fx_dir, "liar_key"), cfg).await
}

/// One `--rcopy` run (`args` after `--json`) against a fresh liar: its
/// exit code, its result record, stderr, and the `--dest` directory (kept
/// while `_dir` lives).
struct Pulled {
    code: i32,
    r: serde_json::Value,
    stderr: String,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn pull_from_liar(args: &[&str]) -> Pulled {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("client_key");
    keygen(&key);
    let liar = liar_host(dir.path(), &key).await;
    let inv = fake_inventory(dir.path(), &[("liar".into(), liar.addr)], Some(&key), None);
    let out = dir.path().join("out");
    let mut all = vec![
        "-i",
        inv.to_str().unwrap(),
        "-w",
        "liar",
        "--json",
        "--dest",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = run_async(&all, &[], None).await;
    let recs = json_lines(&stdout);
    let r = result_of(&recs, "liar").clone();
    Pulled {
        code,
        r,
        stderr,
        out,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_sftp_server_cannot_write_outside_its_directory() {
    let pulled = pull_from_liar(&["-r", "--rcopy", "/srv"]).await;
    let Pulled {
        code,
        r,
        stderr,
        out,
        ..
    } = &pulled;
    assert_eq!(*code, 1, "{stderr} {r}");
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["error"]["kind"], "unsafe_path", "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("refused 3 entries"), "{msg}");
    // The honest file arrived; the hostile names are single components.
    let srv = out.join("liar/srv");
    assert_eq!(std::fs::read(srv.join("good.txt")).unwrap(), b"good");
    assert_eq!(std::fs::read(srv.join("..%2Fescape.txt")).unwrap(), b"good");
    assert_eq!(std::fs::read(srv.join("%2Fetc%2Fevil")).unwrap(), b"good");
    assert!(!out.join("liar/escape.txt").exists() && !out.join("escape.txt").exists());
    for refused in ["link-out", "link-up", "dev"] {
        assert!(
            std::fs::symlink_metadata(srv.join(refused)).is_err(),
            "{refused} was created"
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(&srv)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["%2Fetc%2Fevil", "..%2Fescape.txt", "good.txt", "link-ok"]
    );
    // A link that stays inside is kept, and reads the honest file.
    assert_eq!(std::fs::read(srv.join("link-ok")).unwrap(), b"good");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_data_stops_at_max_bytes_and_leaves_no_file() {
    let pulled = pull_from_liar(&["--max-bytes", "1M", "--rcopy", "/srv/endless"]).await;
    let Pulled {
        code,
        r,
        stderr,
        out,
        ..
    } = &pulled;
    assert_eq!(*code, 1, "{stderr} {r}");
    assert_eq!(r["error"]["kind"], "too_large", "{r}");
    assert!(r["bytes"].as_u64().unwrap() <= 1 << 20, "{r}");
    let left: Vec<_> = std::fs::read_dir(out.join("liar")).unwrap().collect();
    assert!(
        left.is_empty(),
        "a torn or temporary file was left: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_back_over_sftp_where_sha256sum_is_missing() {
    let pulled = pull_from_liar(&["--verify", "--rcopy", "/srv/good.txt"]).await;
    let Pulled {
        code,
        r,
        stderr,
        out,
        ..
    } = &pulled;
    assert_eq!(*code, 0, "{stderr} {r}");
    // The fake host answers `sha256sum` with 127, as a host without it.
    assert_eq!(r["verified"], "sftp_read_back", "{r}");
    assert_eq!(std::fs::read(out.join("liar/good.txt")).unwrap(), b"good");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timeout_bounds_a_copy_from_a_server_that_stalls() {
    let started = std::time::Instant::now();
    let pulled = pull_from_liar(&["-u", "500ms", "--rcopy", "/srv/slow"]).await;
    let Pulled {
        code,
        r,
        stderr,
        out,
        ..
    } = &pulled;
    assert_eq!(*code, 1, "{stderr} {r}");
    assert_eq!(r["error"]["kind"], "transfer_interrupted", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--command-timeout"),
        "{r}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the deadline was not kept"
    );
    let left: Vec<_> = std::fs::read_dir(out.join("liar")).unwrap().collect();
    assert!(left.is_empty(), "a partial file was left: {left:?}");
}
