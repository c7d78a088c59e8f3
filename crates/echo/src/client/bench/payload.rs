//! Verifiable payloads: message `seq` of connection `conn` is a window into a
//! per-connection pseudo-random pattern, starting at an offset that depends
//! on `seq`, with `seq` (and `conn`) stamped into the first bytes when the
//! message is big enough. Every echoed byte is compared with what it must be.

/// Offsets cycle through this many positions (a prime, so neighbouring
/// messages never look alike).
const OFFSETS: usize = 251;

/// The pattern of one connection.
#[derive(Debug, Clone)]
pub struct Pattern {
    conn: u64,
    size: usize,
    base: Vec<u8>,
}

impl Pattern {
    /// The pattern for messages of `size` bytes on connection `conn`.
    pub fn new(conn: u64, size: usize) -> Self {
        let mut state = conn.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let base = (0..size + OFFSETS)
            .map(|_| {
                // xorshift64*
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect();
        Self { conn, size, base }
    }

    /// Message size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    fn window(&self, seq: u64) -> &[u8] {
        let off = (seq % OFFSETS as u64) as usize;
        self.base.get(off..off + self.size).unwrap_or_default()
    }

    /// Writes message `seq` into `out` (which is resized to the message size).
    pub fn fill(&self, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        self.append(seq, out);
    }

    /// Appends message `seq` to `out`.
    pub fn append(&self, seq: u64, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(self.window(seq));
        let header = self.header(seq);
        let header = header.get(..self.header_len()).unwrap_or_default();
        let dst = out.get_mut(start..).unwrap_or_default();
        for (dst, src) in dst.iter_mut().zip(header) {
            *dst = *src;
        }
    }

    fn header(&self, seq: u64) -> [u8; 16] {
        let mut h = [0u8; 16];
        let header_len = self.header_len();
        h[..8].copy_from_slice(&seq.to_le_bytes());
        h[8..].copy_from_slice(&self.conn.to_le_bytes());
        let mut out = [0u8; 16];
        if let (Some(dst), Some(src)) = (out.get_mut(..header_len), h.get(..header_len)) {
            dst.copy_from_slice(src);
        }
        out
    }

    /// How many leading bytes carry the header (0, 8 or 16).
    fn header_len(&self) -> usize {
        if self.size >= 16 {
            16
        } else if self.size >= 8 {
            8
        } else {
            0
        }
    }

    /// Whether `got` is exactly message `seq`.
    pub fn verify(&self, seq: u64, got: &[u8]) -> bool {
        let header_len = self.header_len();
        let expected = self.window(seq);
        got.len() == self.size
            && got.get(..header_len) == self.header(seq).get(..header_len)
            && got.get(header_len..) == expected.get(header_len..)
    }

    /// The sequence number stamped into a received message (needs size >= 8).
    pub fn seq_of(got: &[u8]) -> Option<u64> {
        let bytes: [u8; 8] = got.get(..8)?.try_into().ok()?;
        Some(u64::from_le_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_messages_verify_one_by_one() {
        let p = Pattern::new(3, 64);
        let mut batch = Vec::new();
        for seq in 10..26 {
            p.append(seq, &mut batch);
        }
        assert_eq!(batch.len(), 16 * 64);
        for (i, msg) in batch.chunks(64).enumerate() {
            assert!(p.verify(10 + i as u64, msg));
        }
    }

    #[test]
    fn fill_then_verify_roundtrips_for_all_sizes() {
        for size in [1, 7, 8, 15, 16, 64, 16 * 1024] {
            let p = Pattern::new(3, size);
            let mut buf = Vec::new();
            for seq in 0..600 {
                p.fill(seq, &mut buf);
                assert_eq!(buf.len(), size);
                assert!(p.verify(seq, &buf), "size {size} seq {seq}");
            }
        }
    }

    #[test]
    fn any_flipped_byte_is_caught() {
        let p = Pattern::new(1, 64);
        let mut buf = Vec::new();
        p.fill(42, &mut buf);
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x01;
            assert!(!p.verify(42, &bad), "flip at {i} not caught");
        }
        // The wrong message (reordering) and another connection are caught too.
        assert!(!p.verify(43, &buf));
        assert!(!Pattern::new(2, 64).verify(42, &buf));
    }

    #[test]
    fn seq_is_readable() {
        let p = Pattern::new(1, 32);
        let mut buf = Vec::new();
        p.fill(77, &mut buf);
        assert_eq!(Pattern::seq_of(&buf), Some(77));
    }
}
