//! `/tenants/{tenant}/keys`: a tenant's signing keys (public halves), rotation and
//! emergency revocation.

use poem::Request;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use tenancy::{core::Access, core::TenantCtx, core::TenantSettings, keys, keys::rotation};

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    dto::{NoContent, SigningKeyList},
};
use crate::{error::ApiResult, state::AppState};

/// Signing-key operations.
pub struct SigningKeysApi(pub AppState);

impl SigningKeysApi {
    async fn list(
        &self,
        tenant_id: tenancy::sea_orm::prelude::Uuid,
    ) -> ApiResult<Json<SigningKeyList>> {
        let keys = keys::list(self.0.db(), tenant_id).await?;
        Ok(Json(SigningKeyList {
            items: keys.into_iter().map(Into::into).collect(),
        }))
    }
}

#[OpenApi(tag = "Tag::SigningKeys")]
impl SigningKeysApi {
    /// List signing keys
    ///
    /// The tenant's published keys with their lifecycle state and schedule; private
    /// halves never leave the server.
    #[oai(
        path = "/tenants/:tenant/keys",
        method = "get",
        operation_id = "list_signing_keys"
    )]
    async fn list_signing_keys(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
    ) -> ApiResult<Json<SigningKeyList>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        self.list(tenant.id).await
    }

    /// Rotate signing keys
    ///
    /// Publishes a new `next` key for each of the tenant's algorithms. It starts signing
    /// after the tenant's `key_propagation_secs` (so relying parties that cache the JWKS
    /// see it first), or at once with `immediate=true`. The previous key stays published
    /// until every token it signed has expired.
    #[oai(
        path = "/tenants/:tenant/keys/rotate",
        method = "post",
        operation_id = "rotate_signing_keys"
    )]
    async fn rotate_signing_keys(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Sign with the new keys at once instead of after the propagation delay.
        immediate: Query<Option<bool>>,
    ) -> ApiResult<Json<SigningKeyList>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        crate::limits::manage(
            &self.0,
            req,
            &tenant,
            tenancy::cache::rate_limit::Endpoint::KeyRotation,
            "keys",
        )
        .await?;
        let settings = TenantSettings::from_json(&tenant.settings);
        let now = self.0.now();
        let immediate = immediate.0.unwrap_or(false);
        let ctx = TenantCtx::from(&tenant);
        rotation::rotate_by(
            self.0.db(),
            &self.0.keyring,
            &ctx,
            &settings,
            &caller.actor,
            immediate,
            now,
        )
        .await?;
        self.0
            .metrics
            .key_events
            .with_label_values(&["rotated"])
            .inc();
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        self.list(tenant.id).await
    }

    /// Revoke a signing key
    ///
    /// Emergency revocation: the key leaves the JWKS at once, every token it signed stops
    /// verifying (introspection answers `active: false`, UserInfo refuses it), and if it
    /// was signing, a replacement signs immediately.
    #[oai(
        path = "/tenants/:tenant/keys/:kid/revoke",
        method = "post",
        operation_id = "revoke_signing_key"
    )]
    async fn revoke_signing_key(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The key's `kid`.
        kid: Path<String>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let settings = TenantSettings::from_json(&tenant.settings);
        let now = self.0.now();
        let ctx = TenantCtx::from(&tenant);
        rotation::revoke_by(
            self.0.db(),
            &self.0.keyring,
            &ctx,
            &settings,
            &caller.actor,
            &kid.0,
            now,
        )
        .await?;
        self.0
            .metrics
            .key_events
            .with_label_values(&["revoked"])
            .inc();
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(NoContent::Done)
    }
}
