//! The chunks of a push, shared by every host: a bounded cache of file
//! pieces keyed by (file, offset, length). Hosts that move together read
//! each piece once from the file and send the same bytes; a host that
//! falls more than the cache behind reads its pieces again (from the page
//! cache, normally), so memory stays bounded whatever the file size and
//! host count.

use std::collections::{HashMap, VecDeque};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use bytes::Bytes;

use super::CopyError;
use super::plan::SourceFile;
use crate::output::ErrorKind;

/// Bytes the cache holds at most.
pub const CACHE_BYTES: usize = 16 << 20;

type Key = (usize, u64, u32);

#[derive(Default)]
struct Inner {
    pieces: HashMap<Key, Bytes>,
    order: VecDeque<Key>,
    bytes: usize,
}

/// The shared cache (one per run).
#[derive(Default)]
pub struct ChunkCache {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for ChunkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkCache")
    }
}

fn read_error(file: &SourceFile, e: impl std::fmt::Display) -> CopyError {
    CopyError::new(
        ErrorKind::Copy,
        format!("cannot read `{}`: {e}", file.path.display()),
    )
}

impl ChunkCache {
    /// `len` bytes of `file` at `offset`.
    pub async fn get(&self, file: &SourceFile, offset: u64, len: u32) -> Result<Bytes, CopyError> {
        let key = (file.id, offset, len);
        {
            let inner = self
                .inner
                .lock()
                .map_err(|_| read_error(file, "lock poisoned"))?;
            if let Some(b) = inner.pieces.get(&key) {
                return Ok(b.clone());
            }
        }
        // Opened per miss: a tree of 100,000 files must not hold 100,000
        // descriptors, and a miss reads 64 KiB anyway.
        let path = file.path.clone();
        // The buffer is allocated (and later freed) on the runtime's
        // thread: allocated on a blocking-pool thread, mimalloc kept every
        // freed piece of a push (RSS grew by the file size).
        let mut buf = vec![0; len as usize];
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let f = std::fs::File::open(&path)?;
            f.read_exact_at(&mut buf, offset)?;
            Ok(buf)
        })
        .await
        .map_err(|e| read_error(file, e))?;
        let buf = read.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                read_error(file, "it became shorter while being copied")
            } else {
                read_error(file, e)
            }
        })?;
        let piece = Bytes::from(buf);
        if let Ok(mut inner) = self.inner.lock() {
            if inner.pieces.insert(key, piece.clone()).is_none() {
                inner.order.push_back(key);
                inner.bytes += piece.len();
            }
            while inner.bytes > CACHE_BYTES {
                let Some(old) = inner.order.pop_front() else {
                    break;
                };
                if let Some(b) = inner.pieces.remove(&old) {
                    inner.bytes -= b.len();
                }
            }
        }
        Ok(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pieces_are_shared_and_the_cache_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = SourceFile {
            id: 0,
            path,
            size: data.len() as u64,
            sha256: Default::default(),
        };
        let cache = ChunkCache::default();
        let a = cache.get(&file, 1000, 5000).await.unwrap();
        let b = cache.get(&file, 1000, 5000).await.unwrap();
        assert_eq!(&a[..], &data[1000..6000]);
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "the second host gets the same bytes"
        );
        let e = cache.get(&file, 199_000, 5000).await.unwrap_err();
        assert!(e.message.contains("shorter"), "{e}");
        let inner = cache.inner.lock().unwrap();
        assert!(inner.bytes <= CACHE_BYTES);
    }
}
