//! A user grant (authorization code or refresh token) of an authenticated client, as
//! one unit of database work: the grant's own writes and its audit event.

use tenancy::{
    core::TenantCtx,
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    oauth::token::{
        self, GrantCtx,
        authorization_code::{self, CodeRedemption},
        effects::CacheEffects,
        refresh_token,
    },
    sea_orm::{ConnectionTrait, DatabaseTransaction},
};

use super::{form, grant_batch::Batched};
use crate::protocol;

/// A code or refresh grant with everything it needs owned, so that it can run on the
/// database lane or in a group-committed batch (`grant_batch`).
pub struct UserGrant {
    /// Codes live in the cache.
    pub cache: std::sync::Arc<dyn tenancy::cache::Cache>,
    /// The master keyring (refresh-token successors are derived under it).
    pub keyring: std::sync::Arc<tenancy::crypto::Keyring>,
    /// The tenant's issuer.
    pub issuer: protocol::Issuer,
    /// The tenant.
    pub tenant: TenantCtx,
    /// Who made the request, for the audit event.
    pub actor: tenancy::journal::audit::Actor,
    /// The authenticated client.
    pub client: tenancy::entity::clients::Model,
    /// The request's time.
    pub now: chrono::DateTime<chrono::Utc>,
    /// `authorization_code` or `refresh_token` (anything else is refused).
    pub grant_type: String,
    /// The request's form parameters.
    pub params: form::Params,
    /// Its cache writes, settled when its transaction ends.
    pub effects: CacheEffects,
}

/// A grant's outcome once its writes are in a transaction, or the storage failure
/// that means the transaction must be rolled back.
pub type Written = Result<OAuthResult<token::Minted>, OAuthError>;

/// Whether `err` is a storage failure (the grant's writes must not be committed).
fn is_storage_failure(err: &OAuthError) -> bool {
    matches!(
        err.code,
        ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
    )
}

impl Batched for UserGrant {
    type Outcome = OAuthResult<token::Minted>;

    fn write<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
    ) -> impl std::future::Future<Output = Written> + Send + 'a {
        UserGrant::write(self, txn)
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
    pub async fn write<C: ConnectionTrait>(&self, db: &C) -> Written {
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
        };
        let result = self.dispatch(&ctx).await;
        if let Err(err) = &result
            && is_storage_failure(err)
        {
            return Err(err.clone());
        }
        let event = token::outcome_event(
            &self.tenant,
            &self.grant_type,
            Some(&self.client.client_id),
            result.as_ref(),
        );
        tenancy::journal::audit::record(db, &self.actor, event, self.now).await?;
        Ok(result)
    }

    async fn dispatch<C: ConnectionTrait>(
        &self,
        ctx: &GrantCtx<'_, C>,
    ) -> OAuthResult<token::Minted> {
        match self.grant_type.as_str() {
            "authorization_code" => {
                let input = CodeRedemption {
                    code: self.params.require("code")?,
                    redirect_uri: self.params.get("redirect_uri"),
                    code_verifier: self.params.get("code_verifier"),
                };
                authorization_code::grant(ctx, &self.client, input).await
            }
            "refresh_token" => {
                refresh_token::grant(
                    ctx,
                    &self.client,
                    self.params.require("refresh_token")?,
                    self.params.get("scope"),
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
}
