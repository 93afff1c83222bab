//! Passkeys (WebAuthn Level 3, via webauthn-rs): registration of several
//! authenticators per user, and authentication either as a second factor (the user's
//! own credentials are allowed) or passwordless (a discoverable credential names its
//! user through the user handle, which is the user's id).
//!
//! The relying-party id is the host of the public URL and the only allowed origin is
//! the public URL's origin, so a passkey works on every tenant of one deployment but
//! never on another site. webauthn-rs requires a DNS name there: with an IP-address
//! public URL (a development default) passkeys are simply unavailable.
//!
//! Ceremony state stays on the server, in the cache, under the browser session's `sid`
//! for five minutes, and is taken (deleted) by the step that finishes the ceremony, so
//! a challenge can be answered once. Only public keys are stored.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::{passkeys, users};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Webauthn, WebauthnBuilder,
};

use crate::{
    Error, Result,
    cache::Cache,
    core::MfaPolicy,
    core::TenantCtx,
    core::ids,
    journal::audit::{self, Actor, Event},
};

/// The WebAuthn types a caller needs to (de)serialise ceremonies.
pub use webauthn_rs::prelude as webauthn;

const REG_KIND: &str = "passkey_reg";
const AUTH_KIND: &str = "passkey_auth";
/// How long a ceremony may take.
pub const CEREMONY_TTL: Duration = Duration::from_secs(300);
/// Longest passkey name.
pub const MAX_NAME_CHARS: usize = 64;

/// The relying party for `public_url` (RP id = its host, origin = its origin) shown to
/// users as `name`; none when the public URL's host is not a DNS name.
pub fn relying_party(public_url: &str, name: &str) -> Option<Webauthn> {
    let url = Url::parse(public_url).ok()?;
    let host = url.domain()?.to_owned();
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name(name)
        .build()
        .ok()
}

fn credential_id(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

async fn put_state<T: Serialize>(
    cache: &dyn Cache,
    tenant: &TenantCtx,
    kind: &str,
    sid: &str,
    state: &T,
) -> Result<()> {
    let bytes = serde_json::to_vec(state).map_err(internal)?;
    cache
        .set(&cache.key(tenant.id, kind, sid), &bytes, CEREMONY_TTL)
        .await
}

async fn take_state<T: for<'de> Deserialize<'de>>(
    cache: &dyn Cache,
    tenant: &TenantCtx,
    kind: &str,
    sid: &str,
) -> Result<Option<T>> {
    Ok(cache
        .take(&cache.key(tenant.id, kind, sid))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// The user's passkeys.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
) -> Result<Vec<passkeys::Model>> {
    use sea_orm::QueryOrder;
    Ok(passkeys::Entity::find()
        .filter(passkeys::Column::TenantId.eq(tenant.id))
        .filter(passkeys::Column::UserId.eq(user_id))
        .order_by_asc(passkeys::Column::Id)
        .all(db)
        .await?)
}

fn parse(row: &passkeys::Model) -> Result<Passkey> {
    serde_json::from_value(row.passkey.clone()).map_err(internal)
}

#[derive(Serialize, Deserialize)]
struct Registration {
    user_id: Uuid,
    state: PasskeyRegistration,
}

/// Starts registering a passkey for `user` in the browser session `sid`; returns the
/// options for `navigator.credentials.create`.
pub async fn start_registration(
    db: &impl ConnectionTrait,
    cache: &dyn Cache,
    rp: &Webauthn,
    tenant: &TenantCtx,
    user: &users::Model,
    sid: &str,
) -> Result<CreationChallengeResponse> {
    let existing = list(db, tenant, user.id)
        .await?
        .iter()
        .map(|r| parse(r).map(|p| p.cred_id().clone()))
        .collect::<Result<Vec<_>>>()?;
    let display = user.email.as_deref().unwrap_or(&user.username);
    let (mut options, state) = rp
        .start_passkey_registration(user.id, &user.username, display, Some(existing))
        .map_err(internal)?;
    // webauthn-rs asks for a non-discoverable credential (`residentKey: discouraged`),
    // which a browser cannot offer on a login page that names no user: "Sign in with
    // a passkey" would find nothing. Passwordless sign-in needs a client-side
    // discoverable credential (WebAuthn Level 3 §5.4.6), so ask for one where the
    // authenticator can store it; a security key that cannot still serves as a second
    // factor.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Preferred);
    }
    put_state(
        cache,
        tenant,
        REG_KIND,
        sid,
        &Registration {
            user_id: user.id,
            state,
        },
    )
    .await?;
    Ok(options)
}

/// Finishes a registration started in session `sid` for `user_id`; `Ok(None)` when the
/// response does not verify (or no ceremony is pending).
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per input of the step"
)]
pub async fn finish_registration<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    cache: &dyn Cache,
    rp: &Webauthn,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    sid: &str,
    response: &RegisterPublicKeyCredential,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<passkeys::Model>> {
    let name = clean_name(name)?;
    let Some(pending) = take_state::<Registration>(cache, tenant, REG_KIND, sid).await? else {
        return Ok(None);
    };
    if pending.user_id != user_id {
        return Ok(None);
    }
    let Ok(passkey) = rp.finish_passkey_registration(response, &pending.state) else {
        return Ok(None);
    };
    let txn = db.begin().await?;
    let row = passkeys::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant.id),
        user_id: Set(user_id),
        credential_id: Set(credential_id(passkey.cred_id())),
        name: Set(name),
        passkey: Set(serde_json::to_value(&passkey).map_err(internal)?),
        created_at: Set(now),
        last_used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "user.passkey_registered",
            format!("user:{user_id}"),
        )
        .with_details(serde_json::json!({ "passkey_id": row.id, "name": row.name })),
        crate::journal::alerts::kinds::MFA_ADDED,
            serde_json::json!({ "user_id": user_id, "factor": "passkey", "passkey_id": row.id, "name": row.name, "actor": actor.id, "ip": actor.ip }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Some(row))
}

fn clean_name(name: &str) -> Result<String> {
    let name = name.trim();
    let name = if name.is_empty() { "Passkey" } else { name };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

#[derive(Serialize, Deserialize)]
enum Authentication {
    /// A second factor for a known user: only their credentials are allowed.
    Known {
        user_id: Uuid,
        state: PasskeyAuthentication,
    },
    /// Passwordless: the authenticator names the user.
    Discoverable { state: DiscoverableAuthentication },
}

/// Starts an authentication in session `sid`: for `user_id`'s passkeys (second factor)
/// or, with none, for any discoverable passkey (passwordless). `Ok(None)` when the
/// user has no passkey.
pub async fn start_authentication(
    db: &impl ConnectionTrait,
    cache: &dyn Cache,
    rp: &Webauthn,
    tenant: &TenantCtx,
    user_id: Option<Uuid>,
    sid: &str,
) -> Result<Option<RequestChallengeResponse>> {
    let (options, state) = match user_id {
        Some(user_id) => {
            let keys = list(db, tenant, user_id)
                .await?
                .iter()
                .map(parse)
                .collect::<Result<Vec<_>>>()?;
            if keys.is_empty() {
                return Ok(None);
            }
            let (options, state) = rp.start_passkey_authentication(&keys).map_err(internal)?;
            (options, Authentication::Known { user_id, state })
        }
        None => {
            let (mut options, state) = rp.start_discoverable_authentication().map_err(internal)?;
            // A button starts this ceremony, so the browser should show its dialog
            // rather than wait for autofill (conditional mediation).
            options.mediation = None;
            (options, Authentication::Discoverable { state })
        }
    };
    put_state(cache, tenant, AUTH_KIND, sid, &state).await?;
    Ok(Some(options))
}

/// A verified passkey authentication.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The user.
    pub user_id: Uuid,
    /// `hwk` or `swk` (see the module docs of [`super`]).
    pub amr: &'static str,
    /// The passkey used.
    pub passkey_id: Uuid,
}

/// Finishes an authentication started in session `sid`; `Ok(None)` when the response
/// does not verify, names an unknown credential, or no ceremony is pending.
pub async fn finish_authentication(
    db: &impl ConnectionTrait,
    cache: &dyn Cache,
    rp: &Webauthn,
    tenant: &TenantCtx,
    sid: &str,
    response: &PublicKeyCredential,
    now: DateTime<Utc>,
) -> Result<Option<Verified>> {
    let Some(state) = take_state::<Authentication>(cache, tenant, AUTH_KIND, sid).await? else {
        return Ok(None);
    };
    let cred_id = credential_id(response.get_credential_id());
    let row = passkeys::Entity::find()
        .filter(passkeys::Column::TenantId.eq(tenant.id))
        .filter(passkeys::Column::CredentialId.eq(&cred_id))
        .one(db)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut passkey = parse(&row)?;
    let result = match state {
        Authentication::Known { user_id, state } => {
            if row.user_id != user_id {
                return Ok(None);
            }
            rp.finish_passkey_authentication(response, &state)
        }
        Authentication::Discoverable { state } => {
            match rp.identify_discoverable_authentication(response) {
                Ok((user_id, _)) if user_id == row.user_id => {}
                _ => return Ok(None),
            }
            rp.finish_discoverable_authentication_v2(response, state, &passkey)
        }
    };
    let Ok(result) = result else {
        return Ok(None);
    };
    let _ = passkey.update_credential(&result);
    let amr = if result.backup_eligible() {
        crate::core::amr::AMR_SWK
    } else {
        crate::core::amr::AMR_HWK
    };
    let mut model = row.clone().into_active_model();
    model.passkey = Set(serde_json::to_value(&passkey).map_err(internal)?);
    model.last_used_at = Set(Some(now));
    model.update(db).await?;
    Ok(Some(Verified {
        user_id: row.user_id,
        amr,
        passkey_id: row.id,
    }))
}

/// Renames one of the user's passkeys.
pub async fn rename<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    passkey_id: Uuid,
    name: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let name = clean_name(name)?;
    let txn = db.begin().await?;
    let row = find(&txn, tenant, user_id, passkey_id).await?;
    let mut model = row.into_active_model();
    model.name = Set(name.clone());
    model.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "user.passkey_renamed",
            format!("user:{user_id}"),
        )
        .with_details(serde_json::json!({ "passkey_id": passkey_id, "name": name })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

async fn find(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
    passkey_id: Uuid,
) -> Result<passkeys::Model> {
    passkeys::Entity::find()
        .filter(passkeys::Column::TenantId.eq(tenant.id))
        .filter(passkeys::Column::UserId.eq(user_id))
        .filter(passkeys::Column::Id.eq(passkey_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("passkey"))
}

/// Removes one of the user's passkeys; refused when it is the last factor under the
/// `required` policy.
pub async fn remove<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    policy: MfaPolicy,
    user_id: Uuid,
    passkey_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let row = find(&txn, tenant, user_id, passkey_id).await?;
    super::ensure_removable(&txn, tenant, policy, user_id).await?;
    passkeys::Entity::delete_by_id(row.id).exec(&txn).await?;
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "user.passkey_removed",
            format!("user:{user_id}"),
        )
        .with_details(serde_json::json!({ "passkey_id": passkey_id, "name": row.name })),
        crate::journal::alerts::kinds::MFA_REMOVED,
            serde_json::json!({ "user_id": user_id, "factor": "passkey", "passkey_id": passkey_id, "actor": actor.id }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkeys_need_a_dns_name_in_the_public_url() {
        assert!(relying_party("https://id.example.com", "Acme").is_some());
        assert!(relying_party("http://localhost:8080", "Acme").is_some());
        assert!(relying_party("http://127.0.0.1:8080", "Acme").is_none());
    }
}
