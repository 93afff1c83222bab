//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3.1): `client_secret_basic`, `client_secret_post`, and `none` for
//! public clients.
//!
//! Secrets are stored as Argon2id, which costs tens of milliseconds per check. To keep
//! the steady-state cost of a token request at a hash comparison, a bounded in-memory
//! memo records "this client's secret with this SHA-256 was verified against this
//! stored hash". A hit requires the SHA-256 of the presented secret (compared in
//! constant time) *and* the stored hash to be unchanged, so rotating a secret drops its
//! memo entries at once without any invalidation message between nodes.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use entity::clients;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    oauth_error::{OAuthError, OAuthResult},
    secrets,
    tenant_directory::Resolved,
};

/// How many verified secrets are remembered at most.
pub const SECRET_MEMO_CAPACITY: u64 = 100_000;
/// How long a verified secret is remembered.
pub const SECRET_MEMO_TTL: Duration = Duration::from_secs(15 * 60);
/// Longest `client_id` or `client_secret` accepted (bounds lookups and hashing).
pub const MAX_CREDENTIAL_LEN: usize = 512;

/// How the client presented itself.
#[derive(Clone)]
pub enum ClientCredentials {
    /// HTTP Basic with `client_id:client_secret` (RFC 6749 §2.3.1).
    Basic {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: String,
    },
    /// `client_id` and `client_secret` in the form body.
    Post {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: String,
    },
    /// Only `client_id` in the form body (public clients).
    None {
        /// The client id.
        client_id: String,
    },
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (method, id) = match self {
            Self::Basic { client_id, .. } => ("client_secret_basic", client_id),
            Self::Post { client_id, .. } => ("client_secret_post", client_id),
            Self::None { client_id } => ("none", client_id),
        };
        f.debug_struct("ClientCredentials")
            .field("method", &method)
            .field("client_id", id)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// The claimed client id.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }

    fn secret(&self) -> Option<&str> {
        match self {
            Self::Basic { secret, .. } | Self::Post { secret, .. } => Some(secret),
            Self::None { .. } => None,
        }
    }
}

#[derive(Clone)]
struct MemoEntry {
    secret_sha256: [u8; 32],
    stored_hash: String,
}

/// Remembers recently verified client secrets; cheap to clone.
#[derive(Clone)]
pub struct SecretMemo(moka::future::Cache<(Uuid, [u8; 32]), Arc<MemoEntry>>);

impl Default for SecretMemo {
    fn default() -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(SECRET_MEMO_CAPACITY)
                .time_to_live(SECRET_MEMO_TTL)
                .build(),
        )
    }
}

impl SecretMemo {
    async fn recalls(&self, client: &clients::Model, digest: &[u8; 32], stored_hash: &str) -> bool {
        match self.0.get(&(client.id, *digest)).await {
            Some(entry) => {
                secrets::constant_time_eq(&entry.secret_sha256, digest)
                    && secrets::constant_time_eq(
                        entry.stored_hash.as_bytes(),
                        stored_hash.as_bytes(),
                    )
            }
            None => false,
        }
    }

    async fn remember(&self, client: &clients::Model, digest: [u8; 32], stored_hash: &str) {
        let entry = MemoEntry {
            secret_sha256: digest,
            stored_hash: stored_hash.to_owned(),
        };
        self.0.insert((client.id, digest), Arc::new(entry)).await;
    }

    async fn verify(&self, client: &clients::Model, secret: &str, stored_hash: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if self.recalls(client, &digest, stored_hash).await {
            return true;
        }
        if secrets::verify_password(secret.to_owned(), stored_hash.to_owned()).await {
            self.remember(client, digest, stored_hash).await;
            return true;
        }
        false
    }
}

/// Authenticates a client of `tenant`. Every failure is the same `invalid_client`, so
/// the answer does not reveal whether a client id exists.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    tenant: &Resolved,
    memo: &SecretMemo,
    credentials: &ClientCredentials,
    now: DateTime<Utc>,
) -> OAuthResult<clients::Model> {
    let id = credentials.client_id();
    if id.is_empty()
        || id.len() > MAX_CREDENTIAL_LEN
        || credentials
            .secret()
            .is_some_and(|s| s.len() > MAX_CREDENTIAL_LEN)
    {
        return Err(OAuthError::invalid_client());
    }
    let client = match tenant.client(db, id).await {
        Ok(client) => client,
        Err(crate::Error::NotFound(_)) => return Err(OAuthError::invalid_client()),
        Err(other) => return Err(other.into()),
    };
    match (client.client_type.as_str(), credentials.secret()) {
        ("public", None) => Ok(client),
        ("confidential", Some(secret)) => {
            if let Some(current) = &client.secret_hash
                && memo.verify(&client, secret, current).await
            {
                return Ok(client);
            }
            if let (Some(previous), Some(until)) = (
                &client.previous_secret_hash,
                client.previous_secret_expires_at,
            ) && now < until
                && memo.verify(&client, secret, previous).await
            {
                return Ok(client);
            }
            Err(OAuthError::invalid_client())
        }
        _ => Err(OAuthError::invalid_client()),
    }
}
