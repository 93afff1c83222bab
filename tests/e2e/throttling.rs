//! Brute-force protection: per-address and per-account throttling, atomic lockout
//! counting, temporary lockouts with exactly one alert, and the token endpoint's
//! per-client limit.

use e2e::{TestApp, hidden_field, location, receiver::Receiver};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

struct Login {
    slug: String,
    authorize: String,
    hook: String,
}

/// A tenant with a first-party client, user `ann`, and a webhook for lockouts.
async fn setup(app: &TestApp, receiver: &Receiver) -> Login {
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app
        .post(
            &format!("/api/v1/tenants/{slug}/clients"),
            json!({ "name": "Web", "client_type": "confidential", "first_party": true,
                    "redirect_uris": ["https://app.example.com/callback"] }),
        )
        .await;
    app.create_user(&slug, "ann", PASSWORD).await;
    let (hook, _) = app
        .create_webhook(&slug, &receiver.url, &["account.locked"])
        .await;
    let authorize = format!(
        "{}/t/{slug}/authorize?client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback\
         &response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256",
        app.address,
        client.body["client_id"].as_str().unwrap()
    );
    Login {
        slug,
        authorize,
        hook,
    }
}

/// A browser on the login page: (browser, form URL, interaction, csrf token).
async fn login_form(app: &TestApp, login: &Login) -> (reqwest::Client, url::Url, String, String) {
    let browser = app.browser();
    let to_login = browser.get(&login.authorize).send().await.unwrap();
    let url = location(&to_login);
    let html = browser
        .get(url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (
        browser,
        url,
        hidden_field(&html, "interaction"),
        hidden_field(&html, "csrf_token"),
    )
}

async fn lockout_alerts(app: &TestApp, login: &Login) -> usize {
    app.get(&format!(
        "/api/v1/tenants/{}/webhooks/{}/deliveries",
        login.slug, login.hook
    ))
    .await
    .body["items"]
        .as_array()
        .unwrap()
        .len()
}

fn trusting_localhost(s: &mut api::Settings) {
    // Attempts come "from" many addresses through a trusted proxy on 127.0.0.1.
    s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

#[tokio::test]
async fn two_hundred_guesses_from_several_addresses_lock_the_account_once_and_the_lock_expires() {
    let app = TestApp::spawn_with(trusting_localhost).await;
    let receiver = Receiver::start().await;
    let login = setup(&app, &receiver).await;
    let (browser, url, interaction, csrf) = login_form(&app, &login).await;
    let mut statuses = Vec::new();
    for i in 0..200 {
        let reply = browser
            .post(url.as_str())
            .header("x-forwarded-for", format!("203.0.113.{}", i % 5))
            .form(&[
                ("interaction", interaction.as_str()),
                ("csrf_token", csrf.as_str()),
                ("username", "ann"),
                ("password", &format!("guess {i}")),
            ])
            .send()
            .await
            .unwrap();
        if reply.status() == 429 {
            let retry_after: u64 = reply.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1);
            let page = reply.text().await.unwrap();
            assert!(page.contains("Too many failed attempts"), "a clear message");
            statuses.push(429);
        } else {
            statuses.push(reply.status().as_u16());
        }
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(
        checked, 10,
        "only the tenant's threshold of guesses was checked"
    );
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");

    // Exactly one "account locked" alert, delivered.
    assert_eq!(lockout_alerts(&app, &login).await, 1);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].json()["type"], "account.locked");
    let actions = app.audit_actions(&login.slug).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "user.login_locked").count(),
        1
    );
    assert!(
        actions.iter().any(|a| a == "login.throttled"),
        "the per-address limit tripped"
    );

    // The lockout is temporary: once it ends, the owner signs in.
    app.clock.advance(901);
    let back = app
        .sign_in(&app.browser(), &login.authorize, "ann", PASSWORD)
        .await;
    assert!(
        back.as_str()
            .starts_with("https://app.example.com/callback"),
        "{back}"
    );
    assert_eq!(lockout_alerts(&app, &login).await, 1);
}

#[tokio::test]
async fn fifty_parallel_guesses_get_no_more_checks_than_the_threshold() {
    let app = TestApp::spawn_with(trusting_localhost).await;
    let receiver = Receiver::start().await;
    let login = setup(&app, &receiver).await;
    app.patch(
        &format!("/api/v1/tenants/{}", login.slug),
        json!({ "settings": { "lockout_threshold": 5 } }),
    )
    .await;
    let (browser, url, interaction, csrf) = login_form(&app, &login).await;
    let attempts: Vec<_> = (0..50)
        .map(|i| {
            let browser = browser.clone();
            let url = url.clone();
            let form = [
                ("interaction", interaction.clone()),
                ("csrf_token", csrf.clone()),
                ("username", "ann".to_owned()),
                ("password", format!("parallel guess {i}")),
            ];
            tokio::spawn(async move {
                browser
                    .post(url.as_str())
                    .header("x-forwarded-for", format!("198.51.100.{i}"))
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        45,
        "{statuses:?}"
    );
    let checked = app
        .get(&format!(
            "/api/v1/tenants/{}/audit-events?action=user.login&outcome=failure&limit=200",
            login.slug
        ))
        .await;
    assert_eq!(checked.body["items"].as_array().unwrap().len(), 5);
    assert_eq!(lockout_alerts(&app, &login).await, 1);
    // Locked: even the right password is refused for now.
    let (browser, url, interaction, csrf) = login_form(&app, &login).await;
    let locked = browser
        .post(url.as_str())
        .header("x-forwarded-for", "192.0.2.77")
        .form(&[
            ("interaction", interaction.as_str()),
            ("csrf_token", csrf.as_str()),
            ("username", "ann"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), 429);
}

#[tokio::test]
async fn a_password_reset_by_an_administrator_ends_a_lockout() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let login = setup(&app, &receiver).await;
    app.patch(
        &format!("/api/v1/tenants/{}", login.slug),
        json!({ "settings": { "lockout_threshold": 3 } }),
    )
    .await;
    let (browser, url, interaction, csrf) = login_form(&app, &login).await;
    let mut last = 0;
    for i in 0..4 {
        last = browser
            .post(url.as_str())
            .form(&[
                ("interaction", interaction.as_str()),
                ("csrf_token", csrf.as_str()),
                ("username", "ann"),
                ("password", &format!("guess {i}")),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    let users = app
        .get(&format!(
            "/api/v1/tenants/{}/users?username=ann",
            login.slug
        ))
        .await;
    let id = users.body["items"][0]["id"].as_str().unwrap();
    let reset = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/{}/users/{id}/password", login.slug),
            Some(&app.admin_token),
            Some(&json!({ "password": "a brand new passphrase" })),
        )
        .await;
    assert_eq!(reset.status, 204);
    let back = app
        .sign_in(
            &app.browser(),
            &login.authorize,
            "ann",
            "a brand new passphrase",
        )
        .await;
    assert!(
        back.as_str()
            .starts_with("https://app.example.com/callback"),
        "{back}"
    );
}

#[tokio::test]
async fn lockout_thresholds_are_validated_tenant_settings() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let settings = app.get(&format!("/api/v1/tenants/{slug}")).await.body["settings"].clone();
    assert_eq!(settings["lockout_threshold"], 10);
    assert_eq!(settings["lockout_window_secs"], 900);
    assert_eq!(settings["lockout_duration_secs"], 900);
    let bad = app
        .patch(
            &format!("/api/v1/tenants/{slug}"),
            json!({ "settings": { "lockout_threshold": 0, "lockout_duration_secs": 5 } }),
        )
        .await;
    let problem = bad.assert_problem(422);
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert!(fields.contains(&"settings.lockout_threshold".to_owned()));
    assert!(fields.contains(&"settings.lockout_duration_secs".to_owned()));
}

#[tokio::test]
async fn the_token_endpoint_limits_each_client_and_says_when_to_retry() {
    let app = TestApp::spawn_with(|s| s.token_requests_per_minute = 3).await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app
        .post(
            &format!("/api/v1/tenants/{slug}/clients"),
            json!({ "name": "m2m", "client_type": "confidential", "redirect_uris": [],
                    "grant_types": ["client_credentials"], "allowed_scopes": ["api:read"] }),
        )
        .await;
    assert_eq!(client.status, 201, "{}", client.body);
    let id = client.body["client_id"].as_str().unwrap();
    let secret = client.body["client_secret"].as_str().unwrap();
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let resp = app
            .http
            .post(format!("{}/t/{slug}/token", app.address))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        last = Some(TestApp::reply(resp).await);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    let last = last.unwrap();
    assert!(last.headers.get("retry-after").is_some());
    assert_eq!(last.body["error"], "temporarily_unavailable");
    // Grants are audited with the client and grant type.
    let granted = app
        .get(&format!(
            "/api/v1/tenants/{slug}/audit-events?action=token.granted&target=client:{id}"
        ))
        .await;
    assert_eq!(granted.body["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        granted.body["items"][0]["details"]["grant_type"],
        "client_credentials"
    );
}
