//! `/tenants/{tenant}/users`: the user store.

use poem::Request;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use secrecy::SecretString;
use tenancy::{
    accounts::users::{self, NewUser, UserFilter, UserPatch},
    core::Access,
    core::TenantCtx,
    core::pagination::PageRequest,
};
use uuid::Uuid;

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    body::JsonBody,
    dto::{
        CreateUserRequest, NoContent, SetPasswordRequest, UpdateUserRequest, UserCreated, UserPage,
        UserResponse,
    },
};
use crate::{error::ApiResult, state::AppState};

/// User operations.
pub struct UsersApi(pub AppState);

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// List or search users
    #[oai(
        path = "/tenants/:tenant/users",
        method = "get",
        operation_id = "list_users"
    )]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per query parameter"
    )]
    async fn list_users(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Only the user with this email (case-insensitive).
        email: Query<Option<String>>,
        /// Only the user with this username (case-insensitive).
        username: Query<Option<String>>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<UserPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let filter = UserFilter {
            email: email.0,
            username: username.0,
        };
        let page = users::list(self.0.db(), &TenantCtx::from(&tenant), filter, page).await?;
        Ok(Json(UserPage {
            next_cursor: page.next_cursor,
            items: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Create a user
    #[oai(
        path = "/tenants/:tenant/users",
        method = "post",
        operation_id = "create_user"
    )]
    async fn create_user(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        body: JsonBody<CreateUserRequest>,
    ) -> ApiResult<UserCreated> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        let input = NewUser {
            username: b.username,
            email: b.email,
            password: b.password.map(SecretString::from),
            email_verified: b.email_verified,
        };
        let user = users::create(
            self.0.db(),
            &self.0.workers,
            &TenantCtx::from(&tenant),
            &caller.actor,
            input,
            self.0.now(),
        )
        .await?;
        Ok(UserCreated::Created(Json(user.into())))
    }

    /// Get a user
    #[oai(
        path = "/tenants/:tenant/users/:user_id",
        method = "get",
        operation_id = "get_user"
    )]
    async fn get_user(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
    ) -> ApiResult<Json<UserResponse>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let user = users::get(self.0.db(), &TenantCtx::from(&tenant), user_id.0).await?;
        Ok(Json(user.into()))
    }

    /// Update a user
    ///
    /// `enabled: false` disables the user.
    #[oai(
        path = "/tenants/:tenant/users/:user_id",
        method = "patch",
        operation_id = "update_user"
    )]
    async fn update_user(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
        body: JsonBody<UpdateUserRequest>,
    ) -> ApiResult<Json<UserResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        let patch = UserPatch {
            username: b.username,
            email: super::dto::nullable(b.email),
            email_verified: b.email_verified,
            enabled: b.enabled,
        };
        let user = users::update(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            user_id.0,
            patch,
            self.0.now(),
        )
        .await?;
        Ok(Json(user.into()))
    }

    /// Delete a user
    #[oai(
        path = "/tenants/:tenant/users/:user_id",
        method = "delete",
        operation_id = "delete_user"
    )]
    async fn delete_user(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        users::delete(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            user_id.0,
            self.0.now(),
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// Set a user's password
    #[oai(
        path = "/tenants/:tenant/users/:user_id/password",
        method = "put",
        operation_id = "set_user_password"
    )]
    async fn set_user_password(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
        body: JsonBody<SetPasswordRequest>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        users::reset_password(
            self.0.db(),
            &self.0.workers,
            self.0.cache.as_ref(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            user_id.0,
            SecretString::from(body.0.password),
            std::time::Duration::from_secs(u64::from(
                tenancy::core::TenantSettings::from_json(&tenant.settings).session_ttl_secs,
            )),
            self.0.now(),
        )
        .await?;
        Ok(NoContent::Done)
    }
}
