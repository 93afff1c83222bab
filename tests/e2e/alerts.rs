//! Security-alert webhooks: endpoint management, Standard Webhooks signatures, the
//! durable outbox (retries, restarts, several workers), the SSRF guard, and the alerts
//! the rest of the server raises.

use e2e::flow::{Rp, refresh_token_of, token};
use e2e::{
    TestApp,
    receiver::{Received, Receiver},
    smtp::SmtpSink,
};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

fn verify(secret: &str, r: &Received) -> bool {
    let timestamp: i64 = r.header("webhook-timestamp").parse().unwrap();
    webhooks::signing::verify(
        secret,
        r.header("webhook-id"),
        timestamp,
        &r.body,
        r.header("webhook-signature"),
    )
}

async fn tenant(app: &TestApp) -> String {
    app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn deliveries(app: &TestApp, slug: &str, hook: &str) -> Vec<Value> {
    let reply = app
        .get(&format!(
            "/api/v1/tenants/{slug}/webhooks/{hook}/deliveries"
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn webhook_endpoints_are_managed_per_tenant_and_their_secret_is_shown_once() {
    let app = TestApp::spawn().await;
    let slug = tenant(&app).await;
    let base = format!("/api/v1/tenants/{slug}/webhooks");
    let created = app
        .post(
            &base,
            json!({ "url": "https://93.184.216.34/in", "description": "SIEM",
                    "event_types": ["account.locked", "refresh_token.reuse_detected"] }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created.body["enabled"], true);

    let fetched = app.get(&format!("{base}/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert!(
        fetched.body.get("secret").is_none(),
        "shown once: {}",
        fetched.body
    );
    let listed = app.get(&base).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert!(listed.body["items"][0].get("secret").is_none());

    let updated = app
        .patch(
            &format!("{base}/{id}"),
            json!({ "event_types": [], "enabled": false }),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["event_types"], json!([]));
    assert_eq!(updated.body["enabled"], false);

    let bad = app
        .post(
            &base,
            json!({ "url": "https://93.184.216.34/x", "event_types": ["nope"] }),
        )
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.body["errors"][0]["field"], "event_types[0]");
    let unknown_field = app
        .post(
            &base,
            json!({ "url": "https://93.184.216.34/x", "secret": "mine" }),
        )
        .await;
    unknown_field.assert_problem(400);

    let rotated = app
        .post(&format!("{base}/{id}/rotate-secret"), json!(null))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated.body["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);

    // Encrypted at rest: neither secret appears in the database.
    let dump = app.dump_database().await;
    for s in [secret.as_str(), new_secret] {
        assert!(!dump.contains(s.trim_start_matches("whsec_")));
    }

    assert_eq!(app.delete(&format!("{base}/{id}")).await.status, 204);
    app.get(&format!("{base}/{id}")).await.assert_problem(404);
    let actions = app.audit_actions(&slug).await;
    for action in [
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.deleted",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn another_tenants_key_cannot_see_or_touch_a_tenants_webhooks() {
    let app = TestApp::spawn().await;
    let a = tenant(&app).await;
    let b = tenant(&app).await;
    let (hook, _) = app.create_webhook(&a, "https://93.184.216.34/a", &[]).await;
    let key_b = app.create_tenant_key(&b, "tenant_admin").await;
    let read_a = app.create_tenant_key(&a, "tenant_read").await;
    let call = |method, path: String, key: String, body: Option<Value>| {
        let app = &app;
        async move { app.call(method, &path, Some(&key), body.as_ref()).await }
    };
    use reqwest::Method;
    let a_base = format!("/api/v1/tenants/{a}/webhooks");
    for (method, path, body) in [
        (Method::GET, a_base.clone(), None),
        (
            Method::POST,
            a_base.clone(),
            Some(json!({ "url": "https://93.184.216.34/x" })),
        ),
        (Method::GET, format!("{a_base}/{hook}"), None),
        (
            Method::PATCH,
            format!("{a_base}/{hook}"),
            Some(json!({ "enabled": false })),
        ),
        (Method::DELETE, format!("{a_base}/{hook}"), None),
        (Method::POST, format!("{a_base}/{hook}/test"), None),
        (Method::GET, format!("{a_base}/{hook}/deliveries"), None),
    ] {
        call(method, path, key_b.clone(), body)
            .await
            .assert_problem(404);
    }
    // B's own path with A's endpoint id: not found either.
    call(
        Method::GET,
        format!("/api/v1/tenants/{b}/webhooks/{hook}"),
        key_b.clone(),
        None,
    )
    .await
    .assert_problem(404);
    // A read-only key of A may look but not change.
    assert_eq!(
        call(Method::GET, a_base.clone(), read_a.clone(), None)
            .await
            .status,
        200
    );
    call(Method::DELETE, format!("{a_base}/{hook}"), read_a, None)
        .await
        .assert_problem(403);
}

#[tokio::test]
async fn a_test_event_arrives_signed_in_the_standard_webhooks_format() {
    let app = TestApp::spawn().await;
    let slug = tenant(&app).await;
    let receiver = Receiver::start().await;
    let (hook, secret) = app
        .create_webhook(&slug, &receiver.url, &["account.locked"])
        .await;
    let queued = app
        .post(
            &format!("/api/v1/tenants/{slug}/webhooks/{hook}/test"),
            json!(null),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    assert_eq!(queued.body["event_type"], "webhook.test");

    let got = receiver.wait_for(1).await;
    let delivery = &got[0];
    assert_eq!(delivery.header("content-type"), "application/json");
    assert_eq!(delivery.header("webhook-id"), queued.body["message_id"]);
    assert!(delivery.header("webhook-id").starts_with("msg_"));
    assert!(delivery.header("webhook-signature").starts_with("v1,"));
    assert!(verify(&secret, delivery), "signature verifies");
    assert!(!verify(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        delivery
    ));
    let body = delivery.json();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["tenant"]["slug"], slug.as_str());
    assert_eq!(body["data"]["endpoint_id"], hook.as_str());

    // The delivery log records the attempt.
    let done = app
        .eventually("the delivery to be marked delivered", || async {
            let items = deliveries(&app, &slug, &hook).await;
            (items[0]["status"] == "delivered").then(|| items[0].clone())
        })
        .await;
    assert_eq!(done["attempts"], 1);
    let attempts = app
        .get(&format!(
            "/api/v1/tenants/{slug}/webhooks/{hook}/deliveries/{}/attempts",
            done["id"].as_str().unwrap()
        ))
        .await;
    let attempt = &attempts.body["items"][0];
    assert_eq!(attempt["succeeded"], true);
    assert_eq!(attempt["status_code"], 200);
    assert!(attempt["latency_ms"].as_i64().unwrap() >= 0);

    // CI verifies this capture with the official `standardwebhooks` Python package.
    if let Ok(path) = std::env::var("TESSERA_WEBHOOK_CAPTURE") {
        let capture = json!({
            "secret": secret,
            "headers": {
                "webhook-id": delivery.header("webhook-id"),
                "webhook-timestamp": delivery.header("webhook-timestamp"),
                "webhook-signature": delivery.header("webhook-signature"),
            },
            "body": String::from_utf8(delivery.body.clone()).unwrap(),
        });
        std::fs::write(path, capture.to_string()).unwrap();
    }
}

#[tokio::test]
async fn a_receiver_that_fails_first_gets_the_event_later_with_the_same_id_even_across_a_restart() {
    let mut first = TestApp::spawn().await;
    let slug = tenant(&first).await;
    let receiver = Receiver::scripted(vec![503, 500]).await;
    let (hook, secret) = first.create_webhook(&slug, &receiver.url, &[]).await;
    first
        .post(
            &format!("/api/v1/tenants/{slug}/webhooks/{hook}/test"),
            json!(null),
        )
        .await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].answered, 503);
    let failed = first
        .eventually("the failed attempt to be logged", || async {
            let items = deliveries(&first, &slug, &hook).await;
            (items[0]["status"] == "pending" && items[0]["last_error"].is_string())
                .then(|| items[0].clone())
        })
        .await;
    assert!(
        failed["last_error"].as_str().unwrap().contains("503"),
        "{failed}"
    );
    assert_eq!(failed["last_status_code"], 503);

    // The server goes away between attempts; a new one starts on the same database.
    first.stop().await;
    let (url, schema) = first.database.clone();
    let master_key = first.master_key.clone();
    let admin_token = first.admin_token.clone();
    let second = TestApp::spawn_with(move |s| {
        s.database_url = Some(url);
        s.database_schema = schema;
        s.master_key = Some(master_key);
        s.admin_token = Some(admin_token);
    })
    .await;
    assert_eq!(receiver.received().len(), 1, "nothing is due yet");
    // Retries back off: the second attempt comes once its time has come.
    second.clock.advance(60);
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].answered, 500);
    second.clock.advance(600);
    let got = receiver.wait_for(3).await;
    assert_eq!(got[2].answered, 200);
    let ids: Vec<_> = got
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "same webhook-id: {ids:?}"
    );
    assert!(got.iter().all(|r| verify(&secret, r)));
    let done = second
        .eventually("the delivery to be marked delivered", || async {
            let items = deliveries(&second, &slug, &hook).await;
            (items[0]["status"] == "delivered").then(|| items[0].clone())
        })
        .await;
    assert_eq!(done["attempts"], 3);
    let attempts = second
        .get(&format!(
            "/api/v1/tenants/{slug}/webhooks/{hook}/deliveries/{}/attempts",
            done["id"].as_str().unwrap()
        ))
        .await;
    let codes: Vec<_> = attempts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, vec![json!(503), json!(500), json!(200)]);
}

#[tokio::test]
async fn two_nodes_delivering_from_one_outbox_never_send_an_attempt_twice() {
    let a = TestApp::spawn().await;
    let (url, schema) = a.database.clone();
    let master_key = a.master_key.clone();
    let admin_token = a.admin_token.clone();
    let b = TestApp::spawn_with(move |s| {
        s.database_url = Some(url);
        s.database_schema = schema;
        s.master_key = Some(master_key);
        s.admin_token = Some(admin_token);
    })
    .await;
    let slug = tenant(&a).await;
    let receiver = Receiver::start().await;
    let (hook, _) = a.create_webhook(&slug, &receiver.url, &[]).await;
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        // Two servers on one SQLite file contend for its lock: a send that loses the
        // race is 503 (retry later, nothing queued), never a 500 nor a double send.
        let mut tries = 0;
        let queued = loop {
            let queued = node
                .post(
                    &format!("/api/v1/tenants/{slug}/webhooks/{hook}/test"),
                    json!(null),
                )
                .await;
            tries += 1;
            if queued.status != 503 || tries == 10 {
                break queued;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(queued.status, 202, "{}", queued.body);
    }
    let got = receiver.wait_for(20).await;
    let mut ids: Vec<_> = got
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "twenty distinct messages");
    a.eventually("every delivery to be marked delivered", || async {
        let items = deliveries(&a, &slug, &hook).await;
        items
            .iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1)
            .then_some(())
    })
    .await;
    assert_eq!(receiver.received().len(), 20, "no attempt was made twice");
}

#[tokio::test]
async fn redirects_are_not_followed_and_a_delivery_can_be_redelivered() {
    let app = TestApp::spawn().await;
    let slug = tenant(&app).await;
    let receiver = Receiver::scripted(vec![302]).await;
    let (hook, _) = app.create_webhook(&slug, &receiver.url, &[]).await;
    app.post(
        &format!("/api/v1/tenants/{slug}/webhooks/{hook}/test"),
        json!(null),
    )
    .await;
    let first = app
        .eventually("the redirect to be logged as a failure", || async {
            let items = deliveries(&app, &slug, &hook).await;
            (items[0]["status"] == "pending" && items[0]["last_error"].is_string())
                .then(|| items[0].clone())
        })
        .await;
    assert!(
        first["last_error"].as_str().unwrap().contains("redirect"),
        "{first}"
    );
    assert_eq!(
        receiver.received().len(),
        1,
        "the Location was not followed"
    );

    // Redeliver now instead of waiting for the backoff.
    let id = first["id"].as_str().unwrap();
    let again = app
        .post(
            &format!("/api/v1/tenants/{slug}/webhooks/{hook}/deliveries/{id}/redeliver"),
            json!(null),
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.body);
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    app.eventually("the redelivery to succeed", || async {
        let items = deliveries(&app, &slug, &hook).await;
        (items[0]["status"] == "delivered").then_some(())
    })
    .await;
    let unknown = uuid::Uuid::new_v4();
    app.post(
        &format!("/api/v1/tenants/{slug}/webhooks/{hook}/deliveries/{unknown}/redeliver"),
        json!(null),
    )
    .await
    .assert_problem(404);
    assert!(
        app.audit_actions(&slug)
            .await
            .iter()
            .any(|a| a == "webhook.redelivered")
    );
}

/// A DNS name (other than `localhost`) that this machine resolves to loopback, if any:
/// its host name usually is one (`/etc/hosts`).
async fn name_resolving_to_loopback() -> Option<String> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let hostname = hostname.trim().to_owned();
    let addrs: Vec<_> = tokio::net::lookup_host((hostname.as_str(), 80))
        .await
        .ok()?
        .collect();
    (!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())).then_some(hostname)
}

#[tokio::test]
async fn webhook_targets_on_internal_addresses_are_refused_by_default() {
    let app = TestApp::spawn_with(|s| s.webhook_allow_private = false).await;
    let slug = tenant(&app).await;
    let base = format!("/api/v1/tenants/{slug}/webhooks");
    let mut targets = vec![
        "http://127.0.0.1:8080/hook".to_owned(),
        "http://10.1.2.3/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://localhost:9000/hook".to_owned(),
        "http://[::1]/hook".to_owned(),
        "http://[::ffff:127.0.0.1]/hook".to_owned(),
        "http://0.0.0.0/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[fd00:ec2::254]/".to_owned(),
    ];
    match name_resolving_to_loopback().await {
        Some(name) => targets.push(format!("https://{name}/hook")),
        None => eprintln!("no host name resolves to loopback here; covered by unit tests"),
    }
    for target in &targets {
        let refused = app.post(&base, json!({ "url": target })).await;
        let problem = refused.assert_problem(422);
        assert_eq!(problem["errors"][0]["field"], "url", "{target}: {problem}");
    }
    // Updating an endpoint onto an internal address is refused the same way.
    let ok = app
        .post(&base, json!({ "url": "https://93.184.216.34/hook" }))
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let id = ok.body["id"].as_str().unwrap();
    app.patch(
        &format!("{base}/{id}"),
        json!({ "url": "http://127.0.0.1/" }),
    )
    .await
    .assert_problem(422);
    assert_eq!(
        app.get(&base).await.body["items"].as_array().unwrap().len(),
        1
    );
}

/// A first-party confidential client of `slug` and its user `ann`.
async fn first_party_rp(app: &TestApp, slug: &str) -> Rp {
    app.create_user(slug, "ann", e2e::flow::PASSWORD).await;
    e2e::flow::client(
        app,
        slug,
        json!({ "client_type": "confidential", "first_party": true }),
    )
    .await
}

#[tokio::test]
async fn a_refresh_token_reuse_produces_the_audit_event_the_webhook_and_the_email() {
    let sink = SmtpSink::start();
    let smtp = sink.url();
    let app = TestApp::spawn_with(move |s| s.smtp_url = Some(smtp)).await;
    let slug = tenant(&app).await;
    let contacts =
        json!({ "settings": { "security_contacts": ["soc@example.com", "ciso@example.com"] } });
    assert_eq!(
        app.patch(&format!("/api/v1/tenants/{slug}"), contacts)
            .await
            .status,
        200
    );
    let receiver = Receiver::start().await;
    let (hook, secret) = app
        .create_webhook(&slug, &receiver.url, &["refresh_token.reuse_detected"])
        .await;
    let rp = first_party_rp(&app, &slug).await;
    let refresh = refresh_token_of(&app, &rp).await;
    let rotated = token(
        &app,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let reuse = token(
        &app,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(reuse.body["error"], "invalid_grant");

    // The audit event...
    let audited = app
        .get(&format!(
            "/api/v1/tenants/{slug}/audit-events?action=refresh_token.reuse_detected"
        ))
        .await;
    let event = &audited.body["items"][0];
    assert_eq!(event["outcome"], "failure");
    assert_eq!(event["details"]["client_id"], rp.client_id.as_str());
    let actions = app.audit_actions(&rp.slug).await;
    assert!(actions.iter().any(|a| a == "token.granted"));
    assert!(actions.iter().any(|a| a == "token.refused"));
    // ...the signed webhook...
    let got = receiver.wait_for(1).await;
    assert!(verify(&secret, &got[0]));
    let body = got[0].json();
    assert_eq!(body["type"], "refresh_token.reuse_detected");
    assert_eq!(body["data"]["client_id"], rp.client_id.as_str());
    // ...and an email to each security contact, through a real SMTP server.
    for contact in ["soc@example.com", "ciso@example.com"] {
        let mail = sink.wait_for_mail_to(contact).await;
        assert!(
            mail.subject.contains("refresh_token.reuse_detected"),
            "{}",
            mail.subject
        );
        assert!(mail.text.contains(&rp.client_id), "{}", mail.text);
        assert!(
            mail.text.contains(got[0].header("webhook-id")),
            "one event id everywhere"
        );
        assert!(!mail.text.contains(&refresh), "no token in the email");
    }
    // Only the subscribed type went to the webhook: the grants raised nothing.
    let sent = deliveries(&app, &slug, &hook).await;
    assert_eq!(sent.len(), 1);
}

#[tokio::test]
async fn an_alert_email_arrives_at_a_real_smtp_server_and_a_failing_server_is_retried() {
    let sink = SmtpSink::start();
    let smtp = sink.url();
    let app = TestApp::spawn_with(move |s| s.smtp_url = Some(smtp)).await;
    let slug = tenant(&app).await;
    let contacts = json!({ "settings": { "security_contacts": ["sec@example.com"] } });
    app.patch(&format!("/api/v1/tenants/{slug}"), contacts)
        .await;
    let key = app.create_tenant_key(&slug, "tenant_admin").await;
    let mail = sink.wait_for_mail_to("sec@example.com").await;
    assert!(mail.subject.contains("api_key.created"), "{}", mail.subject);
    assert!(mail.subject.contains("Test tenant"), "{}", mail.subject);
    assert!(mail.text.contains(&slug));
    assert!(!mail.raw.contains(&key), "the key itself is never mailed");

    // With the mail server gone, the alert waits in the outbox and is retried.
    let down = TestApp::spawn_with(|s| s.smtp_url = Some("smtp://127.0.0.1:1".into())).await;
    let slug = tenant(&down).await;
    let contacts = json!({ "settings": { "security_contacts": ["sec@example.com"] } });
    down.patch(&format!("/api/v1/tenants/{slug}"), contacts)
        .await;
    down.create_tenant_key(&slug, "tenant_admin").await;
    let backend = down.db.get_database_backend();
    let sql = "SELECT attempts, status, last_error FROM alert_deliveries WHERE channel = 'email'";
    let row = down
        .eventually("a failed email attempt", || async {
            let row = down
                .db
                .query_one_raw(sea_orm::Statement::from_string(backend, sql.to_owned()))
                .await
                .unwrap()?;
            let error: Option<String> = row.try_get("", "last_error").unwrap();
            error.map(|e| (row.try_get::<String>("", "status").unwrap(), e))
        })
        .await;
    assert_eq!(row.0, "pending", "retried later, not dropped");
    assert!(row.1.contains("SMTP"), "{}", row.1);
}

#[tokio::test]
async fn management_changes_raise_their_alerts() {
    let app = TestApp::spawn().await;
    let slug = tenant(&app).await;
    let receiver = Receiver::start().await;
    app.create_webhook(&slug, &receiver.url, &[]).await;
    let client = app.create_client(&slug).await;
    let client_id = client["client_id"].as_str().unwrap();
    let user = app.create_user(&slug, "bob", "correct horse battery").await;
    let key = app.create_tenant_key(&slug, "tenant_read").await;
    let key_id = app
        .get(&format!("/api/v1/tenants/{slug}/api-keys"))
        .await
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key.starts_with("tsk_"));
    for (path, body) in [
        (
            format!("/api/v1/tenants/{slug}/clients/{client_id}/rotate-secret"),
            json!(null),
        ),
        (format!("/api/v1/tenants/{slug}/keys/rotate"), json!(null)),
    ] {
        let reply = app.post(&path, body).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.body);
    }
    assert_eq!(
        app.delete(&format!("/api/v1/tenants/{slug}/api-keys/{key_id}"))
            .await
            .status,
        204
    );
    let reset = app
        .call(
            reqwest::Method::PUT,
            &format!(
                "/api/v1/tenants/{slug}/users/{}/password",
                user["id"].as_str().unwrap()
            ),
            Some(&app.admin_token),
            Some(&json!({ "password": "another good passphrase" })),
        )
        .await;
    assert_eq!(reset.status, 204, "{}", reset.body);
    let kid = app.get(&format!("/api/v1/tenants/{slug}/keys")).await.body["items"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/v1/tenants/{slug}/keys/{kid}/revoke"),
        json!(null),
    )
    .await;
    app.patch(
        &format!("/api/v1/tenants/{slug}"),
        json!({ "settings": { "key_rotation_days": 30 } }),
    )
    .await;
    let expected = [
        "api_key.created",
        "client.secret_rotated",
        "api_key.revoked",
        "signing_key.rotated",
        "password.reset",
        "signing_key.revoked",
        "signing_key.settings_changed",
    ];
    let got = receiver
        .wait_until(|r| {
            let types: Vec<Value> = r.iter().map(|x| x.json()["type"].clone()).collect();
            expected.iter().all(|e| types.contains(&json!(e)))
        })
        .await;
    for r in &got {
        assert!(!r.body.is_empty());
        let text = String::from_utf8(r.body.clone()).unwrap();
        assert!(!text.contains(&key), "no secrets in alerts");
    }
}
