//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3.1): `client_secret_basic`, `client_secret_post`, and `none` for
//! public clients.
//!
//! Each client accepts exactly the method it is registered with
//! (`token_endpoint_auth_method`, OIDC Dynamic Client Registration §2; RFC 6749 §2.3:
//! one method per client): a client registered for `client_secret_basic` that sends its
//! secret in the body is refused, and so is a public client that sends a secret.
//!
//! The expensive check runs last: the client is looked up and its registered method
//! compared (both cheap, and both can fail) before any Argon2id work, so an unknown
//! client id, a public client or the wrong method never costs a hash. Every failure is
//! the same `invalid_client` body, whatever was wrong.
//!
//! Secrets are stored as Argon2id, which costs tens of milliseconds per check. To keep
//! the steady-state cost of a token request at a hash comparison, a bounded in-memory
//! memo records "this client's secret with this SHA-256 was verified against this
//! stored hash". A hit requires the SHA-256 of the presented secret (compared in
//! constant time) *and* the stored hash to be unchanged, so rotating a secret drops its
//! memo entries at once without any invalidation message between nodes.

#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use entity::clients;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    core::oauth_error::{OAuthError, OAuthResult},
    crypto::secrets,
    runtime::Workers,
    tenants::directory::Resolved,
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
    /// The `token_endpoint_auth_method` this presentation uses.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Basic { .. } => crate::clients::AUTH_BASIC,
            Self::Post { .. } => crate::clients::AUTH_POST,
            Self::None { .. } => crate::clients::AUTH_NONE,
        }
    }

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

/// Checks client secrets on the Argon2id workers and remembers recently verified
/// ones; cheap to clone.
#[derive(Clone)]
pub struct SecretMemo {
    memo: moka::future::Cache<(Uuid, [u8; 32]), Arc<MemoEntry>>,
    workers: Workers,
    /// Argon2id verifications started through this memo (tests assert on it).
    #[cfg(test)]
    argon2_runs: Arc<AtomicU64>,
}

impl SecretMemo {
    /// An empty memo whose misses are verified on `workers`.
    pub fn new(workers: Workers) -> Self {
        Self {
            workers,
            memo: moka::future::Cache::builder()
                .max_capacity(SECRET_MEMO_CAPACITY)
                .time_to_live(SECRET_MEMO_TTL)
                .build(),
            #[cfg(test)]
            argon2_runs: Arc::default(),
        }
    }

    async fn recalls(&self, client: &clients::Model, digest: &[u8; 32], stored_hash: &str) -> bool {
        match self.memo.get(&(client.id, *digest)).await {
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
        self.memo.insert((client.id, digest), Arc::new(entry)).await;
    }

    /// Whether `secret` matches `stored_hash`; [`crate::Error::Busy`] when the Argon2id
    /// queue is full (the request is refused with 503, not counted as a bad secret).
    async fn verify(
        &self,
        client: &clients::Model,
        secret: &str,
        stored_hash: &str,
    ) -> crate::Result<bool> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if self.recalls(client, &digest, stored_hash).await {
            return Ok(true);
        }
        #[cfg(test)]
        self.argon2_runs.fetch_add(1, Ordering::SeqCst);
        if secrets::verify_password(&self.workers, secret.to_owned(), stored_hash.to_owned())
            .await?
        {
            self.remember(client, digest, stored_hash).await;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Authenticates a client of `tenant` with the method it is registered for. Every
/// failure is the same `invalid_client`, so the answer does not reveal whether a client
/// id exists; Argon2id runs only for an existing confidential client presenting a
/// secret with its registered method.
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
    // RFC 6749 §2.3 / OIDC Registration §2: only the registered method is accepted.
    if credentials.method() != client.token_endpoint_auth_method {
        return Err(OAuthError::invalid_client());
    }
    match (client.client_type.as_str(), credentials.secret()) {
        ("public", None) => Ok(client),
        ("confidential", Some(secret)) => {
            if let Some(current) = &client.secret_hash
                && memo.verify(&client, secret, current).await?
            {
                return Ok(client);
            }
            if let (Some(previous), Some(until)) = (
                &client.previous_secret_hash,
                client.previous_secret_expires_at,
            ) && now < until
                && memo.verify(&client, secret, previous).await?
            {
                return Ok(client);
            }
            Err(OAuthError::invalid_client())
        }
        _ => Err(OAuthError::invalid_client()),
    }
}

/// [`authenticate`] for an endpoint only confidential clients may call: RFC 7662 §2.1
/// (introspection) requires the caller to authenticate, and `none` is no
/// authentication, so a public client is refused like a bad secret.
pub async fn authenticate_confidential(
    db: &impl ConnectionTrait,
    tenant: &Resolved,
    memo: &SecretMemo,
    credentials: &ClientCredentials,
    now: DateTime<Utc>,
) -> OAuthResult<clients::Model> {
    if matches!(credentials, ClientCredentials::None { .. }) {
        return Err(OAuthError::invalid_client());
    }
    let client = authenticate(db, tenant, memo, credentials, now).await?;
    if client.client_type == "confidential" {
        Ok(client)
    } else {
        Err(OAuthError::invalid_client())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use secrecy::ExposeSecret;

    use super::*;
    use crate::{
        clients::{self as registry, ClientPatch, NewClient},
        core::SettingsPatch,
        core::TenantCtx,
        crypto::{Keyring, MasterKey},
        journal::audit::Actor,
        tenants::directory::Directory,
        tenants::{self, NewTenant},
        test_support::{db, now},
    };

    struct Fixture {
        db: sea_orm::DatabaseConnection,
        tenant: TenantCtx,
        slug: String,
        confidential: (String, String),
        public: String,
    }

    async fn fixture() -> Fixture {
        let db = db().await;
        let keyring = Arc::new(Keyring::new(MasterKey::from_bytes(&[3; 32]), []));
        let row = tenants::create(
            &db,
            &keyring,
            &Actor::system(),
            NewTenant {
                slug: "acme".into(),
                display_name: "Acme".into(),
                settings: SettingsPatch::default(),
            },
            now(),
        )
        .await
        .unwrap();
        let tenant = TenantCtx::from(&row);
        let client = |client_type: &str| NewClient {
            name: "App".into(),
            client_type: client_type.into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: None,
            allowed_scopes: None,
            first_party: false,
            require_pkce: None,
            token_endpoint_auth_method: None,
            id_token_signed_response_alg: None,
        };
        let confidential = registry::create(
            &db,
            &crate::test_support::workers(),
            &tenant,
            &Actor::system(),
            client("confidential"),
            now(),
        )
        .await
        .unwrap();
        let public = registry::create(
            &db,
            &crate::test_support::workers(),
            &tenant,
            &Actor::system(),
            client("public"),
            now(),
        )
        .await
        .unwrap();
        Fixture {
            db,
            tenant,
            slug: "acme".into(),
            confidential: (
                confidential.client.client_id,
                confidential.secret.unwrap().expose_secret().to_owned(),
            ),
            public: public.client.client_id,
        }
    }

    impl Fixture {
        /// Authenticates `credentials` with a fresh memo (and a freshly resolved
        /// tenant, so client changes are seen); returns the outcome and how many
        /// Argon2id verifications it started.
        async fn present(&self, credentials: ClientCredentials) -> (OAuthResult<String>, u64) {
            self.present_with(credentials, Check::Any).await
        }

        async fn present_with(
            &self,
            credentials: ClientCredentials,
            how: Check,
        ) -> (OAuthResult<String>, u64) {
            let resolved = Directory::default()
                .find_enabled(&self.db, &self.slug, now())
                .await
                .unwrap()
                .unwrap();
            let memo = SecretMemo::new(crate::test_support::workers());
            let outcome = match how {
                Check::Any => authenticate(&self.db, &resolved, &memo, &credentials, now()).await,
                Check::Confidential => {
                    authenticate_confidential(&self.db, &resolved, &memo, &credentials, now()).await
                }
            };
            (
                outcome.map(|c| c.client_id),
                memo.argon2_runs.load(Ordering::SeqCst),
            )
        }

        fn basic(&self, secret: &str) -> ClientCredentials {
            ClientCredentials::Basic {
                client_id: self.confidential.0.clone(),
                secret: secret.into(),
            }
        }

        fn post(&self, secret: &str) -> ClientCredentials {
            ClientCredentials::Post {
                client_id: self.confidential.0.clone(),
                secret: secret.into(),
            }
        }
    }

    /// Which entry point a test presents credentials to.
    #[derive(Clone, Copy)]
    enum Check {
        /// [`authenticate`] (token endpoint, revocation).
        Any,
        /// [`authenticate_confidential`] (introspection).
        Confidential,
    }

    #[tokio::test]
    async fn argon2id_runs_only_for_an_existing_confidential_client_with_its_method() {
        // Arrange
        let fx = fixture().await;
        let refused = Err(OAuthError::invalid_client());

        // Act + Assert: each cheap refusal costs no Argon2id and looks the same.
        let unknown = ClientCredentials::Basic {
            client_id: "no-such-client".into(),
            secret: "guess".into(),
        };
        assert_eq!(fx.present(unknown).await, (refused.clone(), 0));
        let public_with_secret = ClientCredentials::Post {
            client_id: fx.public.clone(),
            secret: "guess".into(),
        };
        assert_eq!(fx.present(public_with_secret).await, (refused.clone(), 0));
        let wrong_method = fx.post(&fx.confidential.1);
        assert_eq!(fx.present(wrong_method).await, (refused.clone(), 0));
        let no_secret = ClientCredentials::None {
            client_id: fx.confidential.0.clone(),
        };
        assert_eq!(fx.present(no_secret).await, (refused.clone(), 0));

        // A wrong secret of the real client is checked, and answered the same way.
        assert_eq!(fx.present(fx.basic("guess")).await, (refused, 1));
        let right = fx.present(fx.basic(&fx.confidential.1)).await;
        assert_eq!(right, (Ok(fx.confidential.0.clone()), 1));
    }

    #[tokio::test]
    async fn a_client_is_accepted_only_with_the_method_it_is_registered_with() {
        // Arrange: the default for a confidential client is client_secret_basic.
        let fx = fixture().await;
        let secret = fx.confidential.1.clone();
        assert!(fx.present(fx.basic(&secret)).await.0.is_ok());
        assert!(fx.present(fx.post(&secret)).await.0.is_err());

        // Act: register it for client_secret_post.
        registry::update(
            &fx.db,
            &fx.tenant,
            &Actor::system(),
            &fx.confidential.0,
            ClientPatch {
                token_endpoint_auth_method: Some(registry::AUTH_POST.into()),
                ..ClientPatch::default()
            },
            now(),
        )
        .await
        .unwrap();

        // Assert: now only the form body works.
        assert!(fx.present(fx.post(&secret)).await.0.is_ok());
        assert!(fx.present(fx.basic(&secret)).await.0.is_err());
        // A public client cannot be given a secret method, nor a confidential one none.
        let invalid = |client_id: &str, method: &str| {
            let (db, tenant) = (&fx.db, &fx.tenant);
            let (client_id, method) = (client_id.to_owned(), method.to_owned());
            async move {
                registry::update(
                    db,
                    tenant,
                    &Actor::system(),
                    &client_id,
                    ClientPatch {
                        token_endpoint_auth_method: Some(method),
                        ..ClientPatch::default()
                    },
                    now(),
                )
                .await
            }
        };
        assert!(matches!(
            invalid(&fx.public, registry::AUTH_BASIC).await,
            Err(crate::Error::Invalid(_))
        ));
        assert!(matches!(
            invalid(&fx.confidential.0, registry::AUTH_NONE).await,
            Err(crate::Error::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn introspection_callers_must_be_authenticated_confidential_clients() {
        let fx = fixture().await;
        let public = ClientCredentials::None {
            client_id: fx.public.clone(),
        };
        // The public client is a valid client at the token endpoint...
        assert_eq!(
            fx.present_with(public.clone(), Check::Any).await.0,
            Ok(fx.public.clone())
        );
        // ...but `none` is no authentication for RFC 7662 §2.1.
        assert_eq!(
            fx.present_with(public, Check::Confidential).await,
            (Err(OAuthError::invalid_client()), 0)
        );
        let confidential = fx.basic(&fx.confidential.1);
        assert_eq!(
            fx.present_with(confidential, Check::Confidential).await.0,
            Ok(fx.confidential.0.clone())
        );
    }
}
