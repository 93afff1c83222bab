//! `/tenants/{tenant}/clients`: OAuth client registry.

use poem::Request;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use tenancy::{
    clients::{self, ClientPatch, NewClient},
    core::Access,
    core::TenantCtx,
    core::pagination::PageRequest,
};

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    body::JsonBody,
    dto::{
        ClientCreated, ClientPage, ClientResponse, CreateClientRequest, NoContent,
        UpdateClientRequest,
    },
};
use crate::{error::ApiResult, state::AppState};

/// Client operations.
pub struct ClientsApi(pub AppState);

#[OpenApi(tag = "Tag::Clients")]
impl ClientsApi {
    /// List clients
    #[oai(
        path = "/tenants/:tenant/clients",
        method = "get",
        operation_id = "list_clients"
    )]
    async fn list_clients(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<ClientPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let page = clients::list(self.0.db(), &TenantCtx::from(&tenant), page).await?;
        Ok(Json(ClientPage {
            next_cursor: page.next_cursor,
            items: page
                .items
                .into_iter()
                .map(|c| ClientResponse::new(c, None))
                .collect(),
        }))
    }

    /// Register a client
    ///
    /// Confidential clients get a generated 256-bit `client_secret`, returned only in
    /// this response.
    #[oai(
        path = "/tenants/:tenant/clients",
        method = "post",
        operation_id = "create_client"
    )]
    async fn create_client(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        body: JsonBody<CreateClientRequest>,
    ) -> ApiResult<ClientCreated> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        let input = NewClient {
            name: b.name,
            client_type: b.client_type.as_str().to_owned(),
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            grant_types: b.grant_types,
            allowed_scopes: b.allowed_scopes,
            first_party: b.first_party,
            require_pkce: b.require_pkce,
            token_endpoint_auth_method: b.token_endpoint_auth_method.map(|m| m.as_str().to_owned()),
            id_token_signed_response_alg: b.id_token_signed_response_alg,
        };
        let created = clients::create(
            self.0.db(),
            &self.0.workers,
            &TenantCtx::from(&tenant),
            &caller.actor,
            input,
            self.0.now(),
        )
        .await?;
        Ok(ClientCreated::Created(Json(ClientResponse::new(
            created.client,
            created.secret,
        ))))
    }

    /// Get a client
    #[oai(
        path = "/tenants/:tenant/clients/:client_id",
        method = "get",
        operation_id = "get_client"
    )]
    async fn get_client(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The client's `client_id`.
        client_id: Path<String>,
    ) -> ApiResult<Json<ClientResponse>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let client = clients::get(self.0.db(), &TenantCtx::from(&tenant), &client_id.0).await?;
        Ok(Json(ClientResponse::new(client, None)))
    }

    /// Update a client
    #[oai(
        path = "/tenants/:tenant/clients/:client_id",
        method = "patch",
        operation_id = "update_client"
    )]
    async fn update_client(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The client's `client_id`.
        client_id: Path<String>,
        body: JsonBody<UpdateClientRequest>,
    ) -> ApiResult<Json<ClientResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        let patch = ClientPatch {
            name: b.name,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            grant_types: b.grant_types,
            allowed_scopes: b.allowed_scopes,
            first_party: b.first_party,
            require_pkce: b.require_pkce,
            token_endpoint_auth_method: b.token_endpoint_auth_method.map(|m| m.as_str().to_owned()),
            id_token_signed_response_alg: super::dto::nullable(b.id_token_signed_response_alg),
        };
        let client = clients::update(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            &client_id.0,
            patch,
            self.0.now(),
        )
        .await?;
        // Nodes keep clients with their resolved tenant: drop them everywhere.
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(Json(ClientResponse::new(client, None)))
    }

    /// Delete a client
    #[oai(
        path = "/tenants/:tenant/clients/:client_id",
        method = "delete",
        operation_id = "delete_client"
    )]
    async fn delete_client(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The client's `client_id`.
        client_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        clients::delete(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            &client_id.0,
            self.0.now(),
        )
        .await?;
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(NoContent::Done)
    }

    /// Rotate a client's secret
    ///
    /// Returns the new `client_secret` once. With `grace_period_secs` the previous
    /// secret keeps working that long (at most 30 days); without it, it stops at once.
    #[oai(
        path = "/tenants/:tenant/clients/:client_id/rotate-secret",
        method = "post",
        operation_id = "rotate_client_secret"
    )]
    async fn rotate_client_secret(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The client's `client_id`.
        client_id: Path<String>,
        /// Seconds the previous secret stays valid (default 0).
        grace_period_secs: Query<Option<u32>>,
    ) -> ApiResult<Json<ClientResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let rotated = clients::rotate_secret(
            self.0.db(),
            &self.0.workers,
            &TenantCtx::from(&tenant),
            &caller.actor,
            &client_id.0,
            grace_period_secs.0.unwrap_or(0),
            self.0.now(),
        )
        .await?;
        crate::jobs::tenant_changed(&self.0, tenant.id).await;
        Ok(Json(ClientResponse::new(rotated.client, rotated.secret)))
    }
}
