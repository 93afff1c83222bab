//! The tenant's published keys (its JWKS, RFC 7517 §5), fetched from the `jwks_uri`
//! of its metadata and kept.
//!
//! - Kept for the response's `Cache-Control: max-age` (Tessera sends 300 s), between
//!   [`MIN_REFETCH_SECS`] and [`MAX_AGE_CAP_SECS`].
//! - A token naming a `kid` we do not have makes us fetch again, since the tenant may
//!   have rotated its keys; but never more than once per [`MIN_REFETCH_SECS`], so a
//!   flood of made-up `kid`s costs the authorization server one request per window.
//! - If a fetch fails, the keys we have stay in use (a verified signature stays
//!   verified); with no keys at all the answer is 503, not 401.
//!
//! Tessera publishes a new key at least one JWKS `max-age` before it signs with it, so
//! in normal operation the refetch on an unknown `kid` never happens.

use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey, jwk::Jwk};
use serde_json::Value;
use url::Url;

use crate::{
    Rejection,
    jwt::{ALGORITHMS, Key},
};

/// At most one JWKS request per this many seconds, whatever tokens arrive.
pub const MIN_REFETCH_SECS: u64 = 30;
/// How long keys are kept when the response says nothing.
pub const DEFAULT_MAX_AGE_SECS: u64 = 300;
/// The longest keys are kept without asking again, whatever the response says.
pub const MAX_AGE_CAP_SECS: u64 = 3600;

#[derive(Clone, Default)]
struct State {
    keys: Arc<Vec<Key>>,
    /// When the keys were fetched (Unix seconds; 0 = never).
    fetched_at: u64,
    max_age: u64,
    /// When a fetch was last tried, successful or not (0 = never).
    attempted_at: u64,
}

impl State {
    fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }

    fn fresh(&self, now: u64) -> bool {
        self.fetched_at != 0 && now < self.fetched_at.saturating_add(self.max_age)
    }

    fn tried_lately(&self, now: u64) -> bool {
        self.attempted_at != 0 && now < self.attempted_at.saturating_add(MIN_REFETCH_SECS)
    }
}

/// One tenant's keys, fetched on demand.
pub struct JwksCache {
    http: reqwest::Client,
    uri: Url,
    state: RwLock<State>,
    /// Held while fetching, so concurrent requests with a new `kid` fetch once.
    fetching: tokio::sync::Mutex<()>,
}

impl JwksCache {
    /// Keys from `uri`, nothing fetched yet.
    pub fn new(http: reqwest::Client, uri: Url) -> Self {
        Self {
            http,
            uri,
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn snapshot(&self) -> State {
        self.state.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// The published keys, containing `kid` if the tenant publishes it at `now`.
    pub async fn keys_for(&self, kid: &str, now: u64) -> Result<Arc<Vec<Key>>, Rejection> {
        let seen = self.snapshot();
        if seen.fresh(now) && seen.has(kid) {
            return Ok(seen.keys);
        }
        let _fetching = self.fetching.lock().await;
        // Whoever held the lock before us may just have fetched what we need.
        let seen = self.snapshot();
        if seen.fresh(now) && seen.has(kid) {
            return Ok(seen.keys);
        }
        if seen.tried_lately(now) {
            return if seen.has(kid) {
                // Stale, but the last fetch failed: keep verifying with what we have.
                Ok(seen.keys)
            } else if seen.fetched_at == 0 {
                Err(Rejection::Unavailable("signing keys unavailable".into()))
            } else {
                Err(Rejection::invalid("unknown signing key"))
            };
        }
        match self.fetch().await {
            Ok((keys, max_age)) => {
                let next = State {
                    keys: Arc::new(keys),
                    fetched_at: now.max(1),
                    max_age,
                    attempted_at: now.max(1),
                };
                let found = next.has(kid);
                let keys = next.keys.clone();
                self.store(next);
                if found {
                    Ok(keys)
                } else {
                    Err(Rejection::invalid("unknown signing key"))
                }
            }
            Err(e) => {
                tracing::warn!(uri = %self.uri, error = %format!("{e:#}"), "JWKS fetch failed");
                let found = seen.has(kid);
                let keys = seen.keys.clone();
                self.store(State {
                    attempted_at: now.max(1),
                    ..seen
                });
                if found {
                    Ok(keys)
                } else {
                    Err(Rejection::Unavailable("signing keys unavailable".into()))
                }
            }
        }
    }

    fn store(&self, next: State) {
        if let Ok(mut state) = self.state.write() {
            *state = next;
        }
    }

    async fn fetch(&self) -> anyhow::Result<(Vec<Key>, u64)> {
        let res = self
            .http
            .get(self.uri.clone())
            .send()
            .await?
            .error_for_status()?;
        let max_age = res
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE_SECS)
            .clamp(MIN_REFETCH_SECS, MAX_AGE_CAP_SECS);
        let doc: Value = res.json().await?;
        Ok((parse_jwks(&doc), max_age))
    }
}

/// The `max-age` of a `Cache-Control` value (RFC 9111 §5.2.2.1).
fn max_age(cache_control: &str) -> Option<u64> {
    cache_control.split(',').find_map(|d| {
        let (name, value) = d.trim().split_once('=')?;
        if name.trim().eq_ignore_ascii_case("max-age") {
            value.trim().trim_matches('"').parse().ok()
        } else {
            None
        }
    })
}

/// The signing keys of a JWKS we can use: those with a `kid` and an `alg` Tessera signs
/// with, and no `use` other than `sig`. Others are left out one by one, so a key type
/// this crate does not know never hides the rest.
pub fn parse_jwks(doc: &Value) -> Vec<Key> {
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|k| {
            if k.get("use").is_some_and(|u| u != "sig") {
                return None;
            }
            let kid = k.get("kid")?.as_str()?.to_owned();
            let alg: Algorithm = k.get("alg")?.as_str()?.parse().ok()?;
            if !ALGORITHMS.contains(&alg) {
                return None;
            }
            let jwk: Jwk = serde_json::from_value(k.clone()).ok()?;
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some(Key { kid, alg, key })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use poem::{
        EndpointExt, Route, Server, get, handler,
        listener::{Acceptor, Listener, TcpListener},
        web::Data,
    };
    use serde_json::json;

    use super::*;
    use crate::jwt::tests::{EXPECTED_A, NOW, TestKey, claims_for};

    /// A JWKS endpoint whose document the test changes, counting requests.
    #[derive(Default)]
    struct Published {
        doc: Mutex<Value>,
        requests: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Published {
        fn set(&self, keys: &[&TestKey]) {
            let keys: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
            *self.doc.lock().unwrap() = json!({ "keys": keys });
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }
    }

    #[handler]
    fn serve_jwks(published: Data<&Arc<Published>>) -> poem::Response {
        published.requests.fetch_add(1, Ordering::SeqCst);
        if published.fail.load(Ordering::SeqCst) {
            return poem::Response::builder()
                .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
                .finish();
        }
        let body = published.doc.lock().unwrap().to_string();
        poem::Response::builder()
            .header("cache-control", "public, max-age=300")
            .content_type("application/json")
            .body(body)
    }

    async fn jwks_server() -> (Arc<Published>, JwksCache) {
        let published = Arc::new(Published::default());
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let app = Route::new()
            .at("/jwks.json", get(serve_jwks))
            .data(published.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        let uri = Url::parse(&format!("http://{addr}/jwks.json")).unwrap();
        (published, JwksCache::new(reqwest::Client::new(), uri))
    }

    #[tokio::test]
    async fn keys_are_fetched_once_and_reused_while_fresh() {
        let (published, cache) = jwks_server().await;
        let k1 = TestKey::es256("k1");
        published.set(&[&k1]);

        let token = k1.access_token(&claims_for(json!(crate::jwt::tests::API_A)));
        let keys = cache.keys_for("k1", NOW).await.unwrap();
        assert!(crate::jwt::verify(&token, &keys, &EXPECTED_A, NOW).is_ok());
        cache.keys_for("k1", NOW + 299).await.unwrap();
        assert_eq!(published.requests(), 1);

        cache.keys_for("k1", NOW + 300).await.unwrap();
        assert_eq!(published.requests(), 2, "fetched again after max-age");
    }

    #[tokio::test]
    async fn an_unknown_kid_fetches_again_to_find_a_rotated_key() {
        let (published, cache) = jwks_server().await;
        let k1 = TestKey::es256("k1");
        let k2 = TestKey::ed25519("k2");
        published.set(&[&k1]);
        cache.keys_for("k1", NOW).await.unwrap();

        published.set(&[&k1, &k2]);
        let keys = cache.keys_for("k2", NOW + MIN_REFETCH_SECS).await.unwrap();
        assert_eq!(published.requests(), 2);
        let token = k2.access_token(&claims_for(json!(crate::jwt::tests::API_A)));
        assert!(crate::jwt::verify(&token, &keys, &EXPECTED_A, NOW).is_ok());
    }

    #[tokio::test]
    async fn made_up_kids_cost_at_most_one_fetch_per_window() {
        let (published, cache) = jwks_server().await;
        let k1 = TestKey::es256("k1");
        published.set(&[&k1]);
        cache.keys_for("k1", NOW).await.unwrap();

        for i in 0..50 {
            let got = cache.keys_for(&format!("made-up-{i}"), NOW + 1).await;
            assert_eq!(got.unwrap_err(), Rejection::invalid("unknown signing key"));
        }
        assert_eq!(published.requests(), 1, "no fetch within the window");

        let got = cache.keys_for("made-up", NOW + MIN_REFETCH_SECS).await;
        assert!(got.is_err());
        assert_eq!(
            published.requests(),
            2,
            "one fetch once the window has passed"
        );
        // The known key is still served from the cache meanwhile.
        cache
            .keys_for("k1", NOW + MIN_REFETCH_SECS + 1)
            .await
            .unwrap();
        assert_eq!(published.requests(), 2);
    }

    #[tokio::test]
    async fn a_failed_fetch_keeps_the_old_keys_and_an_empty_cache_is_unavailable() {
        let (published, cache) = jwks_server().await;
        published.fail.store(true, Ordering::SeqCst);
        assert!(matches!(
            cache.keys_for("k1", NOW).await,
            Err(Rejection::Unavailable(_))
        ));

        let k1 = TestKey::es256("k1");
        published.set(&[&k1]);
        published.fail.store(false, Ordering::SeqCst);
        cache.keys_for("k1", NOW + MIN_REFETCH_SECS).await.unwrap();

        published.fail.store(true, Ordering::SeqCst);
        let later = NOW + MIN_REFETCH_SECS + DEFAULT_MAX_AGE_SECS;
        cache.keys_for("k1", later).await.unwrap();
        cache.keys_for("k1", later + 1).await.unwrap();
        assert_eq!(
            published.requests(),
            3,
            "stale keys used, refetch rate-bounded"
        );
    }

    #[test]
    fn keys_without_kid_or_with_foreign_algorithms_or_uses_are_left_out() {
        let good = TestKey::es256("good");
        let mut no_kid = TestKey::es256("x").jwk;
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut enc = TestKey::es256("enc").jwk;
        enc["use"] = json!("enc");
        let mut hs = TestKey::es256("hs").jwk;
        hs["alg"] = json!("HS256");
        let doc = json!({ "keys": [no_kid, enc, hs, {"kty": "weird", "kid": "w", "alg": "ES256"}, good.jwk] });
        let keys = parse_jwks(&doc);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "good");
        assert!(parse_jwks(&json!({})).is_empty());
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age("public, max-age=300"), Some(300));
        assert_eq!(max_age("MAX-AGE=\"60\""), Some(60));
        assert_eq!(max_age("no-cache"), None);
    }
}
