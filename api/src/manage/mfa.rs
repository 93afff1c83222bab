//! `/tenants/{tenant}/users/{user_id}/factors`: a user's second factors, for support
//! staff: list them, or reset them all (the user enrols again at next login under a
//! `required` policy). A reset raises a security alert.

use poem::Request;
use poem_openapi::{OpenApi, param::Path, payload::Json};
use tenancy::{core::Access, core::TenantCtx};
use uuid::Uuid;

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    dto::{NoContent, UserFactorsResponse},
};
use crate::{error::ApiResult, state::AppState};

/// Second-factor operations.
pub struct MfaApi(pub AppState);

#[OpenApi(tag = "Tag::Users")]
impl MfaApi {
    /// List a user's second factors
    #[oai(
        path = "/tenants/:tenant/users/:user_id/factors",
        method = "get",
        operation_id = "list_user_factors"
    )]
    async fn list_user_factors(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
    ) -> ApiResult<Json<UserFactorsResponse>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let tenant = TenantCtx::from(&tenant);
        tenancy::accounts::users::get(self.0.db(), &tenant, user_id.0).await?;
        let factors = tenancy::accounts::mfa::factors(self.0.db(), &tenant, user_id.0).await?;
        Ok(Json(factors.into()))
    }

    /// Reset a user's MFA
    ///
    /// Removes the user's authenticator app, passkeys and recovery codes.
    #[oai(
        path = "/tenants/:tenant/users/:user_id/factors",
        method = "delete",
        operation_id = "reset_user_mfa"
    )]
    async fn reset_user_mfa(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let ctx = TenantCtx::from(&tenant);
        tenancy::accounts::mfa::reset(self.0.db(), &ctx, &caller.actor, user_id.0, self.0.now())
            .await?;
        Ok(NoContent::Done)
    }
}
