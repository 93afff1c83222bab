//! Who is calling: bearer API key to principal, plus tenant resolution and the
//! audit actor (IP and user agent) for the request.

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use tenancy::{core::Access, core::Principal, entity::tenants, management::api_keys};

use crate::{
    client_ip::{actor, client_ip},
    error::ApiResult,
    state::AppState,
};

/// A management API key (`tsk_...`) or the configured admin token.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "tsk_")]
pub struct ApiKeyAuth(pub Bearer);

/// An authenticated caller and the actor recorded in audit events.
pub struct Caller {
    /// What the caller may do.
    pub principal: Principal,
    /// Who the audit log says acted.
    pub actor: tenancy::journal::audit::Actor,
}

/// Authenticates the request's API key.
pub async fn caller(state: &AppState, auth: &ApiKeyAuth, req: &Request) -> ApiResult<Caller> {
    let principal = api_keys::authenticate(
        state.db(),
        &auth.0.token,
        state.admin_token_sha256.as_deref(),
        state.now(),
    )
    .await?;
    let ip = client_ip(req, &state.settings.trusted_proxies);
    let actor = actor(req, ip, principal.actor_id.clone());
    Ok(Caller { principal, actor })
}

/// Authenticates the caller and resolves the tenant named by `slug`, checking that the
/// caller may perform `access` on it.
pub async fn tenant_caller(
    state: &AppState,
    auth: &ApiKeyAuth,
    req: &Request,
    slug: &str,
    access: Access,
) -> ApiResult<(Caller, tenants::Model)> {
    let caller = caller(state, auth, req).await?;
    let tenant = tenancy::tenants::get_visible(state.db(), &caller.principal, slug).await?;
    caller.principal.authorize(tenant.id, access)?;
    Ok((caller, tenant))
}
