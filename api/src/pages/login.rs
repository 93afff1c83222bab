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
    accounts::lockout,
    accounts::login,
    accounts::sessions::{self, Session},
    core::TenantCtx,
    journal::audit::{self, Actor, Event},
    oauth::interactions,
};

use super::{LoginPage, PasskeyScript, flow, html, html_scripted, set_session_cookie};
use crate::{protocol, state::AppState};

/// The login form of interaction `interaction`, whose client's redirect URI is
/// `redirect_uri` (where a correct password may send the browser straight away).
fn login_page(
    state: &AppState,
    issuer: &protocol::Issuer,
    (interaction, redirect_uri): (&str, &str),
    session: &Session,
    username: &str,
    error: Option<&str>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let script = match PasskeyScript::new() {
        Ok(script) => script,
        Err(err) => return flow::unavailable(issuer, &err),
    };
    let page = LoginPage {
        tenant_name: &issuer.tenant().display_name,
        action: format!("{}/login", issuer.url),
        interaction,
        csrf: &session.csrf,
        username,
        error,
        passkeys: super::passkeys::available(issuer, state),
        passkey_options: format!("{}/login/passkey/options", issuer.url),
        passkey_finish: format!("{}/login/passkey", issuer.url),
        script,
    };
    if page.passkeys {
        html_scripted(status, &page, &page.script, Some(redirect_uri))
    } else {
        html(status, &page)
    }
}

/// The login form again, refusing further attempts for `wait` (429 + `Retry-After`).
fn too_many(
    state: &AppState,
    issuer: &protocol::Issuer,
    interaction: (&str, &str),
    session: &Session,
    username: &str,
    wait: Duration,
) -> Response {
    let mut resp = login_page(
        state,
        issuer,
        interaction,
        session,
        username,
        Some("Too many failed attempts. Please wait a few minutes and try again."),
    );
    state.metrics.throttled.with_label_values(&["login"]).inc();
    resp.set_status(StatusCode::TOO_MANY_REQUESTS);
    resp.headers_mut().insert(
        poem::http::header::RETRY_AFTER,
        poem::http::HeaderValue::from(wait.as_secs().max(1)),
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
            let shown = (
                step.id.as_str(),
                step.interaction.request.redirect_uri.as_str(),
            );
            login_page(&state, &issuer, shown, &step.session, &hint, None)
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
    // Where the forms of a login page shown again may be redirected to.
    let redirect_uri = interaction.request.redirect_uri.clone();
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let tenant = TenantCtx::from(issuer.tenant());
    let now = state.now();
    let cache = state.cache.as_ref();
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, "anonymous");
    let settings = issuer.settings();
    let policy = lockout::Policy::from_settings(settings);
    let refuse = |wait| {
        too_many(
            &state,
            &issuer,
            (&id, &redirect_uri),
            &session,
            username,
            wait,
        )
    };
    // Only failures count, so a user who gets it right is never refused here; an
    // address with too many failures across accounts is (credential stuffing).
    if let Some(ip) = ip {
        match lockout::address_throttled(cache, tenant.id, ip, settings, now).await {
            Ok(None) => {}
            Ok(Some(wait)) => return refuse(wait),
            Err(err) => return flow::unavailable(&issuer, &err),
        }
    }
    let typed = lockout::Subjects::typed(username, None);
    match lockout::locked_for(cache, tenant.id, &typed, now).await {
        Ok(None) => {}
        Ok(Some(left)) => return refuse(left),
        Err(err) => return flow::unavailable(&issuer, &err),
    }
    // The lockout is keyed on the account too, so a username and its email address
    // share one budget.
    let found = match tenancy::accounts::users::find_by_login(state.db(), &tenant, username).await {
        Ok(found) => found,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    let subjects = lockout::Subjects::typed(username, found.as_ref().map(|u| u.id));
    // Counted before the password is checked, so parallel guesses cannot overshoot.
    let number = match lockout::begin_attempt(cache, tenant.id, &subjects, policy, now).await {
        Ok(lockout::Attempt::Allowed { number, delay }) => {
            tokio::time::sleep(delay).await;
            number
        }
        Ok(lockout::Attempt::Locked { retry_after }) => return refuse(retry_after),
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    let user = match login::check_password(found, password).await {
        Ok(user) => user,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    let Some(user) = user else {
        state.metrics.login_failures.inc();
        let client_id = &interaction.request.client_id;
        let recorded = async {
            let locked =
                lockout::attempt_failed(cache, tenant.id, &subjects, number, policy, now).await?;
            let locked = locked.then_some(policy.lockout);
            login::record_failure(state.db(), &actor, &tenant, client_id, locked, now).await?;
            if let Some(ip) = ip
                && lockout::address_failed(cache, tenant.id, ip, settings, now).await?
            {
                login::record_throttled_address(state.db(), &actor, &tenant, ip, now).await?;
            }
            Ok::<(), tenancy::Error>(())
        };
        if let Err(err) = recorded.await {
            return flow::unavailable(&issuer, &err);
        }
        return login_page(
            &state,
            &issuer,
            (&id, &redirect_uri),
            &session,
            username,
            Some("Invalid username or password."),
        );
    };
    let factors = match tenancy::accounts::mfa::factors(state.db(), &tenant, user.id).await {
        Ok(factors) => factors,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    if tenancy::accounts::mfa::second_factor_due(
        issuer.settings().mfa_policy,
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
    if let Err(err) = lockout::attempt_succeeded(cache, tenant.id, &subjects).await {
        return flow::unavailable(&issuer, &err);
    }
    let ttl = Duration::from_secs(u64::from(issuer.settings().session_ttl_secs));
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
    interaction.request.signed_in(&new_session);
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
        audit::record(state.db(), &actor, logged, now).await
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
