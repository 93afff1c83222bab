//! Alert deliveries as the management API shows them: an endpoint's delivery log, a
//! delivery's attempts, redelivery and test events.

use chrono::{DateTime, Utc};
use entity::{alert_attempts, alert_deliveries, security_events};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::journal::alerts::{
    kinds,
    outbox::{RETRY_WINDOW, lease_free},
    queue, status,
};
pub use crate::journal::events::SecurityEvent;
use crate::{
    Error, Result,
    core::TenantCtx,
    core::pagination::{Page, PageRequest},
    journal::audit::{self, Actor, Event},
};

/// A page of one endpoint's deliveries, oldest first.
pub async fn list_deliveries(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    endpoint_id: Uuid,
    page: PageRequest,
) -> Result<Page<(alert_deliveries::Model, Option<security_events::Model>)>> {
    let query = alert_deliveries::Entity::find()
        .filter(alert_deliveries::Column::TenantId.eq(tenant.id))
        .filter(alert_deliveries::Column::EndpointId.eq(endpoint_id));
    let page = page
        .fetch(db, query, alert_deliveries::Column::Id, |d| d.id)
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for delivery in page.items {
        let event = security_events::Entity::find_by_id(delivery.event_id)
            .one(db)
            .await?;
        items.push((delivery, event));
    }
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

/// One delivery of the tenant.
pub async fn get_delivery(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    id: Uuid,
) -> Result<alert_deliveries::Model> {
    alert_deliveries::Entity::find_by_id(id)
        .filter(alert_deliveries::Column::TenantId.eq(tenant.id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("delivery"))
}

/// The event a delivery carries.
pub async fn event_of(
    db: &impl ConnectionTrait,
    delivery: &alert_deliveries::Model,
) -> Result<Option<security_events::Model>> {
    Ok(security_events::Entity::find_by_id(delivery.event_id)
        .one(db)
        .await?)
}

/// A page of one delivery's attempts (the delivery log), oldest first.
pub async fn list_attempts(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    delivery_id: Uuid,
    page: PageRequest,
) -> Result<Page<alert_attempts::Model>> {
    get_delivery(db, tenant, delivery_id).await?;
    let query = alert_attempts::Entity::find()
        .filter(alert_attempts::Column::TenantId.eq(tenant.id))
        .filter(alert_attempts::Column::DeliveryId.eq(delivery_id));
    page.fetch(db, query, alert_attempts::Column::Id, |a| a.id)
        .await
}

/// Queues a delivery again (same event, same message id) with a fresh retry window,
/// due at once. A delivery being attempted right now cannot be redelivered (409).
pub async fn redeliver<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    endpoint_id: Uuid,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> Result<alert_deliveries::Model> {
    let txn = db.begin().await?;
    let delivery = get_delivery(&txn, tenant, delivery_id).await?;
    if delivery.endpoint_id != Some(endpoint_id) {
        return Err(Error::NotFound("delivery"));
    }
    let updated = alert_deliveries::Entity::update_many()
        .col_expr(
            alert_deliveries::Column::Status,
            Expr::value(status::PENDING),
        )
        .col_expr(alert_deliveries::Column::NextAttemptAt, Expr::value(now))
        .col_expr(
            alert_deliveries::Column::RetryUntil,
            Expr::value(now + RETRY_WINDOW),
        )
        .col_expr(
            alert_deliveries::Column::CompletedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(alert_deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(alert_deliveries::Column::Id.eq(delivery.id))
        .filter(alert_deliveries::Column::Attempts.eq(delivery.attempts))
        .filter(lease_free(now))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(Error::Conflict(
            "the delivery is being attempted right now; try again shortly".into(),
        ));
    }
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "webhook.redelivered",
            format!("webhook:{endpoint_id}"),
        )
        .with_details(json!({ "delivery_id": delivery.id, "event_id": delivery.event_id })),
        now,
    )
    .await?;
    let delivery = get_delivery(&txn, tenant, delivery_id).await?;
    txn.commit().await?;
    Ok(delivery)
}

/// Sends a `webhook.test` event to one endpoint (whatever its filter says).
pub async fn send_test<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    endpoint_id: Uuid,
    now: DateTime<Utc>,
) -> Result<alert_deliveries::Model> {
    let txn = db.begin().await?;
    let endpoint = crate::journal::webhooks::get(&txn, tenant, endpoint_id).await?;
    let event = SecurityEvent::new(
        Some(tenant.id),
        kinds::WEBHOOK_TEST,
        json!({ "endpoint_id": endpoint.id, "message": "This is a test event from Tessera." }),
        now,
    );
    let (_, deliveries) = queue(&txn, event, Some(&endpoint)).await?;
    let delivery = deliveries
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("test event queued no delivery".into()))?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "webhook.test_sent",
            format!("webhook:{endpoint_id}"),
        )
        .with_details(json!({ "delivery_id": delivery.id })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(delivery)
}
