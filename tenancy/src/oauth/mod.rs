//! The protocol: authorization requests and their interactions, codes, consents,
//! PKCE, refresh tokens, client authentication, the token endpoint's grants and the
//! tokens themselves (access, ID, introspection, revocation, UserInfo).
//!
//! Layering (see the crate doc): may import every folder; only the `api` crate builds
//! on it.

pub mod audience;
pub mod authorization;
pub mod client_auth;
pub mod codes;
pub mod consents;
pub mod interactions;
pub mod pkce;
pub mod refresh;
pub mod sign_in;
pub mod token;
pub mod tokens;
