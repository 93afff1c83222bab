//! Tessera's schema, as ordered, idempotent sea-orm migrations that run unchanged on
//! Postgres and SQLite.
//!
//! This crate never imports `entity`: old migrations must keep compiling as the
//! entities evolve. Every table is created `IF NOT EXISTS` and every index likewise,
//! so a half-applied migration on SQLite (which has no transactional DDL in
//! sea-orm's default mode) can simply be run again.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_tenants;
mod m20261126_000002_create_signing_keys;
mod m20261126_000003_create_clients;
mod m20261126_000004_create_users;
mod m20261126_000005_create_api_keys;
mod m20261126_000006_create_audit_events;
mod m20261126_000007_create_refresh_tokens;
mod m20261126_000008_create_consents;
mod m20261126_000009_schedule_signing_keys;
mod m20261126_000010_create_mfa_factors;
mod m20261126_000020_create_webhook_endpoints;
mod m20261126_000021_create_alert_outbox;
mod m20261126_000022_index_audit_events_by_time;
mod m20261126_000030_create_email_tokens;
mod m20261203_000040_add_client_token_endpoint_auth_method;
mod m20261207_000050_create_apis_and_roles;

/// The ordered list of migrations; `api` runs it at start and `tessera migrate` on demand.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_tenants::Migration),
            Box::new(m20261126_000002_create_signing_keys::Migration),
            Box::new(m20261126_000003_create_clients::Migration),
            Box::new(m20261126_000004_create_users::Migration),
            Box::new(m20261126_000005_create_api_keys::Migration),
            Box::new(m20261126_000006_create_audit_events::Migration),
            Box::new(m20261126_000007_create_refresh_tokens::Migration),
            Box::new(m20261126_000008_create_consents::Migration),
            Box::new(m20261126_000009_schedule_signing_keys::Migration),
            Box::new(m20261126_000010_create_mfa_factors::Migration),
            Box::new(m20261126_000020_create_webhook_endpoints::Migration),
            Box::new(m20261126_000021_create_alert_outbox::Migration),
            Box::new(m20261126_000022_index_audit_events_by_time::Migration),
            Box::new(m20261126_000030_create_email_tokens::Migration),
            Box::new(m20261203_000040_add_client_token_endpoint_auth_method::Migration),
            Box::new(m20261207_000050_create_apis_and_roles::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::sea_orm::{
        ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    };

    use super::*;

    const TABLES: [&str; 13] = [
        "tenants",
        "signing_keys",
        "clients",
        "users",
        "api_keys",
        "audit_events",
        "user_totp",
        "recovery_codes",
        "passkeys",
        "webhook_endpoints",
        "security_events",
        "alert_deliveries",
        "alert_attempts",
    ];

    async fn round_trip(db: &DatabaseConnection) {
        Migrator::up(db, None).await.unwrap();
        // Idempotent: running again changes nothing and does not fail.
        Migrator::up(db, None).await.unwrap();
        let manager = SchemaManager::new(db);
        for table in TABLES {
            assert!(manager.has_table(table).await.unwrap(), "{table} after up");
        }
        Migrator::down(db, None).await.unwrap();
        for table in TABLES {
            assert!(
                !manager.has_table(table).await.unwrap(),
                "{table} after down"
            );
        }
        Migrator::up(db, None).await.unwrap();
        for table in TABLES {
            assert!(
                manager.has_table(table).await.unwrap(),
                "{table} after up again"
            );
        }
    }

    /// Applies every migration before `name`, runs `before` (rows of the older schema),
    /// then the rest.
    async fn up_around(db: &DatabaseConnection, name: &str, before: &str) {
        let position = Migrator::migrations()
            .iter()
            .position(|m| MigrationName::name(m.as_ref()) == name)
            .unwrap();
        Migrator::up(
            db,
            Some(<u32 as TryFrom<usize>>::try_from(position).unwrap()),
        )
        .await
        .unwrap();
        db.execute_unprepared(before).await.unwrap();
        Migrator::up(db, None).await.unwrap();
    }

    #[tokio::test]
    async fn existing_clients_get_the_registration_defaults_for_their_auth_method() {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1);
        let db = Database::connect(options).await.unwrap();
        let row = |id: &str, client_id: &str, client_type: &str| {
            format!(
                "('{id}', '00000000-0000-7000-8000-000000000000', '{client_id}', 'App', \
                 '{client_type}', '[]', '[]', '[]', '[]', false, true, \
                 CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        };
        let insert = format!(
            "INSERT INTO clients (id, tenant_id, client_id, name, client_type, redirect_uris, \
             post_logout_redirect_uris, grant_types, allowed_scopes, first_party, \
             require_pkce, created_at, updated_at) VALUES {}, {}",
            row(
                "00000000-0000-7000-8000-000000000001",
                "web",
                "confidential"
            ),
            row("00000000-0000-7000-8000-000000000002", "spa", "public"),
        );
        up_around(
            &db,
            "m20261203_000040_add_client_token_endpoint_auth_method",
            &insert,
        )
        .await;
        let methods = db
            .query_all_raw(sea_orm_migration::sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT client_id, token_endpoint_auth_method FROM clients ORDER BY client_id",
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.try_get::<String>("", "client_id").unwrap(),
                    r.try_get::<String>("", "token_endpoint_auth_method")
                        .unwrap(),
                )
            })
            .collect::<Vec<_>>();
        assert_eq!(
            methods,
            [
                ("spa".to_owned(), "none".to_owned()),
                ("web".to_owned(), "client_secret_basic".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn migrations_go_up_down_and_up_again_on_sqlite() {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1);
        let db = Database::connect(options).await.unwrap();
        round_trip(&db).await;
    }

    #[tokio::test]
    async fn migrations_go_up_down_and_up_again_on_postgres() {
        let Ok(url) = std::env::var("TESSERA_TEST_DATABASE_URL") else {
            return; // the embedded run covers SQLite; CI sets this for Postgres
        };
        let schema = format!("migr_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(url.as_str()).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
            .await
            .unwrap();
        let mut options = ConnectOptions::new(url.clone());
        options.set_schema_search_path(schema.clone());
        let db = Database::connect(options).await.unwrap();
        round_trip(&db).await;
        db.close().await.unwrap();
        admin
            .execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .unwrap();
    }
}
