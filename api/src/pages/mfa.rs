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
    accounts::sessions::{self, Pending, Session},
    core::TenantCtx,
    entity::users,
    journal::audit::{self, Actor, Event},
    oauth::interactions::{self, Interaction},
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
#[expect(clippy::too_many_arguments, reason = "the login step's whole context")]
pub async fn begin(
    state: &AppState,
    issuer: &Issuer,
    slug: &str,
    req: &Request,
    cookie: &str,
    id: &str,
    mut interaction: Interaction,
    user: &users::Model,
) -> Response {
    let tenant = TenantCtx::from(issuer.tenant());
    let ttl = interactions::INTERACTION_TTL;
    let pending = Pending {
        user_id: user.id,
        amr: vec![amr::AMR_PWD.into()],
    };
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, format!("user:{}", user.id));
    let started = async {
        let (new_cookie, session) = sessions::begin_second_factor(
            state.cache.as_ref(),
            tenant.id,
            Some(cookie),
            pending,
            ttl,
        )
        .await?;
        interaction.sid = session.sid.clone();
        interaction.request.prompt_login = false;
        interactions::put(state.cache.as_ref(), tenant.id, id, &interaction).await?;
        audit::record(
            state.db(),
            &actor,
            Event::success(
                Some(tenant.id),
                "user.login_first_factor",
                format!("user:{}", user.id),
            )
            .with_details(
                serde_json::json!({ "client_id": interaction.request.client_id, "amr": ["pwd"] }),
            ),
            state.now(),
        )
        .await?;
        Ok::<_, tenancy::Error>((new_cookie, session))
    };
    let (new_cookie, session) = match started.await {
        Ok(pair) => pair,
        Err(err) => return flow::unavailable(issuer, &err),
    };
    let mut resp = flow::resume(state, issuer, id, interaction, Some(&session)).await;
    set_session_cookie(&mut resp, &state.settings, slug, &new_cookie, ttl.as_secs());
    resp
}

/// Completes a login (or step-up) of `user` with `amr`: a new session replaces the
/// browser's, the interaction follows it, the login is audited and the user's failure
/// count cleared. Returns the new cookie value and session.
pub async fn complete(
    state: &AppState,
    issuer: &Issuer,
    actor: &Actor,
    cookie: &str,
    interaction: Option<(&str, &mut Interaction)>,
    user: &users::Model,
    amr: Vec<String>,
) -> tenancy::Result<(String, Session)> {
    let tenant = TenantCtx::from(issuer.tenant());
    let cache = state.cache.as_ref();
    let now = state.now();
    let ttl = std::time::Duration::from_secs(u64::from(issuer.settings().session_ttl_secs));
    let (new_cookie, session) = sessions::log_in(
        cache,
        tenant.id,
        Some(cookie),
        user.id,
        amr.clone(),
        now,
        ttl,
    )
    .await?;
    let client_id = match interaction {
        Some((id, interaction)) => {
            interaction.sid = session.sid.clone();
            interaction.request.signed_in(&session);
            interactions::put(cache, tenant.id, id, interaction).await?;
            interaction.request.client_id.clone()
        }
        None => String::new(),
    };
    lockout::attempt_succeeded(cache, tenant.id, &lockout::Subjects::user(user)).await?;
    let actor = Actor {
        id: format!("user:{}", user.id),
        ..actor.clone()
    };
    audit::record(
        state.db(),
        &actor,
        Event::success(Some(tenant.id), "user.login", format!("user:{}", user.id))
            .with_details(serde_json::json!({ "client_id": client_id, "amr": amr })),
        now,
    )
    .await?;
    Ok((new_cookie, session))
}

/// Counts a failed code (or re-authentication) toward the user's lockout and the
/// address's failure budget, audits it, and raises the lockout or the
/// `brute_force.detected` alert when this failure reaches a threshold.
pub async fn failed_attempt(
    state: &AppState,
    settings: &tenancy::core::TenantSettings,
    tenant: &TenantCtx,
    actor: &Actor,
    user: &users::Model,
    method: &str,
) -> tenancy::Result<()> {
    let now = state.now();
    state.metrics.login_failures.inc();
    audit::record(
        state.db(),
        actor,
        Event {
            tenant_id: Some(tenant.id),
            action: "user.second_factor",
            target: Some(format!("user:{}", user.id)),
            outcome: "failure",
            details: serde_json::json!({ "method": method }),
        },
        now,
    )
    .await?;
    let cache = state.cache.as_ref();
    if let Some(ip) = actor
        .ip
        .as_deref()
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
        && lockout::address_failed(cache, tenant.id, ip, settings, now).await?
    {
        tenancy::accounts::login::record_throttled_address(state.db(), actor, tenant, ip, now)
            .await?;
    }
    let policy = lockout::Policy::from_settings(settings);
    let subjects = lockout::Subjects::user(user);
    if lockout::record_failure(cache, tenant.id, &subjects, policy, now).await? {
        tenancy::journal::alerts::record_and_raise(
            state.db(),
            actor,
            Event {
                tenant_id: Some(tenant.id),
                action: "user.login_locked",
                target: Some(format!("user:{}", user.id)),
                outcome: "failure",
                details: serde_json::json!({ "lockout_secs": policy.lockout.as_secs(), "method": method }),
            },
            tenancy::journal::alerts::SecurityEvent::new(
                Some(tenant.id),
                tenancy::journal::alerts::kinds::ACCOUNT_LOCKED,
                serde_json::json!({ "ip": actor.ip, "user_id": user.id, "method": method }),
                now,
            ),
        )
        .await?;
    }
    Ok(())
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
            if let Err(err) =
                failed_attempt(&state, settings, &tenant, &actor, &user, &method).await
            {
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
    let (new_cookie, session) = match complete(
        &state,
        &issuer,
        &actor,
        &cookie,
        Some((id.as_str(), &mut interaction)),
        &user,
        amr,
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
