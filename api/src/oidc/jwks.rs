//! `GET /t/{slug}/jwks.json`: the tenant's published public keys (RFC 7517 §5).
//!
//! `Cache-Control: max-age` is the propagation delay key rotation waits for before a
//! new key signs anything, so relying parties always know a key before they see it.

use poem::{
    IntoResponse, Response, handler,
    http::{HeaderValue, header},
    web::{Data, Path},
};

use crate::{protocol, state::AppState};

/// How long relying parties may cache the key set.
pub const JWKS_MAX_AGE_SECS: u32 = 300;

/// The JWKS endpoint.
#[handler]
pub async fn jwks(state: Data<&AppState>, Path(slug): Path<String>) -> Response {
    match protocol::resolve(&state, &slug).await {
        Ok(issuer) => {
            let mut resp = poem::web::Json(issuer.keys.jwks()).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={JWKS_MAX_AGE_SECS}")) {
                resp.headers_mut().insert(header::CACHE_CONTROL, v);
            }
            resp
        }
        Err(unresolved) => unresolved.into_response(),
    }
}
