//! The token endpoint's one door (RFC 6749 §3.2, OAuth 2.1 §3.2): a parsed request in,
//! tokens or the protocol error out. It authenticates the client, runs the grant,
//! writes the grant's audit event (`token.granted` / `token.refused`) and commits it
//! on success and on refusal alike, so a refused replay commits the family
//! revocation, its audit event and its alert together. Tokens are signed only once the
//! grant's writes are committed ([`Minted`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::{
    cache::Cache,
    core::TenantCtx,
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    crypto::Keyring,
    journal::{audit::Actor, audit_batch::GroupWriter},
    oauth::{
        client_auth::{self, ClientCredentials, SecretMemo},
        token::{
            Minted, TokenResponse, client_credentials, outcome_event,
            user_grant::{UserGrant, UserGrantType, one_resource},
        },
    },
    runtime::{Storage, Workers, batch::Batcher},
    tenants::issuer::Issuer,
};

/// The grant types the token endpoint supports. OAuth 2.1 §1.3 drops the implicit and
/// password grants; anything else is `unsupported_grant_type` (RFC 6749 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    /// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5).
    AuthorizationCode,
    /// RFC 6749 §6, rotated on every use (OAuth 2.1 §4.3.1).
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
}

impl GrantType {
    /// The grant type named by the `grant_type` parameter.
    pub fn parse(value: &str) -> OAuthResult<Self> {
        match value {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "refresh_token" => Ok(Self::RefreshToken),
            "client_credentials" => Ok(Self::ClientCredentials),
            other => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "grant_type '{}' is not supported",
                    other.chars().take(64).collect::<String>()
                ),
            )),
        }
    }

    /// Its registered name (a bounded metric label and audit value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// A token request as the client sent it, parsed but not yet checked.
pub struct TokenRequest {
    /// The grant asked for.
    pub grant_type: GrantType,
    /// The client's credentials, or why they could not be read (the refusal is
    /// audited like a wrong secret).
    pub credentials: OAuthResult<ClientCredentials>,
    /// `code` (authorization code grant).
    pub code: Option<String>,
    /// `redirect_uri` (authorization code grant).
    pub redirect_uri: Option<String>,
    /// `code_verifier` (PKCE).
    pub code_verifier: Option<String>,
    /// `refresh_token` (refresh grant).
    pub refresh_token: Option<String>,
    /// `scope` (refresh and client credentials grants).
    pub scope: Option<String>,
    /// `resource` (RFC 8707 §2): the API the access token is for; one at most.
    pub resources: Vec<String>,
    /// Who is asking (address and user agent), for the audit event.
    pub actor: Actor,
}

/// What the token endpoint needs of the server, built once at start-up; cheap to
/// clone.
#[derive(Clone)]
pub struct TokenEndpoint {
    db: DatabaseConnection,
    cache: Arc<dyn Cache>,
    keyring: Arc<Keyring>,
    memo: SecretMemo,
    workers: Workers,
    grants: Batcher<UserGrant>,
    audit: GroupWriter,
}

impl TokenEndpoint {
    /// Starts the endpoint's writers on `storage`: user grants group-committed, and
    /// audit events that are a request's only write (client credentials) group-written.
    pub fn start(
        storage: &Storage,
        workers: &Workers,
        cache: Arc<dyn Cache>,
        keyring: Arc<Keyring>,
        memo: SecretMemo,
    ) -> Self {
        Self {
            db: storage.db().clone(),
            cache,
            keyring,
            memo,
            workers: workers.clone(),
            grants: storage.batcher(),
            audit: GroupWriter::start(storage.db().clone(), &storage.runtime()),
        }
    }

    /// Answers `request` to `issuer`'s token endpoint at `now`.
    pub async fn exchange(
        &self,
        issuer: &Issuer,
        request: TokenRequest,
        now: DateTime<Utc>,
    ) -> OAuthResult<TokenResponse> {
        let tenant = TenantCtx::from(issuer.tenant());
        let authenticated = match &request.credentials {
            Ok(credentials) => {
                client_auth::authenticate(&self.db, issuer.resolved(), &self.memo, credentials, now)
                    .await
            }
            Err(unreadable) => Err(unreadable.clone()),
        };
        let client = match authenticated {
            Ok(client) => client,
            Err(err) => {
                let claimed = request.credentials.as_ref().ok().map(|c| c.client_id());
                let event = outcome_event(&tenant, request.grant_type.as_str(), claimed, Err(&err));
                self.audit.record(&request.actor, event, now).await?;
                return Err(err);
            }
        };
        let grant_type = match request.grant_type {
            GrantType::ClientCredentials => {
                return self
                    .client_credentials(issuer, &tenant, &client, &request, now)
                    .await;
            }
            GrantType::AuthorizationCode => UserGrantType::AuthorizationCode,
            GrantType::RefreshToken => UserGrantType::RefreshToken,
        };
        let grant = self
            .user_grant(issuer, client, grant_type, request, now)
            .await?;
        let minted = self.grants.run(grant).await??;
        self.sign(issuer, minted, now).await
    }

    /// A code or refresh grant of the authenticated `client`, as one unit for the
    /// group commit.
    async fn user_grant(
        &self,
        issuer: &Issuer,
        client: entity::clients::Model,
        grant_type: UserGrantType,
        request: TokenRequest,
        now: DateTime<Utc>,
    ) -> OAuthResult<UserGrant> {
        Ok(UserGrant {
            cache: self.cache.clone(),
            keyring: self.keyring.clone(),
            issuer: issuer.clone(),
            actor: request.actor.clone(),
            tenant: TenantCtx::from(issuer.tenant()),
            client,
            now,
            grant_type,
            request,
            effects: Default::default(),
            // Read once per directory entry, before the grant's transaction.
            apis: issuer.resolved().apis(&self.db).await?,
        })
    }

    /// Makes and signs the tokens a grant of `issuer`'s tenant decided.
    async fn sign(
        &self,
        issuer: &Issuer,
        minted: Minted,
        now: DateTime<Utc>,
    ) -> OAuthResult<TokenResponse> {
        let tenant_id = issuer.tenant().id;
        let keys = issuer.keys.clone();
        Ok(minted
            .sign(&self.workers, keys, self.cache.as_ref(), tenant_id, now)
            .await?)
    }

    /// Client credentials have nothing to store but the audit event, so it is
    /// group-written with other requests' events (`journal::audit_batch`), still before
    /// the answer; the token is signed while the event commits and leaves only once
    /// both are done.
    async fn client_credentials(
        &self,
        issuer: &Issuer,
        tenant: &TenantCtx,
        client: &entity::clients::Model,
        request: &TokenRequest,
        now: DateTime<Utc>,
    ) -> OAuthResult<TokenResponse> {
        let result: OAuthResult<Minted> = match one_resource(request) {
            Ok(resource) => {
                client_credentials::grant(
                    &self.db,
                    &issuer.url,
                    issuer.resolved(),
                    client,
                    request.scope.as_deref(),
                    resource,
                    now,
                )
                .await
            }
            Err(err) => Err(err),
        };
        let event = outcome_event(
            tenant,
            GrantType::ClientCredentials.as_str(),
            Some(&client.client_id),
            result.as_ref(),
        );
        let (recorded, signed) =
            tokio::join!(self.audit.record(&request.actor, event, now), async {
                self.sign(issuer, result?, now).await
            });
        recorded?;
        signed
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::{
        cache::memory::MemoryCache,
        core::oauth_error::ErrorCode,
        crypto::MasterKey,
        keys::signing::KeyStore,
        oauth::codes::{self, CodeGrant},
        runtime::batch::Batched,
        tenants::directory::Directory,
        test_support,
    };

    const REDIRECT: &str = "https://app.example/cb";
    const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-long-0123456789";

    /// A tenant with one confidential client, behind a started token endpoint.
    struct World {
        storage: Storage,
        cache: Arc<dyn Cache>,
        endpoint: TokenEndpoint,
        issuer: Issuer,
        client_id: String,
        secret: String,
        user_id: uuid::Uuid,
    }

    impl World {
        async fn new() -> Self {
            let storage = Storage::open(test_support::db().await).unwrap();
            let db = storage.db();
            let now = test_support::now();
            let keyring = Arc::new(Keyring::new(MasterKey::from_bytes(&[7; 32]), []));
            let tenant = crate::tenants::create(
                db,
                &keyring,
                &Actor::system(),
                crate::tenants::NewTenant {
                    slug: "acme".into(),
                    display_name: "Acme".into(),
                    settings: crate::core::SettingsPatch::default(),
                },
                now,
            )
            .await
            .unwrap();
            let ctx = TenantCtx::from(&tenant);
            let created = crate::clients::create(
                db,
                &crate::test_support::workers(),
                &ctx,
                &Actor::system(),
                crate::clients::NewClient {
                    name: "app".into(),
                    client_type: "confidential".into(),
                    redirect_uris: vec![REDIRECT.into()],
                    post_logout_redirect_uris: vec![],
                    grant_types: Some(vec![
                        "authorization_code".into(),
                        "refresh_token".into(),
                        "client_credentials".into(),
                    ]),
                    allowed_scopes: Some(vec![
                        "openid".into(),
                        "offline_access".into(),
                        "api:read".into(),
                    ]),
                    first_party: false,
                    require_pkce: None,
                    token_endpoint_auth_method: None,
                    id_token_signed_response_alg: None,
                },
                now,
            )
            .await
            .unwrap();
            let user = crate::accounts::users::create(
                db,
                &crate::test_support::workers(),
                &ctx,
                &Actor::system(),
                crate::accounts::users::NewUser {
                    username: "ann".into(),
                    email: None,
                    password: None,
                    email_verified: true,
                },
                now,
            )
            .await
            .unwrap();
            let resolved = Directory::default()
                .find_enabled(db, "acme", now)
                .await
                .unwrap()
                .unwrap();
            let keys = KeyStore::new(keyring.clone())
                .get(db, tenant.id, &resolved.settings.algorithms(), now)
                .await
                .unwrap();
            let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new("test"));
            let workers = crate::test_support::workers();
            let endpoint = TokenEndpoint::start(
                &storage,
                &workers,
                cache.clone(),
                keyring,
                SecretMemo::new(workers.clone()),
            );
            Self {
                issuer: Issuer::new(resolved, "https://id.example/t/acme".into(), keys),
                client_id: created.client.client_id,
                secret: created.secret.unwrap().expose_secret().to_owned(),
                user_id: user.id,
                storage,
                cache,
                endpoint,
            }
        }

        fn request(&self, grant_type: GrantType) -> TokenRequest {
            TokenRequest {
                grant_type,
                credentials: Ok(ClientCredentials::Basic {
                    client_id: self.client_id.clone(),
                    secret: self.secret.clone(),
                }),
                code: None,
                redirect_uri: None,
                code_verifier: None,
                refresh_token: None,
                scope: None,
                resources: Vec::new(),
                actor: Actor::system(),
            }
        }

        async fn code(&self) -> String {
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
            let now = test_support::now();
            let grant = CodeGrant {
                client_id: self.client_id.clone(),
                redirect_uri: REDIRECT.into(),
                code_challenge: Some(challenge),
                user_id: self.user_id,
                scope: "openid offline_access".into(),
                resources: Vec::new(),
                nonce: None,
                auth_time: now.timestamp(),
                sid: "sid-1".into(),
                amr: vec!["pwd".into()],
                expires_at: now.timestamp() + 60,
            };
            codes::issue(self.cache.as_ref(), self.issuer.tenant().id, &grant)
                .await
                .unwrap()
        }

        fn redemption(&self, code: &str) -> TokenRequest {
            TokenRequest {
                code: Some(code.into()),
                redirect_uri: Some(REDIRECT.into()),
                code_verifier: Some(VERIFIER.into()),
                ..self.request(GrantType::AuthorizationCode)
            }
        }

        fn refresh(&self, token: &str) -> TokenRequest {
            TokenRequest {
                refresh_token: Some(token.into()),
                ..self.request(GrantType::RefreshToken)
            }
        }

        async fn exchange(&self, request: TokenRequest) -> OAuthResult<TokenResponse> {
            self.endpoint
                .exchange(&self.issuer, request, test_support::now())
                .await
        }

        /// The committed audit events, oldest first: (action, `details.error`).
        async fn audited(&self) -> Vec<(String, Option<String>)> {
            entity::audit_events::Entity::find()
                .order_by_asc(entity::audit_events::Column::Id)
                .all(self.storage.db())
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.action.starts_with("token."))
                .map(|e| {
                    let error = e.details["error"].as_str().map(str::to_owned);
                    (e.action, error)
                })
                .collect()
        }
    }

    fn granted() -> (String, Option<String>) {
        ("token.granted".into(), None)
    }

    fn refused(error: &str) -> (String, Option<String>) {
        ("token.refused".into(), Some(error.into()))
    }

    #[test]
    fn only_the_three_oauth_2_1_grants_parse() {
        for name in ["authorization_code", "refresh_token", "client_credentials"] {
            assert_eq!(GrantType::parse(name).unwrap().as_str(), name);
        }
        for name in ["password", "implicit", "", "Authorization_Code"] {
            let err = GrantType::parse(name).unwrap_err();
            assert_eq!(err.code, ErrorCode::UnsupportedGrantType, "{name}");
        }
    }

    #[tokio::test]
    async fn client_credentials_are_granted_and_audited() {
        let world = World::new().await;
        let request = TokenRequest {
            scope: Some("api:read".into()),
            ..world.request(GrantType::ClientCredentials)
        };
        let tokens = world.exchange(request).await.unwrap();
        assert_eq!(tokens.scope, "api:read");
        assert!(tokens.refresh_token.is_none() && tokens.id_token.is_none());
        assert_eq!(world.audited().await, vec![granted()]);
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_as_invalid_client_and_audited() {
        let world = World::new().await;
        let mut request = world.request(GrantType::ClientCredentials);
        request.credentials = Ok(ClientCredentials::Basic {
            client_id: world.client_id.clone(),
            secret: "wrong".into(),
        });
        let err = world.exchange(request).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClient);
        assert_eq!(world.audited().await, vec![refused("invalid_client")]);
    }

    #[tokio::test]
    async fn unreadable_credentials_are_refused_and_audited_as_presented() {
        let world = World::new().await;
        let mut request = world.request(GrantType::RefreshToken);
        request.credentials = Err(OAuthError::invalid_client());
        let err = world.exchange(request).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClient);
        assert_eq!(world.audited().await, vec![refused("invalid_client")]);
    }

    #[tokio::test]
    async fn a_code_grant_without_its_code_is_an_audited_invalid_request() {
        let world = World::new().await;
        let err = world
            .exchange(world.request(GrantType::AuthorizationCode))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert_eq!(world.audited().await, vec![refused("invalid_request")]);
    }

    #[tokio::test]
    async fn a_code_is_redeemed_once_and_its_replay_revokes_what_it_issued() {
        let world = World::new().await;
        let code = world.code().await;
        let tokens = world.exchange(world.redemption(&code)).await.unwrap();
        assert!(tokens.id_token.is_some());
        let refresh = tokens
            .refresh_token
            .expect("offline_access gives a refresh token");

        let replay = world.exchange(world.redemption(&code)).await.unwrap_err();
        assert_eq!(replay.code, ErrorCode::InvalidGrant);
        // RFC 6749 §4.1.2: the tokens the code issued are revoked with it.
        let after = world.exchange(world.refresh(&refresh)).await.unwrap_err();
        assert_eq!(after.code, ErrorCode::InvalidGrant);
        assert_eq!(
            world.audited().await,
            vec![
                granted(),
                refused("invalid_grant"),
                refused("invalid_grant")
            ]
        );
    }

    #[tokio::test]
    async fn a_code_with_the_wrong_verifier_is_refused_and_audited() {
        let world = World::new().await;
        let code = world.code().await;
        let mut wrong = world.redemption(&code);
        wrong.code_verifier = Some(format!("{VERIFIER}-not"));
        let err = world.exchange(wrong).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert_eq!(world.audited().await, vec![refused("invalid_grant")]);
    }

    #[tokio::test]
    async fn a_replay_in_the_same_batch_revokes_the_successor_the_batch_still_holds() {
        // Two grants presenting the same refresh token share one batch: the first
        // rotates it (its successor is held for the end of the batch), the second is
        // a replay and revokes the family, which must include that successor.
        let world = World::new().await;
        let code = world.code().await;
        let first = world.exchange(world.redemption(&code)).await.unwrap();
        let presented = first.refresh_token.unwrap();
        let client = entity::clients::Entity::find()
            .filter(entity::clients::Column::ClientId.eq(world.client_id.as_str()))
            .one(world.storage.db())
            .await
            .unwrap()
            .unwrap();
        let unit = || async {
            world
                .endpoint
                .user_grant(
                    &world.issuer,
                    client.clone(),
                    UserGrantType::RefreshToken,
                    world.refresh(&presented),
                    test_support::now(),
                )
                .await
                .unwrap()
        };
        let (rotation, replay) = (unit().await, unit().await);
        let txn = sea_orm::TransactionTrait::begin(world.storage.db())
            .await
            .unwrap();
        let rows = crate::runtime::deferred::DeferredRows::deferred();
        let rotated = rotation.write(&txn, &rows).await.unwrap();
        let replayed = replay.write(&txn, &rows).await.unwrap();
        rows.flush(&txn).await.unwrap();
        txn.commit().await.unwrap();
        rotation.committed().await.unwrap();
        replay.committed().await.unwrap();

        assert_eq!(replayed.unwrap_err().code, ErrorCode::InvalidGrant);
        let successor = world
            .endpoint
            .sign(&world.issuer, rotated.unwrap(), test_support::now())
            .await
            .unwrap()
            .refresh_token
            .expect("the rotation minted a successor");
        let refused = world.exchange(world.refresh(&successor)).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidGrant, "{refused:?}");
    }

    #[tokio::test]
    async fn a_refresh_token_rotates_and_its_reuse_revokes_the_family() {
        let world = World::new().await;
        let code = world.code().await;
        let first = world.exchange(world.redemption(&code)).await.unwrap();
        let old = first.refresh_token.unwrap();
        let second = world.exchange(world.refresh(&old)).await.unwrap();
        let new = second.refresh_token.unwrap();
        assert_ne!(old, new);

        // OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2: reuse of a rotated token ends the family.
        // A retry inside the grace window is answered again, so move past it.
        let later = test_support::now() + chrono::Duration::minutes(5);
        let reuse = world
            .endpoint
            .exchange(&world.issuer, world.refresh(&old), later)
            .await
            .unwrap_err();
        assert_eq!(reuse.code, ErrorCode::InvalidGrant);
        let successor = world
            .endpoint
            .exchange(&world.issuer, world.refresh(&new), later)
            .await
            .unwrap_err();
        assert_eq!(successor.code, ErrorCode::InvalidGrant);
        assert_eq!(
            world.audited().await,
            vec![
                granted(),
                granted(),
                refused("invalid_grant"),
                refused("invalid_grant")
            ]
        );
    }
}
