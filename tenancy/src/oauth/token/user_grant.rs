//! A user grant (authorization code or refresh token) of an authenticated client, as
//! one unit of database work: the grant's own writes and its audit event, run by the
//! group-commit writer ([`crate::runtime::batch`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::clients;
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::{
    cache::Cache,
    core::TenantCtx,
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    crypto::Keyring,
    journal::audit::{self, Actor},
    oauth::token::{
        GrantCtx, Minted,
        authorization_code::{self, CodeRedemption},
        effects::CacheEffects,
        exchange::{GrantType, TokenRequest},
        outcome_event, refresh_token,
    },
    runtime::{batch::Batched, deferred::DeferredRows},
    tenants::issuer::Issuer,
};

/// A code or refresh grant with everything it needs owned, so that it can run in a
/// group-committed batch.
pub(crate) struct UserGrant {
    /// Codes live in the cache.
    pub cache: Arc<dyn Cache>,
    /// The master keyring (refresh-token successors are derived under it).
    pub keyring: Arc<Keyring>,
    /// The tenant's issuer.
    pub issuer: Issuer,
    /// The tenant.
    pub tenant: TenantCtx,
    /// Who made the request, for the audit event.
    pub actor: Actor,
    /// The authenticated client.
    pub client: clients::Model,
    /// The request's time.
    pub now: DateTime<Utc>,
    /// Which of the two user grants.
    pub grant_type: UserGrantType,
    /// The request's parameters.
    pub request: TokenRequest,
    /// Its cache writes, settled when its transaction ends.
    pub effects: CacheEffects,
    /// The tenant's APIs.
    pub apis: Arc<crate::resources::catalog::ApiCatalog>,
}

/// The grants a user's authorization stands behind (RFC 6749 §4.1, §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserGrantType {
    /// Redeeming an authorization code.
    AuthorizationCode,
    /// Redeeming a refresh token.
    RefreshToken,
}

impl From<UserGrantType> for GrantType {
    fn from(grant: UserGrantType) -> Self {
        match grant {
            UserGrantType::AuthorizationCode => Self::AuthorizationCode,
            UserGrantType::RefreshToken => Self::RefreshToken,
        }
    }
}

/// A grant's outcome once its writes are in a transaction, or the storage failure
/// that means the transaction must be rolled back.
type Written = Result<OAuthResult<Minted>, OAuthError>;

/// Whether `err` is a storage failure (the grant's writes must not be committed).
fn is_storage_failure(err: &OAuthError) -> bool {
    matches!(
        err.code,
        ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
    )
}

impl Batched for UserGrant {
    type Outcome = OAuthResult<Minted>;

    fn write<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        rows: &'a DeferredRows,
    ) -> impl std::future::Future<Output = Written> + Send + 'a {
        UserGrant::write(self, txn, rows)
    }

    async fn committed(&self) -> Result<(), OAuthError> {
        self.effects
            .committed(self.cache.as_ref(), self.tenant.id, self.now)
            .await
            .map_err(OAuthError::from)
    }

    async fn rolled_back(&self) {
        if let Err(err) = self
            .effects
            .rolled_back(self.cache.as_ref(), self.tenant.id, self.now)
            .await
        {
            // The code stays taken: the client's retry is refused as invalid_grant
            // (no marker was written, so it is not mistaken for a replay).
            tracing::warn!(error = %err, "could not put back the code of a rolled-back grant");
        }
    }
}

impl UserGrant {
    /// Runs the grant and records its audit event on `db`, a transaction the caller
    /// commits, unless this returns `Err` (a storage failure: roll back). A refused
    /// grant is `Ok(Err(..))`: its writes (a replayed token's family revocation, the
    /// `token.refused` event) are committed like a success's.
    async fn write<C: ConnectionTrait>(&self, db: &C, rows: &DeferredRows) -> Written {
        let ctx = GrantCtx {
            db,
            cache: self.cache.as_ref(),
            keyring: &self.keyring,
            issuer: &self.issuer.url,
            tenant: self.tenant.clone(),
            settings: self.issuer.settings(),
            now: self.now,
            actor: self.actor.clone(),
            effects: &self.effects,
            apis: &self.apis,
            rows,
        };
        let result = self.dispatch(&ctx).await;
        if let Err(err) = &result
            && is_storage_failure(err)
        {
            return Err(err.clone());
        }
        let event = outcome_event(
            &self.tenant,
            GrantType::from(self.grant_type).as_str(),
            Some(&self.client.client_id),
            result.as_ref(),
        );
        rows.insert_audit_event(db, audit::row(&self.actor, event, self.now))
            .await?;
        Ok(result)
    }

    async fn dispatch<C: ConnectionTrait>(&self, ctx: &GrantCtx<'_, C>) -> OAuthResult<Minted> {
        let request = &self.request;
        match self.grant_type {
            UserGrantType::AuthorizationCode => {
                let input = CodeRedemption {
                    code: required(request.code.as_deref(), "code")?,
                    redirect_uri: request.redirect_uri.as_deref(),
                    code_verifier: request.code_verifier.as_deref(),
                    resource: one_resource(request)?,
                };
                authorization_code::grant(ctx, &self.client, input).await
            }
            UserGrantType::RefreshToken => {
                refresh_token::grant(
                    ctx,
                    &self.client,
                    required(request.refresh_token.as_deref(), "refresh_token")?,
                    request.scope.as_deref(),
                    one_resource(request)?,
                )
                .await
            }
        }
    }
}

/// The token request's one `resource` (RFC 8707 §2: a token is for one API here).
pub(crate) fn one_resource(request: &TokenRequest) -> OAuthResult<Option<&str>> {
    match request.resources.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.as_str())),
        _ => Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "name one resource per token request",
        )),
    }
}

/// A parameter the grant cannot do without (RFC 6749 §5.2 `invalid_request`).
fn required<'a>(value: Option<&'a str>, name: &str) -> OAuthResult<&'a str> {
    value.ok_or_else(|| OAuthError::invalid_request(format!("missing parameter '{name}'")))
}
