//! What every other folder builds on: errors, ids, validation, scopes, the tenant a
//! request is about and its settings, the management principal, authentication
//! methods, signing algorithms and access-token claims.
//!
//! Owns no storage and no I/O. May import nothing else of this crate: every other
//! folder may import it.

pub mod algorithm;
pub mod amr;
pub mod claims;
pub mod error;
pub mod ids;
pub mod limits;
pub mod oauth_error;
pub mod pagination;
pub mod principal;
pub mod scopes;
pub mod settings;
pub mod tenant;
pub mod validate;

pub use algorithm::Algorithm;
pub use claims::AccessClaims;
pub use limits::{EndpointLimit, EndpointLimitPatch, RateLimits, RateLimitsPatch};
pub use principal::{Access, Principal};
pub use settings::{
    Bounds, MfaPolicy, SETTINGS, SettingDoc, SettingValue, SettingsPatch, TenantSettings,
};
pub use tenant::TenantCtx;
