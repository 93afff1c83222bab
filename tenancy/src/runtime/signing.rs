//! The threads (one per core) that sign tokens.
//!
//! An RS256 signature is a quarter to three quarters of a millisecond of CPU. Signed on
//! the async runtime's workers, a burst of token requests keeps those workers busy, and
//! a task whose database answer is ready waits behind the signatures to be polled (on
//! SQLite, while still holding the one connection). Measured on two cores, moving
//! signing here raised refresh grants from 408 to 723 per second and halved p99.

use std::sync::LazyLock;

use crate::{Result, runtime::worker_pool::WorkerPool};

static WORKERS: LazyLock<WorkerPool<()>> = LazyLock::new(|| WorkerPool::per_core("jws", |()| {}));

/// Runs `job` (a signature, or a few) on a signing thread.
pub(crate) async fn run<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    WORKERS.run(move |()| job()).await
}
