//! `GET|POST /t/{slug}/consent`: asks the user to allow the client the scopes.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use tenancy::{
    consents, interactions,
    oauth_error::{ErrorCode, OAuthError},
    sessions,
    tenants::TenantCtx,
};

use super::{ConsentPage, error_page, flow, html};
use crate::{oauth::form::Params, protocol, state::AppState};

const EXPIRED: &str = "This request has expired or belongs to another browser window. Please start again from the application.";

/// Shows the consent form.
#[handler]
pub async fn show(state: Data<&AppState>, Path(slug): Path<String>, req: &Request) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let name = issuer.tenant.display_name.clone();
    let query = Params::parse(req.uri().query().unwrap_or_default().as_bytes()).ok();
    let id = query
        .as_ref()
        .and_then(|q| q.get("interaction"))
        .unwrap_or_default()
        .to_owned();
    let session = match flow::current_session(&state, &issuer, req).await {
        Ok(Some((_, s))) if s.user_id.is_some() => s,
        Ok(_) => return error_page(&name, StatusCode::BAD_REQUEST, EXPIRED),
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    match flow::bound_interaction(&state, &issuer, Some(&id), &session).await {
        Ok(Some(ix)) => html(
            StatusCode::OK,
            &ConsentPage {
                tenant_name: &name,
                client_name: &ix.request.client_name,
                scopes: ix.request.scopes().iter().map(str::to_owned).collect(),
                action: format!("{}/consent", issuer.url),
                interaction: &id,
                csrf: &session.csrf,
            },
        ),
        Ok(None) => error_page(&name, StatusCode::BAD_REQUEST, EXPIRED),
        Err(err) => crate::error::oauth_error_response(&err),
    }
}

/// Records the user's decision and continues (or returns `access_denied`).
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
    let form = match body
        .into_bytes_limit(state.settings.max_body_bytes)
        .await
        .ok()
        .map(|b| Params::parse(&b))
    {
        Some(Ok(form)) => form,
        _ => return error_page(&name, StatusCode::BAD_REQUEST, "The form is malformed."),
    };
    let session = match flow::current_session(&state, &issuer, req).await {
        Ok(Some((_, s))) if s.user_id.is_some() => s,
        Ok(_) => return error_page(&name, StatusCode::BAD_REQUEST, EXPIRED),
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
    let tenant = TenantCtx::from(&issuer.tenant);
    let cache = state.cache.as_ref();
    if form.get("decision") != Some("allow") {
        if let Err(err) = interactions::finish(cache, tenant.id, &id).await {
            return flow::unavailable(&issuer, &err);
        }
        let denied = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
        return flow::redirect_error(&issuer, &interaction.request, &denied);
    }
    let Some(user_id) = session.user_id else {
        return error_page(&name, StatusCode::BAD_REQUEST, EXPIRED);
    };
    interaction.request.prompt_consent = false;
    let saved = async {
        consents::grant(
            &state.db,
            &tenant,
            user_id,
            &interaction.request.client_id,
            &interaction.request.scopes(),
            state.now(),
        )
        .await?;
        interactions::put(cache, tenant.id, &id, &interaction).await
    };
    if let Err(err) = saved.await {
        return flow::unavailable(&issuer, &err);
    }
    flow::resume(&state, &issuer, &id, interaction, Some(&session)).await
}
