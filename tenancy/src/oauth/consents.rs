//! Consents: which scopes a user granted a client. Asked once; asked again only when
//! new scopes appear or the client sends `prompt=consent`.

use chrono::{DateTime, Utc};
use entity::consents;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::{
    Result,
    core::TenantCtx,
    core::ids,
    core::scopes::ScopeSet,
    journal::audit::{self, Actor, Event},
};

async fn find(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
    client_id: &str,
) -> Result<Option<consents::Model>> {
    Ok(consents::Entity::find()
        .filter(consents::Column::TenantId.eq(tenant.id))
        .filter(consents::Column::UserId.eq(user_id))
        .filter(consents::Column::ClientId.eq(client_id))
        .one(db)
        .await?)
}

/// The scopes the user has granted the client.
pub async fn granted(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
    client_id: &str,
) -> Result<ScopeSet> {
    Ok(find(db, tenant, user_id, client_id)
        .await?
        .map(|c| {
            ScopeSet::from_tokens(
                serde_json::from_value::<Vec<String>>(c.scopes).unwrap_or_default(),
            )
        })
        .unwrap_or_default())
}

/// Records that the user granted `scope` to the client (added to earlier grants), with
/// its audit event in the same transaction.
pub async fn grant<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    client_id: &str,
    scope: &ScopeSet,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    match find(&txn, tenant, user_id, client_id).await? {
        Some(existing) => {
            let mut all: Vec<String> =
                serde_json::from_value(existing.scopes.clone()).unwrap_or_default();
            all.extend(scope.iter().map(str::to_owned));
            let merged = ScopeSet::from_tokens(all);
            let mut model = existing.into_active_model();
            model.scopes = Set(serde_json::json!(merged.iter().collect::<Vec<_>>()));
            model.updated_at = Set(now);
            model.update(&txn).await?;
        }
        None => {
            consents::ActiveModel {
                id: Set(ids::new_id(now)),
                tenant_id: Set(tenant.id),
                user_id: Set(user_id),
                client_id: Set(client_id.to_owned()),
                scopes: Set(serde_json::json!(scope.iter().collect::<Vec<_>>())),
                granted_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
    }
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "consent.granted",
            format!("user:{user_id}"),
        )
        .with_details(serde_json::json!({ "client_id": client_id, "scope": scope.to_string() })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The consents a user has given, oldest first.
pub async fn list_for_user(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
) -> Result<Vec<consents::Model>> {
    use sea_orm::QueryOrder;
    Ok(consents::Entity::find()
        .filter(consents::Column::TenantId.eq(tenant.id))
        .filter(consents::Column::UserId.eq(user_id))
        .order_by_asc(consents::Column::Id)
        .all(db)
        .await?)
}

/// Withdraws the user's consent to a client and revokes the refresh tokens that client
/// holds for the user, with its audit event, in one transaction; false if there was
/// no consent.
pub async fn revoke<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let txn = db.begin().await?;
    let Some(existing) = find(&txn, tenant, user_id, client_id).await? else {
        return Ok(false);
    };
    consents::Entity::delete_by_id(existing.id)
        .exec(&txn)
        .await?;
    let revoked =
        crate::accounts::users::revoke_for_user(&txn, tenant, user_id, Some(client_id), now)
            .await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "consent.revoked",
            format!("user:{user_id}"),
        )
        .with_details(serde_json::json!({
            "client_id": client_id,
            "refresh_tokens_revoked": revoked,
        })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}
