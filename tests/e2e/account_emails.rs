//! Password reset and email verification by email, end to end: a real SMTP server
//! receives the message and the test follows the link in it like a person would.

use e2e::flow::{PASSWORD, REDIRECT, Rp, refresh, refresh_token_in};
use e2e::{TestApp, hidden_field, smtp::SmtpSink};
use serde_json::json;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// A tenant with `ann` and a first-party client that may go without PKCE.
async fn setup(app: &TestApp) -> Rp {
    let slug = e2e::flow::tenant(app, json!({})).await;
    e2e::flow::client(
        app,
        &slug,
        json!({ "client_type": "confidential", "first_party": true, "require_pkce": false }),
    )
    .await
}

fn authorize_url(t: &Rp) -> String {
    format!(
        "{}/authorize?client_id={}&redirect_uri={REDIRECT}&response_type=code&scope=openid%20offline_access&nonce=n1&state=s1",
        t.issuer, t.client_id
    )
}

/// The first line of `text` that is a link into `path`.
fn link_in(text: &str, path: &str) -> String {
    let link = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains(path));
    assert!(link.is_some(), "no {path} link in:\n{text}");
    link.unwrap().to_owned()
}

async fn ask_for_reset(app: &TestApp, t: &Rp, login: &str) -> String {
    let resp = app
        .http
        .post(format!("{}/password/forgot", t.issuer))
        // A forged Host must not leak into the link.
        .header("host", "evil.example")
        .form(&[("login", login)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

async fn submit_reset(app: &TestApp, t: &Rp, token: &str, password: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/password/reset", t.issuer))
        .form(&[
            ("token", token),
            ("password", password),
            ("password_confirm", password),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_password_reset_by_email_sets_the_password_and_ends_every_refresh_token() {
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(|s| s.smtp_url = Some(sink.url())).await;
    let t = setup(&app).await;
    let browser = app.browser();
    let refresh_token = refresh_token_in(&app, &t, &browser).await;
    let account = format!("{}/account", t.issuer);
    assert_eq!(browser.get(&account).send().await.unwrap().status(), 200);

    // Unknown names get the very same answer, and nothing is sent for them.
    let unknown = ask_for_reset(&app, &t, "nobody@example.com").await;
    let known = ask_for_reset(&app, &t, "ANN@example.com").await;
    assert_eq!(unknown, known);
    assert!(known.contains("If an account with that name exists"));

    let mail = sink.wait_for_mail_to("ann@example.com").await;
    assert_eq!(
        sink.messages().len(),
        1,
        "nothing sent for the unknown name"
    );
    assert!(mail.subject.contains("Reset your"), "{}", mail.subject);
    let link = link_in(&mail.text, "/password/reset");
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", t.issuer)),
        "links come from PUBLIC_URL, never from Host: {link}"
    );

    // Opening the link shows the form and does not use the token.
    let page = browser.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let token = hidden_field(&page.text().await.unwrap(), "token");
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 200);

    let mismatch = app
        .http
        .post(format!("{}/password/reset", t.issuer))
        .form(&[
            ("token", token.as_str()),
            ("password", NEW_PASSWORD),
            ("password_confirm", "something else"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), 400);
    let too_short = submit_reset(&app, &t, &token, "short").await;
    assert_eq!(too_short.status(), 400, "the token survives a bad password");

    let done = submit_reset(&app, &t, &token, NEW_PASSWORD).await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Password changed"));

    // Single use.
    assert_eq!(
        submit_reset(&app, &t, &token, "yet another passphrase")
            .await
            .status(),
        400
    );
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 400);

    // The session from before the reset is over: the account page wants a login.
    let after = browser.get(&account).send().await.unwrap();
    assert_eq!(after.status(), 303);
    assert!(e2e::location(&after).path().ends_with("/login"));

    // Refresh tokens issued before the reset are dead; the new password works.
    assert_eq!(refresh(&app, &t, &refresh_token).await.status, 400);
    let fresh = app.browser();
    let back = app
        .sign_in(&fresh, &authorize_url(&t), "ann", NEW_PASSWORD)
        .await;
    assert!(back.as_str().starts_with(REDIRECT), "{back}");

    let actions = app.audit_actions(&t.slug).await;
    for action in ["user.password_reset_requested", "user.password_reset"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn reset_links_expire_after_thirty_minutes() {
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(|s| s.smtp_url = Some(sink.url())).await;
    let t = setup(&app).await;
    ask_for_reset(&app, &t, "ann").await;
    let link = link_in(
        &sink.wait_for_mail_to("ann@example.com").await.text,
        "/password/reset",
    );
    let token = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    app.clock.advance(31 * 60);
    assert_eq!(app.http.get(&link).send().await.unwrap().status(), 400);
    assert_eq!(
        submit_reset(&app, &t, &token, NEW_PASSWORD).await.status(),
        400
    );
}

#[tokio::test]
async fn a_reset_lifts_a_login_lockout() {
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(|s| s.smtp_url = Some(sink.url())).await;
    let t = setup(&app).await;
    let browser = app.browser();
    let login = e2e::location(&browser.get(authorize_url(&t)).send().await.unwrap());
    let page = browser
        .get(login.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attempt = |password: &'static str| {
        browser
            .post(login.as_str())
            .form(&[
                ("interaction", hidden_field(&page, "interaction")),
                ("csrf_token", hidden_field(&page, "csrf_token")),
                ("username", "ann".into()),
                ("password", password.into()),
            ])
            .send()
    };
    for _ in 0..10 {
        assert_eq!(attempt("wrong password").await.unwrap().status(), 401);
    }
    assert_eq!(attempt(PASSWORD).await.unwrap().status(), 429, "locked");
    ask_for_reset(&app, &t, "ann").await;
    let link = link_in(
        &sink.wait_for_mail_to("ann@example.com").await.text,
        "/password/reset",
    );
    let token = hidden_field(
        &app.http
            .get(&link)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "token",
    );
    assert_eq!(
        submit_reset(&app, &t, &token, NEW_PASSWORD).await.status(),
        200
    );
    let back = app
        .sign_in(&app.browser(), &authorize_url(&t), "ann", NEW_PASSWORD)
        .await;
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
}

#[tokio::test]
async fn operators_can_send_reset_and_verification_emails_that_confirm_the_address() {
    // The embedded default: each message lands as an .eml file in the data dir.
    let app = TestApp::spawn().await;
    let t = setup(&app).await;
    let user = format!("/api/v1/tenants/{}/users/{}", t.slug, t.user_id);
    let sent = app
        .post(&format!("{user}/send-verification-email"), json!({}))
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);

    let text = wait_for_eml(&app, "/email/verify").await;
    let link = link_in(&text, "/email/verify");
    let page = app.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let token = hidden_field(&page.text().await.unwrap(), "token");
    assert_eq!(
        app.get(&user).await.body["email_verified"],
        false,
        "opening is not confirming"
    );
    let confirmed = app
        .http
        .post(format!("{}/email/verify", t.issuer))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert_eq!(app.get(&user).await.body["email_verified"], true);
    let again = app
        .post(&format!("{user}/send-verification-email"), json!({}))
        .await;
    again.assert_problem(409);

    let reset = app
        .post(&format!("{user}/send-password-reset"), json!({}))
        .await;
    assert_eq!(reset.status, 202, "{}", reset.body);
    let actions = app.audit_actions(&t.slug).await;
    for action in [
        "user.email_verification_sent",
        "user.email_verified",
        "user.password_reset_requested",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn account_email_operations_refuse_users_without_an_address_and_other_tenants() {
    let app = TestApp::spawn().await;
    let t = setup(&app).await;
    let bare = app
        .post(
            &format!("/api/v1/tenants/{}/users", t.slug),
            json!({ "username": "no-mail", "password": PASSWORD }),
        )
        .await;
    let bare_id = bare.body["id"].as_str().unwrap();
    for op in ["send-password-reset", "send-verification-email"] {
        let reply = app
            .post(
                &format!("/api/v1/tenants/{}/users/{bare_id}/{op}", t.slug),
                json!({}),
            )
            .await;
        assert!(
            reply.status == 400 || reply.status == 422,
            "{op}: {}",
            reply.body
        );
        reply.assert_problem(reply.status.as_u16());
    }

    let other = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_key = app.create_tenant_key(&other, "tenant_admin").await;
    let reply = app
        .call(
            reqwest::Method::POST,
            &format!(
                "/api/v1/tenants/{}/users/{}/send-password-reset",
                t.slug, t.user_id
            ),
            Some(&other_key),
            Some(&json!({})),
        )
        .await;
    reply.assert_problem(404);
}

/// Waits for an `.eml` file of the embedded mailer that mentions `needle` (a file may
/// be seen half-written, so it is read until complete); returns its decoded text.
pub async fn wait_for_eml(app: &TestApp, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(entries) = std::fs::read_dir(app.mail_folder()) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|e| e == "eml") {
                    let raw = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    // Undo quoted-printable soft line breaks and the escaped '='.
                    let text = raw.replace("=\r\n", "").replace("=3D", "=");
                    if text.contains(needle) {
                        return text;
                    }
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no .eml file within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Asks for a reset of `ann` and returns the link and its token from the email.
async fn reset_link(app: &TestApp, t: &Rp, sink: &SmtpSink, to: &str) -> (String, String) {
    ask_for_reset(app, t, "ann").await;
    let link = link_in(&sink.wait_for_mail_to(to).await.text, "/password/reset");
    let token = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    (link, token)
}

#[tokio::test]
async fn a_reset_with_a_made_up_token_gets_the_error_page_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let t = setup(&app).await;

    // Act
    let made_up = submit_reset(
        &app,
        &t,
        "bm90LWEtcmVhbC10b2tlbi1hdC1hbGwtMDEyMzQ1Njc4OQ",
        NEW_PASSWORD,
    )
    .await;

    // Assert: the invalid-link page; the old password still works.
    assert_eq!(made_up.status(), 400);
    assert!(
        made_up
            .text()
            .await
            .unwrap()
            .contains("invalid, has expired")
    );
    let back = app
        .sign_in(&app.browser(), &authorize_url(&t), "ann", PASSWORD)
        .await;
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
}

#[tokio::test]
async fn a_reset_link_works_only_while_the_address_it_was_sent_to_is_the_users() {
    // Arrange: a link goes to ann@example.com, then the address changes (and back).
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(|s| s.smtp_url = Some(sink.url())).await;
    let t = setup(&app).await;
    let (link, token) = reset_link(&app, &t, &sink, "ann@example.com").await;
    let user = format!("/api/v1/tenants/{}/users/{}", t.slug, t.user_id);
    let moved = app
        .patch(&user, json!({ "email": "ann@elsewhere.example" }))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    app.patch(&user, json!({ "email": "ann@example.com" }))
        .await;

    // Act
    let opened = app.http.get(&link).send().await.unwrap();
    let used = submit_reset(&app, &t, &token, NEW_PASSWORD).await;

    // Assert: the link is void; a new one sent to the current address works.
    assert_eq!(opened.status(), 400);
    assert_eq!(used.status(), 400);
    app.clock.advance(1);
    ask_for_reset(&app, &t, "ann").await;
    let text = app
        .eventually("a second reset email", || async {
            let all = sink.messages();
            (all.len() >= 2)
                .then(|| all.last().map(|m| m.text.clone()))
                .flatten()
        })
        .await;
    let link = link_in(&text, "/password/reset");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert_eq!(
        submit_reset(&app, &t, &token, NEW_PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn the_reset_page_lists_the_factors_and_removes_the_ones_ticked_in_that_browser() {
    // Arrange: ann has an authenticator app, a passkey and recovery codes.
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(|s| s.smtp_url = Some(sink.url())).await;
    let t = setup(&app).await;
    let tenant = app.get(&format!("/api/v1/tenants/{}", t.slug)).await;
    crate::users::plant_factors(&app, tenant.body["id"].as_str().unwrap(), &t.user_id).await;
    let (link, token) = reset_link(&app, &t, &sink, "ann@example.com").await;
    let browser = app.browser();

    // Act 1: the page lists them.
    let html = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Authenticator app"), "{html}");
    assert!(html.contains("Passkey “Laptop”"), "{html}");
    assert!(html.contains("1 unused recovery codes"), "{html}");
    let passkey_field = html
        .split("name=\"remove_passkey_")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|id| format!("remove_passkey_{id}"))
        .unwrap();
    let csrf = hidden_field(&html, "csrf_token");
    let form = |csrf: String| {
        vec![
            ("token".to_owned(), token.clone()),
            ("password".to_owned(), NEW_PASSWORD.to_owned()),
            ("password_confirm".to_owned(), NEW_PASSWORD.to_owned()),
            ("csrf_token".to_owned(), csrf),
            ("remove_totp".to_owned(), "1".to_owned()),
            (passkey_field.clone(), "1".to_owned()),
        ]
    };

    // Act 2: a removal posted from elsewhere (no session, a guessed CSRF token).
    let forged = app
        .http
        .post(format!("{}/password/reset", t.issuer))
        .form(&form("guess".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(app.count_rows("user_totp").await, 1, "nothing removed");

    // Act 3: the browser that was shown the page.
    let done = browser
        .post(format!("{}/password/reset", t.issuer))
        .form(&form(csrf))
        .send()
        .await
        .unwrap();

    // Assert: the ticked factors are gone with the new password; the rest stays.
    assert_eq!(done.status(), 200);
    assert_eq!(app.count_rows("user_totp").await, 0);
    assert_eq!(app.count_rows("passkeys").await, 0);
    assert_eq!(app.count_rows("recovery_codes").await, 1, "not ticked");
    let actions = app.audit_actions(&t.slug).await;
    assert!(
        actions.iter().any(|a| a == "user.mfa_removed_at_reset"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_administrators_password_change_ends_every_session_and_refresh_token() {
    // Arrange: ann is signed in twice, with a refresh token.
    let app = TestApp::spawn().await;
    let t = setup(&app).await;
    let first = app.browser();
    let refresh_token = refresh_token_in(&app, &t, &first).await;
    let second = app.browser();
    app.sign_in(&second, &authorize_url(&t), "ann", PASSWORD)
        .await;
    let account = format!("{}/account", t.issuer);
    assert_eq!(second.get(&account).send().await.unwrap().status(), 200);

    // Act
    let put = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/{}/users/{}/password", t.slug, t.user_id),
            Some(&app.admin_token),
            Some(&json!({ "password": NEW_PASSWORD })),
        )
        .await;

    // Assert
    assert_eq!(put.status, 204, "{}", put.body);
    for browser in [&first, &second] {
        let after = browser.get(&account).send().await.unwrap();
        assert_eq!(after.status(), 303, "the session is over");
    }
    assert_eq!(refresh(&app, &t, &refresh_token).await.status, 400);
}
