//! The audit log API: filters, cursor pagination, NDJSON export and retention.

use e2e::TestApp;
use serde_json::{Value, json};

async fn events(app: &TestApp, slug: &str, query: &str) -> Vec<Value> {
    let reply = app
        .get(&format!(
            "/api/v1/tenants/{slug}/audit-events?limit=200&{query}"
        ))
        .await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn audit_events_can_be_filtered_by_action_actor_target_outcome_and_time() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app.create_client(&slug).await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let start = app.get(&format!("/api/v1/tenants/{slug}")).await.body["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(3600);
    app.create_user(&slug, "ann", "correct horse battery").await;
    app.create_user(&slug, "bob", "correct horse battery").await;
    // A failed token request (wrong secret) is a failure event from an anonymous...
    let refused = app
        .http
        .post(format!("{}/t/{slug}/token", app.address))
        .basic_auth(&client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let created = events(&app, &slug, "action=client.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["target"], format!("client:{client_id}"));
    assert_eq!(created[0]["actor"], "admin_token");
    assert_eq!(events(&app, &slug, "action=user.*").await.len(), 2);
    let failures = events(&app, &slug, "outcome=failure").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["action"], "token.refused");
    assert_eq!(failures[0]["details"]["error"], "invalid_client");
    assert!(failures[0]["ip"].is_string());
    let by_target = events(&app, &slug, &format!("target=client:{client_id}")).await;
    assert!(by_target.len() >= 2, "created and refused: {by_target:?}");
    assert!(
        events(&app, &slug, "actor=admin_token")
            .await
            .iter()
            .all(|e| e["actor"] == "admin_token")
    );
    // Before the hour passed: the tenant and the client; after it: the users on.
    let early_end =
        chrono::DateTime::parse_from_rfc3339(&start).unwrap() + chrono::Duration::minutes(30);
    let until = early_end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let early = events(&app, &slug, &format!("until={until}")).await;
    assert!(
        early.iter().all(|e| e["action"] != "user.created"),
        "{early:?}"
    );
    assert!(early.iter().any(|e| e["action"] == "client.created"));
    let late = events(&app, &slug, &format!("since={until}")).await;
    assert!(late.iter().all(|e| e["action"] != "client.created"));
    assert_eq!(
        late.iter()
            .filter(|e| e["action"] == "user.created")
            .count(),
        2
    );

    app.get(&format!(
        "/api/v1/tenants/{slug}/audit-events?outcome=maybe"
    ))
    .await
    .assert_problem(422);
    app.get(&format!(
        "/api/v1/tenants/{slug}/audit-events?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z"
    ))
    .await
    .assert_problem(422);
}

#[tokio::test]
async fn audit_events_page_with_a_cursor_and_export_as_ndjson() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    for name in ["ann", "bob", "cyd", "dan", "eve"] {
        app.create_user(&slug, name, "correct horse battery").await;
    }
    let all = events(&app, &slug, "").await;
    assert!(all.len() >= 6);
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let reply = app
            .get(&format!(
                "/api/v1/tenants/{slug}/audit-events?limit=2&cursor={cursor}"
            ))
            .await;
        paged.extend(reply.body["items"].as_array().unwrap().iter().cloned());
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, all, "pages add up to the whole log, in order");

    let resp = app
        .http
        .get(format!(
            "{}/api/v1/tenants/{slug}/audit-events/export",
            app.address
        ))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-ndjson")
    );
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, all, "one event per line, as the list shows them");

    let filtered = app
        .http
        .get(format!(
            "{}/api/v1/tenants/{slug}/audit-events/export?action=user.created",
            app.address
        ))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(filtered.lines().count(), 5);
    let other = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_key = app.create_tenant_key(&other, "tenant_admin").await;
    let denied = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/tenants/{slug}/audit-events/export"),
            Some(&other_key),
            None,
        )
        .await;
    denied.assert_problem(404);
}

#[tokio::test]
async fn audit_events_older_than_the_tenants_retention_are_deleted() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let keep_long = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch(
        &format!("/api/v1/tenants/{slug}"),
        json!({ "settings": { "audit_retention_days": 1 } }),
    )
    .await;
    app.create_user(&slug, "ann", "correct horse battery").await;
    let before = events(&app, &slug, "").await.len();
    assert!(before >= 3);
    app.clock.advance(2 * 86_400);
    app.create_user(&slug, "bob", "correct horse battery").await;
    let left = app
        .eventually("old events to be deleted", || async {
            let now = events(&app, &slug, "").await;
            (now.len() == 1).then_some(now)
        })
        .await;
    assert_eq!(left[0]["action"], "user.created");
    assert!(
        !events(&app, &keep_long, "").await.is_empty(),
        "another tenant's default retention keeps its events"
    );
}
