//! `/tenants/{tenant}/roles` and `/users/{id}/roles`: roles (named sets of API
//! permissions) and who holds them.

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
    resources::roles::{self, NewRole, Permission, RolePatch},
};
use uuid::Uuid;

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    body::JsonBody,
    dto::{
        CreateRoleRequest, NoContent, PermissionDto, RoleCreated, RolePage, RoleResponse,
        SetUserRolesRequest, UpdateRoleRequest, UserRolesResponse,
    },
};
use crate::{error::ApiResult, state::AppState};

/// Role operations.
pub struct RolesApi(pub AppState);

fn permissions(dtos: Vec<PermissionDto>) -> Vec<Permission> {
    dtos.into_iter()
        .map(|p| Permission {
            api_id: p.api_id,
            scope: p.scope,
        })
        .collect()
}

#[OpenApi(tag = "Tag::Roles")]
impl RolesApi {
    /// List roles
    #[oai(
        path = "/tenants/:tenant/roles",
        method = "get",
        operation_id = "list_roles"
    )]
    async fn list_roles(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<RolePage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let page = roles::list(self.0.db(), &TenantCtx::from(&tenant), page).await?;
        Ok(Json(RolePage {
            next_cursor: page.next_cursor,
            items: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Define a role
    #[oai(
        path = "/tenants/:tenant/roles",
        method = "post",
        operation_id = "create_role"
    )]
    async fn create_role(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        body: JsonBody<CreateRoleRequest>,
    ) -> ApiResult<RoleCreated> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        let role = roles::create(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            NewRole {
                name: b.name,
                description: b.description,
                permissions: permissions(b.permissions),
            },
            self.0.now(),
        )
        .await?;
        Ok(RoleCreated::Created(Json(role.into())))
    }

    /// Get a role
    #[oai(
        path = "/tenants/:tenant/roles/:role_id",
        method = "get",
        operation_id = "get_role"
    )]
    async fn get_role(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The role's id.
        role_id: Path<Uuid>,
    ) -> ApiResult<Json<RoleResponse>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let role = roles::get(self.0.db(), &TenantCtx::from(&tenant), role_id.0).await?;
        Ok(Json(role.into()))
    }

    /// Update a role
    ///
    /// Takes effect at the next token: a user's scopes are decided when each token is
    /// issued (also on refresh).
    #[oai(
        path = "/tenants/:tenant/roles/:role_id",
        method = "patch",
        operation_id = "update_role"
    )]
    async fn update_role(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The role's id.
        role_id: Path<Uuid>,
        body: JsonBody<UpdateRoleRequest>,
    ) -> ApiResult<Json<RoleResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        let role = roles::update(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            role_id.0,
            RolePatch {
                name: b.name,
                description: b.description,
                permissions: b.permissions.map(permissions),
            },
            self.0.now(),
        )
        .await?;
        Ok(Json(role.into()))
    }

    /// Delete a role
    ///
    /// Every user who held it loses it.
    #[oai(
        path = "/tenants/:tenant/roles/:role_id",
        method = "delete",
        operation_id = "delete_role"
    )]
    async fn delete_role(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The role's id.
        role_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        roles::delete(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            role_id.0,
            self.0.now(),
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// List a user's roles
    #[oai(
        path = "/tenants/:tenant/users/:user_id/roles",
        method = "get",
        operation_id = "list_user_roles"
    )]
    async fn list_user_roles(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
    ) -> ApiResult<Json<UserRolesResponse>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let ctx = TenantCtx::from(&tenant);
        tenancy::accounts::users::get(self.0.db(), &ctx, user_id.0).await?;
        let held = roles::of_user(self.0.db(), &ctx, user_id.0).await?;
        Ok(Json(UserRolesResponse {
            items: held.into_iter().map(Into::into).collect(),
        }))
    }

    /// Set a user's roles
    ///
    /// Replaces the roles the user holds.
    #[oai(
        path = "/tenants/:tenant/users/:user_id/roles",
        method = "put",
        operation_id = "set_user_roles"
    )]
    async fn set_user_roles(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
        body: JsonBody<SetUserRolesRequest>,
    ) -> ApiResult<Json<UserRolesResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let held = roles::assign(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            user_id.0,
            body.0.role_ids,
            self.0.now(),
        )
        .await?;
        Ok(Json(UserRolesResponse {
            items: held.into_iter().map(Into::into).collect(),
        }))
    }
}
