//! Every signing algorithm a tenant can choose: tokens verify with `jsonwebtoken` from
//! the published JWK alone, and the ID token verifies with the `openidconnect` crate.

use e2e::TestApp;
use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, RedirectUrl, TokenResponse,
    core::{CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType},
};
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

#[tokio::test]
async fn each_algorithm_signs_tokens_verifiable_from_the_published_jwk() {
    let app = TestApp::spawn().await;
    for (alg, core_alg) in [
        ("RS256", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256),
        ("PS256", CoreJwsSigningAlgorithm::RsaSsaPssSha256),
        ("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        ("EdDSA", CoreJwsSigningAlgorithm::EdDsa),
    ] {
        let slug = e2e::unique_slug("alg");
        let tenant = app
            .post("/api/v1/tenants", json!({ "slug": slug, "display_name": "Alg", "settings": { "signing_algs": [alg] } }))
            .await;
        assert_eq!(tenant.status, 201, "{}", tenant.body);
        let issuer = format!("{}/t/{slug}", app.address);
        let client = app
            .post(
                &format!("/api/v1/tenants/{slug}/clients"),
                json!({ "name": "RP", "client_type": "confidential", "redirect_uris": [REDIRECT], "first_party": true,
                        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                        "allowed_scopes": ["openid", "email", "api:read"] }),
            )
            .await;
        let (client_id, secret) = (
            client.body["client_id"].as_str().unwrap().to_owned(),
            client.body["client_secret"].as_str().unwrap().to_owned(),
        );
        app.create_user(&slug, "ann", "correct horse battery").await;

        // jsonwebtoken, from the published JWK alone.
        let jwks: Value = app
            .http
            .get(format!("{issuer}/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwk: Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let token: Value = app
            .http
            .post(format!("{issuer}/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = token["access_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(access).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg, "{alg}");
        let mut validation = Validation::new(header.alg);
        // No `resource` and no default API: a token for UserInfo only (RFC 8707).
        validation.set_audience(&[format!("{issuer}/userinfo")]);
        validation.set_issuer(&[&issuer]);
        jsonwebtoken::decode::<Value>(access, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));

        // openidconnect: discovery, code flow, ID token verification with this algorithm.
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
            ClientId::new(client_id.clone()),
            Some(ClientSecret::new(secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, _csrf, nonce) = rp
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .url();
        let browser = app.browser();
        let callback = app
            .sign_in(&browser, auth_url.as_str(), "ann", "correct horse battery")
            .await;
        let code = callback
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap();
        let id_verifier = rp
            .id_token_verifier()
            .set_allowed_algs(vec![core_alg.clone()]);
        let id_token = tokens.id_token().unwrap();
        let claims = id_token
            .claims(&id_verifier, &nonce)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let expected = claims.access_token_hash().unwrap();
        let actual = openidconnect::AccessTokenHash::from_token(
            openidconnect::OAuth2TokenResponse::access_token(&tokens),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&id_verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(&actual, expected, "{alg} at_hash");
    }
}
