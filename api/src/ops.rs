//! Operations endpoints: liveness, readiness and Prometheus metrics.

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
    let db = state.db().ping().await.map_err(|e| e.to_string());
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

/// `/metrics`: every metric in the Prometheus text format, with the database pool
/// gauges read at scrape time.
#[handler]
pub fn metrics(state: Data<&AppState>) -> Response {
    use tenancy::sea_orm::DbBackend;
    let (open, idle) = match state.db().get_database_backend() {
        DbBackend::Postgres => {
            let pool = state.db().get_postgres_connection_pool();
            (i64::from(pool.size()), pool.num_idle())
        }
        DbBackend::Sqlite => {
            let pool = state.db().get_sqlite_connection_pool();
            (i64::from(pool.size()), pool.num_idle())
        }
        _ => (0, 0),
    };
    state.metrics.db_pool_connections.set(open);
    state
        .metrics
        .db_pool_idle
        .set(i64::try_from(idle).unwrap_or(i64::MAX));
    state
        .metrics
        .render()
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .into_response()
}
