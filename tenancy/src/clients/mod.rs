//! OAuth clients: registration, updates, deletion and secret rotation.
//!
//! Confidential clients get a server-generated 256-bit secret, shown once and stored
//! as Argon2id. Public clients have no secret and must always use PKCE (OAuth 2.1
//! §7.5.1, RFC 9700 §2.1.1). Rotation can keep the previous secret valid for a grace
//! period so a deployment can roll the new secret out without downtime.
//!
//! Each client is registered with one `token_endpoint_auth_method` (OIDC Dynamic
//! Client Registration §2) and authenticates only that way (`client_auth`):
//! confidential clients `client_secret_basic` (the default, as in OIDC Registration)
//! or `client_secret_post`, public clients always `none`. Clients registered before
//! the method was stored got the same defaults (migration `m20261203_000040`).
//!
//! Layering (see the crate doc): may import `core`, `runtime`, `crypto`, `cache`,
//! `journal`, `keys` and `management`.

pub mod redirect_uri;

use chrono::{DateTime, Duration, Utc};
use entity::clients;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionSession, TransactionTrait,
};
use serde_json::json;

use crate::{
    Error, Result,
    core::TenantCtx,
    core::ids,
    core::pagination::{Page, PageRequest},
    core::validate::{self, Problems},
    crypto::secrets,
    journal::audit::{self, Actor, Event},
    runtime::Workers,
};

/// Grant types a client may be registered for (OAuth 2.1 has no implicit or password).
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];
/// Scopes granted to a client that does not list its own.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];
/// `token_endpoint_auth_method`: the secret in HTTP Basic (RFC 6749 §2.3.1).
pub const AUTH_BASIC: &str = "client_secret_basic";
/// `token_endpoint_auth_method`: the secret in the form body (RFC 6749 §2.3.1).
pub const AUTH_POST: &str = "client_secret_post";
/// `token_endpoint_auth_method`: no secret (public clients, PKCE only).
pub const AUTH_NONE: &str = "none";
/// Every `token_endpoint_auth_method` a client may be registered with.
pub const AUTH_METHODS: &[&str] = &[AUTH_BASIC, AUTH_POST, AUTH_NONE];
/// Longest grace period for a rotated-out secret (30 days).
pub const MAX_SECRET_GRACE_SECS: u32 = 30 * 86_400;

/// RFC 6749 §2.1 client types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientType {
    /// Can keep a secret (server-side apps).
    Confidential,
    /// Cannot keep a secret (SPAs, native apps).
    Public,
}

impl ClientType {
    /// Parses the API/storage name.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            _ => Err("must be 'confidential' or 'public'".into()),
        }
    }

    /// The API/storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

/// What a caller supplies to register a client.
#[derive(Clone, Debug)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// `confidential` or `public`.
    pub client_type: String,
    /// Redirect URIs, matched exactly at authorization time.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Grant types; default `authorization_code` + `refresh_token`.
    pub grant_types: Option<Vec<String>>,
    /// Scopes the client may request; default `openid profile email offline_access`.
    pub allowed_scopes: Option<Vec<String>>,
    /// Skip the consent page.
    pub first_party: bool,
    /// Require PKCE (default true; only confidential clients may opt out).
    pub require_pkce: Option<bool>,
    /// How the client authenticates at the token endpoint (default
    /// `client_secret_basic` for confidential clients, `none` for public ones).
    pub token_endpoint_auth_method: Option<String>,
    /// The JWS algorithm of its ID tokens (OIDC Registration §2), one of the
    /// tenant's; none: the tenant's preferred one.
    pub id_token_signed_response_alg: Option<String>,
}

/// Changes to a client; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct ClientPatch {
    /// New display name.
    pub name: Option<String>,
    /// New redirect URIs (replace the list).
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs (replace the list).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// New grant types.
    pub grant_types: Option<Vec<String>>,
    /// New allowed scopes.
    pub allowed_scopes: Option<Vec<String>>,
    /// First-party flag.
    pub first_party: Option<bool>,
    /// PKCE requirement.
    pub require_pkce: Option<bool>,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: Option<String>,
    /// The JWS algorithm of its ID tokens, or (`Some(None)`) back to the tenant's.
    pub id_token_signed_response_alg: Option<Option<String>>,
}

/// A client as returned once at creation or rotation, with its plaintext secret.
#[derive(Debug)]
pub struct ClientWithSecret {
    /// The stored client.
    pub client: clients::Model,
    /// The new secret; none for public clients. Shown once, never stored.
    pub secret: Option<secrecy::SecretString>,
}

/// The registration fields after validation, shared by create and update.
struct Registration {
    client_type: ClientType,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    allowed_scopes: Vec<String>,
    require_pkce: bool,
    token_endpoint_auth_method: String,
}

/// The method a client of `client_type` is registered with when none is given.
fn default_auth_method(client_type: ClientType) -> &'static str {
    match client_type {
        ClientType::Confidential => AUTH_BASIC,
        ClientType::Public => AUTH_NONE,
    }
}

impl Registration {
    fn check(&self, problems: &mut Problems) {
        let method = self.token_endpoint_auth_method.as_str();
        if !AUTH_METHODS.contains(&method) {
            problems.add(
                "token_endpoint_auth_method",
                format!("must be one of {}", AUTH_METHODS.join(", ")),
            );
        } else if (self.client_type == ClientType::Public) != (method == AUTH_NONE) {
            problems.add(
                "token_endpoint_auth_method",
                "public clients use 'none'; confidential clients client_secret_basic or client_secret_post",
            );
        }
        check_uri_list(problems, "redirect_uris", &self.redirect_uris);
        check_uri_list(
            problems,
            "post_logout_redirect_uris",
            &self.post_logout_redirect_uris,
        );
        if self.grant_types.is_empty() {
            problems.add("grant_types", "must list at least one grant type");
        }
        for (i, g) in self.grant_types.iter().enumerate() {
            if !GRANT_TYPES.contains(&g.as_str()) {
                problems.add(
                    format!("grant_types[{i}]"),
                    format!("must be one of {}", GRANT_TYPES.join(", ")),
                );
            }
        }
        let has = |g: &str| self.grant_types.iter().any(|x| x == g);
        if has("authorization_code") && self.redirect_uris.is_empty() {
            problems.add(
                "redirect_uris",
                "the authorization_code grant needs at least one redirect URI",
            );
        }
        if has("refresh_token") && !has("authorization_code") {
            problems.add(
                "grant_types",
                "refresh_token is only issued with authorization_code",
            );
        }
        if self.client_type == ClientType::Public {
            if has("client_credentials") {
                problems.add(
                    "grant_types",
                    "public clients cannot use client_credentials (RFC 6749 §4.4)",
                );
            }
            if !self.require_pkce {
                problems.add(
                    "require_pkce",
                    "public clients must use PKCE (OAuth 2.1 §7.5.1)",
                );
            }
        }
        if self.allowed_scopes.len() > 100 {
            problems.add("allowed_scopes", "at most 100 scopes");
        }
        for (i, s) in self.allowed_scopes.iter().enumerate() {
            problems.check(format!("allowed_scopes[{i}]"), validate::scope_token(s));
        }
    }
}

/// Checks `id_token_signed_response_alg` against the algorithms tenant `tenant`
/// publishes keys for (OIDC Registration §2: the ID token must be signed with it).
async fn check_id_token_alg(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    alg: Option<&str>,
    problems: &mut Problems,
) -> Result<()> {
    if let Some(alg) = alg {
        tenant.stored_settings(db).await?.check_signing_alg(
            "id_token_signed_response_alg",
            alg,
            problems,
        );
    }
    Ok(())
}

fn check_uri_list(problems: &mut Problems, field: &str, uris: &[String]) {
    if uris.len() > 50 {
        problems.add(field, "at most 50 URIs");
    }
    for (i, uri) in uris.iter().enumerate() {
        problems.check(format!("{field}[{i}]"), redirect_uri::validate(uri));
        if uris.get(..i).is_some_and(|before| before.contains(uri)) {
            problems.add(format!("{field}[{i}]"), "is listed twice");
        }
    }
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// The stored list of redirect URIs of a client.
pub fn redirect_uris(client: &clients::Model) -> Vec<String> {
    strings(&client.redirect_uris)
}
/// The stored list of post-logout redirect URIs of a client.
pub fn post_logout_redirect_uris(client: &clients::Model) -> Vec<String> {
    strings(&client.post_logout_redirect_uris)
}
/// The stored grant types of a client.
pub fn grant_types(client: &clients::Model) -> Vec<String> {
    strings(&client.grant_types)
}
/// The stored allowed scopes of a client.
pub fn allowed_scopes(client: &clients::Model) -> Vec<String> {
    strings(&client.allowed_scopes)
}

async fn new_secret(workers: &Workers) -> Result<(secrecy::SecretString, String)> {
    let secret = secrets::random_token("")?;
    let hash = secrets::hash_password(workers, secret.clone()).await?;
    Ok((secrecy::SecretString::from(secret), hash))
}

/// Registers a client; confidential clients get a secret, returned once.
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    workers: &Workers,
    tenant: &TenantCtx,
    actor: &Actor,
    input: NewClient,
    now: DateTime<Utc>,
) -> Result<ClientWithSecret> {
    let mut problems = Problems::default();
    problems.check("name", validate::display_name(&input.name));
    let client_type = match ClientType::parse(&input.client_type) {
        Ok(t) => t,
        Err(msg) => {
            problems.add("client_type", msg);
            ClientType::Confidential
        }
    };
    let registration = Registration {
        client_type,
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        grant_types: input
            .grant_types
            .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]),
        allowed_scopes: input
            .allowed_scopes
            .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()),
        require_pkce: input.require_pkce.unwrap_or(true),
        token_endpoint_auth_method: input
            .token_endpoint_auth_method
            .unwrap_or_else(|| default_auth_method(client_type).to_owned()),
    };
    registration.check(&mut problems);
    check_id_token_alg(
        db,
        tenant,
        input.id_token_signed_response_alg.as_deref(),
        &mut problems,
    )
    .await?;
    problems.finish()?;

    let secret = match client_type {
        ClientType::Confidential => Some(new_secret(workers).await?),
        ClientType::Public => None,
    };
    let client_id = secrets::random_token("")?
        .chars()
        .take(22)
        .collect::<String>();

    let txn = db.begin().await?;
    let client = clients::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant.id),
        client_id: Set(client_id),
        name: Set(input.name),
        client_type: Set(client_type.as_str().to_owned()),
        redirect_uris: Set(json!(registration.redirect_uris)),
        post_logout_redirect_uris: Set(json!(registration.post_logout_redirect_uris)),
        grant_types: Set(json!(registration.grant_types)),
        allowed_scopes: Set(json!(registration.allowed_scopes)),
        first_party: Set(input.first_party),
        require_pkce: Set(registration.require_pkce),
        token_endpoint_auth_method: Set(registration.token_endpoint_auth_method),
        id_token_signed_response_alg: Set(input.id_token_signed_response_alg),
        secret_hash: Set(secret.as_ref().map(|(_, hash)| hash.clone())),
        previous_secret_hash: Set(None),
        previous_secret_expires_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "client.created",
            format!("client:{}", client.client_id),
        )
        .with_details(json!({
            "client_type": client.client_type,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
        })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(ClientWithSecret {
        client,
        secret: secret.map(|(plain, _)| plain),
    })
}

/// One client of the tenant by its `client_id`.
pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    client_id: &str,
) -> Result<clients::Model> {
    clients::Entity::find()
        .filter(clients::Column::TenantId.eq(tenant.id))
        .filter(clients::Column::ClientId.eq(client_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("client"))
}

/// A page of the tenant's clients, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    page: PageRequest,
) -> Result<Page<clients::Model>> {
    let query = clients::Entity::find().filter(clients::Column::TenantId.eq(tenant.id));
    page.fetch(db, query, clients::Column::Id, |c| c.id).await
}

/// Applies `patch` to a client after re-checking the whole registration.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    client_id: &str,
    patch: ClientPatch,
    now: DateTime<Utc>,
) -> Result<clients::Model> {
    let txn = db.begin().await?;
    let client = get(&txn, tenant, client_id).await?;
    let client_type = ClientType::parse(&client.client_type).map_err(Error::Internal)?;
    let registration = Registration {
        client_type,
        redirect_uris: patch
            .redirect_uris
            .unwrap_or_else(|| redirect_uris(&client)),
        post_logout_redirect_uris: patch
            .post_logout_redirect_uris
            .unwrap_or_else(|| post_logout_redirect_uris(&client)),
        grant_types: patch.grant_types.unwrap_or_else(|| grant_types(&client)),
        allowed_scopes: patch
            .allowed_scopes
            .unwrap_or_else(|| allowed_scopes(&client)),
        require_pkce: patch.require_pkce.unwrap_or(client.require_pkce),
        token_endpoint_auth_method: patch
            .token_endpoint_auth_method
            .unwrap_or_else(|| client.token_endpoint_auth_method.clone()),
    };
    let mut problems = Problems::default();
    if let Some(name) = &patch.name {
        problems.check("name", validate::display_name(name));
    }
    registration.check(&mut problems);
    if let Some(Some(alg)) = &patch.id_token_signed_response_alg {
        check_id_token_alg(&txn, tenant, Some(alg), &mut problems).await?;
    }
    problems.finish()?;

    let target = format!("client:{}", client.client_id);
    let mut model = client.into_active_model();
    if let Some(name) = patch.name {
        model.name = Set(name);
    }
    if let Some(first_party) = patch.first_party {
        model.first_party = Set(first_party);
    }
    model.redirect_uris = Set(json!(registration.redirect_uris));
    model.post_logout_redirect_uris = Set(json!(registration.post_logout_redirect_uris));
    model.grant_types = Set(json!(registration.grant_types));
    model.allowed_scopes = Set(json!(registration.allowed_scopes));
    model.require_pkce = Set(registration.require_pkce);
    model.token_endpoint_auth_method = Set(registration.token_endpoint_auth_method);
    if let Some(alg) = patch.id_token_signed_response_alg {
        model.id_token_signed_response_alg = Set(alg);
    }
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "client.updated", target),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a client.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let client = get(&txn, tenant, client_id).await?;
    // Its refresh tokens and the consents given to it go with it.
    entity::refresh_tokens::Entity::delete_many()
        .filter(entity::refresh_tokens::Column::TenantId.eq(tenant.id))
        .filter(entity::refresh_tokens::Column::ClientId.eq(client.client_id.as_str()))
        .exec(&txn)
        .await?;
    entity::consents::Entity::delete_many()
        .filter(entity::consents::Column::TenantId.eq(tenant.id))
        .filter(entity::consents::Column::ClientId.eq(client.client_id.as_str()))
        .exec(&txn)
        .await?;
    // And its machine access to APIs.
    entity::client_grants::Entity::delete_many()
        .filter(entity::client_grants::Column::TenantId.eq(tenant.id))
        .filter(entity::client_grants::Column::ClientId.eq(client.client_id.as_str()))
        .exec(&txn)
        .await?;
    clients::Entity::delete_by_id(client.id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "client.deleted",
            format!("client:{}", client.client_id),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Replaces a confidential client's secret; with `grace_secs > 0` the old secret keeps
/// working until then (at most [`MAX_SECRET_GRACE_SECS`]), otherwise it dies at once.
pub async fn rotate_secret<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    workers: &Workers,
    tenant: &TenantCtx,
    actor: &Actor,
    client_id: &str,
    grace_secs: u32,
    now: DateTime<Utc>,
) -> Result<ClientWithSecret> {
    if grace_secs > MAX_SECRET_GRACE_SECS {
        return Err(Error::invalid(
            "grace_period_secs",
            format!("must be at most {MAX_SECRET_GRACE_SECS}"),
        ));
    }
    // The cheap checks (the client exists and has a secret) come before Argon2id, and
    // the hash is made before the transaction so no connection waits on it.
    let is_confidential =
        |client: &clients::Model| client.client_type == ClientType::Confidential.as_str();
    if !is_confidential(&get(db, tenant, client_id).await?) {
        return Err(Error::invalid(
            "client_id",
            "public clients have no secret to rotate",
        ));
    }
    let (plain, hash) = new_secret(workers).await?;
    let txn = db.begin().await?;
    let client = get(&txn, tenant, client_id).await?;
    if !is_confidential(&client) {
        return Err(Error::invalid(
            "client_id",
            "public clients have no secret to rotate",
        ));
    }
    let target = format!("client:{}", client.client_id);
    let old_hash = client.secret_hash.clone();
    let mut model = client.into_active_model();
    model.secret_hash = Set(Some(hash));
    if grace_secs > 0 {
        model.previous_secret_hash = Set(old_hash);
        model.previous_secret_expires_at =
            Set(Some(now + Duration::seconds(i64::from(grace_secs))));
    } else {
        model.previous_secret_hash = Set(None);
        model.previous_secret_expires_at = Set(None);
    }
    model.updated_at = Set(now);
    let client = model.update(&txn).await?;
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(Some(tenant.id), "client.secret_rotated", target)
            .with_details(json!({ "grace_period_secs": grace_secs })),
        crate::journal::alerts::kinds::CLIENT_SECRET_ROTATED,
            json!({ "client_id": client.client_id, "grace_period_secs": grace_secs, "actor": actor.id }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(ClientWithSecret {
        client,
        secret: Some(plain),
    })
}
