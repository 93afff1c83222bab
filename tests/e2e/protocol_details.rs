//! Protocol details of clients and tokens: the registered client authentication
//! method is the only one accepted, introspection is for confidential clients, revoking
//! a refresh token revokes its grant's access tokens, a refresh retry never forks the
//! family, a nonce replaces PKCE only for OpenID requests, and `max_age=0` is satisfied
//! by the sign-in just completed.

use e2e::flow::{
    PASSWORD, Pkce, REDIRECT, Rp, client, location, password, pkce, query, refresh, submit, tenant,
};
use e2e::{Reply, TestApp};
use reqwest::Client;
use serde_json::{Value, json};
use url::Url;

/// Sends the browser to `/authorize` with only `params` beside the client, redirect URI,
/// response type and state (no scope, nonce or PKCE unless given); returns where it is
/// sent next.
async fn authorize(browser: &Client, rp: &Rp, params: &[(&str, &str)]) -> Url {
    let mut all = vec![
        ("client_id", rp.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("state", "st"),
    ];
    all.extend_from_slice(params);
    let resp = browser
        .get(format!("{}/authorize", rp.issuer))
        .query(&all)
        .send()
        .await
        .unwrap();
    e2e::location(&resp)
}

/// A code flow for a first-party client: access and refresh token.
async fn tokens(app: &TestApp, rp: &Rp) -> (String, String) {
    let browser = app.browser();
    let pkce = pkce();
    let login = e2e::flow::authorize(&browser, rp, &pkce, &[]).await;
    let back = location(&password(&browser, &login, PASSWORD).await);
    let body = e2e::flow::redeem(app, rp, &back, &pkce).await;
    let field = |name: &str| body[name].as_str().unwrap().to_owned();
    (field("access_token"), field("refresh_token"))
}

async fn active(app: &TestApp, rp: &Rp, token: &str) -> bool {
    e2e::flow::introspect(app, rp, token).await["active"]
        .as_bool()
        .unwrap()
}

async fn userinfo_status(app: &TestApp, rp: &Rp, access: &str) -> u16 {
    app.http
        .get(format!("{}/userinfo", rp.issuer))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A `client_credentials` request with the secret sent as `method`.
async fn client_credentials(app: &TestApp, rp: &Rp, method: &str) -> Reply {
    let secret = rp.secret.as_deref().unwrap_or("a-guess");
    let mut form = vec![("grant_type", "client_credentials")];
    let mut req = app.http.post(format!("{}/token", rp.issuer));
    match method {
        "basic" => req = req.basic_auth(&rp.client_id, Some(secret)),
        _ => form.extend([
            ("client_id", rp.client_id.as_str()),
            ("client_secret", secret),
        ]),
    }
    TestApp::reply(req.form(&form).send().await.unwrap()).await
}

#[tokio::test]
async fn a_client_is_accepted_only_with_the_authentication_method_it_is_registered_with() {
    // Arrange: a confidential client registered with the default method.
    let app = TestApp::spawn().await;
    let slug = tenant(&app, json!({})).await;
    let rp = client(
        &app,
        &slug,
        json!({ "client_type": "confidential", "grant_types": ["client_credentials"] }),
    )
    .await;
    let path = format!("/api/v1/tenants/{slug}/clients/{}", rp.client_id);
    assert_eq!(
        app.get(&path).await.body["token_endpoint_auth_method"],
        "client_secret_basic"
    );

    // Act + Assert: only Basic works, until the client is registered for the body.
    assert_eq!(client_credentials(&app, &rp, "basic").await.status, 200);
    let post = client_credentials(&app, &rp, "post").await;
    assert_eq!(post.status, 401, "{}", post.body);
    assert_eq!(post.body["error"], "invalid_client");
    let switched = app
        .patch(
            &path,
            json!({ "token_endpoint_auth_method": "client_secret_post" }),
        )
        .await;
    assert_eq!(switched.status, 200, "{}", switched.body);
    assert_eq!(
        switched.body["token_endpoint_auth_method"],
        "client_secret_post"
    );
    assert_eq!(client_credentials(&app, &rp, "post").await.status, 200);
    let basic = client_credentials(&app, &rp, "basic").await;
    assert_eq!(basic.status, 401);
    // The same answer as a wrong secret or an unknown client.
    let unknown = Rp {
        client_id: "no-such-client".into(),
        secret: Some("guess".into()),
        ..rp
    };
    assert_eq!(
        client_credentials(&app, &unknown, "basic").await.body,
        basic.body
    );

    // A public client is `none`, and can be nothing else.
    let public = client(&app, &slug, json!({ "client_type": "public" })).await;
    let public_path = format!("/api/v1/tenants/{slug}/clients/{}", public.client_id);
    assert_eq!(
        app.get(&public_path).await.body["token_endpoint_auth_method"],
        "none"
    );
    let refused = app
        .patch(
            &public_path,
            json!({ "token_endpoint_auth_method": "client_secret_basic" }),
        )
        .await;
    refused.assert_problem(422);
    let with_secret = Rp {
        secret: Some("guess".into()),
        ..public
    };
    let presented = client_credentials(&app, &with_secret, "post").await;
    assert_eq!(presented.status, 401);
    assert_eq!(presented.body["error"], "invalid_client");
    let none_for_confidential = app
        .post(
            &format!("/api/v1/tenants/{slug}/clients"),
            json!({ "name": "App", "client_type": "confidential", "redirect_uris": [REDIRECT],
                    "token_endpoint_auth_method": "none" }),
        )
        .await;
    none_for_confidential.assert_problem(422);
}

#[tokio::test]
async fn introspection_refuses_public_clients_and_discovery_says_the_same() {
    // Arrange: a public client with a live access token of its own.
    let app = TestApp::spawn().await;
    let slug = tenant(&app, json!({})).await;
    let public = client(
        &app,
        &slug,
        json!({ "client_type": "public", "first_party": true }),
    )
    .await;
    let (access, _) = tokens(&app, &public).await;

    // Act: it asks the introspection endpoint about it, with its client_id only.
    let reply = app
        .http
        .post(format!("{}/introspect", public.issuer))
        .form(&[("token", access.as_str()), ("client_id", &public.client_id)])
        .send()
        .await
        .unwrap();
    let reply = TestApp::reply(reply).await;

    // Assert: RFC 7662 §2.1 wants an authenticated client; `none` is not one.
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["error"], "invalid_client");
    assert!(reply.body.get("active").is_none());
    let discovery = app
        .http
        .get(format!(
            "{}/.well-known/openid-configuration",
            public.issuer
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        discovery["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    // A confidential client of the tenant may introspect the same token.
    let rs = client(&app, &slug, json!({ "client_type": "confidential" })).await;
    assert!(active(&app, &rs, &access).await);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant() {
    // Arrange: one grant with two access tokens (code, then refresh), and another grant.
    let app = TestApp::spawn().await;
    let slug = tenant(&app, json!({})).await;
    let rp = client(
        &app,
        &slug,
        json!({ "client_type": "confidential", "first_party": true }),
    )
    .await;
    let (first_access, first_refresh) = tokens(&app, &rp).await;
    let refreshed = refresh(&app, &rp, &first_refresh).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let second_access = refreshed.body["access_token"].as_str().unwrap().to_owned();
    let live_refresh = refreshed.body["refresh_token"].as_str().unwrap().to_owned();
    let (other_access, _) = tokens(&app, &rp).await;
    assert!(active(&app, &rp, &first_access).await);
    assert!(active(&app, &rp, &second_access).await);

    // Act: RFC 7009 revocation of the grant's refresh token.
    let revoked = app
        .http
        .post(format!("{}/revoke", rp.issuer))
        .basic_auth(&rp.client_id, rp.secret.as_deref())
        .form(&[
            ("token", live_refresh.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    // Assert: every access token of that grant is dead; the other grant's lives on.
    assert!(!active(&app, &rp, &first_access).await);
    assert!(!active(&app, &rp, &second_access).await);
    assert_eq!(userinfo_status(&app, &rp, &second_access).await, 401);
    assert!(active(&app, &rp, &other_access).await);
    assert_eq!(userinfo_status(&app, &rp, &other_access).await, 200);
    assert_eq!(
        refresh(&app, &rp, &live_refresh).await.body["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_refresh_retry_in_the_grace_window_gets_the_same_successor_and_never_a_second_chain() {
    // Arrange
    let app = TestApp::spawn().await;
    let slug = tenant(&app, json!({ "refresh_token_reuse_grace_secs": 30 })).await;
    let rp = client(
        &app,
        &slug,
        json!({ "client_type": "confidential", "first_party": true }),
    )
    .await;
    let (_, first) = tokens(&app, &rp).await;
    let rotated = refresh(&app, &rp, &first).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let successor = rotated.body["refresh_token"].as_str().unwrap().to_owned();

    // Act: the client lost the answer and retries inside the window.
    app.clock.advance(5);
    let retried = refresh(&app, &rp, &first).await;

    // Assert: a legitimate retry works and gets the very same successor (a fresh
    // access token), so there is still one chain.
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["refresh_token"], successor.as_str());
    let retry_access = retried.body["access_token"].as_str().unwrap().to_owned();
    assert!(active(&app, &rp, &retry_access).await);

    // The chain moves on from the successor...
    let next = refresh(&app, &rp, &successor).await;
    assert_eq!(next.status, 200, "{}", next.body);
    let tip = next.body["refresh_token"].as_str().unwrap().to_owned();
    // ...so presenting the first token again, even inside the window, is a replay:
    // no second live chain, and the whole family (and its access tokens) is revoked.
    let replay = refresh(&app, &rp, &first).await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.body["error"], "invalid_grant");
    assert_eq!(
        refresh(&app, &rp, &tip).await.body["error"],
        "invalid_grant"
    );
    assert!(!active(&app, &rp, &retry_access).await);
    assert!(
        app.audit_actions(&slug)
            .await
            .iter()
            .any(|a| a == "refresh_token.reuse_detected")
    );
}

#[tokio::test]
async fn a_nonce_replaces_pkce_only_for_an_openid_request() {
    // Arrange: a confidential client that lifted PKCE.
    let app = TestApp::spawn().await;
    let slug = tenant(&app, json!({})).await;
    let rp = client(
        &app,
        &slug,
        json!({ "client_type": "confidential", "first_party": true, "require_pkce": false }),
    )
    .await;
    let browser = app.browser();

    // Act: without PKCE, with a nonce, but no `openid` scope (no ID token to carry it).
    let plain_oauth = authorize(
        &browser,
        &rp,
        &[("scope", "profile offline_access"), ("nonce", "n-1")],
    )
    .await;
    let openid = authorize(&browser, &rp, &[("scope", "openid"), ("nonce", "n-1")]).await;

    // Assert
    assert!(plain_oauth.as_str().starts_with(REDIRECT), "{plain_oauth}");
    assert_eq!(
        query(&plain_oauth, "error").as_deref(),
        Some("invalid_request")
    );
    assert!(openid.path().ends_with("/login"), "{openid}");
}

#[tokio::test]
async fn max_age_zero_is_satisfied_once_by_the_sign_in_just_completed() {
    // Arrange: a third-party client, so a consent page follows the login page.
    let app = TestApp::spawn().await;
    let slug = tenant(&app, json!({})).await;
    let rp = client(&app, &slug, json!({ "client_type": "confidential" })).await;
    let browser = app.browser();
    let Pkce { challenge, .. } = pkce();
    let params = [
        ("scope", "openid"),
        ("max_age", "0"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let login = authorize(&browser, &rp, &params).await;
    assert!(login.path().ends_with("/login"), "{login}");
    let consent = location(&password(&browser, &login, PASSWORD).await);
    assert!(consent.path().ends_with("/consent"), "{consent}");

    // Act: the user reads the consent page for a while, then allows.
    app.clock.advance(20);
    let back = submit(&browser, &consent, &[("decision", "allow")]).await;

    // Assert: the login just done satisfies max_age=0; no second login page.
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert!(query(&back, "code").is_some(), "{back}");
    // Once: the next request with max_age=0 asks for a fresh login again.
    let again = authorize(&browser, &rp, &params).await;
    assert!(again.path().ends_with("/login"), "{again}");
}
