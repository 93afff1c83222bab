//! `GET|POST /t/{slug}/login`: the password login form of a pending authorization.

use std::time::Duration;

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use tenancy::{
    audit::{self, Actor, Event},
    interactions, login,
    sessions::{self, Session},
    tenants::TenantCtx,
};

use super::{LoginPage, error_page, flow, html, set_session_cookie};
use crate::{oauth::form::Params, protocol, state::AppState};

const EXPIRED: &str = "This sign-in request has expired or belongs to another browser window. Please start again from the application.";

fn login_page(
    issuer: &protocol::Issuer,
    interaction: &str,
    session: &Session,
    username: &str,
    error: Option<&str>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    html(
        status,
        &LoginPage {
            tenant_name: &issuer.tenant.display_name,
            action: format!("{}/login", issuer.url),
            interaction,
            csrf: &session.csrf,
            username,
            error,
        },
    )
}

/// Shows the login form.
#[handler]
pub async fn show(state: Data<&AppState>, Path(slug): Path<String>, req: &Request) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let query = Params::parse(req.uri().query().unwrap_or_default().as_bytes()).ok();
    let id = query
        .as_ref()
        .and_then(|q| q.get("interaction"))
        .unwrap_or_default()
        .to_owned();
    let session = match flow::current_session(&state, &issuer, req).await {
        Ok(Some((_, s))) => s,
        Ok(None) => {
            return error_page(
                &issuer.tenant.display_name,
                StatusCode::BAD_REQUEST,
                EXPIRED,
            );
        }
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    match flow::bound_interaction(&state, &issuer, Some(&id), &session).await {
        Ok(Some(ix)) => {
            let hint = ix.request.login_hint.clone().unwrap_or_default();
            login_page(&issuer, &id, &session, &hint, None)
        }
        Ok(None) => error_page(
            &issuer.tenant.display_name,
            StatusCode::BAD_REQUEST,
            EXPIRED,
        ),
        Err(err) => crate::error::oauth_error_response(&err),
    }
}

/// Checks the submitted credentials; on success starts a fresh session and continues
/// the authorization.
#[handler]
pub async fn submit(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let name = issuer.tenant.display_name.clone();
    let Ok(bytes) = body.into_bytes_limit(state.settings.max_body_bytes).await else {
        return error_page(&name, StatusCode::BAD_REQUEST, "The request is too large.");
    };
    let Ok(form) = Params::parse(&bytes) else {
        return error_page(&name, StatusCode::BAD_REQUEST, "The form is malformed.");
    };
    let (cookie, session) = match flow::current_session(&state, &issuer, req).await {
        Ok(Some(found)) => found,
        Ok(None) => return error_page(&name, StatusCode::BAD_REQUEST, EXPIRED),
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    if !sessions::csrf_matches(&session, form.get("csrf_token").unwrap_or_default()) {
        return error_page(
            &name,
            StatusCode::FORBIDDEN,
            "The form has expired. Please go back and try again.",
        );
    }
    let id = form.get("interaction").unwrap_or_default().to_owned();
    let mut interaction = match flow::bound_interaction(&state, &issuer, Some(&id), &session).await
    {
        Ok(Some(ix)) => ix,
        Ok(None) => return error_page(&name, StatusCode::BAD_REQUEST, EXPIRED),
        Err(err) => return crate::error::oauth_error_response(&err),
    };
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let tenant = TenantCtx::from(&issuer.tenant);
    let now = state.now();
    let actor = Actor {
        id: "anonymous".into(),
        ip: crate::client_ip::client_ip(req, &state.settings.trusted_proxies)
            .map(|ip| ip.to_string()),
        user_agent: req.header("user-agent").map(str::to_owned),
    };
    let user = match login::verify(&state.db, &tenant, username, password).await {
        Ok(user) => user,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    let Some(user) = user else {
        let event = Event {
            tenant_id: Some(tenant.id),
            action: "user.login",
            target: None,
            outcome: "failure",
            details: serde_json::json!({ "client_id": interaction.request.client_id }),
        };
        if let Err(err) = audit::record(&state.db, &actor, event, now).await {
            return flow::unavailable(&issuer, &err);
        }
        return login_page(
            &issuer,
            &id,
            &session,
            username,
            Some("Invalid username or password."),
        );
    };
    let ttl = Duration::from_secs(u64::from(issuer.settings.session_ttl_secs));
    let cache = state.cache.as_ref();
    let (new_cookie, new_session) = match sessions::log_in(
        cache,
        tenant.id,
        Some(&cookie),
        user.id,
        vec!["pwd".into()],
        now,
        ttl,
    )
    .await
    {
        Ok(pair) => pair,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    interaction.sid = new_session.sid.clone();
    interaction.request.prompt_login = false;
    let logged = Event {
        tenant_id: Some(tenant.id),
        action: "user.login",
        target: Some(format!("user:{}", user.id)),
        outcome: "success",
        details: serde_json::json!({ "client_id": interaction.request.client_id, "amr": ["pwd"] }),
    };
    let saved = async {
        interactions::put(cache, tenant.id, &id, &interaction).await?;
        audit::record(
            &state.db,
            &Actor {
                id: format!("user:{}", user.id),
                ..actor
            },
            logged,
            now,
        )
        .await
    };
    if let Err(err) = saved.await {
        return flow::unavailable(&issuer, &err);
    }
    let mut resp = flow::resume(&state, &issuer, &id, interaction, Some(&new_session)).await;
    set_session_cookie(
        &mut resp,
        &state.settings,
        &slug,
        &new_cookie,
        ttl.as_secs(),
    );
    resp
}
