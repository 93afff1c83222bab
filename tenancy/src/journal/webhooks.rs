//! Webhook endpoints: where a tenant's security alerts are POSTed, which event types
//! each receives, and the secret that signs them.
//!
//! Secrets follow Standard Webhooks: `whsec_` followed by base64 of 32 random bytes;
//! the receiver HMACs with the decoded bytes. The secret is shown once, when the
//! endpoint is created (or its secret rotated), and stored encrypted under the master
//! keyring, bound to its row. This module checks URL syntax only; whether the target
//! resolves to a permitted address is the `webhooks` crate's SSRF guard, checked by
//! the API before it calls in here and again before every delivery.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use entity::{alert_attempts, alert_deliveries, webhook_endpoints};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Error, Result,
    core::TenantCtx,
    core::ids,
    core::pagination::{Page, PageRequest},
    core::validate::Problems,
    crypto::Keyring,
    crypto::secrets,
    journal::alerts::kinds,
    journal::audit::{self, Actor, Event},
};

/// Prefix of every webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Most endpoints one tenant may register.
pub const MAX_ENDPOINTS: u64 = 20;

/// What a caller supplies to create an endpoint.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    /// `https://...` (or `http://...`) URL of the receiver.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Event types to deliver; empty for all.
    pub event_types: Vec<String>,
    /// Whether it receives events.
    pub enabled: bool,
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    /// New URL.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New filter (empty for all).
    pub event_types: Option<Vec<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// Checks a receiver URL's syntax: absolute `http`/`https`, a host, no credentials,
/// no fragment, at most 2,048 characters.
pub fn validate_url(value: &str) -> std::result::Result<url::Url, String> {
    if value.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let url = url::Url::parse(value).map_err(|_| "must be an absolute URL".to_owned())?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("must be an https (or http) URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    Ok(url)
}

fn validate_event_types(problems: &mut Problems, types: &[String]) {
    if types.len() > kinds::ALL.len() {
        problems.add("event_types", "too many event types");
    }
    for (i, t) in types.iter().enumerate() {
        if !kinds::ALL.contains(&t.as_str()) {
            problems.add(
                format!("event_types[{i}]"),
                format!("unknown event type; known: {}", kinds::ALL.join(", ")),
            );
        }
    }
}

fn validate_description(problems: &mut Problems, description: &str) {
    if description.chars().count() > 500 || description.chars().any(char::is_control) {
        problems.add(
            "description",
            "must be at most 500 characters without control characters",
        );
    }
}

fn secret_aad(tenant_id: Uuid, id: Uuid) -> String {
    format!("webhook_secret:{tenant_id}:{id}")
}

/// A fresh `whsec_...` secret.
fn new_secret() -> Result<SecretString> {
    Ok(SecretString::from(format!(
        "{SECRET_PREFIX}{}",
        STANDARD.encode(secrets::random_bytes::<32>()?)
    )))
}

/// The endpoint's signing secret, decrypted.
pub fn secret(keyring: &Keyring, endpoint: &webhook_endpoints::Model) -> Result<SecretString> {
    let bytes = keyring.decrypt(
        &endpoint.secret_enc,
        &secret_aad(endpoint.tenant_id, endpoint.id),
    )?;
    String::from_utf8(bytes)
        .map(SecretString::from)
        .map_err(|_| Error::Internal("stored webhook secret is not text".into()))
}

/// The endpoint's event-type filter.
pub fn event_types(endpoint: &webhook_endpoints::Model) -> Vec<String> {
    serde_json::from_value(endpoint.event_types.clone()).unwrap_or_default()
}

/// Registers an endpoint; returns it and its secret (to be shown this once).
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    tenant: &TenantCtx,
    actor: &Actor,
    input: NewEndpoint,
    now: DateTime<Utc>,
) -> Result<(webhook_endpoints::Model, SecretString)> {
    let mut problems = Problems::default();
    problems.check("url", validate_url(&input.url).map(|_| ()));
    validate_description(&mut problems, &input.description);
    validate_event_types(&mut problems, &input.event_types);
    problems.finish()?;
    let txn = db.begin().await?;
    let existing = webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::TenantId.eq(tenant.id))
        .limit(MAX_ENDPOINTS)
        .all(&txn)
        .await?;
    if existing.len() as u64 >= MAX_ENDPOINTS {
        return Err(Error::Conflict(format!(
            "a tenant may have at most {MAX_ENDPOINTS} webhook endpoints"
        )));
    }
    let id = ids::new_id(now);
    let secret = new_secret()?;
    let endpoint = webhook_endpoints::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.id),
        url: Set(input.url),
        description: Set(input.description),
        event_types: Set(json!(input.event_types)),
        secret_enc: Set(keyring.encrypt(
            secret.expose_secret().as_bytes(),
            &secret_aad(tenant.id, id),
        )?),
        enabled: Set(input.enabled),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "webhook.created", format!("webhook:{id}"))
            .with_details(json!({ "url": endpoint.url, "event_types": endpoint.event_types })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok((endpoint, secret))
}

/// One endpoint of the tenant.
pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    id: Uuid,
) -> Result<webhook_endpoints::Model> {
    webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::TenantId.eq(tenant.id))
        .filter(webhook_endpoints::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("webhook endpoint"))
}

/// A page of the tenant's endpoints, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    page: PageRequest,
) -> Result<Page<webhook_endpoints::Model>> {
    let query =
        webhook_endpoints::Entity::find().filter(webhook_endpoints::Column::TenantId.eq(tenant.id));
    page.fetch(db, query, webhook_endpoints::Column::Id, |e| e.id)
        .await
}

/// Applies `patch` to an endpoint.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    patch: EndpointPatch,
    now: DateTime<Utc>,
) -> Result<webhook_endpoints::Model> {
    let mut problems = Problems::default();
    if let Some(url) = &patch.url {
        problems.check("url", validate_url(url).map(|_| ()));
    }
    if let Some(description) = &patch.description {
        validate_description(&mut problems, description);
    }
    if let Some(types) = &patch.event_types {
        validate_event_types(&mut problems, types);
    }
    problems.finish()?;
    let txn = db.begin().await?;
    let endpoint = get(&txn, tenant, id).await?;
    let mut model = endpoint.into_active_model();
    if let Some(url) = patch.url {
        model.url = Set(url);
    }
    if let Some(description) = patch.description {
        model.description = Set(description);
    }
    if let Some(types) = patch.event_types {
        model.event_types = Set(json!(types));
    }
    if let Some(enabled) = patch.enabled {
        model.enabled = Set(enabled);
    }
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "webhook.updated", format!("webhook:{id}")).with_details(
            json!({ "url": updated.url, "event_types": updated.event_types, "enabled": updated.enabled }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Replaces an endpoint's secret; returns the new one (shown once). The old secret
/// stops signing at once.
pub async fn rotate_secret<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(webhook_endpoints::Model, SecretString)> {
    let secret = new_secret()?;
    let txn = db.begin().await?;
    let endpoint = get(&txn, tenant, id).await?;
    let mut model = endpoint.into_active_model();
    model.secret_enc = Set(keyring.encrypt(
        secret.expose_secret().as_bytes(),
        &secret_aad(tenant.id, id),
    )?);
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "webhook.secret_rotated",
            format!("webhook:{id}"),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok((updated, secret))
}

/// Deletes an endpoint with its deliveries and their log.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let endpoint = get(&txn, tenant, id).await?;
    let deliveries: Vec<Uuid> = alert_deliveries::Entity::find()
        .filter(alert_deliveries::Column::TenantId.eq(tenant.id))
        .filter(alert_deliveries::Column::EndpointId.eq(endpoint.id))
        .select_only()
        .column(alert_deliveries::Column::Id)
        .into_tuple()
        .all(&txn)
        .await?;
    for chunk in deliveries.chunks(500) {
        alert_attempts::Entity::delete_many()
            .filter(alert_attempts::Column::TenantId.eq(tenant.id))
            .filter(alert_attempts::Column::DeliveryId.is_in(chunk.iter().copied()))
            .exec(&txn)
            .await?;
    }
    alert_deliveries::Entity::delete_many()
        .filter(alert_deliveries::Column::TenantId.eq(tenant.id))
        .filter(alert_deliveries::Column::EndpointId.eq(endpoint.id))
        .exec(&txn)
        .await?;
    webhook_endpoints::Entity::delete_by_id(endpoint.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "webhook.deleted", format!("webhook:{id}")),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Re-encrypts every webhook secret not yet under the current master key (master-key
/// rotation); returns how many were re-encrypted.
pub async fn reencrypt_all(db: &impl ConnectionTrait, keyring: &Keyring) -> Result<u64> {
    use sea_orm::sea_query::Expr;
    let mut done = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let mut query =
            webhook_endpoints::Entity::find().order_by_asc(webhook_endpoints::Column::Id);
        if let Some(id) = after {
            query = query.filter(webhook_endpoints::Column::Id.gt(id));
        }
        let batch = query.limit(200).all(db).await?;
        let Some(last) = batch.last() else {
            return Ok(done);
        };
        after = Some(last.id);
        for endpoint in batch.iter().filter(|e| !keyring.is_current(&e.secret_enc)) {
            let plain = secret(keyring, endpoint)?;
            let fresh = keyring.encrypt(
                plain.expose_secret().as_bytes(),
                &secret_aad(endpoint.tenant_id, endpoint.id),
            )?;
            let updated = webhook_endpoints::Entity::update_many()
                .col_expr(webhook_endpoints::Column::SecretEnc, Expr::value(fresh))
                .filter(webhook_endpoints::Column::Id.eq(endpoint.id))
                .filter(webhook_endpoints::Column::SecretEnc.eq(endpoint.secret_enc.clone()))
                .exec(db)
                .await?;
            done += updated.rows_affected;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_urls_must_be_absolute_http_without_credentials() {
        assert!(validate_url("https://hooks.example.com/in?x=1").is_ok());
        assert!(
            validate_url("http://127.0.0.1:9000/").is_ok(),
            "syntax only"
        );
        for bad in [
            "ftp://example.com/",
            "/relative",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "not a url",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_whsec_with_32_base64_bytes() {
        let secret = new_secret().unwrap();
        let body = secret.expose_secret().strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(STANDARD.decode(body).unwrap().len(), 32);
    }
}
