//! sea-orm entities for Tessera's tables: one module per table, no behaviour.
//!
//! The rules that govern these rows live in `tenancy`; every tenant-owned table
//! carries `tenant_id`, and `tenancy` filters on it through one helper per entity.

pub mod alert_attempts;
pub mod alert_deliveries;
pub mod api_keys;
pub mod apis;
pub mod audit_events;
pub mod client_grants;
pub mod clients;
pub mod consents;
pub mod email_tokens;
pub mod passkeys;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod roles;
pub mod security_events;
pub mod signing_keys;
pub mod tenants;
pub mod user_roles;
pub mod user_totp;
pub mod users;
pub mod webhook_endpoints;
