//! Building the application from [`Settings`]: storage, migrations, the master key,
//! the bootstrap admin key, routes, and the listener.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use poem::{
    EndpointExt, Route, Server, get,
    listener::{Acceptor, AcceptorExt, Listener, TcpListener},
    post,
};
use secrecy::{ExposeSecret, SecretString};
use tenancy::{
    DatabaseConnection,
    cache::rate_limit::Endpoint as Limited,
    cache::{Cache, memory::MemoryCache, redis::RedisCache},
    crypto::secrets,
    crypto::{Keyring, MasterKey},
    keys::signing::KeyStore,
    oauth::client_auth::SecretMemo,
    oauth::token::exchange::TokenEndpoint,
    runtime::{Storage, WorkerSettings, Workers},
    sea_orm::{ConnectOptions, Database},
};
use webhooks::mail::Mailer;

use crate::{
    config::Settings,
    drain::{self, DrainingAcceptor},
    limits, manage, middleware, oauth, oidc, ops, pages,
    state::{AppState, Clock, SystemClock},
};

/// A built, bound, not yet running server.
pub struct Application {
    acceptor: poem::listener::BoxAcceptor,
    port: u16,
    app: poem::endpoint::BoxEndpoint<'static>,
    state: AppState,
    bootstrap_key: Option<SecretString>,
}

impl Application {
    /// Connects storage, migrates, prepares keys and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with an explicit clock (tests pin time with it).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        settings.validate()?;
        let state = build_state(settings, clock).await?;
        let bootstrap_key =
            tenancy::management::api_keys::ensure_bootstrap_key(state.db(), state.now())
                .await
                .context("creating the bootstrap admin key")?;
        let app = routes(state.clone());
        let acceptor = TcpListener::bind(state.settings.listen.clone())
            .into_acceptor()
            .await
            .with_context(|| format!("cannot listen on {}", state.settings.listen))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .context("listener has no TCP address")?;
        Ok(Self {
            acceptor: acceptor.boxed(),
            port,
            app,
            state,
            bootstrap_key,
        })
    }

    /// The port actually bound (useful with `listen = ...:0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The platform admin key created on this start, if none existed (shown once).
    pub fn take_bootstrap_key(&mut self) -> Option<SecretString> {
        self.bootstrap_key.take()
    }

    /// The shared state (tests use its database handle).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then closes the listening socket, gives
    /// accepted connections [`drain::DRAIN`] to send their request, and lets in-flight
    /// requests finish for up to the configured grace period.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.settings.shutdown_grace_secs);
        let jobs = tokio::spawn(crate::jobs::key_lifecycle_loop(self.state.clone()));
        let listener = tokio::spawn(crate::jobs::key_change_listener(self.state.clone()));
        let worker = Arc::new(webhooks::delivery::Worker::new(
            self.state.db().clone(),
            self.state.keyring.clone(),
            self.state.mailer.clone(),
            self.state.settings.webhook_allow_private,
        ));
        let (stop_delivery, stopped) = tokio::sync::watch::channel(false);
        let delivery = tokio::spawn(crate::jobs::alert_delivery_loop(
            self.state.clone(),
            worker,
            stopped,
        ));
        let retention = tokio::spawn(crate::jobs::audit_retention_loop(self.state.clone()));
        let (acceptor, stop_accepting) = DrainingAcceptor::new(self.acceptor);
        let shutdown = drain::after_drain(shutdown, stop_accepting, grace);
        let served = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(self.app, shutdown, Some(grace))
            .await
            .context("server failed");
        // Finish the delivery pass in flight (its attempts time out within seconds),
        // within the same grace period as requests; the other jobs hold no claims.
        let _ = stop_delivery.send(true);
        if tokio::time::timeout(grace, delivery).await.is_err() {
            tracing::warn!("alert delivery did not finish within the grace period");
        }
        jobs.abort();
        listener.abort();
        retention.abort();
        served
    }
}

/// The full route tree over `state`.
pub fn routes(state: AppState) -> poem::endpoint::BoxEndpoint<'static> {
    let api = manage::service(state.clone());
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let limit = state.settings.max_body_bytes;
    let metrics = state.metrics.clone();
    let allowed = Arc::new(middleware::AllowedMethods::from_spec(&api.spec()));
    let management = Route::new()
        .at("/openapi.json", spec)
        .nest("/", api)
        .around(move |ep, req| middleware::management_errors(ep, req, limit, allowed.clone()));
    Route::new()
        .nest(manage::PREFIX, management)
        .nest("/api/docs", docs)
        .at(
            "/t/:slug/.well-known/openid-configuration",
            get(oidc::discovery::openid_configuration),
        )
        .at(
            "/.well-known/oauth-authorization-server/t/:slug",
            get(oidc::discovery::oauth_authorization_server),
        )
        .at("/t/:slug/jwks.json", get(oidc::jwks::jwks))
        .at(
            "/t/:slug/authorize",
            get(pages::authorize::authorize)
                .post(pages::authorize::authorize)
                .around(|ep, req| limits::guard(ep, req, Limited::Authorize)),
        )
        .at(
            "/t/:slug/login",
            get(pages::login::show).post(pages::login::submit),
        )
        .at(
            "/t/:slug/login/mfa",
            get(pages::mfa::show).post(pages::mfa::submit),
        )
        .at(
            "/t/:slug/login/passkey/options",
            post(pages::passkeys::login_options)
                .around(|ep, req| limits::guard(ep, req, Limited::Passkeys)),
        )
        .at(
            "/t/:slug/login/passkey",
            post(pages::passkeys::login_finish)
                .around(|ep, req| limits::guard(ep, req, Limited::Passkeys)),
        )
        .at(
            "/t/:slug/passkeys/register/options",
            post(pages::passkeys::register_options)
                .around(|ep, req| limits::guard(ep, req, Limited::Passkeys)),
        )
        .at(
            "/t/:slug/passkeys/register",
            post(pages::passkeys::register_finish)
                .around(|ep, req| limits::guard(ep, req, Limited::Passkeys)),
        )
        .at(
            "/t/:slug/account",
            get(pages::account::show).around(|ep, req| limits::guard(ep, req, Limited::Account)),
        )
        .at(
            "/t/:slug/account/totp",
            get(pages::account::totp_page)
                .post(pages::account::act)
                .around(|ep, req| limits::guard(ep, req, Limited::Account)),
        )
        .at("/t/:slug/account/totp/remove", post(pages::account::act))
        .at(
            "/t/:slug/account/passkeys/rename",
            post(pages::account::act),
        )
        .at(
            "/t/:slug/account/passkeys/remove",
            post(pages::account::act),
        )
        .at("/t/:slug/account/recovery-codes", post(pages::account::act))
        .at("/t/:slug/account/password", post(pages::account::act))
        .at("/t/:slug/account/sessions/end", post(pages::account::act))
        .at(
            "/t/:slug/account/consents/revoke",
            post(pages::account::act),
        )
        .at("/assets/passkeys.js", get(pages::passkeys_js))
        .at(
            "/t/:slug/consent",
            get(pages::consent::show).post(pages::consent::submit),
        )
        .at(
            "/t/:slug/logout",
            get(pages::logout::logout).post(pages::logout::logout),
        )
        .at(
            "/t/:slug/userinfo",
            get(oidc::userinfo::userinfo).post(oidc::userinfo::userinfo),
        )
        .at(
            "/t/:slug/password/forgot",
            get(pages::password::show_forgot)
                .post(pages::password::submit_forgot)
                .around(|ep, req| limits::guard(ep, req, Limited::PasswordForgot)),
        )
        .at(
            "/t/:slug/password/reset",
            get(pages::password::show_reset)
                .post(pages::password::submit_reset)
                .around(|ep, req| limits::guard(ep, req, Limited::PasswordReset)),
        )
        .at(
            "/t/:slug/email/verify",
            get(pages::verify_email::show)
                .post(pages::verify_email::submit)
                .around(|ep, req| limits::guard(ep, req, Limited::EmailVerify)),
        )
        .at(
            "/t/:slug/token",
            post(oauth::token::token).around(|ep, req| limits::guard(ep, req, Limited::Token)),
        )
        .at(
            "/t/:slug/introspect",
            post(oauth::introspect::introspect)
                .around(|ep, req| limits::guard(ep, req, Limited::Introspection)),
        )
        .at(
            "/t/:slug/revoke",
            post(oauth::revoke::revoke)
                .around(|ep, req| limits::guard(ep, req, Limited::Revocation)),
        )
        .at("/healthz", ops::healthz)
        .at("/readyz", ops::readyz)
        .at("/metrics", ops::metrics)
        .data(state)
        .around(move |ep, req| middleware::request_context(ep, req, metrics.clone()))
        .boxed()
}

async fn build_state(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let db = connect_database(&settings).await?;
    migrate(&settings, &db).await?;
    let storage = Storage::open(db).context("starting the database lane thread")?;
    let cache = connect_cache(&settings).await?;
    let keyring = load_keyring(&settings)?;
    let workers = Workers::start(&WorkerSettings {
        threads: None,
        argon2_queue_capacity: settings.argon2_queue_capacity,
    });
    let admin_token_sha256 = settings.admin_token.as_deref().map(secrets::sha256_hex);
    let keyring = Arc::new(keyring);
    let mailer = build_mailer(&settings)?;
    let secret_memo = SecretMemo::new(workers.clone());
    Ok(AppState {
        tokens: TokenEndpoint::start(
            &storage,
            &workers,
            cache.clone(),
            keyring.clone(),
            secret_memo.clone(),
        ),
        storage,
        workers,
        cache,
        keys: KeyStore::new(keyring.clone()),
        secret_memo,
        tenants: tenancy::tenants::directory::Directory::default(),
        token_limiter: Arc::new(crate::login_limit::token_limiter(
            settings.token_requests_per_minute,
        )),
        keyring,
        settings: Arc::new(settings),
        admin_token_sha256,
        clock,
        mailer,
        metrics: Arc::new(crate::metrics::Metrics::new().context("registering metrics")?),
    })
}

/// The mailer: SMTP when `TESSERA_SMTP_URL` is set, else `.eml` files in the data dir.
fn build_mailer(settings: &Settings) -> anyhow::Result<Arc<Mailer>> {
    let mailer = match &settings.smtp_url {
        Some(url) => Mailer::smtp(url, &settings.mail_from),
        None => Mailer::folder(&settings.mail_dir(), &settings.mail_from),
    }
    .context("setting up outgoing email")?;
    tracing::info!(transport = mailer.description(), "outgoing email");
    Ok(Arc::new(mailer))
}

/// An arbitrary, fixed Postgres advisory-lock key reserved for Tessera's migrations.
const MIGRATION_LOCK: i64 = 0x0074_6573_7365_7261;

/// Applies pending migrations. On Postgres they run under an advisory lock on one
/// dedicated session, so nodes starting together apply them exactly once and the
/// others wait, then find nothing to do. (SQLite has one writer anyway.)
pub async fn migrate(settings: &Settings, db: &DatabaseConnection) -> anyhow::Result<()> {
    use tenancy::sea_orm::{ConnectionTrait, DbBackend};
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None)
            .await
            .context("running database migrations");
    }
    let session = connect_with(settings, Some(1)).await?;
    session
        .execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .await
        .context("taking the migration lock")?;
    let applied = Migrator::up(&session, None)
        .await
        .context("running database migrations");
    let unlocked = session
        .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .await;
    let _ = session.close().await;
    applied?;
    unlocked.context("releasing the migration lock")?;
    Ok(())
}

/// Opens the database: the configured URL, else a SQLite file in the data dir.
pub async fn connect_database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    connect_with(settings, None).await
}

async fn connect_with(
    settings: &Settings,
    pool_size: Option<u32>,
) -> anyhow::Result<DatabaseConnection> {
    let url = match &settings.database_url {
        Some(url) => url.clone(),
        None => {
            std::fs::create_dir_all(&settings.data_dir)
                .with_context(|| format!("creating {}", settings.data_dir.display()))?;
            format!(
                "sqlite://{}?mode=rwc",
                settings.data_dir.join("tessera.db").display()
            )
        }
    };
    let mut options = ConnectOptions::new(url.clone());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One connection serialises writers: SQLite allows one writer at a time and
        // would otherwise fail read-then-write transactions with SQLITE_BUSY.
        options.max_connections(1);
        // A file on this machine cannot go stale the way a network connection can, so
        // the pool does not ping it before each use (a round trip per checkout).
        options.test_before_acquire(false);
        // Write-ahead logging with `synchronous=NORMAL`: a commit appends to the log
        // without waiting for fsync, and the log is synced at checkpoints. A crash of
        // the process loses nothing; a power cut may lose the last commits, never
        // corrupt the file (https://www.sqlite.org/wal.html). The rollback-journal
        // default synced several times per commit and capped writes at ~300/s.
        options.map_sqlx_sqlite_opts(|opts| {
            use tenancy::sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        });
    } else {
        options.max_connections(pool_size.unwrap_or(32));
    }
    if let Some(schema) = &settings.database_schema {
        options.set_schema_search_path(schema.clone());
    }
    Database::connect(options)
        .await
        .context("connecting to the database (TESSERA_DATABASE_URL)")
}

async fn connect_cache(settings: &Settings) -> anyhow::Result<Arc<dyn Cache>> {
    match &settings.redis_url {
        None => Ok(Arc::new(MemoryCache::with_capacity(
            settings.cache_namespace.clone(),
            settings.cache_max_bytes,
        ))),
        Some(url) => {
            let cache = RedisCache::connect(url, settings.cache_namespace.clone())
                .map_err(|e| anyhow::anyhow!("TESSERA_REDIS_URL: {e}"))?;
            cache
                .ping()
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach Redis (TESSERA_REDIS_URL): {e}"))?;
            check_eviction_policy(&cache).await?;
            Ok(Arc::new(cache))
        }
    }
}

/// Refuses a Redis that would evict security state (see `tenancy::cache::redis`); a
/// Redis that does not let us read its policy gets a warning.
async fn check_eviction_policy(cache: &RedisCache) -> anyhow::Result<()> {
    use tenancy::cache::redis::policy_keeps_security_state;
    match cache
        .eviction_policy()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach Redis (TESSERA_REDIS_URL): {e}"))?
    {
        Some(policy) if policy_keeps_security_state(&policy) => Ok(()),
        Some(policy) => anyhow::bail!(
            "Redis maxmemory-policy is '{policy}', which evicts keys when memory runs out; \
             Tessera keeps lockouts, revoked token ids and used-code markers there and \
             needs `maxmemory-policy noeviction` (CONFIG SET maxmemory-policy noeviction)"
        ),
        None => {
            tracing::warn!(
                "cannot read the Redis maxmemory-policy (CONFIG GET is disabled); Tessera \
                 needs `noeviction`, or security state may be lost when Redis is full"
            );
            Ok(())
        }
    }
}

/// The master keyring: `TESSERA_MASTER_KEY`, else a key file in the data dir that is
/// generated on first start (a development setup, said loudly).
pub fn load_keyring(settings: &Settings) -> anyhow::Result<Keyring> {
    let encoded = match &settings.master_key {
        Some(key) => SecretString::from(key.clone()),
        None => dev_master_key(&settings.data_dir.join("master.key"))?,
    };
    let current =
        MasterKey::parse(&encoded).map_err(|e| anyhow::anyhow!("TESSERA_MASTER_KEY: {e}"))?;
    let previous = settings
        .previous_master_keys
        .iter()
        .filter(|k| !k.trim().is_empty())
        .map(|k| MasterKey::parse(&SecretString::from(k.clone())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("TESSERA_PREVIOUS_MASTER_KEYS: {e}"))?;
    Ok(Keyring::new(current, previous))
}

fn dev_master_key(path: &Path) -> anyhow::Result<SecretString> {
    if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(SecretString::from(text.trim().to_owned()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = MasterKey::generate_encoded().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_private_file(path, key.expose_secret())?;
    tracing::warn!(
        path = %path.display(),
        "DEVELOPMENT SETUP: no TESSERA_MASTER_KEY was given, so a master key was generated \
         and written to this file. Anyone who can read it can decrypt every signing key. \
         Set TESSERA_MASTER_KEY from a secret store in production."
    );
    Ok(key)
}

fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .with_context(|| format!("writing {}", path.display()))
}
