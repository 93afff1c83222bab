//! Token-endpoint grants (RFC 6749 §4, OAuth 2.1 §4): one module per grant type.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use chrono::{DateTime, Duration, Utc};
use entity::clients;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    Result,
    cache::Cache,
    clients as registry,
    id_token::{self, Authentication},
    refresh::{self, NewRefresh},
    scopes::ScopeSet,
    signing::TenantKeys,
    tenants::{TenantCtx, TenantSettings},
    tokens::{self, Subject},
};

/// Everything a user grant needs about the tenant and the moment.
pub struct GrantCtx<'a, C: ConnectionTrait> {
    /// Database.
    pub db: &'a C,
    /// Cache.
    pub cache: &'a dyn Cache,
    /// The tenant's keys.
    pub keys: &'a TenantKeys,
    /// The issuer identifier.
    pub issuer: &'a str,
    /// The tenant.
    pub tenant: TenantCtx,
    /// The tenant's settings.
    pub settings: &'a TenantSettings,
    /// Now.
    pub now: DateTime<Utc>,
    /// Who is asking (the client, with its address and user agent), for audit events.
    pub actor: crate::audit::Actor,
}

/// Which refresh-token family new tokens belong to.
pub(crate) enum Family {
    /// Start a family (code redemption) if a refresh token is due.
    New,
    /// Continue a family (refresh).
    Existing {
        /// The family.
        id: Uuid,
        /// Its absolute end.
        expires_at: DateTime<Utc>,
    },
}

/// What a user grant issued, for replay bookkeeping.
pub(crate) struct Issued {
    pub response: TokenResponse,
    pub jti: String,
    pub exp: i64,
    pub family_id: Option<Uuid>,
}

/// Issues the access token, ID token (for `openid`) and refresh token (with
/// `offline_access`, or for plain OAuth requests, when the client may refresh).
pub(crate) async fn issue_for_user<C: ConnectionTrait>(
    ctx: &GrantCtx<'_, C>,
    client: &clients::Model,
    scope: &ScopeSet,
    auth: &Authentication,
    family: Family,
) -> Result<Issued> {
    let subject = Subject {
        id: auth.user_id.clone(),
        auth_time: DateTime::from_timestamp(auth.auth_time, 0),
        sid: Some(auth.sid.clone()),
    };
    let (access_token, claims) = tokens::issue(
        ctx.keys,
        ctx.issuer,
        &client.client_id,
        &subject,
        scope,
        ctx.settings.access_token_ttl_secs,
        ctx.now,
    )?;
    let oidc = scope.contains("openid");
    let id_token = if oidc {
        Some(id_token::issue(
            ctx.keys,
            ctx.issuer,
            &client.client_id,
            auth,
            Some(&access_token),
            ctx.settings.id_token_ttl_secs,
            ctx.now,
        )?)
    } else {
        None
    };
    let may_refresh = registry::grant_types(client)
        .iter()
        .any(|g| g == "refresh_token");
    // OIDC Core §11: refresh tokens for OpenID requests only with offline_access.
    let wants_refresh = scope.contains("offline_access") || !oidc;
    let (refresh_token, family_id) = if may_refresh && wants_refresh {
        let (family_id, family_expires_at) = match family {
            Family::New => (
                crate::ids::new_id(ctx.now),
                ctx.now + Duration::seconds(i64::from(ctx.settings.refresh_token_ttl_secs)),
            ),
            Family::Existing { id, expires_at } => (id, expires_at),
        };
        let token = refresh::issue(
            ctx.db,
            &ctx.tenant,
            NewRefresh {
                family_id,
                client_id: client.client_id.clone(),
                user_id: auth.user_id.parse().unwrap_or_default(),
                scope: scope.to_string(),
                sid: Some(auth.sid.clone()),
                auth_time: subject.auth_time.unwrap_or(ctx.now),
                amr: auth.amr.clone(),
                family_expires_at,
            },
            ctx.settings.refresh_token_idle_ttl_secs,
            ctx.now,
        )
        .await?;
        (Some(token), Some(family_id))
    } else {
        (None, None)
    };
    Ok(Issued {
        response: TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ctx.settings.access_token_ttl_secs,
            scope: scope.to_string(),
            refresh_token,
            id_token,
        },
        jti: claims.jti,
        exp: claims.exp,
        family_id,
    })
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Serialize)]
pub struct TokenResponse {
    /// The access token (an RFC 9068 JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u32,
    /// The granted scope.
    pub scope: String,
    /// A refresh token, when one was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An ID token, for OpenID Connect requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("scope", &self.scope)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Records a token request's outcome in the audit log (`token.granted` or
/// `token.refused`, with the grant type, client and error code; never a token).
pub async fn record_outcome(
    db: &impl ConnectionTrait,
    actor: &crate::audit::Actor,
    tenant: &TenantCtx,
    grant_type: &str,
    client_id: Option<&str>,
    outcome: std::result::Result<&TokenResponse, &crate::oauth_error::OAuthError>,
    now: DateTime<Utc>,
) -> Result<()> {
    use crate::audit::{self, Event};
    let grant_type: String = grant_type.chars().take(64).collect();
    let target = client_id.map(|id| format!("client:{id}"));
    let event = match outcome {
        Ok(response) => Event {
            tenant_id: Some(tenant.id),
            action: "token.granted",
            target,
            outcome: "success",
            details: serde_json::json!({
                "grant_type": grant_type,
                "client_id": client_id,
                "scope": response.scope,
                "refresh_token_issued": response.refresh_token.is_some(),
            }),
        },
        Err(err) => Event {
            tenant_id: Some(tenant.id),
            action: "token.refused",
            target,
            outcome: "failure",
            details: serde_json::json!({
                "grant_type": grant_type,
                "client_id": client_id,
                "error": err.code.as_str(),
            }),
        },
    };
    audit::record(db, actor, event, now).await
}
