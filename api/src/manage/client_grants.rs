//! `/tenants/{tenant}/client-grants`: which API scopes a client may get for itself
//! with client credentials.

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
    resources::client_grants::{self, NewClientGrant},
};
use uuid::Uuid;

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    body::JsonBody,
    dto::{
        ClientGrantCreated, ClientGrantPage, ClientGrantResponse, CreateClientGrantRequest,
        NoContent, UpdateClientGrantRequest,
    },
};
use crate::{error::ApiResult, state::AppState};

/// Client grant operations.
pub struct ClientGrantsApi(pub AppState);

#[OpenApi(tag = "Tag::ClientGrants")]
impl ClientGrantsApi {
    /// List client grants
    #[oai(
        path = "/tenants/:tenant/client-grants",
        method = "get",
        operation_id = "list_client_grants"
    )]
    async fn list_client_grants(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Only the grants of this client.
        client_id: Query<Option<String>>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<ClientGrantPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let client_id = client_id
            .0
            .filter(|c| !tenancy::core::validate::has_control_chars(c));
        let page = client_grants::list(
            self.0.db(),
            &TenantCtx::from(&tenant),
            client_id.as_deref(),
            page,
        )
        .await?;
        Ok(Json(ClientGrantPage {
            next_cursor: page.next_cursor,
            items: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Grant a client an API
    ///
    /// With it, the client gets tokens for the API with `grant_type=client_credentials`
    /// and `resource=<identifier>`, carrying at most these scopes.
    #[oai(
        path = "/tenants/:tenant/client-grants",
        method = "post",
        operation_id = "create_client_grant"
    )]
    async fn create_client_grant(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        body: JsonBody<CreateClientGrantRequest>,
    ) -> ApiResult<ClientGrantCreated> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        let grant = client_grants::create(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            NewClientGrant {
                client_id: b.client_id,
                api_id: b.api_id,
                scopes: b.scopes,
            },
            self.0.now(),
        )
        .await?;
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(ClientGrantCreated::Created(Json(grant.into())))
    }

    /// Get a client grant
    #[oai(
        path = "/tenants/:tenant/client-grants/:grant_id",
        method = "get",
        operation_id = "get_client_grant"
    )]
    async fn get_client_grant(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The grant's id.
        grant_id: Path<Uuid>,
    ) -> ApiResult<Json<ClientGrantResponse>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let grant = client_grants::get(self.0.db(), &TenantCtx::from(&tenant), grant_id.0).await?;
        Ok(Json(grant.into()))
    }

    /// Change a client grant's scopes
    #[oai(
        path = "/tenants/:tenant/client-grants/:grant_id",
        method = "patch",
        operation_id = "update_client_grant"
    )]
    async fn update_client_grant(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The grant's id.
        grant_id: Path<Uuid>,
        body: JsonBody<UpdateClientGrantRequest>,
    ) -> ApiResult<Json<ClientGrantResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let grant = client_grants::update(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            grant_id.0,
            body.0.scopes,
            self.0.now(),
        )
        .await?;
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(Json(grant.into()))
    }

    /// Delete a client grant
    ///
    /// The client gets no new token for that API; tokens already issued live until
    /// they expire.
    #[oai(
        path = "/tenants/:tenant/client-grants/:grant_id",
        method = "delete",
        operation_id = "delete_client_grant"
    )]
    async fn delete_client_grant(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The grant's id.
        grant_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        client_grants::delete(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            grant_id.0,
            self.0.now(),
        )
        .await?;
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(NoContent::Done)
    }
}
