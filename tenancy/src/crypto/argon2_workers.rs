//! A fixed set of threads, one per core, that do all Argon2id work.
//!
//! Argon2id is memory-hard on purpose: each verification fills 19 MiB. Run on the
//! blocking pool, a login flood would start hundreds of them at once (gigabytes of
//! memory, and no login finishing sooner for it, since the cores are the bound). Here
//! at most one hash runs per core; the rest wait in a queue. Each worker keeps its
//! memory blocks between verifications, so a verification neither allocates nor
//! page-faults 19 MiB afresh, and resident memory stays at cores × 19 MiB.
//!
//! The threads themselves and their bounded queue are [`crate::runtime::Workers`]'s
//! (a value the server builds at start-up, sized by `TESSERA_ARGON2_QUEUE_CAPACITY`):
//! a job beyond the queue is refused at once with [`Error::Busy`], and a job whose
//! request was cancelled while it waited is skipped (see `worker_pool`).

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::phc::{Output, ParamsString, Salt},
};

use crate::{Error, Result, runtime::Workers};

/// The worker's kept blocks, grown to what `params` needs.
fn memory<'a>(blocks: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    if blocks.len() < params.block_count() {
        blocks.resize(params.block_count(), Block::default());
    }
    blocks
}

/// Argon2id PHC string of `secret` with the default (OWASP) parameters.
pub(crate) async fn hash(workers: &Workers, secret: String) -> Result<String> {
    workers
        .argon2()
        .run(move |blocks| hash_with(blocks, secret.as_bytes()))
        .await?
}

/// Hashes `secret` with a fresh 128-bit salt in `blocks` and writes the PHC string
/// (what `PasswordHasher::hash_password` does, minus allocating 19 MiB: glibc kept
/// those allocations, and resident memory grew by 19 MiB per hashed password).
fn hash_with(blocks: &mut Vec<Block>, secret: &[u8]) -> Result<String> {
    let failed = |e: &dyn std::fmt::Display| Error::Internal(format!("argon2 hashing failed: {e}"));
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    let salt = crate::crypto::secrets::random_bytes::<16>()?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(secret, &salt, &mut output, memory(blocks, &params))
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `secret` matches the PHC string `phc`; any malformed hash is "no". A full
/// queue is [`Error::Busy`], never "no": a refused check must not count as a failure.
pub(crate) async fn verify(workers: &Workers, secret: String, phc: String) -> Result<bool> {
    workers
        .argon2()
        .run(move |blocks| verify_with(blocks, secret.as_bytes(), &phc))
        .await
}

/// Recomputes the hash of `secret` with the stored parameters and salt in `blocks`
/// and compares it in constant time (what `PasswordVerifier` does, minus allocating).
fn verify_with(blocks: &mut Vec<Block>, secret: &[u8], phc: &str) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&stored) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut computed = vec![0u8; expected.len()];
    let memory = memory(blocks, &params);
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(secret, salt.as_ref(), &mut computed, memory)
        .is_ok()
        && crate::crypto::secrets::constant_time_eq(&computed, expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;
    use crate::test_support::workers;

    async fn hash(secret: String) -> Result<String> {
        super::hash(&workers(), secret).await
    }

    async fn verify(secret: String, phc: String) -> Result<bool> {
        super::verify(&workers(), secret, phc).await
    }

    #[tokio::test]
    async fn verifies_what_the_reference_verifier_verifies() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", phc.as_str())
                .is_ok()
        );
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!verify("correct horsf".into(), phc.clone()).await.unwrap());
        assert!(!verify(String::new(), phc.clone()).await.unwrap());
        // Twice in a row on the same kept memory.
        assert!(verify("correct horse".into(), phc).await.unwrap());
    }

    #[tokio::test]
    async fn other_parameters_and_malformed_hashes() {
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, Some(32)).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(verify("pw".into(), small.clone()).await.unwrap());
        assert!(!verify("pw2".into(), small).await.unwrap());
        assert!(!verify("pw".into(), "not a hash".into()).await.unwrap());
        assert!(
            !verify("pw".into(), "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ".into())
                .await
                .unwrap()
        );
    }
}
