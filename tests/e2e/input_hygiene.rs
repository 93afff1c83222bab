//! Unauthenticated input cannot grow or break stored state: control characters in
//! protocol parameters are refused before anything is stored, and what an
//! authorization request keeps is bounded.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{TestApp, hidden_field};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "https://app.example.com/callback";

struct Setup {
    slug: String,
    client_id: String,
    secret: String,
}

async fn setup(app: &TestApp) -> Setup {
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app.create_client(&slug).await;
    Setup {
        client_id: client["client_id"].as_str().unwrap().to_owned(),
        secret: client["client_secret"].as_str().unwrap().to_owned(),
        slug,
    }
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(uuid::Uuid::new_v4().as_bytes()))
}

async fn post_form(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    app.http
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn control_characters_in_token_introspection_and_revocation_forms_are_400_and_store_nothing()
{
    // Arrange
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let (id, secret) = (&s.client_id, &s.secret);
    let cases = [
        (
            "token",
            format!("grant_type=client_credentials&client_id=x%00{id}&client_secret=s"),
        ),
        (
            "token",
            format!("grant_type=client_credentials%00&client_id={id}&client_secret={secret}"),
        ),
        (
            "token",
            format!(
                "grant_type=authorization_code&code=a%0Ab&client_id={id}&client_secret={secret}"
            ),
        ),
        (
            "introspect",
            format!("token=abc%00&client_id={id}&client_secret={secret}"),
        ),
        (
            "introspect",
            format!("token=abc&client_id=%00{id}&client_secret={secret}"),
        ),
        (
            "revoke",
            format!("token=abc%1B&client_id={id}&client_secret={secret}"),
        ),
        (
            "revoke",
            format!(
                "token=abc&token_type_hint=refresh%00token&client_id={id}&client_secret={secret}"
            ),
        ),
    ];
    let audit_before = app.count_rows("audit_events").await;

    for (endpoint, body) in cases {
        // Act
        let resp = post_form(&app, &format!("/t/{}/{endpoint}", s.slug), &body).await;

        // Assert: a 400 in the OAuth error format.
        assert_eq!(resp.status(), 400, "{endpoint} {body}");
        let error: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            error["error"], "invalid_request",
            "{endpoint} {body}: {error}"
        );
    }
    assert_eq!(app.count_rows("audit_events").await, audit_before);

    // The same through HTTP Basic: the decoded client_id is checked too.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}%00:{secret}"));
    let resp = app
        .http
        .post(format!("{}/t/{}/token", app.address, s.slug))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let error: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request");
    // Nothing with a control character ever reached the audit log.
    let dump = app.dump_database().await;
    assert!(!dump.contains('\0'));
    assert!(!dump.contains("\\u0000"));
}

#[tokio::test]
async fn authorize_refuses_control_characters_and_oversized_values_by_oauth_error_rules() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let authorize = format!("{}/t/{}/authorize", app.address, s.slug);
    let base = |extra: &[(&str, &str)]| {
        let cc = challenge();
        let mut params = vec![
            ("client_id", s.client_id.clone()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("response_type", "code".to_owned()),
            ("scope", "openid".to_owned()),
            ("code_challenge", cc),
            ("code_challenge_method", "S256".to_owned()),
            ("state", "st-1".to_owned()),
        ];
        for (k, v) in extra {
            params.retain(|(name, _)| name != k);
            params.push((k, (*v).to_owned()));
        }
        url::Url::parse_with_params(&authorize, &params).unwrap()
    };
    let issuer = format!("{}/t/{}", app.address, s.slug);

    // A bad client_id is an error page, never a redirect (and never a 5xx).
    let bad_client = format!("{}\0", s.client_id);
    let resp = app
        .http
        .get(base(&[("client_id", &bad_client)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());

    // Once client and redirect URI are good, errors go to the client with state and iss.
    let long_state = "s".repeat(2049);
    let long_nonce = "n".repeat(513);
    let long_hint = "h".repeat(257);
    for (extra, state) in [
        (vec![("scope", "openid\0")], Some("st-1")),
        (vec![("login_hint", "ann\u{7}")], Some("st-1")),
        (vec![("nonce", long_nonce.as_str())], Some("st-1")),
        (vec![("login_hint", long_hint.as_str())], Some("st-1")),
        (
            vec![("state", long_state.as_str())],
            Some(long_state.as_str()),
        ),
        // A state with a control character is not echoed.
        (vec![("state", "st\0")], None),
    ] {
        let resp = app.http.get(base(&extra)).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{extra:?}");
        let to = e2e::location(&resp);
        assert!(to.as_str().starts_with(REDIRECT), "{to}");
        let q = |name: &str| {
            to.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(q("error").as_deref(), Some("invalid_request"), "{extra:?}");
        assert_eq!(q("state").as_deref(), state, "{extra:?}");
        assert_eq!(q("iss").as_deref(), Some(issuer.as_str()));
    }

    // Values at the caps are accepted (on to the login page).
    let state = "s".repeat(2048);
    let nonce = "n".repeat(512);
    let hint = "h".repeat(256);
    let resp = app
        .http
        .get(base(&[
            ("state", &state),
            ("nonce", &nonce),
            ("login_hint", &hint),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(e2e::location(&resp).path().ends_with("/login"));
}

#[tokio::test]
async fn a_login_form_with_a_control_character_is_400_and_records_nothing() {
    // Arrange: a browser on the login page of a pending authorization.
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    app.create_user(&s.slug, "ann", "correct horse battery")
        .await;
    let browser = app.browser();
    let authorize = url::Url::parse_with_params(
        &format!("{}/t/{}/authorize", app.address, s.slug),
        &[
            ("client_id", s.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", &challenge()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let to_login = browser.get(authorize).send().await.unwrap();
    let login = e2e::location(&to_login);
    let html = browser
        .get(login.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let audit_before = app.count_rows("audit_events").await;

    // Act
    let resp = browser
        .post(login.as_str())
        .form(&[
            ("interaction", hidden_field(&html, "interaction").as_str()),
            ("csrf_token", hidden_field(&html, "csrf_token").as_str()),
            ("username", "ann\0"),
            ("password", "whatever"),
        ])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(resp.status(), 400);
    assert_eq!(app.count_rows("audit_events").await, audit_before);
}

fn interaction_of(resp: &reqwest::Response) -> String {
    e2e::location(resp)
        .query_pairs()
        .find(|(k, _)| k == "interaction")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn one_browser_session_keeps_one_pending_interaction_however_often_it_authorizes() {
    // Arrange
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let browser = app.browser();
    let authorize = |state: &str| {
        url::Url::parse_with_params(
            &format!("{}/t/{}/authorize", app.address, s.slug),
            &[
                ("client_id", s.client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", &challenge()),
                ("code_challenge_method", "S256"),
                ("state", state),
            ],
        )
        .unwrap()
    };

    // Act: the same browser starts twenty authorization requests, then visits the
    // account page (which also sends it to the login page).
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..20 {
        let resp = browser
            .get(authorize(&format!("st-{i}")))
            .send()
            .await
            .unwrap();
        ids.insert(interaction_of(&resp));
    }
    let account = browser
        .get(format!("{}/t/{}/account", app.address, s.slug))
        .send()
        .await
        .unwrap();
    ids.insert(interaction_of(&account));

    // Assert: one slot, reused every time; a second browser gets its own.
    assert_eq!(ids.len(), 1, "{ids:?}");
    let other = app.browser().get(authorize("st-x")).send().await.unwrap();
    assert!(!ids.contains(&interaction_of(&other)));
}

#[tokio::test]
async fn the_latest_authorization_request_of_a_session_is_the_one_that_completes() {
    // Arrange: a first-party client, so the sign-in goes straight back to it.
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app
        .post(
            &format!("/api/v1/tenants/{slug}/clients"),
            serde_json::json!({ "name": "Web", "client_type": "confidential",
                "redirect_uris": [REDIRECT], "first_party": true }),
        )
        .await;
    assert_eq!(client.status, 201, "{}", client.body);
    let client_id = client.body["client_id"].as_str().unwrap().to_owned();
    app.create_user(&slug, "ann", "correct horse battery").await;
    let browser = app.browser();
    let authorize = |state: &str| {
        url::Url::parse_with_params(
            &format!("{}/t/{slug}/authorize", app.address),
            &[
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", &challenge()),
                ("code_challenge_method", "S256"),
                ("state", state),
            ],
        )
        .unwrap()
        .to_string()
    };
    browser.get(authorize("first")).send().await.unwrap();

    // Act: a second request from the same session, then the sign-in.
    let back = app
        .sign_in(
            &browser,
            &authorize("second"),
            "ann",
            "correct horse battery",
        )
        .await;

    // Assert
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    let state = back
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    assert_eq!(state.as_deref(), Some("second"));
    assert!(back.query_pairs().any(|(k, _)| k == "code"));
}

#[tokio::test]
async fn values_an_anonymous_client_sends_are_stored_cut_to_the_audit_bound() {
    // Arrange
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let long_id = "c".repeat(4000);

    // Act: a token request with a made-up 4000-character client_id.
    let resp = post_form(
        &app,
        &format!("/t/{}/token", s.slug),
        &format!("grant_type=client_credentials&client_id={long_id}&client_secret=x"),
    )
    .await;
    assert_eq!(resp.status(), 401);

    // Assert: the refusal is recorded, with every value within 256 characters.
    let events = app
        .get(&format!(
            "/api/v1/tenants/{}/audit-events?limit=200",
            s.slug
        ))
        .await;
    let items = events.body["items"].as_array().unwrap();
    let refused = items
        .iter()
        .find(|e| e["action"] == "token.refused")
        .unwrap_or_else(|| panic!("no token.refused event: {}", events.body));
    let texts = |v: &serde_json::Value| -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![v.clone()];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::String(s) => out.push(s),
                serde_json::Value::Array(a) => stack.extend(a),
                serde_json::Value::Object(o) => stack.extend(o.into_iter().map(|(_, v)| v)),
                _ => {}
            }
        }
        out
    };
    let all = texts(refused);
    assert!(all.iter().any(|t| t.contains("cccc")), "{refused}");
    for text in all {
        assert!(text.chars().count() <= 256, "{} chars", text.len());
    }
}
