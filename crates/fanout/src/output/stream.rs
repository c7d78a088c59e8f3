//! Default output: each complete line as soon as it arrives, `host: line`.

use std::io::{self, Write};

use super::Stream;

/// Writes `host: line` records; stdout lines to `out`, stderr lines to `err`.
#[derive(Debug)]
pub struct StreamSink {
    prefix: bool,
    color: bool,
    record: Vec<u8>,
}

impl StreamSink {
    /// `prefix = false` is `-N`; `color` colours host names.
    pub fn new(prefix: bool, color: bool) -> Self {
        StreamSink {
            prefix,
            color,
            record: Vec::with_capacity(256),
        }
    }

    /// Writes one line as a single record (one `write_all`).
    pub fn line(
        &mut self,
        out: &mut dyn Write,
        err: &mut dyn Write,
        host: &str,
        stream: Stream,
        line: &[u8],
    ) -> io::Result<()> {
        self.record.clear();
        if self.prefix {
            push_host(&mut self.record, host, self.color);
            self.record.extend_from_slice(b": ");
        }
        self.record.extend_from_slice(line);
        self.record.push(b'\n');
        match stream {
            Stream::Stdout => out.write_all(&self.record),
            Stream::Stderr => err.write_all(&self.record),
        }
    }
}

/// Appends `host`, wrapped in an ANSI colour chosen from its name if `color`.
pub(crate) fn push_host(buf: &mut Vec<u8>, host: &str, color: bool) {
    netkit_cli::style::push_name(buf, host, color);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_streams() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut s = StreamSink::new(true, false);
        s.line(&mut out, &mut err, "web1", Stream::Stdout, b"hello")
            .unwrap();
        s.line(&mut out, &mut err, "web2", Stream::Stderr, b"oops")
            .unwrap();
        s.line(&mut out, &mut err, "web1", Stream::Stdout, b"")
            .unwrap();
        assert_eq!(out, b"web1: hello\nweb1: \n");
        assert_eq!(err, b"web2: oops\n");
    }

    #[test]
    fn no_prefix() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut s = StreamSink::new(false, true);
        s.line(&mut out, &mut err, "web1", Stream::Stdout, b"x")
            .unwrap();
        assert_eq!(out, b"x\n");
    }

    #[test]
    fn color_is_stable_per_host() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        push_host(&mut a, "web1", true);
        push_host(&mut b, "web1", true);
        assert_eq!(a, b);
        let s = String::from_utf8(a).unwrap();
        assert!(
            s.starts_with("\x1b[3") && s.ends_with("web1\x1b[0m"),
            "{s:?}"
        );
    }
}
