//! The descriptor budget of a run.
//!
//! `main` raises the soft `RLIMIT_NOFILE` to the hard limit at start
//! ([`netkit_cli::raise_fd_limit`]). A host in flight holds one TCP socket
//! (a host behind a jump holds a channel on the jump's one socket instead,
//! but is counted as one all the same), plus its `--outdir` and `--errdir`
//! files while it runs; each jump host holds one socket for the whole run;
//! [`MARGIN`] covers the rest (stdio, the runtime's epoll and eventfd, the
//! agent, known_hosts and inventory files, the `--failed-hosts` temp file).
//! When `--fanout` hosts cannot fit, [`fit`] lowers the fanout to what does
//! and returns a warning, so a run never fails halfway with EMFILE.

use std::collections::HashSet;

use netkit_cli::FdLimit;

use crate::config::RunConfig;
use crate::select::target::Target;

/// Descriptors kept spare on top of those already open and the hosts'.
pub const MARGIN: u64 = 64;

/// Descriptors one host in flight may hold.
pub fn per_host(cfg: &RunConfig) -> u64 {
    1 + u64::from(cfg.output.outdir.is_some()) + u64::from(cfg.output.errdir.is_some())
}

/// Distinct jump hosts of the run: one connection (socket) each.
fn jump_hosts(cfg: &RunConfig) -> u64 {
    let mut seen = HashSet::new();
    for target in &cfg.targets {
        let mut hop: Option<&Target> = target.jump.as_deref();
        while let Some(jump) = hop {
            seen.insert((jump.name.as_str(), jump.port));
            hop = jump.jump.as_deref();
        }
    }
    seen.len() as u64
}

/// Lowers `cfg.fanout` to the hosts that fit in `limit`; returns the
/// warning to print when it did.
pub fn fit(cfg: &mut RunConfig, limit: &FdLimit) -> Option<String> {
    let want = cfg.fanout.min(cfg.targets.len()).max(1) as u64;
    let per = per_host(cfg);
    let spare = MARGIN + jump_hosts(cfg);
    let room = limit.room(spare) / per;
    if want <= room {
        return None;
    }
    let fits = room.max(1);
    cfg.fanout = usize::try_from(fits).unwrap_or(1);
    let hard = limit
        .hard
        .map_or_else(|| "unlimited".to_owned(), |h| h.to_string());
    Some(format!(
        "--fanout {want} needs {} file descriptors ({per} per host) but this process may open \
         only {} more (RLIMIT_NOFILE soft {} / hard {hard}, {} open, {spare} kept spare): \
         running {fits} hosts at a time; raise the hard limit (ulimit -Hn, limits.conf, \
         systemd LimitNOFILE) to run more at once",
        want * per,
        limit.soft.saturating_sub(limit.open),
        limit.soft,
        limit.open,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(extra: &[&str]) -> RunConfig {
        let mut argv = vec![
            "ssh-fanout",
            "-F",
            "none",
            "-w",
            "h[1-100].invalid",
            "-f",
            "256",
        ];
        argv.extend_from_slice(extra);
        argv.push("true");
        RunConfig::from_args(&crate::Args::parse_from(argv)).unwrap()
    }

    fn limit(soft: u64) -> FdLimit {
        FdLimit {
            was: soft,
            soft,
            hard: Some(soft),
            open: 10,
        }
    }

    #[test]
    fn a_fanout_that_fits_is_kept() {
        let mut cfg = config(&[]);
        assert_eq!(fit(&mut cfg, &limit(20_000)), None);
        assert_eq!(cfg.fanout, 256);
    }

    #[test]
    fn a_fanout_that_does_not_fit_is_lowered_with_a_warning() {
        let mut cfg = config(&[]);
        let warning = fit(&mut cfg, &limit(100)).unwrap();
        // 100 soft - 10 open - 64 spare = 26 sockets.
        assert_eq!(cfg.fanout, 26);
        assert!(
            warning.starts_with("--fanout 100 needs 100 file descriptors (1 per host)"),
            "only 100 hosts are selected: {warning}"
        );
        assert!(warning.contains("running 26 hosts at a time"), "{warning}");
        assert!(warning.contains("soft 100 / hard 100"), "{warning}");
    }

    #[test]
    fn output_files_count_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let err = dir.path().join("err");
        let mut cfg = config(&[
            "--outdir",
            out.to_str().unwrap(),
            "--errdir",
            err.to_str().unwrap(),
        ]);
        assert_eq!(per_host(&cfg), 3);
        fit(&mut cfg, &limit(100)).unwrap();
        assert_eq!(cfg.fanout, 8);
        // Even with no room at all, one host at a time still runs.
        let mut cfg = config(&[]);
        fit(&mut cfg, &limit(50)).unwrap();
        assert_eq!(cfg.fanout, 1);
    }
}
