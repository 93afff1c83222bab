//! What the crate's unit tests share: a migrated in-memory database and a fixed clock.

use chrono::{DateTime, TimeZone, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

/// A fresh, migrated in-memory SQLite database (one connection: every connection to
/// `sqlite::memory:` is its own database).
pub(crate) async fn db() -> DatabaseConnection {
    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    db
}

/// The tests' "now".
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

/// The worker pools every unit test shares (started once per test binary).
pub(crate) fn workers() -> crate::runtime::Workers {
    static WORKERS: std::sync::LazyLock<crate::runtime::Workers> = std::sync::LazyLock::new(|| {
        crate::runtime::Workers::start(&crate::runtime::WorkerSettings::default())
    });
    WORKERS.clone()
}
