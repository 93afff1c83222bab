//! Process settings: defaults, then `TESSERA_*` environment variables, then
//! `tessera` flags (clap reads both; a flag wins over its variable).
//!
//! With nothing set, Tessera runs the embedded development setup: a SQLite file and
//! the in-process cache under `./tessera-data`, and a generated master key file.
//! Secrets (`TESSERA_MASTER_KEY`, `TESSERA_ADMIN_TOKEN`) are never printed: clap hides
//! their values and `Debug` redacts them.

use std::path::PathBuf;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Every process-level setting.
#[derive(Clone, clap::Args)]
pub struct Settings {
    /// Externally visible base URL; issuers are `{public_url}/t/{slug}`.
    #[arg(long, env = "TESSERA_PUBLIC_URL", default_value = DEFAULT_PUBLIC_URL, global = true)]
    pub public_url: String,
    /// Address to listen on (`host:port`; port 0 picks a free port).
    #[arg(long, env = "TESSERA_LISTEN", default_value = DEFAULT_LISTEN, global = true)]
    pub listen: String,
    /// Database URL (`postgres://...` or `sqlite://...`); default: a SQLite file in the data dir.
    #[arg(
        long,
        env = "TESSERA_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
    /// Postgres schema to use (search path); default: the server's default.
    #[arg(long, env = "TESSERA_DATABASE_SCHEMA", global = true)]
    pub database_schema: Option<String>,
    /// Redis URL; default: the in-process cache (single node only).
    #[arg(long, env = "TESSERA_REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<String>,
    /// Prefix of every cache key.
    #[arg(
        long,
        env = "TESSERA_CACHE_NAMESPACE",
        default_value = "tessera",
        global = true
    )]
    pub cache_namespace: String,
    /// Most bytes the in-process cache holds (without Redis). When it is full,
    /// anonymous sign-in state is evicted first; security state never is, and writes
    /// that would need it to be are refused with 503.
    #[arg(
        long,
        env = "TESSERA_CACHE_MAX_BYTES",
        default_value_t = tenancy::cache::memory::DEFAULT_MAX_BYTES,
        global = true
    )]
    pub cache_max_bytes: usize,
    /// Base64 of the 32-byte master key that encrypts secrets at rest.
    #[arg(
        long,
        env = "TESSERA_MASTER_KEY",
        hide_env_values = true,
        global = true
    )]
    pub master_key: Option<String>,
    /// Previous master keys (comma-separated base64), still used to decrypt.
    #[arg(
        long,
        env = "TESSERA_PREVIOUS_MASTER_KEYS",
        value_delimiter = ',',
        hide_env_values = true,
        global = true
    )]
    pub previous_master_keys: Vec<String>,
    /// SMTP URL for security email; default: emails are written to the data dir.
    #[arg(long, env = "TESSERA_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,
    /// Sender of every email Tessera sends.
    #[arg(
        long,
        env = "TESSERA_MAIL_FROM",
        default_value = DEFAULT_MAIL_FROM,
        global = true
    )]
    pub mail_from: String,
    /// A platform admin token accepted in addition to API keys (for automation).
    #[arg(
        long,
        env = "TESSERA_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
    /// Log format.
    #[arg(
        long,
        env = "TESSERA_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// Folder for the embedded database, master key file and outgoing mail.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "TESSERA_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES, global = true)]
    pub max_body_bytes: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed (comma-separated IPs);
    /// from anyone else the header is ignored.
    #[arg(
        long,
        env = "TESSERA_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long in-flight requests may run after SIGTERM before the process exits.
    #[arg(
        long,
        env = "TESSERA_SHUTDOWN_GRACE_SECS",
        default_value_t = 30,
        global = true
    )]
    pub shutdown_grace_secs: u64,
    /// Deliver webhooks to private, loopback, link-local and other internal addresses
    /// (`true` only for development and tests: it opens the door to SSRF).
    #[arg(
        long,
        env = "TESSERA_WEBHOOK_ALLOW_PRIVATE",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        global = true
    )]
    pub webhook_allow_private: bool,
    /// Token-endpoint requests allowed per client and minute on each node.
    #[arg(
        long,
        env = "TESSERA_TOKEN_REQUESTS_PER_MINUTE",
        default_value_t = 600,
        global = true
    )]
    pub token_requests_per_minute: u32,
    /// Password and secret checks (Argon2id) that may wait for a worker; beyond that a
    /// request is refused at once with 503 and `Retry-After` (one worker per core).
    #[arg(
        long,
        env = "TESSERA_ARGON2_QUEUE_CAPACITY",
        default_value_t = tenancy::runtime::workers::DEFAULT_ARGON2_QUEUE_CAPACITY,
        global = true
    )]
    pub argon2_queue_capacity: usize,
}

const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_MAIL_FROM: &str = "Tessera <tessera@localhost>";
const DEFAULT_DATA_DIR: &str = "tessera-data";
const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: DEFAULT_PUBLIC_URL.into(),
            listen: DEFAULT_LISTEN.into(),
            database_url: None,
            database_schema: None,
            redis_url: None,
            cache_namespace: "tessera".into(),
            cache_max_bytes: tenancy::cache::memory::DEFAULT_MAX_BYTES,
            master_key: None,
            previous_master_keys: Vec::new(),
            smtp_url: None,
            mail_from: DEFAULT_MAIL_FROM.into(),
            admin_token: None,
            log_format: LogFormat::Text,
            data_dir: DEFAULT_DATA_DIR.into(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            trusted_proxies: Vec::new(),
            shutdown_grace_secs: 30,
            webhook_allow_private: false,
            token_requests_per_minute: 600,
            argon2_queue_capacity: tenancy::runtime::workers::DEFAULT_ARGON2_QUEUE_CAPACITY,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Settings")
            .field("public_url", &self.public_url)
            .field("listen", &self.listen)
            .field("database_url", &redact(&self.database_url))
            .field("database_schema", &self.database_schema)
            .field("redis_url", &redact(&self.redis_url))
            .field("cache_namespace", &self.cache_namespace)
            .field("cache_max_bytes", &self.cache_max_bytes)
            .field("master_key", &redact(&self.master_key))
            .field("smtp_url", &redact(&self.smtp_url))
            .field("mail_from", &self.mail_from)
            .field("admin_token", &redact(&self.admin_token))
            .field("log_format", &self.log_format)
            .field("data_dir", &self.data_dir)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("token_requests_per_minute", &self.token_requests_per_minute)
            .field("argon2_queue_capacity", &self.argon2_queue_capacity)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Checks the settings that can be checked without I/O; errors name the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        let url = url::Url::parse(&self.public_url)
            .map_err(|e| anyhow::anyhow!("TESSERA_PUBLIC_URL is not a URL: {e}"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https") && url.host().is_some(),
            "TESSERA_PUBLIC_URL must be an http or https URL with a host"
        );
        anyhow::ensure!(
            url.query().is_none() && url.fragment().is_none(),
            "TESSERA_PUBLIC_URL must not have a query or fragment"
        );
        anyhow::ensure!(
            self.token_requests_per_minute >= 1,
            "TESSERA_TOKEN_REQUESTS_PER_MINUTE must be at least 1"
        );
        anyhow::ensure!(
            self.cache_max_bytes >= 1024 * 1024,
            "TESSERA_CACHE_MAX_BYTES must be at least 1048576 (1 MiB)"
        );
        anyhow::ensure!(
            self.argon2_queue_capacity >= 1,
            "TESSERA_ARGON2_QUEUE_CAPACITY must be at least 1"
        );
        anyhow::ensure!(
            self.max_body_bytes >= 1024,
            "TESSERA_MAX_BODY_BYTES must be at least 1024"
        );
        Ok(())
    }

    /// Folder the embedded mailer writes `.eml` files into when no SMTP URL is set.
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }

    /// The public URL without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }

    /// Whether browsers reach us over TLS (decides `Secure` and `__Host-` cookies).
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}
