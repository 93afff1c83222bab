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
    core::Algorithm,
    core::TenantCtx,
    core::TenantSettings,
    core::scopes::ScopeSet,
    keys::signing::TenantKeys,
    oauth::audience,
    oauth::refresh::{self, NewRefresh},
    oauth::tokens::access::{self, Subject},
    oauth::tokens::id_token::{self, Authentication, IdClaims},
    resources::apis::TokenFormat,
    resources::catalog::{Api, ApiCatalog},
    runtime::{Workers, deferred::DeferredRows},
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
    /// The tenant's APIs.
    pub apis: &'a ApiCatalog,
    /// Where the grant's refresh tokens and audit event are inserted: held for the
    /// end of its batch ([`crate::runtime::deferred`]).
    pub rows: &'a DeferredRows,
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
    form: AccessForm,
    /// The client's `id_token_signed_response_alg`.
    id_alg: Option<Algorithm>,
}

/// How the access token is made: what the API it is for asked.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AccessForm {
    format: Option<TokenFormat>,
    alg: Option<Algorithm>,
}

impl AccessForm {
    /// The form of tokens for `api` (a JWT by the preferred key for no API).
    pub(crate) fn of(api: Option<&Api>) -> Self {
        api.map_or_else(Self::default, |api| Self {
            format: Some(api.token_format),
            alg: api.signing_alg,
        })
    }

    fn is_reference(self) -> bool {
        self.format == Some(TokenFormat::Reference)
    }
}

/// The lifetime of access tokens for `api`: its own, else the tenant's.
pub(crate) fn access_ttl(settings: &TenantSettings, api: Option<&Api>) -> u32 {
    api.and_then(|a| a.access_token_ttl_secs)
        .unwrap_or(settings.access_token_ttl_secs)
}

/// The client's registered ID-token algorithm.
pub(crate) fn id_token_alg(client: &clients::Model) -> Option<Algorithm> {
    client
        .id_token_signed_response_alg
        .as_deref()
        .and_then(Algorithm::parse)
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

    /// Makes the access token (signed, or a reference token kept in `cache` for
    /// `tenant_id`) and signs the ID token (with the access token's `at_hash`) on a
    /// signing thread of `workers`, off the async runtime.
    pub async fn sign(
        self,
        workers: &Workers,
        keys: Arc<TenantKeys>,
        cache: &dyn Cache,
        tenant_id: uuid::Uuid,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse> {
        let reference = if self.form.is_reference() {
            Some(access::store_reference(cache, tenant_id, &self.access, now).await?)
        } else {
            None
        };
        if reference.is_some() && self.id.is_none() {
            // Nothing left to sign: no trip to a signing thread.
            return self.sign_now(&keys, reference);
        }
        workers
            .sign(move || self.sign_now(&keys, reference))
            .await?
    }

    fn sign_now(self, keys: &TenantKeys, reference: Option<String>) -> Result<TokenResponse> {
        let access_token = match reference {
            Some(token) => token,
            None => access::sign_with(keys, self.form.alg, &self.access)?,
        };
        let id_token = match self.id {
            Some(claims) => Some(id_token::sign_with(
                keys,
                self.id_alg,
                claims,
                Some(&access_token),
            )?),
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

/// The APIs a grant is for, and the one this token request asks for.
pub(crate) struct Resources<'a> {
    /// The grant's APIs (identifiers).
    pub grant: &'a [String],
    /// The token request's `resource`, if it sent one.
    pub requested: Option<&'a str>,
}

/// Issues the access token, ID token (for `openid`) and refresh token (with
/// `offline_access`, or for plain OAuth requests, when the client may refresh).
pub(crate) async fn issue_for_user<C: ConnectionTrait>(
    ctx: &GrantCtx<'_, C>,
    client: &clients::Model,
    scope: &ScopeSet,
    auth: &Authentication,
    family: Family,
    resources: Resources<'_>,
) -> crate::core::oauth_error::OAuthResult<Issued> {
    let api = audience::token_api(ctx.apis, resources.grant, resources.requested)?;
    let apis_of_grant: Vec<Arc<Api>> = resources
        .grant
        .iter()
        .filter_map(|r| ctx.apis.get(r).cloned())
        .collect();
    let oidc = scope.contains("openid");
    let may_refresh = registry::grant_types(client)
        .iter()
        .any(|g| g == "refresh_token");
    // OIDC Core §11: refresh tokens for OpenID requests only with offline_access.
    let wants_refresh = scope.contains("offline_access") || !oidc;
    // A refresh token can later be exchanged for any API of the grant, so every one
    // of them must allow offline access.
    let apis_allow = apis_of_grant.iter().all(|api| api.allow_offline_access);
    let refresh_due = may_refresh && wants_refresh && apis_allow;
    let auth_time = DateTime::from_timestamp(auth.auth_time, 0);
    let stored = |token: String, family_id: Uuid, family_expires_at: DateTime<Utc>| async move {
        refresh::store(
            ctx.db,
            ctx.rows,
            &ctx.tenant,
            &token,
            NewRefresh {
                family_id,
                client_id: client.client_id.clone(),
                user_id: auth.user_id.parse().unwrap_or_default(),
                scope: scope.to_string(),
                resources: resources.grant.to_vec(),
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
    // The user's roles, when the API limits scopes by them or carries them.
    let user_access = match api.as_deref() {
        Some(api) if api.rbac || api.include_roles => Some(
            crate::resources::roles::access_of(
                ctx.db,
                &ctx.tenant,
                auth.user_id.parse().unwrap_or_default(),
            )
            .await?,
        ),
        _ => None,
    };
    let (token_scope, aud) = audience::token_scope(
        ctx.issuer,
        api.as_deref(),
        &apis_of_grant,
        scope,
        user_access.as_ref(),
    );
    let ttl = access_ttl(ctx.settings, api.as_deref());
    let mut access = access::claims(
        ctx.issuer,
        &client.client_id,
        &subject,
        aud,
        &token_scope,
        ttl,
        ctx.now,
    )?;
    if api.as_deref().is_some_and(|a| a.include_roles) {
        access.roles = user_access.map(|a| a.role_names);
    }
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
            expires_in: ttl,
            form: AccessForm::of(api.as_deref()),
            id_alg: id_token_alg(client),
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
