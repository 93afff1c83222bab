//! A fixed set of named threads that run CPU-bound jobs from one queue.
//!
//! Password hashing and token signing take hundreds of microseconds to tens of
//! milliseconds of pure CPU each. Run on the async runtime's workers, they would keep
//! those workers from polling requests whose database or cache answer is ready (and a
//! request holding the database connection would wait behind them). Run on the
//! blocking pool, a burst would start one thread per job. Here at most one job runs per
//! thread and the rest wait in the queue; each thread keeps a state of its own between
//! jobs (the Argon2id workers keep their 19 MiB of memory blocks).

use std::sync::{Arc, Mutex, mpsc};

use crate::{Error, Result};

type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// Threads that share a job queue; each owns an `S` it lends to the jobs it runs.
pub(crate) struct WorkerPool<S> {
    queue: mpsc::Sender<Job<S>>,
    name: &'static str,
}

impl<S: 'static> WorkerPool<S> {
    /// One thread per available core, named `{name}-{n}`, each starting from `S::default()`
    /// and calling `tidy` on its state after every job.
    pub(crate) fn per_core(name: &'static str, tidy: fn(&mut S)) -> Self
    where
        S: Default,
    {
        let count = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let (sender, receiver) = mpsc::channel::<Job<S>>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..count {
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
        }
    }

    /// Runs `job` on a worker and waits for its result without blocking the runtime.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut S) -> T + Send + 'static,
    ) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let boxed: Job<S> = Box::new(move |state| {
            let _ = done.send(job(state));
        });
        self.queue
            .send(boxed)
            .map_err(|_| Error::Internal(format!("no {} worker is running", self.name)))?;
        result
            .await
            .map_err(|_| Error::Internal(format!("a {} worker stopped", self.name)))
    }
}

fn work<S: Default>(receiver: &Mutex<mpsc::Receiver<Job<S>>>, tidy: fn(&mut S)) {
    let mut state = S::default();
    loop {
        let next = match receiver.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        job(&mut state);
        tidy(&mut state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_its_threads_with_their_kept_state() {
        let pool = WorkerPool::<u32>::per_core("test-pool", |_| {});
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
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
}
