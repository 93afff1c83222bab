//! PKCE (RFC 7636) values and the cheap random strings a flow needs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// `code_challenge` for `code_challenge_method=S256`: BASE64URL(SHA256(verifier)).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A splitmix64 generator: fast, per worker, good enough for state, nonce and
/// verifier values of a load test (they only need to differ between flows).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for worker `worker`, seeded from the clock.
    pub fn for_worker(worker: u64) -> Self {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        // Truncation keeps the fast-moving low bits of the clock.
        let seed = clock as u64 ^ worker.wrapping_add(1).rotate_left(32);
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `bytes` random bytes, base64url without padding.
    pub fn token(&mut self, bytes: usize) -> String {
        let mut out = Vec::with_capacity(bytes + 8);
        while out.len() < bytes {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(bytes);
        URL_SAFE_NO_PAD.encode(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_valid_and_differ() {
        let mut rng = Rng::for_worker(3);
        let a = rng.token(32);
        let b = rng.token(32);
        assert_ne!(a, b);
        // RFC 7636 §4.1: 43..=128 unreserved characters.
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
        );
        assert_eq!(rng.token(12).len(), 16);
    }
}
