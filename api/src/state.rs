//! State shared by every request: storage handles, the keyring, settings, the clock.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenancy::{
    cache::Cache,
    crypto::Keyring,
    keys::signing::KeyStore,
    oauth::client_auth::SecretMemo,
    oauth::token::exchange::TokenEndpoint,
    runtime::{Storage, Workers},
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
    /// The database, and where its transactions run: the only way to it.
    pub storage: Storage,
    /// The Argon2id and signing threads: the only way to them.
    pub workers: Workers,
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
    /// The token endpoint's door and its writers.
    pub tokens: TokenEndpoint,
    /// Recently resolved tenants, by slug.
    pub tenants: tenancy::tenants::directory::Directory,
    /// Per-client token-endpoint throttle.
    pub token_limiter: Arc<crate::login_limit::NamedLimiter>,
    /// Source of "now".
    pub clock: Arc<dyn Clock>,
    /// Outgoing email (SMTP, or files in the data dir).
    pub mailer: Arc<webhooks::mail::Mailer>,
    /// Prometheus metrics of this process.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// The database pool (through [`Storage`]).
    pub fn db(&self) -> &tenancy::DatabaseConnection {
        self.storage.db()
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
