use e2e::TestApp;

/// The committed document is what SDKs are generated from; it must match the code.
/// Regenerate with `cargo run -- openapi > openapi/openapi.json`.
#[tokio::test]
async fn the_committed_openapi_document_matches_the_served_one() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let served = resp.text().await.unwrap();
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let committed =
        std::fs::read_to_string(committed_path).expect("openapi/openapi.json is committed");
    let served_json: serde_json::Value = serde_json::from_str(&served).unwrap();
    let committed_json: serde_json::Value =
        serde_json::from_str(&committed).expect("committed document is JSON");
    assert!(
        served_json == committed_json,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
    // The document describes every core resource path.
    let paths = served_json["paths"].as_object().unwrap();
    for path in [
        "/api/v1/tenants",
        "/api/v1/tenants/{tenant}",
        "/api/v1/tenants/{tenant}/clients",
        "/api/v1/tenants/{tenant}/clients/{client_id}",
        "/api/v1/tenants/{tenant}/clients/{client_id}/rotate-secret",
        "/api/v1/tenants/{tenant}/users",
        "/api/v1/tenants/{tenant}/users/{user_id}",
        "/api/v1/tenants/{tenant}/users/{user_id}/password",
        "/api/v1/tenants/{tenant}/keys",
        "/api/v1/tenants/{tenant}/api-keys",
        "/api/v1/api-keys",
        "/api/v1/tenants/{tenant}/audit-events",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the document");
    }
    // The docs UI is served.
    let docs = app
        .http
        .get(format!("{}/api/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
}
