//! `GET|POST /t/{slug}/consent`: asks the user to allow the client the scopes.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use tenancy::{
    core::TenantCtx,
    core::oauth_error::{ErrorCode, OAuthError},
    oauth::consents,
    oauth::interactions,
};

use super::{ConsentPage, flow, html};
use crate::{protocol, state::AppState};

/// Shows the consent form.
#[handler]
pub async fn show(state: Data<&AppState>, Path(slug): Path<String>, req: &Request) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    match flow::load_step(&state, &issuer, req, &flow::interaction_param(req), true).await {
        Ok(step) => html(
            StatusCode::OK,
            &ConsentPage {
                tenant_name: &issuer.tenant().display_name,
                client_name: &step.interaction.request.client_name,
                scopes: step
                    .interaction
                    .request
                    .scopes()
                    .iter()
                    .map(str::to_owned)
                    .collect(),
                action: format!("{}/consent", issuer.url),
                interaction: &step.id,
                csrf: &step.session.csrf,
            },
        ),
        Err(page) => page,
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
    let (step, form) = match flow::load_form_step(&state, &issuer, req, body, true).await {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    let flow::Step {
        session,
        id,
        mut interaction,
        ..
    } = step;
    let tenant = TenantCtx::from(issuer.tenant());
    let cache = state.cache.as_ref();
    if form.get("decision") != Some("allow") {
        if let Err(err) = interactions::finish(cache, tenant.id, &id).await {
            return flow::unavailable(&issuer, &err);
        }
        let denied = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
        return flow::redirect_error(&issuer, &interaction.request, &denied);
    }
    let Some(user_id) = session.user_id else {
        return flow::unavailable(
            &issuer,
            &tenancy::Error::Internal("consent without a user".into()),
        );
    };
    interaction.request.prompt_consent = false;
    let saved = async {
        let scopes = interaction.request.scopes();
        let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
        let actor = crate::client_ip::actor(req, ip, format!("user:{user_id}"));
        consents::grant(
            state.db(),
            &tenant,
            &actor,
            user_id,
            &interaction.request.client_id,
            &scopes,
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
