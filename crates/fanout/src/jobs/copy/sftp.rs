//! The SFTP session on a host's connection: the `sftp` subsystem channel,
//! russh-sftp's raw session (every request is an `async` call, so several
//! are in flight at once), the OpenSSH extensions we use
//! (`posix-rename@openssh.com`, `limits@openssh.com`,
//! `statvfs@openssh.com`, `expand-path@openssh.com`), and the one map from
//! SFTP failures to copy error kinds.

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use russh::ChannelMsg;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};

use super::CopyError;
use crate::connect::session::Connection;
use crate::output::ErrorKind;

/// The most requests in flight per file (reads or writes), as OpenSSH's
/// `sftp -R`; fewer when many hosts share the client (see
/// [`super::window_for`]).
pub(crate) const IN_FLIGHT: usize = 16;
/// Read and write length: 64 KiB, or less when the server's limits say so.
/// 16 × 64 KiB in flight per host keeps a 64-host push in bounded memory.
const IO_LEN: u64 = 64 * 1024;
/// Seconds a single request may wait for its reply.
const REQUEST_TIMEOUT_SECS: u64 = 30;
/// The most entries one directory listing may hold.
pub(crate) const MAX_DIR_ENTRIES: usize = 1_000_000;

/// One host's SFTP session.
pub(crate) struct Sftp {
    raw: RawSftpSession,
    /// Read/write request length.
    pub io_len: u32,
    /// Requests kept in flight per file.
    pub depth: usize,
    posix_rename: bool,
    statvfs: bool,
    expand_path: bool,
    /// OpenSSH's sftp-server takes SSH_FXP_SYMLINK's arguments in the
    /// reverse order of the draft (target first).
    openssh: bool,
}

/// Maps an SFTP failure on `path` to a copy error.
pub(crate) fn sftp_error(e: SftpError, what: &str, path: &str) -> CopyError {
    let kind = match &e {
        SftpError::Status(s) => match s.status_code {
            StatusCode::NoSuchFile => ErrorKind::NotFound,
            StatusCode::PermissionDenied => ErrorKind::PermissionDenied,
            StatusCode::NoConnection | StatusCode::ConnectionLost => ErrorKind::TransferInterrupted,
            _ => ErrorKind::Copy,
        },
        SftpError::IO(_) | SftpError::Timeout | SftpError::UnexpectedBehavior(_) => {
            ErrorKind::TransferInterrupted
        }
        SftpError::Limited(_) | SftpError::UnexpectedPacket => ErrorKind::Copy,
    };
    let why = match &e {
        SftpError::Status(s) if !s.error_message.is_empty() => s.error_message.clone(),
        SftpError::Status(s) => s.status_code.to_string(),
        SftpError::Timeout => format!("no reply from the SFTP server in {REQUEST_TIMEOUT_SECS}s"),
        SftpError::IO(_) | SftpError::UnexpectedBehavior(_) => {
            "the connection was lost during the transfer".to_owned()
        }
        other => other.to_string(),
    };
    CopyError::new(kind, format!("{what} `{path}`: {why}"))
}

/// What an SFTP entry is, from the `S_IFMT` bits of its permissions
/// (russh-sftp's `is_regular()` tests single bits, so it calls a symlink,
/// 0o120000, a regular file too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `S_IFREG`.
    File,
    /// `S_IFDIR`.
    Dir,
    /// `S_IFLNK`.
    Symlink,
    /// Devices, fifos, sockets, or no type sent.
    Other,
}

/// The [`Kind`] of `attrs`.
pub(crate) fn kind(attrs: &FileAttributes) -> Kind {
    match attrs.permissions.map(|p| p & 0o170_000) {
        Some(0o100_000) => Kind::File,
        Some(0o040_000) => Kind::Dir,
        Some(0o120_000) => Kind::Symlink,
        _ => Kind::Other,
    }
}

fn is_eof(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::Eof)
}

/// An SSH string: u32 length, bytes.
fn put_string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

impl Sftp {
    /// Opens the `sftp` subsystem on `conn` and initialises the protocol.
    /// `window` bounds the bytes of one file in flight.
    pub async fn start(conn: &Connection, window: u64) -> Result<Sftp, CopyError> {
        let unavailable = |why: String| CopyError::new(ErrorKind::SftpUnavailable, why);
        let mut channel = conn
            .channel_open_session()
            .await
            .map_err(|e| unavailable(format!("cannot open a channel for SFTP: {e}")))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| unavailable(format!("cannot request the sftp subsystem: {e}")))?;
        let reply = tokio::time::timeout(
            std::time::Duration::from_secs(REQUEST_TIMEOUT_SECS),
            async {
                loop {
                    match channel.wait().await {
                        Some(ChannelMsg::Success) => break Ok(()),
                        Some(ChannelMsg::Failure) => {
                            break Err(unavailable(
                                "the host refused the sftp subsystem (no `Subsystem sftp` in its \
                             sshd_config?)"
                                    .into(),
                            ));
                        }
                        Some(ChannelMsg::Close | ChannelMsg::Eof) | None => {
                            break Err(unavailable(
                                "the host closed the sftp subsystem channel".into(),
                            ));
                        }
                        Some(_) => {}
                    }
                }
            },
        )
        .await;
        match reply {
            Ok(r) => r?,
            Err(_) => {
                return Err(unavailable(format!(
                    "no answer to the sftp subsystem request in {REQUEST_TIMEOUT_SECS}s"
                )));
            }
        }
        let config = russh_sftp::client::Config {
            request_timeout_secs: REQUEST_TIMEOUT_SECS,
            ..Default::default()
        };
        let mut raw = RawSftpSession::new_with_config(channel.into_stream(), config);
        let version = raw
            .init()
            .await
            .map_err(|e| unavailable(format!("the sftp subsystem did not start: {e}")))?;
        let has = |name: &str| version.extensions.contains_key(name);
        let mut io_len = IO_LEN;
        if has("limits@openssh.com")
            && let Ok(limits) = raw.limits().await
        {
            let limits = russh_sftp::client::rawsession::Limits::from(limits);
            for l in [limits.read_len, limits.write_len].into_iter().flatten() {
                io_len = io_len.min(l.max(512));
            }
            raw.set_limits(limits);
        }
        Ok(Sftp {
            posix_rename: has("posix-rename@openssh.com"),
            statvfs: has("statvfs@openssh.com"),
            expand_path: has("expand-path@openssh.com"),
            openssh: version
                .extensions
                .keys()
                .any(|k| k.ends_with("@openssh.com")),
            raw,
            io_len: u32::try_from(io_len).unwrap_or(32 * 1024),
            depth: usize::try_from(window / io_len.max(1))
                .unwrap_or(IN_FLIGHT)
                .clamp(2, IN_FLIGHT),
        })
    }

    /// Ends the session (closes the channel).
    pub async fn close(&self) {
        let _ = self.raw.close_session();
    }

    /// `~`, `~/x` and `~user/x` as the host expands them (the
    /// `expand-path@openssh.com` extension); without it `~/x` is `x`,
    /// relative to the login directory where sftp-server starts.
    pub async fn expand_tilde(&self, path: &str) -> Result<String, CopyError> {
        if !path.starts_with('~') {
            return Ok(path.to_owned());
        }
        if self.expand_path {
            let name = self
                .raw
                .expand_path(path)
                .await
                .map_err(|e| sftp_error(e, "cannot expand", path))?;
            if let Some(f) = name.files.into_iter().next() {
                return Ok(f.filename);
            }
        }
        match path.strip_prefix("~/") {
            Some(rest) => Ok(if rest.is_empty() {
                ".".into()
            } else {
                rest.into()
            }),
            None if path == "~" => Ok(".".into()),
            None => Err(CopyError::new(
                ErrorKind::Copy,
                format!("cannot expand `{path}`: the host's SFTP server has no expand-path"),
            )),
        }
    }

    /// `stat` (follows symlinks).
    pub async fn stat(&self, path: &str) -> Result<FileAttributes, CopyError> {
        self.raw
            .stat(path)
            .await
            .map(|a| a.attrs)
            .map_err(|e| sftp_error(e, "cannot stat", path))
    }

    /// Creates a directory; an existing directory is fine.
    pub async fn mkdir(&self, path: &str, mode: Option<u32>) -> Result<(), CopyError> {
        let mut attrs = FileAttributes::empty();
        attrs.permissions = mode;
        match self.raw.mkdir(path, attrs).await {
            Ok(_) => Ok(()),
            Err(e) => match self.raw.stat(path).await {
                Ok(a) if kind(&a.attrs) == Kind::Dir => Ok(()),
                Ok(_) => Err(CopyError::new(
                    ErrorKind::Copy,
                    format!("cannot create directory `{path}`: a file of that name exists"),
                )),
                Err(_) => Err(sftp_error(e, "cannot create directory", path)),
            },
        }
    }

    /// `mkdir -p`.
    pub async fn mkdir_all(&self, path: &str) -> Result<(), CopyError> {
        if let Ok(a) = self.raw.stat(path).await
            && kind(&a.attrs) == Kind::Dir
        {
            return Ok(());
        }
        let mut prefix = String::new();
        for (i, part) in path.split('/').enumerate() {
            if i > 0 {
                prefix.push('/');
            }
            prefix.push_str(part);
            if part.is_empty() || part == "." {
                continue;
            }
            self.mkdir(&prefix, None).await?;
        }
        Ok(())
    }

    /// The entries of a directory, `.` and `..` included as the server
    /// sends them; at most [`MAX_DIR_ENTRIES`].
    pub async fn list(&self, path: &str) -> Result<Vec<russh_sftp::protocol::File>, CopyError> {
        let handle = self
            .raw
            .opendir(path)
            .await
            .map_err(|e| sftp_error(e, "cannot open directory", path))?
            .handle;
        let mut out = Vec::new();
        let result = loop {
            match self.raw.readdir(handle.as_str()).await {
                Ok(name) => {
                    out.extend(name.files);
                    if out.len() > MAX_DIR_ENTRIES {
                        break Err(CopyError::new(
                            ErrorKind::TooLarge,
                            format!("directory `{path}` has more than {MAX_DIR_ENTRIES} entries"),
                        ));
                    }
                }
                Err(e) if is_eof(&e) => break Ok(out),
                Err(e) => break Err(sftp_error(e, "cannot list directory", path)),
            }
        };
        let _ = self.raw.close(handle).await;
        result
    }

    /// The target of a symlink.
    pub async fn read_link(&self, path: &str) -> Result<String, CopyError> {
        let name = self
            .raw
            .readlink(path)
            .await
            .map_err(|e| sftp_error(e, "cannot read link", path))?;
        name.files
            .into_iter()
            .next()
            .map(|f| f.filename)
            .ok_or_else(|| {
                CopyError::new(
                    ErrorKind::Copy,
                    format!("empty readlink reply for `{path}`"),
                )
            })
    }

    /// Creates the symlink `link` → `target`.
    pub async fn symlink(&self, link: &str, target: &str) -> Result<(), CopyError> {
        let r = if self.openssh {
            self.raw.symlink(target, link).await
        } else {
            self.raw.symlink(link, target).await
        };
        r.map(|_| ())
            .map_err(|e| sftp_error(e, "cannot create symlink", link))
    }

    /// Removes a file (best effort callers ignore the result).
    pub async fn remove(&self, path: &str) -> Result<(), CopyError> {
        self.raw
            .remove(path)
            .await
            .map(|_| ())
            .map_err(|e| sftp_error(e, "cannot remove", path))
    }

    /// Moves `from` over `to`, replacing it atomically
    /// (`posix-rename@openssh.com`). Without the extension: plain rename,
    /// which refuses an existing target, so the target is removed first
    /// (not atomic; said in the README).
    pub async fn replace(&self, from: &str, to: &str) -> Result<(), CopyError> {
        if self.posix_rename {
            let mut data = Vec::with_capacity(from.len() + to.len() + 8);
            put_string(&mut data, from);
            put_string(&mut data, to);
            return match self.raw.extended("posix-rename@openssh.com", data).await {
                Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
                Ok(Packet::Status(s)) => {
                    Err(sftp_error(SftpError::Status(s), "cannot rename onto", to))
                }
                Ok(_) => Err(sftp_error(
                    SftpError::UnexpectedPacket,
                    "cannot rename onto",
                    to,
                )),
                Err(e) => Err(sftp_error(e, "cannot rename onto", to)),
            };
        }
        let _ = self.raw.remove(to).await;
        self.raw
            .rename(from, to)
            .await
            .map(|_| ())
            .map_err(|e| sftp_error(e, "cannot rename onto", to))
    }

    /// Sets modes and/or times.
    pub async fn set_attrs(&self, path: &str, attrs: FileAttributes) -> Result<(), CopyError> {
        self.raw
            .setstat(path, attrs)
            .await
            .map(|_| ())
            .map_err(|e| sftp_error(e, "cannot set the mode or times of", path))
    }

    /// Opens `path` with `flags` (and the mode to create it with).
    pub async fn open_file(
        &self,
        path: &str,
        flags: OpenFlags,
        mode: Option<u32>,
    ) -> Result<String, CopyError> {
        let mut attrs = FileAttributes::empty();
        attrs.permissions = mode;
        self.raw
            .open(path, flags, attrs)
            .await
            .map(|h| h.handle)
            .map_err(|e| sftp_error(e, "cannot open", path))
    }

    /// Closes a handle; a failure to close a written file is a failed write.
    pub async fn close_handle(&self, handle: String, path: &str) -> Result<(), CopyError> {
        self.raw
            .close(handle)
            .await
            .map(|_| ())
            .map_err(|e| sftp_error(e, "cannot finish writing", path))
    }

    /// Sets attributes on an open handle.
    pub async fn set_handle_attrs(
        &self,
        handle: &str,
        attrs: FileAttributes,
        path: &str,
    ) -> Result<(), CopyError> {
        self.raw
            .fsetstat(handle, attrs)
            .await
            .map(|_| ())
            .map_err(|e| sftp_error(e, "cannot set the mode or times of", path))
    }

    /// One write request (callers keep [`Sftp::depth`] of them going).
    pub fn write<'a>(
        &'a self,
        handle: &'a str,
        offset: u64,
        data: Vec<u8>,
    ) -> BoxFuture<'a, Result<u64, SftpError>> {
        let n = data.len() as u64;
        Box::pin(async move { self.raw.write(handle, offset, data).await.map(|_| n) })
    }

    /// Whether a failed write on a file under `dir` came from a full file
    /// system (OpenSSH reports ENOSPC as a bare `Failure`): asks
    /// `statvfs@openssh.com` how much space is left.
    pub async fn out_of_space(&self, dir: &str, needed: u64) -> bool {
        if !self.statvfs {
            return false;
        }
        match self.raw.statvfs(dir).await {
            Ok(v) => {
                let free = v.blocks_avail.saturating_mul(v.fragment_size.max(1));
                free < needed.max(1) || v.inodes_avail == 0
            }
            Err(_) => false,
        }
    }

    /// A pipelined reader of the open file `handle`.
    pub fn reader<'a>(&'a self, handle: &'a str, path: &'a str) -> Reader<'a> {
        Reader {
            sftp: self,
            handle,
            path,
            next_offset: 0,
            inflight: FuturesOrdered::new(),
            eof: false,
        }
    }
}

type ReadReply = (u64, u32, Result<Vec<u8>, SftpError>);

/// Reads a file from offset 0 with [`Sftp::depth`] requests outstanding;
/// short replies are completed before the next chunk, data beyond what
/// was asked is dropped, and the first end-of-file ends the file.
pub(crate) struct Reader<'a> {
    sftp: &'a Sftp,
    handle: &'a str,
    path: &'a str,
    next_offset: u64,
    inflight: FuturesOrdered<BoxFuture<'a, ReadReply>>,
    eof: bool,
}

impl<'a> Reader<'a> {
    fn request(&self, offset: u64, len: u32) -> BoxFuture<'a, ReadReply> {
        let (raw, handle) = (&self.sftp.raw, self.handle);
        Box::pin(async move {
            let r = raw.read(handle, offset, len).await.map(|d| d.data);
            (offset, len, r)
        })
    }

    /// The next chunk, in order; `None` at the end of the file.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, CopyError> {
        if self.eof {
            return Ok(None);
        }
        let len = self.sftp.io_len;
        while self.inflight.len() < self.sftp.depth {
            let f = self.request(self.next_offset, len);
            self.inflight.push_back(f);
            self.next_offset += u64::from(len);
        }
        let Some((offset, asked, reply)) = self.inflight.next().await else {
            return Ok(None);
        };
        let mut data = match reply {
            Ok(d) if !d.is_empty() => d,
            Ok(_) => return Ok(self.end()),
            Err(e) if is_eof(&e) => return Ok(self.end()),
            Err(e) => return Err(sftp_error(e, "cannot read", self.path)),
        };
        data.truncate(asked as usize);
        // A short reply: ask for the rest of this range before going on.
        while data.len() < asked as usize {
            let at = offset + data.len() as u64;
            let want = asked - data.len() as u32;
            let (_, _, reply) = self.request(at, want).await;
            match reply {
                Ok(d) if !d.is_empty() => {
                    let take = d.len().min(want as usize);
                    data.extend_from_slice(&d[..take]);
                }
                Ok(_) => {
                    self.end();
                    break;
                }
                Err(e) if is_eof(&e) => {
                    self.end();
                    break;
                }
                Err(e) => return Err(sftp_error(e, "cannot read", self.path)),
            }
        }
        Ok(Some(data))
    }

    fn end(&mut self) -> Option<Vec<u8>> {
        self.eof = true;
        self.inflight = FuturesOrdered::new();
        None
    }
}
