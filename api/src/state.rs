//! State shared by every request: storage handles, the keyring, settings, the clock.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenancy::{
    DatabaseConnection, cache::Cache, crypto::Keyring, journal::events::EventSink,
    keys::signing::KeyStore, oauth::client_auth::SecretMemo,
};

use crate::config::Settings;

/// Where "now" comes from; tests can pin it.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock: the only place the server reads the system time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one sanctioned wall-clock read"
    )]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// Where transactions run (their own thread on SQLite).
    pub db_lane: crate::db_lane::DbLane,
    /// Sessions, codes, counters.
    pub cache: Arc<dyn Cache>,
    /// Master keys for secrets at rest.
    pub keyring: Arc<Keyring>,
    /// Process settings.
    pub settings: Arc<Settings>,
    /// SHA-256 of `TESSERA_ADMIN_TOKEN`, if one is configured.
    pub admin_token_sha256: Option<String>,
    /// Tenants' parsed signing keys.
    pub keys: KeyStore,
    /// Recently verified client secrets.
    pub secret_memo: SecretMemo,
    /// Runs code and refresh grants (group-committed on SQLite).
    pub user_grants: crate::oauth::grant_batch::UserGrants,
    /// Group commit for audit events that are a request's only write.
    pub audit_batch: tenancy::journal::audit_batch::GroupWriter,
    /// Recently resolved tenants, by slug.
    pub tenants: tenancy::tenants::directory::Directory,
    /// Per-client token-endpoint throttle.
    pub token_limiter: Arc<crate::login_limit::NamedLimiter>,
    /// Source of "now".
    pub clock: Arc<dyn Clock>,
    /// Where security events raised outside a transaction go (the alert outbox, on
    /// its own connection). Inside a transaction, call `tenancy::journal::alerts::raise`.
    pub events: Arc<dyn EventSink>,
    /// Outgoing email (SMTP, or files in the data dir).
    pub mailer: Arc<webhooks::mail::Mailer>,
    /// Prometheus metrics of this process.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
