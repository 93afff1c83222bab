//! The one place domain errors become HTTP responses.
//!
//! The management API answers with RFC 9457 problem details
//! (`application/problem+json`): `type`, `title`, `status`, `detail`, plus
//! `request_id` (filled in by the request-id middleware) and `errors`, one entry per
//! invalid field. Internal causes are logged with their whole chain and never sent.

use poem::http::StatusCode;
use poem_openapi::{ApiResponse, Object, payload::Json};
use tenancy::Error;

/// One invalid input field.
#[derive(Clone, Debug, Object)]
pub struct FieldProblem {
    /// Path of the field, e.g. `redirect_uris[1]`.
    pub field: String,
    /// What rule it broke.
    pub message: String,
}

/// An RFC 9457 problem details object.
#[derive(Clone, Debug, Object)]
pub struct Problem {
    /// URI reference naming the problem type (`about:blank` when the status says it all).
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    pub detail: String,
    /// Id of the request, also sent as `x-request-id`; quote it to support.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    /// Field-level validation errors (empty unless the status is 422).
    pub errors: Vec<FieldProblem>,
}

impl Problem {
    /// A problem with status `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: problem_type(status).into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: None,
            errors: Vec::new(),
        }
    }
}

/// Stable problem-type URIs for the statuses the management API uses.
fn problem_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "https://tessera.dev/problems/bad-request",
        401 => "https://tessera.dev/problems/unauthorized",
        403 => "https://tessera.dev/problems/forbidden",
        404 => "https://tessera.dev/problems/not-found",
        409 => "https://tessera.dev/problems/conflict",
        413 => "https://tessera.dev/problems/payload-too-large",
        415 => "https://tessera.dev/problems/unsupported-media-type",
        422 => "https://tessera.dev/problems/validation",
        429 => "https://tessera.dev/problems/too-many-requests",
        503 => "https://tessera.dev/problems/unavailable",
        _ => "about:blank",
    }
}

/// `Retry-After` (seconds) of every 503: a full work queue drains within about a
/// second, and a lost database or cache is retried by the pool meanwhile.
pub const RETRY_AFTER_SECS: u64 = 1;

/// What every management API 401 says.
pub const AUTH_REQUIRED: &str = "a valid API key is required (Authorization: Bearer tsk_...)";

/// Every error a management operation can answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request could not be parsed (malformed JSON, wrong types, missing fields).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No valid API key was presented.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The API key may not do this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource (or not visible to this key).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The change conflicts with an existing resource.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is not JSON: `Content-Type` must be `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The input is well-formed but breaks a rule; `errors` lists each field.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Over a rate limit; retry after `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Something went wrong on our side.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// The database or cache is unreachable, or the server is at capacity (a bounded
    /// work queue is full); retry after `Retry-After` seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

impl ApiError {
    /// Builds the variant for `status` carrying `problem`.
    pub fn from_problem(problem: Problem) -> Self {
        let json = Json(problem);
        match json.0.status {
            400 => Self::BadRequest(json),
            401 => Self::Unauthorized(json, "Bearer".into()),
            403 => Self::Forbidden(json),
            404 => Self::NotFound(json),
            409 => Self::Conflict(json),
            413 => Self::PayloadTooLarge(json),
            415 => Self::UnsupportedMediaType(json),
            422 => Self::Unprocessable(json),
            429 => Self::TooManyRequests(json, 60),
            503 => Self::Unavailable(json, RETRY_AFTER_SECS),
            _ => Self::Internal(json),
        }
    }

    /// A 429 carrying `problem`, retryable after `wait` (RFC 6585 §4).
    pub fn too_many_requests(problem: Problem, wait: std::time::Duration) -> Self {
        Self::TooManyRequests(Json(problem), wait.as_secs().max(1))
    }

    /// A problem response for `status` with `detail`.
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::from_problem(Problem::new(status, detail))
    }
}

/// The problem for a request body that failed strict parsing, naming the field.
///
/// poem-openapi hands extraction errors (body, path, query, auth) straight to the
/// middleware — a `Result` response type never consults the error type's
/// `bad_request_handler` — so the middleware calls this for body errors and normalises
/// every other error status into a problem itself.
pub fn body_problem(err: &poem::Error) -> Option<Problem> {
    let body = err.downcast_ref::<crate::manage::BodyError>()?;
    let mut problem = Problem::new(StatusCode::BAD_REQUEST, body.to_string());
    if !body.field.is_empty() {
        problem.errors.push(FieldProblem {
            field: body.field.clone(),
            message: body.message.clone(),
        });
    }
    Some(problem)
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::NotFound(what) => {
                Self::status(StatusCode::NOT_FOUND, format!("{what} not found"))
            }
            Error::Conflict(detail) => Self::status(StatusCode::CONFLICT, detail),
            Error::Invalid(fields) => {
                let detail = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail);
                problem.errors = fields
                    .into_iter()
                    .map(|f| FieldProblem {
                        field: f.field,
                        message: f.message,
                    })
                    .collect();
                Self::from_problem(problem)
            }
            Error::Forbidden(detail) => Self::status(StatusCode::FORBIDDEN, detail),
            Error::Unauthenticated => Self::status(StatusCode::UNAUTHORIZED, AUTH_REQUIRED),
            Error::Unavailable(cause) => {
                tracing::error!(error = %cause, "storage unavailable");
                Self::status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "a backing service is unavailable; retry later",
                )
            }
            Error::Busy(queue) => {
                tracing::debug!(queue, "work queue full; request refused");
                Self::status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is busy; retry later",
                )
            }
            err @ (Error::Database(_) | Error::Internal(_)) => {
                tracing::error!(error = %err, "internal error");
                Self::status(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

/// Result type of every management operation.
pub type ApiResult<T> = Result<T, ApiError>;

/// The RFC 6749 §5.2 JSON error response for a protocol endpoint, with
/// `Cache-Control: no-store`, on 401 the `WWW-Authenticate` challenge (RFC 6749 §5.2
/// for client authentication, RFC 6750 §3 for bearer tokens), and on 503
/// (`temporarily_unavailable`) `Retry-After` (RFC 9110 §10.2.3).
pub fn oauth_error_response(err: &tenancy::core::oauth_error::OAuthError) -> poem::Response {
    use poem::{IntoResponse, http::header};
    use tenancy::core::oauth_error::ErrorCode;
    let status = match err.code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = serde_json::json!({
        "error": err.code.as_str(),
        "error_description": err.description,
    });
    let mut resp = poem::web::Json(body).with_status(status).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    let challenge = match err.code {
        ErrorCode::InvalidClient => Some("Basic realm=\"tessera\"".to_owned()),
        ErrorCode::InvalidToken | ErrorCode::InsufficientScope => Some(format!(
            "Bearer error=\"{}\", error_description=\"{}\"",
            err.code.as_str(),
            err.description.replace('"', "'")
        )),
        _ => None,
    };
    if let Some(value) = challenge.and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(RETRY_AFTER_SECS),
        );
    }
    resp
}

/// A protocol endpoint's answer to a client over its rate limit: 429 with
/// `Retry-After` (RFC 6585 §4) and an RFC 6749 §5.2-shaped JSON body.
pub fn oauth_too_many(wait: std::time::Duration) -> poem::Response {
    use poem::{IntoResponse, http::header};
    let body = serde_json::json!({
        "error": "temporarily_unavailable",
        "error_description": "too many requests from this client; retry later",
    });
    let mut resp = poem::web::Json(body)
        .with_status(StatusCode::TOO_MANY_REQUESTS)
        .into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(wait.as_secs().max(1)),
    );
    resp
}

#[cfg(test)]
mod tests {
    use poem::http::header;
    use tenancy::core::oauth_error::OAuthError;

    use super::*;

    #[tokio::test]
    async fn a_full_work_queue_is_a_503_with_retry_after_on_protocol_endpoints() {
        let resp = oauth_error_response(&OAuthError::from(Error::Busy("argon2")));
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        let body: serde_json::Value = resp.into_body().into_json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }

    #[test]
    fn a_full_work_queue_is_a_503_with_retry_after_on_the_management_api() {
        let ApiError::Unavailable(problem, retry_after) = ApiError::from(Error::Busy("argon2"))
        else {
            panic!("a full queue must be 503");
        };
        assert_eq!(problem.0.status, 503);
        assert_eq!(retry_after, RETRY_AFTER_SECS);
    }
}
