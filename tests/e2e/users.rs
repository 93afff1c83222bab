use e2e::TestApp;
use serde_json::json;

#[tokio::test]
async fn a_user_is_created_searched_updated_disabled_repassworded_and_deleted() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/api/v1/tenants/{slug}/users");

    let created = app
        .post(&base, json!({ "username": "Ann.Lee", "email": "Ann@Example.com", "password": "correct horse battery", "email_verified": true }))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["username"], "ann.lee");
    assert_eq!(created.body["email"], "ann@example.com");
    assert_eq!(created.body["has_password"], true);
    assert!(created.body.get("password").is_none());
    assert!(!created.body.to_string().contains("correct horse"));
    app.create_user(&slug, "bob", "another good password").await;

    // Search is case-insensitive and exact.
    let by_email = app.get(&format!("{base}?email=ANN@example.com")).await;
    assert_eq!(by_email.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_email.body["items"][0]["id"], id.as_str());
    let by_username = app.get(&format!("{base}?username=BOB")).await;
    assert_eq!(by_username.body["items"][0]["username"], "bob");
    let nobody = app.get(&format!("{base}?email=nobody@example.com")).await;
    assert_eq!(nobody.body["items"], json!([]));
    assert_eq!(
        app.get(&base).await.body["items"].as_array().unwrap().len(),
        2
    );

    // Changing the email clears verification unless told otherwise.
    let updated = app
        .patch(
            &format!("{base}/{id}"),
            json!({ "email": "ann.lee@example.com" }),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["email"], "ann.lee@example.com");
    assert_eq!(updated.body["email_verified"], false);
    let removed = app
        .patch(&format!("{base}/{id}"), json!({ "email": null }))
        .await;
    assert_eq!(removed.body["email"], json!(null));

    // Disable
    let disabled = app
        .patch(&format!("{base}/{id}"), json!({ "enabled": false }))
        .await;
    assert_eq!(disabled.body["enabled"], false);

    // Set password
    let put = app
        .call(
            reqwest::Method::PUT,
            &format!("{base}/{id}/password"),
            Some(&app.admin_token),
            Some(&json!({ "password": "a brand new passphrase" })),
        )
        .await;
    assert_eq!(put.status, 204, "{}", put.body);
    let short = app
        .call(
            reqwest::Method::PUT,
            &format!("{base}/{id}/password"),
            Some(&app.admin_token),
            Some(&json!({ "password": "short" })),
        )
        .await;
    short.assert_problem(422);

    // Delete
    assert_eq!(app.delete(&format!("{base}/{id}")).await.status, 204);
    app.get(&format!("{base}/{id}")).await.assert_problem(404);

    let actions = app.audit_actions(&slug).await;
    for expected in [
        "user.created",
        "user.updated",
        "user.disabled",
        "user.password_set",
        "user.deleted",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn user_rules_are_enforced_and_duplicates_conflict() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/api/v1/tenants/{slug}/users");
    app.create_user(&slug, "ann", "correct horse battery").await;
    let before = app.count_rows("users").await;

    app.post(&base, json!({ "username": "ANN" }))
        .await
        .assert_problem(409);
    app.post(
        &base,
        json!({ "username": "other", "email": "ann@example.com" }),
    )
    .await
    .assert_problem(409);
    for (body, field) in [
        (json!({ "username": "" }), "username"),
        (json!({ "username": "has space" }), "username"),
        (json!({ "username": "x", "email": "not-an-email" }), "email"),
        (
            json!({ "username": "x", "password": "1234567" }),
            "password",
        ),
        (
            json!({ "username": "x", "password": "a".repeat(129) }),
            "password",
        ),
    ] {
        let problem = app.post(&base, body.clone()).await;
        assert_eq!(
            problem.assert_problem(422)["errors"][0]["field"],
            field,
            "{body}"
        );
    }
    assert_eq!(app.count_rows("users").await, before);

    // The same username may exist in another tenant.
    let other = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_user(&other, "ann", "correct horse battery")
        .await;
}

/// Gives `user_id` of `tenant_id` one row in each second-factor table (TOTP seed,
/// recovery code, passkey), written straight to the database: the deletion tests need
/// the rows to exist, not to work.
pub async fn plant_factors(app: &TestApp, tenant_id: &str, user_id: &str) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    use tenancy::entity::{passkeys, recovery_codes, user_totp};
    let tenant_id: uuid::Uuid = tenant_id.parse().unwrap();
    let user_id: uuid::Uuid = user_id.parse().unwrap();
    let now = api::state::Clock::now(app.clock.as_ref());
    user_totp::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        tenant_id: Set(tenant_id),
        user_id: Set(user_id),
        secret: Set("sealed".into()),
        confirmed_at: Set(Some(now)),
        last_used_step: Set(None),
        created_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    recovery_codes::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        tenant_id: Set(tenant_id),
        user_id: Set(user_id),
        code_hash: Set(format!("{:064}", 0)),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    passkeys::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        tenant_id: Set(tenant_id),
        user_id: Set(user_id),
        credential_id: Set(format!("cred-{user_id}")),
        name: Set("Laptop".into()),
        passkey: Set(json!({})),
        created_at: Set(now),
        last_used_at: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn deleting_a_user_deletes_their_totp_seed_recovery_codes_and_passkeys() {
    // Arrange: two users with factors; only one is deleted.
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant().await;
    let slug = tenant["slug"].as_str().unwrap();
    let tenant_id = tenant["id"].as_str().unwrap();
    let ann = app.create_user(slug, "ann", "correct horse battery").await;
    let bob = app.create_user(slug, "bob", "another good password").await;
    plant_factors(&app, tenant_id, ann["id"].as_str().unwrap()).await;
    plant_factors(&app, tenant_id, bob["id"].as_str().unwrap()).await;

    // Act
    let deleted = app
        .delete(&format!(
            "/api/v1/tenants/{slug}/users/{}",
            ann["id"].as_str().unwrap()
        ))
        .await;

    // Assert: ann's rows are gone, bob's stay.
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    for table in ["user_totp", "recovery_codes", "passkeys"] {
        assert_eq!(
            app.count_rows(table).await,
            1,
            "{table}: the deleted user's rows must go, the other user's stay"
        );
    }
    let ann_id = ann["id"].as_str().unwrap().replace('-', "");
    let leftovers = app
        .dump_database()
        .await
        .lines()
        .filter(|l| {
            ["user_totp:", "recovery_codes:", "passkeys:"]
                .iter()
                .any(|t| l.starts_with(t))
        })
        .filter(|l| l.to_lowercase().replace('-', "").contains(&ann_id))
        .count();
    assert_eq!(leftovers, 0);
}
