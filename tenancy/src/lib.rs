//! Tessera's domain: tenants, signing keys, clients, users, API keys, audit events and
//! the cache, with every rule that governs them.
//!
//! No HTTP types live here (the `api` crate maps results to HTTP) and no clock is read:
//! every operation takes `now` as an input so tests can pin time. Every query of a
//! tenant-owned table goes through a helper in the owning module that filters on
//! `tenant_id`, so tenant isolation cannot be forgotten at a call site.
//!
//! One folder per concept, in layers: each folder imports only the folders above it
//! in this table, so no import circle crosses a folder (`layering` checks it).
//!
//! | folder | owns |
//! |---|---|
//! | [`core`] | errors, ids, validation, scopes, tenant context and settings, rate-limit settings, management principal, amr/acr, signing algorithms, access-token claims |
//! | [`runtime`] | the one way to the database (`Storage`) and to the worker pools (`Workers`), the SQLite lane, group commit, the statement counter |
//! | [`crypto`] | the master keyring, secrets and hashes, the Argon2id workers, the JWS provider |
//! | [`cache`] | the cache (in-process or Redis) and the rate-limit counters kept in it |
//! | [`journal`] | audit log, security alerts, webhook and email outbox, event catalogue |
//! | [`keys`] | signing keys, their rotation, the parsed key store and its memo of verified tokens |
//! | [`management`] | API keys |
//! | [`clients`] | the client registry and redirect-URI rules |
//! | [`resources`] | APIs (protected resources), roles, user roles, client grants |
//! | [`tenants`] | tenant lifecycle, the resolved-tenant directory, erasure of what a tenant or user owns |
//! | [`accounts`] | users, the login sequence, lockout, sessions, email tokens, second factors |
//! | [`oauth`] | authorize and interactions, codes, consents, PKCE, refresh tokens, client authentication, grants, tokens |

pub mod accounts;
pub mod cache;
pub mod clients;
pub mod core;
pub mod crypto;
pub mod journal;
pub mod keys;
#[cfg(test)]
mod layering;
pub mod management;
pub mod oauth;
pub mod resources;
pub mod runtime;
pub mod tenants;
#[cfg(test)]
mod test_support;

pub use self::core::error::{Error, FieldError, Result};

/// Re-exported so callers can read the rows domain operations return.
pub use entity;
/// Re-exported so callers can open connections and transactions without naming
/// sea-orm versions themselves.
pub use sea_orm;
/// Re-exported so the server binary can run migrations without `tenancy` depending on it.
pub use sea_orm::{DatabaseConnection, DbErr};
