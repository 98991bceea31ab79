//! Thread-per-core workers: N threads, each running a single-threaded tokio runtime.
//!
//! A proxied request wakes two tasks: the client connection and the pooled upstream
//! connection. On a work-stealing runtime they often sit on different threads, and
//! every request then pays cross-thread wake-ups (futex, IPI, context switches) —
//! measured at about 40% of scopegate's CPU per request on 2 cores. Here an accepted
//! connection is handed to one worker and everything it causes stays on that thread:
//! each worker has its own upstream and introspection connection pools
//! ([`PerWorker`]), as in NGINX's and pingora's worker model.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::sync::mpsc;

/// How many workers this process runs (set once at start; 1 until then).
static COUNT: OnceLock<usize> = OnceLock::new();

thread_local! {
    /// This thread's worker index, if it is a worker.
    static INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The number of workers (1 before [`Pool::start`]).
pub(crate) fn count() -> usize {
    COUNT.get().copied().unwrap_or(1)
}

/// The slot of the calling thread: its worker index, or `count()` for any other thread
/// (the control runtime, tests).
fn slot() -> usize {
    INDEX.with(Cell::get).unwrap_or_else(count)
}

/// One value per worker plus one for every other thread; `get` returns the caller's.
#[derive(Debug)]
pub(crate) struct PerWorker<T> {
    values: Box<[T]>,
}

impl<T> PerWorker<T> {
    pub(crate) fn new(mut make: impl FnMut() -> T) -> Self {
        Self {
            values: (0..=count()).map(|_| make()).collect(),
        }
    }

    pub(crate) fn get(&self) -> &T {
        let values = &self.values;
        // `count()` only grows from 1 once, before any PerWorker is built for serving;
        // the modulo keeps an early-built value safe anyway.
        &values[slot() % values.len()]
    }
}

/// A job for a worker: a future to run on its runtime.
type Job = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// The worker threads and a round-robin dispatcher.
#[derive(Debug)]
pub(crate) struct Pool {
    senders: Vec<mpsc::UnboundedSender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: AtomicUsize,
}

impl Pool {
    /// Starts `n` workers (`None`: one per available CPU). Must be called once, before
    /// serving state is built, so per-worker pools get one slot per worker.
    pub(crate) fn start(n: Option<usize>) -> std::io::Result<Pool> {
        let n = n
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1)
            .max(1);
        let n = *COUNT.get_or_init(|| n);
        let mut senders = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for index in 0..n {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let thread = std::thread::Builder::new()
                .name(format!("scopegate-worker-{index}"))
                .spawn(move || {
                    INDEX.with(|i| i.set(Some(index)));
                    runtime.block_on(async move {
                        while let Some(job) = rx.recv().await {
                            tokio::spawn(job);
                        }
                    });
                    // Tasks still running (tunnels) end with the runtime.
                })?;
            senders.push(tx);
            threads.push(thread);
        }
        Ok(Pool {
            senders,
            threads,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `job` on the next worker, round robin.
    pub(crate) fn dispatch(&self, job: impl Future<Output = ()> + Send + 'static) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        let job: Job = Box::pin(job);
        // A send fails only after `stop`, when nothing is accepted any more.
        let _ = self.senders[i].send(job);
    }

    /// Stops taking jobs and waits for the worker threads to end.
    pub(crate) fn stop(self) {
        drop(self.senders);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
