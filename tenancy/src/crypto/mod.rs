//! Encryption at rest: AES-256-GCM under the master key.
//!
//! Ciphertexts are stored as `v1:<key id>:<base64url(nonce || ciphertext || tag)>`.
//! The key id (a fingerprint of the master key) travels with every ciphertext so the
//! master key can be rotated: the keyring encrypts with its current key and decrypts
//! with whichever key a ciphertext names. Each ciphertext is bound to its row by
//! associated data (for example `signing_key:<tenant>:<kid>`), so a ciphertext copied
//! into another row does not decrypt.
//!
//! The master key also keys HMAC-SHA256 ([`Keyring::mac`]) through a subkey of its own,
//! for values the server must be able to recompute but nobody else may predict (the
//! successor of a refresh token, `refresh`).
//!
//! Layering (see the crate doc): may import `core` and `runtime`.

pub(crate) mod argon2_workers;
pub(crate) mod jws_provider;
pub mod secrets;

use std::collections::HashMap;

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::{Error, Result, crypto::secrets::random_bytes};

const FORMAT_VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

/// One 256-bit master key and its public fingerprint.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
    /// HMAC-SHA256 under a subkey derived from the master key (never the AES key).
    mac: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Parses a master key given as standard or URL-safe base64 of exactly 32 bytes.
    pub fn parse(encoded: &SecretString) -> Result<Self> {
        let text = encoded.expose_secret().trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| Error::invalid("master_key", "must be base64 of 32 random bytes"))?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::invalid("master_key", "must decode to exactly 32 bytes"))?;
        Ok(Self::from_bytes(&key))
    }

    /// Builds a master key from raw bytes.
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        let mut fingerprint = Sha256::new();
        fingerprint.update(b"tessera master key id\0");
        fingerprint.update(key);
        let id = hex::encode(fingerprint.finalize().get(..6).unwrap_or_default());
        use aws_lc_rs::hmac;
        let root = hmac::Key::new(hmac::HMAC_SHA256, key);
        let subkey = hmac::sign(&root, b"tessera mac subkey v1");
        Self {
            id,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            mac: hmac::Key::new(hmac::HMAC_SHA256, subkey.as_ref()),
        }
    }

    /// A new random master key, base64-encoded (for `tessera` to write on first start).
    pub fn generate_encoded() -> Result<SecretString> {
        Ok(SecretString::from(STANDARD.encode(random_bytes::<32>()?)))
    }

    /// The key's public fingerprint, stored beside every ciphertext.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The current master key plus older ones kept for decryption during a rotation.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: MasterKey,
    by_id: HashMap<String, MasterKey>,
}

impl Keyring {
    /// A keyring that encrypts with `current` and can still decrypt with `previous`.
    pub fn new(current: MasterKey, previous: impl IntoIterator<Item = MasterKey>) -> Self {
        let mut by_id: HashMap<String, MasterKey> =
            previous.into_iter().map(|k| (k.id.clone(), k)).collect();
        by_id.insert(current.id.clone(), current.clone());
        Self { current, by_id }
    }

    /// Encrypts `plaintext`, binding it to `aad` (the row it belongs in).
    pub fn encrypt(&self, plaintext: &[u8], aad: &str) -> Result<String> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("AES-GCM encryption failed".into()))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&ciphertext);
        Ok(format!(
            "{FORMAT_VERSION}:{}:{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(blob)
        ))
    }

    /// HMAC-SHA256 of `data` under the current master key's MAC subkey, bound to
    /// `label` (what the value is for), so values for one purpose never serve another.
    pub fn mac(&self, label: &str, data: &[u8]) -> [u8; 32] {
        use aws_lc_rs::hmac;
        let mut ctx = hmac::Context::with_key(&self.current.mac);
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(data);
        // HMAC-SHA256 tags are always 32 bytes.
        <[u8; 32]>::try_from(ctx.sign().as_ref()).unwrap_or_default()
    }

    /// The public fingerprint of the current master key.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Whether `stored` is already encrypted under the current master key.
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .split(':')
            .nth(1)
            .is_some_and(|key_id| key_id == self.current.id)
    }

    /// Decrypts a value produced by [`Keyring::encrypt`] with the same `aad`.
    pub fn decrypt(&self, stored: &str, aad: &str) -> Result<Vec<u8>> {
        let corrupt =
            || Error::Internal("encrypted value is malformed or was tampered with".into());
        let mut parts = stored.splitn(3, ':');
        let (Some(FORMAT_VERSION), Some(key_id), Some(body)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt());
        };
        let key = self
            .by_id
            .get(key_id)
            .ok_or_else(|| Error::Internal(format!("master key {key_id} is not in the keyring")))?;
        let blob = URL_SAFE_NO_PAD.decode(body).map_err(|_| corrupt())?;
        if blob.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| corrupt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; 32])
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let ring = Keyring::new(key(1), []);
        let stored = ring.encrypt(b"private key bytes", "row:1").unwrap();
        assert!(!stored.contains("private"));
        assert_eq!(
            ring.decrypt(&stored, "row:1").unwrap(),
            b"private key bytes"
        );
    }

    #[test]
    fn macs_depend_on_the_key_the_label_and_the_data() {
        let ring = Keyring::new(key(1), []);
        let mac = ring.mac("purpose", b"data");
        assert_eq!(mac, ring.mac("purpose", b"data"));
        assert_ne!(mac, ring.mac("other purpose", b"data"));
        assert_ne!(mac, ring.mac("purpose", b"datb"));
        assert_ne!(mac, Keyring::new(key(2), []).mac("purpose", b"data"));
    }

    #[test]
    fn refuses_another_rows_associated_data() {
        let ring = Keyring::new(key(1), []);
        let stored = ring.encrypt(b"secret", "row:1").unwrap();
        assert!(ring.decrypt(&stored, "row:2").is_err());
    }

    #[test]
    fn decrypts_with_a_previous_master_key_after_rotation() {
        let old = Keyring::new(key(1), []);
        let stored = old.encrypt(b"secret", "row").unwrap();
        let rotated = Keyring::new(key(2), [key(1)]);
        assert_eq!(rotated.decrypt(&stored, "row").unwrap(), b"secret");
        let without_old = Keyring::new(key(2), []);
        assert!(without_old.decrypt(&stored, "row").is_err());
    }

    #[test]
    fn parses_base64_master_keys_of_exactly_32_bytes() {
        let good = SecretString::from(STANDARD.encode([7u8; 32]));
        assert!(MasterKey::parse(&good).is_ok());
        let short = SecretString::from(STANDARD.encode([7u8; 16]));
        assert!(MasterKey::parse(&short).is_err());
        assert!(MasterKey::parse(&SecretString::from("not base64!")).is_err());
    }
}
