//! Client grants: the API scopes a client may get for itself with client credentials
//! (RFC 6749 §4.4). Without a grant for an API, a client gets no token for it
//! (`invalid_target`, RFC 8707 §2).

use chrono::{DateTime, Utc};
use entity::client_grants;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Error, Result,
    core::TenantCtx,
    core::ids,
    core::pagination::{Page, PageRequest},
    core::validate::Problems,
    journal::audit::{self, Actor, Event},
    resources::apis,
};

/// What a caller supplies to grant a client machine access to an API.
#[derive(Clone, Debug)]
pub struct NewClientGrant {
    /// The client's `client_id`.
    pub client_id: String,
    /// The API.
    pub api_id: Uuid,
    /// Scopes of that API.
    pub scopes: Vec<String>,
}

/// The stored scopes of a grant.
pub fn scopes(grant: &client_grants::Model) -> Vec<String> {
    serde_json::from_value(grant.scopes.clone()).unwrap_or_default()
}

async fn check_scopes(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    api_id: Uuid,
    requested: &[String],
) -> Result<()> {
    let api = apis::get(db, tenant, api_id).await?;
    let defined = apis::scopes(&api);
    let mut problems = Problems::default();
    for (i, scope) in requested.iter().enumerate() {
        if !defined.iter().any(|s| &s.value == scope) {
            problems.add(format!("scopes[{i}]"), "is not a scope of this API");
        } else if requested.iter().take(i).any(|s| s == scope) {
            problems.add(format!("scopes[{i}]"), "is listed twice");
        }
    }
    problems.finish()
}

/// Grants a client scopes of an API (one grant per client and API).
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    input: NewClientGrant,
    now: DateTime<Utc>,
) -> Result<client_grants::Model> {
    let txn = db.begin().await?;
    let client = crate::clients::get(&txn, tenant, &input.client_id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => Error::invalid("client_id", "no such client in this tenant"),
            other => other,
        })?;
    if apis::get(&txn, tenant, input.api_id).await.is_err() {
        return Err(Error::invalid("api_id", "no such API in this tenant"));
    }
    check_scopes(&txn, tenant, input.api_id, &input.scopes).await?;
    if find(&txn, tenant, &client.client_id, input.api_id)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(
            "this client already has a grant for this API".into(),
        ));
    }
    let grant = client_grants::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant.id),
        client_id: Set(client.client_id),
        api_id: Set(input.api_id),
        scopes: Set(json!(input.scopes)),
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
            "client_grant.created",
            format!("client:{}", grant.client_id),
        )
        .with_details(json!({ "api_id": grant.api_id, "scopes": grant.scopes })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(grant)
}

/// One grant by id.
pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    id: Uuid,
) -> Result<client_grants::Model> {
    client_grants::Entity::find()
        .filter(client_grants::Column::TenantId.eq(tenant.id))
        .filter(client_grants::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("client grant"))
}

/// The grant of `client_id` for `api_id`, if any: what the client credentials grant
/// consults.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    client_id: &str,
    api_id: Uuid,
) -> Result<Option<client_grants::Model>> {
    Ok(client_grants::Entity::find()
        .filter(client_grants::Column::TenantId.eq(tenant.id))
        .filter(client_grants::Column::ClientId.eq(client_id))
        .filter(client_grants::Column::ApiId.eq(api_id))
        .one(db)
        .await?)
}

/// A page of the tenant's grants, oldest first, optionally of one client.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    client_id: Option<&str>,
    page: PageRequest,
) -> Result<Page<client_grants::Model>> {
    let mut query =
        client_grants::Entity::find().filter(client_grants::Column::TenantId.eq(tenant.id));
    if let Some(client_id) = client_id {
        query = query.filter(client_grants::Column::ClientId.eq(client_id));
    }
    page.fetch(db, query, client_grants::Column::Id, |g| g.id)
        .await
}

/// Replaces the scopes of a grant.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    new_scopes: Vec<String>,
    now: DateTime<Utc>,
) -> Result<client_grants::Model> {
    let txn = db.begin().await?;
    let grant = get(&txn, tenant, id).await?;
    check_scopes(&txn, tenant, grant.api_id, &new_scopes).await?;
    let mut model = grant.into_active_model();
    model.scopes = Set(json!(new_scopes));
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "client_grant.updated",
            format!("client:{}", updated.client_id),
        )
        .with_details(json!({ "api_id": updated.api_id, "scopes": updated.scopes })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a grant: the client gets no new token for that API.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let grant = get(&txn, tenant, id).await?;
    client_grants::Entity::delete_by_id(grant.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "client_grant.deleted",
            format!("client:{}", grant.client_id),
        )
        .with_details(json!({ "api_id": grant.api_id })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Removes `removed` scopes of API `api_id` from every grant (the API no longer
/// defines them); run in the caller's transaction.
pub(crate) async fn forget_scopes(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    api_id: Uuid,
    removed: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    let grants = client_grants::Entity::find()
        .filter(client_grants::Column::TenantId.eq(tenant.id))
        .filter(client_grants::Column::ApiId.eq(api_id))
        .all(db)
        .await?;
    for grant in grants {
        let kept: Vec<String> = scopes(&grant)
            .into_iter()
            .filter(|s| !removed.contains(s))
            .collect();
        let mut model = grant.into_active_model();
        model.scopes = Set(json!(kept));
        model.updated_at = Set(now);
        model.update(db).await?;
    }
    Ok(())
}
