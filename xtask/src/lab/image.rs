//! `cargo xtask lab image`: builds `netkit-lab-host` from
//! `tests/hosts/Dockerfile`. When the base `debian:bookworm-slim` is not
//! present and cannot be pulled (no registry reachable, air-gapped), the base
//! is created locally: `debootstrap --variant=minbase bookworm` from the
//! Debian mirror configured in this machine's apt sources (never a
//! hard-coded host), then `docker import`. An existing base image is reused.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{BASE_IMAGE, IMAGE, docker, files, proc};
use crate::{provision, shell};

/// Makes sure the base image exists, then builds the host image.
pub fn build() -> anyhow::Result<()> {
    let start = Instant::now();
    ensure_base()?;
    proc::quiet(
        &format!("docker build -t {IMAGE} tests/hosts"),
        // --network host: apt-get in the build reaches the mirror the host
        // itself uses (works air-gapped with a local mirror too).
        Command::new("docker")
            .args(["build", "--network", "host", "-t", IMAGE])
            .arg(shell::root().join("tests/hosts")),
        Duration::from_secs(600),
    )?;
    println!("lab: image {IMAGE} ready ({})", proc::secs(start));
    Ok(())
}

/// `debian:bookworm-slim`: present, pulled, or created offline.
pub fn ensure_base() -> anyhow::Result<()> {
    if docker::image_exists(BASE_IMAGE) {
        println!("lab: base image {BASE_IMAGE} is present");
        return Ok(());
    }
    println!("lab: pulling {BASE_IMAGE} (at most 120 s) ...");
    let start = Instant::now();
    match proc::output(
        Command::new("docker").args(["pull", BASE_IMAGE]),
        Duration::from_secs(120),
    ) {
        Ok(out) if out.status.success() => {
            println!("lab: pulled {BASE_IMAGE} ({})", proc::secs(start));
            return Ok(());
        }
        Ok(out) => println!(
            "lab: cannot pull {BASE_IMAGE} ({}): {}",
            proc::secs(start),
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("failed")
        ),
        Err(e) => println!("lab: cannot pull {BASE_IMAGE}: {e:#}"),
    }
    proc::check_interrupt()?;
    create_base_offline()
}

/// debootstrap + docker import.
fn create_base_offline() -> anyhow::Result<()> {
    provision::ensure_packages(&[("debootstrap", "debootstrap")])?;
    if !shell::is_root() {
        bail!(
            "creating {BASE_IMAGE} with debootstrap needs root (run `sudo cargo xtask lab image`)"
        );
    }
    let mirror = mirror_from_apt()?;
    let work = files::dir().join("image");
    let rootfs = work.join("rootfs");
    let _ = std::fs::remove_dir_all(&work);
    files::mkdir(&work, 0o755)?;
    let log = work.join("debootstrap.log");
    println!(
        "lab: creating {BASE_IMAGE} offline: debootstrap --variant=minbase bookworm from {mirror} \
         (usually 1-3 minutes; log: {})",
        log.display()
    );
    let result = (|| {
        let file = std::fs::File::create(&log)?;
        proc::run(
            "debootstrap --variant=minbase bookworm",
            Command::new("debootstrap")
                .args(["--variant=minbase", "bookworm"])
                .arg(&rootfs)
                .arg(&mirror)
                .stdin(Stdio::null())
                .stdout(file.try_clone()?)
                .stderr(file),
            Duration::from_secs(900),
        )
        .with_context(|| {
            format!(
                "debootstrap failed; last lines of {}:\n{}",
                log.display(),
                proc::tail(&log, 15)
            )
        })?;
        // What the official slim image leaves out: the .deb cache and lists.
        for sub in ["var/cache/apt/archives", "var/lib/apt/lists"] {
            clear_files(&rootfs.join(sub));
        }
        proc::quiet(
            &format!("tar -C rootfs -c . | docker import - {BASE_IMAGE}"),
            Command::new("sh").arg("-c").arg(format!(
                "tar -C '{}' -c . | docker import --change 'CMD [\"bash\"]' - {BASE_IMAGE}",
                rootfs.display()
            )),
            Duration::from_secs(300),
        )
    })();
    let _ = std::fs::remove_dir_all(&rootfs);
    result
}

fn clear_files(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The Debian mirror of this machine: the first `deb` source for a Debian
/// suite (not `-security`) in /etc/apt/sources.list, `*.list` and deb822
/// `*.sources` under /etc/apt/sources.list.d. `NETKIT_LAB_MIRROR` overrides.
pub fn mirror_from_apt() -> anyhow::Result<String> {
    if let Ok(mirror) = std::env::var("NETKIT_LAB_MIRROR")
        && !mirror.trim().is_empty()
    {
        return Ok(mirror.trim().to_owned());
    }
    let mut texts: Vec<(bool, String)> = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push((false, text));
    }
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let deb822 = match path.extension().and_then(|e| e.to_str()) {
                Some("list") => false,
                Some("sources") => true,
                _ => continue,
            };
            if let Ok(text) = std::fs::read_to_string(&path) {
                texts.push((deb822, text));
            }
        }
    }
    texts
        .iter()
        .find_map(|(deb822, text)| if *deb822 { mirror_deb822(text) } else { mirror_one_line(text) })
        .context(
            "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources}; \
             set NETKIT_LAB_MIRROR=http://your.mirror/debian",
        )
}

const DEBIAN_SUITES: &[&str] = &[
    "bookworm",
    "bookworm-updates",
    "trixie",
    "trixie-updates",
    "bullseye",
    "bullseye-updates",
    "stable",
    "oldstable",
    "testing",
    "unstable",
    "sid",
];

fn debian_suite(suite: &str) -> bool {
    DEBIAN_SUITES.contains(&suite)
}

/// One-line format: `deb [options] URI SUITE COMPONENTS...`.
fn mirror_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let rest = line.strip_prefix("deb ")?.trim_start();
        let rest = match rest.strip_prefix('[') {
            Some(opts) => opts.split_once(']')?.1.trim_start(),
            None => rest,
        };
        let mut words = rest.split_whitespace();
        let (uri, suite) = (words.next()?, words.next()?);
        debian_suite(suite).then(|| uri.to_owned())
    })
}

/// deb822 format: paragraphs with `Types:`, `URIs:`, `Suites:`, `Enabled:`.
fn mirror_deb822(text: &str) -> Option<String> {
    let mut paragraphs: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            paragraphs.push(Vec::new());
        } else if line.starts_with('#') || line.starts_with(' ') || line.starts_with('\t') {
            continue;
        } else if let Some((key, value)) = line.split_once(':')
            && let Some(p) = paragraphs.last_mut()
        {
            p.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    paragraphs.iter().find_map(|p| {
        let get = |k: &str| p.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let enabled = get("enabled").is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        let deb = get("types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let suite = get("suites").is_some_and(|s| s.split_whitespace().any(debian_suite));
        if enabled && deb && suite {
            get("uris")?.split_whitespace().next().map(str::to_owned)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sources_skip_security_comments_and_options() {
        let text = "# deb http://old.example/debian bookworm main\n\
                    deb http://security.example/debian-security bookworm-security main\n\
                    deb-src http://src.example/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n";
        assert_eq!(
            mirror_one_line(text).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_one_line("deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"),
            None
        );
    }

    #[test]
    fn deb822_sources_pick_the_enabled_debian_paragraph() {
        let text = "Types: deb\n# http://snapshot.example\nURIs: http://disabled.example/debian\nSuites: bookworm\n\
                    Enabled: no\n\n\
                    Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n\
                    Types: deb deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\n";
        assert_eq!(
            mirror_deb822(text).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_deb822(
                "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n"
            ),
            None
        );
    }
}
