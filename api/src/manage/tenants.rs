//! `/tenants`: tenant lifecycle.

use poem::Request;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use tenancy::{
    core::Access,
    core::pagination::PageRequest,
    tenants::{self, NewTenant, TenantPatch},
};

use super::{
    Tag,
    auth::{ApiKeyAuth, caller, tenant_caller},
    body::JsonBody,
    dto::{
        CreateTenantRequest, NoContent, TenantCreated, TenantPage, TenantResponse,
        UpdateTenantRequest,
    },
};
use crate::{error::ApiResult, state::AppState};

/// Tenant operations.
pub struct TenantsApi(pub AppState);

#[OpenApi(tag = "Tag::Tenants")]
impl TenantsApi {
    /// List tenants
    ///
    /// Platform keys see every tenant; a tenant key sees only its own.
    #[oai(path = "/tenants", method = "get", operation_id = "list_tenants")]
    async fn list_tenants(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<TenantPage>> {
        let caller = caller(&self.0, &auth, req).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let page = tenants::list_visible(self.0.db(), &caller.principal, page).await?;
        let base = self.0.settings.public_base();
        Ok(Json(TenantPage {
            next_cursor: page.next_cursor,
            items: page
                .items
                .into_iter()
                .map(|t| TenantResponse::new(t, base))
                .collect(),
        }))
    }

    /// Create a tenant
    ///
    /// Generates the tenant's first RS256 signing key. Platform admins only.
    #[oai(path = "/tenants", method = "post", operation_id = "create_tenant")]
    async fn create_tenant(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        body: JsonBody<CreateTenantRequest>,
    ) -> ApiResult<TenantCreated> {
        let caller = caller(&self.0, &auth, req).await?;
        caller.principal.require_platform()?;
        let input = NewTenant {
            slug: body.0.slug,
            display_name: body.0.display_name,
            settings: body.0.settings.unwrap_or_default().into(),
        };
        let tenant = tenants::create(
            self.0.db(),
            &self.0.keyring,
            &caller.actor,
            input,
            self.0.now(),
        )
        .await?;
        Ok(TenantCreated::Created(Json(TenantResponse::new(
            tenant,
            self.0.settings.public_base(),
        ))))
    }

    /// Get a tenant
    #[oai(path = "/tenants/:tenant", method = "get", operation_id = "get_tenant")]
    async fn get_tenant(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
    ) -> ApiResult<Json<TenantResponse>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        Ok(Json(TenantResponse::new(
            tenant,
            self.0.settings.public_base(),
        )))
    }

    /// Update a tenant
    ///
    /// Changes the display name and settings; `enabled` (disable / re-enable) is for
    /// platform admins only.
    #[oai(
        path = "/tenants/:tenant",
        method = "patch",
        operation_id = "update_tenant"
    )]
    async fn update_tenant(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        body: JsonBody<UpdateTenantRequest>,
    ) -> ApiResult<Json<TenantResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        if body.0.enabled.is_some() {
            caller.principal.require_platform()?;
        }
        let patch = TenantPatch {
            display_name: body.0.display_name,
            enabled: body.0.enabled,
            settings: body.0.settings.unwrap_or_default().into(),
        };
        let tenant = tenants::update(
            self.0.db(),
            &self.0.keyring,
            &caller.actor,
            tenant,
            patch,
            self.0.now(),
        )
        .await?;
        // Settings (and which keys sign) may have changed: drop what this node and
        // the others keep resolved.
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(Json(TenantResponse::new(
            tenant,
            self.0.settings.public_base(),
        )))
    }

    /// Delete a tenant
    ///
    /// Deletes the tenant and everything it owns (clients, users, keys, audit log) and
    /// flushes its cache namespace. Platform admins only. Irreversible.
    #[oai(
        path = "/tenants/:tenant",
        method = "delete",
        operation_id = "delete_tenant"
    )]
    async fn delete_tenant(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        caller.principal.require_platform()?;
        let tenant_id = tenant.id;
        tenants::delete(
            self.0.db(),
            self.0.cache.as_ref(),
            &caller.actor,
            tenant,
            self.0.now(),
        )
        .await?;
        crate::jobs::tenant_changed(&self.0, tenant_id).await;
        Ok(NoContent::Done)
    }
}
