//! How an API (an OAuth "resource server") accepts Tessera access tokens.
//!
//! [`Validator::authenticate`] takes the `Authorization` header of a request and the
//! current time, and returns the caller's [`AccessToken`] or a [`Rejection`] that says
//! which RFC 6750 §3.1 challenge to answer with:
//!
//! - a **JWT access token** (RFC 9068) is checked locally: the signature against the
//!   tenant's published keys ([`jwks::JwksCache`]: cached, fetched again for an unknown
//!   `kid` at most once per [`jwks::MIN_REFETCH_SECS`]), header `typ` `at+jwt`, `iss`,
//!   `aud` containing this API's identifier, `exp` ([`jwt`]);
//! - a **reference token** (`tra_…`, opaque) is sent to the tenant's introspection
//!   endpoint (RFC 7662) with this API's own client credentials, and the answer is kept
//!   for a short while, never past the token's `exp` ([`introspection`]).
//!
//! The endpoints of the authorization server come from its RFC 8414 metadata, fetched
//! on first use. [`challenge`] builds the `WWW-Authenticate` values and the RFC 9728
//! metadata. The crate knows no web framework; `src/main.rs` wires it into poem.

pub mod challenge;
pub mod config;
pub mod introspection;
pub mod jwks;
pub mod jwt;

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

pub use challenge::Rejection;
pub use config::Config;
pub use jwt::{AccessToken, Expected, TokenFormat};

/// The prefix of Tessera's reference (opaque) access tokens.
pub const REFERENCE_TOKEN_PREFIX: &str = "tra_";

/// Longest bearer token looked at; anything longer is refused before any work.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What the authorization server's metadata (RFC 8414 §2) says this API needs.
#[derive(Debug, Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
    introspection_endpoint: Option<String>,
}

/// The endpoints found in the metadata, with their caches.
struct Discovered {
    jwks: jwks::JwksCache,
    introspection: Option<introspection::Introspector>,
}

/// Validates the access tokens presented to one API (one `aud`) of one tenant (one
/// `iss`). Cheap to share: wrap it in an `Arc` and clone that.
pub struct Validator {
    config: Config,
    http: reqwest::Client,
    discovered: OnceCell<Discovered>,
    /// When discovery last failed (Unix seconds, 0 = never), so an unreachable server is
    /// asked at most once per [`jwks::MIN_REFETCH_SECS`].
    discovery_failed_at: AtomicU64,
}

impl Validator {
    /// A validator for `config`; nothing is fetched until the first token arrives.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            config,
            http,
            discovered: OnceCell::new(),
            discovery_failed_at: AtomicU64::new(0),
        })
    }

    /// The configuration this validator checks against.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Validates the request's `Authorization` header value (`None` when absent) at
    /// `now` (Unix seconds).
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        now: u64,
    ) -> Result<AccessToken, Rejection> {
        let token = challenge::bearer_token(authorization)?;
        self.validate(token, now).await
    }

    /// Validates a bearer token taken from a request.
    pub async fn validate(&self, token: &str, now: u64) -> Result<AccessToken, Rejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::invalid("token too long"));
        }
        let discovered = self.discovered(now).await?;
        let expected = self.config.expected();
        if token.starts_with(REFERENCE_TOKEN_PREFIX) {
            let Some(introspector) = &discovered.introspection else {
                // Without credentials the API cannot ask (RFC 7662 §2.1 wants the caller
                // authenticated), so the token cannot be accepted.
                return Err(Rejection::invalid(
                    "reference tokens are not accepted (no introspection credentials)",
                ));
            };
            return introspector.validate(token, &expected, now).await;
        }
        // Header checks first, so a token that cannot be ours never makes us fetch keys.
        let (_, kid) = jwt::read_header(token)?;
        let keys = discovered.jwks.keys_for(&kid, now).await?;
        jwt::verify(token, &keys, &expected, now)
    }

    async fn discovered(&self, now: u64) -> Result<&Discovered, Rejection> {
        if let Some(d) = self.discovered.get() {
            return Ok(d);
        }
        let failed_at = self.discovery_failed_at.load(Ordering::Relaxed);
        if failed_at != 0 && now < failed_at.saturating_add(jwks::MIN_REFETCH_SECS) {
            return Err(Rejection::Unavailable(
                "authorization server metadata unavailable".into(),
            ));
        }
        match self.discovered.get_or_try_init(|| self.discover()).await {
            Ok(d) => Ok(d),
            Err(e) => {
                self.discovery_failed_at
                    .store(now.max(1), Ordering::Relaxed);
                tracing::warn!(error = %format!("{e:#}"), "authorization server metadata");
                Err(Rejection::Unavailable(
                    "authorization server metadata unavailable".into(),
                ))
            }
        }
    }

    async fn discover(&self) -> anyhow::Result<Discovered> {
        let url = metadata_url(&self.config.issuer)?;
        let md: Metadata = self
            .http
            .get(url.clone())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        // RFC 8414 §3.3: the metadata is only good for the issuer it was asked for.
        anyhow::ensure!(
            md.issuer == self.config.issuer,
            "{url} names issuer {}, not {}",
            md.issuer,
            self.config.issuer
        );
        let introspection = match (&self.config.introspection, md.introspection_endpoint) {
            (Some(credentials), Some(endpoint)) => Some(introspection::Introspector::new(
                self.http.clone(),
                Url::parse(&endpoint)?,
                credentials.clone(),
                self.config.introspection_cache_secs,
            )),
            (Some(_), None) => anyhow::bail!("{url} has no introspection_endpoint"),
            (None, _) => None,
        };
        Ok(Discovered {
            jwks: jwks::JwksCache::new(self.http.clone(), Url::parse(&md.jwks_uri)?),
            introspection,
        })
    }
}

/// The RFC 8414 §3.1 metadata URL of `issuer`: `/.well-known/oauth-authorization-server`
/// inserted between the host and the path (`https://id.example/t/acme` →
/// `https://id.example/.well-known/oauth-authorization-server/t/acme`).
pub fn metadata_url(issuer: &str) -> anyhow::Result<Url> {
    well_known(issuer, "oauth-authorization-server")
}

/// `/.well-known/{suffix}` inserted into `identifier` between its host and its path,
/// a terminating `/` dropped (RFC 8414 §3.1, RFC 9728 §3.1).
pub fn well_known(identifier: &str, suffix: &str) -> anyhow::Result<Url> {
    let mut url = Url::parse(identifier)?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("/.well-known/{suffix}{path}"));
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use poem::{
        EndpointExt, Route, Server, get, handler,
        listener::{Acceptor, Listener, TcpListener},
        post,
        web::{Data, Json},
    };
    use serde_json::{Value, json};

    use super::*;
    use crate::jwt::tests::{NOW, TestKey};

    /// A tenant as the validator sees it: RFC 8414 metadata, JWKS, introspection.
    struct Tenant {
        issuer: String,
        metadata_issuer: String,
        jwks: Value,
    }

    #[handler]
    fn metadata(t: Data<&Arc<Tenant>>) -> Json<Value> {
        Json(json!({
            "issuer": t.metadata_issuer,
            "jwks_uri": format!("{}/jwks.json", t.issuer),
            "introspection_endpoint": format!("{}/introspect", t.issuer),
        }))
    }

    #[handler]
    fn jwks(t: Data<&Arc<Tenant>>) -> Json<Value> {
        Json(t.jwks.clone())
    }

    #[handler]
    fn introspect(t: Data<&Arc<Tenant>>) -> Json<Value> {
        Json(json!({
            "active": true, "token_type": "Bearer", "aud": "https://a.example/",
            "scope": "read:things", "client_id": "svc", "sub": "svc", "iss": t.issuer,
            "exp": NOW + 60, "iat": NOW,
        }))
    }

    /// A running tenant publishing `key`, and a validator for API A there.
    async fn tenant(key: &TestKey, metadata_issuer: Option<&str>) -> (String, Validator) {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let issuer = format!("http://{addr}/t/acme");
        let t = Arc::new(Tenant {
            issuer: issuer.clone(),
            metadata_issuer: metadata_issuer.unwrap_or(&issuer).to_owned(),
            jwks: json!({ "keys": [key.jwk] }),
        });
        let app = Route::new()
            .at(
                "/.well-known/oauth-authorization-server/t/acme",
                get(metadata),
            )
            .at("/t/acme/jwks.json", get(jwks))
            .at("/t/acme/introspect", post(introspect))
            .data(t);
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        let config = Config::from_vars(|name| match name {
            "ISSUER" => Some(issuer.clone()),
            "AUDIENCE" => Some("https://a.example/".into()),
            "INTROSPECTION_CLIENT_ID" => Some("api-a".into()),
            "INTROSPECTION_CLIENT_SECRET" => Some("secret".into()),
            _ => None,
        })
        .unwrap();
        (issuer, Validator::new(config).unwrap())
    }

    fn claims(issuer: &str, aud: &str) -> Value {
        json!({
            "iss": issuer, "sub": "svc", "aud": aud, "client_id": "svc",
            "scope": "read:things", "exp": NOW + 60, "iat": NOW, "jti": "j",
        })
    }

    #[tokio::test]
    async fn a_validator_discovers_the_keys_and_checks_jwts_and_reference_tokens() {
        let key = TestKey::es256("k1");
        let (issuer, validator) = tenant(&key, None).await;

        let good = key.access_token(&claims(&issuer, "https://a.example/"));
        let at = validator
            .authenticate(Some(&format!("Bearer {good}")), NOW)
            .await
            .unwrap();
        assert_eq!(at.format, TokenFormat::Jwt);
        assert_eq!(at.scopes, ["read:things"]);

        let other_api = key.access_token(&claims(&issuer, "https://b.example/"));
        assert_eq!(
            validator.validate(&other_api, NOW).await,
            Err(Rejection::invalid("wrong audience"))
        );
        let id_token = key.sign(Some("JWT"), &claims(&issuer, "https://a.example/"));
        assert_eq!(
            validator.validate(&id_token, NOW).await,
            Err(Rejection::invalid(
                "not an access token (typ is not at+jwt)"
            ))
        );

        let reference = validator.validate("tra_opaque", NOW).await.unwrap();
        assert_eq!(reference.format, TokenFormat::Reference);
        assert_eq!(
            validator.authenticate(None, NOW).await,
            Err(Rejection::Missing)
        );
    }

    #[tokio::test]
    async fn metadata_for_another_issuer_is_not_used() {
        let key = TestKey::es256("k1");
        let (issuer, validator) = tenant(&key, Some("http://evil.example/t/acme")).await;
        let good = key.access_token(&claims(&issuer, "https://a.example/"));
        assert!(matches!(
            validator.validate(&good, NOW).await,
            Err(Rejection::Unavailable(_))
        ));
    }

    #[test]
    fn metadata_url_inserts_the_well_known_part_before_the_tenant_path() {
        let url = metadata_url("http://127.0.0.1:8000/t/acme").unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8000/.well-known/oauth-authorization-server/t/acme"
        );
    }

    #[test]
    fn well_known_drops_a_terminating_slash() {
        let host_only = well_known("https://a.example/", "oauth-protected-resource").unwrap();
        assert_eq!(
            host_only.as_str(),
            "https://a.example/.well-known/oauth-protected-resource"
        );
        let with_path = well_known("https://api.example/v1/", "oauth-protected-resource").unwrap();
        assert_eq!(
            with_path.as_str(),
            "https://api.example/.well-known/oauth-protected-resource/v1"
        );
    }
}
