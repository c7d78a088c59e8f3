//! `cargo xtask image`: the netkit image `netkit:VERSION` and
//! `netkit:latest` from `deploy/image/Dockerfile`, offline, the way the
//! lab's host image is built: the build stage is the lab's
//! `debian:bookworm-slim` (pulled, or created once with debootstrap from this
//! machine's apt mirror, see [`super::image::ensure_base`]), and the final
//! stage is `scratch` with the stripped binaries, their man pages, CA
//! certificates, the shared libraries they link, dash as `/bin/sh` and a
//! non-root user (uid 10001).
//!
//! `cargo xtask test` builds the same Dockerfile from the debug binaries it
//! has just tested, tagged `netkit:test`, so CI compiles nothing twice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{docker, image, proc};
use crate::{dist, provision, shell};

/// The image's name.
pub const NAME: &str = "netkit";
/// The tag `cargo xtask test` builds from its debug binaries.
pub const TEST_TAG: &str = "netkit:test";

/// Which binaries go in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `cargo build --release`, tagged `netkit:VERSION` and `netkit:latest`.
    Release,
    /// The `target/debug` binaries that `cargo test` built, tagged
    /// [`TEST_TAG`].
    Debug,
}

/// `cargo xtask image`: builds the release binaries and the image, then
/// prints its size.
pub fn run() -> anyhow::Result<()> {
    super::catch_interrupts();
    docker::engine().map_err(|why| anyhow::anyhow!("cargo xtask image: {why}"))?;
    dist::build_binaries(true)?;
    let tags = build(Profile::Release)?;
    let size = size_bytes(&tags[0])?;
    println!(
        "image: {} ({:.1} MB; `docker image inspect -f '{{{{.Size}}}}' {}`)",
        tags.join(", "),
        size as f64 / 1e6,
        tags[0]
    );
    Ok(())
}

/// Lays out the context and builds the image from the `profile`'s binaries
/// (already built); returns its tags.
pub fn build(profile: Profile) -> anyhow::Result<Vec<String>> {
    let start = Instant::now();
    let version = env!("CARGO_PKG_VERSION");
    let tags = match profile {
        Profile::Release => vec![format!("{NAME}:{version}"), format!("{NAME}:latest")],
        Profile::Debug => vec![TEST_TAG.to_owned()],
    };
    let bin_dir = shell::target_dir().join(match profile {
        Profile::Release => "release",
        Profile::Debug => "debug",
    });
    let context = shell::target_dir().join("image-context");
    provision::ensure_packages(&[("strip", "binutils")])?;
    lay_out_context(&context, &bin_dir)?;
    image::ensure_base()?;
    let mut command = Command::new("docker");
    // --network host: apt-get in the build stage reaches the host's mirror.
    command.args(["build", "--network", "host"]);
    for tag in &tags {
        command.args(["-t", tag]);
    }
    command
        .args([
            "--label",
            &format!("org.opencontainers.image.version={version}"),
        ])
        .arg(&context);
    proc::quiet(
        &format!("docker build -t {} deploy/image", tags.join(" -t ")),
        &mut command,
        Duration::from_secs(600),
    )?;
    println!("image: {} ready ({})", tags.join(", "), proc::secs(start));
    Ok(tags)
}

/// The image's size as `docker image inspect` reports it (uncompressed).
pub fn size_bytes(tag: &str) -> anyhow::Result<u64> {
    let out = proc::output(
        Command::new("docker").args(["image", "inspect", "-f", "{{.Size}}", tag]),
        Duration::from_secs(20),
    )?;
    if !out.status.success() {
        bail!("docker image inspect {tag} failed");
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .with_context(|| format!("docker image inspect {tag}: not a size"))
}

/// `context/`: Dockerfile and etc/ from deploy/image, bin/ with stripped
/// copies of the binaries in `bin_dir`, share/ with man pages and
/// completions.
fn lay_out_context(context: &Path, bin_dir: &Path) -> anyhow::Result<()> {
    if context.exists() {
        std::fs::remove_dir_all(context)
            .with_context(|| format!("removing the old {}", context.display()))?;
    }
    let source = shell::root().join("deploy/image");
    std::fs::create_dir_all(context.join("bin"))?;
    std::fs::create_dir_all(context.join("etc"))?;
    std::fs::copy(source.join("Dockerfile"), context.join("Dockerfile"))
        .context("copying deploy/image/Dockerfile")?;
    for name in ["passwd", "group", "nsswitch.conf"] {
        std::fs::copy(
            source.join("etc").join(name),
            context.join("etc").join(name),
        )
        .with_context(|| format!("copying deploy/image/etc/{name}"))?;
    }
    let commands = dist::commands();
    for cmd in &commands {
        let built = bin_dir.join(cmd.get_name());
        if !built.is_file() {
            bail!(
                "{} is missing: build the binaries first (cargo build{} --bins)",
                built.display(),
                if bin_dir.ends_with("release") {
                    " --release"
                } else {
                    ""
                }
            );
        }
        let copy: PathBuf = context.join("bin").join(cmd.get_name());
        // Debug info stays in target/; the image gets symbols only.
        proc::quiet(
            &format!("strip --strip-debug {}", cmd.get_name()),
            Command::new("strip")
                .args(["--strip-debug", "-o"])
                .arg(&copy)
                .arg(&built),
            Duration::from_secs(60),
        )?;
    }
    dist::write_docs(context, &commands)?;
    Ok(())
}
