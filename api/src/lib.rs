//! Tessera's HTTP server: the management API, operations endpoints and (in later
//! modules) the OAuth/OIDC protocol endpoints and pages, plus the `tessera` binary's
//! start-up logic. Handlers parse, make one `tenancy` call and map the result; all
//! rules live in `tenancy`.

pub mod client_ip;
pub mod config;
pub mod configuration_doc;
pub mod drain;
pub mod emails;
pub mod error;
pub mod jobs;
pub mod limits;
pub mod login_limit;
pub mod manage;
pub mod metrics;
pub mod middleware;
pub mod oauth;
pub mod oidc;
pub mod ops;
pub mod pages;
pub mod protocol;
pub mod startup;
pub mod state;

pub use config::{LogFormat, Settings};
pub use startup::Application;
