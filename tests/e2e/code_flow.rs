//! The authorization code flow end to end, with a cookie-jar browser.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::flow::{
    PASSWORD, Pkce, REDIRECT, Rp, authorize_request, consent, get_code, introspect, location,
    password, pkce, query, redeem_code, refresh_token_of, token,
};
use e2e::{TestApp, hidden_field};
use reqwest::{Client, Method};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A tenant with `ann` and a `client_type` client whose name needs escaping, with a
/// post-logout redirect URI.
async fn setup(app: &TestApp, client_type: &str, first_party: bool) -> Rp {
    let slug = e2e::flow::tenant(app, json!({})).await;
    e2e::flow::client(
        app,
        &slug,
        json!({ "name": "Web <app>", "client_type": client_type, "first_party": first_party,
                "post_logout_redirect_uris": ["https://app.example.com/bye"] }),
    )
    .await
}

#[tokio::test]
async fn the_code_flow_works_for_a_confidential_client_with_consent_sso_refresh_and_userinfo() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", false).await;
    let browser = app.browser();
    let Pkce {
        verifier,
        challenge,
    } = pkce();

    // First run: login page, then consent page, then the code.
    let first = authorize_request(&browser, &rp, &challenge, &[]).await;
    let login_url = location(&first);
    assert!(login_url.path().ends_with("/login"));
    let anon_cookie = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        anon_cookie.contains("HttpOnly") && anon_cookie.contains("SameSite=Lax"),
        "{anon_cookie}"
    );
    // A wrong password re-shows the form with the same answer as an unknown user.
    let wrong = password(&browser, &login_url, "wrong password").await;
    assert_eq!(wrong.status(), 401);
    let logged_in = password(&browser, &login_url, PASSWORD).await;
    let new_cookie = logged_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let cookie_value = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_ne!(
        cookie_value(&anon_cookie),
        cookie_value(&new_cookie),
        "the session id changes at login"
    );
    let consent_url = location(&logged_in);
    assert!(consent_url.path().ends_with("/consent"), "{consent_url}");
    let (consent_html, allowed) = consent(&browser, &consent_url, "allow").await;
    assert!(
        consent_html.contains("Web &lt;app&gt;") || consent_html.contains("Web &#60;app&#62;"),
        "the client name is escaped"
    );
    assert!(
        consent_html.contains("offline_access"),
        "the scopes are listed"
    );
    let done = location(&allowed);
    let code = query(&done, "code").unwrap();
    assert_eq!(query(&done, "state").as_deref(), Some("st-123"));
    assert_eq!(query(&done, "iss").as_deref(), Some(rp.issuer.as_str()));

    let tokens = redeem_code(&app, &rp, &code, &verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.headers["cache-control"], "no-store");
    let access = tokens.body["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens.body["refresh_token"].as_str().unwrap().to_owned();
    let id_token = tokens.body["id_token"].as_str().unwrap().to_owned();
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(&id_token)
        .unwrap()
        .claims;
    assert_eq!(claims["iss"], rp.issuer.as_str());
    assert_eq!(claims["sub"], rp.user_id.as_str());
    assert_eq!(claims["aud"], rp.client_id.as_str());
    assert_eq!(claims["azp"], rp.client_id.as_str());
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims["auth_time"].is_i64() && claims["sid"].is_string() && claims["acr"].is_string());
    let expected_at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access.as_bytes())[..16]);
    assert_eq!(claims["at_hash"], expected_at_hash);

    // UserInfo releases claims by scope.
    let info = app
        .http
        .get(format!("{}/userinfo", rp.issuer))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["sub"], rp.user_id.as_str());
    assert_eq!(info["email"], "ann@example.com");
    assert_eq!(info["preferred_username"], "ann");
    let bad = app
        .http
        .get(format!("{}/userinfo", rp.issuer))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\"")
    );

    // SSO: the second authorization in this browser skips login and consent.
    let Pkce {
        verifier: verifier2,
        challenge: challenge2,
    } = pkce();
    let again = location(&authorize_request(&browser, &rp, &challenge2, &[]).await);
    assert!(
        again.as_str().starts_with(REDIRECT),
        "no pages the second time: {again}"
    );
    let code2 = query(&again, "code").unwrap();
    assert_eq!(redeem_code(&app, &rp, &code2, &verifier2).await.status, 200);

    // Refresh: rotated on use; narrower scope allowed, wider refused.
    let rotated = token(
        &app,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let refresh2 = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    let wider = token(
        &app,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
            ("scope", "openid api:admin"),
        ],
    )
    .await;
    assert_eq!(wider.body["error"], "invalid_scope");

    // Reuse of the spent token revokes the whole family and is audited.
    let reuse = token(
        &app,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.body["error"], "invalid_grant");
    let after = token(
        &app,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
        ],
    )
    .await;
    assert_eq!(
        after.body["error"], "invalid_grant",
        "the family is revoked"
    );
    assert!(
        app.audit_actions(&rp.slug)
            .await
            .iter()
            .any(|a| a == "refresh_token.reuse_detected")
    );
}

#[tokio::test]
async fn a_public_first_party_client_uses_pkce_without_a_secret() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "public", true).await;
    let browser = app.browser();
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&browser, &rp, &challenge).await;
    let tokens = redeem_code(&app, &rp, &code, &verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(tokens.body["id_token"].is_string());
}

#[tokio::test]
async fn bad_clients_and_redirect_uris_get_an_error_page_and_never_a_redirect() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let browser = app.browser();
    let Pkce { challenge, .. } = pkce();
    for (what, extra) in [
        ("unknown client", vec![("client_id", "nope")]),
        ("missing client", vec![("client_id", "")]),
        (
            "unregistered",
            vec![("redirect_uri", "https://evil.example/callback")],
        ),
        (
            "trailing slash",
            vec![("redirect_uri", "https://app.example.com/callback/")],
        ),
        (
            "extra query",
            vec![("redirect_uri", "https://app.example.com/callback?x=1")],
        ),
        (
            "other port",
            vec![("redirect_uri", "https://app.example.com:8443/callback")],
        ),
        (
            "other case",
            vec![("redirect_uri", "https://APP.example.com/callback")],
        ),
        ("missing", vec![("redirect_uri", "")]),
    ] {
        let resp = authorize_request(&browser, &rp, &challenge, &extra).await;
        assert_eq!(resp.status(), 400, "{what}");
        assert!(
            resp.headers().get("location").is_none(),
            "{what} must not redirect"
        );
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}

#[tokio::test]
async fn protocol_errors_go_back_to_the_client_with_state_and_iss() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let browser = app.browser();
    let Pkce { challenge, .. } = pkce();
    for (what, extra, error) in [
        (
            "implicit",
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            "no PKCE",
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (
            "plain PKCE",
            vec![("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            "no method",
            vec![("code_challenge_method", "")],
            "invalid_request",
        ),
        (
            "bad scope",
            vec![("scope", "openid admin:all")],
            "invalid_scope",
        ),
        (
            "bad prompt",
            vec![("prompt", "none login")],
            "invalid_request",
        ),
        ("prompt none", vec![("prompt", "none")], "login_required"),
    ] {
        let next = location(&authorize_request(&browser, &rp, &challenge, &extra).await);
        assert!(next.as_str().starts_with(REDIRECT), "{what}: {next}");
        assert_eq!(query(&next, "error").as_deref(), Some(error), "{what}");
        assert_eq!(query(&next, "state").as_deref(), Some("st-123"), "{what}");
        assert_eq!(
            query(&next, "iss").as_deref(),
            Some(rp.issuer.as_str()),
            "{what}"
        );
        assert!(query(&next, "code").is_none());
    }
}

#[tokio::test]
async fn consent_is_asked_once_can_be_denied_and_prompt_none_reports_what_is_missing() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", false).await;
    let browser = app.browser();
    let Pkce { challenge, .. } = pkce();
    let login_url = location(&authorize_request(&browser, &rp, &challenge, &[]).await);
    let consent_url = location(&password(&browser, &login_url, PASSWORD).await);
    let denied = location(&consent(&browser, &consent_url, "deny").await.1);
    assert_eq!(query(&denied, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&denied, "state").as_deref(), Some("st-123"));

    let none = location(&authorize_request(&browser, &rp, &challenge, &[("prompt", "none")]).await);
    assert_eq!(query(&none, "error").as_deref(), Some("consent_required"));

    let consent_again = location(&authorize_request(&browser, &rp, &challenge, &[]).await);
    assert!(consent_again.path().ends_with("/consent"));
    let ok = location(&consent(&browser, &consent_again, "allow").await.1);
    assert!(query(&ok, "code").is_some());
    let silent =
        location(&authorize_request(&browser, &rp, &challenge, &[("prompt", "none")]).await);
    assert!(query(&silent, "code").is_some(), "consent remembered");
    let audit = app
        .get(&format!(
            "/api/v1/tenants/{}/audit-events?limit=200",
            rp.slug
        ))
        .await;
    let granted = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "consent.granted")
        .cloned();
    assert_eq!(
        granted.unwrap()["details"]["client_id"],
        rp.client_id.as_str(),
        "consent is audited"
    );
    let forced =
        location(&authorize_request(&browser, &rp, &challenge, &[("prompt", "consent")]).await);
    assert!(
        forced.path().ends_with("/consent"),
        "prompt=consent asks again"
    );
    let relogin =
        location(&authorize_request(&browser, &rp, &challenge, &[("prompt", "login")]).await);
    assert!(
        relogin.path().ends_with("/login"),
        "prompt=login asks again"
    );
}

#[tokio::test]
async fn code_redemption_refusals_and_replay_revocation() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let browser = app.browser();

    // Wrong verifier, wrong redirect URI, missing verifier: invalid_grant.
    for (verifier_override, redirect) in [
        (Some("x".repeat(43)), REDIRECT),
        (None, "https://app.example.com/other"),
    ] {
        let Pkce {
            verifier,
            challenge,
        } = pkce();
        let code = get_code(&browser, &rp, &challenge).await;
        let v = verifier_override.unwrap_or(verifier);
        let reply = token(
            &app,
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &v),
            ],
        )
        .await;
        assert_eq!(reply.body["error"], "invalid_grant", "{}", reply.body);
    }
    let Pkce { challenge, .. } = pkce();
    let code = get_code(&browser, &rp, &challenge).await;
    let reply = token(
        &app,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(reply.body["error"], "invalid_grant");

    // A code redeemed by another client is refused.
    let other = app
        .post(
            &format!("/api/v1/tenants/{}/clients", rp.slug),
            json!({ "name": "o", "client_type": "confidential", "redirect_uris": [REDIRECT] }),
        )
        .await;
    let thief = Rp {
        slug: rp.slug.clone(),
        issuer: rp.issuer.clone(),
        client_id: other.body["client_id"].as_str().unwrap().to_owned(),
        secret: other.body["client_secret"].as_str().map(str::to_owned),
        user_id: rp.user_id.clone(),
    };
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&browser, &rp, &challenge).await;
    assert_eq!(
        redeem_code(&app, &thief, &code, &verifier).await.body["error"],
        "invalid_grant"
    );

    // Replay with the wrong verifier revokes nothing; replay by the rightful client does.
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&browser, &rp, &challenge).await;
    let first = redeem_code(&app, &rp, &code, &verifier).await;
    assert_eq!(first.status, 200);
    let access = first.body["access_token"].as_str().unwrap().to_owned();
    let refresh = first.body["refresh_token"].as_str().unwrap().to_owned();
    let wrong = redeem_code(&app, &rp, &code, &"y".repeat(43)).await;
    assert_eq!(wrong.body["error"], "invalid_grant");
    let by_thief = redeem_code(&app, &thief, &code, &verifier).await;
    assert_eq!(by_thief.body["error"], "invalid_grant");
    assert_eq!(
        introspect(&app, &rp, &access).await["active"],
        true,
        "a bad replay revokes nothing"
    );
    assert_eq!(introspect(&app, &rp, &refresh).await["active"], true);
    let replay = redeem_code(&app, &rp, &code, &verifier).await;
    assert_eq!(replay.body["error"], "invalid_grant");
    assert_eq!(
        introspect(&app, &rp, &access).await["active"],
        false,
        "replay revokes the access token"
    );
    assert_eq!(
        introspect(&app, &rp, &refresh).await["active"],
        false,
        "and the refresh family"
    );
}

#[tokio::test]
async fn fifty_parallel_redemptions_of_one_code_yield_exactly_one_token_response() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&app.browser(), &rp, &challenge).await;
    let attempts = (0..50).map(|_| redeem_code(&app, &rp, &code, &verifier));
    let replies = futures_util::future::join_all(attempts).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1);
    assert!(
        replies
            .iter()
            .all(|r| r.status == 200 || r.body["error"] == "invalid_grant")
    );
}

#[tokio::test]
async fn twenty_parallel_redemptions_of_one_refresh_token_yield_exactly_one_success() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let refresh = refresh_token_of(&app, &rp).await;
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let attempts = (0..20).map(|_| token(&app, &rp, &params));
    let replies = futures_util::future::join_all(attempts).await;
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 1);
    assert!(replies.iter().all(|r| r.status.as_u16() < 500));
}

#[tokio::test]
async fn parallel_refreshes_of_many_families_each_get_their_own_working_tokens() {
    // On SQLite these are group-committed in shared transactions: every request must
    // still get its own answer, and every rotated token must work.
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let mut refresh_tokens = Vec::new();
    for _ in 0..16 {
        refresh_tokens.push(refresh_token_of(&app, &rp).await);
    }
    let attempts = refresh_tokens.iter().map(|refresh| {
        let rp = &rp;
        let app = &app;
        async move {
            let params = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
            token(app, rp, &params).await
        }
    });
    let replies = futures_util::future::join_all(attempts).await;
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    let rotated: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| r.body["refresh_token"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rotated.len(), 16, "each request got its own successor");
    for (old, reply) in refresh_tokens.iter().zip(&replies) {
        assert!(!rotated.contains(old));
        let access = reply.body["access_token"].as_str().unwrap();
        assert_eq!(introspect(&app, &rp, access).await["active"], true);
        let next = reply.body["refresh_token"].as_str().unwrap();
        let params = [("grant_type", "refresh_token"), ("refresh_token", next)];
        assert_eq!(token(&app, &rp, &params).await.status, 200);
    }
}

#[tokio::test]
async fn user_grants_fail_closed_with_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let refresh = refresh_token_of(&app, &rp).await;
    app.db.clone().close().await.ok();
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let attempts = (0..4).map(|_| token(&app, &rp, &params));
    for reply in futures_util::future::join_all(attempts).await {
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(reply.body["error"].is_string(), "{}", reply.body);
    }
}

#[tokio::test]
async fn tokens_of_one_tenant_are_useless_at_another() {
    let app = TestApp::spawn().await;
    let a = setup(&app, "confidential", true).await;
    let b = setup(&app, "confidential", true).await;
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&app.browser(), &a, &challenge).await;
    let tokens = redeem_code(&app, &a, &code, &verifier).await;
    let access = tokens.body["access_token"].as_str().unwrap();
    let refresh = tokens.body["refresh_token"].as_str().unwrap();
    // A's client id and code mean nothing at B.
    let at_b = Rp {
        slug: b.slug.clone(),
        issuer: b.issuer.clone(),
        client_id: a.client_id.clone(),
        secret: a.secret.clone(),
        user_id: a.user_id.clone(),
    };
    assert_eq!(
        redeem_code(&app, &at_b, &code, &verifier).await.body["error"],
        "invalid_client"
    );
    assert_eq!(
        introspect(&app, &b, access).await,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&app, &b, refresh).await,
        json!({ "active": false })
    );
    let refreshed = token(
        &app,
        &b,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(refreshed.body["error"], "invalid_grant");
    let info = app
        .http
        .get(format!("{}/userinfo", b.issuer))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_session_and_returns_only_to_registered_uris() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let browser = app.browser();
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&browser, &rp, &challenge).await;
    let id_token = redeem_code(&app, &rp, &code, &verifier).await.body["id_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let evil = browser
        .get(format!("{}/logout", rp.issuer))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/bye"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 400);
    let out = browser
        .get(format!("{}/logout", rp.issuer))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://app.example.com/bye"),
            ("state", "bye-1"),
        ])
        .send()
        .await
        .unwrap();
    let back = location(&out);
    assert_eq!(back.as_str(), "https://app.example.com/bye?state=bye-1");
    // The session is gone: the next authorization asks for a login again.
    let Pkce { challenge, .. } = pkce();
    let next = location(&authorize_request(&browser, &rp, &challenge, &[]).await);
    assert!(next.path().ends_with("/login"), "{next}");
    let _ = app.call(Method::GET, "/healthz", None, None).await;
}

#[tokio::test]
async fn rp_initiated_logout_without_a_hint_for_this_session_asks_the_user_to_confirm() {
    // Arrange: a signed-in browser, and an ID token of ANOTHER session of the user.
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let browser = app.browser();
    let Pkce { challenge, .. } = pkce();
    get_code(&browser, &rp, &challenge).await;
    let other = app.browser();
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&other, &rp, &challenge).await;
    let foreign_hint = redeem_code(&app, &rp, &code, &verifier).await.body["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let still_signed_in = |browser: Client| {
        let rp = &rp;
        async move {
            let Pkce { challenge, .. } = pkce();
            let next = location(&authorize_request(&browser, rp, &challenge, &[]).await);
            next.as_str().starts_with(REDIRECT)
        }
    };

    // Act 1: a logout link without a hint, and one with another session's hint.
    for hint in [None, Some(foreign_hint.as_str())] {
        let mut params = vec![
            ("client_id", rp.client_id.as_str()),
            ("post_logout_redirect_uri", "https://app.example.com/bye"),
            ("state", "bye-2"),
        ];
        if let Some(hint) = hint {
            params.push(("id_token_hint", hint));
        }
        let asked = browser
            .get(format!("{}/logout", rp.issuer))
            .query(&params)
            .send()
            .await
            .unwrap();
        // Assert: a confirmation page, and the session is still there.
        assert_eq!(asked.status(), 200);
        let html = asked.text().await.unwrap();
        assert!(html.contains("Sign out of"), "{html}");
        assert!(
            still_signed_in(browser.clone()).await,
            "asking ends nothing"
        );
    }

    // Act 2: a cross-site form post without the session's CSRF token.
    let forged = browser
        .post(format!("{}/logout", rp.issuer))
        .form(&[("confirm", "yes"), ("csrf_token", "guessed")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 200, "asked again");
    assert!(still_signed_in(browser.clone()).await);

    // Act 3: the user confirms on the page.
    let html = browser
        .get(format!("{}/logout", rp.issuer))
        .query(&[
            ("client_id", rp.client_id.as_str()),
            ("post_logout_redirect_uri", "https://app.example.com/bye"),
            ("state", "bye-3"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let confirmed = browser
        .post(format!("{}/logout", rp.issuer))
        .form(&[
            ("csrf_token", hidden_field(&html, "csrf_token").as_str()),
            ("client_id", hidden_field(&html, "client_id").as_str()),
            (
                "post_logout_redirect_uri",
                hidden_field(&html, "post_logout_redirect_uri").as_str(),
            ),
            ("state", hidden_field(&html, "state").as_str()),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();

    // Assert: signed out, back at the client with state.
    assert_eq!(
        location(&confirmed).as_str(),
        "https://app.example.com/bye?state=bye-3"
    );
    assert!(!still_signed_in(browser.clone()).await);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&app.browser(), &rp, &challenge).await;
    app.clock.advance(61);
    assert_eq!(
        redeem_code(&app, &rp, &code, &verifier).await.body["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_reuse_grace_window_lets_a_client_retry_then_reuse_revokes() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    app.patch(
        &format!("/api/v1/tenants/{}", rp.slug),
        json!({ "settings": { "refresh_token_reuse_grace_secs": 10 } }),
    )
    .await;
    let refresh = refresh_token_of(&app, &rp).await;
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let first = token(&app, &rp, &params).await;
    assert_eq!(first.status, 200);
    // The response was "lost": a retry within the window gets tokens again (the same
    // successor refresh token, see `protocol_details`).
    let retry = token(&app, &rp, &params).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    let kept = retry.body["refresh_token"].as_str().unwrap().to_owned();
    // After the window a replay is reuse: the family dies.
    app.clock.advance(11);
    assert_eq!(
        token(&app, &rp, &params).await.body["error"],
        "invalid_grant"
    );
    let dead = token(
        &app,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &kept)],
    )
    .await;
    assert_eq!(dead.body["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_expire_when_idle() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    app.patch(
        &format!("/api/v1/tenants/{}", rp.slug),
        json!({ "settings": { "refresh_token_idle_ttl_secs": 300 } }),
    )
    .await;
    let refresh = refresh_token_of(&app, &rp).await;
    app.clock.advance(301);
    let reply = token(
        &app,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(reply.body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_confidential_client_without_pkce_must_send_a_nonce() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    app.patch(
        &format!("/api/v1/tenants/{}/clients/{}", rp.slug, rp.client_id),
        json!({ "require_pkce": false }),
    )
    .await;
    let browser = app.browser();
    let no_pkce = [("code_challenge", ""), ("code_challenge_method", "")];
    let mut without_nonce = no_pkce.to_vec();
    without_nonce.push(("nonce", ""));
    let refused = location(&authorize_request(&browser, &rp, "", &without_nonce).await);
    assert_eq!(query(&refused, "error").as_deref(), Some("invalid_request"));
    let login = location(&authorize_request(&browser, &rp, "", &no_pkce).await);
    let done = location(&password(&browser, &login, PASSWORD).await);
    let code = query(&done, "code").unwrap();
    let reply = token(
        &app,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Public clients can never lift PKCE.
    let public = setup(&app, "public", true).await;
    let lift = app
        .patch(
            &format!(
                "/api/v1/tenants/{}/clients/{}",
                public.slug, public.client_id
            ),
            json!({ "require_pkce": false }),
        )
        .await;
    lift.assert_problem(422);
}

#[tokio::test]
async fn max_age_forces_a_fresh_login_and_oversized_parameters_are_refused() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let browser = app.browser();
    let Pkce { challenge, .. } = pkce();
    get_code(&browser, &rp, &challenge).await;
    app.clock.advance(120);
    let fresh = location(&authorize_request(&browser, &rp, &challenge, &[("max_age", "60")]).await);
    assert!(fresh.path().ends_with("/login"), "{fresh}");
    let ok = location(&authorize_request(&browser, &rp, &challenge, &[("max_age", "3600")]).await);
    assert!(query(&ok, "code").is_some());
    let huge = "s".repeat(5000);
    let resp = authorize_request(&browser, &rp, &challenge, &[("state", &huge)]).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
}

#[tokio::test]
async fn forwarded_headers_are_believed_only_from_trusted_proxies() {
    for (trusted, expected) in [(false, "127.0.0.1"), (true, "203.0.113.9")] {
        let app = TestApp::spawn_with(|s| {
            if trusted {
                s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            }
        })
        .await;
        let created = app
            .http
            .post(format!("{}/api/v1/tenants", app.address))
            .bearer_auth(&app.admin_token)
            .header("x-forwarded-for", "198.51.100.7, 203.0.113.9")
            .json(&json!({ "slug": e2e::unique_slug("xff"), "display_name": "x" }))
            .send()
            .await
            .unwrap();
        let slug = created.json::<Value>().await.unwrap()["slug"]
            .as_str()
            .unwrap()
            .to_owned();
        let audit = app
            .get(&format!("/api/v1/tenants/{slug}/audit-events"))
            .await;
        assert_eq!(audit.body["items"][0]["ip"], expected, "trusted={trusted}");
    }
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family_and_disabled_users_cannot_log_in() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let refresh = refresh_token_of(&app, &rp).await;
    let revoked = app
        .http
        .post(format!("{}/revoke", rp.issuer))
        .basic_auth(&rp.client_id, rp.secret.as_ref())
        .form(&[
            ("token", refresh.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let reply = token(
        &app,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(reply.body["error"], "invalid_grant");

    // Disabling the user revokes the refresh tokens they still hold.
    let held = refresh_token_of(&app, &rp).await;
    app.patch(
        &format!("/api/v1/tenants/{}/users/{}", rp.slug, rp.user_id),
        json!({ "enabled": false }),
    )
    .await;
    let reply = token(
        &app,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &held)],
    )
    .await;
    assert_eq!(reply.body["error"], "invalid_grant", "{}", reply.body);
    let browser = app.browser();
    let Pkce { challenge, .. } = pkce();
    let login = location(&authorize_request(&browser, &rp, &challenge, &[]).await);
    assert_eq!(password(&browser, &login, PASSWORD).await.status(), 401);
}

#[tokio::test]
async fn access_tokens_expire_on_the_server_clock() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&app.browser(), &rp, &challenge).await;
    let access = redeem_code(&app, &rp, &code, &verifier).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(introspect(&app, &rp, &access).await["active"], true);
    app.clock.advance(601);
    assert_eq!(
        introspect(&app, &rp, &access).await,
        json!({ "active": false })
    );
    let info = app
        .http
        .get(format!("{}/userinfo", rp.issuer))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);
}

#[tokio::test]
async fn ten_failed_logins_lock_the_account_name_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let browser = app.browser();
    let Pkce { challenge, .. } = pkce();
    let login = location(&authorize_request(&browser, &rp, &challenge, &[]).await);
    for attempt in 1..=10 {
        let reply = password(&browser, &login, "wrong password").await;
        assert_eq!(reply.status(), 401, "attempt {attempt}");
    }
    let locked = password(&browser, &login, PASSWORD).await;
    assert_eq!(locked.status(), 429, "locked even with the right password");
    assert!(locked.headers().get("retry-after").is_some());
    assert!(
        app.audit_actions(&rp.slug)
            .await
            .iter()
            .any(|a| a == "user.login_locked")
    );
}

#[tokio::test]
async fn one_address_cannot_try_more_than_thirty_logins_a_minute() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    // Failed logins per address across accounts (credential stuffing), counted in the
    // shared cache on the server clock.
    let patched = app
        .patch(
            &format!("/api/v1/tenants/{}", rp.slug),
            serde_json::json!({ "settings": { "address_failure_threshold": 30 } }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let browser = app.browser();
    let Pkce { challenge, .. } = pkce();
    let login = location(&authorize_request(&browser, &rp, &challenge, &[]).await);
    let page = browser
        .get(login.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (interaction, csrf) = (
        hidden_field(&page, "interaction"),
        hidden_field(&page, "csrf_token"),
    );
    let mut statuses = Vec::new();
    for i in 0..40 {
        if statuses.last() == Some(&429) {
            break;
        }
        // A different name each time, so only the per-address limit applies.
        let name = format!("guess{i}");
        let reply = browser
            .post(login.join("login").unwrap())
            .form(&[
                ("interaction", interaction.as_str()),
                ("csrf_token", csrf.as_str()),
                ("username", &name),
                ("password", "x"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(reply.status().as_u16());
    }
    assert!(statuses[..30].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses.len(), 31, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

/// The SQL statements the server ran for `route`, summed over every request so far
/// (from `tessera_db_statements_per_request` in `/metrics`).
async fn statements_so_far(app: &TestApp, route: &str) -> f64 {
    let text = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("tessera_db_statements_per_request_sum{{route=\"{route}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map_or(0.0, |v| v.parse().unwrap())
}

/// The performance budget of the hot flows, in SQL statements (BEGIN and COMMIT
/// aside): a code flow with an existing session at most 6 (authorize + token), a
/// refresh at most 4, a client_credentials grant none in the request (its audit event
/// is group-committed by the writer task).
#[tokio::test]
async fn hot_flows_stay_within_their_sql_statement_budget() {
    let app = TestApp::spawn().await;
    let rp = setup(&app, "confidential", true).await;
    let browser = app.browser();
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    // Log in once; then measure a flow on the existing session, like a returning user.
    let code = get_code(&browser, &rp, &challenge).await;
    assert_eq!(redeem_code(&app, &rp, &code, &verifier).await.status, 200);

    let authorize_before = statements_so_far(&app, "/t/{slug}/authorize").await;
    let token_before = statements_so_far(&app, "/t/{slug}/token").await;
    let Pkce {
        verifier,
        challenge,
    } = pkce();
    let code = get_code(&browser, &rp, &challenge).await;
    let tokens = redeem_code(&app, &rp, &code, &verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let code_flow = statements_so_far(&app, "/t/{slug}/authorize").await - authorize_before
        + statements_so_far(&app, "/t/{slug}/token").await
        - token_before;
    assert!(code_flow > 0.0, "statements are counted");
    assert!(code_flow <= 6.0, "code flow ran {code_flow} statements");

    let before = statements_so_far(&app, "/t/{slug}/token").await;
    let refreshed = token(
        &app,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens.body["refresh_token"].as_str().unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let refresh = statements_so_far(&app, "/t/{slug}/token").await - before;
    // Counted even though the grant's transaction runs on the SQLite database lane.
    assert!(refresh > 0.0, "the refresh grant's statements are counted");
    assert!(refresh <= 4.0, "refresh ran {refresh} statements");

    let patched = app
        .patch(
            &format!("/api/v1/tenants/{}/clients/{}", rp.slug, rp.client_id),
            json!({ "grant_types": ["authorization_code", "refresh_token", "client_credentials"] }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    // The first grant after the change reads the client again; the next ones do not.
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(token(&app, &rp, &cc).await.status, 200);
    let before = statements_so_far(&app, "/t/{slug}/token").await;
    for _ in 0..3 {
        assert_eq!(token(&app, &rp, &cc).await.status, 200);
    }
    let cc_statements = statements_so_far(&app, "/t/{slug}/token").await - before;
    assert_eq!(cc_statements, 0.0, "client_credentials ran statements");
    // ...and still every grant is in the audit log.
    let granted = app
        .audit_actions(&rp.slug)
        .await
        .iter()
        .filter(|a| *a == "token.granted")
        .count();
    assert_eq!(granted, 2 + 1 + 4);
}

/// Clients are kept in memory with their tenant; a change through the management API
/// must still take effect at the very next token request.
#[tokio::test]
async fn client_changes_reach_the_token_endpoint_at_once() {
    let app = TestApp::spawn().await;
    let mut rp = setup(&app, "confidential", true).await;
    let base = format!("/api/v1/tenants/{}/clients/{}", rp.slug, rp.client_id);
    let cc = [("grant_type", "client_credentials")];
    let patched = app
        .patch(&base, json!({ "grant_types": ["client_credentials"] }))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    // Twice, so the client (and its verified secret) are surely in memory.
    assert_eq!(token(&app, &rp, &cc).await.status, 200);
    assert_eq!(token(&app, &rp, &cc).await.status, 200);

    let narrowed = app
        .patch(&base, json!({ "grant_types": ["authorization_code"] }))
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(
        token(&app, &rp, &cc).await.body["error"],
        "unauthorized_client"
    );
    app.patch(&base, json!({ "grant_types": ["client_credentials"] }))
        .await;
    assert_eq!(token(&app, &rp, &cc).await.status, 200);

    let rotated = app
        .post(&format!("{base}/rotate-secret"), json!(null))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let refused = token(&app, &rp, &cc).await;
    assert_eq!(
        refused.status, 401,
        "the old secret still works: {}",
        refused.body
    );
    rp.secret = rotated.body["client_secret"].as_str().map(str::to_owned);
    assert_eq!(token(&app, &rp, &cc).await.status, 200);

    assert_eq!(app.delete(&base).await.status, 204);
    assert_eq!(token(&app, &rp, &cc).await.status, 401);
}
