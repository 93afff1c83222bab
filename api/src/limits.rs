//! The per-endpoint rate limits of `tenancy::cache::rate_limit`, at the HTTP edge.
//!
//! Pages and protocol endpoints are wrapped in [`guard`] where their routes are
//! declared (`startup::routes`), so the handlers stay as they are: the guard resolves
//! the tenant, finds the client address (IPv6 by /64; addresses in the tenant's
//! `throttle_allow_list` are never limited per address) and the request's target, asks
//! the shared-cache limiter, answers 429 with `Retry-After` when over (an HTML page on
//! pages, RFC 6749 §5.2 JSON on protocol endpoints, JSON on passkey endpoints), and,
//! for endpoints that count failures, reports the request as a failure when its
//! answer is a 400, 401 or 403. Management operations call [`manage`] instead, which
//! answers with a problem document.
//!
//! Targets: the login name typed (forgot password), the link's token (password reset,
//! email verification), the client id (token, introspection, revocation: from
//! `Authorization: Basic` or the form; authorize: from the query or the form), and the
//! browser's session cookie (account pages, passkey ceremonies).
//!
//! The login form and the second-factor step count failures themselves, per account
//! and per address (`tenancy::accounts::lockout`), so they are not wrapped here.

use std::{net::IpAddr, sync::Arc, time::Duration};

use poem::{
    Body, Endpoint, IntoResponse, Request, Response,
    http::{Method, StatusCode, header},
};
use tenancy::cache::rate_limit::{self, Counts, Endpoint as Limited, Subject, Verdict};

use crate::{
    error::{ApiError, Problem, oauth_too_many},
    oauth::form::{self, Params},
    pages,
    state::AppState,
};

/// How a limited request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Html,
    OAuth,
    Json,
}

fn format(endpoint: Limited) -> Format {
    match endpoint {
        Limited::Token | Limited::Introspection | Limited::Revocation => Format::OAuth,
        Limited::Passkeys => Format::Json,
        _ => Format::Html,
    }
}

/// Whether a request to `endpoint` with `method` is judged at all: showing the empty
/// forgot-password form costs nothing, sending it may send an email.
fn judged(endpoint: Limited, method: &Method) -> bool {
    match endpoint {
        Limited::PasswordForgot | Limited::Passkeys => method == Method::POST,
        _ => true,
    }
}

fn is_failure(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    )
}

/// The client address a request is limited under, unless allow-listed.
fn address(ip: Option<IpAddr>, allow_list: &[String]) -> Option<String> {
    ip.filter(|ip| !tenancy::core::limits::is_allowed(*ip, allow_list))
        .map(tenancy::core::limits::address_key)
}

fn target(
    endpoint: Limited,
    req: &Request,
    slug: &str,
    state: &AppState,
    params: &Params,
) -> Option<String> {
    let query = || Params::parse(req.uri().query().unwrap_or_default().as_bytes()).ok();
    let value = |name: &str| {
        params
            .get(name)
            .map(str::to_owned)
            .or_else(|| query().and_then(|q| q.get(name).map(str::to_owned)))
    };
    match endpoint {
        Limited::PasswordForgot => value("login").map(|l| l.trim().to_lowercase()),
        Limited::PasswordReset | Limited::EmailVerify => value("token"),
        Limited::Token | Limited::Introspection | Limited::Revocation => {
            form::client_credentials(req.headers(), params)
                .ok()
                .map(|c| c.client_id().to_owned())
        }
        Limited::Authorize => value("client_id"),
        Limited::Account | Limited::Passkeys => {
            pages::read_cookie(req, &pages::cookie_name(&state.settings, slug))
        }
        Limited::KeyRotation | Limited::WebhookTest => None,
    }
}

fn too_many(state: &AppState, endpoint: Limited, tenant_name: &str, wait: Duration) -> Response {
    state
        .metrics
        .throttled
        .with_label_values(&[endpoint.name()])
        .inc();
    let mut resp = match format(endpoint) {
        Format::OAuth => return oauth_too_many(wait),
        Format::Json => poem::web::Json(serde_json::json!({ "error": "too many requests" }))
            .with_status(StatusCode::TOO_MANY_REQUESTS)
            .into_response(),
        Format::Html => pages::error_page(
            tenant_name,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests. Please wait a few minutes and try again.",
        ),
    };
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(wait.as_secs().max(1)),
    );
    resp
}

/// Wraps a page or protocol endpoint in `endpoint`'s limits (see the module doc).
pub async fn guard<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    endpoint: Limited,
) -> poem::Result<Response> {
    let (Some(state), Some(slug)) = (
        req.data::<AppState>().cloned(),
        req.raw_path_param("slug").map(str::to_owned),
    ) else {
        return Ok(ep.get_response(req).await);
    };
    if !judged(endpoint, req.method()) {
        return Ok(ep.get_response(req).await);
    }
    let Ok(issuer) = crate::protocol::resolve(&state, &slug).await else {
        // The handler answers an unknown tenant itself.
        return Ok(ep.get_response(req).await);
    };
    req.extensions_mut().insert(issuer.clone());
    // The form is read here to find the target, then handed on unchanged.
    let is_form = req
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let bytes = req
            .take_body()
            .into_bytes_limit(state.settings.max_body_bytes)
            .await
            .unwrap_or_default();
        // A form the handler will refuse anyway names no target; the handler reads
        // it again and says why.
        if let Ok(parsed) = Params::parse(&bytes) {
            req.extensions_mut()
                .insert(form::ParsedForm(Arc::new(parsed)));
        }
        req.set_body(Body::from(bytes));
    }
    let no_form = Params::default();
    let params = req
        .extensions()
        .get::<form::ParsedForm>()
        .map_or(&no_form, |form| &*form.0);
    let settings = issuer.settings();
    let ip = crate::client_ip::client_ip(&req, &state.settings.trusted_proxies);
    let subject = Subject {
        address: address(ip, &settings.throttle_allow_list),
        target: target(endpoint, &req, &slug, &state, params),
    };
    let cache = state.cache.as_ref();
    let tenant_id = issuer.tenant().id;
    let now = state.now();
    match rate_limit::check_endpoint(
        cache,
        tenant_id,
        endpoint,
        &settings.rate_limits,
        &subject,
        now,
    )
    .await
    {
        Ok(Verdict::Allowed) => {}
        Ok(Verdict::Limited { retry_after }) => {
            return Ok(too_many(
                &state,
                endpoint,
                &issuer.tenant().display_name,
                retry_after,
            ));
        }
        Err(err) => return Ok(pages::flow::unavailable(&issuer, &err)),
    }
    let resp = ep.get_response(req).await;
    if endpoint.counts() == Counts::Failures && is_failure(resp.status()) {
        let spent = rate_limit::endpoint_failed(
            cache,
            tenant_id,
            endpoint,
            &settings.rate_limits,
            &subject,
            now,
        );
        if let Err(err) = spent.await {
            // The answer is already computed; the next request fails closed on the check.
            tracing::warn!(error = %err, endpoint = endpoint.name(), "failure not counted");
        }
    }
    Ok(resp)
}

/// Judges a management operation on `endpoint` of `tenant` (a request counted
/// whether or not it succeeds), by the caller's address and `target`.
pub async fn manage(
    state: &AppState,
    req: &Request,
    tenant: &tenancy::entity::tenants::Model,
    endpoint: Limited,
    target: &str,
) -> Result<(), ApiError> {
    let settings = tenancy::core::TenantSettings::from_json(&tenant.settings);
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let subject = Subject {
        address: address(ip, &settings.throttle_allow_list),
        target: Some(target.to_owned()),
    };
    let verdict = rate_limit::check_endpoint(
        state.cache.as_ref(),
        tenant.id,
        endpoint,
        &settings.rate_limits,
        &subject,
        state.now(),
    )
    .await?;
    match verdict {
        Verdict::Allowed => Ok(()),
        Verdict::Limited { retry_after } => {
            state
                .metrics
                .throttled
                .with_label_values(&[endpoint.name()])
                .inc();
            Err(ApiError::too_many_requests(
                Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many {} requests; retry later", endpoint.name()),
                ),
                retry_after,
            ))
        }
    }
}
