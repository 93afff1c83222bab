//! The operations of each scenario, as one worker performs them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, HeaderValue, LOCATION};
use reqwest::{Certificate, Client, RequestBuilder, StatusCode, redirect};
use serde_json::Value;
use url::Url;
use url::form_urlencoded::byte_serialize;

use crate::cli::{Args, Scenario};
use crate::cookies::CookieJar;
use crate::error::{OpError, OpResult};
use crate::forms::{Credentials, plan_submission};
use crate::pkce::{Rng, s256_challenge};

/// Hops (redirects and form submissions) allowed in one authorization flow.
const MAX_HOPS: usize = 16;

/// How the driver's HTTP clients are built.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra trusted CA.
    pub ca: Option<Certificate>,
    /// Accept any certificate.
    pub insecure: bool,
}

impl HttpConfig {
    /// From the command line (reads `--ca-cert`).
    pub fn from_args(args: &Args) -> Result<Self> {
        let ca = match &args.ca_cert {
            Some(path) => {
                let pem =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                Some(
                    Certificate::from_pem(&pem)
                        .with_context(|| format!("parsing {}", path.display()))?,
                )
            }
            None => None,
        };
        Ok(Self {
            timeout: Duration::from_secs_f64(args.timeout.max(0.001)),
            ca,
            insecure: args.insecure,
        })
    }

    /// A client that keeps one connection alive and follows no redirect.
    pub fn client(&self) -> Result<Client> {
        let mut b = Client::builder()
            .user_agent(concat!("tessera-load/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect::Policy::none())
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .timeout(self.timeout);
        if let Some(ca) = &self.ca {
            b = b.add_root_certificate(ca.clone());
        }
        if self.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        Ok(b.build()?)
    }
}

/// Endpoints from the discovery document.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// The discovery document itself.
    pub discovery: Url,
    /// `authorization_endpoint`.
    pub authorization: Url,
    /// `token_endpoint`.
    pub token: Url,
    /// `jwks_uri`.
    pub jwks: Url,
    /// `introspection_endpoint`, when published.
    pub introspection: Option<Url>,
}

/// Reads `{issuer}/.well-known/openid-configuration`.
pub async fn discover(http: &Client, issuer: &str) -> Result<Endpoints> {
    let issuer = issuer.trim_end_matches('/');
    let discovery = Url::parse(&format!("{issuer}/.well-known/openid-configuration"))
        .with_context(|| format!("issuer {issuer:?} is not a URL"))?;
    let resp = http
        .get(discovery.clone())
        .send()
        .await
        .with_context(|| format!("GET {discovery}"))?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if status != StatusCode::OK {
        return Err(OpError::status("discovery", status, &body))
            .context(format!("GET {discovery}"));
    }
    let doc: Value = serde_json::from_slice(&body).context("discovery document is not JSON")?;
    let url = |key: &str| -> Result<Url> {
        let s = doc
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("discovery document lacks {key}"))?;
        Url::parse(s).with_context(|| format!("{key} {s:?}"))
    };
    match doc.get("issuer").and_then(Value::as_str) {
        Some(i) if i.trim_end_matches('/') == issuer => {}
        other => eprintln!("warning: discovery says issuer {other:?}, not {issuer}"),
    }
    Ok(Endpoints {
        discovery,
        authorization: url("authorization_endpoint")?,
        token: url("token_endpoint")?,
        jwks: url("jwks_uri")?,
        introspection: url("introspection_endpoint").ok(),
    })
}

/// What the workers need to know about the server and the client.
#[derive(Debug)]
pub struct Target {
    /// Command-line options (issuer and client filled in by provisioning).
    pub args: Args,
    /// Endpoints from discovery.
    pub ep: Endpoints,
    redirect: Url,
    basic: HeaderValue,
}

/// Work done by one successful operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// HTTP requests sent.
    pub requests: u64,
    /// Password logins submitted.
    pub logins: u64,
}

impl Done {
    const ONE: Self = Self {
        requests: 1,
        logins: 0,
    };
}

/// One simulated client: its connection, its browser cookies and its tokens.
#[derive(Debug)]
pub struct Worker {
    /// Worker number.
    pub id: u64,
    http: Client,
    jar: CookieJar,
    refresh_token: Option<String>,
    access_token: Option<Arc<str>>,
    rng: Rng,
    flows: u64,
}

impl Worker {
    /// Worker `id`; `access_token` is the token the introspect scenario checks.
    pub fn new(id: u64, http: Client, access_token: Option<Arc<str>>) -> Self {
        Self {
            id,
            http,
            jar: CookieJar::default(),
            refresh_token: None,
            access_token,
            rng: Rng::for_worker(id),
            flows: 0,
        }
    }
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
fn basic_auth(client_id: &str, secret: &str) -> Result<HeaderValue> {
    let id: String = byte_serialize(client_id.as_bytes()).collect();
    let secret: String = byte_serialize(secret.as_bytes()).collect();
    let mut v = HeaderValue::from_str(&format!(
        "Basic {}",
        STANDARD.encode(format!("{id}:{secret}"))
    ))?;
    v.set_sensitive(true);
    Ok(v)
}

/// Whether `url` is the client's redirect URI (query aside).
fn is_redirect_to(url: &Url, redirect: &Url) -> bool {
    url.scheme() == redirect.scheme()
        && url.host_str() == redirect.host_str()
        && url.port_or_known_default() == redirect.port_or_known_default()
        && url.path() == redirect.path()
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("html"))
}

/// The code from the redirect back to the client, checking `state`.
fn code_from_redirect(redirect: &Url, state: &str) -> OpResult<String> {
    let q: HashMap<String, String> = redirect.query_pairs().into_owned().collect();
    if let Some(e) = q.get("error") {
        let desc = q.get("error_description").cloned().unwrap_or_default();
        return Err(OpError::new(format!("authorize error {e}"), desc));
    }
    if q.get("state").map(String::as_str) != Some(state) {
        return Err(OpError::new(
            "authorize state mismatch",
            redirect.to_string(),
        ));
    }
    q.get("code")
        .cloned()
        .ok_or_else(|| OpError::new("authorize no code", redirect.to_string()))
}

impl Target {
    /// Checks the redirect URI and prepares the client authentication.
    pub fn new(args: Args, ep: Endpoints) -> Result<Self> {
        let redirect = Url::parse(&args.redirect_uri)
            .with_context(|| format!("--redirect-uri {:?}", args.redirect_uri))?;
        let basic = basic_auth(&args.client_id, &args.client_secret)?;
        Ok(Self {
            args,
            ep,
            redirect,
            basic,
        })
    }

    /// Sends a request and reads the whole response.
    async fn send(
        &self,
        what: &str,
        rb: RequestBuilder,
    ) -> OpResult<(StatusCode, HeaderMap, Vec<u8>)> {
        let resp = rb.send().await.map_err(|e| OpError::transport(what, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| OpError::transport(what, &e))?;
        Ok((status, headers, Vec::from(body)))
    }

    /// A token request with client_secret_basic; the parsed 200 response.
    async fn token(&self, w: &Worker, form: &[(&str, &str)]) -> OpResult<Value> {
        let rb = w
            .http
            .post(self.ep.token.clone())
            .header(AUTHORIZATION, self.basic.clone())
            .form(form);
        let (status, _, body) = self.send("token", rb).await?;
        if status != StatusCode::OK {
            return Err(OpError::status("token", status, &body));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| OpError::new("token bad json", e.to_string()))?;
        if v.get("access_token").and_then(Value::as_str).is_none() {
            return Err(OpError::new(
                "token no access_token",
                crate::error::snippet(&body),
            ));
        }
        Ok(v)
    }

    /// grant_type=client_credentials.
    async fn client_credentials(&self, w: &Worker, resource: Option<&str>) -> OpResult<Value> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = &self.args.cc_scope {
            form.push(("scope", s));
        }
        if let Some(r) = resource {
            form.push(("resource", r));
        }
        self.token(w, &form).await
    }

    /// An access token for the introspect scenario.
    pub async fn mint_introspect_token(&self, w: &Worker) -> OpResult<Arc<str>> {
        let v = self
            .client_credentials(w, self.args.introspect_resource.as_deref())
            .await?;
        v.get("access_token")
            .and_then(Value::as_str)
            .map(Arc::from)
            .ok_or_else(|| OpError::new("token no access_token", ""))
    }

    async fn get_ok(&self, w: &Worker, what: &str, url: &Url) -> OpResult<Done> {
        let (status, _, body) = self.send(what, w.http.get(url.clone())).await?;
        if status != StatusCode::OK {
            return Err(OpError::status(what, status, &body));
        }
        if body.is_empty() {
            return Err(OpError::new(format!("{what} empty"), url.to_string()));
        }
        Ok(Done::ONE)
    }

    async fn introspect(&self, w: &Worker) -> OpResult<Done> {
        let ep =
            self.ep.introspection.as_ref().ok_or_else(|| {
                OpError::new("introspect unsupported", "no introspection_endpoint")
            })?;
        let token = w
            .access_token
            .clone()
            .ok_or_else(|| OpError::new("introspect no token", ""))?;
        let rb = w
            .http
            .post(ep.clone())
            .header(AUTHORIZATION, self.basic.clone())
            .form(&[("token", &*token), ("token_type_hint", "access_token")]);
        let (status, _, body) = self.send("introspect", rb).await?;
        if status != StatusCode::OK {
            return Err(OpError::status("introspect", status, &body));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| OpError::new("introspect bad json", e.to_string()))?;
        if v.get("active") != Some(&Value::Bool(true)) {
            return Err(OpError::new(
                "introspect inactive",
                crate::error::snippet(&body),
            ));
        }
        Ok(Done::ONE)
    }

    async fn refresh(&self, w: &mut Worker) -> OpResult<Done> {
        let rt = w
            .refresh_token
            .clone()
            .ok_or_else(|| OpError::new("refresh no token", ""))?;
        let v = self
            .token(
                w,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await?;
        if let Some(new) = v.get("refresh_token").and_then(Value::as_str) {
            w.refresh_token = Some(new.to_owned());
        }
        Ok(Done::ONE)
    }

    /// authorize -> (login and consent forms as they come) -> code -> token.
    async fn code_flow(&self, w: &mut Worker) -> OpResult<(Value, Done)> {
        let verifier = w.rng.token(32);
        let state = w.rng.token(12);
        let nonce = w.rng.token(12);
        let mut url = self.ep.authorization.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.args.client_id)
                .append_pair("redirect_uri", &self.args.redirect_uri)
                .append_pair("scope", &self.args.scope)
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &s256_challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
            if let Some(r) = &self.args.resource {
                q.append_pair("resource", r);
            }
        }
        // Spread flows over the users the same way the reference driver does.
        let username = self
            .args
            .user(w.id.wrapping_mul(7919).wrapping_add(w.flows));
        w.flows += 1;
        let creds = Credentials {
            username: &username,
            password: &self.args.password,
            user_field: &self.args.user_field,
            pass_field: &self.args.pass_field,
        };
        let mut done = Done::default();
        let mut body: Option<Vec<(String, String)>> = None;
        let mut what = "authorize";
        for _ in 0..MAX_HOPS {
            let mut rb = match body.take() {
                Some(form) => w.http.post(url.clone()).form(&form),
                None => w.http.get(url.clone()),
            };
            if let Some(cookies) = w.jar.header_for(&url) {
                rb = rb.header(COOKIE, cookies);
            }
            let (status, headers, page) = self.send(what, rb).await?;
            done.requests += 1;
            w.jar.store(&url, &headers);
            if status.is_redirection() {
                let location = headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        OpError::new(
                            format!("{what} {} without location", status.as_u16()),
                            url.to_string(),
                        )
                    })?;
                let next = url.join(location).map_err(|e| {
                    OpError::new(format!("{what} bad location"), format!("{location:?}: {e}"))
                })?;
                if is_redirect_to(&next, &self.redirect) {
                    let code = code_from_redirect(&next, &state)?;
                    let v = self
                        .token(
                            w,
                            &[
                                ("grant_type", "authorization_code"),
                                ("code", &code),
                                ("redirect_uri", &self.args.redirect_uri),
                                ("code_verifier", &verifier),
                            ],
                        )
                        .await?;
                    done.requests += 1;
                    return Ok((v, done));
                }
                url = next;
                what = "redirect";
                continue;
            }
            if is_html(&headers) && (status.is_success() || status == StatusCode::UNAUTHORIZED) {
                let html = String::from_utf8_lossy(&page);
                let sub = plan_submission(&url, &html, &creds)
                    .map_err(|e| OpError::new(format!("{what} page"), format!("{e:#}")))?;
                if sub.is_login {
                    done.logins += 1;
                    if done.logins > 1 {
                        return Err(OpError::new(
                            "login rejected",
                            format!("login form shown again for {username}"),
                        ));
                    }
                    what = "login";
                } else {
                    what = "form";
                }
                url = sub.url;
                body = sub.body;
                continue;
            }
            return Err(OpError::status(what, status, &page));
        }
        Err(OpError::new("flow too many hops", url.to_string()))
    }

    /// One measured operation of scenario `sc`.
    pub async fn op(&self, sc: Scenario, w: &mut Worker) -> OpResult<Done> {
        match sc {
            Scenario::Discovery => self.get_ok(w, "discovery", &self.ep.discovery).await,
            Scenario::Jwks => self.get_ok(w, "jwks", &self.ep.jwks).await,
            Scenario::Cc => self
                .client_credentials(w, self.args.cc_resource.as_deref())
                .await
                .map(|_| Done::ONE),
            Scenario::Refresh => self.refresh(w).await,
            Scenario::Introspect => self.introspect(w).await,
            Scenario::Code => self.code_flow(w).await.map(|(_, d)| d),
            Scenario::Login => {
                w.jar.clear();
                self.code_flow(w).await.map(|(_, d)| d)
            }
        }
    }

    /// Unmeasured preparation of a worker: a login session for `code`, a
    /// refresh token for `refresh`, an access token for `introspect`.
    pub async fn setup(&self, sc: Scenario, w: &mut Worker) -> OpResult<()> {
        match sc {
            Scenario::Code | Scenario::Refresh => {
                w.jar.clear();
                let (v, _) = self.code_flow(w).await?;
                if sc == Scenario::Refresh {
                    let rt = v
                        .get("refresh_token")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            OpError::new(
                                "setup no refresh_token",
                                format!(
                                    "the code exchange gave no refresh token (scope {:?})",
                                    self.args.scope
                                ),
                            )
                        })?;
                    w.refresh_token = Some(rt.to_owned());
                } else if w.jar.is_empty() {
                    return Err(OpError::new(
                        "setup no session",
                        "no session cookie after login",
                    ));
                }
                Ok(())
            }
            Scenario::Introspect if w.access_token.is_none() => {
                w.access_token = Some(self.mint_introspect_token(w).await?);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Restores state an error may have consumed: a new session and refresh
    /// token after a failed `code` or `refresh`, a new access token once the
    /// checked one is no longer active. Failures here show up as errors of the
    /// next operation.
    pub async fn recover(&self, sc: Scenario, w: &mut Worker, e: &OpError) {
        match sc {
            Scenario::Code | Scenario::Refresh => {
                let _ = self.setup(sc, w).await;
            }
            Scenario::Introspect if e.kind == "introspect inactive" => {
                w.access_token = None;
                let _ = self.setup(sc, w).await;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_form_encodes_both_halves() {
        let v = basic_auth("my client", "s:e/c+r=t").unwrap();
        let raw = v.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(raw).unwrap()).unwrap();
        assert_eq!(decoded, "my+client:s%3Ae%2Fc%2Br%3Dt");
        assert!(v.is_sensitive());
    }

    #[test]
    fn codes_from_redirects() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            code_from_redirect(&u("http://c/cb?code=abc&state=s1"), "s1").unwrap(),
            "abc"
        );
        assert_eq!(
            code_from_redirect(&u("http://c/cb?code=abc&state=s2"), "s1")
                .unwrap_err()
                .kind,
            "authorize state mismatch"
        );
        let e = code_from_redirect(
            &u("http://c/cb?error=access_denied&error_description=no&state=s1"),
            "s1",
        )
        .unwrap_err();
        assert_eq!(
            (e.kind.as_str(), e.detail.as_str()),
            ("authorize error access_denied", "no")
        );
        assert_eq!(
            code_from_redirect(&u("http://c/cb?state=s1"), "s1")
                .unwrap_err()
                .kind,
            "authorize no code"
        );
    }

    #[test]
    fn redirect_matching_ignores_the_query_only() {
        let r = Url::parse("http://127.0.0.1:3199/cb").unwrap();
        let yes = Url::parse("http://127.0.0.1:3199/cb?code=x&state=y").unwrap();
        let other_path = Url::parse("http://127.0.0.1:3199/cb2?code=x").unwrap();
        let other_port = Url::parse("http://127.0.0.1:3198/cb?code=x").unwrap();
        assert!(is_redirect_to(&yes, &r));
        assert!(!is_redirect_to(&other_path, &r));
        assert!(!is_redirect_to(&other_port, &r));
        let https = Url::parse("https://app.example.com/cb").unwrap();
        assert!(is_redirect_to(
            &Url::parse("https://app.example.com:443/cb?code=1").unwrap(),
            &https
        ));
    }
}
