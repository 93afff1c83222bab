//! The worker pools that keep CPU-heavy work off the async runtime (JWT signing here;
//! Argon2id hashing in `crypto::argon2_workers`, on the same pool type).
//!
//! Layering (see the crate doc): may import `core`.

pub(crate) mod signing;
pub(crate) mod worker_pool;
