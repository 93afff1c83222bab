//! `GET|POST /t/{slug}/email/verify`: confirms an email address from the emailed link.
//!
//! Opening the link shows a confirm button; only submitting it uses the single-use
//! token, so link-scanning mail filters cannot use it up. No CSRF token is needed: the
//! emailed token itself authorises the request.

use askama::Template;
use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use tenancy::{accounts::email_tokens, accounts::email_verification, core::TenantCtx};

use super::{
    MessagePage, error_page, html,
    password::{read_form, token_param},
};
use crate::{protocol, state::AppState};

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyPage<'a> {
    tenant_name: &'a str,
    action: String,
    token: &'a str,
}

const INVALID_LINK: &str = "This verification link is invalid, has expired or was already used.";

/// Shows the confirm button for a valid link.
#[handler]
pub async fn show(state: Data<&AppState>, Path(slug): Path<String>, req: &Request) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let token = token_param(req);
    let token = token.as_str();
    let tenant = TenantCtx::from(issuer.tenant());
    let purpose = email_tokens::Purpose::EmailVerification;
    match email_tokens::peek(state.db(), &tenant, token, purpose, state.now()).await {
        Ok(Some(_)) => html(
            StatusCode::OK,
            &VerifyPage {
                tenant_name: &issuer.tenant().display_name,
                action: format!("{}/email/verify", issuer.url),
                token,
            },
        ),
        Ok(None) => error_page(
            &issuer.tenant().display_name,
            StatusCode::BAD_REQUEST,
            INVALID_LINK,
        ),
        Err(err) => super::flow::unavailable(&issuer, &err),
    }
}

/// Uses the token and marks the address verified.
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
    let name = issuer.tenant().display_name.clone();
    let Some(params) = read_form(&state, body).await else {
        return error_page(
            &name,
            StatusCode::BAD_REQUEST,
            "The form could not be read.",
        );
    };
    let token = params.get("token").unwrap_or_default();
    let tenant = TenantCtx::from(issuer.tenant());
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, "anonymous");
    match email_verification::confirm(state.db(), &tenant, &actor, token, state.now()).await {
        Ok(_) => html(
            StatusCode::OK,
            &MessagePage {
                tenant_name: &name,
                heading: "Email address confirmed",
                message: "Thank you: your email address is now confirmed.",
            },
        ),
        Err(tenancy::Error::Invalid(_)) => error_page(&name, StatusCode::BAD_REQUEST, INVALID_LINK),
        Err(err) => super::flow::unavailable(&issuer, &err),
    }
}
