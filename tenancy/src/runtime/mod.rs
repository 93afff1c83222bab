//! The machinery behind the domain: the one way to the database ([`Storage`], with
//! its SQLite lane and group commit), the per-request statement counter, and the
//! worker pools that keep CPU-heavy work off the async runtime (JWT signing here;
//! Argon2id hashing in `crypto::argon2_workers`, on the same pool type).
//!
//! Layering (see the crate doc): may import `core`.

pub mod batch;
pub mod lane;
pub(crate) mod signing;
pub mod statements;
pub mod storage;
pub(crate) mod worker_pool;

pub use storage::Storage;
