//! `--provision`: a tenant, a client and users through Tessera's management API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::cli::Args;

/// What provisioning yields: where to point the scenarios and as whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provisioned {
    /// The tenant's issuer.
    pub issuer: String,
    /// The new client's id.
    pub client_id: String,
    /// The new client's secret.
    pub client_secret: String,
}

/// Management API calls with an admin token.
struct Api<'a> {
    http: &'a Client,
    base: String,
    token: &'a str,
}

impl Api<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.base)
    }

    /// POSTs JSON; the status and the parsed body (`Null` when empty or not JSON).
    async fn post(&self, path: &str, body: &Value) -> Result<(StatusCode, Value)> {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {}", self.url(path)))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Value)> {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(self.token)
            .send()
            .await
            .with_context(|| format!("GET {}", self.url(path)))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

fn failure(what: &str, status: StatusCode, body: &Value) -> anyhow::Error {
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            " (check --admin-token / TESSERA_ADMIN_TOKEN)"
        }
        _ => "",
    };
    anyhow!("{what}: HTTP {status}{hint}: {body}")
}

/// The issuer of tenant `slug`: the API's answer, else `{base}/t/{slug}`.
fn issuer_of(body: &Value, base: &str, slug: &str) -> String {
    body.get("issuer")
        .and_then(Value::as_str)
        .map_or_else(|| format!("{base}/t/{slug}"), str::to_owned)
}

/// Creates (or reuses) the tenant, creates a client and the users.
pub async fn provision(http: &Client, args: &Args) -> Result<Provisioned> {
    let base = args
        .base_url
        .as_deref()
        .ok_or_else(|| anyhow!("--provision needs --base-url"))?
        .trim_end_matches('/')
        .to_owned();
    let token = args
        .admin_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| anyhow!("--provision needs --admin-token or TESSERA_ADMIN_TOKEN"))?;
    let api = Api {
        http,
        base: base.clone(),
        token,
    };
    let slug = &args.tenant;

    let (status, body) = api
        .post(
            "tenants",
            &json!({
                "slug": slug,
                "display_name": "Bench",
                // One driver is one address and one client: lift the limits that count
                // every request, or the run measures the limiter (failures still count).
                "settings": { "rate_limits": {
                    "authorize": { "per_address": 0, "per_target": 0 },
                    "account": { "per_address": 0, "per_target": 0 },
                } },
            }),
        )
        .await?;
    let issuer = match status {
        s if s.is_success() => {
            eprintln!("provision: created tenant {slug}");
            issuer_of(&body, &base, slug)
        }
        StatusCode::CONFLICT => {
            eprintln!("provision: tenant {slug} exists, reusing it");
            let (status, body) = api.get(&format!("tenants/{slug}")).await?;
            if !status.is_success() {
                return Err(failure(&format!("reading tenant {slug}"), status, &body));
            }
            issuer_of(&body, &base, slug)
        }
        _ => return Err(failure("creating the tenant", status, &body)),
    };

    let (status, body) = api
        .post(
            &format!("tenants/{slug}/clients"),
            &json!({
                "name": "tessera-load",
                "client_type": "confidential",
                "redirect_uris": [args.redirect_uri],
                "first_party": true,
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            }),
        )
        .await?;
    if !status.is_success() {
        return Err(failure("creating the client", status, &body));
    }
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("client response lacks {k}: {body}"))
    };
    let (client_id, client_secret) = (field("client_id")?, field("client_secret")?);
    eprintln!("provision: created client {client_id}");

    let started = Instant::now();
    let (created, existing) = (AtomicU64::new(0), AtomicU64::new(0));
    let users_path = format!("tenants/{slug}/users");
    stream::iter(0..args.users)
        .map(|n| {
            let (api, users_path, created, existing) = (&api, &users_path, &created, &existing);
            async move {
                let username = args.user(n);
                let (status, body) = api
                    .post(
                        users_path,
                        &json!({ "username": username, "password": args.password }),
                    )
                    .await?;
                match status {
                    s if s.is_success() => created.fetch_add(1, Ordering::Relaxed),
                    StatusCode::CONFLICT => existing.fetch_add(1, Ordering::Relaxed),
                    _ => return Err(failure(&format!("creating user {username}"), status, &body)),
                };
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(args.provision_parallelism.max(1))
        .try_collect::<()>()
        .await?;
    let existing = existing.into_inner();
    eprintln!(
        "provision: {} users created, {existing} existed already ({:.1} s)",
        created.into_inner(),
        started.elapsed().as_secs_f64()
    );
    if existing > 0 {
        eprintln!("provision: existing users keep their password; it must be --password");
    }
    Ok(Provisioned {
        issuer,
        client_id,
        client_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_from_the_api_or_the_convention() {
        let base = "https://id.example.com";
        assert_eq!(
            issuer_of(&json!({"issuer": "https://id.example.com/t/b"}), base, "b"),
            "https://id.example.com/t/b"
        );
        assert_eq!(
            issuer_of(&Value::Null, base, "bench"),
            "https://id.example.com/t/bench"
        );
    }

    #[test]
    fn auth_failures_hint_at_the_token() {
        let e = failure(
            "creating the tenant",
            StatusCode::UNAUTHORIZED,
            &json!({"error": "x"}),
        );
        assert!(e.to_string().contains("TESSERA_ADMIN_TOKEN"));
    }
}
