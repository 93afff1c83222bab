//! Reference tokens: asking the tenant's introspection endpoint (RFC 7662) and keeping
//! the answer for a short while.
//!
//! The API authenticates as its own confidential client with HTTP Basic (RFC 7662
//! §2.1, RFC 6749 §2.3.1). An answer is kept for at most
//! [`crate::Config::introspection_cache_secs`] and never past the token's `exp`
//! (RFC 7662 §4: a cached answer may hide a revocation for as long as it is kept, so
//! keep it short). Keys are SHA-256 hashes of the tokens, so the cache holds no
//! bearer token.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{Expiry, future::Cache};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::{
    Rejection,
    config::ClientCredentials,
    jwt::{AccessToken, Audience, Expected, TokenFormat, split_scope},
};

/// Answers kept at most (a flood of made-up tokens evicts old ones, nothing more).
pub const CACHE_CAPACITY: u64 = 10_000;

/// A kept answer and how long it may be kept.
#[derive(Clone)]
struct Kept {
    outcome: Result<AccessToken, Rejection>,
    ttl: Duration,
}

struct KeptFor;

impl Expiry<[u8; 32], Arc<Kept>> for KeptFor {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Kept>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &[u8; 32],
        value: &Arc<Kept>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Introspects reference tokens for one API.
pub struct Introspector {
    http: reqwest::Client,
    endpoint: Url,
    credentials: ClientCredentials,
    max_keep_secs: u64,
    cache: Cache<[u8; 32], Arc<Kept>>,
}

impl Introspector {
    /// Asks `endpoint` as `credentials`, keeping answers up to `max_keep_secs`.
    pub fn new(
        http: reqwest::Client,
        endpoint: Url,
        credentials: ClientCredentials,
        max_keep_secs: u64,
    ) -> Self {
        Self {
            http,
            endpoint,
            credentials,
            max_keep_secs,
            cache: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .expire_after(KeptFor)
                .build(),
        }
    }

    /// The token's standing at `now`: from the cache, or from the endpoint.
    pub async fn validate(
        &self,
        token: &str,
        expected: &Expected<'_>,
        now: u64,
    ) -> Result<AccessToken, Rejection> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(kept) = self.cache.get(&key).await {
            return still_valid(&kept.outcome, now);
        }
        let answer = self.ask(token).await?;
        let outcome = interpret(&answer, expected, now);
        if let Some(ttl) = keep_for(&outcome, self.max_keep_secs, now) {
            self.cache
                .insert(
                    key,
                    Arc::new(Kept {
                        outcome: outcome.clone(),
                        ttl,
                    }),
                )
                .await;
        }
        outcome
    }

    async fn ask(&self, token: &str) -> Result<Value, Rejection> {
        // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let res = self
            .http
            .post(self.endpoint.clone())
            .basic_auth(
                encode(&self.credentials.client_id),
                Some(encode(self.credentials.client_secret.expose_secret())),
            )
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if !res.status().is_success() {
            // 401 here means *our* credentials are wrong, not the caller's token.
            tracing::warn!(status = %res.status(), "introspection refused");
            return Err(Rejection::Unavailable("introspection refused".into()));
        }
        res.json().await.map_err(|e| unavailable(&e))
    }
}

fn unavailable(e: &reqwest::Error) -> Rejection {
    tracing::warn!(error = %e, "introspection failed");
    Rejection::Unavailable("introspection unavailable".into())
}

/// A kept outcome at `now`: an accepted token stops being accepted at its `exp`.
fn still_valid(
    outcome: &Result<AccessToken, Rejection>,
    now: u64,
) -> Result<AccessToken, Rejection> {
    match outcome {
        Ok(token) if now >= token.expires_at => Err(Rejection::invalid("expired")),
        other => other.clone(),
    }
}

/// How long to keep `outcome` decided at `now`: an acceptance until `exp` at the
/// latest, a refusal for the full time (a token never comes back to life).
fn keep_for(
    outcome: &Result<AccessToken, Rejection>,
    max_keep_secs: u64,
    now: u64,
) -> Option<Duration> {
    let secs = match outcome {
        Ok(token) => token.expires_at.saturating_sub(now).min(max_keep_secs),
        Err(Rejection::InvalidToken(_)) => max_keep_secs,
        Err(_) => 0,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Reads an introspection answer (RFC 7662 §2.2) for this API at `now`.
///
/// Accepted only if `active` is `true`, the token is an access token (Tessera answers
/// for refresh tokens too, with `token_type` `refresh_token`), `aud` names this API,
/// `iss` (when present) is the tenant, and `exp` (when present) is still ahead.
pub fn interpret(
    answer: &Value,
    expected: &Expected<'_>,
    now: u64,
) -> Result<AccessToken, Rejection> {
    if answer.get("active") != Some(&Value::Bool(true)) {
        return Err(Rejection::invalid("inactive"));
    }
    let text = |name: &str| answer.get(name).and_then(Value::as_str);
    if text("token_type").is_some_and(|t| t.eq_ignore_ascii_case("refresh_token")) {
        return Err(Rejection::invalid("not an access token"));
    }
    let aud: Option<Audience> = answer
        .get("aud")
        .and_then(|a| serde_json::from_value(a.clone()).ok());
    if !aud.is_some_and(|a| a.contains(expected.audience)) {
        return Err(Rejection::invalid("wrong audience"));
    }
    if text("iss").is_some_and(|iss| iss != expected.issuer) {
        return Err(Rejection::invalid("wrong issuer"));
    }
    let exp = answer.get("exp").and_then(Value::as_u64);
    if exp.is_some_and(|exp| now >= exp) {
        return Err(Rejection::invalid("expired"));
    }
    Ok(AccessToken {
        subject: text("sub").unwrap_or_default().to_owned(),
        client_id: text("client_id").unwrap_or_default().to_owned(),
        scopes: split_scope(text("scope")),
        expires_at: exp.unwrap_or(u64::MAX),
        format: TokenFormat::Reference,
        claims: answer.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use poem::{
        EndpointExt, Request, Route, Server, handler,
        listener::{Acceptor, Listener, TcpListener},
        post,
        web::{Data, Form},
    };
    use secrecy::SecretString;
    use serde_json::json;

    use super::*;
    use crate::jwt::tests::{API_A, API_B, EXPECTED_A, ISSUER, NOW};

    /// An introspection endpoint that knows one live token, counting requests and
    /// keeping the last `Authorization` header.
    #[derive(Default)]
    struct Endpoint {
        requests: AtomicUsize,
        authorization: Mutex<Option<String>>,
    }

    #[handler]
    fn serve_introspection(
        req: &Request,
        endpoint: Data<&Arc<Endpoint>>,
        Form(form): Form<std::collections::HashMap<String, String>>,
    ) -> poem::web::Json<Value> {
        endpoint.requests.fetch_add(1, Ordering::SeqCst);
        *endpoint.authorization.lock().unwrap() = req.header("authorization").map(str::to_owned);
        let live = form.get("token").map(String::as_str) == Some("tra_live")
            && form.get("token_type_hint").map(String::as_str) == Some("access_token");
        poem::web::Json(if live {
            active(json!(API_A))
        } else {
            json!({"active": false})
        })
    }

    async fn introspector() -> (Arc<Endpoint>, Introspector) {
        let endpoint = Arc::new(Endpoint::default());
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let app = Route::new()
            .at("/introspect", post(serve_introspection))
            .data(endpoint.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        let credentials = ClientCredentials {
            client_id: "api a".into(),
            client_secret: SecretString::from("s:cret"),
        };
        let url = Url::parse(&format!("http://{addr}/introspect")).unwrap();
        (
            endpoint,
            Introspector::new(reqwest::Client::new(), url, credentials, 30),
        )
    }

    #[tokio::test]
    async fn a_live_token_is_introspected_once_then_served_from_the_cache() {
        let (endpoint, introspector) = introspector().await;
        let at = introspector
            .validate("tra_live", &EXPECTED_A, NOW)
            .await
            .unwrap();
        assert_eq!(at.format, TokenFormat::Reference);
        introspector
            .validate("tra_live", &EXPECTED_A, NOW + 1)
            .await
            .unwrap();
        assert_eq!(endpoint.requests.load(Ordering::SeqCst), 1);
        // Basic of the form-encoded id and secret (RFC 6749 §2.3.1): "api+a:s%3Acret".
        assert_eq!(
            endpoint.authorization.lock().unwrap().as_deref(),
            Some("Basic YXBpK2E6cyUzQWNyZXQ=")
        );
        // Kept, but not past the token's exp.
        assert_eq!(
            introspector
                .validate("tra_live", &EXPECTED_A, NOW + 600)
                .await,
            Err(Rejection::invalid("expired"))
        );
    }

    #[tokio::test]
    async fn an_inactive_token_is_refused_and_the_refusal_kept() {
        let (endpoint, introspector) = introspector().await;
        for _ in 0..3 {
            assert_eq!(
                introspector.validate("tra_revoked", &EXPECTED_A, NOW).await,
                Err(Rejection::invalid("inactive"))
            );
        }
        assert_eq!(endpoint.requests.load(Ordering::SeqCst), 1);
    }

    fn active(aud: Value) -> Value {
        json!({
            "active": true,
            "token_type": "Bearer",
            "aud": aud,
            "scope": "read:things",
            "client_id": "svc-1",
            "sub": "svc-1",
            "iss": ISSUER,
            "exp": NOW + 600,
            "iat": NOW,
        })
    }

    #[test]
    fn an_active_answer_for_this_api_is_accepted() {
        let at = interpret(&active(json!(API_A)), &EXPECTED_A, NOW).unwrap();
        assert_eq!(at.format, TokenFormat::Reference);
        assert_eq!(at.scopes, ["read:things"]);
        assert_eq!(at.subject, "svc-1");
        assert_eq!(at.expires_at, NOW + 600);
        let both = interpret(
            &active(json!([API_A, format!("{ISSUER}/userinfo")])),
            &EXPECTED_A,
            NOW,
        );
        assert!(both.is_ok());
    }

    #[test]
    fn inactive_or_another_apis_tokens_are_refused() {
        assert_eq!(
            interpret(&json!({"active": false}), &EXPECTED_A, NOW),
            Err(Rejection::invalid("inactive"))
        );
        assert_eq!(
            interpret(&json!({"active": "true"}), &EXPECTED_A, NOW),
            Err(Rejection::invalid("inactive"))
        );
        assert_eq!(
            interpret(&active(json!(API_B)), &EXPECTED_A, NOW),
            Err(Rejection::invalid("wrong audience"))
        );
        let mut no_aud = active(json!(API_A));
        no_aud.as_object_mut().unwrap().remove("aud");
        assert_eq!(
            interpret(&no_aud, &EXPECTED_A, NOW),
            Err(Rejection::invalid("wrong audience"))
        );
    }

    #[test]
    fn a_refresh_token_is_not_an_access_token() {
        let mut refresh = active(json!(API_A));
        refresh["token_type"] = json!("refresh_token");
        assert_eq!(
            interpret(&refresh, &EXPECTED_A, NOW),
            Err(Rejection::invalid("not an access token"))
        );
    }

    #[test]
    fn another_issuer_or_a_past_exp_is_refused() {
        let mut other = active(json!(API_A));
        other["iss"] = json!("http://127.0.0.1:8000/t/other");
        assert_eq!(
            interpret(&other, &EXPECTED_A, NOW),
            Err(Rejection::invalid("wrong issuer"))
        );
        assert_eq!(
            interpret(&active(json!(API_A)), &EXPECTED_A, NOW + 600),
            Err(Rejection::invalid("expired"))
        );
    }

    #[test]
    fn answers_are_kept_briefly_and_never_past_exp() {
        let ok = interpret(&active(json!(API_A)), &EXPECTED_A, NOW);
        assert_eq!(keep_for(&ok, 30, NOW), Some(Duration::from_secs(30)));
        assert_eq!(keep_for(&ok, 30, NOW + 590), Some(Duration::from_secs(10)));
        assert_eq!(keep_for(&ok, 0, NOW), None);
        let refused = Err(Rejection::invalid("inactive"));
        assert_eq!(keep_for(&refused, 30, NOW), Some(Duration::from_secs(30)));
        let down = Err(Rejection::Unavailable("x".into()));
        assert_eq!(
            keep_for(&down, 30, NOW),
            None,
            "an outage is not remembered"
        );
    }

    #[test]
    fn a_kept_acceptance_expires_with_the_token() {
        let ok = interpret(&active(json!(API_A)), &EXPECTED_A, NOW);
        assert!(still_valid(&ok, NOW + 599).is_ok());
        assert_eq!(
            still_valid(&ok, NOW + 600),
            Err(Rejection::invalid("expired"))
        );
    }
}
