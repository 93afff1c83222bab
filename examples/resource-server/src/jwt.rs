//! Validating a JWT access token (RFC 9068 §4) against keys already fetched.
//!
//! The order follows §4: header `typ` first (so an ID token or any other JWT signed
//! by the same keys is refused), then the signature with the key named by `kid` and
//! only that key's algorithm (RFC 8725 §3.1: no `none`, no HS256 keyed with a public
//! key), then `iss`, `aud`, `exp`, and the presence of every claim RFC 9068 §2.2 makes
//! required. Time is an input: `jsonwebtoken`'s own clock is switched off.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::Rejection;

/// What a token has to show to be accepted by this API.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The tenant's issuer; `iss` must equal it exactly (RFC 9068 §4 step 3).
    pub issuer: &'a str,
    /// This API's identifier; `aud` must contain it (RFC 9068 §4 step 4).
    pub audience: &'a str,
    /// Allowed clock skew in seconds.
    pub leeway_secs: u64,
}

/// How the token reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// A JWT checked locally.
    Jwt,
    /// A reference token checked by introspection.
    Reference,
}

/// An accepted access token.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AccessToken {
    /// `sub`: the user, or the client for `client_credentials`.
    pub subject: String,
    /// `client_id`: the client the token was issued to.
    pub client_id: String,
    /// The granted scopes (`scope`, space-separated in the token).
    pub scopes: Vec<String>,
    /// `exp`, Unix seconds.
    pub expires_at: u64,
    /// JWT or reference token.
    pub format: TokenFormat,
    /// Every claim (or introspection member), for whatever else the API reads (roles).
    pub claims: serde_json::Value,
}

impl AccessToken {
    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `Ok` when `scope` was granted, else 403 `insufficient_scope` (RFC 6750 §3.1).
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Rejection::InsufficientScope(scope.to_owned()))
        }
    }
}

/// The algorithms Tessera signs with; anything else is refused before a key is used.
pub const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// One published key: its `kid`, its algorithm, the key.
#[derive(Clone, Debug)]
pub struct Key {
    /// `kid` of the JWK.
    pub kid: String,
    /// `alg` of the JWK: the only algorithm accepted with this key.
    pub alg: Algorithm,
    /// The public key.
    pub key: DecodingKey,
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` names `audience`.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

/// The registered claims this API looks at; each optional so a missing one is named.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<u64>,
    iat: Option<u64>,
    nbf: Option<u64>,
    jti: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
}

/// Verifies `token` with the key of its `kid` among `keys` and checks its claims at
/// `now` (Unix seconds).
pub fn verify(
    token: &str,
    keys: &[Key],
    expected: &Expected<'_>,
    now: u64,
) -> Result<AccessToken, Rejection> {
    let (header, kid) = read_header(token)?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| Rejection::invalid("unknown signing key"))?;
    if header.alg != key.alg {
        return Err(Rejection::invalid("algorithm not allowed for this key"));
    }
    let mut validation = Validation::new(key.alg);
    // The claims are checked below, against the caller's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation)
        .map_err(|_| Rejection::invalid("bad signature"))?;
    let claims: Claims = serde_json::from_value(data.claims.clone())
        .map_err(|_| Rejection::invalid("malformed claims"))?;
    check_claims(&claims, expected, now)?;
    Ok(AccessToken {
        subject: claims.sub.unwrap_or_default(),
        client_id: claims.client_id.unwrap_or_default(),
        scopes: split_scope(claims.scope.as_deref()),
        expires_at: claims.exp.unwrap_or_default(),
        format: TokenFormat::Jwt,
        claims: data.claims,
    })
}

/// The header of `token` if it can be an access token of ours, and its `kid`: the
/// checks that need no key, made before any key is looked up (or fetched).
pub fn read_header(token: &str) -> Result<(jsonwebtoken::Header, String), Rejection> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| Rejection::invalid("malformed token"))?;
    // RFC 9068 §4 step 1; the media type is case-insensitive and may carry the
    // `application/` prefix (RFC 7515 §4.1.9).
    let typ = header.typ.as_deref().unwrap_or_default();
    let typ = typ
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| typ.get(12..).unwrap_or_default());
    if !typ.eq_ignore_ascii_case("at+jwt") {
        return Err(Rejection::invalid(
            "not an access token (typ is not at+jwt)",
        ));
    }
    if !ALGORITHMS.contains(&header.alg) {
        return Err(Rejection::invalid("algorithm not allowed for this key"));
    }
    let kid = header
        .kid
        .clone()
        .ok_or_else(|| Rejection::invalid("no kid in the token header"))?;
    Ok((header, kid))
}

fn check_claims(claims: &Claims, expected: &Expected<'_>, now: u64) -> Result<(), Rejection> {
    // RFC 9068 §4 step 3: exactly the issuer whose keys verified the token.
    if claims.iss.as_deref() != Some(expected.issuer) {
        return Err(Rejection::invalid("wrong issuer"));
    }
    // Step 4: a token for another API of the same tenant is refused here.
    if !claims
        .aud
        .as_ref()
        .is_some_and(|aud| aud.contains(expected.audience))
    {
        return Err(Rejection::invalid("wrong audience"));
    }
    // Step 6 (RFC 7519 §4.1.4): expired on or after `exp`, give or take the leeway.
    let exp = claims
        .exp
        .ok_or_else(|| Rejection::invalid("no exp claim"))?;
    if now >= exp.saturating_add(expected.leeway_secs) {
        return Err(Rejection::invalid("expired"));
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now.saturating_add(expected.leeway_secs))
    {
        return Err(Rejection::invalid("not valid yet"));
    }
    // RFC 9068 §2.2: these are required in every access token.
    let iat = claims
        .iat
        .ok_or_else(|| Rejection::invalid("no iat claim"))?;
    if iat > now.saturating_add(expected.leeway_secs) {
        return Err(Rejection::invalid("issued in the future"));
    }
    for (name, present) in [
        ("sub", claims.sub.is_some()),
        ("client_id", claims.client_id.is_some()),
        ("jti", claims.jti.is_some()),
    ] {
        if !present {
            return Err(Rejection::invalid(format!("no {name} claim")));
        }
    }
    Ok(())
}

/// The scopes of a space-separated `scope` value (RFC 6749 §3.3).
pub fn split_scope(scope: Option<&str>) -> Vec<String> {
    scope
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_lc_rs::{
        rand::SystemRandom,
        signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair},
    };
    use jsonwebtoken::{EncodingKey, Header, jwk::Jwk};
    use serde_json::{Value, json};

    use super::*;

    pub const ISSUER: &str = "http://127.0.0.1:8000/t/acme";
    pub const API_A: &str = "https://a.example/";
    pub const API_B: &str = "https://b.example/";
    pub const NOW: u64 = 1_750_000_000;

    pub const EXPECTED_A: Expected<'static> = Expected {
        issuer: ISSUER,
        audience: API_A,
        leeway_secs: 30,
    };

    /// A key pair made for this test run, as the tenant would hold it.
    pub struct TestKey {
        pub kid: String,
        pub alg: Algorithm,
        pub encoding: EncodingKey,
        pub jwk: Value,
    }

    impl TestKey {
        pub fn es256(kid: &str) -> Self {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            Self::from_encoding(
                kid,
                Algorithm::ES256,
                EncodingKey::from_ec_der(pkcs8.as_ref()),
            )
        }

        pub fn ed25519(kid: &str) -> Self {
            let pair = Ed25519KeyPair::generate().unwrap();
            let der = pair.to_pkcs8v1().unwrap();
            Self::from_encoding(
                kid,
                Algorithm::EdDSA,
                EncodingKey::from_ed_der(der.as_ref()),
            )
        }

        fn from_encoding(kid: &str, alg: Algorithm, encoding: EncodingKey) -> Self {
            let mut jwk =
                serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).unwrap()).unwrap();
            jwk["kid"] = json!(kid);
            jwk["use"] = json!("sig");
            Self {
                kid: kid.to_owned(),
                alg,
                encoding,
                jwk,
            }
        }

        /// The key as the resource server holds it after reading the JWKS.
        pub fn published(&self) -> Key {
            let jwk: Jwk = serde_json::from_value(self.jwk.clone()).unwrap();
            Key {
                kid: self.kid.clone(),
                alg: self.alg,
                key: DecodingKey::from_jwk(&jwk).unwrap(),
            }
        }

        pub fn sign(&self, typ: Option<&str>, claims: &Value) -> String {
            let header = Header {
                typ: typ.map(str::to_owned),
                kid: Some(self.kid.clone()),
                ..Header::new(self.alg)
            };
            jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
        }

        pub fn access_token(&self, claims: &Value) -> String {
            self.sign(Some("at+jwt"), claims)
        }
    }

    /// The claims Tessera puts in a client-credentials token for API A.
    pub fn claims_for(aud: Value) -> Value {
        json!({
            "iss": ISSUER,
            "sub": "svc-1",
            "aud": aud,
            "client_id": "svc-1",
            "scope": "read:things write:things",
            "exp": NOW + 600,
            "iat": NOW,
            "jti": "j-1",
        })
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        claims[name] = value;
        claims
    }

    fn without(mut claims: Value, name: &str) -> Value {
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    fn reason(result: Result<AccessToken, Rejection>) -> String {
        match result {
            Err(Rejection::InvalidToken(why)) => why,
            other => panic!("expected invalid_token, got {other:?}"),
        }
    }

    #[test]
    fn a_token_for_this_api_is_accepted_with_its_scopes() {
        let key = TestKey::es256("k1");
        let token = key.access_token(&claims_for(json!(API_A)));
        let at = verify(&token, &[key.published()], &EXPECTED_A, NOW).unwrap();
        assert_eq!(at.subject, "svc-1");
        assert_eq!(at.client_id, "svc-1");
        assert_eq!(at.scopes, ["read:things", "write:things"]);
        assert_eq!(at.expires_at, NOW + 600);
        assert_eq!(at.format, TokenFormat::Jwt);
        assert!(at.require_scope("read:things").is_ok());
        assert_eq!(
            at.require_scope("admin"),
            Err(Rejection::InsufficientScope("admin".into()))
        );
    }

    #[test]
    fn an_audience_array_with_userinfo_is_accepted() {
        // With `openid` granted too, Tessera's `aud` is [API, {issuer}/userinfo].
        let key = TestKey::ed25519("k1");
        let aud = json!([API_A, format!("{ISSUER}/userinfo")]);
        let token = key.access_token(&claims_for(aud));
        assert!(verify(&token, &[key.published()], &EXPECTED_A, NOW).is_ok());
    }

    #[test]
    fn a_token_for_another_api_is_refused() {
        let key = TestKey::es256("k1");
        let token = key.access_token(&claims_for(json!(API_B)));
        assert_eq!(
            reason(verify(&token, &[key.published()], &EXPECTED_A, NOW)),
            "wrong audience"
        );
        let userinfo_only = key.access_token(&claims_for(json!(format!("{ISSUER}/userinfo"))));
        assert_eq!(
            reason(verify(&userinfo_only, &[key.published()], &EXPECTED_A, NOW)),
            "wrong audience"
        );
    }

    #[test]
    fn a_token_without_aud_is_refused() {
        let key = TestKey::es256("k1");
        let token = key.access_token(&without(claims_for(json!(API_A)), "aud"));
        assert_eq!(
            reason(verify(&token, &[key.published()], &EXPECTED_A, NOW)),
            "wrong audience"
        );
    }

    #[test]
    fn another_issuer_is_refused() {
        let key = TestKey::es256("k1");
        let claims = with(
            claims_for(json!(API_A)),
            "iss",
            json!("http://127.0.0.1:8000/t/other"),
        );
        let token = key.access_token(&claims);
        assert_eq!(
            reason(verify(&token, &[key.published()], &EXPECTED_A, NOW)),
            "wrong issuer"
        );
    }

    #[test]
    fn an_id_token_or_a_plain_jwt_is_not_an_access_token() {
        let key = TestKey::es256("k1");
        let claims = claims_for(json!(API_A));
        for typ in [Some("JWT"), None, Some("at+jwt+x")] {
            let token = key.sign(typ, &claims);
            assert_eq!(
                reason(verify(&token, &[key.published()], &EXPECTED_A, NOW)),
                "not an access token (typ is not at+jwt)",
                "{typ:?}"
            );
        }
    }

    #[test]
    fn the_application_prefixed_media_type_is_accepted() {
        let key = TestKey::es256("k1");
        let token = key.sign(Some("application/AT+JWT"), &claims_for(json!(API_A)));
        assert!(verify(&token, &[key.published()], &EXPECTED_A, NOW).is_ok());
    }

    #[test]
    fn expiry_is_checked_against_the_given_clock_with_leeway() {
        let key = TestKey::es256("k1");
        let token = key.access_token(&claims_for(json!(API_A)));
        let keys = [key.published()];
        let exp = NOW + 600;
        assert!(verify(&token, &keys, &EXPECTED_A, exp + 29).is_ok());
        assert_eq!(
            reason(verify(&token, &keys, &EXPECTED_A, exp + 30)),
            "expired"
        );
        let strict = Expected {
            leeway_secs: 0,
            ..EXPECTED_A
        };
        assert_eq!(reason(verify(&token, &keys, &strict, exp)), "expired");
        assert!(verify(&token, &keys, &strict, exp - 1).is_ok());
    }

    #[test]
    fn a_token_issued_in_the_future_or_not_yet_valid_is_refused() {
        let key = TestKey::es256("k1");
        let keys = [key.published()];
        let early = key.access_token(&with(claims_for(json!(API_A)), "iat", json!(NOW + 120)));
        assert_eq!(
            reason(verify(&early, &keys, &EXPECTED_A, NOW)),
            "issued in the future"
        );
        let nbf = key.access_token(&with(claims_for(json!(API_A)), "nbf", json!(NOW + 120)));
        assert_eq!(
            reason(verify(&nbf, &keys, &EXPECTED_A, NOW)),
            "not valid yet"
        );
    }

    #[test]
    fn every_rfc_9068_required_claim_must_be_present() {
        let key = TestKey::es256("k1");
        let keys = [key.published()];
        for name in ["exp", "iat", "sub", "client_id", "jti"] {
            let token = key.access_token(&without(claims_for(json!(API_A)), name));
            assert_eq!(
                reason(verify(&token, &keys, &EXPECTED_A, NOW)),
                format!("no {name} claim")
            );
        }
    }

    #[test]
    fn a_signature_by_another_key_with_the_same_kid_is_refused() {
        let published = TestKey::es256("k1");
        let forger = TestKey::es256("k1");
        let token = forger.access_token(&claims_for(json!(API_A)));
        assert_eq!(
            reason(verify(&token, &[published.published()], &EXPECTED_A, NOW)),
            "bad signature"
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let key = TestKey::es256("k1");
        let token = key.access_token(&claims_for(json!(API_B)));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = key.access_token(&claims_for(json!(API_A)));
        parts[1] = forged.split('.').nth(1).unwrap().to_owned();
        let token = parts.join(".");
        assert_eq!(
            reason(verify(&token, &[key.published()], &EXPECTED_A, NOW)),
            "bad signature"
        );
    }

    #[test]
    fn an_unknown_kid_is_refused() {
        let key = TestKey::es256("k1");
        let other = TestKey::es256("k2");
        let token = other.access_token(&claims_for(json!(API_A)));
        assert_eq!(
            reason(verify(&token, &[key.published()], &EXPECTED_A, NOW)),
            "unknown signing key"
        );
    }

    #[test]
    fn the_header_alg_must_be_the_keys_own() {
        // RFC 8725 §3.1: an HS256 token "signed" with the public key, or alg none.
        let key = TestKey::es256("k1");
        let hs = jsonwebtoken::encode(
            &Header {
                typ: Some("at+jwt".into()),
                kid: Some("k1".into()),
                ..Header::new(Algorithm::HS256)
            },
            &claims_for(json!(API_A)),
            &EncodingKey::from_secret(key.jwk["x"].as_str().unwrap().as_bytes()),
        )
        .unwrap();
        assert_eq!(
            reason(verify(&hs, &[key.published()], &EXPECTED_A, NOW)),
            "algorithm not allowed for this key"
        );
        let good = key.access_token(&claims_for(json!(API_A)));
        let (_, rest) = good.split_once('.').unwrap();
        let none_header = base64url(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
        let none = format!("{none_header}.{rest}");
        assert!(verify(&none, &[key.published()], &EXPECTED_A, NOW).is_err());
    }

    #[test]
    fn scopes_are_split_on_spaces() {
        assert_eq!(split_scope(Some("a  b c")), ["a", "b", "c"]);
        assert!(split_scope(None).is_empty());
    }

    fn base64url(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}
