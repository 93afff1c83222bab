//! The management API (`/api/v1`): tenant, client, user, key, webhook, audit, API, role
//! and client-grant lifecycle,
//! described by poem-openapi so the committed OpenAPI document and the generated SDKs
//! always match the code.
//!
//! Every operation authenticates a bearer API key, resolves the tenant it names (a
//! tenant key naming another tenant gets 404, so it cannot learn that tenant exists;
//! a read-only key asking to write gets 403), makes one domain call and maps the result.

mod api_keys;
mod apis;
mod audit;
mod auth;
mod body;
mod client_grants;
mod clients;
mod dto;
mod keys;
mod mfa;
mod roles;
mod tenants;
mod user_emails;
mod users;
mod webhooks;

use poem_openapi::{OpenApiService, Tags};

pub use body::BodyError;

use crate::state::AppState;

/// OpenAPI tags, one per resource family.
#[derive(Tags)]
pub enum Tag {
    /// Tenants: isolated identity realms, each with its own issuer.
    Tenants,
    /// OAuth clients registered in a tenant.
    Clients,
    /// End users of a tenant.
    Users,
    /// A tenant's token-signing keys.
    SigningKeys,
    /// Keys for this management API.
    ApiKeys,
    /// The security audit log.
    AuditEvents,
    /// Security-alert webhooks: endpoints, delivery log, redelivery.
    Webhooks,
    /// APIs (protected resources, RFC 8707): the audiences of access tokens.
    Apis,
    /// Roles: sets of API permissions held by users (RBAC).
    Roles,
    /// Client grants: the API scopes a client may get with client credentials.
    ClientGrants,
}

/// The management API document's title.
pub const TITLE: &str = "Tessera management API";
/// The management API version (the document's `info.version`).
pub const VERSION: &str = "1.0.0";
/// Where the management API is mounted.
pub const PREFIX: &str = "/api/v1";

/// Every management operation group.
pub type Apis = (
    tenants::TenantsApi,
    clients::ClientsApi,
    users::UsersApi,
    user_emails::UserEmailsApi,
    mfa::MfaApi,
    keys::SigningKeysApi,
    api_keys::ApiKeysApi,
    audit::AuditApi,
    webhooks::WebhooksApi,
    apis::ApisApi,
    roles::RolesApi,
    client_grants::ClientGrantsApi,
);

/// Builds the management API service (routes and document) over `state`.
pub fn service(state: AppState) -> OpenApiService<Apis, ()> {
    let apis = (
        tenants::TenantsApi(state.clone()),
        clients::ClientsApi(state.clone()),
        users::UsersApi(state.clone()),
        user_emails::UserEmailsApi(state.clone()),
        mfa::MfaApi(state.clone()),
        keys::SigningKeysApi(state.clone()),
        api_keys::ApiKeysApi(state.clone()),
        audit::AuditApi(state.clone()),
        webhooks::WebhooksApi(state.clone()),
        apis::ApisApi(state.clone()),
        roles::RolesApi(state.clone()),
        client_grants::ClientGrantsApi(state),
    );
    OpenApiService::new(apis, TITLE, VERSION)
        .description(
            "Create and run tenants of a Tessera OAuth 2.1 / OpenID Connect server. \
             Authenticate with `Authorization: Bearer tsk_...`. Errors are RFC 9457 \
             problem details.",
        )
        .url_prefix(PREFIX)
}

/// The management API document as pretty JSON with a trailing newline, exactly as
/// committed in `openapi/openapi.json`.
pub fn document(state: AppState) -> String {
    let mut spec = service(state).spec();
    spec.push('\n');
    spec
}
