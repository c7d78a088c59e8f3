//! Output formats. Records are rendered whole into a batch buffer that is
//! written with one `write_all` + `flush`: the run flushes it whenever it
//! would otherwise wait for the next record, when it passes
//! [`FLUSH_AT`] bytes, and at the end. A record is never split across
//! batches, so concurrent jobs never interleave and a stopped run never
//! leaves half a line; a finished record never sits in the buffer while
//! the tool waits for more work.

use std::io::Write;

use crate::record::Record;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `URL<TAB>STATUS<TAB>TITLE` (errors: `URL<TAB>ERR<TAB>kind: message`).
    #[default]
    Text,
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// The CSV header (same fields as jsonl; `error` split in two columns).
pub const CSV_HEADER: &str = "url,final_url,status,title,content_type,redirects,bytes_read,elapsed_ms,error_kind,error_message\n";

/// The batch buffer is written out once it holds this many bytes.
pub const FLUSH_AT: usize = 64 * 1024;

/// Renders records into a batch buffer and writes them whole.
pub struct RecordWriter {
    out: Box<dyn Write + Send>,
    format: Format,
    color: bool,
    buf: Vec<u8>,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl RecordWriter {
    /// Wraps `out`. `header` writes the CSV header first (fresh files only).
    pub fn new(
        out: Box<dyn Write + Send>,
        format: Format,
        color: bool,
        header: bool,
    ) -> std::io::Result<Self> {
        let mut w = Self {
            out,
            format,
            color,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
        };
        if header && format == Format::Csv {
            w.out.write_all(CSV_HEADER.as_bytes())?;
            w.out.flush()?;
        }
        Ok(w)
    }

    /// Adds one record to the batch; writes the batch out once it holds
    /// [`FLUSH_AT`] bytes. Call [`Self::flush`] before waiting for more.
    pub fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let start = self.buf.len();
        match self.format {
            Format::Text => render_text(&mut self.buf, record, self.color),
            Format::Jsonl => {
                if let Err(e) = serde_json::to_writer(&mut self.buf, record) {
                    self.buf.truncate(start);
                    return Err(std::io::Error::other(e));
                }
                self.buf.push(b'\n');
            }
            Format::Csv => render_csv(&mut self.buf, record),
        }
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// True when records are waiting in the batch buffer.
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Writes the batch (whole records only) and flushes the underlying
    /// writer. Cheap when nothing is pending.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self
            .out
            .write_all(&self.buf)
            .and_then(|()| self.out.flush());
        self.buf.clear();
        result
    }
}

/// Replaces control characters so a text record stays on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn render_text(buf: &mut Vec<u8>, r: &Record, color: bool) {
    let (code, painted) = match (&r.error, r.status) {
        (Some(_), _) => ("ERR".to_owned(), "31"),
        (None, Some(s)) => (
            s.to_string(),
            match s {
                200..=299 => "32",
                300..=399 => "36",
                400..=499 => "33",
                _ => "31",
            },
        ),
        (None, None) => ("-".to_owned(), "0"),
    };
    let status = if color {
        format!("\x1b[{painted}m{code}\x1b[0m")
    } else {
        code
    };
    let last = match &r.error {
        Some(e) => format!("{}: {}", e.kind, one_line(&e.message)),
        None => one_line(r.title.as_deref().unwrap_or_default()),
    };
    let line = format!("{}\t{status}\t{last}\n", one_line(&r.url));
    buf.extend_from_slice(line.as_bytes());
}

fn csv_field(buf: &mut Vec<u8>, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        buf.push(b'"');
        buf.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        buf.push(b'"');
    } else {
        buf.extend_from_slice(field.as_bytes());
    }
}

fn render_csv(buf: &mut Vec<u8>, r: &Record) {
    let fields = [
        r.url.clone(),
        r.final_url.clone().unwrap_or_default(),
        r.status.map(|s| s.to_string()).unwrap_or_default(),
        r.title.clone().unwrap_or_default(),
        r.content_type.clone().unwrap_or_default(),
        r.redirects.to_string(),
        r.bytes_read.to_string(),
        r.elapsed_ms.to_string(),
        r.error
            .as_ref()
            .map(|e| e.kind.to_string())
            .unwrap_or_default(),
        r.error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        csv_field(buf, f);
    }
    buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, RecordError};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn sample() -> Record {
        Record {
            url: "example.com".into(),
            final_url: Some("https://example.com/".into()),
            status: Some(200),
            title: Some("A \"quoted\", title".into()),
            content_type: Some("text/html".into()),
            redirects: 1,
            bytes_read: 10,
            elapsed_ms: 5,
            error: None,
        }
    }

    fn render(format: Format, r: &Record) -> String {
        let sink = Shared::default();
        let mut w = RecordWriter::new(Box::new(sink.clone()), format, false, true).unwrap();
        w.write(r).unwrap();
        w.flush().unwrap();
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn jsonl_has_exact_fields() {
        let mut r = sample();
        r.error = Some(RecordError {
            kind: ErrorKind::TooManyRedirects,
            message: "m".into(),
        });
        let line = render(Format::Jsonl, &r);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let expected = [
            "url",
            "final_url",
            "status",
            "title",
            "content_type",
            "redirects",
            "bytes_read",
            "elapsed_ms",
            "error",
        ];
        assert_eq!(v.as_object().unwrap().len(), expected.len());
        let positions: Vec<usize> = expected
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "field order: {line}"
        );
        assert_eq!(v["error"]["kind"], "too_many_redirects");
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
    }

    #[test]
    fn csv_quotes_and_header() {
        let out = render(Format::Csv, &sample());
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER.trim_end()));
        assert_eq!(
            lines.next(),
            Some(
                "example.com,https://example.com/,200,\"A \"\"quoted\"\", title\",text/html,1,10,5,,"
            )
        );
    }

    #[test]
    fn records_are_batched_whole_until_flushed_or_full() {
        let sink = Shared::default();
        let written = || sink.0.lock().unwrap().clone();
        let mut w = RecordWriter::new(Box::new(sink.clone()), Format::Jsonl, false, true).unwrap();
        w.write(&sample()).unwrap();
        w.write(&sample()).unwrap();
        assert!(written().is_empty() && w.has_pending());
        w.flush().unwrap();
        assert_eq!(written().iter().filter(|&&b| b == b'\n').count(), 2);
        assert!(!w.has_pending());

        // A full batch goes out on its own, in whole records only.
        let one = render(Format::Jsonl, &sample()).len();
        let mut n = 0;
        while written().len() <= 2 * one {
            w.write(&sample()).unwrap();
            n += 1;
            assert!(n <= FLUSH_AT / one + 1, "no write after {n} records");
        }
        let out = written();
        assert_eq!(out.len() % one, 0);
        assert!(out.len() >= FLUSH_AT && out.ends_with(b"\n"));
    }

    #[test]
    fn text_is_tab_separated_single_line() {
        let mut r = sample();
        r.title = Some("line\u{b}two".into());
        assert_eq!(render(Format::Text, &r), "example.com\t200\tline two\n");
        r.error = Some(RecordError {
            kind: ErrorKind::Timeout,
            message: "slow".into(),
        });
        r.status = None;
        assert_eq!(
            render(Format::Text, &r),
            "example.com\tERR\ttimeout: slow\n"
        );
    }
}
