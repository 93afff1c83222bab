//! Second factors end to end: TOTP (codes computed here with totp-rs), recovery codes,
//! the tenant MFA policy, `acr_values` step-up, and the `amr`/`acr` of ID tokens.

use e2e::{TestApp, flow::*};
use serde_json::{Value, json};

fn cookie_of(resp: &reqwest::Response) -> String {
    resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_required_policy_forces_totp_enrolment_and_then_every_login_needs_a_code() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "required", true).await;

    // First login: the password alone gives no session; enrolment comes first.
    let browser = app.browser();
    let p = pkce();
    let (key, recovery, callback) = enrol_at_login(&app, &browser, &rp, &p).await;
    let claims = id_claims(&redeem(&app, &rp, &callback, &p).await);
    // The factor enrolled in this sign-in proves nothing about it.
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "0");

    // The seed is encrypted at rest.
    let dump = app.dump_database().await;
    assert!(!dump.contains(&key), "the TOTP seed is not stored in clear");

    // A later login: wrong code refused, right code accepted, the same code refused.
    app.clock.advance(60);
    let second = app.browser();
    let p2 = pkce();
    let login = authorize(&second, &rp, &p2, &[]).await;
    let to_mfa = password(&second, &login, PASSWORD).await;
    let first_cookie = cookie_of(&to_mfa);
    let mfa_url = location(&to_mfa);
    let html = mfa_page(&second, &mfa_url).await;
    assert!(!html.contains("<svg"), "no enrolment the second time");
    let wrong = submit_code(&second, &mfa_url, &html, "totp", "123456").await;
    assert_eq!(wrong.status(), 401);
    let good = code(&app, &key, 0);
    let ok = submit_code(&second, &mfa_url, &html, "totp", &good).await;
    assert_ne!(cookie_of(&ok), first_cookie, "the session id changes again");
    let claims = id_claims(&redeem(&app, &rp, &location(&ok), &p2).await);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], ACR_MFA);

    let third = app.browser();
    let p3 = pkce();
    let login = authorize(&third, &rp, &p3, &[]).await;
    let mfa_url = location(&password(&third, &login, PASSWORD).await);
    let html = mfa_page(&third, &mfa_url).await;
    let replay = submit_code(&third, &mfa_url, &html, "totp", &good).await;
    assert_eq!(replay.status(), 401, "a used code is refused");

    // A recovery code works once.
    let html = mfa_page(&third, &mfa_url).await;
    let ok = submit_code(
        &third,
        &mfa_url,
        &html,
        "recovery",
        &recovery[0].to_uppercase(),
    )
    .await;
    let claims = id_claims(&redeem(&app, &rp, &location(&ok), &p3).await);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    let fourth = app.browser();
    let p4 = pkce();
    let login = authorize(&fourth, &rp, &p4, &[]).await;
    let mfa_url = location(&password(&fourth, &login, PASSWORD).await);
    let html = mfa_page(&fourth, &mfa_url).await;
    let again = submit_code(&fourth, &mfa_url, &html, "recovery", &recovery[0]).await;
    assert_eq!(again.status(), 401, "a recovery code is single use");

    let actions = app.audit_actions(&rp.slug).await;
    for action in [
        "user.totp_enrolled",
        "user.recovery_codes_generated",
        "user.recovery_code_used",
        "user.second_factor",
        "user.login_first_factor",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn second_factor_failures_count_toward_the_lockout() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "required", true).await;
    let browser = app.browser();
    let p = pkce();
    let (key, _, _) = enrol_at_login(&app, &browser, &rp, &p).await;

    app.clock.advance(60);
    let other = app.browser();
    let p = pkce();
    let login = authorize(&other, &rp, &p, &[]).await;
    let mfa_url = location(&password(&other, &login, PASSWORD).await);
    let html = mfa_page(&other, &mfa_url).await;
    // The password counted as the first attempt of the window (it is only forgotten
    // once the whole login succeeds), so nine wrong codes reach the threshold of ten.
    for _ in 0..9 {
        let wrong = submit_code(&other, &mfa_url, &html, "totp", "000000").await;
        assert_eq!(wrong.status(), 401);
    }
    let locked = submit_code(&other, &mfa_url, &html, "totp", &code(&app, &key, 0)).await;
    assert_eq!(
        locked.status(),
        429,
        "even the right code waits out the lockout"
    );
    // The password step is locked too, for the same account.
    let again = app.browser();
    let login = authorize(&again, &rp, &pkce(), &[]).await;
    assert_eq!(password(&again, &login, PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn acr_values_step_up_an_existing_password_session_and_amr_tells_the_truth() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "optional", true).await;
    let discovery: Value = app
        .http
        .get(format!("{}/.well-known/openid-configuration", rp.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["acr_values_supported"], json!(["0", ACR_MFA]));

    // Optional policy, no factor: the password is enough.
    let browser = app.browser();
    let p = pkce();
    let login = authorize(&browser, &rp, &p, &[]).await;
    let back = location(&password(&browser, &login, PASSWORD).await);
    let claims = id_claims(&redeem(&app, &rp, &back, &p).await);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "0");

    // Same session, the client asks for MFA: no password again, but a second factor
    // (enrolment, since the user has none yet).
    let p = pkce();
    let step_up = authorize(&browser, &rp, &p, &[("acr_values", ACR_MFA)]).await;
    assert!(step_up.path().ends_with("/login/mfa"), "{step_up}");
    let html = mfa_page(&browser, &step_up).await;
    let key = shown_key(&html);
    let done = submit_code(
        &browser,
        &step_up,
        &html,
        "enrol_totp",
        &code(&app, &key, 0),
    )
    .await;
    let codes_html = done.text().await.unwrap();
    let next = submit_code(&browser, &step_up, &codes_html, "continue", "").await;
    let claims = id_claims(&redeem(&app, &rp, &location(&next), &p).await);
    // Enrolled in this sign-in: not multi-factor, and the client can tell.
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "0");

    // Later logins use the factor now enrolled.
    let fresh = app.browser();
    let p = pkce();
    let login = authorize(&fresh, &rp, &p, &[]).await;
    let mfa_url = location(&password(&fresh, &login, PASSWORD).await);
    assert!(
        mfa_url.path().ends_with("/login/mfa"),
        "a user with a factor always uses it"
    );
    let html = mfa_page(&fresh, &mfa_url).await;
    app.clock.advance(30);
    let ok = submit_code(&fresh, &mfa_url, &html, "totp", &code(&app, &key, 0)).await;
    let claims = id_claims(&redeem(&app, &rp, &location(&ok), &p).await);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn prompt_none_cannot_step_up_a_password_session() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "optional", true).await;
    let browser = app.browser();
    let p = pkce();
    let login = authorize(&browser, &rp, &p, &[]).await;
    location(&password(&browser, &login, PASSWORD).await);
    let refused = authorize(
        &browser,
        &rp,
        &pkce(),
        &[("acr_values", ACR_MFA), ("prompt", "none")],
    )
    .await;
    assert_eq!(query(&refused, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn the_off_policy_never_asks_for_a_second_factor() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "off", true).await;
    let browser = app.browser();
    let p = pkce();
    let login = authorize(&browser, &rp, &p, &[("acr_values", ACR_MFA)]).await;
    let back = location(&password(&browser, &login, PASSWORD).await);
    let claims = id_claims(&redeem(&app, &rp, &back, &p).await);
    assert_eq!(
        claims["acr"], "0",
        "the relying party sees MFA did not happen"
    );
}

#[tokio::test]
async fn a_factor_enrolled_in_a_sign_in_never_makes_that_sign_in_mfa() {
    // Arrange: a password-only sign-in adds an authenticator app on the account page.
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "optional", true).await;
    let browser = signed_in_with_password(&app, &rp).await;
    let key = add_totp_on_account_page(&app, &browser, &rp).await;

    // Act: the client asks for MFA in the same sign-in (which the new app cannot
    // satisfy, so it is not asked for: the client gets the `acr` it can check).
    app.clock.advance(30);
    let p = pkce();
    let back = authorize(&browser, &rp, &p, &[("acr_values", ACR_MFA)]).await;
    let claims = id_claims(&redeem(&app, &rp, &back, &p).await);

    // Assert: still not multi-factor; a new sign-in with the app is.
    assert_ne!(claims["acr"], ACR_MFA, "{claims}");
    assert!(
        !claims["amr"].as_array().unwrap().contains(&json!("mfa")),
        "{claims}"
    );
    app.clock.advance(30);
    let fresh = app.browser();
    let p = pkce();
    let login = authorize(&fresh, &rp, &p, &[]).await;
    let mfa_url = location(&password(&fresh, &login, PASSWORD).await);
    let html = mfa_page(&fresh, &mfa_url).await;
    let ok = submit_code(&fresh, &mfa_url, &html, "totp", &code(&app, &key, 0)).await;
    let claims = id_claims(&redeem(&app, &rp, &location(&ok), &p).await);
    assert_eq!(claims["acr"], ACR_MFA);
}

#[tokio::test]
async fn a_pending_sign_in_never_sees_an_enrolment_seed_started_in_another_session() {
    // Arrange: under `required`, one browser proves the password and is shown a seed.
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "required", true).await;
    let first = app.browser();
    let login = authorize(&first, &rp, &pkce(), &[]).await;
    let first_mfa = location(&password(&first, &login, PASSWORD).await);
    let first_key = shown_key(&mfa_page(&first, &first_mfa).await);

    // Act: another pending sign-in (the password alone) opens the enrolment page.
    let second = app.browser();
    let login = authorize(&second, &rp, &pkce(), &[]).await;
    let second_mfa = location(&password(&second, &login, PASSWORD).await);
    let html = mfa_page(&second, &second_mfa).await;

    // Assert: it gets a seed of its own, and the first seed's codes mean nothing to it.
    assert_ne!(shown_key(&html), first_key);
    let stolen = submit_code(
        &second,
        &second_mfa,
        &html,
        "enrol_totp",
        &code(&app, &first_key, 0),
    )
    .await;
    assert_eq!(stolen.status(), 401);
    // The first browser's enrolment still works with its own seed.
    let html = mfa_page(&first, &first_mfa).await;
    assert_eq!(shown_key(&html), first_key);
    let done = submit_code(
        &first,
        &first_mfa,
        &html,
        "enrol_totp",
        &code(&app, &first_key, 0),
    )
    .await;
    assert_eq!(done.status(), 200);
}

#[tokio::test]
async fn adding_an_authenticator_app_needs_a_fresh_sign_in_and_raises_mfa_added() {
    // Arrange: a password sign-in that is six minutes old.
    let app = TestApp::spawn().await;
    let rp = setup(&app, &app.address, "optional", true).await;
    let browser = signed_in_with_password(&app, &rp).await;
    app.clock.advance(360);

    // Act + Assert: the setup page sends the browser to sign in again, not to a seed.
    let stale = browser
        .get(format!("{}/account/totp", rp.issuer))
        .send()
        .await
        .unwrap();
    let to = location(&stale);
    assert!(to.path().ends_with("/login"), "{to}");
    let back = location(&password(&browser, &to, PASSWORD).await);
    assert!(back.path().ends_with("/account/totp"), "{back}");

    // After signing in again, the app is added; an alert and an email follow.
    add_totp_on_account_page(&app, &browser, &rp).await;
    let dump = app.dump_database().await;
    assert!(
        dump.lines()
            .any(|l| l.starts_with("security_events:") && l.contains("mfa.added")),
        "an mfa.added alert"
    );

    let mail =
        crate::account_emails::wait_for_eml(&app, "An authenticator app was just added").await;
    assert!(mail.contains("ann@example.com"), "to the user");
}
