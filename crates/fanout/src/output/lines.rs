//! Splitting per-host byte streams into whole lines with bounded memory.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use super::Stream;

/// Buffers partial lines per host and stream.
///
/// A line longer than `max_line` bytes is emitted in pieces of exactly
/// `max_line` bytes, so memory per host and stream is at most `max_line`
/// bytes and the pieces do not depend on how the data was chunked.
#[derive(Debug)]
pub struct LineSplitter {
    max_line: usize,
    partial: HashMap<Arc<str>, [Vec<u8>; 2]>,
}

impl LineSplitter {
    /// A splitter that caps lines at `max_line` bytes (at least 1).
    pub fn new(max_line: usize) -> Self {
        LineSplitter {
            max_line: max_line.max(1),
            partial: HashMap::new(),
        }
    }

    /// Feeds a chunk; calls `emit` with each complete line (without `\n`).
    pub fn feed(
        &mut self,
        host: &Arc<str>,
        stream: Stream,
        mut data: &[u8],
        emit: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let max = self.max_line;
        let slot = stream.index();
        if !self.partial.contains_key(&**host) {
            // Fast path: no pending bytes for this host.
            data = emit_whole_lines(data, max, emit)?;
            if data.is_empty() {
                return Ok(());
            }
            let mut bufs = [Vec::new(), Vec::new()];
            bufs[slot].extend_from_slice(data);
            self.partial.insert(host.clone(), bufs);
            return Ok(());
        }
        let Some(bufs) = self.partial.get_mut(&**host) else {
            return Ok(());
        };
        let partial = &mut bufs[slot];
        while !data.is_empty() {
            let room = max - partial.len();
            let window = &data[..data.len().min(room + 1)];
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                partial.extend_from_slice(&window[..i]);
                emit(partial)?;
                partial.clear();
                data = &data[i + 1..];
                data = emit_whole_lines(data, max, emit)?;
            } else if window.len() > room {
                partial.extend_from_slice(&data[..room]);
                emit(partial)?;
                partial.clear();
                data = &data[room..];
                data = emit_whole_lines(data, max, emit)?;
            } else {
                partial.extend_from_slice(window);
                data = &[];
            }
        }
        if bufs.iter().all(Vec::is_empty) {
            self.partial.remove(&**host);
        }
        Ok(())
    }

    /// Emits and forgets whatever is pending for `host` (stdout first).
    pub fn finish_host(
        &mut self,
        host: &str,
        emit: &mut dyn FnMut(Stream, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if let Some(bufs) = self.partial.remove(host) {
            for stream in [Stream::Stdout, Stream::Stderr] {
                let buf = &bufs[stream.index()];
                if !buf.is_empty() {
                    emit(stream, buf)?;
                }
            }
        }
        Ok(())
    }

    /// Bytes currently buffered across all hosts.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.partial.values().map(|b| b[0].len() + b[1].len()).sum()
    }
}

/// Emits complete (or capped) lines straight from `data`; returns the tail
/// (shorter than `max` + 1 and without a newline).
fn emit_whole_lines<'d>(
    mut data: &'d [u8],
    max: usize,
    emit: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<&'d [u8]> {
    loop {
        let window = &data[..data.len().min(max + 1)];
        if let Some(i) = window.iter().position(|&b| b == b'\n') {
            emit(&window[..i])?;
            data = &data[i + 1..];
        } else if window.len() > max {
            emit(&data[..max])?;
            data = &data[max..];
        } else {
            return Ok(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new(max);
        let host: Arc<str> = Arc::from("h");
        let mut out = Vec::new();
        for c in chunks {
            s.feed(&host, Stream::Stdout, c, &mut |l| {
                out.push(String::from_utf8_lossy(l).into_owned());
                Ok(())
            })
            .unwrap();
        }
        s.finish_host("h", &mut |_, l| {
            out.push(format!("<{}>", String::from_utf8_lossy(l)));
            Ok(())
        })
        .unwrap();
        assert_eq!(s.buffered(), 0);
        out
    }

    #[test]
    fn whole_lines_across_chunks() {
        assert_eq!(run(100, &[b"a\nb", b"c\n", b"", b"d"]), ["a", "bc", "<d>"]);
        assert_eq!(run(100, &[b"\n\n"]), ["", ""]);
    }

    #[test]
    fn long_lines_are_capped_independently_of_chunking() {
        let data = b"0123456789\nabc\n0123";
        let whole = run(4, &[data]);
        assert_eq!(whole, ["0123", "4567", "89", "abc", "<0123>"]);
        let bytewise: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(run(4, &bytewise), whole);
        let threes: Vec<&[u8]> = data.chunks(3).collect();
        assert_eq!(run(4, &threes), whole);
        // Exactly max bytes then a newline is one line, not a line plus "".
        assert_eq!(run(4, &[b"abcd", b"\n"]), ["abcd"]);
    }

    #[test]
    fn streams_and_hosts_are_separate() {
        let mut s = LineSplitter::new(64);
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let mut out = Vec::new();
        let mut push =
            |tag: &str, l: &[u8]| out.push(format!("{tag}{}", String::from_utf8_lossy(l)));
        s.feed(&a, Stream::Stdout, b"a-out", &mut |l| {
            push("?", l);
            Ok(())
        })
        .unwrap();
        s.feed(&a, Stream::Stderr, b"a-err", &mut |_| Ok(()))
            .unwrap();
        s.feed(&b, Stream::Stdout, b"b-out\n", &mut |l| {
            push("b:", l);
            Ok(())
        })
        .unwrap();
        assert_eq!(s.buffered(), 10);
        s.finish_host("a", &mut |st, l| {
            push(if st == Stream::Stdout { "o:" } else { "e:" }, l);
            Ok(())
        })
        .unwrap();
        assert_eq!(out, ["b:b-out", "o:a-out", "e:a-err"]);
    }
}
