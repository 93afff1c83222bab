//! Passkeys through the real endpoints with a software authenticator
//! (webauthn-authenticator-rs `SoftPasskey`): registration on the account page, then
//! passwordless sign-in from the login page and use as a second factor.
//!
//! WebAuthn needs a DNS name as relying-party id, so these servers' public URL is
//! `http://localhost:<port>` (browsers treat localhost as a secure context).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{TestApp, hidden_field};
use reqwest::Client;
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse,
};

use e2e::flow::{ACR_MFA, PASSWORD, authorize, id_claims, location, password, pkce, redeem, setup};

async fn spawn() -> (TestApp, String) {
    let app =
        TestApp::spawn_with(|s| s.public_url = s.public_url.replace("127.0.0.1", "localhost"))
            .await;
    let base = app.address.replace("127.0.0.1", "localhost");
    (app, base)
}

async fn post_form(browser: &Client, url: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let resp = browser.post(url).form(fields).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Registers a passkey for the signed-in user of `browser`; returns its credential id.
async fn register(
    browser: &Client,
    issuer: &str,
    origin: &Url,
    authenticator: &mut SoftPasskey,
) -> Vec<u8> {
    let first = browser
        .get(format!("{issuer}/account"))
        .send()
        .await
        .unwrap();
    let login = location(&first);
    location(&password(browser, &login, PASSWORD).await);
    let html = browser
        .get(format!("{issuer}/account"))
        .send()
        .await
        .unwrap();
    let csp = html.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    let html = html.text().await.unwrap();
    assert!(html.contains("/assets/passkeys.js"));
    let csrf = hidden_field(&html, "csrf_token");
    let (status, options) = post_form(
        browser,
        &format!("{issuer}/passkeys/register/options"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(status, 200, "{options}");
    let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    let credential = authenticator
        .do_registration(origin.clone(), options)
        .unwrap();
    let raw_id = credential.raw_id.to_vec();
    let (status, done) = post_form(
        browser,
        &format!("{issuer}/passkeys/register"),
        &[
            ("csrf_token", &csrf),
            ("name", "Laptop"),
            ("credential", &serde_json::to_string(&credential).unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(
        done["location"]
            .as_str()
            .unwrap()
            .ends_with("/account?notice=passkey_added")
    );
    let replayed = post_form(
        browser,
        &format!("{issuer}/passkeys/register"),
        &[
            ("csrf_token", &csrf),
            ("name", "Again"),
            ("credential", &serde_json::to_string(&credential).unwrap()),
        ],
    )
    .await;
    assert_eq!(replayed.0, 400, "a ceremony is answered once");
    raw_id
}

/// Answers a sign-in challenge with the soft authenticator. A discoverable challenge
/// lists no credentials; the soft passkey needs one named, and a resident-key
/// authenticator returns the user handle, so the test plays that part.
fn answer(
    authenticator: &mut SoftPasskey,
    origin: &Url,
    options: Value,
    credential_id: &[u8],
    user_handle: Option<&str>,
) -> PublicKeyCredential {
    let mut options = options;
    let allowed = &mut options["publicKey"]["allowCredentials"];
    if allowed.as_array().is_none_or(Vec::is_empty) {
        *allowed = json!([{ "type": "public-key", "id": URL_SAFE_NO_PAD.encode(credential_id) }]);
    }
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let mut credential = authenticator
        .do_authentication(origin.clone(), options)
        .unwrap();
    if let Some(user) = user_handle {
        let id: uuid::Uuid = user.parse().unwrap();
        credential.response.user_handle = Some(id.as_bytes().to_vec());
    }
    credential
}

#[tokio::test]
async fn a_passkey_is_registered_then_signs_in_without_a_password_and_as_a_second_factor() {
    let (app, base) = spawn().await;
    let rp = setup(&app, &base, "optional", true).await;
    let origin = Url::parse(&base).unwrap();
    let mut authenticator = SoftPasskey::new(true);
    let credential_id = register(&app.browser(), &rp.issuer, &origin, &mut authenticator).await;
    let listed = app
        .get(&format!(
            "/api/v1/tenants/{}/users/{}/factors",
            rp.slug, rp.user_id
        ))
        .await;
    assert_eq!(
        listed.body["passkeys"][0]["name"], "Laptop",
        "{}",
        listed.body
    );

    // Passwordless, from the login page.
    let browser = app.browser();
    let p = pkce();
    let login = authorize(&browser, &rp, &p, &[]).await;
    let html = browser
        .get(login.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Sign in with a passkey"));
    let interaction = hidden_field(&html, "interaction");
    let csrf = hidden_field(&html, "csrf_token");
    let fields = [
        ("interaction", interaction.as_str()),
        ("csrf_token", csrf.as_str()),
        ("purpose", "login"),
    ];
    let (status, options) = post_form(
        &browser,
        &format!("{}/login/passkey/options", rp.issuer),
        &fields,
    )
    .await;
    assert_eq!(status, 200, "{options}");
    let assertion = answer(
        &mut authenticator,
        &origin,
        options,
        &credential_id,
        Some(&rp.user_id),
    );
    let assertion = serde_json::to_string(&assertion).unwrap();
    let mut finish = fields.to_vec();
    finish.push(("credential", &assertion));
    let (status, done) =
        post_form(&browser, &format!("{}/login/passkey", rp.issuer), &finish).await;
    assert_eq!(status, 200, "{done}");
    let callback = Url::parse(done["location"].as_str().unwrap()).unwrap();
    let claims = id_claims(&redeem(&app, &rp, &callback, &p).await);
    let amr = claims["amr"].as_array().unwrap();
    assert!(
        amr.contains(&json!("hwk")) || amr.contains(&json!("swk")),
        "{amr:?}"
    );
    assert!(
        amr.contains(&json!("mfa")) && !amr.contains(&json!("pwd")),
        "{amr:?}"
    );
    assert_eq!(claims["acr"], ACR_MFA);

    // As the second factor after a password (the user now has a factor).
    let browser = app.browser();
    let p = pkce();
    let login = authorize(&browser, &rp, &p, &[]).await;
    let mfa_url = location(&password(&browser, &login, PASSWORD).await);
    assert!(mfa_url.path().ends_with("/login/mfa"));
    let html = browser
        .get(mfa_url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Use a passkey"));
    let interaction = hidden_field(&html, "interaction");
    let csrf = hidden_field(&html, "csrf_token");
    let fields = [
        ("interaction", interaction.as_str()),
        ("csrf_token", csrf.as_str()),
        ("purpose", "mfa"),
    ];
    let (status, options) = post_form(
        &browser,
        &format!("{}/login/passkey/options", rp.issuer),
        &fields,
    )
    .await;
    assert_eq!(status, 200, "{options}");
    assert!(
        !options["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let assertion = answer(&mut authenticator, &origin, options, &credential_id, None);
    let assertion = serde_json::to_string(&assertion).unwrap();
    let mut finish = fields.to_vec();
    finish.push(("credential", &assertion));
    let (status, done) =
        post_form(&browser, &format!("{}/login/passkey", rp.issuer), &finish).await;
    assert_eq!(status, 200, "{done}");
    let callback = Url::parse(done["location"].as_str().unwrap()).unwrap();
    let claims = id_claims(&redeem(&app, &rp, &callback, &p).await);
    let amr = claims["amr"].as_array().unwrap();
    assert!(
        amr.contains(&json!("pwd")) && amr.contains(&json!("mfa")),
        "{amr:?}"
    );
    assert_eq!(claims["acr"], ACR_MFA);

    // A replayed assertion is refused (the challenge was used).
    let (status, _) = post_form(&browser, &format!("{}/login/passkey", rp.issuer), &finish).await;
    assert!(status >= 400);

    let actions = app.audit_actions(&rp.slug).await;
    assert!(
        actions.iter().any(|a| a == "user.passkey_registered"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_passkey_is_renamed_and_removed_on_the_account_page() {
    let (app, base) = spawn().await;
    let rp = setup(&app, &base, "optional", true).await;
    let origin = Url::parse(&base).unwrap();
    let mut authenticator = SoftPasskey::new(true);
    let browser = app.browser();
    register(&browser, &rp.issuer, &origin, &mut authenticator).await;
    let html = browser
        .get(format!("{}/account", rp.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Laptop"));
    let id = hidden_field(&html, "id");
    let csrf = hidden_field(&html, "csrf_token");
    let renamed = browser
        .post(format!("{}/account/passkeys/rename", rp.issuer))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("id", id.as_str()),
            ("name", "Phone"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 303);
    let removed = browser
        .post(format!("{}/account/passkeys/remove", rp.issuer))
        .form(&[("csrf_token", csrf.as_str()), ("id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 303);
    let listed = app
        .get(&format!(
            "/api/v1/tenants/{}/users/{}/factors",
            rp.slug, rp.user_id
        ))
        .await;
    assert_eq!(listed.body["passkeys"], json!([]));
    let actions = app.audit_actions(&rp.slug).await;
    for action in ["user.passkey_renamed", "user.passkey_removed"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn adding_a_passkey_needs_a_sign_in_of_the_last_five_minutes() {
    // Arrange: a password sign-in on the account page, six minutes ago.
    let (app, base) = spawn().await;
    let rp = setup(&app, &base, "optional", true).await;
    let browser = app.browser();
    let first = browser
        .get(format!("{}/account", rp.issuer))
        .send()
        .await
        .unwrap();
    location(&password(&browser, &location(&first), PASSWORD).await);
    let html = browser
        .get(format!("{}/account", rp.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_field(&html, "csrf_token");
    app.clock.advance(360);

    // Act
    let (status, stale) = post_form(
        &browser,
        &format!("{}/passkeys/register/options", rp.issuer),
        &[("csrf_token", &csrf)],
    )
    .await;

    // Assert: refused, with where to sign in again; after that it works.
    assert_eq!(status, 403, "{stale}");
    let again = browser
        .get(stale["location"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let login = location(&again);
    assert!(login.path().ends_with("/login"), "{login}");
    location(&password(&browser, &login, PASSWORD).await);
    let html = browser
        .get(format!("{}/account", rp.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_field(&html, "csrf_token");
    let (status, options) = post_form(
        &browser,
        &format!("{}/passkeys/register/options", rp.issuer),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(status, 200, "{options}");
}
