//! The outbox side of alerts, for the delivery workers (the `webhooks` crate, on
//! every node).
//!
//! Workers take due rows with [`claim_due`], which leases each row to exactly one
//! worker for one attempt — `FOR UPDATE SKIP LOCKED` on Postgres, a conditional
//! `UPDATE` on SQLite — and record the outcome with [`finish`], which logs the attempt
//! and schedules the next one with exponential backoff and jitter ([`backoff`]) until
//! [`RETRY_WINDOW`] has passed, then marks the delivery failed. A worker that dies
//! mid-attempt loses its lease after [`LEASE`], and another worker retries: delivery
//! is at least once.

use chrono::{DateTime, Duration, Utc};
use entity::{alert_attempts, alert_deliveries, security_events, tenants, webhook_endpoints};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionSession,
    TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::journal::alerts::status;
pub use crate::journal::events::SecurityEvent;
use crate::{Result, core::ids};

/// How long failed deliveries are retried before they are marked failed.
pub const RETRY_WINDOW: Duration = Duration::hours(24);
/// How long a worker holds a claimed delivery; longer than any attempt can take
/// (webhook requests time out after seconds), so a live worker never loses it.
pub const LEASE: Duration = Duration::minutes(2);
/// First retry delay; each later one doubles, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::seconds(10);
/// Longest pause between two attempts.
pub const MAX_BACKOFF: Duration = Duration::hours(2);

/// A delivery leased to one worker for one attempt, with what it needs to send it.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The delivery (its `attempts` already counts this attempt).
    pub delivery: alert_deliveries::Model,
    /// The event to deliver.
    pub event: security_events::Model,
    /// The tenant.
    pub tenant: tenants::Model,
    /// The endpoint, for webhook deliveries (none if it was deleted meanwhile).
    pub endpoint: Option<webhook_endpoints::Model>,
}

/// Leases up to `limit` due deliveries to `owner` for one attempt each, fairly across
/// tenants: at most `per_tenant` attempts of one tenant are in flight at a time (on
/// all workers together, counted by live leases), and the batch is shared out round
/// robin between the tenants with due deliveries, oldest due first. So one tenant's
/// backlog of slow or failing deliveries never delays another tenant's alerts by more
/// than one pass.
///
/// Safe on every node at once: on Postgres the due rows are locked with
/// `FOR UPDATE SKIP LOCKED` and leased in one statement, so concurrent workers take
/// disjoint rows without waiting on each other; on SQLite each row is leased by a
/// conditional `UPDATE` that only one writer can win. Either way one attempt is made
/// by exactly one worker.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    owner: &str,
    limit: u64,
    per_tenant: u64,
    now: DateTime<Utc>,
) -> Result<Vec<Claimed>> {
    let mut rows = Vec::new();
    for (tenant_id, quota) in tenant_quotas(db, limit, per_tenant, now).await? {
        rows.extend(claim_for_tenant(db, owner, tenant_id, quota, now).await?);
    }
    let mut claimed = Vec::with_capacity(rows.len());
    for delivery in rows {
        let event = security_events::Entity::find_by_id(delivery.event_id)
            .one(db)
            .await?;
        let tenant = tenants::Entity::find_by_id(delivery.tenant_id)
            .one(db)
            .await?;
        let endpoint = match delivery.endpoint_id {
            Some(id) => {
                webhook_endpoints::Entity::find_by_id(id)
                    .filter(webhook_endpoints::Column::TenantId.eq(delivery.tenant_id))
                    .one(db)
                    .await?
            }
            None => None,
        };
        match (event, tenant) {
            (Some(event), Some(tenant)) => claimed.push(Claimed {
                delivery,
                event,
                tenant,
                endpoint,
            }),
            // The tenant (and with it the event) is gone: nothing left to deliver.
            _ => {
                alert_deliveries::Entity::delete_by_id(delivery.id)
                    .exec(db)
                    .await?;
            }
        }
    }
    Ok(claimed)
}

/// How many deliveries to claim for each tenant with due deliveries: up to `limit` in
/// all, handed out one at a time round robin (tenants whose oldest due delivery is
/// oldest first), none beyond `per_tenant` minus the tenant's attempts in flight.
async fn tenant_quotas(
    db: &impl ConnectionTrait,
    limit: u64,
    per_tenant: u64,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, u64)>> {
    use sea_orm::sea_query::{Func, SimpleExpr};
    let oldest = SimpleExpr::from(Func::min(Expr::col(
        alert_deliveries::Column::NextAttemptAt,
    )));
    let due: Vec<Uuid> = alert_deliveries::Entity::find()
        .select_only()
        .column(alert_deliveries::Column::TenantId)
        .filter(alert_deliveries::Column::Status.eq(status::PENDING))
        .filter(alert_deliveries::Column::NextAttemptAt.lte(now))
        .filter(lease_free(now))
        .group_by(alert_deliveries::Column::TenantId)
        .order_by(oldest, sea_orm::Order::Asc)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let in_flight: Vec<(Uuid, i64)> = alert_deliveries::Entity::find()
        .select_only()
        .column(alert_deliveries::Column::TenantId)
        .column_as(alert_deliveries::Column::Id.count(), "n")
        .filter(alert_deliveries::Column::Status.eq(status::PENDING))
        .filter(alert_deliveries::Column::LeaseExpiresAt.gt(now))
        .filter(alert_deliveries::Column::TenantId.is_in(due.clone()))
        .group_by(alert_deliveries::Column::TenantId)
        .into_tuple()
        .all(db)
        .await?;
    let mut quotas: Vec<(Uuid, u64, u64)> = due
        .into_iter()
        .map(|tenant| {
            let busy = in_flight
                .iter()
                .find(|(t, _)| *t == tenant)
                .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(u64::MAX));
            (tenant, 0, per_tenant.saturating_sub(busy))
        })
        .collect();
    let mut left = limit;
    while left > 0 {
        let mut gave = false;
        for (_, quota, room) in &mut quotas {
            if left > 0 && *quota < *room {
                *quota += 1;
                left -= 1;
                gave = true;
            }
        }
        if !gave {
            break;
        }
    }
    Ok(quotas
        .into_iter()
        .filter(|(_, quota, _)| *quota > 0)
        .map(|(tenant, quota, _)| (tenant, quota))
        .collect())
}

/// Leases up to `limit` of one tenant's due deliveries, oldest due first.
async fn claim_for_tenant(
    db: &impl ConnectionTrait,
    owner: &str,
    tenant_id: Uuid,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<alert_deliveries::Model>> {
    let lease = now + LEASE;
    if db.get_database_backend() == DbBackend::Postgres {
        let sql = "UPDATE alert_deliveries SET lease_owner = $1, lease_expires_at = $2, \
                   attempts = attempts + 1, updated_at = $3 \
                   WHERE id IN (SELECT id FROM alert_deliveries \
                     WHERE tenant_id = $5 AND status = 'pending' AND next_attempt_at <= $3 \
                     AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
                     ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
                   RETURNING *";
        return Ok(alert_deliveries::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [
                    owner.into(),
                    lease.into(),
                    now.into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                    tenant_id.into(),
                ],
            ))
            .all(db)
            .await?);
    }
    let candidates = alert_deliveries::Entity::find()
        .filter(alert_deliveries::Column::TenantId.eq(tenant_id))
        .filter(alert_deliveries::Column::Status.eq(status::PENDING))
        .filter(alert_deliveries::Column::NextAttemptAt.lte(now))
        .filter(lease_free(now))
        .order_by_asc(alert_deliveries::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?;
    let mut won = Vec::new();
    for row in candidates {
        let claimed = alert_deliveries::Entity::update_many()
            .col_expr(alert_deliveries::Column::LeaseOwner, Expr::value(owner))
            .col_expr(alert_deliveries::Column::LeaseExpiresAt, Expr::value(lease))
            .col_expr(
                alert_deliveries::Column::Attempts,
                Expr::value(row.attempts.saturating_add(1)),
            )
            .col_expr(alert_deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(alert_deliveries::Column::Id.eq(row.id))
            .filter(alert_deliveries::Column::Status.eq(status::PENDING))
            .filter(alert_deliveries::Column::Attempts.eq(row.attempts))
            .filter(lease_free(now))
            .exec(db)
            .await?;
        if claimed.rows_affected == 1 {
            won.push(alert_deliveries::Model {
                attempts: row.attempts.saturating_add(1),
                lease_owner: Some(owner.to_owned()),
                lease_expires_at: Some(lease),
                updated_at: now,
                ..row
            });
        }
    }
    Ok(won)
}

pub(super) fn lease_free(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(alert_deliveries::Column::LeaseExpiresAt.is_null())
        .add(alert_deliveries::Column::LeaseExpiresAt.lte(now))
}

/// What one attempt achieved.
#[derive(Clone, Debug)]
pub struct AttemptOutcome {
    /// Whether the receiver accepted it.
    pub succeeded: bool,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong (never a secret); none on success.
    pub error: Option<String>,
    /// How long the attempt took.
    pub latency_ms: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// The pause before attempt `attempt + 1` after attempt `attempt` (from 1) failed:
/// [`FIRST_BACKOFF`] doubling per attempt up to [`MAX_BACKOFF`], of which a random
/// half (`jitter` in `[0, 1)`) is taken off so that retries of many deliveries that
/// failed together spread out ("equal jitter").
pub fn backoff(attempt: i32, jitter: f64) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(0);
    let full = FIRST_BACKOFF
        .num_milliseconds()
        .saturating_mul(1_i64 << doublings)
        .min(MAX_BACKOFF.num_milliseconds());
    let half = full / 2;
    let jittered = (half as f64 * jitter.clamp(0.0, 1.0)) as i64;
    Duration::milliseconds(half + jittered)
}

/// Records the outcome of `claimed`'s attempt: logs it, and marks the delivery
/// delivered, schedules the next attempt, or gives up once [`RETRY_WINDOW`] is over.
/// Returns false if this worker no longer held the lease (the attempt is still logged).
pub async fn finish<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    claimed: &alert_deliveries::Model,
    outcome: AttemptOutcome,
    jitter: f64,
    now: DateTime<Utc>,
) -> Result<bool> {
    let txn = db.begin().await?;
    let status_code = outcome.status_code.map(i32::from);
    alert_attempts::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(claimed.tenant_id),
        delivery_id: Set(claimed.id),
        attempt: Set(claimed.attempts),
        attempted_at: Set(outcome.started_at),
        succeeded: Set(outcome.succeeded),
        status_code: Set(status_code),
        latency_ms: Set(outcome.latency_ms),
        error: Set(outcome.error.clone()),
    }
    .insert(&txn)
    .await?;
    let next = now + backoff(claimed.attempts, jitter);
    let (state, next_attempt_at, completed_at) = if outcome.succeeded {
        (status::DELIVERED, claimed.next_attempt_at, Some(now))
    } else if next > claimed.retry_until {
        (status::FAILED, claimed.next_attempt_at, Some(now))
    } else {
        (status::PENDING, next, None)
    };
    let updated = alert_deliveries::Entity::update_many()
        .col_expr(alert_deliveries::Column::Status, Expr::value(state))
        .col_expr(
            alert_deliveries::Column::NextAttemptAt,
            Expr::value(next_attempt_at),
        )
        .col_expr(
            alert_deliveries::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            alert_deliveries::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            alert_deliveries::Column::LastStatus,
            Expr::value(status_code),
        )
        .col_expr(
            alert_deliveries::Column::LastError,
            Expr::value(outcome.error),
        )
        .col_expr(alert_deliveries::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            alert_deliveries::Column::CompletedAt,
            Expr::value(completed_at),
        )
        .filter(alert_deliveries::Column::Id.eq(claimed.id))
        .filter(alert_deliveries::Column::LeaseOwner.eq(claimed.lease_owner.clone()))
        .filter(alert_deliveries::Column::Attempts.eq(claimed.attempts))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(updated.rows_affected == 1)
}

/// The Standard Webhooks message id of an event (`msg_<hex>`): the same on every
/// attempt and redelivery, so receivers can drop duplicates.
pub fn message_id(event: &security_events::Model) -> String {
    format!("msg_{}", event.id.simple())
}

/// The JSON body delivered for an event (deterministic: the same bytes on every
/// attempt).
pub fn payload(event: &security_events::Model, tenant: &tenants::Model) -> serde_json::Value {
    json!({
        "id": message_id(event),
        "type": event.kind,
        "timestamp": event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "tenant": { "id": tenant.id, "slug": tenant.slug },
        "data": event.details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_growing_at_two_hours() {
        assert_eq!(backoff(1, 0.0), Duration::seconds(5));
        assert_eq!(backoff(1, 0.999_999), Duration::milliseconds(9_999));
        assert_eq!(backoff(2, 0.0), Duration::seconds(10));
        assert_eq!(backoff(3, 0.0), Duration::seconds(20));
        assert_eq!(backoff(40, 0.0), Duration::hours(1));
        assert!(backoff(40, 0.999) < Duration::hours(2));
        for attempt in 1..60 {
            assert!(backoff(attempt + 1, 0.0) >= backoff(attempt, 0.0));
        }
    }
}

#[cfg(test)]
mod domain_tests {
    use crate::core::TenantCtx;
    use crate::journal::alerts::{SecurityEvent, channel, kinds, raise};
    use crate::journal::audit::Actor;
    use sea_orm::DatabaseConnection;

    use super::*;
    use crate::{
        core::SettingsPatch,
        crypto::{Keyring, MasterKey},
        journal::webhooks::{self, NewEndpoint},
        tenants::{self, NewTenant},
        test_support::{db, now},
    };

    async fn setup(db: &DatabaseConnection) -> (TenantCtx, webhook_endpoints::Model) {
        let keyring = Keyring::new(MasterKey::from_bytes(&[5; 32]), []);
        let tenant = tenants::create(
            db,
            &keyring,
            &Actor::system(),
            NewTenant {
                slug: "acme".into(),
                display_name: "Acme".into(),
                settings: SettingsPatch {
                    security_contacts: Some(vec!["sec@example.com".into()]),
                    ..Default::default()
                },
            },
            now(),
        )
        .await
        .unwrap();
        let ctx = TenantCtx::from(&tenant);
        let (endpoint, _) = webhooks::create(
            db,
            &keyring,
            &ctx,
            &Actor::system(),
            NewEndpoint {
                url: "https://hooks.example.com/in".into(),
                description: String::new(),
                event_types: vec![kinds::ACCOUNT_LOCKED.into()],
                enabled: true,
            },
            now(),
        )
        .await
        .unwrap();
        (ctx, endpoint)
    }

    #[tokio::test]
    async fn an_alert_raised_in_a_rolled_back_transaction_is_never_delivered() {
        let db = db().await;
        let (ctx, _) = setup(&db).await;
        let txn = db.begin().await.unwrap();
        raise(
            &txn,
            SecurityEvent::new(Some(ctx.id), kinds::ACCOUNT_LOCKED, json!({}), now()),
        )
        .await
        .unwrap();
        txn.rollback().await.unwrap();
        assert!(claim_due(&db, "w", 10, 10, now()).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn filters_pick_endpoints_and_contacts_get_every_alert() {
        let db = db().await;
        let (ctx, endpoint) = setup(&db).await;
        raise(
            &db,
            SecurityEvent::new(Some(ctx.id), kinds::API_KEY_CREATED, json!({}), now()),
        )
        .await
        .unwrap();
        let claimed = claim_due(&db, "w", 10, 10, now()).await.unwrap();
        assert_eq!(
            claimed.len(),
            1,
            "only the email: the endpoint filters it out"
        );
        assert_eq!(claimed[0].delivery.channel, channel::EMAIL);
        raise(
            &db,
            SecurityEvent::new(Some(ctx.id), kinds::ACCOUNT_LOCKED, json!({}), now()),
        )
        .await
        .unwrap();
        let claimed = claim_due(&db, "w", 10, 10, now()).await.unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(
            claimed
                .iter()
                .any(|c| c.endpoint.as_ref().map(|e| e.id) == Some(endpoint.id))
        );
    }

    async fn tenant_with_contact(db: &DatabaseConnection, slug: &str) -> TenantCtx {
        let keyring = Keyring::new(MasterKey::from_bytes(&[5; 32]), []);
        let tenant = tenants::create(
            db,
            &keyring,
            &Actor::system(),
            NewTenant {
                slug: slug.into(),
                display_name: slug.into(),
                settings: SettingsPatch {
                    security_contacts: Some(vec!["sec@example.com".into()]),
                    ..Default::default()
                },
            },
            now(),
        )
        .await
        .unwrap();
        TenantCtx::from(&tenant)
    }

    #[tokio::test]
    async fn a_tenant_with_a_backlog_never_keeps_another_tenants_alert_out_of_the_next_batch() {
        // Arrange: tenant A has 40 alerts queued, all due before tenant B's one.
        let db = db().await;
        let a = tenant_with_contact(&db, "noisy").await;
        let b = tenant_with_contact(&db, "quiet").await;
        for i in 0..40 {
            let at = now() - Duration::minutes(60 - i);
            raise(
                &db,
                SecurityEvent::new(Some(a.id), kinds::API_KEY_CREATED, json!({}), at),
            )
            .await
            .unwrap();
        }
        raise(
            &db,
            SecurityEvent::new(Some(b.id), kinds::API_KEY_CREATED, json!({}), now()),
        )
        .await
        .unwrap();
        let of = |claimed: &[Claimed], t: &TenantCtx| {
            claimed.iter().filter(|c| c.tenant.id == t.id).count()
        };

        // Act: one batch of 16 with at most 4 attempts in flight per tenant.
        let first = claim_due(&db, "w1", 16, 4, now()).await.unwrap();

        // Assert: B's alert is in it; A got no more than its cap.
        assert_eq!(of(&first, &b), 1);
        assert_eq!(of(&first, &a), 4);
        // While A's four attempts are in flight (their leases live), no other worker
        // takes more of A's.
        let second = claim_due(&db, "w2", 16, 4, now()).await.unwrap();
        assert_eq!(of(&second, &a), 0);
        // Once they are done (failed, to be retried later), A gets its next four.
        for c in first.iter().filter(|c| c.tenant.id == a.id) {
            let outcome = AttemptOutcome {
                succeeded: false,
                status_code: Some(503),
                error: Some("slow receiver".into()),
                latency_ms: 10_000,
                started_at: now(),
            };
            finish(&db, &c.delivery, outcome, 0.0, now()).await.unwrap();
        }
        let third = claim_due(&db, "w2", 16, 4, now()).await.unwrap();
        assert_eq!(of(&third, &a), 4);
    }

    #[tokio::test]
    async fn a_claimed_delivery_is_not_claimed_again_until_its_lease_lapses() {
        let db = db().await;
        let (ctx, _) = setup(&db).await;
        raise(
            &db,
            SecurityEvent::new(Some(ctx.id), kinds::ACCOUNT_LOCKED, json!({}), now()),
        )
        .await
        .unwrap();
        let first = claim_due(&db, "a", 10, 10, now()).await.unwrap();
        assert_eq!(first.len(), 2);
        assert!(claim_due(&db, "b", 10, 10, now()).await.unwrap().is_empty());
        // A worker that died mid-attempt: its lease lapses and another worker retries.
        let later = now() + LEASE + Duration::seconds(1);
        let retried = claim_due(&db, "b", 10, 10, later).await.unwrap();
        assert_eq!(retried.len(), 2);
        assert!(retried.iter().all(|c| c.delivery.attempts == 2));
        // The first worker's late report cannot overwrite the second's claim.
        let outcome = AttemptOutcome {
            succeeded: true,
            status_code: Some(200),
            error: None,
            latency_ms: 3,
            started_at: now(),
        };
        assert!(
            !finish(&db, &first[0].delivery, outcome.clone(), 0.5, later)
                .await
                .unwrap()
        );
        assert!(
            finish(&db, &retried[0].delivery, outcome, 0.5, later)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn failures_are_retried_with_backoff_until_the_window_closes() {
        let db = db().await;
        let (ctx, _) = setup(&db).await;
        raise(
            &db,
            SecurityEvent::new(Some(ctx.id), kinds::API_KEY_CREATED, json!({}), now()),
        )
        .await
        .unwrap();
        let mut at = now();
        let mut attempts = 0;
        loop {
            let claimed = claim_due(&db, "w", 1, 1, at).await.unwrap();
            let Some(c) = claimed.into_iter().next() else {
                break;
            };
            attempts += 1;
            let failed = AttemptOutcome {
                succeeded: false,
                status_code: Some(500),
                error: Some("HTTP 500".into()),
                latency_ms: 1,
                started_at: at,
            };
            finish(&db, &c.delivery, failed, 0.5, at).await.unwrap();
            let row = crate::journal::alerts::deliveries::get_delivery(&db, &ctx, c.delivery.id)
                .await
                .unwrap();
            if row.status == status::FAILED {
                assert!(at - now() <= RETRY_WINDOW);
                break;
            }
            assert!(row.next_attempt_at > at);
            at = row.next_attempt_at;
        }
        assert!(attempts > 10, "{attempts} attempts in a day");
        assert!(
            claim_due(&db, "w", 10, 10, at + Duration::days(2))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
