//! The harness every fuzz target shares: the real Tessera application (embedded
//! SQLite + in-process cache in a temp dir) with one tenant, a public client, a
//! confidential client and a valid access token, driven in-process through its poem
//! endpoint. A target turns the fuzzer's bytes into one HTTP request; the invariant is
//! that no input makes the server panic or answer 5xx.
//!
//! Inputs may contain placeholders the harness fills in, so the fuzzer can reach the
//! code behind a valid client lookup: `@C` (public client id), `@K` (confidential
//! client id), `@S` (its secret), `@T` (a valid access token).

use std::sync::{Arc, OnceLock};

use poem::{Endpoint, Request, http::Method};
use tokio::runtime::Runtime;

/// The running application and the fixtures in it.
pub struct Harness {
    runtime: Runtime,
    endpoint: Arc<poem::endpoint::BoxEndpoint<'static>>,
    /// The tenant's slug.
    pub slug: String,
    public_client: String,
    confidential_client: String,
    secret: String,
    access_token: String,
    _data_dir: tempfile::TempDir,
}

/// The process-wide harness, built on first use.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| match Harness::build() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("fuzz harness failed to start: {e:#}");
            std::process::exit(2);
        }
    })
}

impl Harness {
    fn build() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let data_dir = tempfile::tempdir()?;
        let admin = format!("fuzz-admin-{}", uuid::Uuid::new_v4());
        let master_key = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            uuid::Uuid::new_v4().as_bytes().repeat(2),
        );
        let settings = api::Settings {
            listen: "127.0.0.1:0".into(),
            data_dir: data_dir.path().to_owned(),
            admin_token: Some(admin.clone()),
            master_key: Some(master_key),
            ..api::Settings::default()
        };
        let endpoint = runtime.block_on(async {
            let app = api::Application::build(settings).await?;
            anyhow::Ok(Arc::new(api::startup::routes(app.state().clone())))
        })?;
        let mut harness = Self {
            runtime,
            endpoint,
            slug: "fuzz".into(),
            public_client: String::new(),
            confidential_client: String::new(),
            secret: String::new(),
            access_token: String::new(),
            _data_dir: data_dir,
        };
        let admin_json = |path: &str, body: serde_json::Value| {
            let req = Request::builder()
                .method(Method::POST)
                .uri_str(&format!("/api/v1{path}"))
                .header("authorization", format!("Bearer {admin}"))
                .content_type("application/json")
                .body(body.to_string());
            harness.json(req)
        };
        admin_json(
            "/tenants",
            serde_json::json!({ "slug": "fuzz", "display_name": "Fuzz" }),
        )?;
        let public = admin_json(
            "/tenants/fuzz/clients",
            serde_json::json!({ "name": "Public", "client_type": "public",
                "redirect_uris": ["https://app.example.com/cb"], "first_party": true }),
        )?;
        let confidential = admin_json(
            "/tenants/fuzz/clients",
            serde_json::json!({ "name": "Service", "client_type": "confidential",
                "token_endpoint_auth_method": "client_secret_post",
                "redirect_uris": ["https://app.example.com/cb"],
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"] }),
        )?;
        let field = |v: &serde_json::Value, name: &str| {
            v[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no {name} in {v}"))
        };
        harness.public_client = field(&public, "client_id")?;
        harness.confidential_client = field(&confidential, "client_id")?;
        harness.secret = field(&confidential, "client_secret")?;
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            harness.confidential_client, harness.secret
        );
        let token = harness.json(
            Request::builder()
                .method(Method::POST)
                .uri_str("/t/fuzz/token")
                .content_type("application/x-www-form-urlencoded")
                .body(form),
        )?;
        harness.access_token = field(&token, "access_token")?;
        Ok(harness)
    }

    fn json(&self, req: Request) -> anyhow::Result<serde_json::Value> {
        let (status, body) = self.send(req);
        anyhow::ensure!(status < 300, "setup request failed with {status}: {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// Sends `req` through the application; returns status and body.
    pub fn send(&self, req: Request) -> (u16, String) {
        self.runtime.block_on(async {
            match self.endpoint.call(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.into_body().into_string().await.unwrap_or_default();
                    (status, body)
                }
                Err(err) => {
                    let resp = err.into_response();
                    (resp.status().as_u16(), String::new())
                }
            }
        })
    }

    /// `input` with the placeholders replaced by the fixtures.
    pub fn fill(&self, input: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(input);
        if !text.contains('@') {
            return input.to_vec();
        }
        text.replace("@C", &self.public_client)
            .replace("@K", &self.confidential_client)
            .replace("@S", &self.secret)
            .replace("@T", &self.access_token)
            .into_bytes()
    }

    /// Sends `req` and fails loudly on a server error: the invariant under fuzzing.
    pub fn expect_no_server_error(&self, req: Request, what: &str) {
        let (status, body) = self.send(req);
        assert!(
            status < 500,
            "{what} got {status} for a hostile input; body: {body}"
        );
    }
}
