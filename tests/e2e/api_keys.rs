use e2e::TestApp;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_bootstrap_key_administers_the_platform_and_mints_more_keys() {
    let app = TestApp::spawn().await;
    assert!(app.bootstrap_key.starts_with("tsk_"));
    let boot = Some(app.bootstrap_key.as_str());

    let tenants = app.call(Method::GET, "/api/v1/tenants", boot, None).await;
    assert_eq!(tenants.status, 200, "{}", tenants.body);

    let minted = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            boot,
            Some(&json!({ "name": "ci", "scope": "platform_admin" })),
        )
        .await;
    assert_eq!(minted.status, 201, "{}", minted.body);
    let key = minted.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("tsk_"));
    assert!(key.starts_with(minted.body["prefix"].as_str().unwrap()));

    // The new key works; its last use is tracked; lists never show the key itself.
    assert_eq!(
        app.call(Method::GET, "/api/v1/tenants", Some(&key), None)
            .await
            .status,
        200
    );
    let list = app.call(Method::GET, "/api/v1/api-keys", boot, None).await;
    let entry = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == minted.body["id"])
        .unwrap()
        .clone();
    assert!(entry.get("key").is_none());
    assert!(entry["last_used_at"].is_string(), "{entry}");

    // Revoked keys stop working at once.
    let id = minted.body["id"].as_str().unwrap();
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            boot,
            None
        )
        .await
        .status,
        204
    );
    app.call(Method::GET, "/api/v1/tenants", Some(&key), None)
        .await
        .assert_problem(401);

    // Platform keys must be platform_admin.
    app.call(
        Method::POST,
        "/api/v1/api-keys",
        boot,
        Some(&json!({ "name": "x", "scope": "tenant_read" })),
    )
    .await
    .assert_problem(422);
}

#[tokio::test]
async fn tenant_keys_are_scoped_to_read_or_admin_and_to_their_tenant() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_key = app.create_tenant_key(&slug, "tenant_admin").await;
    let read_key = app.create_tenant_key(&slug, "tenant_read").await;
    let clients = format!("/api/v1/tenants/{slug}/clients");
    let new_client = json!({ "name": "c", "client_type": "confidential", "redirect_uris": ["https://a.example/cb"] });

    // tenant_admin reads and writes its tenant.
    assert_eq!(
        app.call(Method::POST, &clients, Some(&admin_key), Some(&new_client))
            .await
            .status,
        201
    );
    assert_eq!(
        app.call(Method::GET, &clients, Some(&admin_key), None)
            .await
            .status,
        200
    );
    // ... but cannot create tenants, delete its tenant, disable it, or mint platform keys.
    app.call(
        Method::POST,
        "/api/v1/tenants",
        Some(&admin_key),
        Some(&json!({ "slug": "newone", "display_name": "n" })),
    )
    .await
    .assert_problem(403);
    app.call(
        Method::DELETE,
        &format!("/api/v1/tenants/{slug}"),
        Some(&admin_key),
        None,
    )
    .await
    .assert_problem(403);
    app.call(
        Method::PATCH,
        &format!("/api/v1/tenants/{slug}"),
        Some(&admin_key),
        Some(&json!({ "enabled": false })),
    )
    .await
    .assert_problem(403);
    app.call(Method::GET, "/api/v1/api-keys", Some(&admin_key), None)
        .await
        .assert_problem(403);

    // tenant_read reads but cannot write.
    assert_eq!(
        app.call(Method::GET, &clients, Some(&read_key), None)
            .await
            .status,
        200
    );
    app.call(Method::POST, &clients, Some(&read_key), Some(&new_client))
        .await
        .assert_problem(403);
    app.call(
        Method::POST,
        &format!("/api/v1/tenants/{slug}/api-keys"),
        Some(&read_key),
        Some(&json!({ "name": "x", "scope": "tenant_admin" })),
    )
    .await
    .assert_problem(403);
    assert_eq!(app.count_rows("clients").await, 1);

    // Tenant keys cannot be platform_admin.
    app.post(
        &format!("/api/v1/tenants/{slug}/api-keys"),
        json!({ "name": "x", "scope": "platform_admin" }),
    )
    .await
    .assert_problem(422);
}

#[tokio::test]
async fn requests_without_a_valid_key_are_unauthorized() {
    let app = TestApp::spawn().await;
    for token in [None, Some("tsk_not-a-real-key"), Some("garbage"), Some("")] {
        let reply = app.call(Method::GET, "/api/v1/tenants", token, None).await;
        reply.assert_problem(401);
        assert!(
            reply.headers.get("www-authenticate").is_some() || token.is_none() || token == Some(""),
            "{token:?}"
        );
    }
}

#[tokio::test]
async fn revoking_every_platform_key_never_makes_a_restart_mint_a_new_bootstrap_key() {
    // Arrange: the first start of the empty database minted the bootstrap key; the
    // operator revokes it (the last platform key) with the admin token.
    let mut first = TestApp::spawn().await;
    assert!(first.bootstrap_key.starts_with("tsk_"));
    let keys = first
        .call(
            Method::GET,
            "/api/v1/api-keys",
            Some(&first.admin_token),
            None,
        )
        .await;
    let items = keys.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", keys.body);
    let id = items[0]["id"].as_str().unwrap();
    let revoked = first
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            Some(&first.admin_token),
            None,
        )
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    first.stop().await;

    // Act: the server starts again on the same database.
    let (url, schema) = first.database.clone();
    let master_key = first.master_key.clone();
    let second = TestApp::spawn_with(move |s| {
        s.database_url = Some(url);
        s.database_schema = schema;
        s.master_key = Some(master_key);
    })
    .await;

    // Assert: no new key was minted, and no unrevoked platform key exists.
    assert_eq!(second.bootstrap_key, "");
    let keys = second
        .call(
            Method::GET,
            "/api/v1/api-keys",
            Some(&second.admin_token),
            None,
        )
        .await;
    let live: Vec<_> = keys.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked_at"].is_null())
        .cloned()
        .collect();
    assert!(live.is_empty(), "{}", keys.body);
}
