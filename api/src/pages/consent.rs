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

use super::{ConsentApi, ConsentPage, flow, html};
use crate::{protocol, state::AppState};

/// Shows the consent form.
#[handler]
pub async fn show(state: Data<&AppState>, Path(slug): Path<String>, req: &Request) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let step =
        match flow::load_step(&state, &issuer, req, &flow::interaction_param(req), true).await {
            Ok(step) => step,
            Err(page) => return page,
        };
    let request = &step.interaction.request;
    let tenant = TenantCtx::from(issuer.tenant());
    let asked = async {
        let catalog = issuer.resolved().apis(state.db()).await?;
        let Some(user_id) = step.session.user_id else {
            return Err(tenancy::Error::Internal("consent without a user".into()));
        };
        let parts = consents::asked(
            state.db(),
            &tenant,
            &catalog,
            &request.scopes(),
            &request.resources,
            user_id,
        )
        .await?;
        Ok((catalog, parts))
    };
    let (catalog, parts) = match asked.await {
        Ok(found) => found,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    let mut scopes = Vec::new();
    let mut apis = Vec::new();
    for (resource, asked) in parts {
        match catalog.get(&resource) {
            Some(api) => apis.push(ConsentApi {
                name: api.name.clone(),
                permissions: asked
                    .iter()
                    .map(|s| (s.to_owned(), api.describe(s).unwrap_or_default().to_owned()))
                    .collect(),
            }),
            None => scopes.extend(
                asked
                    .iter()
                    .map(|s| (s.to_owned(), standard_scope_meaning(s).to_owned())),
            ),
        }
    }
    html(
        StatusCode::OK,
        &ConsentPage {
            tenant_name: &issuer.tenant().display_name,
            client_name: &request.client_name,
            scopes,
            apis,
            action: format!("{}/consent", issuer.url),
            interaction: &step.id,
            csrf: &step.session.csrf,
        },
    )
}

/// What an OpenID Connect scope releases (OIDC Core §5.4, §11), in words; empty for
/// a scope of the client's own.
fn standard_scope_meaning(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in with your account",
        "profile" => "Your name and username",
        "email" => "Your email address",
        "address" => "Your postal address",
        "phone" => "Your phone number",
        "offline_access" => "Keep access while you are away",
        _ => "",
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
        let catalog = issuer.resolved().apis(state.db()).await?;
        let parts = consents::asked(
            state.db(),
            &tenant,
            &catalog,
            &interaction.request.scopes(),
            &interaction.request.resources,
            user_id,
        )
        .await?;
        let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
        let actor = crate::client_ip::actor(req, ip, format!("user:{user_id}"));
        consents::grant(
            state.db(),
            &tenant,
            &actor,
            user_id,
            &interaction.request.client_id,
            &parts,
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
