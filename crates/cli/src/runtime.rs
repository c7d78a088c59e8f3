//! The tokio runtime every binary builds in `main`.

/// Which runtime to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Everything on the calling thread (`new_current_thread`): the least
    /// CPU per job when one core is enough.
    Current,
    /// A work-stealing pool of this many workers (`None`: one per CPU).
    Workers(Option<usize>),
}

/// Builds the runtime with I/O and timers enabled.
pub fn runtime(threads: Threads) -> std::io::Result<tokio::runtime::Runtime> {
    match threads {
        Threads::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Threads::Workers(workers) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.enable_all();
            if let Some(n) = workers {
                builder.worker_threads(n.max(1));
            }
            builder.build()
        }
    }
}
