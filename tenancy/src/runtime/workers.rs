//! The process's worker pools, as one value built at start-up and held by the
//! server's state: the Argon2id workers (password and client-secret hashing) and the
//! signing workers (JWTs). Being values, they are sized by configuration, and a test
//! can build its own (say, one thread and a queue of one) without touching another's.
//!
//! Why a pool per kind, and why bounded: see `runtime::worker_pool`. Both pools are
//! one thread per available core unless configured otherwise.

use std::sync::Arc;

use argon2::Block;

use crate::{
    Result,
    runtime::worker_pool::{Tidy, WorkerPool},
};

/// Most memory an Argon2id worker keeps between jobs, in 1 KiB blocks (64 MiB); a
/// stored hash with a larger cost still verifies, and the worker gives the excess
/// back afterwards.
const KEPT_BLOCKS_MAX: usize = 64 * 1024;

/// Argon2id jobs that may wait for a worker by default: at about 25 ms per job and
/// core, a full queue drains in under two seconds on two cores.
pub const DEFAULT_ARGON2_QUEUE_CAPACITY: usize = 128;

/// How big the pools are.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Threads per pool (at least one); `None` is one per available core.
    pub threads: Option<usize>,
    /// How many Argon2id jobs may wait for a worker; beyond that a hash or a
    /// verification fails at once with [`crate::Error::Busy`] (503, never "no match").
    pub argon2_queue_capacity: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            threads: None,
            argon2_queue_capacity: DEFAULT_ARGON2_QUEUE_CAPACITY,
        }
    }
}

/// The worker pools. Cheap to clone (the pools are shared); the threads stop when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Workers {
    argon2: Arc<WorkerPool<Vec<Block>>>,
    signing: Arc<WorkerPool<()>>,
}

impl Workers {
    /// Starts both pools as `settings` says.
    pub fn start(settings: &WorkerSettings) -> Self {
        let threads = settings.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        });
        let argon2 = WorkerPool::with_threads(
            "argon2",
            threads,
            |blocks: &mut Vec<Block>, when| match when {
                // Kept between jobs: allocating 19 MiB per sign-in costs page faults.
                Tidy::AfterJob if blocks.len() <= KEPT_BLOCKS_MAX => {}
                // Given back when quiet, or when a costly hash grew them too far.
                Tidy::AfterJob | Tidy::Idle => *blocks = Vec::new(),
            },
        );
        argon2.set_capacity(settings.argon2_queue_capacity);
        Self {
            argon2: Arc::new(argon2),
            signing: Arc::new(WorkerPool::with_threads("jws", threads, |(), _| {})),
        }
    }

    /// The Argon2id workers; each keeps its memory blocks between jobs and gives them
    /// back after a second without one.
    pub(crate) fn argon2(&self) -> &WorkerPool<Vec<Block>> {
        &self.argon2
    }

    /// Runs `job` (a signature, or a few) on a signing thread.
    ///
    /// An RS256 signature is a quarter to three quarters of a millisecond of CPU.
    /// Signed on the async runtime's workers, a burst of token requests keeps those
    /// workers busy, and a task whose database answer is ready waits behind the
    /// signatures to be polled (on SQLite, while still holding the one connection);
    /// docs/performance.md has the measurement.
    pub(crate) async fn sign<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        self.signing.run(move |()| job()).await
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").finish_non_exhaustive()
    }
}
