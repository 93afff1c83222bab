//! Expensive work only for plausible requests: a signing-key rotation through the API
//! generates a key only after the cheap checks (authentication, the tenant exists, no
//! rotation of that algorithm already pending). Client-secret checks are covered by
//! `tenancy::oauth::client_auth`'s unit tests (they count Argon2id runs) and by
//! `protocol_details`.

use e2e::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

fn next_kids(listed: &Value) -> Vec<String> {
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "next")
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_key_rotation_generates_a_key_only_after_the_cheap_checks_pass() {
    // Arrange: a tenant with its one current key, and a read-only key for it.
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = app.create_tenant_key(&slug, "tenant_read").await;
    let rotate = format!("/api/v1/tenants/{slug}/keys/rotate");
    assert_eq!(app.count_rows("signing_keys").await, 1);

    // Act + Assert: refused requests generate nothing.
    let anonymous = app.call(Method::POST, &rotate, None, None).await;
    anonymous.assert_problem(401);
    let read_only = app.call(Method::POST, &rotate, Some(&reader), None).await;
    read_only.assert_problem(403);
    let unknown = app
        .post("/api/v1/tenants/no-such-tenant/keys/rotate", json!(null))
        .await;
    unknown.assert_problem(404);
    assert_eq!(app.count_rows("signing_keys").await, 1);

    // The first rotation adds one `next` key...
    let first = app.post(&rotate, json!(null)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let pending = next_kids(&first.body);
    assert_eq!(pending.len(), 1, "{}", first.body);
    assert_eq!(app.count_rows("signing_keys").await, 2);
    // ...and one asked while it is pending keeps it instead of generating another.
    let again = app.post(&rotate, json!(null)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(next_kids(&again.body), pending);
    assert_eq!(app.count_rows("signing_keys").await, 2);
}
