//! Signing keys: generation, encrypted storage and listing.
//!
//! A tenant's keys move `next -> current -> retired -> removed` (rotation arrives with
//! the key-lifecycle work); a new tenant starts with one `current` RS256 key. The
//! private half is PKCS#8 DER encrypted under the master key and bound to its row by
//! associated data; the public half is kept as a JWK (RFC 7517) whose `kid` is the
//! RFC 7638 thumbprint, so the same key always has the same id.
//!
//! Layering (see the crate doc): may import `core`, `runtime`, `crypto`, `cache` and
//! `journal`.

pub mod rotation;
pub mod signing;
pub(crate) mod verified;

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize},
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _},
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

use crate::core::Algorithm;
use crate::{Error, Result, core::ids, crypto::Keyring};

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

impl GeneratedKey {
    /// The key's algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
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

fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn generate_blocking(alg: Algorithm) -> Result<GeneratedKey> {
    let failed = || Error::Internal(format!("{} key generation failed", alg.as_str()));
    let (private_pkcs8, kid, mut jwk) = match alg {
        Algorithm::Rs256 | Algorithm::Ps256 => {
            let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| failed())?;
            let der = pair.as_der().map_err(|_| failed())?;
            let public = pair.public_key();
            let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
            let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
            // RFC 7638 §3.2: required members, lexicographic order, no whitespace.
            let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
            (
                der.as_ref().to_vec(),
                kid,
                json!({ "kty": "RSA", "n": n, "e": e }),
            )
        }
        Algorithm::Es256 => {
            let pair =
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| failed())?;
            let der = pair.to_pkcs8v1().map_err(|_| failed())?;
            // Uncompressed SEC1 point: 0x04 || x || y.
            let point = pair.public_key().as_ref();
            let (x, y) = match (point.get(1..33), point.get(33..65)) {
                (Some(x), Some(y)) => (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y)),
                _ => return Err(failed()),
            };
            let kid = thumbprint(&format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
            ));
            (
                der.as_ref().to_vec(),
                kid,
                json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            )
        }
        Algorithm::EdDsa => {
            let pair = Ed25519KeyPair::generate().map_err(|_| failed())?;
            let der = pair.to_pkcs8v1().map_err(|_| failed())?;
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
            (
                der.as_ref().to_vec(),
                kid,
                json!({ "kty": "OKP", "crv": "Ed25519", "x": x }),
            )
        }
    };
    if let Some(obj) = jwk.as_object_mut() {
        obj.insert("use".into(), json!("sig"));
        obj.insert("alg".into(), json!(alg.as_str()));
        obj.insert("kid".into(), json!(kid));
    }
    Ok(GeneratedKey {
        alg,
        kid,
        private_pkcs8,
        public_jwk: jwk,
    })
}

/// The associated data binding an encrypted private key to its tenant and kid.
pub fn private_key_aad(tenant_id: Uuid, kid: &str) -> String {
    format!("signing_key:{tenant_id}:{kid}")
}

/// When a stored key is due for its next lifecycle step.
#[derive(Clone, Copy, Debug, Default)]
pub struct Schedule {
    /// For a `next` key: when it may start signing.
    pub activate_after: Option<DateTime<Utc>>,
    /// For a `current` key: when it is rotated automatically.
    pub rotate_after: Option<DateTime<Utc>>,
}

/// Stores a generated key for a tenant, its private half encrypted.
pub async fn store(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    tenant_id: Uuid,
    key: GeneratedKey,
    state: KeyState,
    schedule: Schedule,
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
        activate_after: Set(schedule.activate_after),
        rotate_after: Set(schedule.rotate_after),
        remove_after: Set(None),
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

/// A jsonwebtoken signing key from PKCS#8 DER. jsonwebtoken takes EC and Ed25519
/// keys as PKCS#8 but RSA keys only as PKCS#1; its PEM parser unwraps PKCS#8, so RSA
/// DER goes through PEM armour.
pub fn encoding_key(alg: Algorithm, pkcs8_der: &[u8]) -> Result<jsonwebtoken::EncodingKey> {
    match alg {
        Algorithm::Rs256 | Algorithm::Ps256 => {
            let body = base64::engine::general_purpose::STANDARD.encode(pkcs8_der);
            let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
            for line in body.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).unwrap_or_default());
                pem.push('\n');
            }
            pem.push_str("-----END PRIVATE KEY-----\n");
            jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| Error::Internal(format!("stored signing key is unusable: {e}")))
        }
        Algorithm::Es256 => Ok(jsonwebtoken::EncodingKey::from_ec_der(pkcs8_der)),
        Algorithm::EdDsa => Ok(jsonwebtoken::EncodingKey::from_ed_der(pkcs8_der)),
    }
}

/// A jsonwebtoken verification key from a stored public JWK.
pub fn decoding_key(alg: Algorithm, jwk: &serde_json::Value) -> Result<jsonwebtoken::DecodingKey> {
    let member = |name: &str| {
        jwk.get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
    };
    match alg {
        Algorithm::Rs256 | Algorithm::Ps256 => {
            jsonwebtoken::DecodingKey::from_rsa_components(member("n"), member("e"))
        }
        Algorithm::Es256 => jsonwebtoken::DecodingKey::from_ec_components(member("x"), member("y")),
        Algorithm::EdDsa => jsonwebtoken::DecodingKey::from_ed_components(member("x")),
    }
    .map_err(|e| Error::Internal(format!("stored public key is unusable: {e}")))
}

/// Re-encrypts every private key not yet under the current master key (master-key
/// rotation), in batches; returns how many were re-encrypted. Safe to run while
/// servers serve: they hold the old key as a previous key and read both until the run
/// completes, and each row is updated only if it still holds what was read.
pub async fn reencrypt_all(db: &impl ConnectionTrait, keyring: &Keyring) -> Result<u64> {
    use sea_orm::{QuerySelect, sea_query::Expr};
    let mut done = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = signing_keys::Entity::find().order_by_asc(signing_keys::Column::Id);
        if let Some(id) = after {
            query = query.filter(signing_keys::Column::Id.gt(id));
        }
        let batch = query.limit(200).all(db).await?;
        let Some(last) = batch.last() else {
            return Ok(done);
        };
        after = Some(last.id);
        for key in batch
            .iter()
            .filter(|k| !keyring.is_current(&k.private_key_enc))
        {
            let plaintext = decrypt_private_key(keyring, key)?;
            let fresh = keyring.encrypt(&plaintext, &private_key_aad(key.tenant_id, &key.kid))?;
            let updated = signing_keys::Entity::update_many()
                .col_expr(signing_keys::Column::PrivateKeyEnc, Expr::value(fresh))
                .filter(signing_keys::Column::Id.eq(key.id))
                .filter(signing_keys::Column::PrivateKeyEnc.eq(key.private_key_enc.clone()))
                .exec(db)
                .await?;
            done += updated.rows_affected;
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Header, Validation, decode, encode};

    use super::*;

    #[tokio::test]
    async fn every_algorithm_signs_tokens_its_published_jwk_verifies() {
        for alg in Algorithm::ALL {
            let key = generate(alg).await.unwrap();
            assert_eq!(key.public_jwk["kid"], key.kid);
            assert_eq!(key.public_jwk["alg"], alg.as_str());
            for private in ["d", "p", "q"] {
                assert!(
                    key.public_jwk.get(private).is_none(),
                    "{alg:?} publishes {private}"
                );
            }
            let header = Header {
                kid: Some(key.kid.clone()),
                ..Header::new(alg.jws())
            };
            let claims = json!({"sub": "u", "exp": 4_000_000_000u64});
            let token = encode(
                &header,
                &claims,
                &encoding_key(alg, &key.private_pkcs8).unwrap(),
            )
            .unwrap();
            let mut validation = Validation::new(alg.jws());
            validation.required_spec_claims.clear();
            decode::<serde_json::Value>(
                &token,
                &decoding_key(alg, &key.public_jwk).unwrap(),
                &validation,
            )
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        }
    }
}
