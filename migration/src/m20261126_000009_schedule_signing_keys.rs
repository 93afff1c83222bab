//! Adds the key-lifecycle schedule to `signing_keys`: when a `next` key may start
//! signing, when a `current` key is due for automatic rotation, and when a `retired`
//! key may leave the JWKS. Background jobs on every node query these columns directly,
//! so they never iterate over tenants.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    ActivateAfter,
    RotateAfter,
    RemoveAfter,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in [
            SigningKeys::ActivateAfter,
            SigningKeys::RotateAfter,
            SigningKeys::RemoveAfter,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SigningKeys::Table)
                        .add_column_if_not_exists(timestamp_with_time_zone_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            SigningKeys::ActivateAfter,
            SigningKeys::RotateAfter,
            SigningKeys::RemoveAfter,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SigningKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
