//! The fanout part of `cargo xtask demo`: the lab (`cargo xtask lab up`:
//! containers when Docker is ready, else eight local sshd) and three runs of
//! `ssh-fanout` against `hosts.toml`'s group `lab`: streaming `uptime`,
//! `-b` gather over `cat /etc/os-release`, and `--json` over
//! `exit $((NETKIT_NODENUM % 3))` (exit code 1 expected). The lab is taken
//! down afterwards, also on failure and on Ctrl-C (unless it was already up
//! before the demo).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::shell;

use crate::lab;

/// Runs this tool's demo with the release binaries in `bin_dir`.
pub fn run(bin_dir: &Path) -> anyhow::Result<()> {
    println!("ssh-fanout runs commands on many hosts over SSH. First, eight test hosts:");
    println!("$ cargo xtask lab up");
    let running = lab::up_for_demo()?;
    let guard = TakeDown(Some(running.clone()));
    let result = tour(bin_dir, &running);
    drop(guard);
    if lab::interrupted() {
        bail!("interrupted");
    }
    result
}

fn tour(bin_dir: &Path, running: &lab::Running) -> anyhow::Result<()> {
    let bin = bin_dir.join("ssh-fanout");
    let default_inventory = shell::root().join("hosts.toml");
    let inventory: Vec<String> = if running.inventory == default_inventory {
        Vec::new()
    } else {
        vec!["-i".into(), running.inventory.display().to_string()]
    };
    println!(
        "\nThe inventory {} names them host0..host7 (127.0.0.1:2200-2207, user {}, group `lab`).",
        running
            .inventory
            .strip_prefix(shell::root())
            .unwrap_or(&running.inventory)
            .display(),
        running.user
    );
    let steps: [(&str, &[&str], i32); 3] = [
        (
            "1. Streaming: each line as soon as it is complete, prefixed with its host",
            &["-g", "lab", "uptime"],
            0,
        ),
        (
            "2. -b gathers identical outputs; hosts are folded into ranges",
            &["-g", "lab", "-b", "cat /etc/os-release"],
            0,
        ),
        (
            "3. --json: output records, then one result per host with its exit code; the summary goes to\n   \
             stderr, and the exit code is 1 because some remote commands failed",
            &["-g", "lab", "--json", "exit $((NETKIT_NODENUM % 3))"],
            1,
        ),
    ];
    for (what, args, want) in steps {
        println!("\n{what}:");
        let shown: Vec<String> = inventory
            .iter()
            .cloned()
            .chain(args.iter().map(|a| {
                if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    (*a).to_owned()
                }
            }))
            .collect();
        println!("$ ssh-fanout {}", shown.join(" "));
        let status = lab_status(
            Command::new(&bin)
                .args(&inventory)
                .args(args)
                .current_dir(shell::root()),
        )
        .with_context(|| format!("running {}", bin.display()))?;
        if lab::interrupted() {
            bail!("interrupted");
        }
        let code = status.code().unwrap_or(-1);
        println!("(exit code {code})");
        if code != want {
            bail!("ssh-fanout exited with {code}, expected {want}");
        }
    }
    println!("\nThe lab stays available with `cargo xtask lab up`; see the README's Lab section.");
    Ok(())
}

fn lab_status(command: &mut Command) -> anyhow::Result<std::process::ExitStatus> {
    lab::run_bounded(command, Duration::from_secs(120))
}

/// Takes the lab down when the demo ends, however it ends.
struct TakeDown(Option<lab::Running>);

impl Drop for TakeDown {
    fn drop(&mut self) {
        if let Some(running) = self.0.take()
            && running.started_here
        {
            println!("\n$ cargo xtask lab down");
            if let Err(e) = lab::down_after_demo(&running) {
                eprintln!("demo: could not take the lab down: {e:#} (try `cargo xtask lab down`)");
            }
        }
    }
}
