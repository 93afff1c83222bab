//! `POST /t/{slug}/token` (RFC 6749 §3.2).
//!
//! Requests are rate-limited per tenant and client (429 with `Retry-After`). Each grant
//! runs in one transaction together with its audit event (`token.granted` /
//! `token.refused`) and any alert it raises, so a refused replay commits the family
//! revocation, its audit event and its alert together.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    web::{Data, Path},
};
use tenancy::{
    client_auth::ClientCredentials,
    grants::{
        self, GrantCtx,
        authorization_code::{self, CodeRedemption},
        refresh_token,
    },
    oauth_error::{ErrorCode, OAuthError, OAuthResult},
    sea_orm::TransactionTrait,
    tenants::TenantCtx,
};

use super::{authenticate_client, form, no_store_json, read_form};
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
) -> Result<(&'static str, grants::TokenResponse), Refused> {
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
            let event =
                grants::outcome_event(&tenant, &grant_type, client_id.as_deref(), Err(&err));
            state
                .audit_batch
                .record(&actor, event, now)
                .await
                .map_err(OAuthError::from)?;
            return Err(err.into());
        }
    };
    // Tokens are signed only once the grant's writes are committed (`grants::Minted`).
    let response = if grant_type == "client_credentials" {
        // Nothing to store but the audit event, so it is group-committed with other
        // requests' events (see `tenancy::audit_batch`), still before the answer.
        let result = grants::client_credentials::grant(
            &issuer.url,
            issuer.settings(),
            &client,
            params.get("scope"),
            now,
        );
        let event = grants::outcome_event(
            &tenant,
            &grant_type,
            Some(&client.client_id),
            result.as_ref(),
        );
        state
            .audit_batch
            .record(&actor, event, now)
            .await
            .map_err(OAuthError::from)?;
        result?
            .sign(issuer.keys.clone())
            .await
            .map_err(OAuthError::from)?
    } else {
        let grant = Grant {
            db: state.db.clone(),
            cache: state.cache.clone(),
            issuer: issuer.clone(),
            tenant,
            actor,
            client,
            now,
            grant_type: grant_type.clone(),
            params,
        };
        state
            .db_lane
            .run(grant.in_transaction())
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

/// A user grant (code or refresh) of an authenticated client, with everything it
/// needs owned so that it can run on the database lane.
struct Grant {
    db: tenancy::DatabaseConnection,
    cache: std::sync::Arc<dyn tenancy::cache::Cache>,
    issuer: protocol::Issuer,
    tenant: TenantCtx,
    actor: tenancy::audit::Actor,
    client: tenancy::entity::clients::Model,
    now: chrono::DateTime<chrono::Utc>,
    grant_type: String,
    params: form::Params,
}

impl Grant {
    /// Runs the grant and records its outcome in one transaction.
    async fn in_transaction(self) -> OAuthResult<grants::Minted> {
        let txn = self
            .db
            .begin()
            .await
            .map_err(|e| OAuthError::from(tenancy::Error::from(e)))?;
        let ctx = GrantCtx {
            db: &txn,
            cache: self.cache.as_ref(),
            issuer: &self.issuer.url,
            tenant: self.tenant.clone(),
            settings: self.issuer.settings(),
            now: self.now,
            actor: self.actor.clone(),
        };
        let result = grant(&ctx, &self.client, &self.grant_type, &self.params).await;
        if let Err(err) = &result
            && matches!(
                err.code,
                ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
            )
        {
            // A storage failure: roll back whatever the grant wrote.
            return Err(err.clone());
        }
        let event = grants::outcome_event(
            &self.tenant,
            &self.grant_type,
            Some(&self.client.client_id),
            result.as_ref(),
        );
        tenancy::audit::record(&txn, &self.actor, event, self.now).await?;
        txn.commit().await.map_err(tenancy::Error::from)?;
        result
    }
}

async fn grant<C: tenancy::sea_orm::ConnectionTrait>(
    ctx: &GrantCtx<'_, C>,
    client: &tenancy::entity::clients::Model,
    grant_type: &str,
    params: &form::Params,
) -> OAuthResult<grants::Minted> {
    match grant_type {
        "authorization_code" => {
            let input = CodeRedemption {
                code: params.require("code")?,
                redirect_uri: params.get("redirect_uri"),
                code_verifier: params.get("code_verifier"),
            };
            authorization_code::grant(ctx, client, input).await
        }
        "refresh_token" => {
            refresh_token::grant(
                ctx,
                client,
                params.require("refresh_token")?,
                params.get("scope"),
            )
            .await
        }
        // OAuth 2.1 drops the implicit and password grants entirely.
        other => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type '{other}' is not supported"),
        )),
    }
}
