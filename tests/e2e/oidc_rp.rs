//! A real relying-party library — the `openidconnect` crate — against a tenant:
//! discovery, the code flow with PKCE and nonce, full ID-token verification against the
//! JWKS (signature, issuer, audience, expiry, nonce, at_hash), and UserInfo.

use e2e::TestApp;
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims},
};
use serde_json::json;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

#[tokio::test]
async fn the_openidconnect_crate_completes_the_code_flow_and_verifies_the_id_token() {
    let app = TestApp::spawn().await;
    let slug = app.create_tenant().await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app
        .post(
            &format!("/api/v1/tenants/{slug}/clients"),
            json!({ "name": "RP", "client_type": "confidential", "redirect_uris": [REDIRECT], "first_party": true }),
        )
        .await;
    app.create_user(&slug, "ann", "correct horse battery").await;
    let issuer = format!("{}/t/{slug}", app.address);

    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.body["client_id"].as_str().unwrap().to_owned()),
        Some(ClientSecret::new(
            client.body["client_secret"].as_str().unwrap().to_owned(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = rp
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The user's browser: authorize → login → back to the RP with a code.
    let browser = app.browser();
    let callback = app
        .sign_in(&browser, auth_url.as_str(), "ann", "correct horse battery")
        .await;
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(param("iss").as_deref(), Some(issuer.as_str()));
    let code = param("code").unwrap();

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    let id_verifier = rp.id_token_verifier();
    let claims = id_token.claims(&id_verifier, &nonce).unwrap();
    assert_eq!(claims.issuer().as_str(), issuer);
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        None,
        "claims belong in UserInfo, not the ID token"
    );
    let expected_hash = claims.access_token_hash().unwrap();
    let actual_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual_hash, expected_hash);

    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().to_owned(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some("ann@example.com"));

    // A nonce other than the one sent is refused by the library.
    assert!(
        id_token
            .claims(&id_verifier, &Nonce::new("other".into()))
            .is_err()
    );
}
