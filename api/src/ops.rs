//! Operations endpoints: liveness and readiness.

use poem::{IntoResponse, Response, handler, http::StatusCode, web::Data};
use serde_json::json;

use crate::state::AppState;

/// `/healthz`: the process is up and serving.
#[handler]
pub fn healthz() -> Response {
    poem::web::Json(json!({ "status": "ok" })).into_response()
}

/// `/readyz`: the database and the cache both answer; 503 otherwise, so a load
/// balancer takes this node out of rotation instead of letting requests fail.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    let db = state.db.ping().await.map_err(|e| e.to_string());
    let cache = state.cache.ping().await.map_err(|e| e.to_string());
    let ok = db.is_ok() && cache.is_ok();
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    if let Err(e) = &cache {
        tracing::warn!(error = %e, "readiness: cache unreachable");
    }
    let verdict = |r: &Result<(), String>| if r.is_ok() { "ok" } else { "unavailable" };
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "database": verdict(&db),
        "cache": verdict(&cache),
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    poem::web::Json(body).with_status(status).into_response()
}
