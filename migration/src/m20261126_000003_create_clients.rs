//! Creates `clients`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    TenantId,
    ClientId,
    Name,
    ClientType,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    AllowedScopes,
    FirstParty,
    RequirePkce,
    SecretHash,
    PreviousSecretHash,
    PreviousSecretExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .if_not_exists()
                    .col(pk_uuid(Clients::Id))
                    .col(uuid(Clients::TenantId))
                    .col(string_uniq(Clients::ClientId))
                    .col(string(Clients::Name))
                    .col(string(Clients::ClientType))
                    .col(json_binary(Clients::RedirectUris))
                    .col(json_binary(Clients::PostLogoutRedirectUris))
                    .col(json_binary(Clients::GrantTypes))
                    .col(json_binary(Clients::AllowedScopes))
                    .col(boolean(Clients::FirstParty))
                    .col(boolean(Clients::RequirePkce))
                    .col(text_null(Clients::SecretHash))
                    .col(text_null(Clients::PreviousSecretHash))
                    .col(timestamp_with_time_zone_null(
                        Clients::PreviousSecretExpiresAt,
                    ))
                    .col(timestamp_with_time_zone(Clients::CreatedAt))
                    .col(timestamp_with_time_zone(Clients::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_clients_tenant_id")
                    .table(Clients::Table)
                    .col(Clients::TenantId)
                    .col(Clients::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Clients::Table).if_exists().to_owned())
            .await
    }
}
