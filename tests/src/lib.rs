//! Test harness: boots the real Tessera server in-process on an ephemeral port, on a
//! fresh database (a temp SQLite file, or a fresh Postgres schema when
//! `TESSERA_TEST_DATABASE_URL` is set) and a fresh cache namespace (in-process, or
//! Redis under a random prefix when `TESSERA_TEST_REDIS_URL` is set), and speaks HTTP
//! to it like any client would.
#![expect(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test harness: a broken assumption must fail the test loudly"
)]

pub mod flow;
pub mod receiver;
pub mod smtp;

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use api::{Application, Settings};
use reqwest::{Method, StatusCode, header::HeaderMap};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::Value;
use tokio::sync::oneshot;

/// The server's clock in tests: starts at the real time and moves only when told.
pub struct TestClock(Mutex<chrono::DateTime<chrono::Utc>>);

impl TestClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test clock starts at the real time"
    )]
    fn starting_now() -> Self {
        Self(Mutex::new(chrono::Utc::now()))
    }

    /// Moves the server's time forward.
    pub fn advance(&self, secs: i64) {
        let mut now = self.0.lock().expect("clock lock");
        *now += chrono::Duration::seconds(secs);
    }
}

impl api::state::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub address: String,
    /// The configured platform admin token.
    pub admin_token: String,
    /// The bootstrap platform admin key minted at start (empty when the database
    /// already had one, as for a second node on a shared database).
    pub bootstrap_key: String,
    /// The cache namespace this server uses (a second node shares it).
    pub cache_namespace: String,
    /// The database URL and schema this server uses (to start a second node on it).
    pub database: (String, Option<String>),
    /// The server's database (for at-rest inspection).
    pub db: DatabaseConnection,
    /// The master key the server encrypts with (base64).
    pub master_key: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The server's clock.
    pub clock: Arc<TestClock>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    data_dir: tempfile::TempDir,
    pg_schema: Option<(String, String)>,
}

/// A response: status, headers and the parsed JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Parsed body.
    pub body: Value,
}

impl Reply {
    /// The `Content-Type` header, or "".
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts this is an RFC 9457 problem with `status`, and returns the body.
    pub fn assert_problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "not problem+json ({}): {}",
            self.content_type(),
            self.body
        );
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert!(self.body["title"].is_string(), "{}", self.body);
        assert!(self.body["type"].is_string(), "{}", self.body);
        assert!(self.body["detail"].is_string(), "{}", self.body);
        assert!(self.body["request_id"].is_string(), "{}", self.body);
        &self.body
    }
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A unique, valid tenant slug.
pub fn unique_slug(prefix: &str) -> String {
    format!("{prefix}-{}", &random_suffix()[..12])
}

impl TestApp {
    /// Boots a server with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Boots a server after `tweak` adjusts its settings.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::try_spawn(tweak)
            .await
            .expect("test server failed to start")
    }

    async fn try_spawn(tweak: impl FnOnce(&mut Settings)) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let port = free_port()?;
        let admin_token = format!("admin-{}", random_suffix());
        let master_key = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            uuid::Uuid::new_v4().as_bytes().repeat(2),
        );
        let mut settings = Settings {
            listen: format!("127.0.0.1:{port}"),
            public_url: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.path().to_owned(),
            admin_token: Some(admin_token.clone()),
            master_key: Some(master_key.clone()),
            cache_namespace: format!("tessera-test-{}", random_suffix()),
            redis_url: std::env::var("TESSERA_TEST_REDIS_URL").ok(),
            shutdown_grace_secs: 5,
            // Webhook tests deliver to a receiver on 127.0.0.1; the SSRF tests turn
            // this back off.
            webhook_allow_private: true,
            ..Settings::default()
        };
        let mut pg_schema = None;
        if let Ok(url) = std::env::var("TESSERA_TEST_DATABASE_URL") {
            let schema = format!("e2e_{}", random_suffix());
            let admin = Database::connect(url.as_str())
                .await
                .context("connecting to test Postgres")?;
            admin
                .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
                .await?;
            admin.close().await?;
            settings.database_url = Some(url.clone());
            settings.database_schema = Some(schema.clone());
            pg_schema = Some((url, schema));
        }
        tweak(&mut settings);
        // A second node may be given the first node's token.
        let admin_token = settings.admin_token.clone().unwrap_or(admin_token);

        let clock = Arc::new(TestClock::starting_now());
        let cache_namespace = settings.cache_namespace.clone();
        let database = (
            settings.database_url.clone().unwrap_or_else(|| {
                format!(
                    "sqlite://{}?mode=rwc",
                    settings.data_dir.join("tessera.db").display()
                )
            }),
            settings.database_schema.clone(),
        );
        let mut app = Application::build_with_clock(settings, clock.clone()).await?;
        let bootstrap_key = app
            .take_bootstrap_key()
            .map(|k| secrecy::ExposeSecret::expose_secret(&k).to_owned())
            .unwrap_or_default();
        let db = app.state().db().clone();
        let address = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = rx.await;
                })
                .await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            address,
            admin_token,
            bootstrap_key,
            cache_namespace,
            database,
            db,
            master_key,
            http,
            clock,
            shutdown: Some(tx),
            server: Some(server),
            data_dir,
            pg_schema,
        })
    }

    /// Stops the server (and its background jobs) and waits until it has stopped; the
    /// database stays, so another `TestApp` can be started on it (see `database`).
    pub async fn stop(&mut self) {
        self.signal_shutdown();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Sends the server its shutdown signal (as SIGTERM would) without waiting for it.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Creates a webhook endpoint in `slug` for `event_types` (all when empty);
    /// returns its id and secret.
    pub async fn create_webhook(
        &self,
        slug: &str,
        url: &str,
        event_types: &[&str],
    ) -> (String, String) {
        let reply = self
            .post(
                &format!("/api/v1/tenants/{slug}/webhooks"),
                serde_json::json!({ "url": url, "event_types": event_types }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        (
            reply.body["id"].as_str().expect("id").to_owned(),
            reply.body["secret"]
                .as_str()
                .expect("secret shown once")
                .to_owned(),
        )
    }

    /// Polls `check` until it returns `Some` (at most 20 s, every 50 ms).
    pub async fn eventually<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Where the embedded mailer writes `.eml` files when no SMTP URL is set.
    pub fn mail_folder(&self) -> PathBuf {
        self.data_dir.path().join("mail")
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request failed");
        Self::reply(resp).await
    }

    /// Turns a raw reqwest response into a [`Reply`].
    pub async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("reading body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A fresh browser: its own cookie jar, redirects not followed.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("browser client")
    }

    /// Plays the user in `browser`: follows `authorize_url` to the login page, signs in
    /// as `username`, and returns where the server sends the browser next (the client's
    /// redirect URI for a first-party client).
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        username: &str,
        password: &str,
    ) -> url::Url {
        let to_login = browser.get(authorize_url).send().await.expect("authorize");
        let login_url = location(&to_login);
        let html = browser
            .get(login_url.as_str())
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("login html");
        let back = browser
            .post(login_url.as_str())
            .form(&[
                ("interaction", hidden_field(&html, "interaction").as_str()),
                ("csrf_token", hidden_field(&html, "csrf_token").as_str()),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .expect("login post");
        location(&back)
    }

    /// GET with the admin token.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Some(&self.admin_token), None)
            .await
    }

    /// POST JSON with the admin token.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(&self.admin_token), Some(&body))
            .await
    }

    /// PATCH JSON with the admin token.
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(&self.admin_token), Some(&body))
            .await
    }

    /// DELETE with the admin token.
    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, Some(&self.admin_token), None)
            .await
    }

    /// Creates a tenant with a unique slug and returns its JSON.
    pub async fn create_tenant(&self) -> Value {
        let reply = self
            .post(
                "/api/v1/tenants",
                serde_json::json!({ "slug": unique_slug("t"), "display_name": "Test tenant" }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }

    /// Creates a confidential client in `slug` and returns its JSON (with the secret).
    pub async fn create_client(&self, slug: &str) -> Value {
        let reply = self
            .post(
                &format!("/api/v1/tenants/{slug}/clients"),
                serde_json::json!({
                    "name": "Web app",
                    "client_type": "confidential",
                    "redirect_uris": ["https://app.example.com/callback"],
                }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }

    /// Creates a user in `slug` and returns its JSON.
    pub async fn create_user(&self, slug: &str, username: &str, password: &str) -> Value {
        let reply = self
            .post(
                &format!("/api/v1/tenants/{slug}/users"),
                serde_json::json!({
                    "username": username,
                    "email": format!("{username}@example.com"),
                    "password": password,
                }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }

    /// Creates a tenant-scoped API key and returns the plaintext key.
    pub async fn create_tenant_key(&self, slug: &str, scope: &str) -> String {
        let reply = self
            .post(
                &format!("/api/v1/tenants/{slug}/api-keys"),
                serde_json::json!({ "name": "test key", "scope": scope }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["key"]
            .as_str()
            .expect("key shown once")
            .to_owned()
    }

    /// The actions of a tenant's audit log, oldest first (first 200 events).
    pub async fn audit_actions(&self, slug: &str) -> Vec<String> {
        let reply = self
            .get(&format!("/api/v1/tenants/{slug}/audit-events?limit=200"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|e| e["action"].as_str().map(str::to_owned))
            .collect()
    }

    /// Counts the rows of `table` (for "nothing was half-written" checks).
    pub async fn count_rows(&self, table: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count query")
            .expect("one row");
        row.try_get::<i64>("", "n").expect("count")
    }

    /// Every row of every table as text (blobs as hex), for secrets-at-rest scans.
    pub async fn dump_database(&self) -> String {
        let backend = self.db.get_database_backend();
        let mut out = String::new();
        for table in self.tables().await {
            let sql = match backend {
                DbBackend::Postgres => format!("SELECT \"{table}\"::text AS row FROM \"{table}\""),
                _ => {
                    let columns = self
                        .db
                        .query_all_raw(Statement::from_string(
                            backend,
                            format!("SELECT name FROM pragma_table_info('{table}')"),
                        ))
                        .await
                        .expect("columns");
                    let parts: Vec<String> = columns
                        .iter()
                        .map(|c| {
                            let name: String = c.try_get("", "name").expect("column name");
                            format!("quote(\"{name}\")")
                        })
                        .collect();
                    format!(
                        "SELECT {} AS row FROM \"{table}\"",
                        parts.join(" || '|' || ")
                    )
                }
            };
            for row in self
                .db
                .query_all_raw(Statement::from_string(backend, sql))
                .await
                .expect("dump query")
            {
                let text: String = row.try_get("", "row").expect("row text");
                out.push_str(&table);
                out.push_str(": ");
                out.push_str(&text);
                out.push('\n');
            }
        }
        out
    }

    async fn tables(&self) -> Vec<String> {
        let backend = self.db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
            }
            _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        };
        self.db
            .query_all_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("table list")
            .iter()
            .map(|r| r.try_get::<String>("", "name").expect("table name"))
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some((url, schema)) = self.pg_schema.take() {
            // Drop the schema from a fresh runtime: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(db) = Database::connect(url.as_str()).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                            ))
                            .await;
                        let _ = db.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The `Location` of a redirect response.
pub fn location(resp: &reqwest::Response) -> url::Url {
    let value = resp.headers().get("location").expect("a redirect");
    url::Url::parse(value.to_str().expect("ascii location")).expect("absolute location")
}

/// The value of the hidden form field `name` in a server-rendered page.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("field present") + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
