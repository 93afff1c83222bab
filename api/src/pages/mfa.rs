//! `GET|POST /t/{slug}/login/mfa`: the second step of a login, a step-up of an existing
//! session (`acr_values`), or the enrolment a `required` policy forces on a user
//! without a factor.
//!
//! The subject is the user of a pending session (password proven) or of a logged-in
//! session being stepped up. Codes are throttled exactly like passwords
//! (`tenancy::accounts::lockout`): failures count toward the lockout of the user's account
//! (shared with its username and email), which is cleared only when a login
//! completes, and toward the client address's credential-stuffing budget. Success
//! replaces the session with a new one (new cookie value and `sid`) whose `amr` records
//! what was used.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use tenancy::core::amr;
use tenancy::{
    accounts::lockout,
    accounts::mfa::{self, recovery, totp},
    accounts::sessions::{self, Session},
    core::TenantCtx,
    entity::users,
    journal::audit::Actor,
    oauth::interactions::{self, Interaction},
    oauth::sign_in,
};
use uuid::Uuid;

use super::{
    MfaPage, PasskeyScript, RecoveryCodesPage, flow, html, html_scripted, set_session_cookie,
};
use crate::{protocol::Issuer, state::AppState};

/// Who a session is proving a second factor for, and what it has proven so far.
pub fn subject(session: &Session) -> Option<(Uuid, Vec<String>)> {
    match (&session.pending, session.user_id) {
        (Some(p), None) => Some((p.user_id, p.amr.clone())),
        (None, Some(user)) => Some((user, session.amr.clone())),
        _ => None,
    }
}

/// After a correct password when a second factor is due: a pending session (new id)
/// replaces the browser's, and the flow goes on to the second-factor page.
pub async fn begin(
    state: &AppState,
    issuer: &Issuer,
    slug: &str,
    actor: &Actor,
    cookie: &str,
    (id, mut interaction): (&str, Interaction),
    user: &users::Model,
) -> Response {
    let started = sign_in::second_factor_pending(
        state.db(),
        state.cache.as_ref(),
        issuer,
        actor,
        cookie,
        (id, &mut interaction),
        user,
        state.now(),
    )
    .await;
    let (new_cookie, session) = match started {
        Ok(pair) => pair,
        Err(err) => return flow::unavailable(issuer, &err),
    };
    let mut resp = flow::resume(state, issuer, id, interaction, Some(&session)).await;
    let ttl = interactions::INTERACTION_TTL.as_secs();
    set_session_cookie(&mut resp, &state.settings, slug, &new_cookie, ttl);
    resp
}

/// Counts a failed code (or re-authentication) of `user` through
/// [`tenancy::accounts::login::second_factor_failed`], and in the failure metric.
pub async fn failed_attempt(
    state: &AppState,
    issuer: &Issuer,
    actor: &Actor,
    user: &users::Model,
    method: &str,
) -> tenancy::Result<()> {
    state.metrics.login_failures.inc();
    let (db, cache, now) = (state.db(), state.cache.as_ref(), state.now());
    tenancy::accounts::login::second_factor_failed(db, cache, issuer, actor, user, method, now)
        .await
}

struct View<'a> {
    step: &'a flow::Step,
    user: &'a users::Model,
    error: Option<&'a str>,
    status: StatusCode,
}

async fn render(state: &AppState, issuer: &Issuer, req: &Request, view: View<'_>) -> Response {
    let tenant = TenantCtx::from(issuer.tenant());
    let factors = match mfa::factors(state.db(), &tenant, view.user.id).await {
        Ok(f) => f,
        Err(err) => return flow::unavailable(issuer, &err),
    };
    let enrol = !factors.any();
    if enrol
        && view.step.session.user_id.is_some()
        && !mfa::may_add_factor(&view.step.session, false, state.now())
    {
        // A step-up that must enrol the first factor: that needs the password within
        // the last few minutes, so this sign-in goes through the login page again.
        let mut interaction = view.step.interaction.clone();
        interaction.request.prompt_login = true;
        let tenant_id = tenant.id;
        if let Err(err) =
            interactions::put(state.cache.as_ref(), tenant_id, &view.step.id, &interaction).await
        {
            return flow::unavailable(issuer, &err);
        }
        return super::redirect(&format!(
            "{}/login?interaction={}",
            issuer.url, view.step.id
        ));
    }
    let enrolment = if enrol {
        let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
        let actor = crate::client_ip::actor(req, ip, format!("user:{}", view.user.id));
        match totp::enrolment_for(
            state.db(),
            state.cache.as_ref(),
            &state.keyring,
            &tenant,
            &actor,
            view.user,
            &view.step.session.sid,
            &issuer.tenant().display_name,
            state.now(),
        )
        .await
        {
            Ok(e) => Some(e),
            Err(err) => return flow::unavailable(issuer, &err),
        }
    } else {
        None
    };
    let rp = super::passkeys::available(issuer, state);
    let passkey = rp && (enrol || !factors.passkeys.is_empty());
    let (options, finish) = if enrol {
        ("passkeys/register/options", "passkeys/register")
    } else {
        ("login/passkey/options", "login/passkey")
    };
    let script = match PasskeyScript::new() {
        Ok(script) => script,
        Err(err) => return flow::unavailable(issuer, &err),
    };
    let page = MfaPage {
        tenant_name: &issuer.tenant().display_name,
        action: format!("{}/login/mfa", issuer.url),
        interaction: &view.step.id,
        csrf: &view.step.session.csrf,
        error: view.error,
        enrol,
        enrolment,
        totp: factors.totp,
        recovery: !enrol && factors.recovery_codes_left > 0,
        passkey,
        passkey_mode: if enrol { "create" } else { "get" },
        passkey_purpose: if enrol { "enrol" } else { "mfa" },
        passkey_options: format!("{}/{options}", issuer.url),
        passkey_finish: format!("{}/{finish}", issuer.url),
        script,
    };
    if passkey {
        // The TOTP and recovery-code forms are answered with the redirect to the client.
        let client = &view.step.interaction.request.redirect_uri;
        html_scripted(view.status, &page, &page.script, Some(client))
    } else {
        html(view.status, &page)
    }
}

async fn subject_user(
    state: &AppState,
    issuer: &Issuer,
    session: &Session,
) -> Result<(users::Model, Vec<String>), Response> {
    let expired = || {
        super::error_page(
            &issuer.tenant().display_name,
            StatusCode::BAD_REQUEST,
            "This sign-in has expired. Please start again from the application.",
        )
    };
    let Some((user_id, amr)) = subject(session) else {
        return Err(expired());
    };
    match tenancy::accounts::users::get(state.db(), &TenantCtx::from(issuer.tenant()), user_id)
        .await
    {
        Ok(user) if user.enabled => Ok((user, amr)),
        Ok(_) | Err(tenancy::Error::NotFound(_)) => Err(expired()),
        Err(err) => Err(flow::unavailable(issuer, &err)),
    }
}

/// Shows the second-factor page.
#[handler]
pub async fn show(state: Data<&AppState>, Path(slug): Path<String>, req: &Request) -> Response {
    let issuer = match crate::protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let step =
        match flow::load_step(&state, &issuer, req, &flow::interaction_param(req), false).await {
            Ok(step) => step,
            Err(page) => return page,
        };
    let (user, _) = match subject_user(&state, &issuer, &step.session).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let view = View {
        step: &step,
        user: &user,
        error: None,
        status: StatusCode::OK,
    };
    render(&state, &issuer, req, view).await
}

/// Checks a TOTP or recovery code, or confirms a TOTP enrolment; on success the
/// session is renewed with the second factor and the flow continues.
#[handler]
pub async fn submit(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match crate::protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let (step, form) = match flow::load_form_step(&state, &issuer, req, body, false).await {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    let (user, amr) = match subject_user(&state, &issuer, &step.session).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let method = form.get("method").unwrap_or_default().to_owned();
    if method == "continue" {
        return flow::resume(
            &state,
            &issuer,
            &step.id,
            step.interaction.clone(),
            Some(&step.session),
        )
        .await;
    }
    if !matches!(method.as_str(), "totp" | "recovery" | "enrol_totp") {
        let view = View {
            step: &step,
            user: &user,
            error: Some("Please choose a way to confirm it's you."),
            status: StatusCode::BAD_REQUEST,
        };
        return render(&state, &issuer, req, view).await;
    }
    let code = form.get("code").unwrap_or_default();
    let tenant = TenantCtx::from(issuer.tenant());
    let now = state.now();
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, format!("user:{}", user.id));
    let settings = issuer.settings();
    let cache = state.cache.as_ref();
    let subjects = lockout::Subjects::user(&user);
    let refused = async {
        if let Some(left) = lockout::locked_for(cache, tenant.id, &subjects, now).await? {
            return Ok(Some(left));
        }
        match ip {
            Some(ip) => lockout::address_throttled(cache, tenant.id, ip, settings, now).await,
            None => Ok(None),
        }
    };
    let refused = match refused.await {
        Ok(refused) => refused,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    if let Some(wait) = refused {
        let view = View {
            step: &step,
            user: &user,
            error: Some("Too many failed attempts. Please wait a few minutes and try again."),
            status: StatusCode::TOO_MANY_REQUESTS,
        };
        let mut resp = render(&state, &issuer, req, view).await;
        resp.headers_mut().insert(
            poem::http::header::RETRY_AFTER,
            poem::http::HeaderValue::from(wait.as_secs().max(1)),
        );
        return resp;
    }
    let checked = match method.as_str() {
        "totp" => totp::verify(state.db(), &state.keyring, &tenant, user.id, code, now).await,
        "recovery" => recovery::redeem(state.db(), &tenant, &actor, user.id, code, now).await,
        _ => {
            totp::confirm(
                state.db(),
                state.cache.as_ref(),
                &state.keyring,
                &tenant,
                &actor,
                user.id,
                &step.session.sid,
                code,
                now,
            )
            .await
        }
    };
    match checked {
        Ok(true) => {}
        Ok(false) => {
            if let Err(err) = failed_attempt(&state, &issuer, &actor, &user, &method).await {
                return flow::unavailable(&issuer, &err);
            }
            let view = View {
                step: &step,
                user: &user,
                error: Some("That code is not valid. Please try again."),
                status: StatusCode::UNAUTHORIZED,
            };
            return render(&state, &issuer, req, view).await;
        }
        Err(err) => return flow::unavailable(&issuer, &err),
    }
    let flow::Step {
        cookie,
        id,
        mut interaction,
        ..
    } = step;
    let amr = if method == "enrol_totp" {
        // Enrolled in this sign-in: the new factor proves nothing about it, so the
        // sign-in stays at the password (`acr` `0`) and is marked as such.
        if let Err(err) = sessions::mark_enrolled(
            state.cache.as_ref(),
            tenant.id,
            &cookie,
            interactions::INTERACTION_TTL,
        )
        .await
        {
            return flow::unavailable(&issuer, &err);
        }
        crate::emails::send_mfa_added(
            &state,
            &issuer.tenant().display_name,
            &user,
            "An authenticator app",
        );
        amr
    } else {
        amr::add_methods(&amr, &[amr::AMR_OTP], false)
    };
    let (new_cookie, session) = match sign_in::finish(
        state.db(),
        state.cache.as_ref(),
        &issuer,
        &actor,
        &cookie,
        Some((id.as_str(), &mut interaction)),
        &user,
        amr,
        state.now(),
    )
    .await
    {
        Ok(pair) => pair,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    let ttl = u64::from(issuer.settings().session_ttl_secs);
    let mut resp = if method == "enrol_totp" {
        // The first factor is set up: hand out recovery codes now, once.
        let codes = match recovery::regenerate(state.db(), &tenant, &actor, user.id, now).await {
            Ok(codes) => codes,
            Err(err) => return flow::unavailable(&issuer, &err),
        };
        html(
            StatusCode::OK,
            &RecoveryCodesPage {
                tenant_name: &issuer.tenant().display_name,
                codes,
                action: format!("{}/login/mfa", issuer.url),
                interaction: Some(&id),
                csrf: &session.csrf,
            },
        )
    } else {
        flow::resume(&state, &issuer, &id, interaction, Some(&session)).await
    };
    set_session_cookie(&mut resp, &state.settings, &slug, &new_cookie, ttl);
    resp
}
