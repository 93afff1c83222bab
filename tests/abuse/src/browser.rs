//! A browser with no JavaScript, as a person signing in uses it: authorize -> login
//! page -> username and password -> consent if asked -> code -> token. Forms are
//! read with the load driver's generic parser (`tests/load/src/forms.rs`), so hidden
//! fields (CSRF, interaction) are kept whatever the templates add.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Client, StatusCode, redirect};
use serde_json::Value;
use url::Url;

use crate::forms::{Credentials, plan_submission};
use crate::pkce::{Rng, s256_challenge};
use crate::provision::{REDIRECT_URI, Tenant};

/// Hops (redirects and form submissions) allowed in one sign-in.
const MAX_HOPS: usize = 12;

/// Why a sign-in failed: a short `kind` (the step and its status, counted in the
/// report) and the specifics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Low-cardinality class, e.g. `login 429` or `token timeout`.
    pub kind: String,
    /// The URL, the first bytes of the page, ...
    pub detail: String,
}

impl Failure {
    fn new(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// The kind of a request that got no response (`timeout`, `connect`, ...).
pub fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "transport"
    }
}

/// An HTTP client speaking from `source` (a loopback address of its own, so the
/// server sees distinct clients), following no redirect; with `cookies`, a fresh
/// cookie jar (a new browser).
pub fn client(source: IpAddr, cookies: bool, timeout: Duration) -> reqwest::Result<Client> {
    Client::builder()
        .user_agent(concat!("tessera-abuse/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect::Policy::none())
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .local_address(source)
        .cookie_store(cookies)
        .timeout(timeout)
        .build()
}

/// The authorization request URL of `t`'s client (PKCE S256), and its `state`.
pub fn authorize_url(
    t: &Tenant,
    verifier: &str,
    rng: &mut Rng,
) -> Result<(Url, String), url::ParseError> {
    let state = rng.token(12);
    let mut url = Url::parse(&format!("{}/authorize", t.issuer))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &t.client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("nonce", &rng.token(12))
        .append_pair("code_challenge", &s256_challenge(verifier))
        .append_pair("code_challenge_method", "S256");
    Ok((url, state))
}

/// A page as the browser got it.
pub struct Page {
    /// Where it came from.
    pub url: Url,
    /// Its status.
    pub status: StatusCode,
    /// `Location`, resolved against `url`.
    pub location: Option<Url>,
    /// Whether it is HTML.
    pub html: bool,
    /// The body.
    pub body: String,
}

/// Sends a GET (no `form`) or a form POST and reads the whole answer.
pub async fn fetch(
    http: &Client,
    url: &Url,
    form: Option<&[(String, String)]>,
) -> Result<Page, reqwest::Error> {
    let rb = match form {
        Some(f) => http.post(url.clone()).form(f),
        None => http.get(url.clone()),
    };
    let resp = rb.send().await?;
    let status = resp.status();
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| url.join(l).ok());
    let html = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("html"));
    let body = resp.text().await?;
    Ok(Page {
        url: url.clone(),
        status,
        location,
        html,
        body,
    })
}

/// Whether `url` is the client's redirect URI (query aside).
fn is_redirect_uri(url: &Url) -> bool {
    let mut bare = url.clone();
    bare.set_query(None);
    bare.as_str() == REDIRECT_URI
}

/// At most 160 characters of a page, on one line.
fn snippet(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(160)
        .collect()
}

/// One complete sign-in of `username` at `t` in a new browser speaking from `source`,
/// ending with the code exchanged for tokens. Returns the requests it took.
pub async fn sign_in(
    t: &Tenant,
    username: &str,
    password: &str,
    source: IpAddr,
    timeout: Duration,
    rng: &mut Rng,
) -> Result<u64, Failure> {
    let http = client(source, true, timeout).map_err(|e| Failure::new("client", e.to_string()))?;
    let verifier = rng.token(32);
    let (mut url, state) =
        authorize_url(t, &verifier, rng).map_err(|e| Failure::new("issuer", e.to_string()))?;
    let creds = Credentials {
        username,
        password,
        user_field: "username",
        pass_field: "password",
    };
    let mut form: Option<Vec<(String, String)>> = None;
    let mut what = "authorize";
    let mut logins = 0;
    let mut requests = 0;
    for _ in 0..MAX_HOPS {
        let page = fetch(&http, &url, form.take().as_deref())
            .await
            .map_err(|e| Failure::new(format!("{what} {}", transport_kind(&e)), e.to_string()))?;
        requests += 1;
        if page.status.is_redirection() {
            let next = page
                .location
                .ok_or_else(|| Failure::new(format!("{what} redirect"), "no Location"))?;
            if is_redirect_uri(&next) {
                let code = code_from(&next, &state)?;
                exchange(&http, t, &code, &verifier).await?;
                return Ok(requests + 1);
            }
            url = next;
            what = "redirect";
            continue;
        }
        if page.status != StatusCode::OK || !page.html {
            return Err(Failure::new(
                format!("{what} {}", page.status.as_u16()),
                snippet(&page.body),
            ));
        }
        let sub = plan_submission(&page.url, &page.body, &creds)
            .map_err(|e| Failure::new(format!("{what} page"), format!("{e:#}")))?;
        if sub.is_login {
            logins += 1;
            if logins > 1 {
                return Err(Failure::new("login shown again", snippet(&page.body)));
            }
            what = "login";
        } else {
            what = "consent";
        }
        url = sub.url;
        form = sub.body;
    }
    Err(Failure::new("too many hops", url.to_string()))
}

/// The code from the redirect back to the client, checking `state`.
fn code_from(redirect: &Url, state: &str) -> Result<String, Failure> {
    let q: HashMap<String, String> = redirect.query_pairs().into_owned().collect();
    if let Some(e) = q.get("error") {
        return Err(Failure::new(
            format!("authorize error {e}"),
            q.get("error_description").cloned().unwrap_or_default(),
        ));
    }
    if q.get("state").map(String::as_str) != Some(state) {
        return Err(Failure::new("state mismatch", redirect.to_string()));
    }
    q.get("code")
        .cloned()
        .ok_or_else(|| Failure::new("no code", redirect.to_string()))
}

/// The token request (client_secret_basic) for `code`; fails unless tokens come back.
async fn exchange(http: &Client, t: &Tenant, code: &str, verifier: &str) -> Result<(), Failure> {
    let resp = http
        .post(format!("{}/token", t.issuer))
        .basic_auth(&t.client_id, Some(&t.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(|e| Failure::new(format!("token {}", transport_kind(&e)), e.to_string()))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| Failure::new(format!("token {}", transport_kind(&e)), e.to_string()))?;
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if status != StatusCode::OK || json.get("access_token").and_then(Value::as_str).is_none() {
        let code = json.get("error").and_then(Value::as_str).unwrap_or("");
        return Err(Failure::new(
            format!("token {} {code}", status.as_u16())
                .trim_end()
                .to_owned(),
            snippet(&body),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_the_redirect_with_the_right_state() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            code_from(&u("http://127.0.0.1:9/cb?code=abc&state=s1"), "s1").unwrap(),
            "abc"
        );
        assert_eq!(
            code_from(&u("http://127.0.0.1:9/cb?code=abc&state=s2"), "s1")
                .unwrap_err()
                .kind,
            "state mismatch"
        );
        assert_eq!(
            code_from(
                &u("http://127.0.0.1:9/cb?error=access_denied&state=s1"),
                "s1"
            )
            .unwrap_err()
            .kind,
            "authorize error access_denied"
        );
    }

    #[test]
    fn only_the_registered_redirect_uri_ends_the_flow() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(is_redirect_uri(&u("http://127.0.0.1:9/cb?code=x")));
        assert!(!is_redirect_uri(&u("http://127.0.0.1:9/cb2?code=x")));
        assert!(!is_redirect_uri(&u("http://127.0.0.1:8/cb?code=x")));
    }

    #[test]
    fn authorization_requests_carry_pkce_and_a_fresh_state() {
        let t = Tenant {
            slug: "a".into(),
            issuer: "http://127.0.0.1:1/t/a".into(),
            client_id: "cid".into(),
            client_secret: "s".into(),
        };
        let mut rng = Rng::for_worker(1);
        let (url, state) = authorize_url(&t, "verifier", &mut rng).unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/t/a/authorize");
        assert_eq!(q["state"], state);
        assert_eq!(q["code_challenge"], s256_challenge("verifier"));
        assert_eq!(q["code_challenge_method"], "S256");
        assert_ne!(authorize_url(&t, "verifier", &mut rng).unwrap().1, state);
    }
}
