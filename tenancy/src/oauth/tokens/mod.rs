//! Tokens once issued: access tokens (RFC 9068 JWTs), ID tokens, introspection
//! (RFC 7662), revocation (RFC 7009) and UserInfo (OIDC Core §5.3).

pub mod access;
pub mod id_token;
pub mod introspection;
pub mod reference_claims;
pub mod revocation;
pub mod userinfo;
