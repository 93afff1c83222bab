//! What every protocol endpoint of a tenant starts from: the tenant named in the URL,
//! its issuer identifier and its keys.
//!
//! The issuer is always built from the configured `PUBLIC_URL`, never from `Host` or
//! `X-Forwarded-*` headers, so a client cannot make the server emit a URL of its
//! choosing. Unknown and disabled tenants are both "not found".

use poem::{IntoResponse, Response, http::StatusCode};

use crate::state::AppState;

pub use tenancy::tenants::issuer::Issuer;

/// Why a protocol request could not even reach its tenant.
pub enum Unresolved {
    /// No enabled tenant has this slug.
    NotFound,
    /// Storage failed.
    Failed(tenancy::Error),
}

impl IntoResponse for Unresolved {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => poem::web::Json(serde_json::json!({
                "error": "invalid_request",
                "error_description": "no such issuer",
            }))
            .with_status(StatusCode::NOT_FOUND)
            .into_response(),
            Self::Failed(err) => crate::error::oauth_error_response(&err.into()),
        }
    }
}

/// [`resolve`], reusing the issuer the rate-limit guard already resolved for this
/// request (kept in its extensions) when it names the same tenant.
pub async fn resolve_request(
    state: &AppState,
    req: &poem::Request,
    slug: &str,
) -> Result<Issuer, Unresolved> {
    match req.extensions().get::<Issuer>() {
        Some(issuer) if issuer.tenant().slug == slug => Ok(issuer.clone()),
        _ => resolve(state, slug).await,
    }
}

/// Resolves the tenant named by `slug` (from the tenant directory's memory when it
/// was resolved in the last seconds) and loads its keys.
pub async fn resolve(state: &AppState, slug: &str) -> Result<Issuer, Unresolved> {
    let now = state.now();
    let resolved = state
        .tenants
        .find_enabled(state.db(), slug, now)
        .await
        .map_err(Unresolved::Failed)?
        .ok_or(Unresolved::NotFound)?;
    let keys = state
        .keys
        .get(
            state.db(),
            resolved.tenant.id,
            &resolved.settings.algorithms(),
            now,
        )
        .await
        .map_err(Unresolved::Failed)?;
    let url = format!(
        "{}/t/{}",
        state.settings.public_base(),
        resolved.tenant.slug
    );
    Ok(Issuer::new(resolved, url, keys))
}
