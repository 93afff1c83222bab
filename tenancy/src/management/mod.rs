//! Access to the management API: API keys (stored as SHA-256 hashes, shown once).
//!
//! Layering (see the crate doc): may import `core`, `runtime`, `crypto`, `cache`,
//! `journal` and `keys`.

pub mod api_keys;
