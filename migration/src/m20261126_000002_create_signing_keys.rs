//! Creates `signing_keys`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Id,
    TenantId,
    Kid,
    Alg,
    State,
    PrivateKeyEnc,
    PublicJwk,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .if_not_exists()
                    .col(pk_uuid(SigningKeys::Id))
                    .col(uuid(SigningKeys::TenantId))
                    .col(string(SigningKeys::Kid))
                    .col(string(SigningKeys::Alg))
                    .col(string(SigningKeys::State))
                    .col(text(SigningKeys::PrivateKeyEnc))
                    .col(json_binary(SigningKeys::PublicJwk))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::ActivatedAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_signing_keys_tenant_kid")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::TenantId)
                    .col(SigningKeys::Kid)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(SigningKeys::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
