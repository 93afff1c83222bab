use base64::Engine;
use e2e::TestApp;
use serde_json::json;
use tenancy::{
    crypto::{Keyring, MasterKey},
    entity::signing_keys,
    keys,
    sea_orm::EntityTrait,
};

#[tokio::test]
async fn no_plaintext_secret_password_seed_recovery_code_or_private_key_is_stored() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client_secret = app.create_client(&slug).await["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let password = "my very secret passphrase 42";
    app.create_user(&slug, "ann", password).await;
    let tenant_key = app.create_tenant_key(&slug, "tenant_admin").await;
    let platform_key = app
        .post(
            "/api/v1/api-keys",
            json!({ "name": "p", "scope": "platform_admin" }),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated_secret = app
        .post(
            &format!(
                "/api/v1/tenants/{slug}/clients/{}/rotate-secret?grace_period_secs=60",
                app.get(&format!("/api/v1/tenants/{slug}/clients"))
                    .await
                    .body["items"][0]["client_id"]
                    .as_str()
                    .unwrap()
            ),
            json!(null),
        )
        .await
        .body["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    // Second factors and a webhook secret, made the way users make them.
    let rp = e2e::flow::setup(&app, &app.address, "required", true).await;
    let (totp_key, recovery_codes, _) =
        e2e::flow::enrol_at_login(&app, &app.browser(), &rp, &e2e::flow::pkce()).await;
    let seed = totp_rs::Secret::try_from_base32(&totp_key)
        .unwrap()
        .as_ref()
        .to_vec();
    let (_, webhook_secret) = app
        .create_webhook(&slug, "https://93.184.216.34/hook", &[])
        .await;
    let webhook_key = webhook_secret.trim_start_matches("whsec_").to_owned();

    // Recover the real private key through the master key, to know what to look for.
    let keyring = Keyring::new(
        MasterKey::parse(&app.master_key.clone().into()).unwrap(),
        [],
    );
    let stored = signing_keys::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 2, "the two tenants' keys");
    let der = keys::decrypt_private_key(&keyring, &stored[0]).unwrap();
    assert!(der.len() > 1000, "a 2048-bit RSA PKCS#8 key");

    let dump = app.dump_database().await;
    let lowered = dump.to_lowercase();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
    let needles: Vec<(&str, String)> = vec![
        ("client secret", client_secret.clone()),
        ("rotated client secret", rotated_secret),
        ("password", password.to_owned()),
        ("tenant API key", tenant_key.clone()),
        ("platform API key", platform_key),
        ("bootstrap API key", app.bootstrap_key.clone()),
        ("admin token", app.admin_token.clone()),
        ("master key", app.master_key.clone()),
        ("private key (base64)", b64[..64].to_owned()),
        ("private key (base64url)", b64url[..64].to_owned()),
        ("private key (hex)", hex_of(&der[..48])),
        ("PEM armour", "PRIVATE KEY".to_owned()),
        ("TOTP key (base32)", totp_key.clone()),
        ("TOTP seed (hex)", hex_of(&seed)),
        (
            "TOTP seed (base64)",
            base64::engine::general_purpose::STANDARD.encode(&seed),
        ),
        ("webhook secret", webhook_secret.clone()),
        ("webhook signing key", webhook_key),
    ];
    let needles: Vec<(&str, String)> = needles
        .into_iter()
        .chain(recovery_codes.iter().map(|c| ("recovery code", c.clone())))
        .collect();
    assert_eq!(recovery_codes.len(), 10);
    for (what, needle) in &needles {
        assert!(
            !dump.contains(needle.as_str()),
            "{what} found in the database"
        );
        assert!(
            !lowered.contains(&needle.to_lowercase()),
            "{what} found in the database (case-folded)"
        );
    }
    // What is stored instead: Argon2id for human-facing secrets.
    assert!(dump.contains("$argon2id$v=19$m=19456,t=2,p=1$"));
    // The API key is findable only by its SHA-256.
    assert!(dump.contains(&tenancy::crypto::secrets::sha256_hex(&tenant_key)));
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
