use e2e::{TestApp, unique_slug};
use reqwest::Method;
use serde_json::json;

/// Strips what legitimately differs between two problem responses.
fn shape(reply: &e2e::Reply) -> (u16, String, String) {
    (
        reply.status.as_u16(),
        reply.body["title"].as_str().unwrap_or_default().to_owned(),
        reply.body["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_tenant_key_cannot_read_list_change_or_delete_another_tenants_resources() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_key = app.create_tenant_key(&a, "tenant_admin").await;
    let b_client = app.create_client(&b).await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_user = app.create_user(&b, "bob", "correct horse battery").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_key = Some(a_key.as_str());
    let clients_before = app.count_rows("clients").await;
    let users_before = app.count_rows("users").await;

    let attempts: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/tenants/{b}"), None),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{b}"),
            Some(json!({ "display_name": "pwned" })),
        ),
        (Method::DELETE, format!("/api/v1/tenants/{b}"), None),
        (Method::GET, format!("/api/v1/tenants/{b}/clients"), None),
        (
            Method::POST,
            format!("/api/v1/tenants/{b}/clients"),
            Some(
                json!({ "name": "x", "client_type": "public", "redirect_uris": ["https://x.example/cb"] }),
            ),
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{b}/clients/{b_client}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{b}/clients/{b_client}"),
            Some(json!({ "name": "pwned" })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{b}/clients/{b_client}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{b}/clients/{b_client}/rotate-secret"),
            None,
        ),
        (Method::GET, format!("/api/v1/tenants/{b}/users"), None),
        (
            Method::GET,
            format!("/api/v1/tenants/{b}/users/{b_user}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{b}/users/{b_user}"),
            Some(json!({ "enabled": false })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{b}/users/{b_user}"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/tenants/{b}/users/{b_user}/password"),
            Some(json!({ "password": "hijacked password" })),
        ),
        (Method::GET, format!("/api/v1/tenants/{b}/keys"), None),
        (Method::GET, format!("/api/v1/tenants/{b}/api-keys"), None),
        (
            Method::GET,
            format!("/api/v1/tenants/{b}/audit-events"),
            None,
        ),
    ];
    let ghost = unique_slug("ghost");
    for (method, path, body) in attempts {
        let reply = app.call(method.clone(), &path, a_key, body.as_ref()).await;
        reply.assert_problem(404);
        // The same request against a tenant that does not exist answers identically,
        // so A cannot tell whether B exists.
        let ghost_path = path.replace(&b, &ghost);
        let ghost_reply = app
            .call(method.clone(), &ghost_path, a_key, body.as_ref())
            .await;
        assert_eq!(shape(&reply), shape(&ghost_reply), "{method} {path}");
    }

    // A's view of the tenant list holds only A.
    let list = app.call(Method::GET, "/api/v1/tenants", a_key, None).await;
    let slugs: Vec<_> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, [a.as_str()]);

    // Nothing of B's changed.
    assert_eq!(app.count_rows("clients").await, clients_before);
    assert_eq!(app.count_rows("users").await, users_before);
    let b_tenant = app.get(&format!("/api/v1/tenants/{b}")).await;
    assert_eq!(b_tenant.body["display_name"], "Test tenant");
    let user = app
        .get(&format!("/api/v1/tenants/{b}/users/{b_user}"))
        .await;
    assert_eq!(user.body["enabled"], true);
}

#[tokio::test]
async fn ids_from_another_tenant_are_not_found_through_ones_own_tenant() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_key = app.create_tenant_key(&a, "tenant_admin").await;
    let b_client = app.create_client(&b).await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_user = app.create_user(&b, "bob", "correct horse battery").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_key_id = app
        .post(
            &format!("/api/v1/tenants/{b}/api-keys"),
            json!({ "name": "b", "scope": "tenant_read" }),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_key = Some(a_key.as_str());

    for (method, path) in [
        (
            Method::GET,
            format!("/api/v1/tenants/{a}/clients/{b_client}"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{a}/clients/{b_client}"),
        ),
        (Method::GET, format!("/api/v1/tenants/{a}/users/{b_user}")),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{a}/users/{b_user}"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{a}/api-keys/{b_key_id}"),
        ),
    ] {
        app.call(method.clone(), &path, a_key, None)
            .await
            .assert_problem(404);
    }
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{b}/clients/{b_client}"))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{b}/users/{b_user}"))
            .await
            .status,
        200
    );
}
