//! `/tenants/{tenant}/audit-events`: the tenant's audit log.

use poem::Request;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use tenancy::{api_keys::Access, audit, pagination::PageRequest};

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    dto::AuditEventPage,
};
use crate::{error::ApiResult, state::AppState};

/// Audit-log operations.
pub struct AuditApi(pub AppState);

#[OpenApi(tag = "Tag::AuditEvents")]
impl AuditApi {
    /// List audit events
    ///
    /// Oldest first; follow `next_cursor` to read on.
    #[oai(
        path = "/tenants/:tenant/audit-events",
        method = "get",
        operation_id = "list_audit_events"
    )]
    async fn list_audit_events(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<AuditEventPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let page = audit::list(&self.0.db, tenant.id, page).await?;
        Ok(Json(AuditEventPage {
            next_cursor: page.next_cursor,
            items: page.items.into_iter().map(Into::into).collect(),
        }))
    }
}
