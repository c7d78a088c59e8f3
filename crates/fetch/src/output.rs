//! Output formats. Records are rendered whole into a batch buffer that is
//! written with one `write_all` + `flush`: the run flushes it whenever it
//! would otherwise wait for the next record, when it passes
//! [`FLUSH_AT`] bytes, and at the end. A record is never split across
//! batches, so concurrent jobs never interleave and a stopped run never
//! leaves half a line; a finished record never sits in the buffer while
//! the tool waits for more work.
//!
//! # A failed write never leaves a torn record
//!
//! When the output is a regular file (`-o FILE`, or stdout redirected to
//! one), [`Output`] counts the bytes of whole batches that reached it. A
//! batch that fails halfway (ENOSPC, EIO, a quota) is cut off again with
//! `set_len`, so the file ends on its last whole record and a later
//! `--skip-done` run appends to a clean file. The cut never goes below the
//! size the file had when the run started. Pipes and terminals cannot be
//! cut; [`WriteFailure`] says which case happened.
//!
//! # Terminal safety
//!
//! Titles, URLs, messages and Content-Types come from servers. The
//! human-readable formats (text and CSV) replace every C0 and C1 control
//! character and DEL with a space, so a title holding `ESC]0;...BEL` or
//! `ESC[2J` cannot retitle or clear the terminal of someone who `cat`s the
//! output, and replace the bidi embedding, override and isolate controls
//! (U+202A–U+202E, U+2066–U+2069) with U+FFFD, so a U+202E cannot reverse
//! the rest of a line. jsonl stays exact: serde_json escapes C0 controls,
//! and [`TerminalSafe`] also escapes U+007F–U+009F and the bidi controls as
//! `\uXXXX`, which every JSON parser turns back into the same string.
//! Every check looks for the bytes that could start such a character
//! first, so clean ASCII is copied as it is.

use std::fs::File;
use std::io::{Seek, Write};

use serde::Serialize;

use crate::record::Record;
use crate::title::CharsetSource;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
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
pub const CSV_HEADER: &str = "url,final_url,status,title,content_type,charset,charset_source,redirects,bytes_read,elapsed_ms,error_kind,error_message\n";

/// The batch buffer is written out once it holds this many bytes.
pub const FLUSH_AT: usize = 64 * 1024;

/// How a failed write left the output.
#[derive(Debug)]
pub enum Cut {
    /// A regular file, cut back to its last whole record: this many bytes.
    Truncated(u64),
    /// A regular file that could not be cut back (the last record may be torn).
    TruncateFailed(std::io::Error),
    /// A pipe or terminal: nothing can be taken back.
    Stream,
}

/// A failed write of the output.
#[derive(Debug)]
pub struct WriteFailure {
    /// What the write returned.
    pub source: std::io::Error,
    /// What became of the output.
    pub cut: Cut,
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.source)?;
        match &self.cut {
            Cut::Truncated(len) => write!(
                f,
                "; the file was cut back to its last whole record ({len} bytes)"
            ),
            Cut::TruncateFailed(e) => write!(
                f,
                "; cutting the file back to its last whole record failed too ({e}): its last record may be torn"
            ),
            Cut::Stream => Ok(()),
        }
    }
}

impl std::error::Error for WriteFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Where records go.
pub struct Output(Sink);

enum Sink {
    Stream(Box<dyn Write + Send>),
    /// A regular file and the length it has up to its last whole record.
    File {
        file: File,
        committed: u64,
    },
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Sink::Stream(_) => f.write_str("Output::Stream"),
            Sink::File { committed, .. } => write!(f, "Output::File({committed})"),
        }
    }
}

impl Output {
    /// A writer that cannot be cut back (pipe, terminal, memory).
    pub fn stream(out: Box<dyn Write + Send>) -> Self {
        Self(Sink::Stream(out))
    }

    /// An open file: a regular file is cut back after a failed write, no
    /// further than its size or position now (whichever is larger, so
    /// that an `O_APPEND` descriptor, whose position is still 0, never
    /// loses what it held); anything else is a stream.
    pub fn file(mut file: File) -> std::io::Result<Self> {
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Ok(Self::stream(Box::new(file)));
        }
        let committed = file.stream_position()?.max(meta.len());
        Ok(Self(Sink::File { file, committed }))
    }

    /// Standard output: a regular file when it was redirected to one; else
    /// a stream whose writes hide `bar` (a terminal shows both).
    pub fn stdout(bar: &indicatif::ProgressBar) -> Self {
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            if let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned()
                && let Ok(out) = Self::file(File::from(fd))
                && matches!(out.0, Sink::File { .. })
            {
                return out;
            }
        }
        Self::stream(Box::new(netkit_cli::progress::Suspending::new(
            bar,
            std::io::stdout(),
        )))
    }

    /// True when nothing was written before this run (the CSV header is due).
    pub fn is_fresh(&self) -> bool {
        match &self.0 {
            Sink::Stream(_) => true,
            Sink::File { committed, .. } => *committed == 0,
        }
    }

    /// Writes one batch of whole records, or cuts the file back to where
    /// it was before the batch.
    fn write_batch(&mut self, batch: &[u8]) -> Result<(), WriteFailure> {
        match &mut self.0 {
            Sink::Stream(out) => {
                out.write_all(batch)
                    .and_then(|()| out.flush())
                    .map_err(|source| WriteFailure {
                        source,
                        cut: Cut::Stream,
                    })
            }
            Sink::File { file, committed } => match file.write_all(batch) {
                Ok(()) => {
                    *committed += batch.len() as u64;
                    Ok(())
                }
                Err(source) => {
                    let cut = match file.set_len(*committed) {
                        Ok(()) => Cut::Truncated(*committed),
                        Err(e) => Cut::TruncateFailed(e),
                    };
                    Err(WriteFailure { source, cut })
                }
            },
        }
    }
}

/// Renders records into a batch buffer and writes them whole.
pub struct RecordWriter {
    out: Output,
    format: Format,
    color: bool,
    formula_guard: bool,
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
    /// `formula_guard` is `--csv-formula-guard`.
    pub fn new(
        out: Output,
        format: Format,
        color: bool,
        formula_guard: bool,
        header: bool,
    ) -> Result<Self, WriteFailure> {
        let mut w = Self {
            out,
            format,
            color,
            formula_guard,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
        };
        if header && format == Format::Csv {
            w.buf.extend_from_slice(CSV_HEADER.as_bytes());
            w.flush()?;
        }
        Ok(w)
    }

    /// Adds one record to the batch; writes the batch out once it holds
    /// [`FLUSH_AT`] bytes. Call [`Self::flush`] before waiting for more.
    pub fn write(&mut self, record: &Record) -> Result<(), WriteFailure> {
        let start = self.buf.len();
        match self.format {
            Format::Text => render_text(&mut self.buf, record, self.color),
            Format::Jsonl => {
                let mut ser = serde_json::Serializer::with_formatter(&mut self.buf, TerminalSafe);
                if let Err(e) = record.serialize(&mut ser) {
                    self.buf.truncate(start);
                    return Err(WriteFailure {
                        source: std::io::Error::other(e),
                        cut: Cut::Stream,
                    });
                }
                self.buf.push(b'\n');
            }
            Format::Csv => render_csv(&mut self.buf, record, self.formula_guard),
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
    pub fn flush(&mut self) -> Result<(), WriteFailure> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.out.write_batch(&self.buf);
        self.buf.clear();
        result
    }
}

/// U+202A–U+202E (LRE, RLE, PDF, LRO, RLO) and U+2066–U+2069 (LRI, RLI,
/// FSI, PDI): the characters that reorder the text after them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// True when `s` may hold a control or bidi character: a C0 control, DEL,
/// or a lead byte of U+0080–U+00BF (0xC2) or U+2000–U+2FFF (0xE2).
fn may_need_cleaning(s: &str) -> bool {
    s.bytes()
        .any(|b| b < 0x20 || b == 0x7F || b == 0xC2 || b == 0xE2)
}

/// Appends `s` for a human reader: controls (C0, DEL, C1) become a space,
/// bidi controls U+FFFD. No allocation.
fn push_clean(buf: &mut Vec<u8>, s: &str) {
    if !may_need_cleaning(s) {
        buf.extend_from_slice(s.as_bytes());
        return;
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let with = if c.is_control() {
            " "
        } else if is_bidi_control(c) {
            "\u{FFFD}"
        } else {
            continue;
        };
        buf.extend_from_slice(&s.as_bytes()[start..i]);
        buf.extend_from_slice(with.as_bytes());
        start = i + c.len_utf8();
    }
    buf.extend_from_slice(&s.as_bytes()[start..]);
}

/// serde_json's compact format, with U+007F–U+009F and the bidi controls
/// escaped as `\uXXXX` as well (serde_json escapes only C0, `"` and `\`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> std::io::Result<()>
    where
        W: ?Sized + Write,
    {
        if !fragment
            .bytes()
            .any(|b| b == 0x7F || b == 0xC2 || b == 0xE2)
        {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if matches!(c, '\u{7F}'..='\u{9F}') || is_bidi_control(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

fn render_text(buf: &mut Vec<u8>, r: &Record, color: bool) {
    push_clean(buf, &r.url);
    buf.push(b'\t');
    let painted = match (&r.error, r.status) {
        (Some(_), _) => "31",
        (None, Some(200..=299)) => "32",
        (None, Some(300..=399)) => "36",
        (None, Some(400..=499)) => "33",
        (None, Some(_)) => "31",
        (None, None) => "0",
    };
    if color {
        netkit_cli::style::push_sgr(buf, painted);
    }
    match (&r.error, r.status) {
        (Some(_), _) => buf.extend_from_slice(b"ERR"),
        (None, Some(s)) => push_number(buf, u64::from(s)),
        (None, None) => buf.push(b'-'),
    }
    if color {
        netkit_cli::style::push_reset(buf);
    }
    buf.push(b'\t');
    match &r.error {
        Some(e) => {
            buf.extend_from_slice(e.kind.as_str().as_bytes());
            buf.extend_from_slice(b": ");
            push_clean(buf, &e.message);
        }
        None => push_clean(buf, r.title.as_deref().unwrap_or_default()),
    }
    buf.push(b'\n');
}

fn push_number(buf: &mut Vec<u8>, n: u64) {
    // Writing into a Vec cannot fail.
    let _ = write!(buf, "{n}");
}

/// The first characters OWASP lists for CSV injection: a spreadsheet takes
/// a cell that starts with one of them as a formula (tab and CR are
/// already spaces here).
const FORMULA_START: [char; 4] = ['=', '+', '-', '@'];

/// One text field: controls neutralised, quoted (RFC 4180) when it holds
/// a comma or a quote, and with `guard`, a field that a spreadsheet would
/// take for a formula becomes `"'..."` (OWASP's advice).
fn csv_field(buf: &mut Vec<u8>, field: &str, guard: bool) {
    let formula = guard && field.starts_with(FORMULA_START);
    if !formula && !field.contains([',', '"']) {
        push_clean(buf, field);
        return;
    }
    buf.push(b'"');
    if formula {
        buf.push(b'\'');
    }
    for (i, part) in field.split('"').enumerate() {
        if i > 0 {
            buf.extend_from_slice(b"\"\"");
        }
        push_clean(buf, part);
    }
    buf.push(b'"');
}

fn render_csv(buf: &mut Vec<u8>, r: &Record, guard: bool) {
    let text = |buf: &mut Vec<u8>, s: Option<&str>| {
        csv_field(buf, s.unwrap_or_default(), guard);
        buf.push(b',');
    };
    let number = |buf: &mut Vec<u8>, n: Option<u64>| {
        if let Some(n) = n {
            push_number(buf, n);
        }
        buf.push(b',');
    };
    text(buf, Some(&r.url));
    text(buf, r.final_url.as_deref());
    number(buf, r.status.map(u64::from));
    text(buf, r.title.as_deref());
    text(buf, r.content_type.as_deref());
    text(buf, r.charset);
    text(buf, r.charset_source.map(CharsetSource::as_str));
    number(buf, Some(u64::from(r.redirects)));
    number(buf, Some(r.bytes_read));
    number(buf, Some(r.elapsed_ms));
    text(buf, r.error.as_ref().map(|e| e.kind.as_str()));
    csv_field(
        buf,
        r.error.as_ref().map_or("", |e| e.message.as_str()),
        guard,
    );
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
            charset: Some("windows-1252"),
            charset_source: Some(CharsetSource::Meta),
            redirects: 1,
            bytes_read: 10,
            elapsed_ms: 5,
            error: None,
        }
    }

    fn render(format: Format, r: &Record) -> String {
        let sink = Shared::default();
        let mut w = RecordWriter::new(
            Output::stream(Box::new(sink.clone())),
            format,
            false,
            false,
            true,
        )
        .unwrap();
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
            "charset",
            "charset_source",
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
                "example.com,https://example.com/,200,\"A \"\"quoted\"\", title\",text/html,windows-1252,meta,1,10,5,,"
            )
        );
    }

    #[test]
    fn records_are_batched_whole_until_flushed_or_full() {
        let sink = Shared::default();
        let written = || sink.0.lock().unwrap().clone();
        let mut w = RecordWriter::new(
            Output::stream(Box::new(sink.clone())),
            Format::Jsonl,
            false,
            false,
            true,
        )
        .unwrap();
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

    const HOSTILE: &str =
        "a\u{1b}]0;pwned\u{7}b\u{1b}[2Jc\u{9b}31md\u{7f}e\u{202e}gnp\u{2066}x\u{2069}\t\r\ny";

    fn hostile() -> Record {
        let mut r = sample();
        r.title = Some(HOSTILE.into());
        r.content_type = Some("text/html; x=\u{9b}2J".into());
        r.url = "http://h/\u{1b}[2J".into();
        r
    }

    /// No byte of a terminal control or bidi control left.
    fn assert_inert(out: &str) {
        for c in out.chars() {
            assert!(
                !((c.is_control() && !matches!(c, '\n' | '\t')) || is_bidi_control(c)),
                "{c:?} in {out:?}"
            );
        }
    }

    #[test]
    fn text_neutralises_controls_and_bidi_overrides() {
        let out = render(Format::Text, &hostile());
        assert_inert(&out);
        assert_eq!(
            out,
            "http://h/ [2J\t200\ta ]0;pwned b [2Jc 31md e\u{FFFD}gnp\u{FFFD}x\u{FFFD}   y\n"
        );
        let mut r = hostile();
        r.error = Some(RecordError {
            kind: ErrorKind::Io,
            message: "bad \u{1b}[2J\u{202e}".into(),
        });
        let out = render(Format::Text, &r);
        assert_inert(&out);
        assert!(out.ends_with("\tERR\tio: bad  [2J\u{FFFD}\n"), "{out:?}");
    }

    #[test]
    fn csv_neutralises_controls_in_every_field() {
        let mut r = hostile();
        r.error = Some(RecordError {
            kind: ErrorKind::Io,
            message: "x\u{1b}]0;t\u{7},\"q\"".into(),
        });
        let out = render(Format::Csv, &r);
        assert_inert(&out);
        let line = out.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "http://h/ [2J,https://example.com/,200,\
             a ]0;pwned b [2Jc 31md e\u{FFFD}gnp\u{FFFD}x\u{FFFD}   y,\
             text/html; x= 2J,windows-1252,meta,1,10,5,io,\"x ]0;t ,\"\"q\"\"\""
        );
    }

    #[test]
    fn jsonl_escapes_c1_del_and_bidi_and_stays_exact() {
        let r = hostile();
        let out = render(Format::Jsonl, &r);
        assert_inert(&out);
        assert!(
            out.contains(r#"c\u009b31md\u007fe\u202egnp\u2066x\u2069\t\r\ny"#),
            "{out}"
        );
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["title"], HOSTILE);
        assert_eq!(back["url"], r.url.as_str());
        assert_eq!(back["content_type"], "text/html; x=\u{9b}2J");
        // Other non-ASCII text is written as it is.
        let mut plain = sample();
        plain.title = Some("Café — ☃ ©".into());
        assert!(render(Format::Jsonl, &plain).contains("\"Café — ☃ ©\""));
    }

    #[test]
    fn csv_formula_guard_prefixes_a_quote() {
        let render_guarded = |r: &Record, guard: bool| {
            let sink = Shared::default();
            let mut w = RecordWriter::new(
                Output::stream(Box::new(sink.clone())),
                Format::Csv,
                false,
                guard,
                false,
            )
            .unwrap();
            w.write(r).unwrap();
            w.flush().unwrap();
            String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
        };
        let mut r = sample();
        for (title, guarded) in [
            ("=cmd|' /C calc'!A0", "\"'=cmd|' /C calc'!A0\""),
            ("+1+2", "\"'+1+2\""),
            ("-2+3", "\"'-2+3\""),
            ("@SUM(1)", "\"'@SUM(1)\""),
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("plain", "plain"),
            ("a=b", "a=b"),
        ] {
            r.title = Some(title.into());
            let on = render_guarded(&r, true);
            assert!(on.contains(&format!(",200,{guarded},")), "{title}: {on}");
            let off = render_guarded(&r, false);
            assert!(!off.contains(",200,\"'"), "{title}: {off}");
        }
    }

    #[test]
    fn clean_text_is_copied_as_is() {
        let mut buf = Vec::new();
        push_clean(&mut buf, "Plain ASCII title, nothing to do");
        push_clean(&mut buf, " — Café ☃");
        assert_eq!(buf, "Plain ASCII title, nothing to do — Café ☃".as_bytes());
    }

    #[test]
    fn a_failed_batch_is_cut_off_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, b"{\"earlier\":1}\n").unwrap();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let mut out = Output::file(file).unwrap();
        assert!(!out.is_fresh());
        out.write_batch(b"{\"a\":1}\n").unwrap();
        // A read-only descriptor of the same file: the write fails and
        // the batch is taken back to the last whole record.
        let ro = std::fs::File::open(&path).unwrap();
        let mut failing = Output(Sink::File {
            file: ro,
            committed: 22,
        });
        let err = failing.write_batch(b"{\"b\":2}\n").unwrap_err();
        // set_len on a read-only descriptor fails too: said so.
        assert!(matches!(err.cut, Cut::TruncateFailed(_)), "{err}");
        assert!(err.to_string().contains("may be torn"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"earlier\":1}\n{\"a\":1}\n"
        );
    }
}
