//! `/tenants/{tenant}/users/{user_id}/send-*`: account emails sent on an operator's
//! behalf (a password-reset link, an email-verification link). The email goes to the
//! user's own address, never to the caller, and the link is never returned.

use poem::Request;
use poem_openapi::{OpenApi, param::Path};
use tenancy::{
    Error, accounts::email_verification, accounts::password_reset, accounts::users, core::Access,
    core::TenantCtx,
};
use uuid::Uuid;

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    dto::Accepted,
};
use crate::{error::ApiResult, state::AppState};

/// Account-email operations.
pub struct UserEmailsApi(pub AppState);

#[OpenApi(tag = "Tag::Users")]
impl UserEmailsApi {
    /// Email a user a password-reset link
    ///
    /// The link works once, for 30 minutes; using it ends all of the user's sessions
    /// and refresh tokens. 422 when the user has no email address or is disabled.
    #[oai(
        path = "/tenants/:tenant/users/:user_id/send-password-reset",
        method = "post",
        operation_id = "send_password_reset_email"
    )]
    async fn send_password_reset_email(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
    ) -> ApiResult<Accepted> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let ctx = TenantCtx::from(&tenant);
        let user = users::get(self.0.db(), &ctx, user_id.0).await?;
        let mail = password_reset::start(self.0.db(), &ctx, &caller.actor, &user, self.0.now())
            .await?
            .ok_or_else(|| {
                Error::invalid("user_id", "the user has no email address or is disabled")
            })?;
        crate::emails::send_password_reset(&self.0, &tenant.slug, &tenant.display_name, mail);
        Ok(Accepted::Accepted)
    }

    /// Email a user an email-verification link
    ///
    /// The link works once, for 24 hours, and marks the address verified if it is
    /// still the user's address then. 422 when the user has no address; 409 when it
    /// is already verified.
    #[oai(
        path = "/tenants/:tenant/users/:user_id/send-verification-email",
        method = "post",
        operation_id = "send_verification_email"
    )]
    async fn send_verification_email(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The user's id.
        user_id: Path<Uuid>,
    ) -> ApiResult<Accepted> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let ctx = TenantCtx::from(&tenant);
        let user = users::get(self.0.db(), &ctx, user_id.0).await?;
        let mail = email_verification::start(self.0.db(), &ctx, &caller.actor, &user, self.0.now())
            .await?;
        crate::emails::send_verification(&self.0, &tenant.slug, &tenant.display_name, mail);
        Ok(Accepted::Accepted)
    }
}
