//! `/tenants/{tenant}/keys`: a tenant's signing keys (public halves).

use poem::Request;
use poem_openapi::{OpenApi, param::Path, payload::Json};
use tenancy::{api_keys::Access, keys};

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    dto::SigningKeyList,
};
use crate::{error::ApiResult, state::AppState};

/// Signing-key operations.
pub struct SigningKeysApi(pub AppState);

#[OpenApi(tag = "Tag::SigningKeys")]
impl SigningKeysApi {
    /// List signing keys
    ///
    /// The tenant's published keys with their lifecycle state; private halves never
    /// leave the server.
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
        let keys = keys::list(&self.0.db, tenant.id).await?;
        Ok(Json(SigningKeyList {
            items: keys.into_iter().map(Into::into).collect(),
        }))
    }
}
