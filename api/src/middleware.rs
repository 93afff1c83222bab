//! Cross-cutting request handling: request ids, access logs and request metrics for
//! every route, and
//! for the management API a body-size limit plus uniform problem+json errors.

use std::{sync::Arc, time::Instant};

use poem::{
    Body, Endpoint, IntoResponse, PathPattern, Request, Response,
    error::ReadBodyError,
    http::{HeaderValue, StatusCode, header},
};

use crate::{
    error::{AUTH_REQUIRED, ApiError, Problem, body_problem},
    metrics::Metrics,
};

/// The id of the current request, also sent back as `x-request-id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

const PROBLEM_JSON: &str = "application/problem+json";
/// Error bodies longer than this are not echoed into a problem's `detail`.
const MAX_DETAIL_BYTES: usize = 1024;

/// Gives each request an id and writes one access-log line (method, path without the
/// query string — it can carry codes — status, duration). Never logs bodies or headers.
pub async fn request_context<E: Endpoint>(
    next: Arc<E>,
    mut req: Request,
    metrics: Arc<Metrics>,
) -> poem::Result<Response> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let (resp, statements) = tenancy::runtime::statements::counting(next.call(req)).await;
    // The router attaches the template of the route that matched; a request no route
    // matched has none and counts as `other` (see `crate::metrics`).
    let (route, mut resp) = match resp {
        Ok(resp) => {
            let resp = resp.into_response();
            (pattern_of(resp.data::<PathPattern>()), resp)
        }
        Err(err) => (pattern_of(err.data::<PathPattern>()), err.into_response()),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", value);
    }
    let elapsed = started.elapsed();
    metrics.observe_request(
        &route,
        method.as_str(),
        resp.status().as_u16(),
        elapsed.as_secs_f64(),
        statements,
    );
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        elapsed_ms = elapsed.as_millis() as u64,
        "request"
    );
    Ok(resp)
}

fn pattern_of(pattern: Option<&PathPattern>) -> String {
    crate::metrics::route_label(pattern.map(|p| &*p.0))
}

/// The methods each management API path allows, read from its OpenAPI document, for
/// the `Allow` header that every 405 must carry (RFC 9110 §15.5.6).
#[derive(Clone, Debug, Default)]
pub struct AllowedMethods(Vec<(Vec<String>, String)>);

impl AllowedMethods {
    /// Builds the table from the OpenAPI document `spec` (JSON).
    pub fn from_spec(spec: &str) -> Self {
        const ORDER: [&str; 7] = ["get", "head", "post", "put", "patch", "delete", "options"];
        let doc: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut table = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
            for (path, ops) in paths {
                let methods: Vec<String> = ORDER
                    .iter()
                    .filter(|m| ops.get(**m).is_some())
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                table.push((segments(path), methods.join(", ")));
            }
        }
        Self(table)
    }

    /// The `Allow` value for a request path: the template with the same number of
    /// segments whose literal segments match (the most literal one wins).
    pub fn for_path(&self, path: &str) -> Option<&str> {
        let parts = segments(path);
        self.0
            .iter()
            .filter(|(template, _)| {
                template.len() == parts.len()
                    && template
                        .iter()
                        .zip(&parts)
                        .all(|(t, p)| t.starts_with('{') || t == p)
            })
            .max_by_key(|(template, _)| template.iter().filter(|t| !t.starts_with('{')).count())
            .map(|(_, methods)| methods.as_str())
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

/// For the management API: refuses bodies over `limit` bytes with 413 (whether or not
/// `Content-Length` is sent), turns every error response into problem+json that
/// carries the request id, and names the allowed methods on a 405.
pub async fn management_errors<E: Endpoint>(
    next: Arc<E>,
    mut req: Request,
    limit: usize,
    allowed: Arc<AllowedMethods>,
) -> poem::Result<Response> {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let path = req.original_uri().path().to_owned();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let resp = if declared.is_some_and(|len| len > limit) {
        too_large()
    } else {
        match req.take_body().into_bytes_limit(limit).await {
            Ok(bytes) => {
                req.set_body(Body::from_bytes(bytes));
                match next.call(req).await {
                    Ok(resp) => resp.into_response(),
                    Err(err) => match body_problem(&err) {
                        Some(problem) => ApiError::from_problem(problem).into_response(),
                        None => err.into_response(),
                    },
                }
            }
            Err(ReadBodyError::PayloadTooLarge) => too_large(),
            Err(err) => poem::Error::from(err).into_response(),
        }
    };
    let mut resp = as_problem(resp, request_id).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(value) = allowed
            .for_path(&path)
            .and_then(|m| HeaderValue::from_str(m).ok())
    {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    Ok(resp)
}

fn too_large() -> Response {
    StatusCode::PAYLOAD_TOO_LARGE.into_response()
}

async fn as_problem(mut resp: Response, request_id: Option<String>) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON));
    let body = resp.take_body().into_bytes().await.unwrap_or_default();
    let mut value = if is_problem {
        serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default()
    } else {
        let text = std::str::from_utf8(&body).unwrap_or_default().trim();
        let detail = match status {
            StatusCode::UNAUTHORIZED => AUTH_REQUIRED.to_owned(),
            StatusCode::PAYLOAD_TOO_LARGE => {
                "the request body is larger than this server accepts".to_owned()
            }
            _ if text.is_empty() || text.len() > MAX_DETAIL_BYTES || status.is_server_error() => {
                status.canonical_reason().unwrap_or("error").to_lowercase()
            }
            _ => text.to_owned(),
        };
        poem_openapi::types::ToJSON::to_json(&Problem::new(status, detail)).unwrap_or_default()
    };
    if let (Some(obj), Some(id)) = (value.as_object_mut(), request_id) {
        obj.insert("request_id".into(), serde_json::Value::String(id));
    }
    resp.set_body(serde_json::to_vec(&value).unwrap_or_default());
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    // RFC 6750 §3: a 401 names the scheme the client should use.
    if status == StatusCode::UNAUTHORIZED && !resp.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp
}
