//! Signing and verifying JWTs with a tenant's keys.
//!
//! [`KeyStore`] loads a tenant's keys on first use and keeps them parsed in a bounded,
//! short-lived cache (memory follows the *active* tenants, and a key change made by
//! another node is seen within [`KEY_CACHE_TTL`]). Verification picks the key by the
//! token's `kid` and accepts only that key's own algorithm, so `alg: none` and
//! HS256-keyed-with-the-public-key tokens are refused (RFC 8725 §2.1, §3.1).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sea_orm::ConnectionTrait;
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{Error, Result, crypto::Keyring, keys, keys::verified::VerifiedTokens};

/// How long parsed keys are reused before the database is asked again: the bound on
/// how long another node may keep signing with a key this node just changed.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
/// How many tenants' keys stay parsed in memory at most.
pub const KEY_CACHE_CAPACITY: u64 = 10_000;

/// A key that signs new tokens.
struct SigningKey {
    kid: String,
    alg: crate::core::Algorithm,
    key: EncodingKey,
}

/// One tenant's parsed keys: the current signers in order of preference, every
/// published verifier, and the JWKS.
pub struct TenantKeys {
    loaded_at: DateTime<Utc>,
    /// Unique per load in this process, so memoised verifications die with the keys.
    generation: u64,
    verified: VerifiedTokens,
    signers: Vec<SigningKey>,
    verifiers: HashMap<String, (Algorithm, DecodingKey)>,
    jwks: serde_json::Value,
}

/// Why a presented JWT was refused. Callers map every variant to "invalid token";
/// the variants exist for logs and tests.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a well-formed JWS.
    #[error("malformed token")]
    Malformed,
    /// No published key has this `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The header's `alg` is not the key's algorithm.
    #[error("algorithm not allowed for this key")]
    WrongAlgorithm,
    /// The header's `typ` is not the expected one.
    #[error("wrong token type")]
    WrongType,
    /// Bad signature, wrong issuer or audience, or expired.
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl TenantKeys {
    async fn load(
        db: &impl ConnectionTrait,
        keyring: &Keyring,
        verified: VerifiedTokens,
        tenant_id: Uuid,
        preferred: &[crate::core::Algorithm],
        now: DateTime<Utc>,
    ) -> Result<Self> {
        crate::crypto::jws_provider::install();
        let stored = keys::list(db, tenant_id).await?;
        let mut signers: Vec<SigningKey> = Vec::new();
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        for key in &stored {
            let alg = crate::core::Algorithm::parse(&key.alg).ok_or_else(|| {
                Error::Internal(format!("unsupported stored key algorithm {}", key.alg))
            })?;
            verifiers.insert(
                key.kid.clone(),
                (alg.jws(), keys::decoding_key(alg, &key.public_jwk)?),
            );
            published.push(key.public_jwk.clone());
            if key.state == keys::KeyState::Current.as_str()
                && !signers.iter().any(|s| s.alg == alg)
            {
                let der = keys::decrypt_private_key(keyring, key)?;
                signers.push(SigningKey {
                    kid: key.kid.clone(),
                    alg,
                    key: keys::encoding_key(alg, &der)?,
                });
            }
        }
        // The tenant's preferred algorithm signs; the others follow in preference order.
        signers.sort_by_key(|s| {
            preferred
                .iter()
                .position(|p| *p == s.alg)
                .unwrap_or(usize::MAX)
        });
        static GENERATION: AtomicU64 = AtomicU64::new(0);
        Ok(Self {
            loaded_at: now,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            verified,
            signers,
            verifiers,
            jwks: serde_json::json!({ "keys": published }),
        })
    }

    /// Which load of the tenant's keys this is (unique in the process).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Access tokens verified lately, shared by every tenant's keys of this store.
    pub(crate) fn verified_tokens(&self) -> &VerifiedTokens {
        &self.verified
    }

    /// The JWKS document (RFC 7517 §5) of the published public keys.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Signs `claims` with the current key; `typ` goes in the header (`at+jwt`, `JWT`).
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String> {
        self.sign_with(None, typ, claims)
    }

    /// The current key of `alg`, or the preferred one when `alg` is none or the tenant
    /// no longer has a key of it.
    fn signer(&self, alg: Option<crate::core::Algorithm>) -> Option<&SigningKey> {
        alg.and_then(|alg| self.signers.iter().find(|s| s.alg == alg))
            .or_else(|| self.signers.first())
    }

    /// Signs `claims` with the current key of `alg` (an API's or a client's choice),
    /// else with the preferred one.
    pub fn sign_with<T: Serialize>(
        &self,
        alg: Option<crate::core::Algorithm>,
        typ: &str,
        claims: &T,
    ) -> Result<String> {
        let signer = self
            .signer(alg)
            .ok_or_else(|| Error::Internal("tenant has no current signing key".into()))?;
        let header = Header {
            typ: Some(typ.to_owned()),
            kid: Some(signer.kid.clone()),
            ..Header::new(signer.alg.jws())
        };
        jsonwebtoken::encode(&header, claims, &signer.key)
            .map_err(|e| Error::Internal(format!("signing failed: {e}")))
    }

    /// The algorithm new tokens are signed with (for `at_hash`, OIDC Core §3.1.3.6).
    pub fn signing_alg(&self) -> Option<crate::core::Algorithm> {
        self.signers.first().map(|s| s.alg)
    }

    /// The algorithm [`TenantKeys::sign_with`] uses for `alg`.
    pub fn signing_alg_for(
        &self,
        alg: Option<crate::core::Algorithm>,
    ) -> Option<crate::core::Algorithm> {
        self.signer(alg).map(|s| s.alg)
    }

    /// Verifies a JWT signed by one of this tenant's published keys: signature, `typ`,
    /// `iss`, `aud` when given, and expiry against `now` (no leeway; time is an input,
    /// never the library's own clock).
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        audience: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<T, VerifyError> {
        self.verify_inner(token, typ, issuer, audience, Some(now))
    }

    /// [`TenantKeys::verify`] without the expiry check: for `id_token_hint` (OIDC
    /// RP-Initiated Logout §2: an expired ID token is still a valid hint), and for
    /// access tokens, whose expiry `access::verify` checks on every presentation.
    pub fn verify_ignoring_expiry<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
    ) -> Result<T, VerifyError> {
        self.verify_inner(token, typ, issuer, None, None)
    }

    fn verify_inner<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        audience: Option<&str>,
        now: Option<DateTime<Utc>>,
    ) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
        let (alg, key) = self.verifiers.get(kid).ok_or(VerifyError::UnknownKey)?;
        if header.alg != *alg {
            return Err(VerifyError::WrongAlgorithm);
        }
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(typ))
        {
            return Err(VerifyError::WrongType);
        }
        let mut validation = Validation::new(*alg);
        // Expiry is checked below against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "iat"]);
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?
            .claims;
        if let Some(now) = now {
            let exp = claims
                .get("exp")
                .and_then(serde_json::Value::as_i64)
                .ok_or(VerifyError::Malformed)?;
            if exp <= now.timestamp() {
                return Err(VerifyError::Invalid("expired".into()));
            }
        }
        serde_json::from_value(claims).map_err(|e| VerifyError::Invalid(e.to_string()))
    }
}

/// Whether something read from the database at `loaded_at` may still be used at `now`
/// (within [`KEY_CACHE_TTL`] by the server clock, which tests move forward).
pub(crate) fn fresh(loaded_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let ttl = chrono::Duration::from_std(KEY_CACHE_TTL).unwrap_or_default();
    loaded_at <= now && now - loaded_at < ttl
}

/// Parsed tenant keys, loaded on first use and shared by every request.
#[derive(Clone)]
pub struct KeyStore {
    keyring: Arc<Keyring>,
    verified: VerifiedTokens,
    cache: moka::future::Cache<Uuid, Arc<TenantKeys>>,
}

impl KeyStore {
    /// A store decrypting with `keyring`; installs the key-keeping JWS provider.
    pub fn new(keyring: Arc<Keyring>) -> Self {
        crate::crypto::jws_provider::install();
        Self {
            keyring,
            verified: VerifiedTokens::new(),
            cache: moka::future::Cache::builder()
                .max_capacity(KEY_CACHE_CAPACITY)
                .time_to_live(KEY_CACHE_TTL)
                .build(),
        }
    }

    /// The tenant's keys, from memory or the database; `preferred` orders the signers.
    /// An entry expires by the server clock as well as the wall clock, so a test clock
    /// moved forward sees key changes made by the lifecycle jobs.
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        tenant_id: Uuid,
        preferred: &[crate::core::Algorithm],
        now: DateTime<Utc>,
    ) -> Result<Arc<TenantKeys>> {
        if let Some(keys) = self.cache.get(&tenant_id).await
            && fresh(keys.loaded_at, now)
        {
            return Ok(keys);
        }
        let keys = Arc::new(
            TenantKeys::load(
                db,
                &self.keyring,
                self.verified.clone(),
                tenant_id,
                preferred,
                now,
            )
            .await?,
        );
        self.cache.insert(tenant_id, keys.clone()).await;
        Ok(keys)
    }

    /// Forgets a tenant's parsed keys (after a key change on this node).
    pub async fn invalidate(&self, tenant_id: Uuid) {
        self.cache.invalidate(&tenant_id).await;
    }
}
