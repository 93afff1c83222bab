//! `/tenants/{tenant}/webhooks`: a tenant's security-alert webhook endpoints, their
//! delivery log, redelivery and test events.
//!
//! A target URL must resolve to public addresses only (the `webhooks` crate's SSRF
//! guard, unless `TESSERA_WEBHOOK_ALLOW_PRIVATE=true`); a refused target is a 422 on
//! the `url` field.

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
    journal::alerts::deliveries,
    journal::webhooks::{self, EndpointPatch, NewEndpoint},
};
use uuid::Uuid;

use super::{
    Tag,
    auth::{ApiKeyAuth, tenant_caller},
    body::JsonBody,
    dto::{
        CreateWebhookRequest, DeliveryQueued, NoContent, UpdateWebhookRequest, WebhookAttemptPage,
        WebhookCreated, WebhookDeliveryPage, WebhookDeliveryResponse, WebhookPage, WebhookResponse,
    },
};
use crate::{error::ApiResult, state::AppState};

/// Webhook operations.
pub struct WebhooksApi(pub AppState);

impl WebhooksApi {
    /// Refuses targets the SSRF guard refuses, as a validation error on `url`.
    async fn vet(&self, url: &str) -> ApiResult<()> {
        ::webhooks::ssrf::vet(url, self.0.settings.webhook_allow_private)
            .await
            .map(|_| ())
            .map_err(|e| tenancy::Error::invalid("url", e.to_string()).into())
    }
}

#[OpenApi(tag = "Tag::Webhooks")]
impl WebhooksApi {
    /// List webhook endpoints
    #[oai(
        path = "/tenants/:tenant/webhooks",
        method = "get",
        operation_id = "list_webhooks"
    )]
    async fn list_webhooks(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<WebhookPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let page = webhooks::list(self.0.db(), &TenantCtx::from(&tenant), page).await?;
        Ok(Json(WebhookPage {
            next_cursor: page.next_cursor,
            items: page
                .items
                .into_iter()
                .map(|e| WebhookResponse::new(e, None))
                .collect(),
        }))
    }

    /// Create a webhook endpoint
    ///
    /// Security alerts of the chosen types are POSTed to `url`, signed in the Standard
    /// Webhooks format (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with
    /// the `whsec_...` secret returned only in this response. Failed deliveries are
    /// retried with exponential backoff for 24 hours.
    #[oai(
        path = "/tenants/:tenant/webhooks",
        method = "post",
        operation_id = "create_webhook"
    )]
    async fn create_webhook(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        body: JsonBody<CreateWebhookRequest>,
    ) -> ApiResult<WebhookCreated> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        self.vet(&b.url).await?;
        let input = NewEndpoint {
            url: b.url,
            description: b.description.unwrap_or_default(),
            event_types: b.event_types.unwrap_or_default(),
            enabled: b.enabled.unwrap_or(true),
        };
        let (endpoint, secret) = webhooks::create(
            self.0.db(),
            &self.0.keyring,
            &TenantCtx::from(&tenant),
            &caller.actor,
            input,
            self.0.now(),
        )
        .await?;
        Ok(WebhookCreated::Created(Json(WebhookResponse::new(
            endpoint,
            Some(secret),
        ))))
    }

    /// Get a webhook endpoint
    #[oai(
        path = "/tenants/:tenant/webhooks/:webhook_id",
        method = "get",
        operation_id = "get_webhook"
    )]
    async fn get_webhook(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The endpoint's id.
        webhook_id: Path<Uuid>,
    ) -> ApiResult<Json<WebhookResponse>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let endpoint = webhooks::get(self.0.db(), &TenantCtx::from(&tenant), webhook_id.0).await?;
        Ok(Json(WebhookResponse::new(endpoint, None)))
    }

    /// Update a webhook endpoint
    #[oai(
        path = "/tenants/:tenant/webhooks/:webhook_id",
        method = "patch",
        operation_id = "update_webhook"
    )]
    async fn update_webhook(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The endpoint's id.
        webhook_id: Path<Uuid>,
        body: JsonBody<UpdateWebhookRequest>,
    ) -> ApiResult<Json<WebhookResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let b = body.0;
        if let Some(url) = &b.url {
            self.vet(url).await?;
        }
        let patch = EndpointPatch {
            url: b.url,
            description: b.description,
            event_types: b.event_types,
            enabled: b.enabled,
        };
        let endpoint = webhooks::update(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            webhook_id.0,
            patch,
            self.0.now(),
        )
        .await?;
        Ok(Json(WebhookResponse::new(endpoint, None)))
    }

    /// Delete a webhook endpoint
    ///
    /// Deletes the endpoint with its pending deliveries and delivery log.
    #[oai(
        path = "/tenants/:tenant/webhooks/:webhook_id",
        method = "delete",
        operation_id = "delete_webhook"
    )]
    async fn delete_webhook(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The endpoint's id.
        webhook_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        webhooks::delete(
            self.0.db(),
            &TenantCtx::from(&tenant),
            &caller.actor,
            webhook_id.0,
            self.0.now(),
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// Rotate a webhook endpoint's secret
    ///
    /// Returns the new `whsec_...` secret, shown this once; the old one stops signing
    /// at once.
    #[oai(
        path = "/tenants/:tenant/webhooks/:webhook_id/rotate-secret",
        method = "post",
        operation_id = "rotate_webhook_secret"
    )]
    async fn rotate_webhook_secret(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The endpoint's id.
        webhook_id: Path<Uuid>,
    ) -> ApiResult<Json<WebhookResponse>> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let (endpoint, secret) = webhooks::rotate_secret(
            self.0.db(),
            &self.0.keyring,
            &TenantCtx::from(&tenant),
            &caller.actor,
            webhook_id.0,
            self.0.now(),
        )
        .await?;
        Ok(Json(WebhookResponse::new(endpoint, Some(secret))))
    }

    /// Send a test event
    ///
    /// Queues a `webhook.test` event for this endpoint only (whatever its filter).
    #[oai(
        path = "/tenants/:tenant/webhooks/:webhook_id/test",
        method = "post",
        operation_id = "send_test_webhook"
    )]
    async fn send_test_webhook(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The endpoint's id.
        webhook_id: Path<Uuid>,
    ) -> ApiResult<DeliveryQueued> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let target = webhook_id.0.to_string();
        crate::limits::manage(
            &self.0,
            req,
            &tenant,
            tenancy::cache::rate_limit::Endpoint::WebhookTest,
            &target,
        )
        .await?;
        let ctx = TenantCtx::from(&tenant);
        let delivery =
            deliveries::send_test(self.0.db(), &ctx, &caller.actor, webhook_id.0, self.0.now())
                .await?;
        let event = deliveries::event_of(self.0.db(), &delivery).await?;
        Ok(DeliveryQueued::Accepted(Json(
            WebhookDeliveryResponse::new(delivery, event),
        )))
    }

    /// List an endpoint's deliveries
    ///
    /// Each event sent (or being sent) to this endpoint, with its status and retry
    /// schedule, oldest first.
    #[oai(
        path = "/tenants/:tenant/webhooks/:webhook_id/deliveries",
        method = "get",
        operation_id = "list_webhook_deliveries"
    )]
    async fn list_webhook_deliveries(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The endpoint's id.
        webhook_id: Path<Uuid>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<WebhookDeliveryPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let ctx = TenantCtx::from(&tenant);
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        webhooks::get(self.0.db(), &ctx, webhook_id.0).await?;
        let page = deliveries::list_deliveries(self.0.db(), &ctx, webhook_id.0, page).await?;
        Ok(Json(WebhookDeliveryPage {
            next_cursor: page.next_cursor,
            items: page
                .items
                .into_iter()
                .map(|(d, e)| WebhookDeliveryResponse::new(d, e))
                .collect(),
        }))
    }

    /// List a delivery's attempts
    ///
    /// The delivery log: one entry per attempt with the receiver's status, the latency
    /// and the error, oldest first.
    #[oai(
        path = "/tenants/:tenant/webhooks/:webhook_id/deliveries/:delivery_id/attempts",
        method = "get",
        operation_id = "list_webhook_attempts"
    )]
    #[expect(clippy::too_many_arguments, reason = "path and paging parameters")]
    async fn list_webhook_attempts(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The endpoint's id.
        webhook_id: Path<Uuid>,
        /// The delivery's id.
        delivery_id: Path<Uuid>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1–200, default 50).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<WebhookAttemptPage>> {
        let (_, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Read).await?;
        let ctx = TenantCtx::from(&tenant);
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let delivery = deliveries::get_delivery(self.0.db(), &ctx, delivery_id.0).await?;
        if delivery.endpoint_id != Some(webhook_id.0) {
            return Err(tenancy::Error::NotFound("delivery").into());
        }
        let page = deliveries::list_attempts(self.0.db(), &ctx, delivery_id.0, page).await?;
        Ok(Json(WebhookAttemptPage {
            next_cursor: page.next_cursor,
            items: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Redeliver
    ///
    /// Queues the delivery again, due at once, with a fresh 24-hour retry window. The
    /// receiver gets the same `webhook-id` as before, so it can drop a duplicate.
    #[oai(
        path = "/tenants/:tenant/webhooks/:webhook_id/deliveries/:delivery_id/redeliver",
        method = "post",
        operation_id = "redeliver_webhook"
    )]
    async fn redeliver_webhook(
        &self,
        auth: ApiKeyAuth,
        req: &Request,
        /// The tenant's slug.
        tenant: Path<String>,
        /// The endpoint's id.
        webhook_id: Path<Uuid>,
        /// The delivery's id.
        delivery_id: Path<Uuid>,
    ) -> ApiResult<DeliveryQueued> {
        let (caller, tenant) = tenant_caller(&self.0, &auth, req, &tenant.0, Access::Write).await?;
        let target = webhook_id.0.to_string();
        crate::limits::manage(
            &self.0,
            req,
            &tenant,
            tenancy::cache::rate_limit::Endpoint::WebhookTest,
            &target,
        )
        .await?;
        let ctx = TenantCtx::from(&tenant);
        let delivery = deliveries::redeliver(
            self.0.db(),
            &ctx,
            &caller.actor,
            webhook_id.0,
            delivery_id.0,
            self.0.now(),
        )
        .await?;
        let event = deliveries::event_of(self.0.db(), &delivery).await?;
        Ok(DeliveryQueued::Accepted(Json(
            WebhookDeliveryResponse::new(delivery, event),
        )))
    }
}
