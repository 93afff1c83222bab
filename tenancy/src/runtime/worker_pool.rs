//! A fixed set of named threads that run CPU-bound jobs from one bounded queue.
//!
//! Password hashing and token signing take hundreds of microseconds to tens of
//! milliseconds of pure CPU each. Run on the async runtime's workers, they would keep
//! those workers from polling requests whose database or cache answer is ready (and a
//! request holding the database connection would wait behind them). Run on the
//! blocking pool, a burst would start one thread per job. Here at most one job runs per
//! thread and the rest wait in the queue; each thread keeps a state of its own between
//! jobs (the Argon2id workers keep their 19 MiB of memory blocks), and is told to tidy
//! it after each job and once it has had nothing to do for [`IDLE_AFTER`] (the
//! Argon2id workers then give their blocks back, so a quiet server does not hold
//! tens of megabytes for the next sign-in).
//!
//! The queue is bounded: once [`WorkerPool::set_capacity`] jobs are waiting, a new job
//! is refused at once with [`Error::Busy`] (the API answers 503 with `Retry-After`)
//! instead of making every later request wait behind a flood. A job whose requester
//! has gone (the request was cancelled, so nobody awaits the answer) is skipped when
//! its turn comes instead of burning a core for nobody.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc::{self, RecvTimeoutError},
    },
    time::Duration,
};

use crate::{Error, Result};

type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// How long a worker waits with no job before it tidies its state as [`Tidy::Idle`].
pub(crate) const IDLE_AFTER: Duration = Duration::from_secs(1);

/// When a worker's tidy function is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tidy {
    /// After each job.
    AfterJob,
    /// Once, after [`IDLE_AFTER`] without a job.
    Idle,
}

/// Threads that share a job queue; each owns an `S` it lends to the jobs it runs.
pub(crate) struct WorkerPool<S> {
    queue: mpsc::Sender<Job<S>>,
    name: &'static str,
    /// Jobs submitted and not yet picked up by a thread.
    waiting: Arc<AtomicUsize>,
    /// Most jobs that may wait at once.
    capacity: AtomicUsize,
}

impl<S: 'static> WorkerPool<S> {
    /// `threads` threads (at least one), named `{name}-{n}`, each starting from
    /// `S::default()` and calling `tidy` on its state after every job and when idle.
    /// The queue is unbounded until [`WorkerPool::set_capacity`] bounds it.
    pub(crate) fn with_threads(name: &'static str, threads: usize, tidy: fn(&mut S, Tidy)) -> Self
    where
        S: Default,
    {
        let (sender, receiver) = mpsc::channel::<Job<S>>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || work(&receiver, tidy));
            if let Err(err) = spawned {
                tracing::error!(error = %err, pool = name, "could not start a worker thread");
            }
        }
        Self {
            queue: sender,
            name,
            waiting: Arc::new(AtomicUsize::new(0)),
            capacity: AtomicUsize::new(usize::MAX),
        }
    }

    /// Bounds the queue: at most `capacity` jobs (at least one) wait for a thread.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity.max(1), Ordering::Relaxed);
    }

    /// Runs `job` on a worker and waits for its result without blocking the runtime.
    /// [`Error::Busy`] at once when the queue is full. If the returned future is
    /// dropped before a thread picks the job up, the job never runs.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut S) -> T + Send + 'static,
    ) -> Result<T> {
        let capacity = self.capacity.load(Ordering::Relaxed);
        let admitted = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < capacity).then_some(waiting + 1)
            });
        if admitted.is_err() {
            return Err(Error::Busy(self.name));
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let waiting = Arc::clone(&self.waiting);
        let boxed: Job<S> = Box::new(move |state| {
            waiting.fetch_sub(1, Ordering::AcqRel);
            // The requester is gone (its request was cancelled): nobody needs this.
            if done.is_closed() {
                return;
            }
            let _ = done.send(job(state));
        });
        if self.queue.send(boxed).is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Internal(format!(
                "no {} worker is running",
                self.name
            )));
        }
        result
            .await
            .map_err(|_| Error::Internal(format!("a {} worker stopped", self.name)))
    }
}

fn work<S: Default>(receiver: &Mutex<mpsc::Receiver<Job<S>>>, tidy: fn(&mut S, Tidy)) {
    let mut state = S::default();
    let mut idle = true;
    loop {
        // Never an unbounded wait while holding the queue: the other threads wait for
        // the lock, and each must get its turn to notice it is idle.
        let next = match receiver.lock() {
            Ok(queue) => queue.recv_timeout(IDLE_AFTER),
            Err(_) => return,
        };
        match next {
            Ok(job) => {
                job(&mut state);
                tidy(&mut state, Tidy::AfterJob);
                idle = false;
            }
            Err(RecvTimeoutError::Timeout) if !idle => {
                tidy(&mut state, Tidy::Idle);
                idle = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_its_threads_with_their_kept_state() {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let pool = WorkerPool::<u32>::with_threads("test-pool", threads, |_, _| {});
        let jobs = 4 * threads;
        let mut most = 0;
        for _ in 0..jobs {
            let (thread, count) = pool
                .run(|runs| {
                    *runs += 1;
                    (std::thread::current().name().map(str::to_owned), *runs)
                })
                .await
                .unwrap();
            assert!(thread.unwrap().starts_with("test-pool-"));
            most = most.max(count);
        }
        // Some thread ran at least a share of the jobs and counted each in its kept
        // state (a state made afresh per job would count 1 every time).
        assert!(most >= jobs.div_ceil(threads) as u32, "{most}");
    }

    /// Occupies the pool's only thread until the returned sender is used (or dropped).
    async fn occupy(pool: &Arc<WorkerPool<()>>) -> (mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, hold) = mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let busy = Arc::clone(pool);
        let handle = tokio::spawn(async move {
            busy.run(move |()| {
                let _ = started.send(());
                let _ = hold.recv();
            })
            .await
            .unwrap();
        });
        running.await.unwrap();
        (release, handle)
    }

    #[tokio::test]
    async fn a_full_queue_refuses_a_job_at_once_and_takes_jobs_again_once_it_drains() {
        // Arrange: one thread, busy, and a queue of two that is full.
        let pool = Arc::new(WorkerPool::<()>::with_threads("full-pool", 1, |_, _| {}));
        pool.set_capacity(2);
        let (release, busy) = occupy(&pool).await;
        let queued: Vec<_> = (0..2)
            .map(|n| {
                let pool = Arc::clone(&pool);
                tokio::spawn(async move { pool.run(move |()| n).await })
            })
            .collect();
        while pool.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }

        // Act: a third job while the thread is busy and two wait.
        let refused = pool.run(|()| 99).await;

        // Assert: refused without waiting; the queued ones still run, and once the
        // queue has drained a new job is taken again.
        assert!(
            matches!(refused, Err(Error::Busy("full-pool"))),
            "{refused:?}"
        );
        release.send(()).unwrap();
        busy.await.unwrap();
        for (n, job) in queued.into_iter().enumerate() {
            assert_eq!(job.await.unwrap().unwrap(), n);
        }
        assert_eq!(pool.run(|()| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn an_idle_worker_tidies_its_state_once() {
        // The state counts jobs; tidied when idle, it gains 100.
        let pool = WorkerPool::<u32>::with_threads("idle-pool", 1, |runs, when| {
            if when == Tidy::Idle {
                *runs += 100;
            }
        });
        // A fresh worker has nothing to give back: it is not tidied.
        tokio::time::sleep(IDLE_AFTER * 2).await;
        assert_eq!(
            pool.run(|runs| std::mem::replace(runs, 1)).await.unwrap(),
            0
        );
        // Quiet for a while after a job: tidied once, however long it stays quiet.
        tokio::time::sleep(IDLE_AFTER * 4).await;
        assert_eq!(pool.run(|runs| *runs).await.unwrap(), 101);
    }

    #[tokio::test]
    async fn a_job_whose_requester_has_gone_is_skipped() {
        // Arrange: the only thread is busy; a job waits behind it.
        let pool = Arc::new(WorkerPool::<()>::with_threads("gone-pool", 1, |_, _| {}));
        let (release, busy) = occupy(&pool).await;
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let waiter = {
            let pool = Arc::clone(&pool);
            tokio::spawn(
                async move { pool.run(move |()| flag.store(true, Ordering::SeqCst)).await },
            )
        };
        while pool.waiting.load(Ordering::Acquire) < 1 {
            tokio::task::yield_now().await;
        }

        // Act: the request is cancelled while its job waits, then the thread frees up.
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
        release.send(()).unwrap();
        busy.await.unwrap();
        // A job queued after the cancelled one runs only after it was passed over.
        pool.run(|()| ()).await.unwrap();

        // Assert: the cancelled job never ran.
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(pool.waiting.load(Ordering::Acquire), 0);
    }
}
