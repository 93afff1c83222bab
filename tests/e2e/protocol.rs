//! Discovery, JWKS, the token endpoint's client authentication and the
//! `client_credentials` grant, introspection and revocation.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{Reply, TestApp};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::Method;
use serde_json::{Value, json};

struct M2m {
    slug: String,
    client_id: String,
    secret: String,
}

async fn m2m_client(app: &TestApp) -> M2m {
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app
        .post(
            &format!("/api/v1/tenants/{slug}/clients"),
            json!({ "name": "worker", "client_type": "confidential", "grant_types": ["client_credentials"],
                    "allowed_scopes": ["api:read", "api:write"] }),
        )
        .await;
    assert_eq!(client.status, 201, "{}", client.body);
    M2m {
        slug,
        client_id: client.body["client_id"].as_str().unwrap().to_owned(),
        secret: client.body["client_secret"].as_str().unwrap().to_owned(),
    }
}

async fn form(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    params: &[(&str, &str)],
) -> Reply {
    let mut req = app.http.post(format!("{}{path}", app.address)).form(params);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    TestApp::reply(req.send().await.unwrap()).await
}

async fn client_token(app: &TestApp, c: &M2m, scope: Option<&str>) -> Reply {
    let mut params = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    form(
        app,
        &format!("/t/{}/token", c.slug),
        Some((&c.client_id, &c.secret)),
        &params,
    )
    .await
}

fn assert_oauth_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(reply.body["error"], code, "{}", reply.body);
    assert!(reply.body["error_description"].is_string());
    assert_eq!(reply.headers.get("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn discovery_documents_name_the_exact_issuer_and_its_endpoints() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let issuer = format!("{}/t/{slug}", app.address);

    let oidc = app
        .call(
            Method::GET,
            &format!("/t/{slug}/.well-known/openid-configuration"),
            None,
            None,
        )
        .await;
    assert_eq!(oidc.status, 200);
    assert_eq!(oidc.body["issuer"], issuer);
    assert_eq!(oidc.body["jwks_uri"], format!("{issuer}/jwks.json"));
    assert_eq!(oidc.body["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(
        oidc.body["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(oidc.body["response_types_supported"], json!(["code"]));
    assert_eq!(
        oidc.body["authorization_response_iss_parameter_supported"],
        true
    );
    assert!(
        oidc.headers
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("max-age")
    );

    let rfc8414 = app
        .call(
            Method::GET,
            &format!("/.well-known/oauth-authorization-server/t/{slug}"),
            None,
            None,
        )
        .await;
    assert_eq!(rfc8414.status, 200);
    assert_eq!(rfc8414.body, oidc.body);

    // The issuer never comes from the Host header.
    let spoofed = app
        .http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap();
    let spoofed: Value = spoofed.json().await.unwrap();
    assert_eq!(spoofed["issuer"], issuer);

    let unknown = app
        .call(
            Method::GET,
            "/t/no-such-tenant/.well-known/openid-configuration",
            None,
            None,
        )
        .await;
    assert_eq!(unknown.status, 404, "unknown tenants have no issuer");
    app.patch(
        &format!("/api/v1/tenants/{slug}"),
        json!({ "enabled": false }),
    )
    .await;
    let disabled = app
        .call(
            Method::GET,
            &format!("/t/{slug}/.well-known/openid-configuration"),
            None,
            None,
        )
        .await;
    assert_eq!(
        disabled.status, 404,
        "disabled tenants answer no protocol request"
    );
}

#[tokio::test]
async fn the_jwks_publishes_public_keys_only_with_a_max_age() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwks = app
        .call(Method::GET, &format!("/t/{slug}/jwks.json"), None, None)
        .await;
    assert_eq!(jwks.status, 200);
    assert!(
        jwks.headers
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(
            keys[0].get(private).is_none(),
            "private member {private} published"
        );
    }
    let listed = app.get(&format!("/api/v1/tenants/{slug}/keys")).await;
    assert_eq!(keys[0]["kid"], listed.body["items"][0]["kid"]);
}

#[tokio::test]
async fn client_credentials_issues_a_verifiable_rfc_9068_access_token() {
    let app = TestApp::spawn().await;
    let c = m2m_client(&app).await;
    let reply = client_token(&app, &c, Some("api:read")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 600);
    assert_eq!(reply.body["scope"], "api:read");
    assert!(reply.body.get("refresh_token").is_none(), "RFC 6749 §4.4.3");
    let token = reply.body["access_token"].as_str().unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::RS256);
    let jwks = app
        .call(Method::GET, &format!("/t/{}/jwks.json", c.slug), None, None)
        .await;
    let jwk = &jwks.body["keys"][0];
    assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    let issuer = format!("{}/t/{}", app.address, c.slug);
    // No `resource` and no default API: a token for UserInfo only (RFC 8707).
    validation.set_audience(&[format!("{issuer}/userinfo")]);
    validation.set_issuer(&[&issuer]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], c.client_id.as_str());
    assert_eq!(claims["client_id"], c.client_id.as_str());
    assert_eq!(claims["scope"], "api:read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!(claims["jti"].is_string());

    // Only the registered method (client_secret_basic by default) is accepted.
    let post = form(
        &app,
        &format!("/t/{}/token", c.slug),
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.secret),
        ],
    )
    .await;
    assert_oauth_error(&post, 401, "invalid_client");
    // No scope means every allowed scope.
    let all = client_token(&app, &c, None).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["scope"], "api:read api:write");
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_clients_grants_scopes_and_requests() {
    let app = TestApp::spawn().await;
    let c = m2m_client(&app).await;
    let path = format!("/t/{}/token", c.slug);
    let cc = [("grant_type", "client_credentials")];

    let wrong = form(&app, &path, Some((&c.client_id, "wrong-secret")), &cc).await;
    assert_oauth_error(&wrong, 401, "invalid_client");
    assert!(
        wrong
            .headers
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_oauth_error(
        &form(&app, &path, Some(("nobody", "x")), &cc).await,
        401,
        "invalid_client",
    );
    assert_oauth_error(&form(&app, &path, None, &cc).await, 401, "invalid_client");
    let both = form(
        &app,
        &path,
        Some((&c.client_id, &c.secret)),
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &c.secret),
        ],
    )
    .await;
    assert_oauth_error(&both, 400, "invalid_request");

    assert_oauth_error(
        &client_token(&app, &c, Some("api:admin")).await,
        400,
        "invalid_scope",
    );
    assert_oauth_error(
        &client_token(&app, &c, Some("openid")).await,
        400,
        "invalid_scope",
    );
    for grant in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        let reply = form(
            &app,
            &path,
            Some((&c.client_id, &c.secret)),
            &[("grant_type", grant)],
        )
        .await;
        assert_oauth_error(&reply, 400, "unsupported_grant_type");
    }
    assert_oauth_error(
        &form(&app, &path, Some((&c.client_id, &c.secret)), &[]).await,
        400,
        "invalid_request",
    );
    let repeated = app
        .http
        .post(format!("{}{path}", app.address))
        .basic_auth(&c.client_id, Some(&c.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_oauth_error(&TestApp::reply(repeated).await, 400, "invalid_request");
    let json_body = app
        .http
        .post(format!("{}{path}", app.address))
        .basic_auth(&c.client_id, Some(&c.secret))
        .json(&json!({ "grant_type": "client_credentials" }))
        .send()
        .await
        .unwrap();
    assert_oauth_error(&TestApp::reply(json_body).await, 400, "invalid_request");
    let huge = "x".repeat(10_000);
    assert_oauth_error(
        &client_token(&app, &c, Some(&huge)).await,
        400,
        "invalid_request",
    );

    // A code-flow client may not use client_credentials.
    let web = app.create_client(&c.slug).await;
    let reply = form(
        &app,
        &path,
        Some((
            web["client_id"].as_str().unwrap(),
            web["client_secret"].as_str().unwrap(),
        )),
        &cc,
    )
    .await;
    assert_oauth_error(&reply, 400, "unauthorized_client");
}

#[tokio::test]
async fn a_rotated_secret_works_only_during_its_grace_period() {
    let app = TestApp::spawn().await;
    let c = m2m_client(&app).await;
    assert_eq!(
        client_token(&app, &c, None).await.status,
        200,
        "warms the verified-secret memo"
    );
    let base = format!("/api/v1/tenants/{}/clients/{}", c.slug, c.client_id);

    let graced = app
        .post(
            &format!("{base}/rotate-secret?grace_period_secs=600"),
            json!(null),
        )
        .await;
    let second = graced.body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        client_token(&app, &c, None).await.status,
        200,
        "old secret inside its grace period"
    );
    let new = M2m {
        slug: c.slug.clone(),
        client_id: c.client_id.clone(),
        secret: second.clone(),
    };
    assert_eq!(client_token(&app, &new, None).await.status, 200);

    let hard = app
        .post(&format!("{base}/rotate-secret"), json!(null))
        .await;
    assert_eq!(hard.status, 200);
    assert_oauth_error(&client_token(&app, &c, None).await, 401, "invalid_client");
    assert_oauth_error(&client_token(&app, &new, None).await, 401, "invalid_client");
    let third = M2m {
        slug: c.slug.clone(),
        client_id: c.client_id.clone(),
        secret: hard.body["client_secret"].as_str().unwrap().to_owned(),
    };
    assert_eq!(client_token(&app, &third, None).await.status, 200);
}

fn forge_none(token: &str) -> String {
    let mut parts = token.split('.');
    let _header = parts.next().unwrap();
    let payload = parts.next().unwrap();
    format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#)
    )
}

fn tamper(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[0] ^= 0x01;
    format!("{rest}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[tokio::test]
async fn introspection_is_active_only_for_live_tokens_of_this_tenant() {
    let app = TestApp::spawn().await;
    let c = m2m_client(&app).await;
    let other = m2m_client(&app).await;
    let token = client_token(&app, &c, Some("api:read")).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = client_token(&app, &other, None).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let introspect = |t: String| {
        let app = &app;
        let c = &c;
        async move {
            form(
                app,
                &format!("/t/{}/introspect", c.slug),
                Some((&c.client_id, &c.secret)),
                &[("token", &t)],
            )
            .await
        }
    };

    let live = introspect(token.clone()).await;
    assert_eq!(live.status, 200, "{}", live.body);
    assert_eq!(live.body["active"], true);
    assert_eq!(live.body["client_id"], c.client_id.as_str());
    assert_eq!(live.body["scope"], "api:read");

    // HS256 keyed with the RSA public key's modulus: the classic key-confusion forgery.
    let jwks = app
        .call(Method::GET, &format!("/t/{}/jwks.json", c.slug), None, None)
        .await;
    let kid = jwks.body["keys"][0]["kid"].as_str().unwrap().to_owned();
    let n = jwks.body["keys"][0]["n"].as_str().unwrap().to_owned();
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(&token)
        .unwrap()
        .claims;
    let hs256 = jsonwebtoken::encode(
        &Header {
            kid: Some(kid),
            typ: Some("at+jwt".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims,
        &EncodingKey::from_secret(n.as_bytes()),
    )
    .unwrap();

    for (what, bad) in [
        ("tampered signature", tamper(&token)),
        ("alg none", forge_none(&token)),
        ("HS256 with the public key", hs256),
        ("another tenant's token", foreign),
        ("garbage", "not-a-token".to_owned()),
        ("empty segments", "..".to_owned()),
    ] {
        let reply = introspect(bad).await;
        assert_eq!(reply.status, 200, "{what}");
        assert_eq!(reply.body, json!({ "active": false }), "{what}");
    }

    let unauthenticated = form(
        &app,
        &format!("/t/{}/introspect", c.slug),
        None,
        &[("token", &token)],
    )
    .await;
    assert_oauth_error(&unauthenticated, 401, "invalid_client");
}

#[tokio::test]
async fn revocation_deactivates_an_access_token_and_reveals_nothing() {
    let app = TestApp::spawn().await;
    let c = m2m_client(&app).await;
    let token = client_token(&app, &c, None).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = |t: String, id: String, secret: String| {
        let app = &app;
        let slug = c.slug.clone();
        async move {
            form(
                app,
                &format!("/t/{slug}/revoke"),
                Some((&id, &secret)),
                &[("token", &t)],
            )
            .await
        }
    };
    let introspect = |t: String| {
        let app = &app;
        let c = &c;
        async move {
            form(
                app,
                &format!("/t/{}/introspect", c.slug),
                Some((&c.client_id, &c.secret)),
                &[("token", &t)],
            )
            .await
        }
    };

    // Another client of the tenant cannot revoke it (and is not told so).
    let other = app
        .post(
            &format!("/api/v1/tenants/{}/clients", c.slug),
            json!({ "name": "other", "client_type": "confidential", "grant_types": ["client_credentials"] }),
        )
        .await;
    let reply = revoke(
        token.clone(),
        other.body["client_id"].as_str().unwrap().into(),
        other.body["client_secret"].as_str().unwrap().into(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(introspect(token.clone()).await.body["active"], true);

    assert_eq!(
        revoke(token.clone(), c.client_id.clone(), c.secret.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        introspect(token.clone()).await.body,
        json!({ "active": false })
    );
    assert_eq!(
        revoke(
            "unknown-token".into(),
            c.client_id.clone(),
            c.secret.clone()
        )
        .await
        .status,
        200
    );
    assert_oauth_error(
        &revoke(token, c.client_id.clone(), "wrong".into()).await,
        401,
        "invalid_client",
    );
}
