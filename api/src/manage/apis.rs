//! `/tenants/{tenant}/apis`: the tenant's APIs (protected resources, RFC 8707), and
//! the RFC 9728 metadata each should publish.

use poem::Request;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use tenancy::{
    core::Access,
    core::TenantCtx,
    core::pagination::PageRequest,
    resources::apis::{self, ApiPatch, ApiScope, NewApi},
};
use uuid::Uuid;

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    body::JsonBody,
    dto::{
        ApiCreated, ApiPage, ApiResourceResponse, ApiScopeDto, CreateApiRequest, NoContent,
        ProtectedResourceMetadata, UpdateApiRequest, nullable,
    },
};
use crate::{error::ApiResult, state::AppState};

/// API resource operations.
pub struct ApisApi(pub AppState);

fn scopes(dtos: Vec<ApiScopeDto>) -> Vec<ApiScope> {
    dtos.into_iter()
        .map(|s| ApiScope {
            value: s.value,
            description: s.description,
        })
        .collect()
}

#[OpenApi(tag = "Tag::Apis")]
impl ApisApi {
    /// List APIs
    #[oai(
        path = "/tenants/:tenant/apis",
        method = "get",
        operation_id = "list_apis"
    )]
    async fn list_apis(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<ApiPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let page = apis::list(self.0.db(), &TenantCtx::from(&tenant), page).await?;
        Ok(Json(ApiPage {
            next_cursor: page.next_cursor,
            items: page
                .items
                .into_iter()
                .map(ApiResourceResponse::from)
                .collect(),
        }))
    }

    /// Define an API
    ///
    /// Clients then ask for its tokens with `resource=<identifier>` (RFC 8707); its
    /// tokens carry `aud` = the identifier.
    #[oai(
        path = "/tenants/:tenant/apis",
        method = "post",
        operation_id = "create_api"
    )]
    async fn create_api(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        body: JsonBody<CreateApiRequest>,
    ) -> ApiResult<ApiCreated> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        let input = NewApi {
            name: b.name,
            identifier: b.identifier,
            scopes: scopes(b.scopes),
            token_format: b.token_format.map(|f| f.as_str().to_owned()),
            signing_alg: b.signing_alg,
            access_token_ttl_secs: b.access_token_ttl_secs,
            allow_offline_access: b.allow_offline_access,
            rbac: b.rbac,
            include_roles: b.include_roles,
        };
        let api = apis::create(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            input,
            self.0.now(),
        )
        .await?;
        // Nodes keep the API catalogue with the resolved tenant: drop it everywhere.
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(ApiCreated::Created(Json(api.into())))
    }

    /// Get an API
    #[oai(
        path = "/tenants/:tenant/apis/:api_id",
        method = "get",
        operation_id = "get_api"
    )]
    async fn get_api(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The API's id.
        api_id: Path<Uuid>,
    ) -> ApiResult<Json<ApiResourceResponse>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let api = apis::get(self.0.db(), &TenantCtx::from(&tenant), api_id.0).await?;
        Ok(Json(api.into()))
    }

    /// Update an API
    #[oai(
        path = "/tenants/:tenant/apis/:api_id",
        method = "patch",
        operation_id = "update_api"
    )]
    async fn update_api(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The API's id.
        api_id: Path<Uuid>,
        body: JsonBody<UpdateApiRequest>,
    ) -> ApiResult<Json<ApiResourceResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        let patch = ApiPatch {
            name: b.name,
            scopes: b.scopes.map(scopes),
            token_format: b.token_format.map(|f| f.as_str().to_owned()),
            signing_alg: nullable(b.signing_alg),
            access_token_ttl_secs: nullable(b.access_token_ttl_secs),
            allow_offline_access: b.allow_offline_access,
            rbac: b.rbac,
            include_roles: b.include_roles,
        };
        let api = apis::update(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            api_id.0,
            patch,
            self.0.now(),
        )
        .await?;
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(Json(api.into()))
    }

    /// Delete an API
    ///
    /// Its client grants, role permissions and consents go with it; tokens already
    /// issued for it live until they expire.
    #[oai(
        path = "/tenants/:tenant/apis/:api_id",
        method = "delete",
        operation_id = "delete_api"
    )]
    async fn delete_api(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The API's id.
        api_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        apis::delete(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            api_id.0,
            self.0.now(),
        )
        .await?;
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(NoContent::Done)
    }

    /// Get an API's protected resource metadata
    ///
    /// The RFC 9728 document the API should serve at
    /// `/.well-known/oauth-protected-resource` (and name in its `WWW-Authenticate`
    /// challenges, RFC 9728 §5.1), pointing clients at this tenant's issuer.
    #[oai(
        path = "/tenants/:tenant/apis/:api_id/protected-resource-metadata",
        method = "get",
        operation_id = "get_api_protected_resource_metadata"
    )]
    async fn protected_resource_metadata(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The API's id.
        api_id: Path<Uuid>,
    ) -> ApiResult<Json<ProtectedResourceMetadata>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let api = apis::get(self.0.db(), &TenantCtx::from(&tenant), api_id.0).await?;
        let issuer = format!("{}/t/{}", self.0.settings.public_base(), tenant.slug);
        Ok(Json(ProtectedResourceMetadata {
            scopes_supported: apis::scopes(&api).into_iter().map(|s| s.value).collect(),
            resource: api.identifier,
            authorization_servers: vec![issuer],
            bearer_methods_supported: vec!["header".into()],
            resource_name: api.name,
        }))
    }
}
