//! Creates the alert outbox: `security_events` (one row per alert, written in the
//! transaction that raised it), `alert_deliveries` (one row per event and channel —
//! each webhook endpoint, the security contacts' email — with its retry schedule and
//! the lease a worker holds while attempting it) and `alert_attempts` (the delivery
//! log, one row per attempt).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SecurityEvents {
    Table,
    Id,
    TenantId,
    Kind,
    OccurredAt,
    Details,
}

#[derive(DeriveIden)]
enum AlertDeliveries {
    Table,
    Id,
    TenantId,
    EventId,
    Channel,
    EndpointId,
    Recipients,
    Status,
    Attempts,
    NextAttemptAt,
    RetryUntil,
    LeaseOwner,
    LeaseExpiresAt,
    LastStatus,
    LastError,
    CreatedAt,
    UpdatedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum AlertAttempts {
    Table,
    Id,
    TenantId,
    DeliveryId,
    Attempt,
    AttemptedAt,
    Succeeded,
    StatusCode,
    LatencyMs,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SecurityEvents::Table)
                    .if_not_exists()
                    .col(pk_uuid(SecurityEvents::Id))
                    .col(uuid_null(SecurityEvents::TenantId))
                    .col(string(SecurityEvents::Kind))
                    .col(timestamp_with_time_zone(SecurityEvents::OccurredAt))
                    .col(json_binary(SecurityEvents::Details))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_security_events_tenant_id")
                    .table(SecurityEvents::Table)
                    .col(SecurityEvents::TenantId)
                    .col(SecurityEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AlertDeliveries::Table)
                    .if_not_exists()
                    .col(pk_uuid(AlertDeliveries::Id))
                    .col(uuid(AlertDeliveries::TenantId))
                    .col(uuid(AlertDeliveries::EventId))
                    .col(string(AlertDeliveries::Channel))
                    .col(uuid_null(AlertDeliveries::EndpointId))
                    .col(json_binary(AlertDeliveries::Recipients))
                    .col(string(AlertDeliveries::Status))
                    .col(integer(AlertDeliveries::Attempts))
                    .col(timestamp_with_time_zone(AlertDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone(AlertDeliveries::RetryUntil))
                    .col(string_null(AlertDeliveries::LeaseOwner))
                    .col(timestamp_with_time_zone_null(
                        AlertDeliveries::LeaseExpiresAt,
                    ))
                    .col(integer_null(AlertDeliveries::LastStatus))
                    .col(text_null(AlertDeliveries::LastError))
                    .col(timestamp_with_time_zone(AlertDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone(AlertDeliveries::UpdatedAt))
                    .col(timestamp_with_time_zone_null(AlertDeliveries::CompletedAt))
                    .to_owned(),
            )
            .await?;
        // The workers' query: pending deliveries by due time.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_alert_deliveries_due")
                    .table(AlertDeliveries::Table)
                    .col(AlertDeliveries::Status)
                    .col(AlertDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_alert_deliveries_endpoint")
                    .table(AlertDeliveries::Table)
                    .col(AlertDeliveries::TenantId)
                    .col(AlertDeliveries::EndpointId)
                    .col(AlertDeliveries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AlertAttempts::Table)
                    .if_not_exists()
                    .col(pk_uuid(AlertAttempts::Id))
                    .col(uuid(AlertAttempts::TenantId))
                    .col(uuid(AlertAttempts::DeliveryId))
                    .col(integer(AlertAttempts::Attempt))
                    .col(timestamp_with_time_zone(AlertAttempts::AttemptedAt))
                    .col(boolean(AlertAttempts::Succeeded))
                    .col(integer_null(AlertAttempts::StatusCode))
                    .col(big_integer(AlertAttempts::LatencyMs))
                    .col(text_null(AlertAttempts::Error))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_alert_attempts_delivery")
                    .table(AlertAttempts::Table)
                    .col(AlertAttempts::TenantId)
                    .col(AlertAttempts::DeliveryId)
                    .col(AlertAttempts::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(AlertAttempts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(AlertDeliveries::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(SecurityEvents::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
