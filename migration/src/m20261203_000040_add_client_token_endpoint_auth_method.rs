//! Adds `clients.token_endpoint_auth_method`: the one way each client authenticates
//! at the token, introspection and revocation endpoints (OIDC Dynamic Client
//! Registration §2). Existing clients get the registration defaults: confidential
//! clients `client_secret_basic` (OIDC Registration's default), public clients
//! `none`. A confidential client that sends its secret in the form body must be
//! switched to `client_secret_post` through the management API.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    ClientType,
    TokenEndpointAuthMethod,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column_if_not_exists(
                        string(Clients::TokenEndpointAuthMethod).default("client_secret_basic"),
                    )
                    .to_owned(),
            )
            .await?;
        // Public clients have no secret: `none` is the only method they can use.
        manager
            .exec_stmt(
                Query::update()
                    .table(Clients::Table)
                    .value(Clients::TokenEndpointAuthMethod, "none")
                    .and_where(Expr::col(Clients::ClientType).eq("public"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::TokenEndpointAuthMethod)
                    .to_owned(),
            )
            .await
    }
}
