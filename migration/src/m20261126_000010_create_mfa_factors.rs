//! Creates the second-factor tables: `user_totp` (one TOTP seed per user, encrypted),
//! `recovery_codes` (SHA-256 of single-use codes) and `passkeys` (WebAuthn credentials).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserTotp {
    Table,
    Id,
    TenantId,
    UserId,
    Secret,
    ConfirmedAt,
    LastUsedStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    TenantId,
    UserId,
    CodeHash,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Passkeys {
    Table,
    Id,
    TenantId,
    UserId,
    CredentialId,
    Name,
    Passkey,
    CreatedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserTotp::Table)
                    .if_not_exists()
                    .col(pk_uuid(UserTotp::Id))
                    .col(uuid(UserTotp::TenantId))
                    .col(uuid(UserTotp::UserId))
                    .col(text(UserTotp::Secret))
                    .col(timestamp_with_time_zone_null(UserTotp::ConfirmedAt))
                    .col(big_integer_null(UserTotp::LastUsedStep))
                    .col(timestamp_with_time_zone(UserTotp::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_user_totp_tenant_user")
                    .table(UserTotp::Table)
                    .col(UserTotp::TenantId)
                    .col(UserTotp::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .if_not_exists()
                    .col(pk_uuid(RecoveryCodes::Id))
                    .col(uuid(RecoveryCodes::TenantId))
                    .col(uuid(RecoveryCodes::UserId))
                    .col(string(RecoveryCodes::CodeHash))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_recovery_codes_tenant_user")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::TenantId)
                    .col(RecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Passkeys::Table)
                    .if_not_exists()
                    .col(pk_uuid(Passkeys::Id))
                    .col(uuid(Passkeys::TenantId))
                    .col(uuid(Passkeys::UserId))
                    .col(string(Passkeys::CredentialId))
                    .col(string(Passkeys::Name))
                    .col(json_binary(Passkeys::Passkey))
                    .col(timestamp_with_time_zone(Passkeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(Passkeys::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_passkeys_tenant_credential")
                    .table(Passkeys::Table)
                    .col(Passkeys::TenantId)
                    .col(Passkeys::CredentialId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_passkeys_tenant_user")
                    .table(Passkeys::Table)
                    .col(Passkeys::TenantId)
                    .col(Passkeys::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Passkeys::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            UserTotp::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
