//! Regressions found by schemathesis (tests/interop/schemathesis) against the OpenAPI
//! document: what the management API sends must match what the document says.

use e2e::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

/// Every JSON path in `value` that holds `null`.
fn null_paths(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(at.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                null_paths(item, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                null_paths(item, &format!("{at}.{key}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn optional_response_fields_are_omitted_rather_than_sent_as_null() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let no_email = app
        .post(
            &format!("/api/v1/tenants/{slug}/users"),
            json!({ "username": "no.email", "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(no_email.status, 201, "{}", no_email.body);
    app.create_tenant_key(&slug, "tenant_read").await;

    // The document types these fields as plain strings that are "absent" when unset;
    // a `null` there fails every schema-validating client.
    for path in [
        "/api/v1/tenants".to_owned(),
        "/api/v1/api-keys".to_owned(),
        format!("/api/v1/tenants/{slug}/users"),
        format!(
            "/api/v1/tenants/{slug}/users/{}",
            no_email.body["id"].as_str().unwrap()
        ),
        format!("/api/v1/tenants/{slug}/clients"),
        format!("/api/v1/tenants/{slug}/keys"),
        format!("/api/v1/tenants/{slug}/api-keys"),
        format!("/api/v1/tenants/{slug}/audit-events"),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        let mut nulls = Vec::new();
        null_paths(&reply.body, "", &mut nulls);
        assert!(
            nulls.is_empty(),
            "{path} sent null at {nulls:?}: {}",
            reply.body
        );
    }
    let page = app.get("/api/v1/tenants?limit=200").await;
    assert!(
        page.body.get("next_cursor").is_none(),
        "last page: {}",
        page.body
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_documented_415_problem() {
    let app = TestApp::spawn().await;
    let missing = app
        .http
        .request(Method::POST, format!("{}/api/v1/tenants", app.address))
        .bearer_auth(&app.admin_token)
        .body(r#"{"slug":"no-type","display_name":"x"}"#)
        .send()
        .await
        .unwrap();
    TestApp::reply(missing).await.assert_problem(415);
    let text = app
        .http
        .request(Method::POST, format!("{}/api/v1/tenants", app.address))
        .bearer_auth(&app.admin_token)
        .header("content-type", "text/plain")
        .body(r#"{"slug":"as-text","display_name":"x"}"#)
        .send()
        .await
        .unwrap();
    let problem = TestApp::reply(text).await;
    problem.assert_problem(415);
    assert_eq!(
        problem.body["type"],
        "https://tessera.dev/problems/unsupported-media-type"
    );

    let doc = app.get("/api/v1/openapi.json").await.body;
    let documented = &doc["paths"]["/api/v1/tenants"]["post"]["responses"]["415"];
    assert!(
        documented.is_object(),
        "415 is documented for create_tenant"
    );
}

#[tokio::test]
async fn a_405_names_the_allowed_methods() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = uuid::Uuid::new_v4();
    // RFC 9110 §15.5.6: a 405 MUST carry Allow.
    for (method, path, allow) in [
        (Method::PUT, "/api/v1/tenants".to_owned(), "GET, POST"),
        (
            Method::PUT,
            format!("/api/v1/tenants/{slug}/users/{user}"),
            "GET, PATCH, DELETE",
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{slug}/keys/rotate"),
            "POST",
        ),
        (Method::TRACE, "/api/v1/api-keys".to_owned(), "GET, POST"),
    ] {
        let reply = app
            .call(method.clone(), &path, Some(&app.admin_token), None)
            .await;
        reply.assert_problem(405);
        assert_eq!(
            reply.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn the_document_says_a_users_email_may_be_set_to_null() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v1/openapi.json").await.body;
    // update_user takes `"email": null` to remove the address; a client generated from
    // the document must be able to send it.
    let email = &doc["components"]["schemas"]["UpdateUserRequest"]["properties"]["email"];
    assert_eq!(email["nullable"], true, "{email}");
}
