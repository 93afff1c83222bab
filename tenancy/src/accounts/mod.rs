//! People and how they prove who they are: users, the login sequence, lockout,
//! browser sessions, email tokens (reset and verification) and second factors.
//!
//! Layering (see the crate doc): may import every folder but `oauth` (which builds on
//! accounts).

pub mod email_tokens;
pub mod email_verification;
pub mod lockout;
pub mod login;
pub mod mfa;
pub mod password_reset;
pub mod sessions;
pub mod users;
