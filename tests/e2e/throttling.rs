//! Brute-force protection: failures count, successes never do; the account lockout
//! (shared by a username and its email address) with atomic counting, temporary
//! lockouts with exactly one alert; failures per client address across accounts
//! (credential stuffing) with an allow-list and one `brute_force.detected` alert per
//! address and window; and the token endpoint's per-client node guard.

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
        !actions.iter().any(|a| a == "login.throttled"),
        "ten checked failures from five addresses are far from the address budget"
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
    // The budget is per client: another client of the tenant is not held back.
    let other = app
        .post(
            &format!("/api/v1/tenants/{slug}/clients"),
            json!({ "name": "m2m-2", "client_type": "confidential", "redirect_uris": [],
                    "grant_types": ["client_credentials"], "allowed_scopes": ["api:read"] }),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.body);
    let resp = app
        .http
        .post(format!("{}/t/{slug}/token", app.address))
        .basic_auth(
            other.body["client_id"].as_str().unwrap(),
            Some(other.body["client_secret"].as_str().unwrap()),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the second client has its own budget");
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

/// A login form of `login` from `address` (through the trusted proxy on 127.0.0.1):
/// the status of the answer and its `Retry-After`.
async fn attempt(
    app: &TestApp,
    login: &Login,
    address: &str,
    username: &str,
    password: &str,
) -> (u16, Option<u64>) {
    let (browser, url, interaction, csrf) = login_form(app, login).await;
    let reply = browser
        .post(url.as_str())
        .header("x-forwarded-for", address)
        .form(&[
            ("interaction", interaction.as_str()),
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let retry_after = reply
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (reply.status().as_u16(), retry_after)
}

#[tokio::test]
async fn two_hundred_successful_sign_ins_of_one_user_from_one_address_within_a_minute_all_succeed()
{
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let login = setup(&app, &receiver).await;
    // The test clock stands still: all of them fall within the same minute.
    let mut refused = Vec::new();
    for i in 0..200 {
        let back = app
            .sign_in(&app.browser(), &login.authorize, "ann", PASSWORD)
            .await;
        if !back
            .as_str()
            .starts_with("https://app.example.com/callback")
        {
            refused.push(i);
        }
    }
    assert!(refused.is_empty(), "refused sign-ins: {refused:?}");
}

#[tokio::test]
async fn failures_split_between_the_username_and_the_email_address_lock_the_account() {
    let app = TestApp::spawn_with(trusting_localhost).await;
    let receiver = Receiver::start().await;
    let login = setup(&app, &receiver).await;
    app.patch(
        &format!("/api/v1/tenants/{}", login.slug),
        json!({ "settings": { "lockout_threshold": 4 } }),
    )
    .await;
    let mut statuses = Vec::new();
    for (i, name) in ["ann", "ann@example.com", "ANN", "Ann@Example.com"]
        .iter()
        .enumerate()
    {
        let address = format!("198.51.100.{i}");
        statuses.push(attempt(&app, &login, &address, name, "wrong guess").await.0);
    }
    assert_eq!(statuses, vec![401, 401, 401, 401]);
    // Neither name reached four failures on its own, but the account did.
    let (status, retry_after) = attempt(&app, &login, "192.0.2.1", "ann", PASSWORD).await;
    assert_eq!(
        status, 429,
        "the account is locked, whichever name is typed"
    );
    assert!(retry_after.unwrap() >= 1);
    let (status, _) = attempt(&app, &login, "192.0.2.2", "ann@example.com", PASSWORD).await;
    assert_eq!(status, 429);
    assert_eq!(
        lockout_alerts(&app, &login).await,
        1,
        "one lockout, one alert"
    );
}

#[tokio::test]
async fn failures_across_accounts_from_one_address_throttle_it_with_one_alert_per_window() {
    let app = TestApp::spawn_with(trusting_localhost).await;
    let receiver = Receiver::start().await;
    let login = setup(&app, &receiver).await;
    let (hook, _) = app
        .create_webhook(&login.slug, &receiver.url, &["brute_force.detected"])
        .await;
    app.patch(
        &format!("/api/v1/tenants/{}", login.slug),
        json!({ "settings": { "address_failure_threshold": 5,
                              "address_failure_window_secs": 600 } }),
    )
    .await;
    // Credential stuffing: one guess for each of many accounts, from one IPv6 /64
    // (the attacker varies the low 64 bits).
    for i in 0..5 {
        let (status, _) = attempt(
            &app,
            &login,
            &format!("2001:db8:5:5::{i:x}"),
            &format!("user{i}"),
            "123456",
        )
        .await;
        assert_eq!(status, 401, "guess {i} is checked");
    }
    let (status, retry_after) = attempt(&app, &login, "2001:db8:5:5::ff", "ann", PASSWORD).await;
    assert_eq!(
        status, 429,
        "the address is throttled, even for a right password"
    );
    let retry_after = retry_after.unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    for i in 0..5 {
        let (status, _) = attempt(&app, &login, "2001:db8:5:5::1", &format!("more{i}"), "x").await;
        assert_eq!(status, 429);
    }
    // Another address (another /64) is not affected, and ann's account is not locked.
    let (status, _) = attempt(&app, &login, "2001:db8:5:6::1", "ann", PASSWORD).await;
    assert_eq!(status, 303);

    let alerts = app
        .get(&format!(
            "/api/v1/tenants/{}/webhooks/{hook}/deliveries",
            login.slug
        ))
        .await;
    assert_eq!(
        alerts.body["items"].as_array().unwrap().len(),
        1,
        "one alert per address and window: {}",
        alerts.body
    );
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].json()["type"], "brute_force.detected");
    assert_eq!(got[0].json()["data"]["ip"], "2001:db8:5:5::/64");
    let actions = app.audit_actions(&login.slug).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "login.throttled").count(),
        1
    );

    // The window ends on the server clock.
    app.clock.advance(600);
    let (status, _) = attempt(&app, &login, "2001:db8:5:5::ff", "ann", PASSWORD).await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn an_allow_listed_address_is_never_throttled_for_failures_across_accounts() {
    let app = TestApp::spawn_with(trusting_localhost).await;
    let receiver = Receiver::start().await;
    let login = setup(&app, &receiver).await;
    let patched = app
        .patch(
            &format!("/api/v1/tenants/{}", login.slug),
            json!({ "settings": { "address_failure_threshold": 3,
                                  "throttle_allow_list": ["203.0.113.0/24", "2001:db8:aa::/48"] } }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    for i in 0..6 {
        let (status, _) = attempt(&app, &login, "203.0.113.50", &format!("nobody{i}"), "x").await;
        assert_eq!(status, 401, "the office NAT is never throttled");
    }
    let (status, _) = attempt(&app, &login, "203.0.113.51", "ann", PASSWORD).await;
    assert_eq!(status, 303);
    // Outside the list the same failures throttle the address.
    for i in 0..3 {
        attempt(&app, &login, "192.0.2.9", &format!("nobody{i}"), "x").await;
    }
    let (status, _) = attempt(&app, &login, "192.0.2.9", "ann", PASSWORD).await;
    assert_eq!(status, 429);

    let bad = app
        .patch(
            &format!("/api/v1/tenants/{}", login.slug),
            json!({ "settings": { "throttle_allow_list": ["10.0.0.0/33"] } }),
        )
        .await;
    let problem = bad.assert_problem(422);
    assert_eq!(
        problem["errors"][0]["field"],
        "settings.throttle_allow_list[0]"
    );
}

#[tokio::test]
async fn brute_force_settings_have_defaults_and_are_validated() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let settings = app.get(&format!("/api/v1/tenants/{slug}")).await.body["settings"].clone();
    assert_eq!(settings["address_failure_threshold"], 100);
    assert_eq!(settings["address_failure_window_secs"], 3600);
    assert_eq!(settings["throttle_allow_list"], json!([]));
    assert_eq!(
        settings["rate_limits"]["password_forgot"],
        json!({ "per_address": 20, "per_target": 5, "window_secs": 3600 })
    );
    assert_eq!(
        settings["rate_limits"]["token"],
        json!({ "per_address": 60, "per_target": 300, "window_secs": 60 })
    );
    let patched = app
        .patch(
            &format!("/api/v1/tenants/{slug}"),
            json!({ "settings": { "rate_limits": { "token": { "per_target": 7 } } } }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        patched.body["settings"]["rate_limits"]["token"],
        json!({ "per_address": 60, "per_target": 7, "window_secs": 60 }),
        "fields left out keep their value"
    );
    let bad = app
        .patch(
            &format!("/api/v1/tenants/{slug}"),
            json!({ "settings": { "address_failure_window_secs": 5,
                                  "rate_limits": { "authorize": { "window_secs": 0 } } } }),
        )
        .await;
    let problem = bad.assert_problem(422);
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert!(fields.contains(&"settings.address_failure_window_secs".to_owned()));
    assert!(fields.contains(&"settings.rate_limits.authorize.window_secs".to_owned()));
}
