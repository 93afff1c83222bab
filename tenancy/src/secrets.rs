//! Random secrets, their SHA-256 fingerprints and Argon2id hashes.
//!
//! High-entropy values we generate (API keys, later codes and refresh tokens) are
//! stored as SHA-256: they cannot be brute-forced, so a fast hash is enough.
//! Human-chosen passwords and client secrets are stored as Argon2id PHC strings with
//! the OWASP parameters (m=19 MiB, t=2, p=1: argon2's defaults).

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Error, Result};

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("system RNG failed: {e}")))?;
    Ok(buf)
}

/// A 256-bit random value, base64url-encoded without padding, after `prefix`.
pub fn random_token(prefix: &str) -> Result<String> {
    let bytes = random_bytes::<32>()?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Lowercase hex SHA-256 of `value`: how generated secrets are stored and looked up.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Compares two byte strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Argon2id PHC string of `secret`, computed on the blocking pool.
pub async fn hash_password(secret: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(secret.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2 hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
}

/// Whether `secret` matches the Argon2id PHC string `phc` (verified on the blocking pool).
pub async fn verify_password(secret: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(secret.as_bytes(), phc.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_carry_the_prefix_and_256_bits() {
        let token = random_token("tsk_").unwrap();
        assert!(token.starts_with("tsk_"));
        assert_eq!(token.len(), 4 + 43);
        assert_ne!(token, random_token("tsk_").unwrap());
    }

    #[test]
    fn sha256_hex_is_the_known_digest() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn argon2id_hashes_verify_only_the_right_secret() {
        let phc = hash_password("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse".into(), phc.clone()).await);
        assert!(!verify_password("wrong horse".into(), phc).await);
    }
}
