//! Per-endpoint limits per tenant and client address, and per target, counted in the
//! shared cache on the server clock (`tenancy::cache::rate_limit`): each endpoint that can
//! cause a secret check, an email, a cache write or a key generation refuses with 429
//! and `Retry-After` once over, in the endpoint's own error format.

use e2e::{TestApp, receiver::Receiver};
use reqwest::Response;
use serde_json::{Value, json};

struct Tenant {
    slug: String,
    issuer: String,
}

async fn tenant_with(app: &TestApp, rate_limits: Value) -> Tenant {
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = app
        .patch(
            &format!("/api/v1/tenants/{slug}"),
            json!({ "settings": { "rate_limits": rate_limits } }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    Tenant {
        issuer: format!("{}/t/{slug}", app.address),
        slug,
    }
}

fn trusting_localhost(s: &mut api::Settings) {
    s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

fn retry_after(resp: &Response) -> u64 {
    resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn forgot(app: &TestApp, t: &Tenant, login: &str) -> Response {
    app.http
        .post(format!("{}/password/forgot", t.issuer))
        .form(&[("login", login)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn forgot_password_requests_are_limited_per_login_name_and_per_address() {
    let app = TestApp::spawn().await;
    let t = tenant_with(
        &app,
        json!({ "password_forgot": { "per_address": 4, "per_target": 2 } }),
    )
    .await;
    app.create_user(&t.slug, "ann", "correct horse battery")
        .await;
    assert_eq!(forgot(&app, &t, "ann").await.status(), 200);
    assert_eq!(forgot(&app, &t, "ANN").await.status(), 200);
    let third = forgot(&app, &t, "ann").await;
    assert_eq!(third.status(), 429, "two emails per login name and hour");
    assert!((1..=3600).contains(&retry_after(&third)));
    assert!(
        third
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "a page, not JSON"
    );
    assert_eq!(
        forgot(&app, &t, "bob").await.status(),
        200,
        "per login name"
    );
    assert_eq!(
        forgot(&app, &t, "carol").await.status(),
        429,
        "four requests per address and hour"
    );
    app.clock.advance(3600);
    assert_eq!(forgot(&app, &t, "ann").await.status(), 200, "a new window");
}

#[tokio::test]
async fn failed_password_resets_are_limited_per_address_and_per_link() {
    let app = TestApp::spawn_with(trusting_localhost).await;
    let t = tenant_with(
        &app,
        json!({ "password_reset": { "per_address": 3, "per_target": 2 } }),
    )
    .await;
    let reset = |address: &'static str, token: String| {
        let url = format!("{}/password/reset", t.issuer);
        let http = app.http.clone();
        async move {
            http.post(url)
                .header("x-forwarded-for", address)
                .form(&[
                    ("token", token.as_str()),
                    ("password", "a brand new passphrase"),
                    ("password_confirm", "a brand new passphrase"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for i in 0..3 {
        let resp = reset("203.0.113.1", format!("made-up-{i}")).await;
        assert_eq!(resp.status(), 400, "an unknown link");
    }
    let over = reset("203.0.113.1", "made-up-9".into()).await;
    assert_eq!(over.status(), 429, "three failures per address");
    assert!(retry_after(&over) >= 1);
    // One link guessed at from many addresses.
    assert_eq!(reset("198.51.100.1", "stolen".into()).await.status(), 400);
    assert_eq!(reset("198.51.100.2", "stolen".into()).await.status(), 400);
    assert_eq!(
        reset("198.51.100.3", "stolen".into()).await.status(),
        429,
        "two failures per link"
    );
}

#[tokio::test]
async fn failed_email_verifications_are_limited_per_address() {
    let app = TestApp::spawn().await;
    let t = tenant_with(&app, json!({ "email_verify": { "per_address": 2 } })).await;
    for i in 0..2 {
        let resp = app
            .http
            .get(format!("{}/email/verify?token=made-up-{i}", t.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
    }
    let over = app
        .http
        .get(format!("{}/email/verify?token=another", t.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 429);
    assert!(retry_after(&over) >= 1);
}

async fn m2m(app: &TestApp, slug: &str) -> (String, String) {
    let client = app
        .post(
            &format!("/api/v1/tenants/{slug}/clients"),
            json!({ "name": "m2m", "client_type": "confidential", "redirect_uris": [],
                    "grant_types": ["client_credentials"], "allowed_scopes": ["api:read"] }),
        )
        .await;
    assert_eq!(client.status, 201, "{}", client.body);
    (
        client.body["client_id"].as_str().unwrap().to_owned(),
        client.body["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn client_credentials(app: &TestApp, t: &Tenant, id: &str, secret: &str) -> Response {
    app.http
        .post(format!("{}/token", t.issuer))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn wrong_client_secrets_are_limited_per_client_but_right_ones_never_count() {
    let app = TestApp::spawn().await;
    let t = tenant_with(&app, json!({ "token": { "per_target": 3 } })).await;
    let (id, secret) = m2m(&app, &t.slug).await;
    let (other, other_secret) = m2m(&app, &t.slug).await;
    for _ in 0..10 {
        assert_eq!(
            client_credentials(&app, &t, &id, &secret).await.status(),
            200,
            "successes are not counted"
        );
    }
    for _ in 0..3 {
        let wrong = client_credentials(&app, &t, &id, "not the secret").await;
        assert_eq!(wrong.status(), 401);
    }
    let over = client_credentials(&app, &t, &id, &secret).await;
    assert_eq!(over.status(), 429, "three failures per client and minute");
    assert!((1..=60).contains(&retry_after(&over)));
    assert_eq!(over.headers()["cache-control"], "no-store");
    let body: Value = over.json().await.unwrap();
    assert_eq!(
        body["error"], "temporarily_unavailable",
        "RFC 6749 §5.2 JSON"
    );
    assert_eq!(
        client_credentials(&app, &t, &other, &other_secret)
            .await
            .status(),
        200,
        "per client"
    );
    app.clock.advance(60);
    assert_eq!(
        client_credentials(&app, &t, &id, &secret).await.status(),
        200
    );
}

#[tokio::test]
async fn failed_introspections_and_revocations_are_limited_per_address() {
    let app = TestApp::spawn().await;
    let t = tenant_with(
        &app,
        json!({ "introspection": { "per_address": 2 }, "revocation": { "per_address": 2 } }),
    )
    .await;
    for endpoint in ["introspect", "revoke"] {
        let call = |client: String| {
            app.http
                .post(format!("{}/{endpoint}", t.issuer))
                .basic_auth(client, Some("a random secret"))
                .form(&[("token", "some-token")])
                .send()
        };
        for i in 0..2 {
            let wrong = call(format!("random-client-{i}")).await.unwrap();
            assert_eq!(wrong.status(), 401, "{endpoint}");
        }
        let over = call("random-client-9".into()).await.unwrap();
        assert_eq!(over.status(), 429, "{endpoint}");
        assert!(retry_after(&over) >= 1);
        let body: Value = over.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }
}

#[tokio::test]
async fn authorization_requests_are_limited_per_address_and_per_client() {
    let app = TestApp::spawn_with(trusting_localhost).await;
    let t = tenant_with(
        &app,
        json!({ "authorize": { "per_address": 3, "per_target": 5 } }),
    )
    .await;
    let client = app.create_client(&t.slug).await;
    let id = client["client_id"].as_str().unwrap();
    let authorize = |address: String| {
        app.http
            .get(format!(
                "{}/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback\
                 &response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
                 &code_challenge_method=S256",
                t.issuer
            ))
            .header("x-forwarded-for", address)
            .send()
    };
    for _ in 0..3 {
        let ok = authorize("203.0.113.1".into()).await.unwrap();
        assert_ne!(ok.status(), 429);
    }
    let over = authorize("203.0.113.1".into()).await.unwrap();
    assert_eq!(over.status(), 429, "three per address");
    assert!(retry_after(&over) >= 1);
    assert!(over.text().await.unwrap().contains("Too many requests"));
    // Addresses 2 and 3 bring the client to five requests.
    for i in 2..=3 {
        let ok = authorize(format!("203.0.113.{i}")).await.unwrap();
        assert_ne!(ok.status(), 429);
    }
    let over = authorize("203.0.113.4".into()).await.unwrap();
    assert_eq!(over.status(), 429, "five per client");
}

#[tokio::test]
async fn account_pages_and_passkey_ceremonies_are_limited_per_address() {
    let app = TestApp::spawn().await;
    let t = tenant_with(
        &app,
        json!({ "account": { "per_address": 2 }, "passkeys": { "per_address": 2 } }),
    )
    .await;
    for _ in 0..2 {
        let page = app
            .http
            .get(format!("{}/account", t.issuer))
            .send()
            .await
            .unwrap();
        assert_ne!(page.status(), 429);
    }
    let over = app
        .http
        .get(format!("{}/account", t.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 429);
    assert!(retry_after(&over) >= 1);

    let options = || {
        app.http
            .post(format!("{}/login/passkey/options", t.issuer))
            .form(&[("interaction", "x"), ("csrf_token", "y")])
            .send()
    };
    for _ in 0..2 {
        assert_ne!(options().await.unwrap().status(), 429);
    }
    let over = options().await.unwrap();
    assert_eq!(over.status(), 429);
    assert!(retry_after(&over) >= 1);
    let body: Value = over.json().await.unwrap();
    assert!(body["error"].is_string(), "JSON for the passkey script");
}

#[tokio::test]
async fn signing_key_rotations_are_limited_per_tenant() {
    let app = TestApp::spawn().await;
    let t = tenant_with(&app, json!({ "key_rotation": { "per_target": 2 } })).await;
    let rotate = format!("/api/v1/tenants/{}/keys/rotate", t.slug);
    for _ in 0..2 {
        assert_eq!(app.post(&rotate, json!(null)).await.status, 200);
    }
    let over = app.post(&rotate, json!(null)).await;
    let problem = over.assert_problem(429);
    assert_eq!(problem["status"], 429);
    let wait: u64 = over.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait));
    let other = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = app
        .post(&format!("/api/v1/tenants/{other}/keys/rotate"), json!(null))
        .await;
    assert_eq!(elsewhere.status, 200, "per tenant");
}

#[tokio::test]
async fn webhook_test_sends_are_limited_per_webhook() {
    let app = TestApp::spawn().await;
    let t = tenant_with(&app, json!({ "webhook_test": { "per_target": 2 } })).await;
    let receiver = Receiver::start().await;
    let (hook, _) = app.create_webhook(&t.slug, &receiver.url, &[]).await;
    let (other, _) = app.create_webhook(&t.slug, &receiver.url, &[]).await;
    let test = |hook: String| {
        let path = format!("/api/v1/tenants/{}/webhooks/{hook}/test", t.slug);
        let app = &app;
        async move { app.post(&path, json!(null)).await }
    };
    for _ in 0..2 {
        assert_eq!(test(hook.clone()).await.status, 202);
    }
    let over = test(hook.clone()).await;
    over.assert_problem(429);
    assert!(over.headers.get("retry-after").is_some());
    assert_eq!(test(other).await.status, 202, "per webhook");
}
