//! Output sinks, independent of SSH.
//!
//! Design: connection tasks never write to stdout/stderr themselves. They send
//! [`Event`]s (raw output chunks, per-host results, free-form notices) to one
//! [`Output`], which runs on a single blocking task ([`Output::spawn`]) and owns
//! both writers. Because there is exactly one writer, records can never
//! interleave mid-line; every record is written with one `write_all` into a
//! buffered writer that only ever holds whole records, and is flushed after
//! each event.
//!
//! Per event, [`Output`]:
//! 1. writes raw chunks to `--outdir/--errdir` files ([`FileSink`]);
//! 2. cuts chunks into whole lines per host and stream ([`LineSplitter`];
//!    partial lines wait, lines longer than `max_line` are split so memory is
//!    bounded);
//! 3. hands lines to the mode sink: [`StreamSink`] (`host: line`, default),
//!    [`GatherSink`] (`-b`), [`JsonSink`] (`--json`) or nothing;
//! 4. on a [`HostResult`], flushes the host's partial lines, closes its files,
//!    writes a JSON result record or a one-line notice on stderr for failed
//!    hosts, and adds it to the [`Summary`].
//!
//! [`Output::finish`] prints the gathered groups, the summary (stderr) and
//! writes `--failed-hosts`. [`Summary::exit_code`] gives the
//! process exit code: 0 all ok, 1 some command failed, 3 some host errored
//! (precedence over 1); 2 (usage/inventory) is the binary's.

mod closed_stdout;
mod files;
mod gather;
mod json;
mod lines;
mod result;
mod stream;
mod summary;

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use files::FileSink;
pub use gather::GatherSink;
pub use json::JsonSink;
pub use lines::LineSplitter;
pub use result::{
    EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, ErrorKind, HostError, HostResult, Status,
};
pub use stream::StreamSink;
pub use summary::Summary;

/// Which remote stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// The command's standard output.
    Stdout,
    /// The command's standard error (SSH extended data 1).
    Stderr,
}

impl Stream {
    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// What connection tasks send to the output task.
#[derive(Clone, Debug)]
pub enum Event {
    /// A raw chunk of remote output (any size, not necessarily whole lines).
    Output {
        /// The host, spelled exactly as in its later [`HostResult::host`].
        host: Arc<str>,
        /// stdout or stderr.
        stream: Stream,
        /// The bytes.
        data: Bytes,
    },
    /// The host is done; flushes its partial lines first.
    Result(HostResult),
    /// A message for the user's terminal (stderr), e.g. the list of hosts
    /// still running after Ctrl-C or a host-key banner. A newline is added.
    Notice(String),
}

/// How remote output is shown on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `host: line` as lines complete; `prefix: false` is `-N`.
    Stream {
        /// Prefix lines with `host: `.
        prefix: bool,
    },
    /// `-b`: group identical outputs at the end.
    Gather,
    /// `--json` lines.
    Json,
    /// Nothing on stdout (e.g. only `--outdir`).
    Silent,
}

/// Output settings (built by the binary from its flags).
#[derive(Clone, Debug)]
pub struct OutputConfig {
    /// Stdout mode.
    pub mode: Mode,
    /// Colour host names (stream mode).
    pub color: bool,
    /// Longest line kept whole; longer lines are split (default 64 KiB).
    pub max_line: usize,
    /// `--outdir`.
    pub outdir: Option<PathBuf>,
    /// `--errdir`.
    pub errdir: Option<PathBuf>,
    /// Gather: per-host bytes kept in memory before spilling (default 1 MiB).
    pub gather_spill_threshold: usize,
    /// Gather: total in-memory bytes before spilling (default 64 MiB).
    pub gather_memory_budget: usize,
    /// One stderr line per failed host as it finishes (not in JSON mode).
    pub notices: bool,
    /// Print the summary on stderr at the end.
    pub summary: bool,
    /// `--failed-hosts FILE`.
    pub failed_hosts: Option<PathBuf>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            mode: Mode::Stream { prefix: true },
            color: false,
            max_line: 64 * 1024,
            outdir: None,
            errdir: None,
            gather_spill_threshold: 1024 * 1024,
            gather_memory_budget: 64 * 1024 * 1024,
            notices: true,
            summary: true,
            failed_hosts: None,
        }
    }
}

enum ModeSink {
    Stream(StreamSink),
    Gather(GatherSink),
    Json(JsonSink),
    Silent,
}

/// A boxed writer for [`Output::new`].
pub type Writer = Box<dyn Write + Send>;

/// The single owner of stdout and stderr for a run.
pub struct Output {
    mode: ModeSink,
    files: Option<FileSink>,
    splitter: LineSplitter,
    summary: Summary,
    out: BufWriter<Writer>,
    err: BufWriter<Writer>,
    color: bool,
    notices: bool,
    print_summary: bool,
    failed_hosts: Option<PathBuf>,
    stdout_closed: CancellationToken,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").finish_non_exhaustive()
    }
}

impl Output {
    /// Builds the sinks; creates `outdir`/`errdir`.
    pub fn new(config: OutputConfig, out: Writer, err: Writer) -> io::Result<Output> {
        let mode = match config.mode {
            Mode::Stream { prefix } => ModeSink::Stream(StreamSink::new(prefix, config.color)),
            Mode::Gather => ModeSink::Gather(GatherSink::new(
                config.gather_spill_threshold,
                config.gather_memory_budget,
            )),
            Mode::Json => ModeSink::Json(JsonSink::new()),
            Mode::Silent => ModeSink::Silent,
        };
        let files = if config.outdir.is_some() || config.errdir.is_some() {
            Some(FileSink::new(config.outdir.clone(), config.errdir.clone())?)
        } else {
            None
        };
        let stdout_closed = CancellationToken::new();
        let out: Writer = Box::new(closed_stdout::ClosableStdout::new(
            out,
            stdout_closed.clone(),
        ));
        Ok(Output {
            notices: config.notices && !matches!(config.mode, Mode::Json),
            mode,
            files,
            splitter: LineSplitter::new(config.max_line),
            summary: Summary::new(),
            out: BufWriter::with_capacity(64 * 1024, out),
            err: BufWriter::with_capacity(16 * 1024, err),
            color: config.color,
            print_summary: config.summary,
            failed_hosts: config.failed_hosts,
            stdout_closed,
        })
    }

    /// Cancelled when stdout's reader goes away (`| head`): from then on,
    /// stdout records, notices and the summary are dropped, the side files
    /// are still written, and the run should start no more hosts.
    pub fn stdout_closed(&self) -> CancellationToken {
        self.stdout_closed.clone()
    }

    /// [`Output::new`] on the process's stdout and stderr.
    pub fn stdio(config: OutputConfig) -> io::Result<Output> {
        Output::new(config, Box::new(io::stdout()), Box::new(io::stderr()))
    }

    /// Handles one event and flushes.
    pub fn handle(&mut self, event: Event) -> io::Result<()> {
        match event {
            Event::Output { host, stream, data } => self.output(&host, stream, &data),
            Event::Result(result) => self.result(result),
            Event::Notice(_) if self.stdout_closed.is_cancelled() => Ok(()),
            Event::Notice(text) => {
                let mut record = text.into_bytes();
                record.push(b'\n');
                self.err.write_all(&record)?;
                self.err.flush()
            }
        }
    }

    /// A raw chunk of remote output.
    pub fn output(&mut self, host: &Arc<str>, stream: Stream, data: &[u8]) -> io::Result<()> {
        if let Some(files) = &mut self.files {
            files.data(host, stream, data)?;
        }
        let Output {
            mode,
            splitter,
            out,
            err,
            ..
        } = self;
        if !matches!(mode, ModeSink::Silent) {
            splitter.feed(host, stream, data, &mut |line| {
                emit_line(mode, out, err, host, stream, line)
            })?;
        }
        self.flush()
    }

    /// A host finished.
    pub fn result(&mut self, result: HostResult) -> io::Result<()> {
        let Output {
            mode,
            splitter,
            out,
            err,
            ..
        } = self;
        splitter.finish_host(&result.host, &mut |stream, line| {
            emit_line(mode, out, err, &result.host, stream, line)
        })?;
        if let Some(files) = &mut self.files {
            files.finish_host(&result.host)?;
        }
        if let ModeSink::Json(json) = &mut self.mode {
            json.result(&mut self.out, &result)?;
        }
        if self.notices && !self.stdout_closed.is_cancelled() {
            let mut record = b"ssh-fanout: ".to_vec();
            stream::push_host(&mut record, &result.host, self.color);
            let what = match (&result.error, &result.signal, result.exit_code) {
                (Some(e), _, _) => Some(format!(": {e}\n")),
                (None, Some(sig), _) => Some(format!(": killed by signal {sig}\n")),
                (None, None, Some(0)) => None,
                (None, None, Some(code)) => Some(format!(": exited with exit code {code}\n")),
                (None, None, None) if result.copy.is_some() => None,
                (None, None, None) => Some(": no exit status received\n".to_owned()),
            };
            if let Some(what) = what {
                record.extend_from_slice(what.as_bytes());
                self.err.write_all(&record)?;
            }
        }
        self.summary.add(&result);
        self.flush()
    }

    /// Prints gathered groups, the summary and `--failed-hosts`; flushes.
    pub fn finish(mut self) -> io::Result<Summary> {
        if let ModeSink::Gather(gather) = &mut self.mode {
            gather.finish(&mut self.out)?;
        }
        self.out.flush()?;
        if self.print_summary && !self.stdout_closed.is_cancelled() {
            self.summary.render(&mut self.err)?;
        }
        self.err.flush()?;
        if let Some(path) = &self.failed_hosts {
            self.summary
                .write_failed_hosts(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        }
        Ok(self.summary)
    }

    /// Runs the output on a blocking task fed by a bounded channel (the
    /// bound gives back-pressure, so memory stays bounded). Drop every
    /// sender to finish; the task returns the [`Summary`].
    pub fn spawn(
        mut self,
        capacity: usize,
    ) -> (
        tokio::sync::mpsc::Sender<Event>,
        tokio::task::JoinHandle<io::Result<Summary>>,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(capacity.max(1));
        let task = tokio::task::spawn_blocking(move || {
            while let Some(event) = rx.blocking_recv() {
                self.handle(event)?;
            }
            self.finish()
        });
        (tx, task)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.err.flush()
    }
}

fn emit_line(
    mode: &mut ModeSink,
    out: &mut BufWriter<Writer>,
    err: &mut BufWriter<Writer>,
    host: &str,
    stream: Stream,
    line: &[u8],
) -> io::Result<()> {
    match mode {
        ModeSink::Stream(s) => s.line(out, err, host, stream, line),
        ModeSink::Gather(g) => g.line(host, stream, line),
        ModeSink::Json(j) => j.line(out, host, stream, line),
        ModeSink::Silent => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn output(config: OutputConfig) -> (Output, Shared, Shared) {
        let (o, e) = (Shared::default(), Shared::default());
        let out = Output::new(config, Box::new(o.clone()), Box::new(e.clone())).unwrap();
        (out, o, e)
    }

    fn chunk(host: &str, stream: Stream, data: &'static [u8]) -> Event {
        Event::Output {
            host: Arc::from(host),
            stream,
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn streaming_whole_lines_and_partial_flush_on_result() {
        let (mut out, o, e) = output(OutputConfig::default());
        out.handle(chunk("a", Stream::Stdout, b"hel")).unwrap();
        out.handle(chunk("b", Stream::Stdout, b"one\ntw")).unwrap();
        // Nothing partial is ever written.
        assert_eq!(o.text(), "b: one\n");
        out.handle(chunk("a", Stream::Stdout, b"lo\n")).unwrap();
        out.handle(chunk("a", Stream::Stderr, b"warn\n")).unwrap();
        out.handle(Event::Result(HostResult::exited("b", 0, Duration::ZERO)))
            .unwrap();
        out.handle(Event::Result(HostResult::exited("a", 2, Duration::ZERO)))
            .unwrap();
        out.handle(Event::Notice("still running: c[1-2]".into()))
            .unwrap();
        let summary = out.finish().unwrap();
        assert_eq!(o.text(), "b: one\na: hello\nb: tw\n");
        assert_eq!(
            e.text(),
            "a: warn\nssh-fanout: a: exited with exit code 2\nstill running: c[1-2]\n\
             ssh-fanout: 2 hosts: 1 ok, 1 failed, 0 errors\nssh-fanout: failed (exit 2): a\n"
        );
        assert_eq!(summary.exit_code(), 1);
    }

    #[test]
    fn json_mode_records_only_on_stdout() {
        let (mut out, o, e) = output(OutputConfig {
            mode: Mode::Json,
            summary: false,
            ..OutputConfig::default()
        });
        out.handle(chunk("h1", Stream::Stdout, b"x\ny")).unwrap();
        out.handle(Event::Result(HostResult::failed(
            "h1",
            HostError::new(ErrorKind::CommandTimeout, "deadline 5s exceeded"),
            Duration::from_millis(5000),
        )))
        .unwrap();
        let s = out.finish().unwrap();
        let lines: Vec<serde_json::Value> = o
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["line"], "x");
        assert_eq!(lines[1]["line"], "y");
        assert_eq!(lines[2]["type"], "result");
        assert_eq!(lines[2]["status"], "error");
        assert_eq!(lines[2]["error"]["kind"], "command_timeout");
        assert_eq!(lines[2]["elapsed_ms"], 5000);
        assert_eq!(e.text(), "");
        assert_eq!(s.exit_code(), 3);
    }

    #[test]
    fn gather_mode_prints_groups_at_finish() {
        let (mut out, o, _e) = output(OutputConfig {
            mode: Mode::Gather,
            ..OutputConfig::default()
        });
        for h in ["n1", "n2", "n3"] {
            out.handle(chunk(h, Stream::Stdout, b"same")).unwrap();
        }
        assert_eq!(o.text(), "");
        for h in ["n1", "n2", "n3"] {
            out.handle(Event::Result(HostResult::exited(h, 0, Duration::ZERO)))
                .unwrap();
        }
        out.finish().unwrap();
        assert_eq!(
            o.text(),
            "---------------\nn[1-3] (3)\n---------------\nsame\n"
        );
    }

    #[test]
    fn outdir_with_silent_mode_and_failed_hosts_file() {
        let dir = tempfile::tempdir().unwrap();
        let failed = dir.path().join("failed");
        let (mut out, o, _e) = output(OutputConfig {
            mode: Mode::Silent,
            outdir: Some(dir.path().join("o")),
            failed_hosts: Some(failed.clone()),
            ..OutputConfig::default()
        });
        out.handle(chunk("h1", Stream::Stdout, b"data")).unwrap();
        out.handle(Event::Result(HostResult::signalled(
            "h1",
            "TERM",
            Duration::ZERO,
        )))
        .unwrap();
        out.handle(Event::Result(HostResult::exited("h2", 0, Duration::ZERO)))
            .unwrap();
        out.finish().unwrap();
        assert_eq!(o.text(), "");
        assert_eq!(std::fs::read(dir.path().join("o/h1")).unwrap(), b"data");
        assert_eq!(std::fs::read_to_string(failed).unwrap(), "h1\n");
    }

    #[test]
    fn big_output_streams_with_bounded_buffers() {
        let (mut out, o, _e) = output(OutputConfig {
            max_line: 1024,
            summary: false,
            ..OutputConfig::default()
        });
        let host: Arc<str> = Arc::from("big");
        let block = vec![b'x'; 1 << 20]; // 1 MiB without a newline
        for _ in 0..4 {
            out.output(&host, Stream::Stdout, &block).unwrap();
            assert!(out.splitter.buffered() <= 1024);
        }
        out.result(HostResult::exited("big", 0, Duration::ZERO))
            .unwrap();
        out.finish().unwrap();
        let text = o.text();
        assert_eq!(text.lines().count(), 4096);
        assert!(text.lines().all(|l| l.len() == "big: ".len() + 1024));
    }

    #[tokio::test]
    async fn spawned_output_task() {
        let (out, o, _e) = output(OutputConfig {
            summary: false,
            ..OutputConfig::default()
        });
        let (tx, task) = out.spawn(8);
        let mut senders = Vec::new();
        for i in 0..4 {
            let tx = tx.clone();
            senders.push(tokio::spawn(async move {
                let host: Arc<str> = Arc::from(format!("h{i}"));
                for _ in 0..50 {
                    tx.send(Event::Output {
                        host: host.clone(),
                        stream: Stream::Stdout,
                        data: Bytes::from_static(b"abc"),
                    })
                    .await
                    .unwrap();
                    tx.send(Event::Output {
                        host: host.clone(),
                        stream: Stream::Stdout,
                        data: Bytes::from_static(b"def\n"),
                    })
                    .await
                    .unwrap();
                }
                tx.send(Event::Result(HostResult::exited(&*host, 0, Duration::ZERO)))
                    .await
                    .unwrap();
            }));
        }
        drop(tx);
        for s in senders {
            s.await.unwrap();
        }
        let summary = task.await.unwrap().unwrap();
        assert_eq!(summary.ok(), 4);
        let text = o.text();
        assert_eq!(text.lines().count(), 200);
        // Lines from concurrent hosts never interleave mid-line.
        assert!(
            text.lines()
                .all(|l| l.len() == 10 && l.ends_with(": abcdef")),
            "{text}"
        );
    }
}
