//! `GET|POST /t/{slug}/logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! Ends the browser's session. The browser is sent back to the client only to a
//! `post_logout_redirect_uri` registered exactly for the client named by the verified
//! `id_token_hint` (or `client_id`), with `state` echoed (RP-Initiated Logout §2–§3);
//! otherwise a "signed out" page is shown.
//!
//! RP-Initiated Logout 1.0 §2: the OP should ask the user whether to log out unless
//! the request proves it comes from the user's own session. So a signed-in session
//! ends at once only when the `id_token_hint` was issued to this very session (its
//! `sid` and `sub` are the session's); otherwise the user is asked to confirm, with a
//! form that carries the session's CSRF token and the request's parameters, and only
//! that form's post ends the session. A cross-site link or image cannot sign a user
//! out. A browser without a signed-in session has nothing to end and goes on at once.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::{Method, StatusCode},
    web::{Data, Path},
};
use tenancy::{accounts::sessions, clients, core::TenantCtx, oauth::tokens::id_token::IdClaims};

use askama::Template;

use super::{MessagePage, error_page, flow, html, redirect_to_client, set_session_cookie};
use crate::{oauth::form::Params, protocol, state::AppState};

/// "Sign out?": the confirmation asked when the request does not prove it comes from
/// the user's session.
#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage<'a> {
    tenant_name: &'a str,
    action: String,
    csrf: &'a str,
    carried: Vec<(&'static str, &'a str)>,
}

/// The request parameters the confirmation form posts again.
const CARRIED: [&str; 5] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

/// The end-session endpoint.
#[handler]
pub async fn logout(
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
    let raw = if req.method() == Method::POST {
        body.into_bytes_limit(state.settings.max_body_bytes)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default()
    } else {
        req.uri().query().unwrap_or_default().as_bytes().to_vec()
    };
    let Ok(params) = Params::parse(&raw) else {
        return error_page(
            &name,
            StatusCode::BAD_REQUEST,
            "The logout request is malformed.",
        );
    };
    let hint = match params.get("id_token_hint") {
        Some(token) => {
            match issuer
                .keys
                .verify_ignoring_expiry::<IdClaims>(token, "JWT", &issuer.url)
            {
                Ok(claims) => Some(claims),
                Err(_) => {
                    return error_page(
                        &name,
                        StatusCode::BAD_REQUEST,
                        "The id_token_hint is not valid.",
                    );
                }
            }
        }
        None => None,
    };
    let client_id = match (
        hint.as_ref().map(|h| h.aud.as_str()),
        params.get("client_id"),
    ) {
        (Some(a), Some(b)) if a != b => {
            return error_page(
                &name,
                StatusCode::BAD_REQUEST,
                "client_id does not match the id_token_hint.",
            );
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b.map(str::to_owned),
    };
    let tenant = TenantCtx::from(issuer.tenant());
    let target = match (params.get("post_logout_redirect_uri"), client_id) {
        (Some(uri), Some(client_id)) => match clients::get(state.db(), &tenant, &client_id).await {
            Ok(client)
                if clients::post_logout_redirect_uris(&client)
                    .iter()
                    .any(|r| r == uri) =>
            {
                Some(uri.to_owned())
            }
            Ok(_) | Err(tenancy::Error::NotFound(_)) => {
                return error_page(
                    &name,
                    StatusCode::BAD_REQUEST,
                    "post_logout_redirect_uri is not registered for this client.",
                );
            }
            Err(err) => return flow::unavailable(&issuer, &err),
        },
        (Some(_), None) => {
            return error_page(
                &name,
                StatusCode::BAD_REQUEST,
                "post_logout_redirect_uri needs id_token_hint or client_id.",
            );
        }
        (None, _) => None,
    };
    let current = match flow::current_session(&state, &issuer, req).await {
        Ok(current) => current,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    if let Some((cookie, session)) = current {
        if let Some(user_id) = session.user_id {
            let hint_matches = hint
                .as_ref()
                .is_some_and(|h| h.sid == session.sid && h.sub == user_id.to_string());
            let confirmed = req.method() == Method::POST
                && params.get("confirm") == Some("yes")
                && sessions::csrf_matches(&session, params.get("csrf_token").unwrap_or_default());
            if !hint_matches && !confirmed {
                return html(
                    StatusCode::OK,
                    &ConfirmPage {
                        tenant_name: &name,
                        action: format!("{}/logout", issuer.url),
                        csrf: &session.csrf,
                        carried: CARRIED
                            .iter()
                            .filter_map(|n| params.get(n).map(|v| (*n, v)))
                            .collect(),
                    },
                );
            }
        }
        if let Err(err) = sessions::end(state.cache.as_ref(), tenant.id, &cookie).await {
            return flow::unavailable(&issuer, &err);
        }
    }
    let mut resp = match target {
        Some(uri) => {
            let mut query = Vec::new();
            if let Some(s) = params.get("state") {
                query.push(("state", s));
            }
            redirect_to_client(&uri, &query)
        }
        None => html(
            StatusCode::OK,
            &MessagePage {
                tenant_name: &name,
                heading: "You are signed out",
                message: "You can close this window.",
            },
        ),
    };
    set_session_cookie(&mut resp, &state.settings, &slug, "", 0);
    resp
}
