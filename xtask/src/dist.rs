//! `cargo xtask dist`: what a release ships, in one directory.
//!
//! `target/dist/netkit-VERSION-ARCH-linux/` gets:
//! - `bin/`: the four release binaries (`cargo build --release --locked`),
//!   stripped;
//! - `share/bash-completion/completions/NAME`, `share/zsh/site-functions/_NAME`
//!   and `share/fish/vendor_completions.d/NAME.fish`: shell completions
//!   from each binary's clap command (clap_complete);
//! - `share/man/man1/NAME.1` (and `echo-client-bench.1` for the
//!   subcommand): man pages from the same commands (clap_mangen), so flags,
//!   help and pages never disagree;
//! - `SHA256SUMS`: one `sha256sum -c`-compatible line per file.
//!
//! The layout is the FHS one under a prefix, so
//! `cp -r target/dist/netkit-*/{bin,share} ~/.local/` installs everything.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;
use sha2::{Digest, Sha256};

use crate::shell;

/// Each binary's name and clap command.
pub fn commands() -> Vec<clap::Command> {
    vec![
        netkit_fanout::Args::command(),
        netkit_fetch::cli::Args::command(),
        netkit_echo::cli::server::ServerArgs::command(),
        netkit_echo::cli::client::Cli::command(),
    ]
}

/// Where a completion script for `shell` goes, relative to the prefix.
fn completion_path(shell: Shell, name: &str) -> PathBuf {
    match shell {
        Shell::Bash => Path::new("share/bash-completion/completions").join(name),
        Shell::Zsh => Path::new("share/zsh/site-functions").join(format!("_{name}")),
        Shell::Fish => Path::new("share/fish/vendor_completions.d").join(format!("{name}.fish")),
        other => Path::new("share/completions").join(format!("{name}.{other}")),
    }
}

/// The completion script of `cmd` for `shell`.
pub fn completion(cmd: &clap::Command, shell: Shell) -> Vec<u8> {
    let mut cmd = cmd.clone();
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out
}

/// The man pages of `cmd`: `NAME.1`, then `NAME-SUB.1` for each subcommand.
pub fn man_pages(cmd: &clap::Command) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = cmd.clone();
    cmd.build();
    let name = cmd.get_name().to_owned();
    let mut pages = Vec::new();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    pages.push((format!("{name}.1"), page));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let full = format!("{name}-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(full.clone())
            .version(cmd.get_version().unwrap_or_default().to_owned());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).render(&mut page)?;
        pages.push((format!("{full}.1"), page));
    }
    Ok(pages)
}

/// Writes every completion and man page of `commands` under `prefix`;
/// returns the files written, relative to `prefix`.
pub fn write_docs(prefix: &Path, commands: &[clap::Command]) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut put = |relative: PathBuf, bytes: &[u8]| -> anyhow::Result<()> {
        let path = prefix.join(&relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        written.push(relative);
        Ok(())
    };
    for cmd in commands {
        let name = cmd.get_name().to_owned();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            put(completion_path(shell, &name), &completion(cmd, shell))?;
        }
        for (file, page) in man_pages(cmd)? {
            put(Path::new("share/man/man1").join(file), &page)?;
        }
    }
    Ok(written)
}

/// `sha256sum`'s format: hex digest, two spaces, the path.
fn sha256_line(prefix: &Path, relative: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(prefix.join(relative))
        .with_context(|| format!("reading {}", relative.display()))?;
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{hex}  {}\n", relative.display()))
}

/// Builds the four binaries (`release`: `--release --locked`), as dist,
/// the image and the sharded-run check all need them.
pub fn build_binaries(release: bool) -> anyhow::Result<()> {
    let mut args = vec!["build"];
    if release {
        args.extend(["--release", "--locked"]);
    }
    args.extend([
        "--bins",
        "-p",
        "netkit-echo",
        "-p",
        "netkit-fetch",
        "-p",
        "netkit-fanout",
    ]);
    let name = if release {
        "build the release binaries"
    } else {
        "build the debug binaries"
    };
    shell::step(name, &args)
}

pub fn run() -> anyhow::Result<()> {
    build_binaries(true)?;
    let root = shell::root();
    let version = env!("CARGO_PKG_VERSION");
    let prefix = root
        .join("target/dist")
        .join(format!("netkit-{version}-{}-linux", std::env::consts::ARCH));
    if prefix.exists() {
        std::fs::remove_dir_all(&prefix)
            .with_context(|| format!("removing the old {}", prefix.display()))?;
    }
    let commands = commands();
    let mut files = Vec::new();
    std::fs::create_dir_all(prefix.join("bin"))?;
    for cmd in &commands {
        let relative = Path::new("bin").join(cmd.get_name());
        let built = root.join("target/release").join(cmd.get_name());
        std::fs::copy(&built, prefix.join(&relative))
            .with_context(|| format!("copying {}", built.display()))?;
        // The release profile keeps line tables for profiling (debug = 1);
        // what ships is stripped (ssh-fanout: 61 MB -> 7.4 MB).
        shell::run(
            &format!("strip {}", relative.display()),
            std::process::Command::new("strip").arg(prefix.join(&relative)),
        )?;
        files.push(relative);
    }
    files.extend(write_docs(&prefix, &commands)?);
    let mut sums = String::new();
    for relative in &files {
        sums.push_str(&sha256_line(&prefix, relative)?);
    }
    std::fs::write(prefix.join("SHA256SUMS"), sums)?;
    println!("{}", prefix.display());
    for relative in &files {
        println!("  {}", relative.display());
    }
    println!(
        "  SHA256SUMS (check with: cd {} && sha256sum -c SHA256SUMS)",
        prefix.display()
    );
    println!(
        "install: cp -r {}/bin {}/share ~/.local/",
        prefix.display(),
        prefix.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn every_binary_has_completions_and_man_pages() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_docs(dir.path(), &commands()).unwrap();
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        for bin in ["ssh-fanout", "fetch-titles", "echo-server", "echo-client"] {
            assert!(names.contains(&format!("share/bash-completion/completions/{bin}")));
            assert!(names.contains(&format!("share/zsh/site-functions/_{bin}")));
            assert!(names.contains(&format!("share/fish/vendor_completions.d/{bin}.fish")));
            assert!(names.contains(&format!("share/man/man1/{bin}.1")));
        }
        assert!(names.contains(&"share/man/man1/echo-client-bench.1".to_owned()));
    }

    /// bash sources each script; `complete -p NAME` then names the function
    /// it registered, and calling that function as bash would for
    /// `NAME --PREFIX<TAB>` offers the flag.
    #[test]
    fn bash_completions_load_and_complete_a_flag() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("ssh-fanout", "--fano", "--fanout"),
            ("fetch-titles", "--max-b", "--max-body"),
            ("echo-server", "--lis", "--listen"),
            ("echo-client", "--time", "--timeout"),
        ];
        let commands = commands();
        for (name, prefix, flag) in cases {
            let cmd = commands.iter().find(|c| c.get_name() == name).unwrap();
            let script = dir.path().join(name);
            std::fs::write(&script, completion(cmd, Shell::Bash)).unwrap();
            let probe = format!(
                "source '{}' || exit 1\n\
                 spec=$(complete -p {name}) || exit 1\n\
                 fn=${{spec#*-F }}; fn=${{fn%% *}}\n\
                 COMP_WORDS=({name} {prefix}); COMP_CWORD=1; COMP_LINE='{name} {prefix}'; COMP_POINT=${{#COMP_LINE}}\n\
                 \"$fn\" {name} {prefix} {name}\n\
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
                script.display()
            );
            let out = Command::new("bash")
                .args(["--norc", "--noprofile", "-c", &probe])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                stdout.lines().any(|l| l == flag),
                "{name} {prefix}<TAB> should offer {flag}: {stdout:?}"
            );
        }
    }

    /// `man -l` renders every page, and the page shows a flag of the tool.
    #[test]
    fn man_pages_render() {
        let dir = tempfile::tempdir().unwrap();
        let expect = [
            ("ssh-fanout", "--fanout"),
            ("fetch-titles", "--max-body"),
            ("echo-server", "--listen"),
            ("echo-client", "--timeout"),
        ];
        let commands = commands();
        for (name, flag) in expect {
            let cmd = commands.iter().find(|c| c.get_name() == name).unwrap();
            let (file, page) = man_pages(cmd).unwrap().remove(0);
            let path = dir.path().join(file);
            std::fs::write(&path, page).unwrap();
            let out = Command::new("man")
                .arg("-l")
                .arg(&path)
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "100")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // man may embolden with backspaces when not on a terminal.
            let plain = strip_overstrike(&text);
            assert!(plain.contains("NAME"), "{name}: {plain}");
            assert!(plain.contains(name), "{name}: {plain}");
            assert!(plain.contains(flag), "{name} page lacks {flag}: {plain}");
        }
    }

    /// Removes `X\bX` overstrike (bold) and `_\bX` (underline) pairs.
    fn strip_overstrike(text: &str) -> String {
        let mut out: Vec<char> = Vec::new();
        for c in text.chars() {
            if c == '\u{8}' {
                out.pop();
                continue;
            }
            out.push(c);
        }
        out.into_iter().collect()
    }

    #[test]
    fn sha256_lines_match_sha256sum() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"netkit\n").unwrap();
        let line = sha256_line(dir.path(), Path::new("f")).unwrap();
        let out = Command::new("sha256sum")
            .arg("f")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(line, String::from_utf8_lossy(&out.stdout));
    }
}
