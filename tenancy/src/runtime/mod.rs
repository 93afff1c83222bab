//! The machinery behind the domain: the one way to the database ([`Storage`], with
//! its SQLite lane and group commit), the per-request statement counter, and the
//! worker pools that keep CPU-heavy work off the async runtime ([`Workers`]: JWT
//! signing, and the threads `crypto::argon2_workers` hashes on).
//!
//! Layering (see the crate doc): may import `core`.

pub mod batch;
pub mod deferred;
pub mod lane;
pub mod statements;
pub mod storage;
pub(crate) mod worker_pool;
pub mod workers;

pub use storage::Storage;
pub use workers::{WorkerSettings, Workers};
