//! `--json`: one JSON object per line on stdout (the documented contract).
//!
//! ```text
//! {"type":"output","host":"web1","stream":"stdout","line":"hello"}
//! {"type":"result","host":"web1","status":"ok","exit_code":0,"signal":null,"error":null,"elapsed_ms":42}
//! ```
//! Runs that copy (`--copy`/`--rcopy`) add `bytes` and `files` (what was
//! moved, also when the copy failed part way) and, with `--verify`,
//! `verified` (`sha256sum` or `sftp_read_back`).
//! Lines are decoded as UTF-8 with invalid bytes replaced by U+FFFD.

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;

use super::{HostError, HostResult, Status, Stream};

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Record<'a> {
    Output {
        host: &'a str,
        stream: Stream,
        line: Cow<'a, str>,
    },
    Result {
        host: &'a str,
        status: Status,
        exit_code: Option<u32>,
        signal: Option<&'a str>,
        error: Option<&'a HostError>,
        elapsed_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        files: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        verified: Option<&'a str>,
    },
}

/// Writes JSON lines, one `write_all` per record.
#[derive(Debug, Default)]
pub struct JsonSink {
    record: Vec<u8>,
}

impl JsonSink {
    /// A new sink.
    pub fn new() -> Self {
        JsonSink::default()
    }

    /// `{"type":"output",...}` for one line.
    pub fn line(
        &mut self,
        out: &mut dyn Write,
        host: &str,
        stream: Stream,
        line: &[u8],
    ) -> io::Result<()> {
        self.write(
            out,
            &Record::Output {
                host,
                stream,
                line: String::from_utf8_lossy(line),
            },
        )
    }

    /// `{"type":"result",...}` for one host.
    pub fn result(&mut self, out: &mut dyn Write, r: &HostResult) -> io::Result<()> {
        self.write(
            out,
            &Record::Result {
                host: &r.host,
                status: r.status(),
                exit_code: r.exit_code,
                signal: r.signal.as_deref(),
                error: r.error.as_ref(),
                elapsed_ms: u64::try_from(r.elapsed.as_millis()).unwrap_or(u64::MAX),
                bytes: r.copy.map(|c| c.bytes),
                files: r.copy.map(|c| c.files),
                verified: r.copy.and_then(|c| c.verified),
            },
        )
    }

    fn write(&mut self, out: &mut dyn Write, record: &Record<'_>) -> io::Result<()> {
        self.record.clear();
        serde_json::to_writer(&mut self.record, record)?;
        self.record.push(b'\n');
        out.write_all(&self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::ErrorKind;
    use std::time::Duration;

    #[test]
    fn exact_contract() {
        let mut out = Vec::new();
        let mut s = JsonSink::new();
        s.line(&mut out, "web1", Stream::Stdout, b"hello \"x\"")
            .unwrap();
        s.line(&mut out, "web1", Stream::Stderr, b"bad \xff byte")
            .unwrap();
        s.result(
            &mut out,
            &HostResult::exited("web1", 0, Duration::from_millis(42)),
        )
        .unwrap();
        s.result(
            &mut out,
            &HostResult::exited("web2", 3, Duration::from_micros(1500)),
        )
        .unwrap();
        s.result(
            &mut out,
            &HostResult::signalled("web3", "KILL", Duration::ZERO),
        )
        .unwrap();
        s.result(
            &mut out,
            &HostResult::failed(
                "web4",
                HostError::new(ErrorKind::ConnectRefused, "connection refused"),
                Duration::from_millis(7),
            ),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"type":"output","host":"web1","stream":"stdout","line":"hello \"x\""}"#,
                "{\"type\":\"output\",\"host\":\"web1\",\"stream\":\"stderr\",\"line\":\"bad \u{fffd} byte\"}",
                r#"{"type":"result","host":"web1","status":"ok","exit_code":0,"signal":null,"error":null,"elapsed_ms":42}"#,
                r#"{"type":"result","host":"web2","status":"failed","exit_code":3,"signal":null,"error":null,"elapsed_ms":1}"#,
                r#"{"type":"result","host":"web3","status":"failed","exit_code":null,"signal":"KILL","error":null,"elapsed_ms":0}"#,
                r#"{"type":"result","host":"web4","status":"error","exit_code":null,"signal":null,"error":{"kind":"connect_refused","message":"connection refused"},"elapsed_ms":7}"#,
            ]
        );
        for l in lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["type"].is_string());
        }
    }
}
