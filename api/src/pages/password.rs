//! `GET|POST /t/{slug}/password/forgot` and `GET|POST /t/{slug}/password/reset`:
//! self-service password reset by email.
//!
//! The forgot form carries no CSRF token: it reveals nothing and only sends mail to
//! the account's own address. The reset form is authorised by the single-use token
//! from the email, which a cross-site attacker cannot know; it also lists the user's
//! second factors and offers to remove them with the reset, and a removal is accepted
//! only with the CSRF token of the browser session that was shown the form (the page
//! starts an anonymous session if there is none). Opening the link (GET) never uses
//! the token, so mail scanners that prefetch links cannot burn it; only submitting the
//! form (POST) does. The token is looked up before the new password is hashed.

use askama::Template;
use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use secrecy::SecretString;
use tenancy::{accounts::lockout, accounts::password_reset, accounts::sessions, core::TenantCtx};

use super::{MessagePage, error_page, html};
use crate::{oauth::form::Params, protocol, state::AppState};

/// The "forgot password" form.
#[derive(Template)]
#[template(path = "password_forgot.html")]
struct ForgotPage<'a> {
    tenant_name: &'a str,
    action: String,
    sent: bool,
    error: Option<&'a str>,
}

/// A passkey as the reset page lists it.
struct PasskeyView {
    id: String,
    name: String,
    created: String,
}

/// The "choose a new password" form, with the factors the owner may remove.
#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage<'a> {
    tenant_name: &'a str,
    action: String,
    token: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    totp: bool,
    passkeys: Vec<PasskeyView>,
    recovery_left: u64,
}

const INVALID_LINK: &str = "This password reset link is invalid, has expired or was already used. Please ask for a new one.";

/// Shows the form asking for the account name.
#[handler]
pub async fn show_forgot(state: Data<&AppState>, Path(slug): Path<String>) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    forgot_page(&issuer, false, None, StatusCode::OK)
}

fn forgot_page(
    issuer: &protocol::Issuer,
    sent: bool,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    html(
        status,
        &ForgotPage {
            tenant_name: &issuer.tenant().display_name,
            action: format!("{}/password/forgot", issuer.url),
            sent,
            error,
        },
    )
}

/// Starts a reset; answers the same whether or not an email was sent.
#[handler]
pub async fn submit_forgot(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let Some(params) = read_form(&state, body).await else {
        return forgot_page(
            &issuer,
            false,
            Some("The form could not be read."),
            StatusCode::BAD_REQUEST,
        );
    };
    let tenant = TenantCtx::from(issuer.tenant());
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    // Limited per address and per login name by `crate::limits` (see startup routes).
    let actor = crate::client_ip::actor(req, ip, "anonymous");
    let login = params.get("login").unwrap_or_default();
    match password_reset::request(
        state.db(),
        state.cache.as_ref(),
        &tenant,
        &actor,
        login,
        state.now(),
    )
    .await
    {
        Ok(Some(mail)) => {
            crate::emails::send_password_reset(&state, &slug, &issuer.tenant().display_name, mail);
        }
        Ok(None) => {}
        Err(err) => return super::flow::unavailable(&issuer, &err),
    }
    forgot_page(&issuer, true, None, StatusCode::OK)
}

/// Shows the new-password form for a valid link.
#[handler]
pub async fn show_reset(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let token = token_param(req);
    reset_form(&state, &issuer, req, &token, None, StatusCode::OK).await
}

/// The reset form for `token` (with `error`), or the invalid-link page. The form's
/// CSRF token is the browser session's; a browser without one gets an anonymous
/// session for it.
async fn reset_form(
    state: &AppState,
    issuer: &protocol::Issuer,
    req: &Request,
    token: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let tenant = TenantCtx::from(issuer.tenant());
    let reset = match password_reset::inspect(state.db(), &tenant, token, state.now()).await {
        Ok(Some(reset)) => reset,
        Ok(None) => {
            return error_page(
                &issuer.tenant().display_name,
                StatusCode::BAD_REQUEST,
                INVALID_LINK,
            );
        }
        Err(err) => return super::flow::unavailable(issuer, &err),
    };
    let ttl = tenancy::oauth::interactions::INTERACTION_TTL;
    let session = match super::flow::current_session(state, issuer, req).await {
        Ok(Some((_, session))) => Ok((None, session)),
        Ok(None) => sessions::start(state.cache.as_ref(), tenant.id, ttl)
            .await
            .map(|(cookie, session)| (Some(cookie), session)),
        Err(err) => Err(err),
    };
    let (new_cookie, session) = match session {
        Ok(found) => found,
        Err(err) => return super::flow::unavailable(issuer, &err),
    };
    let factors = reset.factors;
    let mut resp = html(
        status,
        &ResetPage {
            tenant_name: &issuer.tenant().display_name,
            action: format!("{}/password/reset", issuer.url),
            token,
            csrf: &session.csrf,
            error,
            totp: factors.totp,
            passkeys: factors
                .passkeys
                .iter()
                .map(|p| PasskeyView {
                    id: p.id.to_string(),
                    name: p.name.clone(),
                    created: p.created_at.format("%Y-%m-%d").to_string(),
                })
                .collect(),
            recovery_left: factors.recovery_codes_left,
        },
    );
    if let Some(cookie) = new_cookie {
        super::set_session_cookie(
            &mut resp,
            &state.settings,
            &issuer.tenant().slug,
            &cookie,
            ttl.as_secs(),
        );
    }
    resp
}

/// The factors ticked for removal on the reset form.
fn removals(params: &Params) -> password_reset::Removals {
    password_reset::Removals {
        totp: params.get("remove_totp").is_some(),
        passkeys: params
            .names()
            .filter_map(|name| name.strip_prefix("remove_passkey_"))
            .filter_map(|id| id.parse().ok())
            .collect(),
        recovery_codes: params.get("remove_recovery_codes").is_some(),
    }
}

/// Sets the new password, then ends every session and refresh token of the user.
#[handler]
pub async fn submit_reset(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let name = issuer.tenant().display_name.clone();
    let Some(params) = read_form(&state, body).await else {
        return error_page(
            &name,
            StatusCode::BAD_REQUEST,
            "The form could not be read.",
        );
    };
    let token = params.get("token").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    if params.get("password_confirm").unwrap_or_default() != password {
        return reset_form(
            &state,
            &issuer,
            req,
            token,
            Some("The two passwords do not match."),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let removals = removals(&params);
    if removals.any() {
        // Removing factors is a change only the browser shown this form may ask for.
        let csrf = params.get("csrf_token").unwrap_or_default();
        match super::flow::current_session(&state, &issuer, req).await {
            Ok(Some((_, session))) if sessions::csrf_matches(&session, csrf) => {}
            Ok(_) => {
                return error_page(
                    &name,
                    StatusCode::FORBIDDEN,
                    "The form has expired. Please open the link from the email again.",
                );
            }
            Err(err) => return super::flow::unavailable(&issuer, &err),
        }
    }
    let tenant = TenantCtx::from(issuer.tenant());
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, "anonymous");
    let now = state.now();
    let password = SecretString::from(password.to_owned());
    let completed = password_reset::complete(
        state.db(),
        &state.workers,
        &tenant,
        &actor,
        token,
        password,
        &removals,
        now,
    )
    .await;
    let user = match completed {
        Ok(user) => user,
        Err(tenancy::Error::Invalid(problems))
            if problems.iter().any(|p| p.field == "password") =>
        {
            let message = problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            return reset_form(
                &state,
                &issuer,
                req,
                token,
                Some(&message),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        Err(tenancy::Error::Invalid(_) | tenancy::Error::Forbidden(_)) => {
            return error_page(&name, StatusCode::BAD_REQUEST, INVALID_LINK);
        }
        Err(err) => return super::flow::unavailable(&issuer, &err),
    };
    // Every session ends (OWASP Forgot Password Cheat Sheet), and the owner, who just
    // proved control of the mailbox, is no longer locked out.
    let cache = state.cache.as_ref();
    let ttl = std::time::Duration::from_secs(u64::from(issuer.settings().session_ttl_secs));
    let cleanup = async {
        sessions::end_all_for_user(cache, tenant.id, user.id, None, ttl).await?;
        lockout::clear(cache, tenant.id, &lockout::Subjects::user(&user)).await?;
        Ok::<(), tenancy::Error>(())
    };
    if let Err(err) = cleanup.await {
        return super::flow::unavailable(&issuer, &err);
    }
    html(
        StatusCode::OK,
        &MessagePage {
            tenant_name: &name,
            heading: "Password changed",
            message: "Your password has been changed and you have been signed out everywhere. You can now sign in with the new password.",
        },
    )
}

/// The `token` query parameter of an emailed link (empty when absent or malformed).
pub(super) fn token_param(req: &Request) -> String {
    Params::parse(req.uri().query().unwrap_or_default().as_bytes())
        .ok()
        .and_then(|p| p.get("token").map(str::to_owned))
        .unwrap_or_default()
}

/// Reads an urlencoded form body within the size limit.
pub(super) async fn read_form(state: &AppState, body: Body) -> Option<Params> {
    let bytes = body
        .into_bytes_limit(state.settings.max_body_bytes)
        .await
        .ok()?;
    Params::parse(&bytes).ok()
}
