//! Tessera's domain: tenants, signing keys, clients, users, API keys, audit events and
//! the cache, with every rule that governs them.
//!
//! No HTTP types live here (the `api` crate maps results to HTTP) and no clock is read:
//! every operation takes `now` as an input so tests can pin time. Every query of a
//! tenant-owned table goes through a helper in the owning module that filters on
//! `tenant_id`, so tenant isolation cannot be forgotten at a call site.

pub mod alerts;
pub mod api_keys;
mod argon2_workers;
pub mod audit;
pub mod audit_batch;
pub mod authorization;
pub mod cache;
pub mod client_auth;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod crypto;
pub mod email_tokens;
pub mod email_verification;
pub mod erase;
pub mod error;
pub mod events;
pub mod grants;
pub mod id_token;
pub mod ids;
pub mod interactions;
pub mod introspection;
mod jws_provider;
pub mod key_rotation;
pub mod keys;
pub mod login;
pub mod mfa;
pub mod oauth_error;
pub mod pagination;
pub mod password_reset;
pub mod pkce;
pub mod rate_limit;
pub mod redirect_uri;
pub mod refresh;
pub mod revocation;
pub mod scopes;
pub mod secrets;
pub mod sessions;
pub mod signing;
mod signing_workers;
pub mod tenant_directory;
pub mod tenants;
#[cfg(test)]
mod test_support;
pub mod throttle;
pub mod tokens;
pub mod userinfo;
pub mod users;
pub mod validate;
mod verified_tokens;
pub mod webhooks;
mod worker_pool;

pub use error::{Error, FieldError, Result};

/// Re-exported so callers can read the rows domain operations return.
pub use entity;
/// Re-exported so callers can open connections and transactions without naming
/// sea-orm versions themselves.
pub use sea_orm;
/// Re-exported so the server binary can run migrations without `tenancy` depending on it.
pub use sea_orm::{DatabaseConnection, DbErr};
