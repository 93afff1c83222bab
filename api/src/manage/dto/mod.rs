//! Request and response bodies of the management API, and their conversions from
//! domain rows, one module per resource. Field docs here become the OpenAPI
//! descriptions SDK users read.

use poem_openapi::ApiResponse;

mod api_keys;
mod apis;
mod audit;
mod clients;
mod keys;
mod tenants;
mod users;
mod webhooks;

pub use self::{
    api_keys::*, apis::*, audit::*, clients::*, keys::*, tenants::*, users::*, webhooks::*,
};

/// A resource was deleted or changed and there is nothing to return.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done; no body.
    #[oai(status = 204)]
    Done,
}

/// Work was accepted and happens in the background (e.g. an email being sent).
#[derive(ApiResponse)]
pub enum Accepted {
    /// Accepted; no body.
    #[oai(status = 202)]
    Accepted,
}
