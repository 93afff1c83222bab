//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>, "Signature
//! scheme"): `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with the base64-decoded part of
//! the `whsec_...` secret.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a signature could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The secret is not `whsec_` followed by base64.
    #[error("the webhook secret is malformed")]
    BadSecret,
}

fn key(secret: &str) -> Result<Vec<u8>, SignError> {
    let encoded = secret
        .strip_prefix(tenancy::journal::webhooks::SECRET_PREFIX)
        .ok_or(SignError::BadSecret)?;
    STANDARD.decode(encoded).map_err(|_| SignError::BadSecret)
}

fn mac(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, SignError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key(secret)?).map_err(|_| SignError::BadSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `webhook-signature` header value for one message.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignError> {
    let tag = mac(secret, msg_id, timestamp, body)?
        .finalize()
        .into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// Whether any `v1` signature in a `webhook-signature` header value (space-separated
/// list) is valid for the message; compared in constant time. (Receivers in Rust can
/// use this; Tessera's tests do.)
pub fn verify(secret: &str, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    header.split(' ').any(|candidate| {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            return false;
        };
        let (Ok(tag), Ok(mac)) = (
            STANDARD.decode(encoded),
            mac(secret, msg_id, timestamp, body),
        ) else {
            return false;
        };
        mac.verify_slice(&tag).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example in the Standard Webhooks specification and its libraries' tests.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1_614_265_330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(verify(
            secret,
            id,
            1_614_265_330,
            body,
            "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
        assert!(!verify(
            secret,
            id,
            1_614_265_331,
            body,
            &sign(secret, id, 1_614_265_330, body).unwrap()
        ));
    }

    #[test]
    fn refuses_secrets_without_the_prefix() {
        assert!(sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, b"").is_err());
    }
}
