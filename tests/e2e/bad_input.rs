use e2e::TestApp;
use reqwest::Method;
use serde_json::json;

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> e2e::Reply {
    let resp = app
        .http
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(&app.admin_token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::reply(resp).await
}

#[tokio::test]
async fn malformed_json_missing_fields_and_wrong_types_are_400_problems() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenants_before = app.count_rows("tenants").await;

    // (body, the field the problem must name; "" when the body as a whole is bad)
    let cases: Vec<(&[u8], &str)> = vec![
        (b"{\"slug\": \"abc\", ", ""),
        (b"not json at all", ""),
        (b"", ""),
        (br#"{"slug": "okslug", "display_name": "x"} trailing"#, ""),
        (br#"{"display_name": "no slug"}"#, "slug"),
        (br#"{"slug": "okslug"}"#, "display_name"),
        (br#"{"slug": 42, "display_name": "x"}"#, "slug"),
        (br#"{"slug": {"a": 1}, "display_name": "x"}"#, "slug"),
        (br#"{"slug": null, "display_name": "x"}"#, "slug"),
        (br#"{"slug": "okslug", "display_name": ["x"]}"#, "display_name"),
        (br#"{"slug": "okslug", "display_name": "x", "settings": {"access_token_ttl_secs": "ten"}}"#, "settings.access_token_ttl_secs"),
        (br#"{"slug": "okslug", "display_name": "x", "settings": {"access_token_ttl_secs": -5}}"#, "settings.access_token_ttl_secs"),
        (br#"{"slug": "okslug", "display_name": "x", "settings": {"mfa_policy": "sometimes"}}"#, "settings.mfa_policy"),
        (br#"{"slug": "okslug", "display_name": "x", "settings": {"colour": "blue"}}"#, "settings.colour"),
        (br#"{"slug": "okslug", "display_name": "x", "unexpected": true}"#, "unexpected"),
        (br#"[]"#, ""),
    ];
    for (body, field) in cases {
        let shown = String::from_utf8_lossy(body).into_owned();
        let reply = raw(
            &app,
            Method::POST,
            "/api/v1/tenants",
            "application/json",
            body.to_vec(),
        )
        .await;
        assert_eq!(reply.status, 400, "{shown} -> {}", reply.body);
        let problem = reply.assert_problem(400);
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{shown}");
        let named: Vec<_> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        if field.is_empty() {
            assert!(named.is_empty() || named == [""], "{shown} -> {problem}");
        } else {
            assert_eq!(named, [field], "{shown} -> {problem}");
        }
    }
    let clients = format!("/api/v1/tenants/{slug}/clients");
    for (body, field) in [
        (json!({ "name": "x" }), "client_type"),
        (
            json!({ "name": "x", "client_type": "hybrid", "redirect_uris": [] }),
            "client_type",
        ),
        (
            json!({ "name": "x", "client_type": "public", "redirect_uris": "https://a.example/cb" }),
            "redirect_uris",
        ),
        (
            json!({ "name": "x", "client_type": "public", "redirect_uris": [7] }),
            "redirect_uris[0]",
        ),
        (
            json!({ "name": "x", "client_type": "public", "first_party": "yes" }),
            "first_party",
        ),
    ] {
        let reply = app.post(&clients, body.clone()).await;
        assert_eq!(
            reply.assert_problem(400)["errors"][0]["field"],
            field,
            "{body}"
        );
    }
    // A wrong content type is a client error too.
    let reply = raw(
        &app,
        Method::POST,
        "/api/v1/tenants",
        "text/plain",
        b"slug=abc".to_vec(),
    )
    .await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    reply.assert_problem(reply.status.as_u16());

    assert_eq!(app.count_rows("tenants").await, tenants_before);
    assert_eq!(app.count_rows("clients").await, 0);
}

#[tokio::test]
async fn oversized_bodies_are_413_problems_with_or_without_a_content_length() {
    let app = TestApp::spawn().await;
    let huge = format!(
        r#"{{"slug": "big", "display_name": "{}"}}"#,
        "x".repeat(200 * 1024)
    );
    raw(
        &app,
        Method::POST,
        "/api/v1/tenants",
        "application/json",
        huge.clone().into_bytes(),
    )
    .await
    .assert_problem(413);

    // Chunked upload: no Content-Length header for the server to trust.
    let stream = chunked(huge.into_bytes());
    let resp = app
        .http
        .post(format!("{}/api/v1/tenants", app.address))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    TestApp::reply(resp).await.assert_problem(413);
    assert_eq!(app.count_rows("tenants").await, 0);
}

fn chunked(bytes: Vec<u8>) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<_> = bytes.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn unknown_ids_routes_and_methods_are_404_or_405_problems() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let random = uuid::Uuid::new_v4();
    app.get("/api/v1/tenants/no-such-tenant")
        .await
        .assert_problem(404);
    app.get(&format!("/api/v1/tenants/{slug}/clients/nope"))
        .await
        .assert_problem(404);
    app.get(&format!("/api/v1/tenants/{slug}/users/{random}"))
        .await
        .assert_problem(404);
    app.delete(&format!("/api/v1/tenants/{slug}/api-keys/{random}"))
        .await
        .assert_problem(404);
    app.get("/api/v1/no-such-route").await.assert_problem(404);
    // A malformed id in the path is a client error, never a 5xx.
    let reply = app
        .get(&format!("/api/v1/tenants/{slug}/users/not-a-uuid"))
        .await;
    assert!(reply.status.is_client_error());
    reply.assert_problem(reply.status.as_u16());
    let reply = app
        .call(Method::PUT, "/api/v1/tenants", Some(&app.admin_token), None)
        .await;
    assert_eq!(reply.status, 405);
    reply.assert_problem(405);
}
