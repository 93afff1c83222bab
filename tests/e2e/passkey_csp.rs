//! The Content-Security-Policy of the pages that offer a passkey: exactly the passkey
//! script may run (a fresh nonce per response, the served bytes pinned by `integrity`),
//! and `form-action` lets the forms' answers redirect to the client (Chromium applies
//! `form-action` to the redirects after a form post). Pages without a passkey keep the
//! strict policy that runs no script.

use base64::{Engine, engine::general_purpose::STANDARD};
use e2e::TestApp;
use reqwest::Client;
use sha2::{Digest, Sha256};
use url::Url;

use e2e::flow::{PASSWORD, REDIRECT, authorize, location, password, pkce, setup};

const STRICT: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// A server whose public URL is `http://localhost:<port>` (WebAuthn needs a host name).
async fn spawn() -> (TestApp, String) {
    let app =
        TestApp::spawn_with(|s| s.public_url = s.public_url.replace("127.0.0.1", "localhost"))
            .await;
    let base = app.address.replace("127.0.0.1", "localhost");
    (app, base)
}

/// A page's CSP directives and HTML.
struct Page {
    directives: Vec<String>,
    html: String,
}

impl Page {
    async fn get(browser: &Client, url: &str) -> Page {
        let resp = browser.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {url}");
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        Page {
            directives: csp.split(';').map(|d| d.trim().to_owned()).collect(),
            html: resp.text().await.unwrap(),
        }
    }

    /// The directive named `name` (with its name), if present.
    fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .map(String::as_str)
            .find(|d| d.split(' ').next() == Some(name))
    }

    /// The value of `attr` on the page's one `<script>` element.
    fn script_attr(&self, attr: &str) -> String {
        assert_eq!(self.html.matches("<script").count(), 1, "{}", self.html);
        let tag = self.html.split("<script").nth(1).unwrap();
        let tag = tag.split('>').next().unwrap();
        let marker = format!(" {attr}=\"");
        assert!(tag.contains(&marker), "{attr} in {tag}");
        let start = tag.find(&marker).unwrap() + marker.len();
        tag[start..].split('"').next().unwrap().to_owned()
    }
}

/// Checks that `page` lets exactly the served passkey script run.
async fn only_the_passkey_script_runs(browser: &Client, base: &str, page: &Page) -> String {
    let nonce = page.script_attr("nonce");
    assert!(nonce.len() >= 22, "an unguessable nonce: {nonce}");
    assert_eq!(
        page.directive("script-src"),
        Some(format!("script-src 'nonce-{nonce}'").as_str()),
        "{:?}",
        page.directives
    );
    assert!(
        !page
            .directives
            .iter()
            .any(|d| d.contains("unsafe-inline") && !d.starts_with("style-src")),
        "{:?}",
        page.directives
    );
    assert_eq!(
        page.directive("frame-ancestors"),
        Some("frame-ancestors 'none'")
    );
    assert_eq!(page.directive("connect-src"), Some("connect-src 'self'"));
    let src = page.script_attr("src");
    assert!(src.starts_with("/assets/passkeys.js"), "{src}");
    let served = browser
        .get(format!("{base}{src}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        page.script_attr("integrity"),
        format!("sha256-{}", STANDARD.encode(Sha256::digest(&served))),
        "integrity pins the served bytes"
    );
    nonce
}

#[tokio::test]
async fn the_login_page_lets_exactly_its_passkey_script_run_with_a_fresh_nonce() {
    let (app, base) = spawn().await;
    let rp = setup(&app, &base, "optional", true).await;
    let browser = app.browser();
    let login = authorize(&browser, &rp, &pkce(), &[]).await;

    let first = Page::get(&browser, login.as_str()).await;
    let again = Page::get(&browser, login.as_str()).await;

    assert!(first.html.contains("Sign in with a passkey"));
    let nonce = only_the_passkey_script_runs(&browser, &base, &first).await;
    let next = only_the_passkey_script_runs(&browser, &base, &again).await;
    assert_ne!(nonce, next, "a nonce per response");
}

#[tokio::test]
async fn a_password_posted_on_a_passkey_login_page_may_be_redirected_to_the_client() {
    let (app, base) = spawn().await;
    let rp = setup(&app, &base, "optional", true).await;
    let browser = app.browser();
    let login = authorize(&browser, &rp, &pkce(), &[]).await;
    let page = Page::get(&browser, login.as_str()).await;

    let answer = location(&password(&browser, &login, PASSWORD).await);

    assert!(answer.as_str().starts_with(REDIRECT), "{answer}");
    form_action_allows_the_client(&page);
}

#[tokio::test]
async fn the_second_factor_page_offering_a_passkey_lets_its_forms_return_to_the_client() {
    let (app, base) = spawn().await;
    let rp = setup(&app, &base, "required", true).await;
    let browser = app.browser();
    let login = authorize(&browser, &rp, &pkce(), &[]).await;
    let mfa_url = location(&password(&browser, &login, PASSWORD).await);

    let page = Page::get(&browser, mfa_url.as_str()).await;

    assert!(page.html.contains("Use a passkey"), "{}", page.html);
    only_the_passkey_script_runs(&browser, &base, &page).await;
    form_action_allows_the_client(&page);
}

#[tokio::test]
async fn the_account_page_lets_its_passkey_script_run_and_its_forms_post_only_here() {
    let (app, base) = spawn().await;
    let rp = setup(&app, &base, "optional", true).await;
    let browser = app.browser();
    let first = browser
        .get(format!("{}/account", rp.issuer))
        .send()
        .await
        .unwrap();
    let login = location(&first);
    location(&password(&browser, &login, PASSWORD).await);

    let page = Page::get(&browser, &format!("{}/account", rp.issuer)).await;

    assert!(page.html.contains("Add a passkey"), "{}", page.html);
    only_the_passkey_script_runs(&browser, &base, &page).await;
    assert_eq!(page.directive("form-action"), Some("form-action 'self'"));
}

#[tokio::test]
async fn pages_without_a_passkey_keep_the_policy_that_runs_no_script() {
    // No host name in the public URL: no relying party, so no passkey anywhere.
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "optional", false).await;
    let browser = app.browser();
    let login = authorize(&browser, &rp, &pkce(), &[]).await;
    let login_page = Page::get(&browser, login.as_str()).await;
    let consent = location(&password(&browser, &login, PASSWORD).await);
    let consent_page = Page::get(&browser, consent.as_str()).await;
    // A tenant with passkeys possible but its MFA policy off offers none either.
    let (named, base) = spawn().await;
    let off = setup(&named, &base, "off", true).await;
    let off_browser = named.browser();
    let off_login = authorize(&off_browser, &off, &pkce(), &[]).await;
    let off_page = Page::get(&off_browser, off_login.as_str()).await;

    for (name, page) in [
        ("login", &login_page),
        ("consent", &consent_page),
        ("login with mfa off", &off_page),
    ] {
        assert_eq!(page.directives.join("; "), STRICT, "{name}");
        assert!(!page.html.contains("<script"), "{name}: {}", page.html);
    }
}

/// The page's forms may post here and be redirected to the client's registered origin.
fn form_action_allows_the_client(page: &Page) {
    let client = Url::parse(REDIRECT).unwrap().origin().ascii_serialization();
    assert_eq!(
        page.directive("form-action"),
        Some(format!("form-action 'self' {client}").as_str()),
        "{:?}",
        page.directives
    );
}
