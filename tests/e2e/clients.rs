use e2e::TestApp;
use serde_json::json;

#[tokio::test]
async fn a_client_is_registered_read_updated_rotated_and_deleted() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/api/v1/tenants/{slug}/clients");

    let created = app.create_client(&slug).await;
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "256-bit secret");
    assert_eq!(created["client_type"], "confidential");
    assert_eq!(
        created["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        created["allowed_scopes"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(created["require_pkce"], true);

    // The secret is shown once: never on reads or lists.
    let got = app.get(&format!("{base}/{client_id}")).await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("client_secret").is_none());
    let list = app.get(&base).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert!(list.body["items"][0].get("client_secret").is_none());

    // Public clients have no secret.
    let public = app
        .post(
            &base,
            json!({ "name": "SPA", "client_type": "public", "redirect_uris": ["http://127.0.0.1:5173/cb"] }),
        )
        .await;
    assert_eq!(public.status, 201, "{}", public.body);
    assert!(public.body.get("client_secret").is_none());

    // Update
    let updated = app
        .patch(
            &format!("{base}/{client_id}"),
            json!({ "name": "Web app v2", "redirect_uris": ["https://app.example.com/cb2"], "first_party": true,
                    "allowed_scopes": ["openid", "api:read"] }),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["name"], "Web app v2");
    assert_eq!(
        updated.body["redirect_uris"],
        json!(["https://app.example.com/cb2"])
    );
    assert_eq!(updated.body["first_party"], true);
    assert_eq!(
        updated.body["allowed_scopes"],
        json!(["openid", "api:read"])
    );

    // Rotation without grace: a new secret, shown once.
    let rotated = app
        .post(&format!("{base}/{client_id}/rotate-secret"), json!(null))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated.body["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(rotated.body.get("previous_secret_expires_at").is_none());

    // Rotation with grace keeps the previous secret valid for a while.
    let graced = app
        .post(
            &format!("{base}/{client_id}/rotate-secret?grace_period_secs=3600"),
            json!(null),
        )
        .await;
    assert_eq!(graced.status, 200, "{}", graced.body);
    assert!(graced.body["previous_secret_expires_at"].is_string());
    app.post(
        &format!("{base}/{client_id}/rotate-secret?grace_period_secs=99999999"),
        json!(null),
    )
    .await
    .assert_problem(422);
    let public_id = public.body["client_id"].as_str().unwrap();
    app.post(&format!("{base}/{public_id}/rotate-secret"), json!(null))
        .await
        .assert_problem(422);

    // Delete
    assert_eq!(app.delete(&format!("{base}/{client_id}")).await.status, 204);
    app.get(&format!("{base}/{client_id}"))
        .await
        .assert_problem(404);
    app.delete(&format!("{base}/{client_id}"))
        .await
        .assert_problem(404);

    let actions = app.audit_actions(&slug).await;
    for expected in [
        "client.created",
        "client.updated",
        "client.secret_rotated",
        "client.deleted",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn each_redirect_uri_rule_is_enforced_at_registration() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/api/v1/tenants/{slug}/clients");
    let before = app.count_rows("clients").await;

    for (uri, rule) in [
        ("/callback", "relative"),
        ("app.example.com/callback", "no scheme"),
        ("https://app.example.com/cb#section", "fragment"),
        ("https://*.example.com/cb", "wildcard host"),
        ("https://app.example.com/*", "wildcard path"),
        ("http://app.example.com/cb", "http on a public host"),
        ("http://192.168.1.10/cb", "http on a private host"),
        ("javascript:alert(1)", "javascript scheme"),
        ("data:text/html,x", "data scheme"),
        ("file:///etc/passwd", "file scheme"),
        (
            "myapp://callback",
            "private scheme not in reverse-domain form",
        ),
        ("https://user:pass@app.example.com/cb", "userinfo"),
        ("", "empty"),
    ] {
        let reply = app
            .post(
                &base,
                json!({ "name": "x", "client_type": "confidential", "redirect_uris": [uri] }),
            )
            .await;
        let body = reply.assert_problem(422);
        assert_eq!(
            body["errors"][0]["field"], "redirect_uris[0]",
            "{rule}: {body}"
        );
    }

    for ok in [
        "https://app.example.com/cb",
        "http://127.0.0.1:8765/cb",
        "http://[::1]:8765/cb",
        "http://localhost/cb",
        "com.example.app:/oauth2redirect",
    ] {
        let reply = app
            .post(
                &base,
                json!({ "name": "ok", "client_type": "public", "redirect_uris": [ok] }),
            )
            .await;
        assert_eq!(reply.status, 201, "{ok}: {}", reply.body);
    }
    assert_eq!(app.count_rows("clients").await, before + 5);
}

#[tokio::test]
async fn client_registration_rules_beyond_redirect_uris_are_enforced() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/api/v1/tenants/{slug}/clients");
    let cases = [
        (
            json!({ "name": "p", "client_type": "public", "redirect_uris": ["https://a.example/cb"], "require_pkce": false }),
            "require_pkce",
        ),
        (
            json!({ "name": "p", "client_type": "public", "grant_types": ["client_credentials"] }),
            "grant_types",
        ),
        (
            json!({ "name": "c", "client_type": "confidential", "grant_types": ["password"] }),
            "grant_types[0]",
        ),
        (
            json!({ "name": "c", "client_type": "confidential", "grant_types": ["implicit"] }),
            "grant_types[0]",
        ),
        (
            json!({ "name": "c", "client_type": "confidential" }),
            "redirect_uris",
        ),
        (
            json!({ "name": "c", "client_type": "confidential", "redirect_uris": ["https://a.example/cb"], "allowed_scopes": ["bad scope"] }),
            "allowed_scopes[0]",
        ),
        (
            json!({ "name": "", "client_type": "confidential", "redirect_uris": ["https://a.example/cb"] }),
            "name",
        ),
        (
            json!({ "name": "c", "client_type": "confidential", "redirect_uris": ["https://a.example/cb", "https://a.example/cb"] }),
            "redirect_uris[1]",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post(&base, body.clone()).await;
        let problem = reply.assert_problem(422);
        let fields: Vec<_> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body} → {problem}");
    }
    // A confidential machine-to-machine client needs no redirect URI.
    let m2m = app
        .post(&base, json!({ "name": "m2m", "client_type": "confidential", "grant_types": ["client_credentials"] }))
        .await;
    assert_eq!(m2m.status, 201, "{}", m2m.body);
    assert_eq!(app.count_rows("clients").await, 1);
}
