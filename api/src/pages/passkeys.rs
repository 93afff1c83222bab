//! The passkey endpoints the passkey script calls (JSON answers; every request is a
//! form post carrying the session's CSRF token):
//!
//! - `POST {issuer}/login/passkey/options` and `POST {issuer}/login/passkey`: sign in
//!   with a passkey, passwordless from the login page (`purpose=login`, a discoverable
//!   credential names its user) or as the second factor (`purpose=mfa`, only the
//!   subject's credentials are allowed);
//! - `POST {issuer}/passkeys/register/options` and `POST {issuer}/passkeys/register`:
//!   add a passkey, from the account page or as the first factor a `required` policy
//!   makes a user enrol at login (`interaction` given).
//!
//! Success answers `{"location": ...}`: where the browser goes next.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Json, Path},
};
use serde_json::json;
use tenancy::{
    accounts::login,
    accounts::mfa::{
        self,
        passkeys::{self, webauthn},
    },
    core::TenantCtx,
    oauth::sign_in,
};

use super::{flow, set_session_cookie};
use crate::{protocol::Issuer, state::AppState};

/// The relying party for this tenant, when passkeys are possible (see
/// `tenancy::accounts::mfa::passkeys::relying_party`).
pub fn relying_party(issuer: &Issuer, state: &AppState) -> Option<webauthn::Webauthn> {
    if issuer.settings().mfa_policy == tenancy::core::MfaPolicy::Off {
        // Passkeys are a factor like the others: `off` offers none.
        return None;
    }
    passkeys::relying_party(&state.settings.public_url, &issuer.tenant().display_name)
}

/// Whether this tenant's pages offer passkeys.
pub fn available(issuer: &Issuer, state: &AppState) -> bool {
    relying_party(issuer, state).is_some()
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let mut resp = Json(json!({ "error": message }))
        .with_status(status)
        .into_response();
    resp.headers_mut().insert(
        poem::http::header::CACHE_CONTROL,
        poem::http::HeaderValue::from_static("no-store"),
    );
    resp
}

fn json_ok(value: serde_json::Value) -> Response {
    let mut resp = Json(value).into_response();
    resp.headers_mut().insert(
        poem::http::header::CACHE_CONTROL,
        poem::http::HeaderValue::from_static("no-store"),
    );
    resp
}

fn unavailable(err: &tenancy::Error) -> Response {
    tracing::error!(error = %err, "passkey step failed");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the service is temporarily unavailable",
    )
}

async fn resolve(state: &AppState, slug: &str) -> Result<(Issuer, webauthn::Webauthn), Response> {
    let issuer = crate::protocol::resolve(state, slug)
        .await
        .map_err(IntoResponse::into_response)?;
    let rp = relying_party(&issuer, state)
        .ok_or_else(|| json_error(StatusCode::NOT_FOUND, "passkeys are not available here"))?;
    Ok((issuer, rp))
}

/// Options to sign in with a passkey.
#[handler]
pub async fn login_options(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (issuer, rp) = match resolve(&state, &slug).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (step, form) = match flow::load_form_step(&state, &issuer, req, body, false).await {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    let user = match form.get("purpose") {
        Some("mfa") => match super::mfa::subject(&step.session) {
            Some((user, _)) => Some(user),
            None => return json_error(StatusCode::BAD_REQUEST, "no second factor is due"),
        },
        _ => None,
    };
    let tenant = TenantCtx::from(issuer.tenant());
    match passkeys::start_authentication(
        state.db(),
        state.cache.as_ref(),
        &rp,
        &tenant,
        user,
        &step.session.sid,
    )
    .await
    {
        Ok(Some(options)) => json_ok(json!(options)),
        Ok(None) => json_error(StatusCode::BAD_REQUEST, "no passkey is registered"),
        Err(err) => unavailable(&err),
    }
}

/// Verifies a passkey assertion and signs the user in (or completes the second factor).
#[handler]
pub async fn login_finish(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (issuer, rp) = match resolve(&state, &slug).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (step, form) = match flow::load_form_step(&state, &issuer, req, body, false).await {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    let Ok(credential) = serde_json::from_str::<webauthn::PublicKeyCredential>(
        form.get("credential").unwrap_or_default(),
    ) else {
        return json_error(StatusCode::BAD_REQUEST, "the passkey response is malformed");
    };
    let _tenant = TenantCtx::from(issuer.tenant());
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, "anonymous");
    let subject = super::mfa::subject(&step.session);
    let purpose = if form.get("purpose") == Some("mfa") {
        login::PasskeyPurpose::SecondFactor(subject.as_ref().map(|(id, amr)| (*id, amr.as_slice())))
    } else {
        login::PasskeyPurpose::SignIn
    };
    let (db, cache, now) = (state.db(), state.cache.as_ref(), state.now());
    let signed_in = login::passkey(
        db,
        cache,
        &rp,
        &issuer,
        &actor,
        &step.session.sid,
        &credential,
        purpose,
        now,
    )
    .await;
    let (user, amr) = match signed_in {
        Ok(Some(found)) => found,
        Ok(None) => return json_error(StatusCode::UNAUTHORIZED, "the passkey was not accepted"),
        Err(err) => return unavailable(&err),
    };
    let flow::Step {
        cookie,
        id,
        mut interaction,
        ..
    } = step;
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
        Err(err) => return unavailable(&err),
    };
    let next = flow::resume(&state, &issuer, &id, interaction, Some(&session)).await;
    answer_with_session(&state, &issuer, &slug, next, &new_cookie)
}

/// The JSON answer `{"location"}` for a step whose page flow answered `next`, with the
/// new session cookie.
fn answer_with_session(
    state: &AppState,
    issuer: &Issuer,
    slug: &str,
    next: Response,
    new_cookie: &str,
) -> Response {
    let location = flow::location_of(&next).unwrap_or_else(|| format!("{}/account", issuer.url));
    let mut resp = json_ok(json!({ "location": location }));
    set_session_cookie(
        &mut resp,
        &state.settings,
        slug,
        new_cookie,
        u64::from(issuer.settings().session_ttl_secs),
    );
    resp
}

/// Who is registering: the account page's user, or a pending login's user who has no
/// factor yet (enrolment forced by the policy).
enum Registrant {
    Account(Box<super::account::Signed>),
    Enrolling(Box<(flow::Step, tenancy::entity::users::Model)>),
}

/// `starting`: the ceremony begins here, which on the account page needs a fresh
/// proof; its finish is bound to the session that started it.
async fn registrant(
    state: &AppState,
    issuer: &Issuer,
    req: &Request,
    body: Body,
    starting: bool,
) -> Result<(Registrant, crate::oauth::form::Params), Response> {
    let bytes = body
        .into_bytes_limit(state.settings.max_body_bytes)
        .await
        .map_err(|_| json_error(StatusCode::BAD_REQUEST, "the form is too large"))?;
    let form = crate::oauth::form::Params::parse(&bytes)
        .map_err(|_| json_error(StatusCode::BAD_REQUEST, "the form is malformed"))?;
    if form.get("interaction").is_some() {
        let (step, form) =
            flow::load_form_step(state, issuer, req, Body::from(bytes.to_vec()), false).await?;
        let Some((user_id, _)) = super::mfa::subject(&step.session) else {
            return Err(json_error(StatusCode::BAD_REQUEST, "no sign-in is pending"));
        };
        let tenant = TenantCtx::from(issuer.tenant());
        let user = tenancy::accounts::users::get(state.db(), &tenant, user_id)
            .await
            .map_err(|e| unavailable(&e))?;
        let has_factor = mfa::factors(state.db(), &tenant, user_id)
            .await
            .map_err(|e| unavailable(&e))?
            .any();
        // At login a passkey may be added only as the missing first factor; more
        // factors are added from the account page.
        if has_factor || step.session.pending.is_none() {
            return Err(json_error(StatusCode::FORBIDDEN, "sign in first"));
        }
        return Ok((Registrant::Enrolling(Box::new((step, user))), form));
    }
    let signed = super::account::signed_in(state, issuer, req)
        .await
        .map_err(|e| unavailable(&e))?
        .ok_or_else(|| json_error(StatusCode::FORBIDDEN, "sign in first"))?;
    if !tenancy::accounts::sessions::csrf_matches(
        &signed.session,
        form.get("csrf_token").unwrap_or_default(),
    ) {
        return Err(json_error(StatusCode::FORBIDDEN, "the form has expired"));
    }
    // A fresh proof first: an existing factor, or for the first one the password, in a
    // sign-in of the last few minutes; else the user signs in again.
    if starting
        && !super::account::may_add_factor(state, issuer, &signed)
            .await
            .map_err(|e| unavailable(&e))?
    {
        let mut resp = Json(json!({
            "error": "please sign in again to add a passkey",
            "location": format!("{}/account?reauth=1", issuer.url),
        }))
        .with_status(StatusCode::FORBIDDEN)
        .into_response();
        resp.headers_mut().insert(
            poem::http::header::CACHE_CONTROL,
            poem::http::HeaderValue::from_static("no-store"),
        );
        return Err(resp);
    }
    Ok((Registrant::Account(Box::new(signed)), form))
}

/// Options to register a passkey.
#[handler]
pub async fn register_options(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (issuer, rp) = match resolve(&state, &slug).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (who, _) = match registrant(&state, &issuer, req, body, true).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (user, sid) = match &who {
        Registrant::Account(s) => (&s.user, &s.session.sid),
        Registrant::Enrolling(e) => (&e.1, &e.0.session.sid),
    };
    let tenant = TenantCtx::from(issuer.tenant());
    match passkeys::start_registration(state.db(), state.cache.as_ref(), &rp, &tenant, user, sid)
        .await
    {
        Ok(options) => json_ok(json!(options)),
        Err(err) => unavailable(&err),
    }
}

/// Stores a new passkey; at a forced enrolment this also completes the login.
#[handler]
pub async fn register_finish(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (issuer, rp) = match resolve(&state, &slug).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (who, form) = match registrant(&state, &issuer, req, body, false).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let Ok(credential) = serde_json::from_str::<webauthn::RegisterPublicKeyCredential>(
        form.get("credential").unwrap_or_default(),
    ) else {
        return json_error(StatusCode::BAD_REQUEST, "the passkey response is malformed");
    };
    let (user, sid) = match &who {
        Registrant::Account(s) => (s.user.clone(), s.session.sid.clone()),
        Registrant::Enrolling(e) => (e.1.clone(), e.0.session.sid.clone()),
    };
    let tenant = TenantCtx::from(issuer.tenant());
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, format!("user:{}", user.id));
    let stored = passkeys::finish_registration(
        state.db(),
        state.cache.as_ref(),
        &rp,
        &tenant,
        &actor,
        user.id,
        &sid,
        &credential,
        form.get("name").unwrap_or_default(),
        state.now(),
    )
    .await;
    let passkey = match stored {
        Ok(Some(p)) => p,
        Ok(None) => return json_error(StatusCode::BAD_REQUEST, "the passkey was not accepted"),
        Err(tenancy::Error::Invalid(_)) => {
            return json_error(StatusCode::BAD_REQUEST, "the name is not acceptable");
        }
        Err(tenancy::Error::Conflict(_)) => {
            return json_error(StatusCode::CONFLICT, "this passkey is already registered");
        }
        Err(err) => return unavailable(&err),
    };
    crate::emails::send_mfa_added(
        &state,
        &issuer.tenant().display_name,
        &user,
        &format!("A passkey named \"{}\"", passkey.name),
    );
    let marked = match &who {
        Registrant::Account(s) => (
            s.cookie.clone(),
            u64::from(issuer.settings().session_ttl_secs),
        ),
        Registrant::Enrolling(e) => (
            e.0.cookie.clone(),
            tenancy::oauth::interactions::INTERACTION_TTL.as_secs(),
        ),
    };
    // Enrolled in this sign-in: the passkey proves nothing about it (`acr` stays `0`).
    if let Err(err) = tenancy::accounts::sessions::mark_enrolled(
        state.cache.as_ref(),
        tenant.id,
        &marked.0,
        std::time::Duration::from_secs(marked.1),
    )
    .await
    {
        return unavailable(&err);
    }
    match who {
        Registrant::Account(_) => json_ok(json!({
            "location": format!("{}/account?notice=passkey_added", issuer.url),
            "id": passkey.id,
        })),
        Registrant::Enrolling(e) => {
            let (step, user) = *e;
            let flow::Step {
                cookie,
                id,
                mut interaction,
                session,
            } = step;
            // The sign-in stays at what was proven before the passkey was added.
            let amr = super::mfa::subject(&session)
                .map(|(_, amr)| amr)
                .unwrap_or_default();
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
                Err(err) => return unavailable(&err),
            };
            let next = flow::resume(&state, &issuer, &id, interaction, Some(&session)).await;
            answer_with_session(&state, &issuer, &slug, next, &new_cookie)
        }
    }
}
