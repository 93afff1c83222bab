//! The account page: reached through login on the same session, and every change it
//! offers; plus the management API's view of a user's factors.

use e2e::{TestApp, hidden_field};
use reqwest::Client;
use serde_json::{Value, json};
use url::Url;

use e2e::flow::{
    PASSWORD, authorize, code, id_claims, location, mfa_page, password, pkce, query, redeem, setup,
    shown_key, submit_code,
};

/// Signs `browser` in to the account page (password only); returns the page's HTML.
async fn open_account(browser: &Client, issuer: &str, password_text: &str) -> String {
    let first = browser
        .get(format!("{issuer}/account"))
        .send()
        .await
        .unwrap();
    let login = location(&first);
    assert!(login.path().ends_with("/login"), "{login}");
    let back = location(&password(browser, &login, password_text).await);
    assert_eq!(back.as_str(), format!("{issuer}/account"));
    account_html(browser, issuer).await
}

async fn account_html(browser: &Client, issuer: &str) -> String {
    let page = browser
        .get(format!("{issuer}/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    page.text().await.unwrap()
}

async fn post(
    browser: &Client,
    url: String,
    html: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = hidden_field(html, "csrf_token");
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(url).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "optional", true).await;
    let other = app.browser();
    open_account(&other, &rp.issuer, PASSWORD).await;
    let browser = app.browser();
    let html = open_account(&browser, &rp.issuer, PASSWORD).await;
    assert!(html.contains("Signed in as <strong>ann</strong>"));

    let wrong = post(
        &browser,
        format!("{}/account/password", rp.issuer),
        &html,
        &[
            ("current_password", "not my password"),
            ("new_password", "a brand new secret"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let forged = browser
        .post(format!("{}/account/password", rp.issuer))
        .form(&[
            ("csrf_token", "forged"),
            ("current_password", PASSWORD),
            ("new_password", "a brand new secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "CSRF token bound to the session");
    let changed = post(
        &browser,
        format!("{}/account/password", rp.issuer),
        &html,
        &[
            ("current_password", PASSWORD),
            ("new_password", "a brand new secret"),
        ],
    )
    .await;
    assert!(
        location(&changed)
            .as_str()
            .ends_with("notice=password_changed")
    );
    // This browser stays signed in; the other one is signed out.
    account_html(&browser, &rp.issuer).await;
    let ended = other
        .get(format!("{}/account", rp.issuer))
        .send()
        .await
        .unwrap();
    assert!(location(&ended).path().ends_with("/login"));
    // The old password no longer works, the new one does.
    let fresh = app.browser();
    let login = authorize(&fresh, &rp, &pkce(), &[]).await;
    assert_eq!(password(&fresh, &login, PASSWORD).await.status(), 401);
    let ok = password(&fresh, &login, "a brand new secret").await;
    assert_eq!(ok.status(), 303);
    let actions = app.audit_actions(&rp.slug).await;
    assert!(
        actions.iter().any(|a| a == "user.password_changed"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_user_ends_another_of_their_sessions() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "optional", true).await;
    let other = app.browser();
    open_account(&other, &rp.issuer, PASSWORD).await;
    let browser = app.browser();
    let html = open_account(&browser, &rp.issuer, PASSWORD).await;
    let blocks: Vec<&str> = html.split("<li>Signed in").skip(1).collect();
    assert_eq!(blocks.len(), 2, "both sessions are listed");
    let theirs = blocks
        .iter()
        .find(|b| !b.contains("(this browser)"))
        .unwrap();
    let sid = hidden_field(theirs, "sid");
    let done = post(
        &browser,
        format!("{}/account/sessions/end", rp.issuer),
        &html,
        &[("sid", &sid)],
    )
    .await;
    assert!(location(&done).as_str().ends_with("notice=session_ended"));
    let ended = other
        .get(format!("{}/account", rp.issuer))
        .send()
        .await
        .unwrap();
    assert!(
        location(&ended).path().ends_with("/login"),
        "that browser must sign in again"
    );
    let html = account_html(&browser, &rp.issuer).await;
    assert_eq!(html.matches("<li>Signed in").count(), 1);
    let unknown = post(
        &browser,
        format!("{}/account/sessions/end", rp.issuer),
        &html,
        &[("sid", "nope")],
    )
    .await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn revoking_a_consent_revokes_the_apps_refresh_tokens() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "optional", false).await;
    let browser = app.browser();
    let p = pkce();
    let login = authorize(&browser, &rp, &p, &[]).await;
    let consent_url = location(&password(&browser, &login, PASSWORD).await);
    assert!(consent_url.path().ends_with("/consent"));
    let consent_html = browser
        .get(consent_url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let allowed = browser
        .post(consent_url.join("consent").unwrap())
        .form(&[
            (
                "interaction",
                hidden_field(&consent_html, "interaction").as_str(),
            ),
            (
                "csrf_token",
                hidden_field(&consent_html, "csrf_token").as_str(),
            ),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    let tokens = redeem(&app, &rp, &location(&allowed), &p).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let html = account_html(&browser, &rp.issuer).await;
    assert!(
        html.contains("Web: ") && html.contains("offline_access"),
        "the consent is listed: {html}"
    );
    let revoked = post(
        &browser,
        format!("{}/account/consents/revoke", rp.issuer),
        &html,
        &[("client_id", &rp.client_id)],
    )
    .await;
    assert!(
        location(&revoked)
            .as_str()
            .ends_with("notice=consent_revoked")
    );
    let refreshed = app
        .http
        .post(format!("{}/token", rp.issuer))
        .basic_auth(&rp.client_id, rp.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 400);
    let body: Value = refreshed.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // The app must ask again.
    let again = authorize(&browser, &rp, &pkce(), &[]).await;
    assert!(again.path().ends_with("/consent"), "{again}");
    let actions = app.audit_actions(&rp.slug).await;
    assert!(
        actions.iter().any(|a| a == "consent.revoked"),
        "{actions:?}"
    );
}

/// Under `required`: the account page needs the second factor too, so the first visit
/// enrols; returns the account page HTML and the TOTP key.
async fn enrol_through_account(app: &TestApp, browser: &Client, issuer: &str) -> (String, String) {
    let first = browser
        .get(format!("{issuer}/account"))
        .send()
        .await
        .unwrap();
    let login = location(&first);
    let mfa_url = location(&password(browser, &login, PASSWORD).await);
    assert!(mfa_url.path().ends_with("/login/mfa"));
    let html = mfa_page(browser, &mfa_url).await;
    let key = shown_key(&html);
    let done = submit_code(browser, &mfa_url, &html, "enrol_totp", &code(app, &key, 0)).await;
    let codes_html = done.text().await.unwrap();
    let back = submit_code(browser, &mfa_url, &codes_html, "continue", "").await;
    assert_eq!(location(&back).as_str(), format!("{issuer}/account"));
    (account_html(browser, issuer).await, key)
}

#[tokio::test]
async fn the_last_factor_cannot_be_removed_under_the_required_policy() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "required", true).await;
    let browser = app.browser();
    let (html, _) = enrol_through_account(&app, &browser, &rp.issuer).await;
    assert!(html.contains("Remove authenticator app"));
    let refused = post(
        &browser,
        format!("{}/account/totp/remove", rp.issuer),
        &html,
        &[],
    )
    .await;
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.unwrap().contains("last second factor"));

    // Recovery codes can be regenerated (the old set stops working).
    let regenerated = post(
        &browser,
        format!("{}/account/recovery-codes", rp.issuer),
        &html,
        &[],
    )
    .await;
    assert_eq!(regenerated.status(), 200);
    let codes = e2e::flow::shown_codes(&regenerated.text().await.unwrap());
    assert_eq!(codes.len(), 10);

    // Under `optional` the same removal is allowed, and raises an audit event.
    let patched = app
        .patch(
            &format!("/api/v1/tenants/{}", rp.slug),
            json!({ "settings": { "mfa_policy": "optional" } }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let html = account_html(&browser, &rp.issuer).await;
    let removed = post(
        &browser,
        format!("{}/account/totp/remove", rp.issuer),
        &html,
        &[],
    )
    .await;
    assert!(location(&removed).as_str().ends_with("notice=totp_removed"));
    let actions = app.audit_actions(&rp.slug).await;
    assert!(
        actions.iter().any(|a| a == "user.totp_removed"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_authenticator_app_set_up_on_the_account_page_is_asked_for_at_the_next_login() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "optional", true).await;
    let browser = app.browser();
    let html = open_account(&browser, &rp.issuer, PASSWORD).await;
    let setup_page = browser
        .get(format!("{}/account/totp", rp.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(setup_page.contains("<svg"));
    let key = shown_key(&setup_page);
    let confirmed = post(
        &browser,
        format!("{}/account/totp", rp.issuer),
        &setup_page,
        &[("code", &code(&app, &key, 0))],
    )
    .await;
    assert_eq!(
        confirmed.status(),
        200,
        "first factor: recovery codes are shown"
    );
    assert!(
        !confirmed.headers().contains_key("set-cookie"),
        "the session's level does not rise with a factor added in it, so its id stays"
    );
    drop(html);

    app.clock.advance(30);
    let fresh = app.browser();
    let p = pkce();
    let login = authorize(&fresh, &rp, &p, &[]).await;
    let mfa_url = location(&password(&fresh, &login, PASSWORD).await);
    let html = mfa_page(&fresh, &mfa_url).await;
    let ok = submit_code(&fresh, &mfa_url, &html, "totp", &code(&app, &key, 0)).await;
    let claims = id_claims(&redeem(&app, &rp, &location(&ok), &p).await);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn the_management_api_lists_and_resets_a_users_factors_within_its_tenant_only() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "required", true).await;
    let browser = app.browser();
    enrol_through_account(&app, &browser, &rp.issuer).await;
    let path = format!("/api/v1/tenants/{}/users/{}/factors", rp.slug, rp.user_id);

    let listed = app.get(&path).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["totp"], true);
    assert_eq!(listed.body["recovery_codes_remaining"], 10);
    assert_eq!(listed.body["passkeys"], json!([]));

    // Another tenant's key sees nothing of this tenant.
    let other = app.create_tenant().await;
    let other_slug = other["slug"].as_str().unwrap();
    let other_key = app.create_tenant_key(other_slug, "tenant_admin").await;
    let reply = app
        .call(reqwest::Method::GET, &path, Some(&other_key), None)
        .await;
    reply.assert_problem(404);
    let reply = app
        .call(reqwest::Method::DELETE, &path, Some(&other_key), None)
        .await;
    reply.assert_problem(404);
    // Nor is the user reachable through the other tenant's path.
    let cross = app
        .get(&format!(
            "/api/v1/tenants/{other_slug}/users/{}/factors",
            rp.user_id
        ))
        .await;
    cross.assert_problem(404);
    let cross = app
        .delete(&format!(
            "/api/v1/tenants/{other_slug}/users/{}/factors",
            rp.user_id
        ))
        .await;
    cross.assert_problem(404);

    let reset = app.delete(&path).await;
    assert_eq!(reset.status, 204, "{}", reset.body);
    let listed = app.get(&path).await;
    assert_eq!(listed.body["totp"], false);
    assert_eq!(listed.body["recovery_codes_remaining"], 0);
    let actions = app.audit_actions(&rp.slug).await;
    assert!(actions.iter().any(|a| a == "user.mfa_reset"), "{actions:?}");

    // Under `required` the user enrols again at the next login.
    let fresh = app.browser();
    let login = authorize(&fresh, &rp, &pkce(), &[]).await;
    let mfa_url: Url = location(&password(&fresh, &login, PASSWORD).await);
    assert!(mfa_page(&fresh, &mfa_url).await.contains("<svg"));
    let _ = query(&mfa_url, "interaction");
}
