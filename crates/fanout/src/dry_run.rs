//! `--dry-run`: every selected host's resolution ([`RunConfig::dry_run`]),
//! printed on stdout; nothing is connected to. Exit 0, or 2 when the
//! selection or a config is refused.

use std::io::Write;

use crate::{Args, Exit, RunConfig};

/// `--dry-run`: print every selected host's resolution, connect to none.
pub fn print(args: &Args) -> Exit {
    match RunConfig::dry_run(args) {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(report.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => Exit::Success,
                Err(e) if netkit_cli::exit::is_closed_pipe(&e) => Exit::Success,
                Err(e) => {
                    eprintln!("ssh-fanout: writing output: {e}");
                    Exit::Usage
                }
            }
        }
        Err(e) => {
            eprintln!("ssh-fanout: {e}");
            Exit::Usage
        }
    }
}
