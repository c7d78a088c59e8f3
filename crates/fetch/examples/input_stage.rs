//! The input stage of fetch-titles alone (read, normalise, shard, dedupe),
//! for measuring its memory on huge lists without fetching anything:
//!
//! ```sh
//! cargo build --release -p netkit-fetch --example input_stage
//! /usr/bin/time -v target/release/examples/input_stage urls.txt [--no-dedupe]
//! ```
//!
//! Prints how many jobs the stage emitted and how many lines it skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use netkit_fetch::Source;
use netkit_fetch::input::{InputFilter, job_stream, open_sources};

/// The allocator of the fetch-titles binary, so the figures are its own.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        anyhow::bail!("usage: input_stage FILE [--no-dedupe]");
    };
    let dedupe = args.next().as_deref() != Some("--no-dedupe");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let sources = open_sources(&[Source::File(path.into())]).await?;
        let skipped = Arc::new(AtomicU64::new(0));
        let filter = InputFilter {
            dedupe,
            skipped: skipped.clone(),
            ..InputFilter::default()
        };
        let mut jobs = job_stream(sources, filter);
        let mut emitted = 0u64;
        while jobs.next().await.is_some() {
            emitted += 1;
        }
        println!(
            "{emitted} jobs, {} skipped (dedupe {})",
            skipped.load(Ordering::Relaxed),
            if dedupe { "on" } else { "off" }
        );
        Ok(())
    })
}
