//! Creates `apis`, `roles`, `user_roles` and `client_grants` (API resources and who
//! may get which of their scopes), gives consents a `resource` (consent is kept per
//! user, client and API) and clients an `id_token_signed_response_alg` (OIDC Dynamic
//! Client Registration §2), and refresh tokens the APIs of their grant.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Apis {
    Table,
    Id,
    TenantId,
    Name,
    Identifier,
    Scopes,
    TokenFormat,
    SigningAlg,
    AccessTokenTtlSecs,
    AllowOfflineAccess,
    Rbac,
    IncludeRoles,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Roles {
    Table,
    Id,
    TenantId,
    Name,
    Description,
    Permissions,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserRoles {
    Table,
    Id,
    TenantId,
    UserId,
    RoleId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ClientGrants {
    Table,
    Id,
    TenantId,
    ClientId,
    ApiId,
    Scopes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Consents {
    Table,
    TenantId,
    UserId,
    ClientId,
    Resource,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    IdTokenSignedResponseAlg,
}

#[derive(DeriveIden, Clone, Copy)]
enum RefreshTokens {
    Table,
    Resources,
}

/// A unique index `name` on `table(cols)`.
fn unique_index<T: IntoIden + Clone + 'static>(
    name: &str,
    table: T,
    cols: Vec<T>,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.if_not_exists().name(name).table(table).unique();
    for col in cols {
        index.col(col);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Apis::Table)
                    .if_not_exists()
                    .col(pk_uuid(Apis::Id))
                    .col(uuid(Apis::TenantId))
                    .col(string(Apis::Name))
                    .col(string(Apis::Identifier))
                    .col(json_binary(Apis::Scopes))
                    .col(string(Apis::TokenFormat))
                    .col(string_null(Apis::SigningAlg))
                    .col(integer_null(Apis::AccessTokenTtlSecs))
                    .col(boolean(Apis::AllowOfflineAccess))
                    .col(boolean(Apis::Rbac))
                    .col(boolean(Apis::IncludeRoles))
                    .col(timestamp_with_time_zone(Apis::CreatedAt))
                    .col(timestamp_with_time_zone(Apis::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_apis_tenant_identifier",
                Apis::Table,
                vec![Apis::TenantId, Apis::Identifier],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .if_not_exists()
                    .col(pk_uuid(Roles::Id))
                    .col(uuid(Roles::TenantId))
                    .col(string(Roles::Name))
                    .col(string(Roles::Description))
                    .col(json_binary(Roles::Permissions))
                    .col(timestamp_with_time_zone(Roles::CreatedAt))
                    .col(timestamp_with_time_zone(Roles::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_roles_tenant_name",
                Roles::Table,
                vec![Roles::TenantId, Roles::Name],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .if_not_exists()
                    .col(pk_uuid(UserRoles::Id))
                    .col(uuid(UserRoles::TenantId))
                    .col(uuid(UserRoles::UserId))
                    .col(uuid(UserRoles::RoleId))
                    .col(timestamp_with_time_zone(UserRoles::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_user_roles_tenant_user_role",
                UserRoles::Table,
                vec![UserRoles::TenantId, UserRoles::UserId, UserRoles::RoleId],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClientGrants::Table)
                    .if_not_exists()
                    .col(pk_uuid(ClientGrants::Id))
                    .col(uuid(ClientGrants::TenantId))
                    .col(string(ClientGrants::ClientId))
                    .col(uuid(ClientGrants::ApiId))
                    .col(json_binary(ClientGrants::Scopes))
                    .col(timestamp_with_time_zone(ClientGrants::CreatedAt))
                    .col(timestamp_with_time_zone(ClientGrants::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_client_grants_tenant_client_api",
                ClientGrants::Table,
                vec![
                    ClientGrants::TenantId,
                    ClientGrants::ClientId,
                    ClientGrants::ApiId,
                ],
            ))
            .await?;
        if !manager.has_column("consents", "resource").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Consents::Table)
                        .add_column(string(Consents::Resource).default(""))
                        .to_owned(),
                )
                .await?;
        }
        // Consent is now per user, client and API: the old key (without the API) goes.
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("ux_consents_tenant_user_client")
                    .table(Consents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_consents_tenant_user_client_resource",
                Consents::Table,
                vec![
                    Consents::TenantId,
                    Consents::UserId,
                    Consents::ClientId,
                    Consents::Resource,
                ],
            ))
            .await?;
        if !manager
            .has_column("clients", "id_token_signed_response_alg")
            .await?
        {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .add_column(string_null(Clients::IdTokenSignedResponseAlg))
                        .to_owned(),
                )
                .await?;
        }
        if !manager.has_column("refresh_tokens", "resources").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshTokens::Table)
                        .add_column(string(RefreshTokens::Resources).default(""))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .drop_column(RefreshTokens::Resources)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::IdTokenSignedResponseAlg)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("ux_consents_tenant_user_client_resource")
                    .table(Consents::Table)
                    .to_owned(),
            )
            .await?;
        // Per-API consents collapse back to one row per user and client: keep the
        // rows of no API (OpenID scopes), drop the others.
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Consents::Table)
                    .and_where(Expr::col(Consents::Resource).ne(""))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Consents::Table)
                    .drop_column(Consents::Resource)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_consents_tenant_user_client",
                Consents::Table,
                vec![Consents::TenantId, Consents::UserId, Consents::ClientId],
            ))
            .await?;
        for table in [
            ClientGrants::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Roles::Table.into_iden(),
            Apis::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
