//! `-b/--gather`: group hosts with identical output, dshbak -c / clush -b style.
//!
//! Each host's stdout and stderr lines are kept in one transcript in arrival
//! order (like `2>&1`). Memory is bounded: a transcript stays in memory up to
//! `spill_threshold` bytes (and while all transcripts together stay under
//! `memory_budget`); beyond that it is moved to an anonymous temporary file
//! and only a 64 KiB write buffer stays in memory. If no temporary file can
//! be created, the transcript is capped and ends with a note saying so.
//!
//! At the end, hosts are sorted naturally and grouped: candidates are found
//! by (length, 64-bit hash) and then confirmed byte by byte, so a hash
//! collision can never merge different outputs. Each group prints as
//!
//! ```text
//! ---------------
//! web[01-03,07] (4)
//! ---------------
//! <output>
//! ```
//! Hosts that printed nothing are not listed (the summary accounts for them).

use std::collections::HashMap;
use std::fs::File;
use std::hash::{DefaultHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use crate::select::hosts::{fold, natural_cmp};

use super::Stream;

const SPILL_BUFFER: usize = 64 * 1024;

/// Collects transcripts and prints the groups at the end.
#[derive(Debug)]
pub struct GatherSink {
    hosts: HashMap<String, Transcript>,
    spill_threshold: usize,
    memory_budget: usize,
    in_memory: usize,
}

#[derive(Debug, Default)]
struct Transcript {
    /// Bytes not yet in `file` (all bytes when not spilled).
    mem: Vec<u8>,
    file: Option<File>,
    file_len: u64,
    hasher: DefaultHasher,
    /// Set when the transcript had to be capped.
    note: Option<String>,
}

impl GatherSink {
    /// `spill_threshold`: per-host bytes kept in memory before spilling;
    /// `memory_budget`: total in-memory bytes across hosts before spilling.
    pub fn new(spill_threshold: usize, memory_budget: usize) -> Self {
        GatherSink {
            hosts: HashMap::new(),
            spill_threshold,
            memory_budget,
            in_memory: 0,
        }
    }

    /// Adds one line (a newline is appended) to the host's transcript.
    pub fn line(&mut self, host: &str, _stream: Stream, line: &[u8]) -> io::Result<()> {
        if !self.hosts.contains_key(host) {
            self.hosts.insert(host.to_owned(), Transcript::default());
        }
        let Some(t) = self.hosts.get_mut(host) else {
            return Ok(());
        };
        if t.note.is_some() {
            return Ok(());
        }
        t.hasher.write(line);
        t.hasher.write_u8(b'\n');
        t.mem.extend_from_slice(line);
        t.mem.push(b'\n');
        self.in_memory += line.len() + 1;
        let limit = if t.file.is_some() {
            SPILL_BUFFER
        } else {
            self.spill_threshold
        };
        if t.mem.len() > limit || self.in_memory > self.memory_budget {
            let before = t.mem.len();
            t.spill();
            self.in_memory = self.in_memory - before + t.mem.len();
        }
        Ok(())
    }

    /// Bytes currently held in memory by all transcripts.
    #[cfg(test)]
    pub fn in_memory(&self) -> usize {
        self.in_memory
    }

    /// Prints every group to `out`.
    pub fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let mut names: Vec<&String> = self.hosts.keys().collect();
        names.sort_by(|a, b| natural_cmp(a, b));
        // (representative, members)
        let mut groups: Vec<(&String, Vec<&String>)> = Vec::new();
        let mut by_key: HashMap<(u64, u64, Option<&str>), Vec<usize>> = HashMap::new();
        for name in names {
            let Some(t) = self.hosts.get(name) else {
                continue;
            };
            let key = (t.len(), t.hasher.finish(), t.note.as_deref());
            let candidates = by_key.entry(key).or_default();
            let mut placed = false;
            for &g in candidates.iter() {
                let rep = &self.hosts[groups[g].0];
                if same_content(rep, t)? {
                    groups[g].1.push(name);
                    placed = true;
                    break;
                }
            }
            if !placed {
                candidates.push(groups.len());
                groups.push((name, vec![name]));
            }
        }
        for (rep, members) in groups {
            let header = format!("{} ({})", fold(&members), members.len());
            let bar = "-".repeat(header.chars().count().max(15));
            writeln!(out, "{bar}\n{header}\n{bar}")?;
            let t = &self.hosts[rep];
            t.copy_to(out)?;
            if let Some(note) = &t.note {
                writeln!(out, "[ssh-fanout: {note}]")?;
            }
        }
        out.flush()
    }
}

impl Transcript {
    fn len(&self) -> u64 {
        self.file_len + self.mem.len() as u64
    }

    /// Moves `mem` to the temporary file (created on first use).
    fn spill(&mut self) {
        if self.file.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.note = Some(format!(
                        "output capped at {} bytes: cannot create a temporary file: {e}",
                        self.mem.len()
                    ));
                    return;
                }
            }
        }
        let Some(file) = &self.file else { return };
        match file.write_all_at(&self.mem, self.file_len) {
            Ok(()) => {
                self.file_len += self.mem.len() as u64;
                self.mem.clear();
                self.mem.shrink_to(SPILL_BUFFER * 2);
            }
            Err(e) => {
                self.note = Some(format!(
                    "output capped at {} bytes: cannot write the temporary file: {e}",
                    self.len()
                ));
            }
        }
    }

    /// Positional read across file then memory.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset < self.file_len {
            let want = buf.len().min((self.file_len - offset) as usize);
            return match &self.file {
                Some(f) => f.read_at(&mut buf[..want], offset),
                None => Ok(0),
            };
        }
        let start = (offset - self.file_len) as usize;
        let tail = self.mem.get(start..).unwrap_or_default();
        let n = tail.len().min(buf.len());
        buf[..n].copy_from_slice(&tail[..n]);
        Ok(n)
    }

    fn copy_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut buf = vec![0u8; SPILL_BUFFER];
        let mut offset = 0u64;
        while offset < self.len() {
            let n = self.read_at(offset, &mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "gather spill file is shorter than expected",
                ));
            }
            out.write_all(&buf[..n])?;
            offset += n as u64;
        }
        Ok(())
    }
}

fn same_content(a: &Transcript, b: &Transcript) -> io::Result<bool> {
    if a.len() != b.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; SPILL_BUFFER], vec![0u8; SPILL_BUFFER]);
    let mut offset = 0u64;
    while offset < a.len() {
        let n = a.read_at(offset, &mut ba)?;
        if n == 0 {
            return Ok(false);
        }
        let mut got = 0;
        while got < n {
            let m = b.read_at(offset + got as u64, &mut bb[got..n])?;
            if m == 0 {
                return Ok(false);
            }
            got += m;
        }
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut GatherSink, host: &str, text: &str) {
        for l in text.lines() {
            s.line(host, Stream::Stdout, l.as_bytes()).unwrap();
        }
    }

    #[test]
    fn groups_identical_output_with_folded_headers() {
        let mut s = GatherSink::new(1 << 20, 1 << 24);
        for h in ["host0", "host1", "host2", "host3", "host5"] {
            feed(&mut s, h, "Linux\nok");
        }
        feed(&mut s, "host4", "different");
        s.line("host4", Stream::Stderr, b"err line").unwrap();
        let mut out = Vec::new();
        s.finish(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "---------------\nhost[0-3,5] (5)\n---------------\nLinux\nok\n\
             ---------------\nhost4 (1)\n---------------\ndifferent\nerr line\n"
        );
    }

    #[test]
    fn spills_to_disk_and_still_groups() {
        // Tiny thresholds force every transcript to a temporary file.
        let mut s = GatherSink::new(16, 32);
        let big: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        for h in ["a1", "a2", "a3"] {
            feed(&mut s, h, &big);
        }
        let mut other = big.clone();
        other.replace_range(5000..5001, "X");
        feed(&mut s, "a4", &other);
        assert!(
            s.in_memory() <= 4 * (SPILL_BUFFER + 64),
            "{}",
            s.in_memory()
        );
        assert!(s.hosts.values().all(|t| t.file.is_some()));
        let mut out = Vec::new();
        s.finish(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = format!(
            "---------------\na[1-3] (3)\n---------------\n{big}---------------\na4 (1)\n---------------\n{other}"
        );
        assert!(text == expected, "gathered output differs");
    }

    #[test]
    fn hash_collisions_cannot_merge_groups() {
        let mut s = GatherSink::new(1 << 20, 1 << 24);
        feed(&mut s, "x1", "same length A");
        feed(&mut s, "x2", "same length B");
        // Force the same key to exercise the byte comparison.
        let h = s.hosts["x1"].hasher.clone();
        if let Some(t) = s.hosts.get_mut("x2") {
            t.hasher = h;
        }
        let mut out = Vec::new();
        s.finish(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("x1 (1)") && text.contains("x2 (1)"), "{text}");
    }
}
