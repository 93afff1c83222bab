//! The one end-to-end test binary: every module boots real servers and speaks HTTP.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a broken assumption must fail the test loudly"
)]

mod account;
mod account_emails;
mod alerts;
mod api_conformance;
mod api_keys;
mod apis;
mod audit;
mod bad_input;
mod cheap_checks;
mod clients;
mod code_flow;
mod input_hygiene;
mod isolation;
mod key_rotation;
mod mfa;
mod oidc_rp;
mod openapi;
mod ops;
mod passkey_csp;
mod passkeys;
mod protocol;
mod protocol_details;
mod rate_limits;
mod secrets_at_rest;
mod signing_algorithms;
mod tenants;
mod throttling;
mod users;
