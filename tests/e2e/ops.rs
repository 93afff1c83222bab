use e2e::TestApp;

#[tokio::test]
async fn health_and_readiness_report_ok_with_reachable_storage() {
    let app = TestApp::spawn().await;
    let health = app.call(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, 200);
    let ready = app.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["database"], "ok");
    assert_eq!(ready.body["cache"], "ok");
    assert!(ready.headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn readiness_is_503_and_requests_fail_closed_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.db.clone().close().await.ok();
    let ready = app.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["database"], "unavailable");
    let reply = app.get("/api/v1/tenants").await;
    reply.assert_problem(503);
}
