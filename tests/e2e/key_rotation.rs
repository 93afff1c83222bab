//! The signing-key lifecycle: rotation with a propagation delay, retirement, removal,
//! emergency revocation, automatic rotation, and a JWKS-caching verifier that never
//! fails across rotations.

use std::collections::HashSet;

use api::state::Clock;
use e2e::TestApp;
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use reqwest::Method;
use serde_json::{Value, json};
use tenancy::keys::rotation;

struct M2m {
    slug: String,
    issuer: String,
    client_id: String,
    secret: String,
}

async fn m2m(app: &TestApp, settings: Value) -> M2m {
    let slug = e2e::unique_slug("keys");
    let tenant = app
        .post(
            "/api/v1/tenants",
            json!({ "slug": slug, "display_name": "Keys", "settings": settings }),
        )
        .await;
    assert_eq!(tenant.status, 201, "{}", tenant.body);
    let client = app
        .post(
            &format!("/api/v1/tenants/{slug}/clients"),
            json!({ "name": "m2m", "client_type": "confidential", "grant_types": ["client_credentials"],
                    "allowed_scopes": ["api:read"] }),
        )
        .await;
    M2m {
        issuer: format!("{}/t/{slug}", app.address),
        slug,
        client_id: client.body["client_id"].as_str().unwrap().to_owned(),
        secret: client.body["client_secret"].as_str().unwrap().to_owned(),
    }
}

async fn access_token(app: &TestApp, c: &M2m) -> String {
    let reply: Value = app
        .http
        .post(format!("{}/token", c.issuer))
        .basic_auth(&c.client_id, Some(&c.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["access_token"].as_str().unwrap().to_owned()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn jwks_kids(app: &TestApp, c: &M2m) -> Vec<String> {
    let jwks: Value = app
        .http
        .get(format!("{}/jwks.json", c.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn active(app: &TestApp, c: &M2m, token: &str) -> bool {
    let reply: Value = app
        .http
        .post(format!("{}/introspect", c.issuer))
        .basic_auth(&c.client_id, Some(&c.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["active"] == true
}

/// What every node's background job does, run here deterministically.
async fn lifecycle(app: &TestApp) {
    let now = app.clock.now();
    rotation::promote_due(&app.db, now).await.unwrap();
    rotation::remove_due(&app.db, now).await.unwrap();
}

#[tokio::test]
async fn a_rotated_key_is_published_first_signs_after_propagation_and_the_old_one_stays_until_its_tokens_expire()
 {
    let app = TestApp::spawn().await;
    let c = m2m(&app, json!({})).await;
    let before = access_token(&app, &c).await;
    let old_kid = kid_of(&before);

    let rotated = app
        .post(
            &format!("/api/v1/tenants/{}/keys/rotate", c.slug),
            json!(null),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let next = rotated.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "next")
        .unwrap()
        .clone();
    let new_kid = next["kid"].as_str().unwrap().to_owned();
    assert!(next["activates_at"].is_string());
    app.clock.advance(6); // past this node's key-cache freshness
    assert_eq!(
        jwks_kids(&app, &c).await,
        vec![old_kid.clone(), new_kid.clone()],
        "published before it signs"
    );
    assert_eq!(
        kid_of(&access_token(&app, &c).await),
        old_kid,
        "not signing during propagation"
    );

    app.clock.advance(360);
    lifecycle(&app).await;
    let after = access_token(&app, &c).await;
    assert_eq!(kid_of(&after), new_kid, "the promoted key signs");
    assert!(
        active(&app, &c, &before).await,
        "tokens of the retired key stay valid until they expire"
    );
    let listed = app.get(&format!("/api/v1/tenants/{}/keys", c.slug)).await;
    let states: Vec<_> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["retired", "current"]);

    // Once every token of the retired key has expired, it leaves the JWKS.
    app.clock.advance(3600 + 61);
    lifecycle(&app).await;
    app.clock.advance(6);
    assert_eq!(jwks_kids(&app, &c).await, vec![new_kid]);
    assert!(
        app.audit_actions(&c.slug)
            .await
            .iter()
            .any(|a| a == "signing_key.rotated")
    );
}

#[tokio::test]
async fn revoking_a_key_removes_it_at_once_and_a_replacement_signs() {
    let app = TestApp::spawn().await;
    let c = m2m(&app, json!({})).await;
    let token = access_token(&app, &c).await;
    let kid = kid_of(&token);
    // Introspected once, so this node remembers it as verified (`verified_tokens`).
    assert!(active(&app, &c, &token).await, "live before the revocation");
    let revoked = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{}/keys/{kid}/revoke", c.slug),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    assert!(
        !jwks_kids(&app, &c).await.contains(&kid),
        "gone from the JWKS at once"
    );
    assert!(
        !active(&app, &c, &token).await,
        "its tokens are dead at once"
    );
    let fresh = access_token(&app, &c).await;
    assert_ne!(kid_of(&fresh), kid);
    assert!(active(&app, &c, &fresh).await);
    app.call(
        Method::POST,
        &format!("/api/v1/tenants/{}/keys/{kid}/revoke", c.slug),
        Some(&app.admin_token),
        None,
    )
    .await
    .assert_problem(404);
}

#[tokio::test]
async fn a_jwks_caching_verifier_never_fails_across_two_rotations() {
    let app = TestApp::spawn().await;
    let c = m2m(&app, json!({})).await;
    let mut cache: Option<(JwkSet, i64, i64)> = None; // keys, fetched at, max-age
    let mut kids = HashSet::new();
    let mut failures = 0;
    for step in 0..60 {
        if step == 3 || step == 30 {
            let rotated = app
                .post(
                    &format!("/api/v1/tenants/{}/keys/rotate", c.slug),
                    json!(null),
                )
                .await;
            assert_eq!(rotated.status, 200);
        }
        lifecycle(&app).await;
        let token = access_token(&app, &c).await;
        let now = app.clock.now().timestamp();
        let stale = cache
            .as_ref()
            .is_none_or(|(_, at, max_age)| now - at >= *max_age);
        if stale {
            let resp = app
                .http
                .get(format!("{}/jwks.json", c.issuer))
                .send()
                .await
                .unwrap();
            let max_age = resp.headers()["cache-control"]
                .to_str()
                .unwrap()
                .split("max-age=")
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            cache = Some((resp.json().await.unwrap(), now, max_age));
        }
        let (set, _, _) = cache.as_ref().unwrap();
        let kid = kid_of(&token);
        kids.insert(kid.clone());
        match set.find(&kid) {
            Some(jwk) => {
                let mut validation =
                    Validation::new(jsonwebtoken::decode_header(&token).unwrap().alg);
                validation.validate_exp = false;
                // A token of no API is for UserInfo only.
                validation.set_audience(&[format!("{}/userinfo", c.issuer)]);
                if jsonwebtoken::decode::<Value>(
                    &token,
                    &DecodingKey::from_jwk(jwk).unwrap(),
                    &validation,
                )
                .is_err()
                {
                    failures += 1;
                }
            }
            None => failures += 1,
        }
        app.clock.advance(30);
    }
    assert_eq!(
        failures, 0,
        "a verifier honouring max-age must always know the signing key"
    );
    assert_eq!(
        kids.len(),
        3,
        "tokens were signed by the original key and two rotated ones"
    );
}

#[tokio::test]
async fn promotion_and_automatic_rotation_happen_exactly_once_under_concurrency() {
    let app = TestApp::spawn().await;
    let c = m2m(&app, json!({ "key_rotation_days": 1 })).await;
    // Automatic rotation is due after a day: many concurrent passes start exactly one.
    app.clock.advance(86_400 + 1);
    let now = app.clock.now();
    let keyring = tenancy_keyring(&app);
    let passes = (0..8).map(|_| rotation::rotate_due(&app.db, &keyring, now));
    let started: usize = futures_util::future::join_all(passes)
        .await
        .into_iter()
        .map(|r| r.unwrap().len())
        .sum();
    assert!(started <= 1);
    let listed = app.get(&format!("/api/v1/tenants/{}/keys", c.slug)).await;
    let next: Vec<_> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "next")
        .collect();
    assert_eq!(
        next.len(),
        1,
        "exactly one automatic rotation: {}",
        listed.body
    );

    // ...and concurrent promotion passes promote it exactly once.
    app.clock.advance(361);
    let now = app.clock.now();
    let passes = (0..8).map(|_| rotation::promote_due(&app.db, now));
    futures_util::future::join_all(passes)
        .await
        .into_iter()
        .for_each(|r| {
            r.unwrap();
        });
    let listed = app.get(&format!("/api/v1/tenants/{}/keys", c.slug)).await;
    let states: Vec<_> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["retired", "current"], "{}", listed.body);
}

#[tokio::test]
async fn adding_an_algorithm_publishes_its_key_before_it_signs() {
    let app = TestApp::spawn().await;
    let c = m2m(&app, json!({})).await;
    let changed = app
        .patch(
            &format!("/api/v1/tenants/{}", c.slug),
            json!({ "settings": { "signing_algs": ["ES256", "RS256"] } }),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    app.clock.advance(6);
    assert_eq!(jwks_kids(&app, &c).await.len(), 2);
    let header = jsonwebtoken::decode_header(access_token(&app, &c).await.as_str()).unwrap();
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::RS256,
        "ES256 waits for propagation"
    );
    app.clock.advance(361);
    lifecycle(&app).await;
    let header = jsonwebtoken::decode_header(access_token(&app, &c).await.as_str()).unwrap();
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::ES256,
        "the preferred algorithm signs once published long enough"
    );
    let bad = app
        .patch(
            &format!("/api/v1/tenants/{}", c.slug),
            json!({ "settings": { "signing_algs": ["HS256"] } }),
        )
        .await;
    bad.assert_problem(422);
}

fn tenancy_keyring(app: &TestApp) -> tenancy::crypto::Keyring {
    tenancy::crypto::Keyring::new(
        tenancy::crypto::MasterKey::parse(&app.master_key.clone().into()).unwrap(),
        [],
    )
}

/// A second node on `first`'s database, with the given master keys.
async fn second_node(first: &TestApp, master_key: &str, previous: Vec<String>) -> TestApp {
    let (url, schema) = first.database.clone();
    let admin_token = first.admin_token.clone();
    let master_key = master_key.to_owned();
    // Nodes of one deployment share the public URL, hence the issuer.
    let public_url = first.address.clone();
    let namespace = first.cache_namespace.clone();
    TestApp::spawn_with(move |s| {
        s.public_url = public_url;
        s.cache_namespace = namespace;
        s.database_url = Some(url);
        s.database_schema = schema;
        s.admin_token = Some(admin_token);
        s.master_key = Some(master_key);
        s.previous_master_keys = previous;
    })
    .await
}

#[tokio::test]
async fn a_rotation_done_on_one_node_is_used_by_another_within_its_cache_lifetime() {
    let a = TestApp::spawn().await;
    let c = m2m(&a, json!({})).await;
    let b = second_node(&a, &a.master_key, Vec::new()).await;
    let at_b = M2m {
        slug: c.slug.clone(),
        issuer: format!("{}/t/{}", b.address, c.slug),
        client_id: c.client_id.clone(),
        secret: c.secret.clone(),
    };
    let old = kid_of(&access_token(&b, &at_b).await);
    let rotated = a
        .post(
            &format!("/api/v1/tenants/{}/keys/rotate?immediate=true", c.slug),
            json!(null),
        )
        .await;
    assert_eq!(rotated.status, 200);
    let new = kid_of(&access_token(&a, &c).await);
    assert_ne!(new, old, "node A signs with the new key at once");
    b.clock.advance(5); // node B's cached keys are at most five seconds old
    assert_eq!(
        kid_of(&access_token(&b, &at_b).await),
        new,
        "node B follows within its cache lifetime"
    );
}

#[tokio::test]
async fn automatic_rotation_run_on_two_nodes_at_once_happens_once() {
    let a = TestApp::spawn().await;
    let c = m2m(&a, json!({ "key_rotation_days": 1 })).await;
    let b = second_node(&a, &a.master_key, Vec::new()).await;
    a.clock.advance(86_401);
    b.clock.advance(86_401);
    let keyring = tenancy_keyring(&a);
    let (ra, rb) = tokio::join!(
        rotation::rotate_due(&a.db, &keyring, a.clock.now()),
        rotation::rotate_due(&b.db, &keyring, b.clock.now()),
    );
    assert!(ra.unwrap().len() + rb.unwrap().len() <= 1);
    let listed = a.get(&format!("/api/v1/tenants/{}/keys", c.slug)).await;
    let next = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "next")
        .count();
    assert_eq!(next, 1, "{}", listed.body);
}

#[tokio::test]
async fn master_key_rotation_reencrypts_every_private_key_without_downtime() {
    use base64::Engine;
    use tenancy::crypto::{Keyring, MasterKey};
    let a = TestApp::spawn().await;
    let c = m2m(&a, json!({ "signing_algs": ["RS256", "ES256", "EdDSA"] })).await;
    let before = access_token(&a, &c).await;
    let new_key =
        base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2));
    // Roll the new key out first: node B writes with it and still reads the old one.
    let b = second_node(&a, &new_key, vec![a.master_key.clone()]).await;
    let ring = Keyring::new(
        MasterKey::parse(&new_key.clone().into()).unwrap(),
        [MasterKey::parse(&a.master_key.clone().into()).unwrap()],
    );
    assert_eq!(tenancy::keys::reencrypt_all(&b.db, &ring).await.unwrap(), 3);
    assert_eq!(
        tenancy::keys::reencrypt_all(&b.db, &ring).await.unwrap(),
        0,
        "idempotent"
    );

    // Every key now decrypts with the new master key alone, and never with the old.
    let only_new = Keyring::new(MasterKey::parse(&new_key.clone().into()).unwrap(), []);
    let only_old = Keyring::new(MasterKey::parse(&a.master_key.clone().into()).unwrap(), []);
    let stored = tenancy::keys::list(&b.db, tenancy_id(&a, &c.slug).await)
        .await
        .unwrap();
    let dump = b.dump_database().await;
    for key in &stored {
        let der = tenancy::keys::decrypt_private_key(&only_new, key).unwrap();
        assert!(tenancy::keys::decrypt_private_key(&only_old, key).is_err());
        let hex: String = der[..32].iter().map(|x| format!("{x:02x}")).collect();
        assert!(
            !dump.to_lowercase().contains(&hex),
            "plaintext private key in the database"
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert!(!dump.contains(&b64[..40]));
    }
    // Node B, on the new key, signs and verifies; tokens from before still verify.
    let at_b = M2m {
        slug: c.slug.clone(),
        issuer: format!("{}/t/{}", b.address, c.slug),
        client_id: c.client_id.clone(),
        secret: c.secret.clone(),
    };
    assert!(active(&b, &at_b, &before).await);
    let fresh = access_token(&b, &at_b).await;
    assert!(active(&b, &at_b, &fresh).await);
}

async fn tenancy_id(app: &TestApp, slug: &str) -> uuid::Uuid {
    app.get(&format!("/api/v1/tenants/{slug}")).await.body["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn with_redis_other_nodes_hear_of_a_rotation_at_once() {
    if std::env::var("TESSERA_TEST_REDIS_URL").is_err() {
        return; // the nudge travels over Redis pub/sub; without Redis there is one node
    }
    let a = TestApp::spawn().await;
    let c = m2m(&a, json!({})).await;
    let b = second_node(&a, &a.master_key, Vec::new()).await;
    let at_b = M2m {
        slug: c.slug.clone(),
        issuer: format!("{}/t/{}", b.address, c.slug),
        client_id: c.client_id.clone(),
        secret: c.secret.clone(),
    };
    let old = kid_of(&access_token(&b, &at_b).await);
    // Give node B's subscriber a moment to connect after its start.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    a.post(
        &format!("/api/v1/tenants/{}/keys/rotate?immediate=true", c.slug),
        json!(null),
    )
    .await;
    // Well inside node B's five-second cache lifetime, and without moving its clock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(4000);
    let mut seen = old.clone();
    while seen == old && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        seen = kid_of(&access_token(&b, &at_b).await);
    }
    assert_ne!(
        seen, old,
        "node B dropped its cached keys on the pub/sub notice"
    );
}
