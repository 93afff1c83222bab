//! `POST /t/{slug}/token` (RFC 6749 §3.2).
//!
//! Requests are rate-limited per tenant and client (429 with `Retry-After`). Each grant
//! commits together with its audit event (`token.granted` / `token.refused`) and any
//! alert it raises, so a refused replay commits the family revocation, its audit event
//! and its alert together: code and refresh grants through `grant_batch` (their own
//! transaction, or on SQLite a group-committed one), client credentials through the
//! audit group writer.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    web::{Data, Path},
};
use tenancy::{
    core::TenantCtx, core::oauth_error::OAuthError, oauth::client_auth::ClientCredentials,
    oauth::token as grant,
};

use super::{authenticate_client, form, no_store_json, read_form, user_grant::UserGrant};
use crate::{
    error::{oauth_error_response, oauth_too_many},
    login_limit, protocol,
    state::AppState,
};

/// Why a token request got no tokens.
enum Refused {
    /// An OAuth error response.
    OAuth(OAuthError),
    /// The client's rate limit: retry after this long.
    Throttled(std::time::Duration),
}

impl From<OAuthError> for Refused {
    fn from(err: OAuthError) -> Self {
        Self::OAuth(err)
    }
}

/// The token endpoint.
#[handler]
pub async fn token(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    match exchange(&state, &issuer, req, body).await {
        Ok((grant_type, response)) => {
            state
                .metrics
                .tokens_issued
                .with_label_values(&[grant_type])
                .inc();
            no_store_json(response)
        }
        Err(Refused::OAuth(err)) => oauth_error_response(&err),
        Err(Refused::Throttled(wait)) => {
            state.metrics.throttled.with_label_values(&["token"]).inc();
            oauth_too_many(wait)
        }
    }
}

fn presented_client_id(credentials: &ClientCredentials) -> &str {
    match credentials {
        ClientCredentials::Basic { client_id, .. }
        | ClientCredentials::Post { client_id, .. }
        | ClientCredentials::None { client_id } => client_id,
    }
}

async fn exchange(
    state: &AppState,
    issuer: &protocol::Issuer,
    req: &Request,
    body: Body,
) -> Result<(&'static str, grant::TokenResponse), Refused> {
    let params = read_form(req, body, state.settings.max_body_bytes).await?;
    let grant_type = params.require("grant_type")?.to_owned();
    let tenant = TenantCtx::from(issuer.tenant());
    let client_id = form::client_credentials(req.headers(), &params)
        .ok()
        .map(|c| presented_client_id(&c).to_owned());
    if let Some(id) = &client_id
        && let Some(wait) = login_limit::check(&state.token_limiter, &(tenant.id, id.clone()))
    {
        return Err(Refused::Throttled(wait));
    }
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(
        req,
        ip,
        client_id
            .as_deref()
            .map_or_else(|| "anonymous".to_owned(), |id| format!("client:{id}")),
    );
    let now = state.now();
    let client = match authenticate_client(state, issuer, req, &params).await {
        Ok(client) => client,
        Err(err) => {
            let event = grant::outcome_event(&tenant, &grant_type, client_id.as_deref(), Err(&err));
            state
                .audit_batch
                .record(&actor, event, now)
                .await
                .map_err(OAuthError::from)?;
            return Err(err.into());
        }
    };
    // Tokens are signed only once the grant's writes are committed (`grant::Minted`).
    let response = if grant_type == "client_credentials" {
        // Nothing to store but the audit event, so it is group-committed with other
        // requests' events (see `tenancy::journal::audit_batch`), still before the answer. The
        // token is signed while the event commits and leaves only once both are done.
        let result = grant::client_credentials::grant(
            &issuer.url,
            issuer.settings(),
            &client,
            params.get("scope"),
            now,
        );
        let event = grant::outcome_event(
            &tenant,
            &grant_type,
            Some(&client.client_id),
            result.as_ref(),
        );
        let keys = issuer.keys.clone();
        let (recorded, signed) =
            tokio::join!(state.audit_batch.record(&actor, event, now), async {
                match result {
                    Ok(minted) => Ok(minted.sign(keys).await),
                    Err(refused) => Err(refused),
                }
            });
        recorded.map_err(OAuthError::from)?;
        signed?.map_err(OAuthError::from)?
    } else {
        let grant = UserGrant {
            cache: state.cache.clone(),
            keyring: state.keyring.clone(),
            issuer: issuer.clone(),
            tenant,
            actor,
            client,
            now,
            grant_type: grant_type.clone(),
            params,
            effects: Default::default(),
        };
        state
            .user_grants
            .grant(grant)
            .await?
            .sign(issuer.keys.clone())
            .await
            .map_err(OAuthError::from)?
    };
    // A bounded metric label: only supported grants ever succeed.
    let label = match grant_type.as_str() {
        "authorization_code" => "authorization_code",
        "refresh_token" => "refresh_token",
        _ => "client_credentials",
    };
    Ok((label, response))
}
