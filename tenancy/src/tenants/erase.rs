//! Erasing everything a tenant or a user owns, driven by one list of tables each.
//!
//! A table added later and forgotten here would outlive the tenant or user it belongs
//! to (a deleted account keeping its TOTP seed, say), so the lists are checked against
//! the migrated schema: every table with a `tenant_id` column must be in
//! [`tenant_owned`], every table with a `user_id` column in [`user_owned`].

use entity::{
    alert_attempts, alert_deliveries, api_keys, apis, audit_events, client_grants, clients,
    consents, email_tokens, passkeys, recovery_codes, refresh_tokens, roles, security_events,
    signing_keys, user_roles, user_totp, users, webhook_endpoints,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityName, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::Result;

/// Declares the tables owned by a tenant or by one of its users, the function that
/// deletes their rows, and the list of their names the schema test checks.
macro_rules! owned_tables {
    (@names $names:ident, [$($table:ident),*]) => {
        /// The names of the tables the matching erase function deletes from.
        pub fn $names() -> Vec<&'static str> {
            vec![$($table::Entity.table_name()),*]
        }
    };
    (
        $(#[$doc:meta])* by tenant: $erase:ident, $names:ident,
        [$($table:ident),* $(,)?]
    ) => {
        owned_tables!(@names $names, [$($table),*]);

        $(#[$doc])*
        pub async fn $erase(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<()> {
            $(
                $table::Entity::delete_many()
                    .filter($table::Column::TenantId.eq(tenant_id))
                    .exec(db)
                    .await?;
            )*
            Ok(())
        }
    };
    (
        $(#[$doc:meta])* by user: $erase:ident, $names:ident,
        [$($table:ident),* $(,)?]
    ) => {
        owned_tables!(@names $names, [$($table),*]);

        $(#[$doc])*
        pub async fn $erase(db: &impl ConnectionTrait, tenant_id: Uuid, user_id: Uuid) -> Result<()> {
            $(
                $table::Entity::delete_many()
                    .filter($table::Column::TenantId.eq(tenant_id))
                    .filter($table::Column::UserId.eq(user_id))
                    .exec(db)
                    .await?;
            )*
            Ok(())
        }
    };
}

owned_tables!(
    /// Deletes every row of tenant `tenant_id` (the tenant row itself excepted); the
    /// caller runs it in the deletion's transaction.
    by tenant: tenant_rows,
    tenant_owned,
    [
        signing_keys,
        clients,
        users,
        api_keys,
        audit_events,
        refresh_tokens,
        consents,
        alert_attempts,
        alert_deliveries,
        security_events,
        webhook_endpoints,
        email_tokens,
        user_totp,
        recovery_codes,
        passkeys,
        apis,
        roles,
        user_roles,
        client_grants,
    ]
);

owned_tables!(
    /// Deletes every row user `user_id` holds — consents, refresh tokens, pending email
    /// tokens, second factors (TOTP seed, recovery codes, passkeys) and roles — so a user
    /// created later inherits nothing and a deleted account keeps no secrets. The
    /// user row itself and the audit log (which names users only as targets) stay to
    /// the caller.
    by user: user_rows,
    user_owned,
    [
        consents,
        refresh_tokens,
        email_tokens,
        user_totp,
        recovery_codes,
        passkeys,
        user_roles,
    ]
);

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, Statement};

    use super::*;
    use crate::test_support::db;

    /// The migrated schema's tables that have `column`.
    async fn tables_with(db: &impl ConnectionTrait, column: &str) -> Vec<String> {
        let tables = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name <> 'seaql_migrations' ORDER BY name",
            ))
            .await
            .unwrap();
        let mut with = Vec::new();
        for table in tables {
            let name: String = table.try_get("", "name").unwrap();
            let columns = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    format!("SELECT name FROM pragma_table_info('{name}')"),
                ))
                .await
                .unwrap();
            if columns
                .iter()
                .any(|c| c.try_get::<String>("", "name").unwrap() == column)
            {
                with.push(name);
            }
        }
        with
    }

    fn sorted(mut names: Vec<&'static str>) -> Vec<String> {
        names.sort_unstable();
        names.into_iter().map(str::to_owned).collect()
    }

    #[tokio::test]
    async fn every_table_with_a_tenant_id_is_erased_with_its_tenant() {
        let db = db().await;
        assert_eq!(sorted(tenant_owned()), tables_with(&db, "tenant_id").await);
    }

    #[tokio::test]
    async fn every_table_with_a_user_id_is_erased_with_its_user() {
        let db = db().await;
        assert_eq!(sorted(user_owned()), tables_with(&db, "user_id").await);
    }
}
