//! `/api-keys` and `/tenants/{tenant}/api-keys`: keys for this API.

use poem::Request;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use tenancy::{core::Access, core::TenantCtx, core::pagination::PageRequest, management::api_keys};
use uuid::Uuid;

use super::{
    Tag,
    auth::{ApiKeyAuth, caller, tenant_caller},
    body::JsonBody,
    dto::{ApiKeyCreated, ApiKeyPage, ApiKeyResponse, CreateApiKeyRequest, NoContent},
};
use crate::{error::ApiResult, state::AppState};

/// API-key operations.
pub struct ApiKeysApi(pub AppState);

fn page_response(
    page: tenancy::core::pagination::Page<tenancy::entity::api_keys::Model>,
) -> ApiKeyPage {
    ApiKeyPage {
        next_cursor: page.next_cursor,
        items: page
            .items
            .into_iter()
            .map(|k| ApiKeyResponse::new(k, None))
            .collect(),
    }
}

#[OpenApi(tag = "Tag::ApiKeys")]
impl ApiKeysApi {
    /// List platform API keys
    #[oai(
        path = "/api-keys",
        method = "get",
        operation_id = "list_platform_api_keys"
    )]
    async fn list_platform_api_keys(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<ApiKeyPage>> {
        let caller = caller(&self.0, &auth, req).await?;
        caller.principal.require_platform()?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        Ok(Json(page_response(
            api_keys::list(self.0.db(), None, page).await?,
        )))
    }

    /// Create a platform API key
    ///
    /// The key is returned once, in `key`.
    #[oai(
        path = "/api-keys",
        method = "post",
        operation_id = "create_platform_api_key"
    )]
    async fn create_platform_api_key(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        body: JsonBody<CreateApiKeyRequest>,
    ) -> ApiResult<ApiKeyCreated> {
        let caller = caller(&self.0, &auth, req).await?;
        caller.principal.require_platform()?;
        let created = api_keys::create(
            self.0.db(),
            None,
            &caller.actor,
            body.0.name,
            body.0.scope.as_str(),
            self.0.now(),
        )
        .await?;
        Ok(ApiKeyCreated::Created(Json(ApiKeyResponse::new(
            created.key,
            Some(created.secret),
        ))))
    }

    /// Revoke a platform API key
    #[oai(
        path = "/api-keys/:key_id",
        method = "delete",
        operation_id = "revoke_platform_api_key"
    )]
    async fn revoke_platform_api_key(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The key's id.
        key_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let caller = caller(&self.0, &auth, req).await?;
        caller.principal.require_platform()?;
        api_keys::revoke(self.0.db(), None, &caller.actor, key_id.0, self.0.now()).await?;
        Ok(NoContent::Done)
    }

    /// List a tenant's API keys
    #[oai(
        path = "/tenants/:tenant/api-keys",
        method = "get",
        operation_id = "list_api_keys"
    )]
    async fn list_api_keys(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<ApiKeyPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let ctx = TenantCtx::from(&tenant);
        Ok(Json(page_response(
            api_keys::list(self.0.db(), Some(&ctx), page).await?,
        )))
    }

    /// Create a tenant API key
    ///
    /// Scope `tenant_admin` or `tenant_read`. The key is returned once, in `key`.
    #[oai(
        path = "/tenants/:tenant/api-keys",
        method = "post",
        operation_id = "create_api_key"
    )]
    async fn create_api_key(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        body: JsonBody<CreateApiKeyRequest>,
    ) -> ApiResult<ApiKeyCreated> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let ctx = TenantCtx::from(&tenant);
        let created = api_keys::create(
            self.0.db(),
            Some(&ctx),
            &caller.actor,
            body.0.name,
            body.0.scope.as_str(),
            self.0.now(),
        )
        .await?;
        Ok(ApiKeyCreated::Created(Json(ApiKeyResponse::new(
            created.key,
            Some(created.secret),
        ))))
    }

    /// Revoke a tenant API key
    #[oai(
        path = "/tenants/:tenant/api-keys/:key_id",
        method = "delete",
        operation_id = "revoke_api_key"
    )]
    async fn revoke_api_key(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The key's id.
        key_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let ctx = TenantCtx::from(&tenant);
        api_keys::revoke(
            self.0.db(),
            Some(&ctx),
            &caller.actor,
            key_id.0,
            self.0.now(),
        )
        .await?;
        Ok(NoContent::Done)
    }
}
