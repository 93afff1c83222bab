use e2e::{TestApp, unique_slug};
use serde_json::json;

#[tokio::test]
async fn a_tenant_is_created_read_listed_updated_disabled_and_deleted() {
    let app = TestApp::spawn().await;
    let slug = unique_slug("acme");

    // Create
    let created = app
        .post(
            "/api/v1/tenants",
            json!({ "slug": slug, "display_name": "Acme", "settings": { "access_token_ttl_secs": 900 } }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["slug"], slug);
    assert_eq!(created.body["issuer"], format!("{}/t/{slug}", app.address));
    assert_eq!(created.body["enabled"], true);
    assert_eq!(created.body["settings"]["access_token_ttl_secs"], 900);
    assert_eq!(created.body["settings"]["id_token_ttl_secs"], 3600);

    // Its first signing key exists: RS256, current, public half only.
    let keys = app.get(&format!("/api/v1/tenants/{slug}/keys")).await;
    assert_eq!(keys.status, 200, "{}", keys.body);
    let items = keys.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["alg"], "RS256");
    assert_eq!(items[0]["state"], "current");
    assert_eq!(items[0]["public_jwk"]["kty"], "RSA");
    assert_eq!(items[0]["public_jwk"]["kid"], items[0]["kid"]);
    assert!(
        items[0]["public_jwk"].get("d").is_none(),
        "private exponent leaked"
    );

    // Read
    let got = app.get(&format!("/api/v1/tenants/{slug}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["id"], created.body["id"]);

    // Update settings and name
    let updated = app
        .patch(
            &format!("/api/v1/tenants/{slug}"),
            json!({
                "display_name": "Acme Corp",
                "settings": { "mfa_policy": "required", "signup_allowed": true,
                              "security_contacts": ["SecOps@Acme.example"] }
            }),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["display_name"], "Acme Corp");
    assert_eq!(updated.body["settings"]["mfa_policy"], "required");
    assert_eq!(updated.body["settings"]["signup_allowed"], true);
    assert_eq!(
        updated.body["settings"]["security_contacts"],
        json!(["secops@acme.example"])
    );
    assert_eq!(
        updated.body["settings"]["access_token_ttl_secs"], 900,
        "untouched settings stay"
    );

    // Disable
    let disabled = app
        .patch(
            &format!("/api/v1/tenants/{slug}"),
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.body["enabled"], false);

    // The audit log recorded each step.
    let actions = app.audit_actions(&slug).await;
    assert_eq!(
        actions,
        ["tenant.created", "tenant.updated", "tenant.disabled"]
    );

    // Delete purges the tenant and everything it owns.
    app.create_client(&slug).await;
    let ann = app.create_user(&slug, "ann", "correct horse battery").await;
    crate::users::plant_factors(
        &app,
        created.body["id"].as_str().unwrap(),
        ann["id"].as_str().unwrap(),
    )
    .await;
    let deleted = app.delete(&format!("/api/v1/tenants/{slug}")).await;
    assert_eq!(deleted.status, 204);
    app.get(&format!("/api/v1/tenants/{slug}"))
        .await
        .assert_problem(404);
    for table in ["tenants", "clients", "users", "signing_keys"] {
        assert_eq!(
            app.count_rows(table).await,
            0,
            "{table} rows of a deleted tenant remain"
        );
    }
    // No row of any table still names the tenant (TOTP seeds, recovery codes and
    // passkeys included), except the record of the deletion itself.
    let tenant_id = created.body["id"].as_str().unwrap().replace('-', "");
    let dump = app.dump_database().await;
    let leftovers: Vec<&str> = dump
        .lines()
        .filter(|l| l.to_lowercase().replace('-', "").contains(&tenant_id))
        .filter(|l| !(l.starts_with("audit_events:") && l.contains("tenant.deleted")))
        .collect();
    for table in ["user_totp", "recovery_codes", "passkeys"] {
        assert!(
            !leftovers
                .iter()
                .any(|l| l.starts_with(&format!("{table}:"))),
            "{table} rows of a deleted tenant remain"
        );
    }
    assert!(
        leftovers.is_empty(),
        "rows of a deleted tenant remain: {leftovers:?}"
    );

    // The slug can be used again, for a new tenant.
    let again = app
        .post(
            "/api/v1/tenants",
            json!({ "slug": slug, "display_name": "Acme again" }),
        )
        .await;
    assert_eq!(again.status, 201);
    assert_ne!(again.body["id"], created.body["id"]);
}

#[tokio::test]
async fn duplicate_and_invalid_slugs_are_refused_without_writing_anything() {
    let app = TestApp::spawn().await;
    let slug = unique_slug("dup");
    assert_eq!(
        app.post(
            "/api/v1/tenants",
            json!({ "slug": slug, "display_name": "One" })
        )
        .await
        .status,
        201
    );
    let tenants_before = app.count_rows("tenants").await;
    let keys_before = app.count_rows("signing_keys").await;

    let dup = app
        .post(
            "/api/v1/tenants",
            json!({ "slug": slug, "display_name": "Two" }),
        )
        .await;
    dup.assert_problem(409);

    for bad in [
        "ab",
        "Acme",
        "-acme",
        "acme-",
        "ac_me",
        "ac.me",
        "ünïcode",
        &"a".repeat(64),
    ] {
        let reply = app
            .post(
                "/api/v1/tenants",
                json!({ "slug": bad, "display_name": "Bad" }),
            )
            .await;
        let body = reply.assert_problem(422);
        assert_eq!(body["errors"][0]["field"], "slug", "{bad}: {body}");
    }
    let bad_settings = app
        .post(
            "/api/v1/tenants",
            json!({ "slug": unique_slug("s"), "display_name": "x", "settings": { "access_token_ttl_secs": 1 } }),
        )
        .await;
    assert_eq!(
        bad_settings.assert_problem(422)["errors"][0]["field"],
        "settings.access_token_ttl_secs"
    );

    assert_eq!(app.count_rows("tenants").await, tenants_before);
    assert_eq!(app.count_rows("signing_keys").await, keys_before);
}

#[tokio::test]
async fn tenant_lists_are_paginated_by_cursor() {
    let app = TestApp::spawn().await;
    let mut slugs = Vec::new();
    for _ in 0..5 {
        slugs.push(
            app.create_tenant().await["slug"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/tenants?limit=2&cursor={c}"),
            None => "/api/v1/tenants?limit=2".to_owned(),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|t| t["slug"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, slugs, "every tenant exactly once, in creation order");
    app.get("/api/v1/tenants?limit=0").await.assert_problem(422);
    app.get("/api/v1/tenants?cursor=not-a-cursor")
        .await
        .assert_problem(422);
}
