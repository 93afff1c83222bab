//! Browser flows the end-to-end tests share: a tenant with a client and the user
//! `ann`, an authorization with PKCE, the login and consent forms, the second-factor
//! page, TOTP codes (computed with totp-rs), recovery codes, and the token requests a
//! client makes (code redemption, refresh, introspection).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken assumption must fail the test loudly"
)]

use api::state::Clock;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::{Reply, TestApp, hidden_field};

/// The redirect URI every flow client registers.
pub const REDIRECT: &str = "https://app.example.com/callback";
/// `ann`'s password.
pub const PASSWORD: &str = "correct horse battery";
/// The `acr` value that asks for a second factor.
pub const ACR_MFA: &str = "urn:tessera:acr:mfa";

/// A relying party of a fresh tenant, and its user `ann`.
pub struct Rp {
    /// The tenant.
    pub slug: String,
    /// The issuer URL the browser uses.
    pub issuer: String,
    /// The client.
    pub client_id: String,
    /// Its secret (`None` for a public client).
    pub secret: Option<String>,
    /// `ann`'s id.
    pub user_id: String,
}

/// A tenant with `policy`, a first-party confidential client and the user `ann`;
/// `base` is the address the browser uses (the public URL).
pub async fn setup(app: &TestApp, base: &str, policy: &str, first_party: bool) -> Rp {
    let slug = tenant(app, json!({ "mfa_policy": policy })).await;
    client_at(
        app,
        base,
        &slug,
        json!({ "client_type": "confidential", "first_party": first_party }),
    )
    .await
}

/// A fresh tenant with `settings` and the user `ann`; returns its slug.
pub async fn tenant(app: &TestApp, settings: Value) -> String {
    let slug = crate::unique_slug("flow");
    let tenant = app
        .post(
            "/api/v1/tenants",
            json!({ "slug": slug, "display_name": "Acme", "settings": settings }),
        )
        .await;
    assert_eq!(tenant.status, 201, "{}", tenant.body);
    app.create_user(&slug, "ann", PASSWORD).await;
    slug
}

/// Registers a client in `slug` (`registration` over a client named "Web" with
/// [`REDIRECT`]), its issuer at the server's own address.
pub async fn client(app: &TestApp, slug: &str, registration: Value) -> Rp {
    client_at(app, &app.address, slug, registration).await
}

/// [`client`] with the issuer at `base`, the address the browser uses (a public URL).
pub async fn client_at(app: &TestApp, base: &str, slug: &str, registration: Value) -> Rp {
    let mut body = json!({ "name": "Web", "redirect_uris": [REDIRECT] });
    for (k, v) in registration.as_object().unwrap() {
        body[k] = v.clone();
    }
    let created = app
        .post(&format!("/api/v1/tenants/{slug}/clients"), body)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let users = app
        .get(&format!("/api/v1/tenants/{slug}/users?username=ann"))
        .await;
    Rp {
        issuer: format!("{base}/t/{slug}"),
        slug: slug.to_owned(),
        client_id: created.body["client_id"].as_str().unwrap().to_owned(),
        secret: created.body["client_secret"].as_str().map(str::to_owned),
        user_id: users.body["items"][0]["id"]
            .as_str()
            .expect("the tenant has the user ann")
            .to_owned(),
    }
}

/// Where a 303 answer sends the browser (fails on any other status).
pub fn location(resp: &reqwest::Response) -> Url {
    assert_eq!(resp.status(), 303, "expected a redirect");
    crate::location(resp)
}

/// The query parameter `name` of `url`.
pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A PKCE pair (RFC 7636).
pub struct Pkce {
    /// The `code_verifier`.
    pub verifier: String,
    /// Its S256 `code_challenge`.
    pub challenge: String,
}

/// A fresh PKCE pair.
pub fn pkce() -> Pkce {
    let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

/// Sends `browser` to `/authorize` with a code request for `rp` (all scopes, state
/// `st-123`, nonce `n-456`, the S256 `challenge`); each of `extra` replaces the
/// parameter of that name, and an empty value leaves it out.
pub async fn authorize_request(
    browser: &Client,
    rp: &Rp,
    challenge: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", &rp.client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email offline_access"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(key, _)| key != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    browser
        .get(format!("{}/authorize", rp.issuer))
        .query(&params)
        .send()
        .await
        .unwrap()
}

/// Starts an authorization in `browser` (see [`authorize_request`]); returns where the
/// server sends it.
pub async fn authorize(browser: &Client, rp: &Rp, pkce: &Pkce, extra: &[(&str, &str)]) -> Url {
    location(&authorize_request(browser, rp, &pkce.challenge, extra).await)
}

/// Fills in and posts the form of the page at `url` with `fields` (its interaction
/// and CSRF fields added); returns where the server sends the browser.
pub async fn submit(browser: &Client, url: &Url, fields: &[(&str, &str)]) -> Url {
    let html = browser
        .get(url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let interaction = hidden_field(&html, "interaction");
    let csrf = hidden_field(&html, "csrf_token");
    let mut form = vec![
        ("interaction", interaction.as_str()),
        ("csrf_token", csrf.as_str()),
    ];
    form.extend_from_slice(fields);
    let resp = browser.post(url.as_str()).form(&form).send().await.unwrap();
    location(&resp)
}

/// Submits `ann`'s `password` on the login page at `login_url` (checking the page is
/// not cached and cannot be framed); returns the answer.
pub async fn password(browser: &Client, login_url: &Url, password: &str) -> reqwest::Response {
    let page = browser.get(login_url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let html = page.text().await.unwrap();
    browser
        .post(login_url.join("login").unwrap())
        .form(&[
            ("interaction", hidden_field(&html, "interaction").as_str()),
            ("csrf_token", hidden_field(&html, "csrf_token").as_str()),
            ("username", "ann"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Answers the consent page at `consent_url` with `decision` (`allow` or `deny`);
/// returns the page's HTML and the answer.
pub async fn consent(
    browser: &Client,
    consent_url: &Url,
    decision: &str,
) -> (String, reqwest::Response) {
    let page = browser.get(consent_url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let answer = browser
        .post(consent_url.join("consent").unwrap())
        .form(&[
            ("interaction", hidden_field(&html, "interaction").as_str()),
            ("csrf_token", hidden_field(&html, "csrf_token").as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap();
    (html, answer)
}

/// Runs authorize → login → consent (when asked) and returns the code.
pub async fn get_code(browser: &Client, rp: &Rp, challenge: &str) -> String {
    let mut resp = authorize_request(browser, rp, challenge, &[]).await;
    let mut next = location(&resp);
    if next.path().ends_with("/login") {
        resp = password(browser, &next, PASSWORD).await;
        next = location(&resp);
    }
    if next.path().ends_with("/consent") {
        resp = consent(browser, &next, "allow").await.1;
        next = location(&resp);
    }
    assert!(next.as_str().starts_with(REDIRECT), "{next}");
    assert_eq!(query(&next, "state").as_deref(), Some("st-123"));
    assert_eq!(query(&next, "iss").as_deref(), Some(rp.issuer.as_str()));
    query(&next, "code").unwrap()
}

/// A token request authenticated the way the client is registered by default
/// (`client_secret_basic`, or `client_id` alone for a public client).
pub async fn token(app: &TestApp, rp: &Rp, params: &[(&str, &str)]) -> Reply {
    let mut form: Vec<(&str, &str)> = params.to_vec();
    let mut req = app.http.post(format!("{}/token", rp.issuer));
    match &rp.secret {
        Some(secret) => req = req.basic_auth(&rp.client_id, Some(secret)),
        None => form.push(("client_id", &rp.client_id)),
    }
    TestApp::reply(req.form(&form).send().await.unwrap()).await
}

/// Redeems `code` with its PKCE `verifier`; returns the answer, whatever it is.
pub async fn redeem_code(app: &TestApp, rp: &Rp, code: &str, verifier: &str) -> Reply {
    token(
        app,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Redeems `refresh_token`; returns the answer, whatever it is.
pub async fn refresh(app: &TestApp, rp: &Rp, refresh_token: &str) -> Reply {
    token(
        app,
        rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// A code flow's refresh token (`ann` signs in in a fresh browser).
pub async fn refresh_token_of(app: &TestApp, rp: &Rp) -> String {
    refresh_token_in(app, rp, &app.browser()).await
}

/// A code flow's refresh token, `ann` signing in (or already signed in) in `browser`.
pub async fn refresh_token_in(app: &TestApp, rp: &Rp, browser: &Client) -> String {
    let pkce = pkce();
    let code = get_code(browser, rp, &pkce.challenge).await;
    redeem_code(app, rp, &code, &pkce.verifier).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The introspection answer for `token`, authenticated as `rp`.
pub async fn introspect(app: &TestApp, rp: &Rp, token: &str) -> Value {
    let mut req = app
        .http
        .post(format!("{}/introspect", rp.issuer))
        .form(&[("token", token)]);
    if let Some(secret) = &rp.secret {
        req = req.basic_auth(&rp.client_id, Some(secret));
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// The second-factor page's HTML.
pub async fn mfa_page(browser: &Client, mfa_url: &Url) -> String {
    let page = browser.get(mfa_url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    page.text().await.unwrap()
}

/// Posts `method` with `code` on the second-factor page.
pub async fn submit_code(
    browser: &Client,
    mfa_url: &Url,
    html: &str,
    method: &str,
    code: &str,
) -> reqwest::Response {
    let mut action = mfa_url.clone();
    action.set_query(None);
    browser
        .post(action)
        .form(&[
            ("interaction", hidden_field(html, "interaction").as_str()),
            ("csrf_token", hidden_field(html, "csrf_token").as_str()),
            ("method", method),
            ("code", code),
        ])
        .send()
        .await
        .unwrap()
}

/// The base32 key shown on an enrolment page.
pub fn shown_key(html: &str) -> String {
    let start = html.find("Key: <code>").unwrap() + "Key: <code>".len();
    html[start..].split('<').next().unwrap().to_owned()
}

/// The TOTP code for `key` at the server's current time, `steps` steps later.
pub fn code(app: &TestApp, key: &str, steps: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(key).unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build()
        .unwrap();
    let now = app.clock.now().timestamp() + steps * 30;
    totp.generate(u64::try_from(now).unwrap()).to_string()
}

/// The recovery codes listed on a page.
pub fn shown_codes(html: &str) -> Vec<String> {
    html.split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect()
}

/// Redeems the code in `callback`; returns the token response (which must be a 200).
pub async fn redeem(app: &TestApp, rp: &Rp, callback: &Url, pkce: &Pkce) -> Value {
    assert!(callback.as_str().starts_with(REDIRECT), "{callback}");
    let code = query(callback, "code").unwrap();
    let reply = redeem_code(app, rp, &code, &pkce.verifier).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// The (unverified) claims of the ID token in a token response.
pub fn id_claims(tokens: &Value) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(tokens["id_token"].as_str().unwrap())
        .unwrap()
        .claims
}

/// Enrols TOTP at login under `required`; returns (key, recovery codes, callback).
pub async fn enrol_at_login(
    app: &TestApp,
    browser: &Client,
    rp: &Rp,
    pkce: &Pkce,
) -> (String, Vec<String>, Url) {
    let login = authorize(browser, rp, pkce, &[]).await;
    let to_mfa = password(browser, &login, PASSWORD).await;
    let mfa_url = location(&to_mfa);
    assert!(mfa_url.path().ends_with("/login/mfa"), "{mfa_url}");
    let html = mfa_page(browser, &mfa_url).await;
    assert!(html.contains("<svg"), "a server-rendered QR code");
    let key = shown_key(&html);
    let wrong = submit_code(browser, &mfa_url, &html, "enrol_totp", "000000").await;
    assert_eq!(wrong.status(), 401);
    let html = mfa_page(browser, &mfa_url).await;
    assert_eq!(shown_key(&html), key, "the pending seed is kept");
    let done = submit_code(browser, &mfa_url, &html, "enrol_totp", &code(app, &key, 0)).await;
    assert_eq!(done.status(), 200);
    let codes_html = done.text().await.unwrap();
    let codes = shown_codes(&codes_html);
    assert_eq!(codes.len(), 10);
    let next = submit_code(browser, &mfa_url, &codes_html, "continue", "").await;
    (key, codes, location(&next))
}

/// Signs `ann` in with the password in a fresh browser under `rp` (optional policy,
/// no factor yet); returns the browser.
pub async fn signed_in_with_password(app: &TestApp, rp: &Rp) -> Client {
    let browser = app.browser();
    let login = authorize(&browser, rp, &pkce(), &[]).await;
    let back = location(&password(&browser, &login, PASSWORD).await);
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    browser
}

/// Sets up TOTP on the account page of a signed-in `browser`; returns the key.
pub async fn add_totp_on_account_page(app: &TestApp, browser: &Client, rp: &Rp) -> String {
    let page = browser
        .get(format!("{}/account/totp", rp.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the setup page");
    let html = page.text().await.unwrap();
    let key = shown_key(&html);
    let done = browser
        .post(format!("{}/account/totp", rp.issuer))
        .form(&[
            ("csrf_token", hidden_field(&html, "csrf_token").as_str()),
            ("code", code(app, &key, 0).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        done.status().is_success() || done.status() == 303,
        "{}",
        done.status()
    );
    key
}
