//! `GET|POST /t/{slug}/login`: the password login form of a pending authorization
//! (with a passkey button for passwordless sign-in, see [`super::passkeys`]). When a
//! second factor is due the password gives only a pending session and the browser
//! goes on to [`super::mfa`].

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
    throttle,
};

use super::{LoginPage, flow, html, set_session_cookie};
use crate::{protocol, state::AppState};

fn login_page(
    state: &AppState,
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
            passkeys: super::passkeys::available(issuer, state),
            passkey_options: format!("{}/login/passkey/options", issuer.url),
            passkey_finish: format!("{}/login/passkey", issuer.url),
        },
    )
}

/// The login form again, refusing further attempts for now (429).
fn too_many(
    state: &AppState,
    issuer: &protocol::Issuer,
    interaction: &str,
    session: &Session,
    username: &str,
) -> Response {
    let mut resp = login_page(
        state,
        issuer,
        interaction,
        session,
        username,
        Some("Too many failed attempts. Please wait a few minutes and try again."),
    );
    resp.set_status(StatusCode::TOO_MANY_REQUESTS);
    resp.headers_mut().insert(
        poem::http::header::RETRY_AFTER,
        poem::http::HeaderValue::from_static("60"),
    );
    resp
}

/// Shows the login form.
#[handler]
pub async fn show(state: Data<&AppState>, Path(slug): Path<String>, req: &Request) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    match flow::load_step(&state, &issuer, req, &flow::interaction_param(req), false).await {
        Ok(step) => {
            let hint = step
                .interaction
                .request
                .login_hint
                .clone()
                .unwrap_or_default();
            login_page(&state, &issuer, &step.id, &step.session, &hint, None)
        }
        Err(page) => page,
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
    let (step, form) = match flow::load_form_step(&state, &issuer, req, body, false).await {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    let flow::Step {
        cookie,
        session,
        id,
        mut interaction,
    } = step;
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let tenant = TenantCtx::from(&issuer.tenant);
    let now = state.now();
    let cache = state.cache.as_ref();
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, "anonymous");
    if ip.is_some_and(|ip| state.login_limiter.check_key(&(tenant.id, ip)).is_err()) {
        return too_many(&state, &issuer, &id, &session, username);
    }
    match throttle::is_locked(cache, tenant.id, username).await {
        Ok(false) => {}
        Ok(true) => return too_many(&state, &issuer, &id, &session, username),
        Err(err) => return flow::unavailable(&issuer, &err),
    }
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
        match throttle::record_failure(cache, tenant.id, username).await {
            Ok(false) => {}
            Ok(true) => {
                let locked = Event {
                    tenant_id: Some(tenant.id),
                    action: "user.login_locked",
                    target: None,
                    outcome: "failure",
                    details: serde_json::json!({ "window_secs": throttle::WINDOW.as_secs() }),
                };
                if let Err(err) = audit::record(&state.db, &actor, locked, now).await {
                    return flow::unavailable(&issuer, &err);
                }
                state
                    .events
                    .publish(tenancy::events::SecurityEvent {
                        tenant_id: Some(tenant.id),
                        kind: "user.login_locked".into(),
                        occurred_at: now,
                        details: serde_json::json!({ "ip": actor.ip }),
                    })
                    .await;
            }
            Err(err) => return flow::unavailable(&issuer, &err),
        }
        return login_page(
            &state,
            &issuer,
            &id,
            &session,
            username,
            Some("Invalid username or password."),
        );
    };
    let factors = match tenancy::mfa::factors(&state.db, &tenant, user.id).await {
        Ok(factors) => factors,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    if tenancy::mfa::second_factor_due(
        issuer.settings.mfa_policy,
        factors.any(),
        interaction.request.mfa,
    ) {
        // The failure count is cleared only once the whole login succeeds, so going
        // through the password again cannot reset the second factor's attempts.
        return super::mfa::begin(
            &state,
            &issuer,
            &slug,
            req,
            &cookie,
            &id,
            interaction,
            &user,
        )
        .await;
    }
    if let Err(err) = throttle::record_success(cache, tenant.id, username).await {
        return flow::unavailable(&issuer, &err);
    }
    let ttl = Duration::from_secs(u64::from(issuer.settings.session_ttl_secs));
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
        let actor = Actor {
            id: format!("user:{}", user.id),
            ..actor
        };
        audit::record(&state.db, &actor, logged, now).await
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
