//! Signing keys: generation, encrypted storage and listing.
//!
//! A tenant's keys move `next -> current -> retired -> removed` (rotation arrives with
//! the key-lifecycle work); a new tenant starts with one `current` RS256 key. The
//! private half is PKCS#8 DER encrypted under the master key and bound to its row by
//! associated data; the public half is kept as a JWK (RFC 7517) whose `kid` is the
//! RFC 7638 thumbprint, so the same key always has the same id.

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize},
    signature::KeyPair as _,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::signing_keys;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Error, Result, crypto::Keyring, ids};

/// JWS algorithms a tenant can sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over a 2048-bit key (RFC 7518 §3.3).
    Rs256,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
        }
    }
}

/// Where a key is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing new tokens.
    Current,
    /// Published until the tokens it signed expire.
    Retired,
}

impl KeyState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
        }
    }
}

/// A freshly generated key pair, before it is stored.
pub struct GeneratedKey {
    alg: Algorithm,
    kid: String,
    private_pkcs8: Vec<u8>,
    public_jwk: serde_json::Value,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Generates a key pair for `alg` on the blocking pool (RSA generation takes tens of ms).
pub async fn generate(alg: Algorithm) -> Result<GeneratedKey> {
    tokio::task::spawn_blocking(move || generate_blocking(alg))
        .await
        .map_err(|e| Error::Internal(format!("key generation task failed: {e}")))?
}

fn generate_blocking(alg: Algorithm) -> Result<GeneratedKey> {
    match alg {
        Algorithm::Rs256 => {
            let pair = KeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| Error::Internal("RSA key generation failed".into()))?;
            let der = pair
                .as_der()
                .map_err(|_| Error::Internal("RSA key encoding failed".into()))?;
            let public = pair.public_key();
            let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
            let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
            // RFC 7638 §3.2: required members, lexicographic order, no whitespace.
            let thumbprint_input = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
            let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
            let public_jwk = json!({
                "kty": "RSA", "use": "sig", "alg": alg.as_str(), "kid": kid, "n": n, "e": e,
            });
            Ok(GeneratedKey {
                alg,
                kid,
                private_pkcs8: der.as_ref().to_vec(),
                public_jwk,
            })
        }
    }
}

/// The associated data binding an encrypted private key to its tenant and kid.
pub fn private_key_aad(tenant_id: Uuid, kid: &str) -> String {
    format!("signing_key:{tenant_id}:{kid}")
}

/// Stores a generated key for a tenant, its private half encrypted.
pub async fn store(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    tenant_id: Uuid,
    key: GeneratedKey,
    state: KeyState,
    now: DateTime<Utc>,
) -> Result<signing_keys::Model> {
    let encrypted = keyring.encrypt(&key.private_pkcs8, &private_key_aad(tenant_id, &key.kid))?;
    let model = signing_keys::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant_id),
        kid: Set(key.kid),
        alg: Set(key.alg.as_str().to_owned()),
        state: Set(state.as_str().to_owned()),
        private_key_enc: Set(encrypted),
        public_jwk: Set(key.public_jwk),
        created_at: Set(now),
        activated_at: Set((state == KeyState::Current).then_some(now)),
        retired_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(model)
}

/// Every published key of a tenant, oldest first (a tenant has a handful at most).
pub async fn list(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<signing_keys::Model>> {
    Ok(signing_keys::Entity::find()
        .filter(signing_keys::Column::TenantId.eq(tenant_id))
        .order_by_asc(signing_keys::Column::Id)
        .all(db)
        .await?)
}

/// Decrypts a stored key's PKCS#8 private half.
pub fn decrypt_private_key(keyring: &Keyring, key: &signing_keys::Model) -> Result<Vec<u8>> {
    keyring.decrypt(
        &key.private_key_enc,
        &private_key_aad(key.tenant_id, &key.kid),
    )
}

/// A jsonwebtoken signing key from PKCS#8 DER (jsonwebtoken's DER constructor wants
/// PKCS#1, its PEM parser unwraps PKCS#8, so the DER goes through PEM armour).
pub fn encoding_key(alg: Algorithm, pkcs8_der: &[u8]) -> Result<jsonwebtoken::EncodingKey> {
    let body = base64::engine::general_purpose::STANDARD.encode(pkcs8_der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let key = match alg {
        Algorithm::Rs256 => jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()),
    };
    key.map_err(|e| Error::Internal(format!("stored signing key is unusable: {e}")))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Header, Validation, decode, encode};

    use super::*;

    #[tokio::test]
    async fn generated_rs256_keys_sign_tokens_their_jwk_verifies() {
        let key = generate(Algorithm::Rs256).await.unwrap();
        assert_eq!(key.public_jwk["kid"], key.kid);
        let header = Header {
            kid: Some(key.kid.clone()),
            ..Header::new(jsonwebtoken::Algorithm::RS256)
        };
        let token = encode(
            &header,
            &json!({"sub": "u", "exp": 4_000_000_000u64}),
            &encoding_key(Algorithm::Rs256, &key.private_pkcs8).unwrap(),
        )
        .unwrap();
        let n = key.public_jwk["n"].as_str().unwrap();
        let e = key.public_jwk["e"].as_str().unwrap();
        let decoding = DecodingKey::from_rsa_components(n, e).unwrap();
        let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.required_spec_claims.clear();
        decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
    }
}
