//! `cargo xtask bench NAME`: side-by-side benchmarks. They are measurements,
//! not tests, and are never run by `cargo xtask test`.

mod copy;
mod echo;
mod fanout;
mod fanout_scale;
mod fetch;
mod fetch_input;
mod pool;

use anyhow::bail;

pub(crate) use fanout::arg;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("pool") => pool::run(rest),
        Some("echo") => echo::run(rest),
        Some("fetch") => fetch::run(rest),
        Some("fetch-input") => fetch_input::run(rest),
        Some("fanout") => fanout::run(rest),
        Some("copy") => copy::run(rest),
        _ => bail!("usage: cargo xtask bench pool|echo|fetch|fetch-input|fanout|copy [ARGS...]"),
    }
}
