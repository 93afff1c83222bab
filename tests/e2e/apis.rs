//! APIs (RFC 8707 resource indicators), their audience-bound tokens, reference
//! tokens, RBAC, client grants and consent per API — driven over HTTP like a client
//! and a resource server would.

use e2e::{
    TestApp,
    flow::{self, PASSWORD, REDIRECT, Rp},
};
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Value, json};

const A: &str = "https://invoices.example/";
const B: &str = "https://reports.example/";
const C: &str = "https://ledger.example/";

/// A tenant (RS256 and ES256 keys) with APIs A (JWT, ES256), B (JWT) and C
/// (reference tokens), and a confidential client that may use every grant.
struct World {
    app: TestApp,
    rp: Rp,
    apis: Value,
}

impl World {
    async fn new() -> Self {
        Self::with_client(json!({ "client_type": "confidential" })).await
    }

    async fn with_client(registration: Value) -> Self {
        let app = TestApp::spawn().await;
        let slug = flow::tenant(&app, json!({ "signing_algs": ["RS256", "ES256"] })).await;
        let mut registration = registration;
        registration["grant_types"] =
            json!(["authorization_code", "refresh_token", "client_credentials"]);
        let rp = flow::client(&app, &slug, registration).await;
        let mut apis = json!({});
        for (identifier, name, scopes, extra) in [
            (
                A,
                "Invoices",
                json!([{ "value": "invoices:read", "description": "Read your invoices" },
                       { "value": "invoices:write", "description": "Create and change invoices" }]),
                json!({ "signing_alg": "ES256", "allow_offline_access": true }),
            ),
            (
                B,
                "Reports",
                json!([{ "value": "reports:read", "description": "Read your reports" }]),
                json!({ "allow_offline_access": true }),
            ),
            (
                C,
                "Ledger",
                json!([{ "value": "ledger:read", "description": "Read the ledger" }]),
                json!({ "token_format": "reference", "allow_offline_access": true }),
            ),
        ] {
            let mut body = json!({ "name": name, "identifier": identifier, "scopes": scopes });
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let created = app
                .post(&format!("/api/v1/tenants/{slug}/apis"), body)
                .await;
            assert_eq!(created.status, 201, "{}", created.body);
            apis[identifier] = created.body;
        }
        Self { app, rp, apis }
    }

    fn api_id(&self, identifier: &str) -> &str {
        self.apis[identifier]["id"].as_str().unwrap()
    }

    async fn grant_client(&self, identifier: &str, scopes: &[&str]) -> Value {
        let grant = self
            .app
            .post(
                &format!("/api/v1/tenants/{}/client-grants", self.rp.slug),
                json!({ "client_id": self.rp.client_id, "api_id": self.api_id(identifier), "scopes": scopes }),
            )
            .await;
        assert_eq!(grant.status, 201, "{}", grant.body);
        grant.body
    }

    async fn machine_token(&self, params: &[(&str, &str)]) -> e2e::Reply {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(params);
        flow::token(&self.app, &self.rp, &form).await
    }

    /// A resource server's check for the API `audience` (RFC 9068 §4): signature by
    /// the tenant's JWKS, `typ: at+jwt`, `iss`, `aud` and expiry.
    async fn resource_server_accepts(&self, audience: &str, token: &str) -> Result<Value, String> {
        let jwks: JwkSet = self
            .app
            .http
            .get(format!("{}/jwks.json", self.rp.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(format!("typ {:?}", header.typ));
        }
        let jwk = jwks
            .find(header.kid.as_deref().unwrap_or_default())
            .ok_or("unknown kid")?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[&self.rp.issuer]);
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .map(|t| t.claims)
            .map_err(|e| e.to_string())
    }

    /// `ann` authorizes the client in a fresh browser for `resources` and `scope`,
    /// consenting when asked; returns the browser, the consent page's HTML (if one
    /// was shown) and the callback.
    async fn authorize(
        &self,
        browser: &reqwest::Client,
        resources: &[&str],
        scope: &str,
        pkce: &flow::Pkce,
    ) -> (Option<String>, url::Url) {
        let mut params: Vec<(&str, &str)> = vec![
            ("client_id", &self.rp.client_id),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", scope),
            ("state", "st-123"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ];
        params.extend(resources.iter().map(|r| ("resource", *r)));
        let resp = browser
            .get(format!("{}/authorize", self.rp.issuer))
            .query(&params)
            .send()
            .await
            .unwrap();
        let mut next = flow::location(&resp);
        if next.path().ends_with("/login") {
            next = flow::location(&flow::password(browser, &next, PASSWORD).await);
        }
        let mut consent_page = None;
        if next.path().ends_with("/consent") {
            let (html, answer) = flow::consent(browser, &next, "allow").await;
            consent_page = Some(html);
            next = flow::location(&answer);
        }
        (consent_page, next)
    }

    async fn userinfo(&self, token: &str) -> u16 {
        self.app
            .http
            .get(format!("{}/userinfo", self.rp.issuer))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn access_token(reply: &e2e::Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["access_token"].as_str().unwrap().to_owned()
}

fn error_of(reply: &e2e::Reply) -> &str {
    assert_eq!(reply.status, 400, "{}", reply.body);
    reply.body["error"].as_str().unwrap()
}

#[tokio::test]
async fn a_machine_token_for_one_api_is_refused_by_another_and_needs_a_client_grant() {
    let world = World::new().await;

    // No grant for A yet: the client gets nothing for it.
    let refused = world.machine_token(&[("resource", A)]).await;
    assert_eq!(error_of(&refused), "invalid_target");
    world.grant_client(A, &["invoices:read"]).await;

    let token = access_token(&world.machine_token(&[("resource", A)]).await);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(format!("{:?}", header.alg), "ES256", "the API's algorithm");
    let claims = world.resource_server_accepts(A, &token).await.unwrap();
    assert_eq!(claims["aud"], A);
    assert_eq!(claims["scope"], "invoices:read");
    assert_eq!(claims["client_id"], world.rp.client_id.as_str());
    let at_b = world.resource_server_accepts(B, &token).await.unwrap_err();
    assert!(at_b.contains("InvalidAudience"), "{at_b}");
    // Nor is it a UserInfo token.
    assert_eq!(world.userinfo(&token).await, 401);
    let introspected = flow::introspect(&world.app, &world.rp, &token).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["aud"], A);

    // Beyond the grant, unknown, malformed or several resources: refused.
    let wider = world
        .machine_token(&[("resource", A), ("scope", "invoices:write")])
        .await;
    assert_eq!(error_of(&wider), "invalid_scope");
    for resource in [
        "https://unknown.example/",
        "not a uri",
        "https://a.example/#frag",
    ] {
        let reply = world.machine_token(&[("resource", resource)]).await;
        assert_eq!(error_of(&reply), "invalid_target", "{resource}");
    }
    let two = world
        .machine_token(&[("resource", A), ("resource", B)])
        .await;
    assert_eq!(error_of(&two), "invalid_target");

    // Deleting the grant ends the client's access at once.
    let grants = world
        .app
        .get(&format!(
            "/api/v1/tenants/{}/client-grants?client_id={}",
            world.rp.slug, world.rp.client_id
        ))
        .await;
    let grant_id = grants.body["items"][0]["id"].as_str().unwrap();
    let deleted = world
        .app
        .delete(&format!(
            "/api/v1/tenants/{}/client-grants/{grant_id}",
            world.rp.slug
        ))
        .await;
    assert_eq!(deleted.status, 204);
    let after = world.machine_token(&[("resource", A)]).await;
    assert_eq!(error_of(&after), "invalid_target");
}

#[tokio::test]
async fn a_reference_token_carries_nothing_introspects_active_and_dies_when_revoked() {
    let world = World::new().await;
    world.grant_client(C, &["ledger:read"]).await;
    let token = access_token(&world.machine_token(&[("resource", C)]).await);
    assert!(token.starts_with("tra_") && !token.contains('.'), "{token}");
    assert!(
        jsonwebtoken::decode_header(&token).is_err(),
        "no JOSE inside"
    );
    let introspected = flow::introspect(&world.app, &world.rp, &token).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["aud"], C);
    assert_eq!(introspected["scope"], "ledger:read");
    assert_eq!(introspected["token_type"], "Bearer");

    let revoked = world
        .app
        .http
        .post(format!("{}/revoke", world.rp.issuer))
        .basic_auth(&world.rp.client_id, world.rp.secret.as_deref())
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let after = flow::introspect(&world.app, &world.rp, &token).await;
    assert_eq!(after, json!({ "active": false }));
}

#[tokio::test]
async fn user_tokens_are_per_api_refresh_is_down_scoped_and_consent_is_kept_per_api() {
    let world = World::new().await;
    let browser = world.app.browser();
    let pkce = flow::pkce();
    let scope = "openid invoices:read reports:read offline_access";
    let (consent, callback) = world.authorize(&browser, &[A, B], scope, &pkce).await;
    let consent = consent.expect("a third-party client asks for consent");
    for shown in [
        "Invoices",
        "Read your invoices",
        "Reports",
        "Read your reports",
    ] {
        assert!(consent.contains(shown), "the consent page names {shown}");
    }
    let code = flow::query(&callback, "code").unwrap();

    // The code for A: aud A (and UserInfo, since openid was granted), A's scopes.
    let tokens = flow::token(
        &world.app,
        &world.rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
            ("resource", A),
        ],
    )
    .await;
    let for_a = access_token(&tokens);
    let claims = world.resource_server_accepts(A, &for_a).await.unwrap();
    assert_eq!(
        claims["aud"],
        json!([A, format!("{}/userinfo", world.rp.issuer)])
    );
    assert_eq!(claims["scope"], "invoices:read offline_access openid");
    assert!(world.resource_server_accepts(B, &for_a).await.is_err());
    assert_eq!(world.userinfo(&for_a).await, 200);
    let id_token = flow::id_claims(&tokens.body);
    assert_eq!(
        id_token["aud"],
        world.rp.client_id.as_str(),
        "ID tokens unchanged"
    );

    // The refresh token is exchanged for B, with only B's scopes ...
    let refresh = tokens.body["refresh_token"].as_str().unwrap().to_owned();
    let for_b = flow::token(
        &world.app,
        &world.rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("resource", B),
        ],
    )
    .await;
    let claims = world
        .resource_server_accepts(B, &access_token(&for_b))
        .await
        .unwrap();
    assert_eq!(claims["scope"], "offline_access openid reports:read");
    // ... but never for an API outside the grant.
    let next = for_b.body["refresh_token"].as_str().unwrap();
    let outside = flow::token(
        &world.app,
        &world.rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", next),
            ("resource", C),
        ],
    )
    .await;
    assert_eq!(error_of(&outside), "invalid_target");

    // Consent is kept per API: A again asks nothing, C asks.
    let (again, _) = world
        .authorize(&browser, &[A], "openid invoices:read", &flow::pkce())
        .await;
    assert!(again.is_none(), "A's scopes were consented to");
    let (for_c, _) = world
        .authorize(&browser, &[C], "openid ledger:read", &flow::pkce())
        .await;
    assert!(for_c.unwrap().contains("Read the ledger"));

    // Unknown resource at authorization: back to the client with invalid_target.
    let (_, refused) = world
        .authorize(
            &browser,
            &["https://unknown.example/"],
            "openid",
            &flow::pkce(),
        )
        .await;
    assert_eq!(
        flow::query(&refused, "error").as_deref(),
        Some("invalid_target")
    );
    // And a scope no requested API defines is invalid_scope.
    let (_, refused) = world
        .authorize(&browser, &[B], "openid invoices:read", &flow::pkce())
        .await;
    assert_eq!(
        flow::query(&refused, "error").as_deref(),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn with_rbac_a_user_gets_only_what_their_roles_grant_and_the_roles_claim() {
    let world =
        World::with_client(json!({ "client_type": "confidential", "first_party": true })).await;
    let slug = world.rp.slug.clone();
    let rbac = world
        .app
        .patch(
            &format!("/api/v1/tenants/{slug}/apis/{}", world.api_id(A)),
            json!({ "rbac": true, "include_roles": true }),
        )
        .await;
    assert_eq!(rbac.status, 200, "{}", rbac.body);
    let browser = world.app.browser();
    let scope = "openid invoices:read invoices:write offline_access";
    let pkce = flow::pkce();
    let (_, callback) = world.authorize(&browser, &[A], scope, &pkce).await;
    let tokens = flow::redeem(&world.app, &world.rp, &callback, &pkce).await;
    let claims = world
        .resource_server_accepts(A, tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        claims["scope"], "offline_access openid",
        "no role, no permission"
    );
    assert_eq!(claims["roles"], json!([]));

    let role = world
        .app
        .post(
            &format!("/api/v1/tenants/{slug}/roles"),
            json!({ "name": "accountant", "description": "Reads invoices",
                    "permissions": [{ "api_id": world.api_id(A), "scope": "invoices:read" }] }),
        )
        .await;
    assert_eq!(role.status, 201, "{}", role.body);
    let assigned = world
        .app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/{slug}/users/{}/roles", world.rp.user_id),
            Some(&world.app.admin_token),
            Some(&json!({ "role_ids": [role.body["id"]] })),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    assert_eq!(assigned.body["items"][0]["name"], "accountant");

    // Decided at each token: the next refresh carries the role's permission.
    let refreshed = flow::refresh(
        &world.app,
        &world.rp,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    let claims = world
        .resource_server_accepts(A, &access_token(&refreshed))
        .await
        .unwrap();
    assert_eq!(claims["scope"], "invoices:read offline_access openid");
    assert_eq!(claims["roles"], json!(["accountant"]));

    // With RBAC off the user gets what was consented, and no roles claim.
    world
        .app
        .patch(
            &format!("/api/v1/tenants/{slug}/apis/{}", world.api_id(A)),
            json!({ "rbac": false, "include_roles": false }),
        )
        .await;
    let refreshed = flow::refresh(
        &world.app,
        &world.rp,
        refreshed.body["refresh_token"].as_str().unwrap(),
    )
    .await;
    let claims = world
        .resource_server_accepts(A, &access_token(&refreshed))
        .await
        .unwrap();
    assert_eq!(
        claims["scope"],
        "invoices:read invoices:write offline_access openid"
    );
    assert!(claims.get("roles").is_none());
}

#[tokio::test]
async fn the_default_api_is_the_audience_when_no_resource_is_named() {
    let world =
        World::with_client(json!({ "client_type": "confidential", "first_party": true })).await;
    let slug = world.rp.slug.clone();
    // Without a default API, a token names no API: it is for UserInfo only.
    let pkce = flow::pkce();
    let browser = world.app.browser();
    let (_, callback) = world.authorize(&browser, &[], "openid", &pkce).await;
    let tokens = flow::redeem(&world.app, &world.rp, &callback, &pkce).await;
    let plain = tokens["access_token"].as_str().unwrap();
    let userinfo_aud = format!("{}/userinfo", world.rp.issuer);
    world
        .resource_server_accepts(&userinfo_aud, plain)
        .await
        .unwrap();
    assert!(world.resource_server_accepts(A, plain).await.is_err());

    let unknown = world
        .app
        .patch(
            &format!("/api/v1/tenants/{slug}"),
            json!({ "settings": { "default_api": "https://nowhere.example/" } }),
        )
        .await;
    unknown.assert_problem(422);
    let set = world
        .app
        .patch(
            &format!("/api/v1/tenants/{slug}"),
            json!({ "settings": { "default_api": A } }),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let pkce = flow::pkce();
    let (_, callback) = world
        .authorize(&browser, &[], "openid invoices:read", &pkce)
        .await;
    let tokens = flow::redeem(&world.app, &world.rp, &callback, &pkce).await;
    let claims = world
        .resource_server_accepts(A, tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["scope"], "invoices:read openid");

    // Deleting the API clears the default.
    let deleted = world
        .app
        .delete(&format!("/api/v1/tenants/{slug}/apis/{}", world.api_id(A)))
        .await;
    assert_eq!(deleted.status, 204);
    let tenant = world.app.get(&format!("/api/v1/tenants/{slug}")).await;
    assert_eq!(tenant.body["settings"]["default_api"], "");
}

#[tokio::test]
async fn a_client_gets_id_tokens_signed_with_its_registered_algorithm() {
    let world = World::with_client(json!({
        "client_type": "confidential", "first_party": true, "id_token_signed_response_alg": "ES256"
    }))
    .await;
    let client = world
        .app
        .get(&format!(
            "/api/v1/tenants/{}/clients/{}",
            world.rp.slug, world.rp.client_id
        ))
        .await;
    assert_eq!(client.body["id_token_signed_response_alg"], "ES256");
    let pkce = flow::pkce();
    let (_, callback) = world
        .authorize(&world.app.browser(), &[], "openid", &pkce)
        .await;
    let tokens = flow::redeem(&world.app, &world.rp, &callback, &pkce).await;
    let id_header = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(format!("{:?}", id_header.alg), "ES256");
    let access_header =
        jsonwebtoken::decode_header(tokens["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(
        format!("{:?}", access_header.alg),
        "RS256",
        "the tenant's first"
    );

    let refused = world
        .app
        .patch(
            &format!(
                "/api/v1/tenants/{}/clients/{}",
                world.rp.slug, world.rp.client_id
            ),
            json!({ "id_token_signed_response_alg": "EdDSA" }),
        )
        .await;
    refused.assert_problem(422);
}

#[tokio::test]
async fn api_definitions_are_checked_and_publish_protected_resource_metadata() {
    let world = World::new().await;
    let slug = world.rp.slug.clone();
    let path = format!("/api/v1/tenants/{slug}/apis");
    for (body, field) in [
        (
            json!({ "name": "X", "identifier": "relative/path" }),
            "identifier",
        ),
        (
            json!({ "name": "X", "identifier": "https://x.example/#f" }),
            "identifier",
        ),
        (
            json!({ "name": "X", "identifier": "https://x.example/", "scopes": [{ "value": "openid" }] }),
            "scopes[0].value",
        ),
        (
            json!({ "name": "X", "identifier": "https://x.example/", "signing_alg": "EdDSA" }),
            "signing_alg",
        ),
        (
            json!({ "name": "X", "identifier": "https://x.example/", "access_token_ttl_secs": 5 }),
            "access_token_ttl_secs",
        ),
    ] {
        let reply = world.app.post(&path, body).await;
        let problem = reply.assert_problem(422);
        assert!(problem.to_string().contains(field), "{problem}");
    }
    let duplicate = world
        .app
        .post(&path, json!({ "name": "Again", "identifier": A }))
        .await;
    duplicate.assert_problem(409);

    let metadata = world
        .app
        .get(&format!(
            "{path}/{}/protected-resource-metadata",
            world.api_id(A)
        ))
        .await;
    assert_eq!(metadata.status, 200, "{}", metadata.body);
    assert_eq!(metadata.body["resource"], A);
    assert_eq!(
        metadata.body["authorization_servers"],
        json!([world.rp.issuer])
    );
    assert_eq!(
        metadata.body["scopes_supported"],
        json!(["invoices:read", "invoices:write"])
    );

    // A removed scope leaves every client grant.
    world
        .grant_client(A, &["invoices:read", "invoices:write"])
        .await;
    let narrowed = world
        .app
        .patch(
            &format!("{path}/{}", world.api_id(A)),
            json!({ "scopes": [{ "value": "invoices:read", "description": "Read" }] }),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    let grants = world
        .app
        .get(&format!("/api/v1/tenants/{slug}/client-grants"))
        .await;
    assert_eq!(grants.body["items"][0]["scopes"], json!(["invoices:read"]));
    let audit = world.app.audit_actions(&slug).await;
    for action in ["api.created", "api.updated", "client_grant.created"] {
        assert!(audit.iter().any(|a| a == action), "{action} in {audit:?}");
    }
}

#[tokio::test]
async fn with_rbac_the_consent_page_asks_only_for_what_the_roles_grant() {
    let world = World::new().await;
    let slug = world.rp.slug.clone();
    world
        .app
        .patch(
            &format!("/api/v1/tenants/{slug}/apis/{}", world.api_id(A)),
            json!({ "rbac": true }),
        )
        .await;
    let role = world
        .app
        .post(
            &format!("/api/v1/tenants/{slug}/roles"),
            json!({ "name": "reader",
                    "permissions": [{ "api_id": world.api_id(A), "scope": "invoices:read" }] }),
        )
        .await;
    let assigned = world
        .app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/{slug}/users/{}/roles", world.rp.user_id),
            Some(&world.app.admin_token),
            Some(&json!({ "role_ids": [role.body["id"]] })),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    let browser = world.app.browser();
    let scope = "openid invoices:read invoices:write";
    let pkce = flow::pkce();
    let (consent, callback) = world.authorize(&browser, &[A], scope, &pkce).await;
    let consent = consent.expect("asked once");
    assert!(consent.contains("Read your invoices"));
    assert!(
        !consent.contains("Create and change invoices"),
        "a permission no role grants is not asked for"
    );
    let tokens = flow::redeem(&world.app, &world.rp, &callback, &pkce).await;
    let claims = world
        .resource_server_accepts(A, tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["scope"], "invoices:read openid");
    // What was asked is covered: the same request asks nothing again.
    let (again, _) = world.authorize(&browser, &[A], scope, &flow::pkce()).await;
    assert!(again.is_none());
}
