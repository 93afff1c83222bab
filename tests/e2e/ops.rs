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

/// A private Redis the test may kill; `None` where no `redis-server` binary exists.
fn private_redis() -> Option<(std::process::Child, u16)> {
    private_redis_with(&[])
}

/// [`private_redis`] started with `extra` arguments.
fn private_redis_with(extra: &[&str]) -> Option<(std::process::Child, u16)> {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    for line in BufReader::new(stdout).lines() {
        if line.ok()?.contains("Ready to accept connections") {
            return Some((child, port));
        }
    }
    None
}

#[tokio::test]
async fn requests_fail_closed_when_redis_goes_away() {
    // CI provides redis-server alongside TESSERA_TEST_REDIS_URL; elsewhere skip.
    if std::env::var("TESSERA_TEST_REDIS_URL").is_err() {
        return;
    }
    let (mut redis, port) = private_redis().expect("redis-server starts");
    let app =
        TestApp::spawn_with(|s| s.redis_url = Some(format!("redis://127.0.0.1:{port}"))).await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    redis.kill().unwrap();
    redis.wait().unwrap();

    let ready = app.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["cache"], "unavailable");
    // The authorization endpoint needs the session store: it refuses, never lets through.
    let client = app.create_client(&slug).await;
    let authorize = app
        .http
        .get(format!("{}/t/{slug}/authorize", app.address))
        .query(&[
            ("client_id", client["client_id"].as_str().unwrap()),
            ("redirect_uri", "https://app.example.com/callback"),
            ("response_type", "code"),
            ("scope", "openid"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), 503);
    assert!(authorize.headers().get("location").is_none());
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_in_the_prometheus_text_format() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        let discovery = app
            .call(
                reqwest::Method::GET,
                &format!("/t/{slug}/.well-known/openid-configuration"),
                None,
                None,
            )
            .await;
        assert_eq!(discovery.status, 200);
    }
    let resp = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(
            r#"tessera_http_requests_total{method="GET",route="/t/{slug}/.well-known/openid-configuration",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(text.contains(
        r#"tessera_http_requests_total{method="POST",route="/api/v1/tenants",status="201"} 1"#
    ));
    assert!(text.contains("tessera_http_request_duration_seconds_bucket"));
    assert!(text.contains("tessera_db_pool_connections"));
    assert!(
        !text.contains(&slug),
        "tenant slugs never become label values"
    );
}

/// The route label values of `tessera_http_requests_total` in a `/metrics` text.
fn route_labels(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("tessera_http_requests_total{"))
        .filter_map(|l| l.split("route=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn unknown_paths_and_more_tenants_add_no_metric_series_beyond_one_other() {
    // Arrange: one tenant served once, so its route's series exist.
    let app = TestApp::spawn().await;
    let first = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let discovery = |slug: &str| format!("/t/{slug}/.well-known/openid-configuration");
    assert_eq!(
        app.call(reqwest::Method::GET, &discovery(&first), None, None)
            .await
            .status,
        200
    );
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(
            app.create_tenant().await["slug"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let metrics = || async {
        app.http
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // The first scrape is itself counted under `/metrics` once it is answered.
    metrics().await;
    let before = route_labels(&metrics().await);

    // Act: 50 requests to random unknown paths (top level, under a tenant, under the
    // management API, odd methods), and the known route on the other tenants.
    let mut randoms = Vec::new();
    for i in 0..50 {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let path = match i % 4 {
            0 => format!("/{random}"),
            1 => format!("/t/{first}/{random}"),
            2 => format!("/{random}/a/b/c"),
            _ => format!("/t/{random}/x/{random}"),
        };
        let method = if i % 5 == 0 {
            reqwest::Method::from_bytes(b"PROPFIND").unwrap()
        } else {
            reqwest::Method::GET
        };
        let resp = app
            .http
            .request(method, format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
        randoms.push(random);
    }
    for slug in &others {
        assert_eq!(
            app.call(reqwest::Method::GET, &discovery(slug), None, None)
                .await
                .status,
            200
        );
    }
    let text = metrics().await;

    // Assert: the only new route label is `other`, and no path or slug is a label.
    let after = route_labels(&text);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.iter().all(|r| *r == "other"), "new series: {new:?}");
    assert!(after.contains("other"));
    for value in randoms.iter().chain(&others).chain([&first]) {
        assert!(!text.contains(value.as_str()), "{value} became a label");
    }
    assert!(!text.contains("PROPFIND"));
}

/// Builds (without serving) a server on `redis_url` and the embedded database.
async fn build_on_redis(redis_url: String) -> anyhow::Result<api::Application> {
    let dir = tempfile::tempdir()?;
    let settings = api::Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_owned(),
        redis_url: Some(redis_url),
        master_key: Some(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [7u8; 32],
        )),
        ..api::Settings::default()
    };
    let app = api::Application::build(settings).await;
    drop(dir);
    app
}

#[tokio::test]
async fn the_server_refuses_to_start_on_a_redis_that_evicts_keys() {
    // CI provides redis-server alongside TESSERA_TEST_REDIS_URL; elsewhere skip.
    if std::env::var("TESSERA_TEST_REDIS_URL").is_err() {
        return;
    }
    for (policy, starts) in [
        ("allkeys-lru", false),
        ("volatile-ttl", false),
        ("noeviction", true),
    ] {
        // Arrange
        let (mut redis, port) =
            private_redis_with(&["--maxmemory-policy", policy]).expect("redis-server starts");

        // Act
        let built = build_on_redis(format!("redis://127.0.0.1:{port}")).await;

        // Assert
        match built {
            Ok(_) => assert!(starts, "{policy}: started"),
            Err(err) => {
                assert!(!starts, "{policy}: {err:#}");
                assert!(format!("{err:#}").contains("noeviction"), "{err:#}");
            }
        }
        redis.kill().unwrap();
        redis.wait().unwrap();
    }
}

/// A connection accepted just before SIGTERM whose request arrives just after it is
/// answered, not dropped; connections after the signal are refused (see `api::drain`).
#[tokio::test]
async fn shutdown_answers_a_connection_accepted_before_the_signal_and_refuses_new_ones() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut app = TestApp::spawn().await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut early = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // Let the server accept it: the connection is open with no request started.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    app.signal_shutdown();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let refused = tokio::net::TcpStream::connect(&addr).await;
    assert!(
        refused.is_err(),
        "the listening socket closes at the signal"
    );

    early
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .expect("send the request");
    let mut answer = Vec::new();
    early
        .read_to_end(&mut answer)
        .await
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the accepted connection is answered: {answer:?}"
    );
    app.stop().await;
}
