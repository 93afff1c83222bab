//! Token-endpoint grants (RFC 6749 §4, OAuth 2.1 §4): one module per grant type.

pub mod authorization_code;
pub mod client_credentials;
pub mod effects;
pub mod exchange;
pub mod refresh_token;
pub(crate) mod user_grant;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use entity::clients;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    Result,
    cache::Cache,
    clients as registry,
    core::AccessClaims,
    core::TenantCtx,
    core::TenantSettings,
    core::scopes::ScopeSet,
    keys::signing::TenantKeys,
    oauth::refresh::{self, NewRefresh},
    oauth::tokens::access::{self, Subject},
    oauth::tokens::id_token::{self, Authentication, IdClaims},
    runtime::Workers,
};

/// Everything a user grant needs about the tenant and the moment.
pub struct GrantCtx<'a, C: ConnectionTrait> {
    /// Database.
    pub db: &'a C,
    /// Cache.
    pub cache: &'a dyn Cache,
    /// The master keyring (refresh-token successors are derived under it).
    pub keyring: &'a crate::crypto::Keyring,
    /// The issuer identifier.
    pub issuer: &'a str,
    /// The tenant.
    pub tenant: TenantCtx,
    /// The tenant's settings.
    pub settings: &'a TenantSettings,
    /// Now.
    pub now: DateTime<Utc>,
    /// Who is asking (the client, with its address and user agent), for audit events.
    pub actor: crate::journal::audit::Actor,
    /// The grant's cache writes, settled when its transaction ends.
    pub effects: &'a effects::CacheEffects,
}

/// Which refresh-token family new tokens belong to.
pub(crate) enum Family {
    /// Start a family (code redemption) if a refresh token is due.
    New,
    /// Continue a family (refresh): store `successor` if a refresh token is due.
    Existing {
        /// The family.
        id: Uuid,
        /// Its absolute end.
        expires_at: DateTime<Utc>,
        /// The successor's plaintext (`refresh::successor_of` the redeemed token).
        successor: String,
    },
    /// A retry inside the grace window: return the successor already stored again.
    Reissue {
        /// The family.
        id: Uuid,
        /// The successor's plaintext.
        successor: String,
    },
}

/// What a user grant issued, for replay bookkeeping.
pub(crate) struct Issued {
    pub minted: Minted,
    pub jti: String,
    pub exp: i64,
    pub family_id: Option<Uuid>,
}

/// The tokens a grant decided to issue, not yet signed.
///
/// A grant runs in a database transaction; signing (RSA: a quarter of a millisecond
/// per token) waits until that transaction has committed, so no connection is held
/// while the CPU signs (SQLite has a single one). Everything that can refuse the
/// request happens before; signing with a loaded key does not fail in practice, and
/// if it did the client would get `server_error` with the grant's state change (code
/// used, refresh token rotated) already committed.
pub struct Minted {
    access: AccessClaims,
    id: Option<IdClaims>,
    refresh_token: Option<String>,
    expires_in: u32,
}

impl Minted {
    /// The granted scope.
    pub fn scope(&self) -> &str {
        &self.access.scope
    }

    /// Whether a refresh token is among the tokens.
    pub fn has_refresh_token(&self) -> bool {
        self.refresh_token.is_some()
    }

    /// Signs the access token and the ID token (with the access token's `at_hash`) on
    /// a signing thread of `workers`, off the async runtime.
    pub async fn sign(self, workers: &Workers, keys: Arc<TenantKeys>) -> Result<TokenResponse> {
        workers.sign(move || self.sign_now(&keys)).await?
    }

    fn sign_now(self, keys: &TenantKeys) -> Result<TokenResponse> {
        let access_token = access::sign(keys, &self.access)?;
        let id_token = match self.id {
            Some(claims) => Some(id_token::sign(keys, claims, Some(&access_token))?),
            None => None,
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.expires_in,
            scope: self.access.scope,
            refresh_token: self.refresh_token,
            id_token,
        })
    }
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("scope", &self.access.scope)
            .field("id_token", &self.id.is_some())
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
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
    let oidc = scope.contains("openid");
    let may_refresh = registry::grant_types(client)
        .iter()
        .any(|g| g == "refresh_token");
    // OIDC Core §11: refresh tokens for OpenID requests only with offline_access.
    let wants_refresh = scope.contains("offline_access") || !oidc;
    let refresh_due = may_refresh && wants_refresh;
    let auth_time = DateTime::from_timestamp(auth.auth_time, 0);
    let stored = |token: String, family_id: Uuid, family_expires_at: DateTime<Utc>| async move {
        refresh::store(
            ctx.db,
            &ctx.tenant,
            &token,
            NewRefresh {
                family_id,
                client_id: client.client_id.clone(),
                user_id: auth.user_id.parse().unwrap_or_default(),
                scope: scope.to_string(),
                sid: Some(auth.sid.clone()),
                auth_time: auth_time.unwrap_or(ctx.now),
                amr: auth.amr.clone(),
                family_expires_at,
            },
            ctx.settings.refresh_token_idle_ttl_secs,
            ctx.now,
        )
        .await
        .map(|()| token)
    };
    // The family the tokens belong to, and the refresh token handed out (if any).
    let (family_id, refresh_token) = match family {
        Family::New if refresh_due => {
            let id = crate::core::ids::new_id(ctx.now);
            let expires_at =
                ctx.now + Duration::seconds(i64::from(ctx.settings.refresh_token_ttl_secs));
            let token = crate::crypto::secrets::random_token("")?;
            (Some(id), Some(stored(token, id, expires_at).await?))
        }
        Family::New => (None, None),
        Family::Existing {
            id,
            expires_at,
            successor,
        } if refresh_due => (Some(id), Some(stored(successor, id, expires_at).await?)),
        // A narrowed scope without offline_access gets no successor: the family ends.
        Family::Existing { id, .. } => (Some(id), None),
        Family::Reissue { id, successor } => (Some(id), Some(successor)),
    };
    let subject = Subject {
        id: auth.user_id.clone(),
        auth_time,
        sid: Some(auth.sid.clone()),
        // RFC 7009 §2.1: revoking the grant revokes this access token too.
        grant_id: family_id,
    };
    let access = access::claims(
        ctx.issuer,
        &client.client_id,
        &subject,
        scope,
        ctx.settings.access_token_ttl_secs,
        ctx.now,
    )?;
    let id = oidc.then(|| {
        id_token::claims(
            ctx.issuer,
            &client.client_id,
            auth,
            ctx.settings.id_token_ttl_secs,
            ctx.now,
        )
    });
    Ok(Issued {
        jti: access.jti.clone(),
        exp: access.exp,
        family_id: family_id.filter(|_| refresh_token.is_some()),
        minted: Minted {
            access,
            id,
            refresh_token,
            expires_in: ctx.settings.access_token_ttl_secs,
        },
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

/// The audit event of a token request's outcome (`token.granted` or `token.refused`,
/// with the grant type, client and error code; never a token).
pub fn outcome_event(
    tenant: &TenantCtx,
    grant_type: &str,
    client_id: Option<&str>,
    outcome: std::result::Result<&Minted, &crate::core::oauth_error::OAuthError>,
) -> crate::journal::audit::Event<'static> {
    use crate::journal::audit::Event;
    let grant_type: String = grant_type.chars().take(64).collect();
    let target = client_id.map(|id| format!("client:{id}"));
    match outcome {
        Ok(minted) => Event {
            tenant_id: Some(tenant.id),
            action: "token.granted",
            target,
            outcome: "success",
            details: serde_json::json!({
                "grant_type": grant_type,
                "client_id": client_id,
                "scope": minted.scope(),
                "refresh_token_issued": minted.has_refresh_token(),
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
    }
}
