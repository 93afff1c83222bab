//! API resources: the protected resources of a tenant (RFC 8707 §2), named by an
//! absolute URI that becomes the `aud` of their access tokens; the roles that give
//! their scopes to users (RBAC); and the client grants that give them to machines
//! (client credentials).
//!
//! The protocol reads APIs through the resolved tenant ([`catalog::ApiCatalog`],
//! loaded once per directory entry), never per request from the database.
//!
//! Layering (see the crate doc): may import `core`, `runtime`, `crypto`, `cache`,
//! `journal`, `keys`, `management` and `clients`.

pub mod apis;
pub mod catalog;
pub mod client_grants;
pub mod roles;
