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
    accounts::login::{self, LoginOutcome},
    accounts::sessions::Session,
    oauth::sign_in,
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

/// Checks the submitted credentials through [`login::attempt`]; on success starts a
/// fresh session and continues the authorization.
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
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, "anonymous");
    let attempt = login::PasswordLogin {
        username,
        password: form.get("password").unwrap_or_default(),
        client_id: &interaction.request.client_id,
        ip,
        mfa_requested: interaction.request.mfa,
    };
    let (db, cache, now) = (state.db(), state.cache.as_ref(), state.now());
    let outcome =
        match login::attempt(db, &state.workers, cache, &issuer, &actor, attempt, now).await {
            Ok(outcome) => outcome,
            Err(err) => return flow::unavailable(&issuer, &err),
        };
    // Where the forms of a login page shown again may be redirected to.
    let shown = (id.as_str(), interaction.request.redirect_uri.as_str());
    let user = match outcome {
        LoginOutcome::Throttled { retry_after } => {
            return too_many(&state, &issuer, shown, &session, username, retry_after);
        }
        LoginOutcome::Refused => {
            state.metrics.login_failures.inc();
            let error = Some("Invalid username or password.");
            return login_page(&state, &issuer, shown, &session, username, error);
        }
        LoginOutcome::SecondFactorDue(user) => {
            let pursued = (id.as_str(), interaction);
            return super::mfa::begin(&state, &issuer, &slug, &actor, &cookie, pursued, &user)
                .await;
        }
        LoginOutcome::SignedIn(user) => user,
    };
    let pursued = Some((id.as_str(), &mut interaction));
    let amr = vec![tenancy::core::amr::AMR_PWD.to_owned()];
    let finished = sign_in::finish(
        db, cache, &issuer, &actor, &cookie, pursued, &user, amr, now,
    )
    .await;
    let (new_cookie, new_session) = match finished {
        Ok(pair) => pair,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    let mut resp = flow::resume(&state, &issuer, &id, interaction, Some(&new_session)).await;
    let ttl = u64::from(issuer.settings().session_ttl_secs);
    set_session_cookie(&mut resp, &state.settings, &slug, &new_cookie, ttl);
    resp
}
