//! `/tenants/{tenant}/audit-events`: the tenant's audit log, filtered, paginated and
//! exported as NDJSON.

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
    types::ToJSON,
};
use tenancy::{
    core::Access,
    core::pagination::PageRequest,
    journal::audit::{self, Filter},
};

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    dto::{AuditEventPage, AuditEventResponse, AuditExport},
};
use crate::{error::ApiResult, state::AppState};

/// Audit-log operations.
pub struct AuditApi(pub AppState);

/// Rows read per database query while exporting.
const EXPORT_BATCH: u64 = 200;

#[OpenApi(tag = "Tag::AuditEvents")]
impl AuditApi {
    /// List audit events
    ///
    /// Oldest first; follow `next_cursor` to read on. Every filter narrows the result.
    #[oai(
        path = "/tenants/:tenant/audit-events",
        method = "get",
        operation_id = "list_audit_events"
    )]
    #[expect(clippy::too_many_arguments, reason = "one argument per query filter")]
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
        /// Exact action (`user.login`), or a prefix ending in `*` (`user.*`).
        action: Query<Option<String>>,
        /// Exact actor (`api_key:<id>`, `user:<id>`, `client:<id>`, `anonymous`...).
        actor: Query<Option<String>>,
        /// Exact target (`user:<id>`, `client:<client_id>`...).
        target: Query<Option<String>>,
        /// `success` or `failure`.
        outcome: Query<Option<String>>,
        /// Only events at or after this time (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Only events before this time (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Json<AuditEventPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let filter = Filter {
            action: action.0,
            actor: actor.0,
            target: target.0,
            outcome: outcome.0,
            since: since.0,
            until: until.0,
        };
        let page = audit::list_filtered(self.0.db(), tenant.id, &filter, page).await?;
        Ok(Json(AuditEventPage {
            next_cursor: page.next_cursor,
            items: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Export audit events
    ///
    /// Every event matching the filters as newline-delimited JSON
    /// (`application/x-ndjson`), oldest first, streamed: one object per line, shaped
    /// like the items of `list_audit_events`.
    #[oai(
        path = "/tenants/:tenant/audit-events/export",
        method = "get",
        operation_id = "export_audit_events"
    )]
    #[expect(clippy::too_many_arguments, reason = "one argument per query filter")]
    async fn export_audit_events(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Exact action (`user.login`), or a prefix ending in `*` (`user.*`).
        action: Query<Option<String>>,
        /// Exact actor.
        actor: Query<Option<String>>,
        /// Exact target.
        target: Query<Option<String>>,
        /// `success` or `failure`.
        outcome: Query<Option<String>>,
        /// Only events at or after this time (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Only events before this time (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<AuditExport> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let filter = Filter {
            action: action.0,
            actor: actor.0,
            target: target.0,
            outcome: outcome.0,
            since: since.0,
            until: until.0,
        };
        filter.validate()?;
        let db = self.0.db().clone();
        let tenant_id = tenant.id;
        // Pages through the log with the cursor while the client reads, so memory stays
        // flat however long the log is. `None` as state means the export is finished.
        let start = Some(None::<uuid::Uuid>);
        let stream = futures_util::stream::unfold(start, move |state| {
            let db = db.clone();
            let filter = filter.clone();
            async move {
                let after = state?;
                let page = PageRequest {
                    after,
                    limit: EXPORT_BATCH,
                };
                match audit::list_filtered(&db, tenant_id, &filter, page).await {
                    Ok(page) => {
                        let next = page.next_cursor.as_deref().and_then(|c| c.parse().ok());
                        let mut chunk = Vec::new();
                        for event in page.items {
                            let line = AuditEventResponse::from(event)
                                .to_json()
                                .unwrap_or_default();
                            chunk.extend_from_slice(line.to_string().as_bytes());
                            chunk.push(b'\n');
                        }
                        let state = next.map(Some);
                        Some((Ok::<_, std::io::Error>(chunk), state))
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "audit export failed mid-stream");
                        Some((Err(std::io::Error::other("audit export failed")), None))
                    }
                }
            }
        });
        Ok(AuditExport::Ndjson(Binary(poem::Body::from_bytes_stream(
            stream,
        ))))
    }
}
