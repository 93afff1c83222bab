//! OpenID Connect endpoints of a tenant: discovery metadata and the JWKS.

pub mod discovery;
pub mod jwks;
pub mod userinfo;
