//! Moving an authorization request forward: to login, to consent, or to the client
//! with a code (or an error), after every step.

use poem::{Request, Response, http::StatusCode};
use tenancy::{
    accounts::sessions::{self, Session},
    core::TenantCtx,
    core::oauth_error::{OAuthError, OAuthResult},
    oauth::authorization::{self, AuthorizationRequest, Next},
    oauth::codes::{self, CodeGrant},
    oauth::consents,
    oauth::interactions::{self, Interaction},
};

use super::{error_page, read_cookie, redirect, redirect_to_client};
use crate::{protocol::Issuer, state::AppState};

/// The browser's session cookie value and session, if it has a live one.
pub async fn current_session(
    state: &AppState,
    issuer: &Issuer,
    req: &Request,
) -> tenancy::Result<Option<(String, Session)>> {
    let Some(cookie) = read_cookie(
        req,
        &super::cookie_name(&state.settings, &issuer.tenant().slug),
    ) else {
        return Ok(None);
    };
    Ok(
        sessions::load(state.cache.as_ref(), issuer.tenant().id, &cookie)
            .await?
            .map(|s| (cookie, s)),
    )
}

/// Sends an authorization error to the client with `state` and `iss` (RFC 9207 §2).
pub fn redirect_error(
    issuer: &Issuer,
    request: &AuthorizationRequest,
    err: &OAuthError,
) -> Response {
    redirect_error_to(issuer, &request.redirect_uri, request.state.as_deref(), err)
}

/// [`redirect_error`] for a request that failed validation.
pub fn redirect_error_to(
    issuer: &Issuer,
    redirect_uri: &str,
    state: Option<&str>,
    err: &OAuthError,
) -> Response {
    let mut params = vec![
        ("error", err.code.as_str()),
        ("error_description", err.description.as_str()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer.url.as_str()));
    redirect_to_client(redirect_uri, &params)
}

/// The page shown when storage fails mid-flow (fail closed), or when the server is at
/// capacity (a full Argon2id queue): 503 with `Retry-After`, at once.
pub fn unavailable(issuer: &Issuer, err: &tenancy::Error) -> Response {
    unavailable_page(&issuer.tenant().display_name, err)
}

/// [`unavailable`] for the tenant named `tenant_name`.
fn unavailable_page(tenant_name: &str, err: &tenancy::Error) -> Response {
    let message = if let tenancy::Error::Busy(queue) = err {
        tracing::debug!(queue, "work queue full; page refused");
        "The service is busy right now. Please try again in a moment."
    } else {
        tracing::error!(error = %err, "authorization flow failed");
        "The service is temporarily unavailable. Please try again."
    };
    let mut resp = error_page(tenant_name, StatusCode::SERVICE_UNAVAILABLE, message);
    resp.headers_mut().insert(
        poem::http::header::RETRY_AFTER,
        poem::http::HeaderValue::from(crate::error::RETRY_AFTER_SECS),
    );
    resp
}

/// Takes the interaction one step further.
pub async fn resume(
    state: &AppState,
    issuer: &Issuer,
    id: &str,
    interaction: Interaction,
    session: Option<&Session>,
) -> Response {
    match step(state, issuer, id, &interaction, session).await {
        Ok(resp) => resp,
        Err(err) => unavailable(issuer, &err),
    }
}

async fn step(
    state: &AppState,
    issuer: &Issuer,
    id: &str,
    interaction: &Interaction,
    session: Option<&Session>,
) -> tenancy::Result<Response> {
    let request = &interaction.request;
    let tenant = TenantCtx::from(issuer.tenant());
    let now = state.now();
    // The session must be the one that started the interaction.
    let session = session.filter(|s| s.sid == interaction.sid);
    let user_id = session.and_then(|s| s.user_id);
    // A first-party client never asks for consent (`authorization::decide`), so its
    // stored consent is not looked up.
    let consent_covers = match user_id {
        Some(_) if request.first_party => true,
        Some(user) => {
            let catalog = issuer.resolved().apis(state.db()).await?;
            let asked = consents::asked(
                state.db(),
                &tenant,
                &catalog,
                &request.scopes(),
                &request.resources,
                user,
            )
            .await?;
            let (db, owner, client_id) = (
                state.db().clone(),
                tenant.clone(),
                request.client_id.clone(),
            );
            let granted = state
                .storage
                .run(async move { consents::granted(&db, &owner, user, &client_id).await })
                .await?;
            consents::covers(&granted, &asked)
        }
        None => false,
    };
    let cache = state.cache.as_ref();
    let mfa_required =
        tenancy::accounts::mfa::mfa_required(issuer.settings().mfa_policy, request.mfa);
    match authorization::decide(request, session, consent_covers, mfa_required, now) {
        Next::Login => Ok(redirect(&format!("{}/login?interaction={id}", issuer.url))),
        Next::SecondFactor => Ok(redirect(&format!(
            "{}/login/mfa?interaction={id}",
            issuer.url
        ))),
        Next::Consent => Ok(redirect(&format!(
            "{}/consent?interaction={id}",
            issuer.url
        ))),
        Next::Fail(code) => {
            interactions::finish(cache, tenant.id, id).await?;
            let message = match code {
                tenancy::core::oauth_error::ErrorCode::LoginRequired => "the user is not logged in",
                _ => "the user has not consented to this request",
            };
            Ok(redirect_error(
                issuer,
                request,
                &OAuthError::new(code, message),
            ))
        }
        Next::Issue => {
            let (Some(session), Some(user_id)) = (session, user_id) else {
                return Ok(redirect(&format!("{}/login?interaction={id}", issuer.url)));
            };
            if request.account {
                // A sign-in to the account page: no code, just go back there.
                interactions::finish(cache, tenant.id, id).await?;
                return Ok(redirect(&request.redirect_uri));
            }
            let grant = CodeGrant {
                client_id: request.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                user_id,
                scope: request.scope.clone(),
                resources: request.resources.clone(),
                nonce: request.nonce.clone(),
                auth_time: session.auth_time.unwrap_or(now.timestamp()),
                sid: session.sid.clone(),
                amr: session.amr.clone(),
                expires_at: now.timestamp() + codes::CODE_TTL.as_secs() as i64,
            };
            let code = codes::issue(cache, tenant.id, &grant).await?;
            interactions::finish(cache, tenant.id, id).await?;
            let mut params = vec![("code", code.as_str())];
            if let Some(s) = request.state.as_deref() {
                params.push(("state", s));
            }
            params.push(("iss", issuer.url.as_str()));
            Ok(redirect_to_client(&request.redirect_uri, &params))
        }
    }
}

/// The `Location` of a redirect `resp` (for JSON answers to script-driven steps).
pub fn location_of(resp: &Response) -> Option<String> {
    resp.headers()
        .get(poem::http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Loads the interaction named in a form or query and checks it belongs to `session`.
pub async fn bound_interaction(
    state: &AppState,
    issuer: &Issuer,
    id: Option<&str>,
    session: &Session,
) -> OAuthResult<Option<Interaction>> {
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(
        interactions::load(state.cache.as_ref(), issuer.tenant().id, id)
            .await?
            .filter(|ix| ix.sid == session.sid),
    )
}

const EXPIRED: &str = "This request has expired or belongs to another browser window. Please start again from the application.";

/// Where a page of the flow stands: the browser's session and its pending interaction.
pub struct Step {
    /// The session cookie's value.
    pub cookie: String,
    /// The session.
    pub session: Session,
    /// The interaction id.
    pub id: String,
    /// The pending interaction.
    pub interaction: Interaction,
}

/// Loads the session and interaction `id` a page needs (a logged-in session when
/// `need_user`), or the error page to show instead.
pub async fn load_step(
    state: &AppState,
    issuer: &Issuer,
    req: &Request,
    id: &str,
    need_user: bool,
) -> Result<Step, Response> {
    let expired = || {
        super::error_page(
            &issuer.tenant().display_name,
            StatusCode::BAD_REQUEST,
            EXPIRED,
        )
    };
    let (cookie, session) = match current_session(state, issuer, req).await {
        Ok(Some(found)) if !need_user || found.1.user_id.is_some() => found,
        Ok(_) => return Err(expired()),
        Err(err) => return Err(unavailable(issuer, &err)),
    };
    match bound_interaction(state, issuer, Some(id), &session).await {
        Ok(Some(interaction)) => Ok(Step {
            cookie,
            session,
            id: id.to_owned(),
            interaction,
        }),
        Ok(None) => Err(expired()),
        Err(err) => Err(crate::error::oauth_error_response(&err)),
    }
}

/// The `interaction` query parameter of a page request.
pub fn interaction_param(req: &Request) -> String {
    crate::oauth::form::Params::parse(req.uri().query().unwrap_or_default().as_bytes())
        .ok()
        .and_then(|q| q.get("interaction").map(str::to_owned))
        .unwrap_or_default()
}

/// Reads a posted form of the flow, checks its CSRF token against the session and
/// loads the interaction it names; or the error page to show instead.
pub async fn load_form_step(
    state: &AppState,
    issuer: &Issuer,
    req: &Request,
    body: poem::Body,
    need_user: bool,
) -> Result<(Step, crate::oauth::form::Params), Response> {
    let name = &issuer.tenant().display_name;
    let form = match body.into_bytes_limit(state.settings.max_body_bytes).await {
        Ok(bytes) => crate::oauth::form::Params::parse(&bytes).map_err(|_| {
            super::error_page(name, StatusCode::BAD_REQUEST, "The form is malformed.")
        })?,
        Err(_) => {
            return Err(super::error_page(
                name,
                StatusCode::BAD_REQUEST,
                "The form is too large.",
            ));
        }
    };
    let id = form.get("interaction").unwrap_or_default().to_owned();
    let step = load_step(state, issuer, req, &id, need_user).await?;
    if !sessions::csrf_matches(&step.session, form.get("csrf_token").unwrap_or_default()) {
        return Err(super::error_page(
            name,
            StatusCode::FORBIDDEN,
            "The form has expired. Please go back and try again.",
        ));
    }
    Ok((step, form))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_work_queue_is_a_503_page_with_retry_after() {
        let resp = unavailable_page("Acme", &tenancy::Error::Busy("argon2"));
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[poem::http::header::RETRY_AFTER], "1");
        assert!(
            resp.headers()[poem::http::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = resp.into_body().into_string().await.unwrap();
        assert!(html.contains("busy"), "{html}");
    }
}
