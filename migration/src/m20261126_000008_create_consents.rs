//! Creates `consents`: the scopes a user granted a client.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Consents {
    Table,
    Id,
    TenantId,
    UserId,
    ClientId,
    Scopes,
    GrantedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .if_not_exists()
                    .col(pk_uuid(Consents::Id))
                    .col(uuid(Consents::TenantId))
                    .col(uuid(Consents::UserId))
                    .col(string(Consents::ClientId))
                    .col(json_binary(Consents::Scopes))
                    .col(timestamp_with_time_zone(Consents::GrantedAt))
                    .col(timestamp_with_time_zone(Consents::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_consents_tenant_user_client")
                    .table(Consents::Table)
                    .col(Consents::TenantId)
                    .col(Consents::UserId)
                    .col(Consents::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Consents::Table).if_exists().to_owned())
            .await
    }
}
