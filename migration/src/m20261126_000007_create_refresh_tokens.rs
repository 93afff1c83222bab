//! Creates `refresh_tokens`: rotated, single-use refresh tokens grouped in families.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    TenantId,
    FamilyId,
    TokenHash,
    ClientId,
    UserId,
    Scope,
    Sid,
    AuthTime,
    Amr,
    Acr,
    IssuedAt,
    ExpiresAt,
    FamilyExpiresAt,
    UsedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    .col(pk_uuid(RefreshTokens::Id))
                    .col(uuid(RefreshTokens::TenantId))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(string_uniq(RefreshTokens::TokenHash))
                    .col(string(RefreshTokens::ClientId))
                    .col(uuid(RefreshTokens::UserId))
                    .col(text(RefreshTokens::Scope))
                    .col(string_null(RefreshTokens::Sid))
                    .col(timestamp_with_time_zone(RefreshTokens::AuthTime))
                    .col(json_binary(RefreshTokens::Amr))
                    .col(string_null(RefreshTokens::Acr))
                    .col(timestamp_with_time_zone(RefreshTokens::IssuedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone(RefreshTokens::FamilyExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_refresh_tokens_tenant_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::TenantId)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(RefreshTokens::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
