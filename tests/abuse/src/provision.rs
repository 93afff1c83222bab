//! Tenants, clients and users through Tessera's management API.

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// The redirect URI of every client here; nothing listens there (the flows stop at
/// the 302 and read the code from `Location`).
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";

/// One tenant and its confidential client (no `Debug`: it holds the client secret).
#[derive(Clone)]
pub struct Tenant {
    /// The slug.
    pub slug: String,
    /// Its issuer, `{base}/t/{slug}`.
    pub issuer: String,
    /// The client's id.
    pub client_id: String,
    /// The client's secret.
    pub client_secret: String,
}

/// Management API calls with the admin token.
pub struct Api<'a> {
    http: &'a Client,
    base: &'a str,
    token: &'a str,
}

impl<'a> Api<'a> {
    /// The API of the server at `base`.
    pub fn new(http: &'a Client, base: &'a str, token: &'a str) -> Self {
        Self { http, base, token }
    }

    /// POSTs `body` to `/api/v1/{path}`; the parsed answer when it is a success.
    async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}/api/v1/{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let hint = if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                " (check --admin-token / TESSERA_ADMIN_TOKEN)"
            } else {
                ""
            };
            bail!("POST {url}: HTTP {status}{hint}: {value}");
        }
        Ok(value)
    }

    /// A new tenant with a confidential authorization-code client.
    pub async fn tenant(&self, slug: &str, first_party: bool) -> Result<Tenant> {
        let t = self
            .post(
                "tenants",
                &json!({ "slug": slug, "display_name": format!("Abuse {slug}") }),
            )
            .await?;
        let issuer = t
            .get("issuer")
            .and_then(Value::as_str)
            .map_or_else(|| format!("{}/t/{slug}", self.base), str::to_owned);
        let c = self
            .post(
                &format!("tenants/{slug}/clients"),
                &json!({
                    "name": "Abuse suite app",
                    "client_type": "confidential",
                    "redirect_uris": [REDIRECT_URI],
                    "first_party": first_party,
                    "grant_types": ["authorization_code"],
                    "allowed_scopes": ["openid"],
                }),
            )
            .await?;
        let field = |k: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("client response lacks {k}"))
        };
        Ok(Tenant {
            slug: slug.to_owned(),
            issuer,
            client_id: field("client_id")?,
            client_secret: field("client_secret")?,
        })
    }

    /// A user with a password.
    pub async fn user(&self, slug: &str, username: &str, password: &str) -> Result<()> {
        self.post(
            &format!("tenants/{slug}/users"),
            &json!({ "username": username, "password": password }),
        )
        .await
        .map(|_| ())
    }
}
