//! A hidden prompt on the controlling terminal that never leaves the
//! terminal without echo.
//!
//! [`read_hidden`] opens `/dev/tty`, writes the prompt, turns `ECHO` off
//! through termios (rustix's safe `tcgetattr`/`tcsetattr`; no `stty` child
//! process), keeps `ECHONL` so Enter still moves to the next line, and
//! reads one line. The saved settings are put back when the line is read or
//! the read fails, and they are also kept in one process-wide slot, so
//! [`restore_terminal`] can put them back from anywhere: the signal helper
//! calls it before a second signal exits the process, and [`ask_hidden`]
//! calls it when the run is cancelled while the user is typing (the first
//! Ctrl-C), as OpenSSH's `readpassphrase` restores the terminal before it
//! dies of the signal.

use std::io::{BufRead, Write};
use std::sync::{Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// The terminal settings to put back, while a prompt has echo off.
#[cfg(unix)]
static SAVED: Mutex<Option<(std::fs::File, rustix::termios::Termios)>> = Mutex::new(None);

/// Puts back the terminal settings of a prompt that has echo off, if any.
/// Safe to call at any time, more than once.
pub fn restore_terminal() {
    #[cfg(unix)]
    {
        let saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((tty, termios)) = saved {
            let _ =
                rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Now, &termios);
        }
    }
}

/// Puts the settings back when the read ends, however it ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Writes `prompt` to the controlling terminal and reads one line from it
/// with echo off. Blocks; see [`ask_hidden`] from async code. The error is
/// a message (`no terminal: …`).
pub fn read_hidden(prompt: &str) -> Result<String, String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| format!("no terminal: {e}"))?;
    let mut out = &tty;
    out.write_all(prompt.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to the terminal: {e}"))?;
    let restore = echo_off(&tty)?;
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    drop(restore);
    read.map_err(|e| format!("cannot read from the terminal: {e}"))?;
    if line.is_empty() {
        return Err("no input: the terminal was closed (end of file)".to_owned());
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(unix)]
fn echo_off(tty: &std::fs::File) -> Result<Restore, String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let original = tcgetattr(tty).map_err(|e| format!("not a terminal: {e}"))?;
    let saved = tty
        .try_clone()
        .map_err(|e| format!("cannot keep the terminal open: {e}"))?;
    let mut quiet = original.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    *SAVED.lock().unwrap_or_else(PoisonError::into_inner) = Some((saved, original));
    let restore = Restore;
    tcsetattr(tty, OptionalActions::Flush, &quiet)
        .map_err(|e| format!("cannot turn echo off: {e}"))?;
    Ok(restore)
}

#[cfg(not(unix))]
fn echo_off(_tty: &std::fs::File) -> Result<Restore, String> {
    Err("hidden prompts need a Unix terminal".to_owned())
}

/// [`read_hidden`] on its own thread, given up when `cancel` fires (the
/// first Ctrl-C): the terminal is restored at once and the error says the
/// prompt was interrupted. The thread is not joined, so a process that
/// ends does not wait for a line that will never come.
pub async fn ask_hidden(prompt: String, cancel: &CancellationToken) -> Result<String, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("prompt".to_owned())
        .spawn(move || {
            let _ = tx.send(read_hidden(&prompt));
        })
        .map_err(|e| format!("cannot start the prompt: {e}"))?;
    tokio::select! {
        answer = rx => answer.unwrap_or_else(|_| Err("the prompt ended without an answer".to_owned())),
        () = cancel.cancelled() => {
            restore_terminal();
            if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
                let _ = tty.write_all(b"\n");
            }
            Err("interrupted".to_owned())
        }
    }
}
