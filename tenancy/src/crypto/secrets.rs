//! Random secrets, their SHA-256 fingerprints and Argon2id hashes.
//!
//! High-entropy values we generate (API keys, later codes and refresh tokens) are
//! stored as SHA-256: they cannot be brute-forced, so a fast hash is enough.
//! Human-chosen passwords and client secrets are stored as Argon2id PHC strings with
//! the OWASP parameters (m=19 MiB, t=2, p=1: argon2's defaults).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Error, Result, runtime::Workers};

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

tokio::task_local! {
    static ARGON2_JOBS: std::cell::Cell<u64>;
}

/// Runs `work` and counts the Argon2id jobs (hashes and verifications) it asks for in
/// this task. For tests that prove an expensive step is skipped (a reset with an
/// unknown token must not hash the new password); outside it nothing is counted.
pub async fn count_argon2_jobs<F: std::future::Future>(work: F) -> (F::Output, u64) {
    ARGON2_JOBS
        .scope(std::cell::Cell::new(0), async {
            let out = work.await;
            (out, ARGON2_JOBS.with(std::cell::Cell::get))
        })
        .await
}

fn count_argon2_job() {
    let _ = ARGON2_JOBS.try_with(|jobs| jobs.set(jobs.get() + 1));
}

/// Argon2id PHC string of `secret`, computed by the Argon2id workers (one per core).
pub async fn hash_password(workers: &Workers, secret: String) -> Result<String> {
    count_argon2_job();
    crate::crypto::argon2_workers::hash(workers, secret).await
}

/// Whether `secret` matches the Argon2id PHC string `phc`, checked by the Argon2id
/// workers: at most one verification per core runs at a time, so a login flood
/// queues instead of filling memory with 19 MiB blocks. When that queue is full the
/// answer is [`crate::Error::Busy`] (503), never "does not match".
pub async fn verify_password(workers: &Workers, secret: String, phc: String) -> Result<bool> {
    count_argon2_job();
    crate::crypto::argon2_workers::verify(workers, secret, phc).await
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
        let workers = crate::test_support::workers();
        let hash_password = |secret: String| hash_password(&workers, secret);
        let verify_password = |secret: String, phc: String| verify_password(&workers, secret, phc);
        let phc = hash_password("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify_password("correct horse".into(), phc.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong horse".into(), phc).await.unwrap());
    }
}
