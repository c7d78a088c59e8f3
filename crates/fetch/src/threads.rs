//! Fetch threads: `--threads N` spreads the requests over N threads, each
//! with its own single-threaded runtime and its own HTTP client, the way
//! wrk runs one event loop per thread.
//!
//! The run's own thread keeps everything that must be exact or ordered:
//! the input, the pool (concurrency, per-host limit, rate, retries,
//! `--order input`), the records and the summary. Only the attempts move:
//! [`FetchThreads::attempt`] runs one on the run's thread or hands it to
//! the fetch thread with the fewest attempts in flight. An attempt and the
//! connection it uses stay on one thread from start to end (each thread's
//! client has its own connection pool, whose connection tasks run on that
//! thread's runtime), so the only cross-thread traffic is the job going
//! out and its result coming back, over channels that wake the other side
//! only when it is waiting: a busy thread drains them without a system
//! call. (tokio's multi-threaded runtime, by contrast, moves tasks and
//! wakes parked workers on almost every step of a request: it cost more
//! CPU per URL than it saved.)
//!
//! One thread (`--threads 1`) never starts another thread.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use reqwest::Client;
use tokio::sync::{mpsc, oneshot};

use crate::fetcher::{
    ClientOptions, Credentials, FetchFailure, FetchLimits, Fetched, build_client, fetch,
};
use crate::input::Job;
use crate::record::ErrorKind;

/// What every attempt needs, once per thread.
#[derive(Clone)]
struct Fetcher {
    client: Client,
    credentials: Arc<Credentials>,
    limits: FetchLimits,
    connect_timeout: Duration,
}

impl Fetcher {
    /// One attempt at `job`: its URL, and with `--scheme auto` the http
    /// URL when https could not connect.
    async fn attempt(&self, job: &Job, final_attempt: bool) -> Result<Fetched, FetchFailure> {
        let url = match &job.target {
            Ok(url) => url,
            Err(message) => {
                return Err(FetchFailure::Error {
                    kind: ErrorKind::InvalidUrl,
                    message: message.clone(),
                    partial: Fetched::default(),
                    connecting: false,
                });
            }
        };
        let (limits, connect) = (self.limits, self.connect_timeout);
        let tried = fetch(
            &self.client,
            &self.credentials,
            url,
            limits,
            connect,
            final_attempt,
        )
        .await;
        match (tried, &job.fallback) {
            // `--scheme auto`: https could not connect, try http.
            (Err(https), Some(http)) if https.connection_failed() => fetch(
                &self.client,
                &self.credentials,
                http,
                limits,
                connect,
                final_attempt,
            )
            .await
            .map_err(|e| both_failed(&https, e)),
            (tried, _) => tried,
        }
    }
}

/// `--scheme auto` tried https and then http, and http failed too: http's
/// failure, its message naming both when they differ.
fn both_failed(https: &FetchFailure, http: FetchFailure) -> FetchFailure {
    match (https, http) {
        (
            FetchFailure::Error { message: first, .. },
            FetchFailure::Error {
                kind,
                message,
                partial,
                connecting,
            },
        ) if *first != message => FetchFailure::Error {
            kind,
            message: format!("https: {first}; http: {message}"),
            partial,
            connecting,
        },
        (_, http) => http,
    }
}

type Attempted = Result<Fetched, FetchFailure>;

/// What a fetch thread sends back: the attempt's result, or the payload of
/// its panic, raised again on the run's thread so that the pool reports it
/// exactly as a panic there (`Outcome::Panicked`).
type Sent = std::thread::Result<Attempted>;

/// An attempt handed to a fetch thread.
struct Task {
    /// Its key in [`Waiting`].
    id: u64,
    job: Arc<Job>,
    final_attempt: bool,
    /// Closed when the run stops waiting for the attempt (the pool dropped
    /// it: Ctrl-C, a timeout), which stops it on the fetch thread too.
    abandoned: oneshot::Receiver<()>,
}

/// The attempts on fetch threads that the run's thread waits for. The fetch
/// threads send every result into one channel, drained by one task on the
/// run's thread that hands each to its attempt: a burst of results wakes
/// the run's thread once, not once per result.
#[derive(Default)]
struct Waiting {
    next_id: AtomicU64,
    replies: Mutex<HashMap<u64, oneshot::Sender<Sent>>>,
}

impl Waiting {
    fn register(self: &Arc<Self>) -> (u64, oneshot::Receiver<Sent>, Registered) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, result) = oneshot::channel();
        self.lock().insert(id, reply);
        (id, result, Registered(self.clone(), id))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Sent>>> {
        // A poisoned map is still a map: a panic cannot leave it half-updated.
        self.replies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The collector: until every fetch thread has stopped.
    async fn deliver(self: Arc<Self>, mut results: mpsc::UnboundedReceiver<(u64, Sent)>) {
        while let Some((id, result)) = results.recv().await {
            if let Some(reply) = self.lock().remove(&id) {
                let _ = reply.send(result);
            }
        }
    }
}

/// Takes an attempt out of [`Waiting`] when it ends or is dropped.
struct Registered(Arc<Waiting>, u64);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.lock().remove(&self.1);
    }
}

/// A fetch thread, seen from the run's thread.
struct Remote {
    outbox: Arc<Outbox>,
    load: Load,
}

/// Tasks for one fetch thread, gathered on the run's thread and sent in a
/// burst by [`Outbox::forward`], a task of their own: it runs after the
/// tasks already due on the run's thread, so the attempts the pool starts
/// in one turn (one per result that came back) go out together and wake
/// the fetch thread once. Sent one by one as each attempt started, they
/// woke it for most attempts: 5,905 `eventfd` writes for 10,000 attempts
/// on the fetch thread (`strace -f`).
#[derive(Default)]
struct Outbox {
    tasks: Mutex<(Vec<Task>, bool)>,
    ready: tokio::sync::Notify,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<Task>, bool)> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `task`; false once the outbox is closed.
    fn push(&self, task: Task) -> bool {
        let mut tasks = self.lock();
        if tasks.1 {
            return false;
        }
        tasks.0.push(task);
        drop(tasks);
        self.ready.notify_one();
        true
    }

    /// No more tasks: [`Outbox::forward`] ends, and with it the channel.
    fn close(&self) {
        self.lock().1 = true;
        self.ready.notify_one();
    }

    /// Sends the queued tasks to the fetch thread whenever there are some,
    /// until closed. When the fetch thread is gone, the attempts waiting
    /// are told so (their replies are dropped).
    async fn forward(self: Arc<Self>, thread: mpsc::UnboundedSender<Task>, waiting: Arc<Waiting>) {
        loop {
            self.ready.notified().await;
            let (batch, closed) = {
                let mut tasks = self.lock();
                (std::mem::take(&mut tasks.0), tasks.1)
            };
            for task in batch {
                if let Err(mpsc::error::SendError(task)) = thread.send(task) {
                    waiting.lock().remove(&task.id);
                }
            }
            if closed {
                return;
            }
        }
    }
}

/// The run's own fetcher and the fetch threads.
pub struct FetchThreads {
    local: Fetcher,
    local_load: Load,
    remotes: Vec<Remote>,
    waiting: Arc<Waiting>,
}

/// One thread's attempts: in flight now, and started in all.
#[derive(Default)]
struct Load {
    in_flight: Arc<AtomicUsize>,
    started: AtomicU64,
}

impl Load {
    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts an attempt until the guard is dropped (finished, or
    /// abandoned by the pool).
    fn enter(&self) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.in_flight.clone())
    }
}

/// An attempt in flight on one thread.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl FetchThreads {
    /// The run's fetcher plus `threads - 1` fetch threads, each with its
    /// own client built from `opts`.
    pub fn start(
        threads: usize,
        opts: &ClientOptions,
        credentials: Arc<Credentials>,
        limits: FetchLimits,
        connect_timeout: Duration,
    ) -> Result<Self, StartError> {
        let fetcher = |client| Fetcher {
            client,
            credentials: credentials.clone(),
            limits,
            connect_timeout,
        };
        let local = fetcher(build_client(opts).map_err(StartError::Client)?);
        let waiting = Arc::new(Waiting::default());
        let (results, delivered) = mpsc::unbounded_channel();
        let mut remotes = Vec::new();
        for i in 1..threads.max(1) {
            let remote = fetcher(build_client(opts).map_err(StartError::Client)?);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(StartError::Thread)?;
            let (tasks, queue) = mpsc::unbounded_channel();
            std::thread::Builder::new()
                .name(format!("fetch-{i}"))
                .spawn({
                    let results = results.clone();
                    move || serve(runtime, remote, queue, results)
                })
                .map_err(StartError::Thread)?;
            let outbox = Arc::new(Outbox::default());
            tokio::spawn(outbox.clone().forward(tasks, waiting.clone()));
            remotes.push(Remote {
                outbox,
                load: Load::default(),
            });
        }
        drop(results);
        if !remotes.is_empty() {
            tokio::spawn(waiting.clone().deliver(delivered));
        }
        Ok(Self {
            local,
            local_load: Load::default(),
            remotes,
            waiting,
        })
    }

    /// Attempts started on each thread so far, the run's own first.
    pub fn started(&self) -> Vec<u64> {
        std::iter::once(&self.local_load)
            .chain(self.remotes.iter().map(|r| &r.load))
            .map(|l| l.started.load(Ordering::Relaxed))
            .collect()
    }

    /// One attempt at `job`, on the thread with the fewest in flight (a
    /// fetch thread on a tie: the run's thread has the pool and the output
    /// to look after too).
    ///
    /// The future is boxed: unboxed, the pool's task around it was 4.4 KB,
    /// which tokio moved about ten times per URL (spawning it, storing its
    /// output, dropping it), 44 KB of `memmove` per URL (measured with a
    /// uprobe on `memmove`'s length).
    pub fn attempt(
        self: &Arc<Self>,
        job: Arc<Job>,
        final_attempt: bool,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchFailure>> + Send>> {
        let this = self.clone();
        Box::pin(async move {
            let local = this.local_load.in_flight();
            let remote = this
                .remotes
                .iter()
                .min_by_key(|r| r.load.in_flight())
                .filter(|r| r.load.in_flight() <= local);
            let Some(remote) = remote else {
                let _counted = this.local_load.enter();
                return this.local.attempt(&job, final_attempt).await;
            };
            let _counted = remote.load.enter();
            let (id, result, _registered) = this.waiting.register();
            let (_abandon, abandoned) = oneshot::channel();
            let task = Task {
                id,
                job,
                final_attempt,
                abandoned,
            };
            if !remote.outbox.push(task) {
                return Err(thread_stopped());
            }
            match result.await {
                Ok(Ok(result)) => result,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => Err(thread_stopped()),
            }
        })
    }
}

impl Drop for FetchThreads {
    /// Ends the forwarders, so the fetch threads see their channels close
    /// and stop.
    fn drop(&mut self) {
        for remote in &self.remotes {
            remote.outbox.close();
        }
    }
}

fn thread_stopped() -> FetchFailure {
    FetchFailure::Error {
        kind: ErrorKind::Io,
        message: "internal error: a fetch thread stopped".into(),
        partial: Fetched::default(),
        connecting: false,
    }
}

/// A fetch thread's loop: every task runs as its own task on this thread's
/// runtime, and is dropped as soon as the run stops waiting for it. Ends
/// when the run drops its [`FetchThreads`]. (The loop is a task itself, not
/// the `block_on` future: waking that one, even from its own thread, costs
/// a system call.)
fn serve(
    runtime: tokio::runtime::Runtime,
    fetcher: Fetcher,
    mut queue: mpsc::UnboundedReceiver<Task>,
    results: mpsc::UnboundedSender<(u64, Sent)>,
) {
    let fetcher_timeout = fetcher.limits.timeout;
    let dispatch = async move {
        while let Some(task) = queue.recv().await {
            let fetcher = fetcher.clone();
            let results = results.clone();
            tokio::spawn(async move {
                let Task {
                    id,
                    job,
                    final_attempt,
                    abandoned,
                } = task;
                let attempt = AssertUnwindSafe(fetcher.attempt(&job, final_attempt)).catch_unwind();
                tokio::select! {
                    result = attempt => {
                        let _ = results.send((id, result));
                    }
                    _ = abandoned => {}
                }
            });
        }
    };
    let tick = wheel_tick(fetcher_timeout);
    runtime.block_on(async move {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
            }
        });
        let _ = tokio::spawn(dispatch).await;
    });
    // Name lookups still running on the blocking pool are not waited for.
    runtime.shutdown_background();
}

/// The period of a timer that keeps every fetch thread's next planned
/// wake-up earlier than any new attempt's deadline. tokio wakes its I/O
/// driver, with a system call, whenever a timer is set to fire before the
/// driver's next planned wake-up; without this timer that happened for
/// about half of the attempts on a fetch thread (measured with `strace -f`:
/// 5,287 `eventfd` writes for 10,000 attempts; none with it). Half the
/// attempt timeout, at most a second.
fn wheel_tick(timeout: Duration) -> Duration {
    (timeout / 2).clamp(Duration::from_millis(1), Duration::from_secs(1))
}

/// Why the fetch threads could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HTTP client could not be built (bad proxy URL, ...).
    #[error("invalid HTTP client settings: {0}")]
    Client(#[source] reqwest::Error),
    /// A thread or its runtime could not be started.
    #[error("cannot start a fetch thread: {0}")]
    Thread(#[source] std::io::Error),
}
