//! Consents: which scopes a user granted a client, kept per API (RFC 8707 resource):
//! one row per user, client and API, and one (resource `""`) for the OpenID Connect
//! scopes and scopes of no API. Asked once; asked again only when new scopes appear
//! for any of them or the client sends `prompt=consent`.

use std::collections::HashMap;

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
    resources::catalog::ApiCatalog,
    resources::roles::UserAccess,
};

/// What a request asks consent for, per API: `(resource, scopes)`, the resource `""`
/// holding the scopes of no API. Parts with no scope are left out. For an API with
/// RBAC, only the scopes the user's roles grant (`access`) are asked: the others
/// would never be issued.
pub fn by_resource(
    scope: &ScopeSet,
    resources: &[String],
    apis: &ApiCatalog,
    access: Option<&UserAccess>,
) -> Vec<(String, ScopeSet)> {
    let known: Vec<_> = resources.iter().filter_map(|r| apis.get(r)).collect();
    let mut parts: Vec<(String, ScopeSet)> = known
        .iter()
        .map(|api| {
            let own = api.own_part(scope);
            let own = if api.rbac {
                ScopeSet::from_tokens(
                    own.iter()
                        .filter(|s| access.is_some_and(|a| a.allows(api.id, s))),
                )
            } else {
                own
            };
            (api.identifier.clone(), own)
        })
        .collect();
    let rest = ScopeSet::from_tokens(
        scope
            .iter()
            .filter(|s| !known.iter().any(|api| api.defines(s))),
    );
    parts.push((String::new(), rest));
    parts.retain(|(_, scopes)| !scopes.is_empty());
    parts
}

/// What `user_id` is asked to consent to for `scope` and `resources` (see
/// [`by_resource`]); their roles are read only when a requested API has RBAC.
pub async fn asked(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    apis: &ApiCatalog,
    scope: &ScopeSet,
    resources: &[String],
    user_id: Uuid,
) -> Result<Vec<(String, ScopeSet)>> {
    let rbac = resources
        .iter()
        .filter_map(|r| apis.get(r))
        .any(|api| api.rbac);
    let access = if rbac {
        Some(crate::resources::roles::access_of(db, tenant, user_id).await?)
    } else {
        None
    };
    Ok(by_resource(scope, resources, apis, access.as_ref()))
}

/// The scopes the user has granted the client, per resource.
pub async fn granted(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
    client_id: &str,
) -> Result<HashMap<String, ScopeSet>> {
    Ok(rows(db, tenant, user_id, client_id)
        .await?
        .into_iter()
        .map(|c| (c.resource.clone(), scopes_of(&c)))
        .collect())
}

/// Whether `granted` covers every part of `asked` (see [`by_resource`]).
pub fn covers(granted: &HashMap<String, ScopeSet>, asked: &[(String, ScopeSet)]) -> bool {
    asked.iter().all(|(resource, scopes)| {
        granted
            .get(resource)
            .is_some_and(|given| scopes.is_subset(given))
    })
}

fn scopes_of(row: &consents::Model) -> ScopeSet {
    ScopeSet::from_tokens(
        serde_json::from_value::<Vec<String>>(row.scopes.clone()).unwrap_or_default(),
    )
}

async fn rows(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
    client_id: &str,
) -> Result<Vec<consents::Model>> {
    Ok(consents::Entity::find()
        .filter(consents::Column::TenantId.eq(tenant.id))
        .filter(consents::Column::UserId.eq(user_id))
        .filter(consents::Column::ClientId.eq(client_id))
        .all(db)
        .await?)
}

/// Records that the user granted the client each part of `parts` (added to earlier
/// grants for the same resource), with its audit event in the same transaction.
pub async fn grant<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    client_id: &str,
    parts: &[(String, ScopeSet)],
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let existing = rows(&txn, tenant, user_id, client_id).await?;
    for (resource, scope) in parts {
        match existing.iter().find(|c| &c.resource == resource) {
            Some(row) => {
                let merged = ScopeSet::from_tokens(scopes_of(row).iter().chain(scope.iter()));
                let mut model = row.clone().into_active_model();
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
                    resource: Set(resource.clone()),
                    scopes: Set(serde_json::json!(scope.iter().collect::<Vec<_>>())),
                    granted_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&txn)
                .await?;
            }
        }
    }
    let details: serde_json::Map<String, serde_json::Value> = parts
        .iter()
        .map(|(resource, scope)| (resource.clone(), serde_json::json!(scope.to_string())))
        .collect();
    let all = ScopeSet::from_tokens(parts.iter().flat_map(|(_, s)| s.iter()));
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "consent.granted",
            format!("user:{user_id}"),
        )
        .with_details(serde_json::json!({
            "client_id": client_id,
            "scope": all.to_string(),
            "by_resource": details,
        })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The consents a user has given, oldest first (one row per client and API).
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

/// Withdraws the user's consent to a client (for every API) and revokes the refresh
/// tokens that client holds for the user, with its audit event, in one transaction;
/// false if there was no consent.
pub async fn revoke<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let txn = db.begin().await?;
    let existing = rows(&txn, tenant, user_id, client_id).await?;
    if existing.is_empty() {
        return Ok(false);
    }
    consents::Entity::delete_many()
        .filter(consents::Column::TenantId.eq(tenant.id))
        .filter(consents::Column::UserId.eq(user_id))
        .filter(consents::Column::ClientId.eq(client_id))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::resources::apis::{ApiScope, TokenFormat};
    use crate::resources::catalog::Api;

    #[test]
    fn consent_is_asked_per_api_and_a_grant_for_one_does_not_cover_another() {
        let api = |identifier: &str, scope: &str| {
            Arc::new(Api {
                id: Uuid::new_v4(),
                name: identifier.into(),
                identifier: identifier.into(),
                scopes: vec![ApiScope {
                    value: scope.into(),
                    description: String::new(),
                }],
                token_format: TokenFormat::Jwt,
                signing_alg: None,
                access_token_ttl_secs: None,
                allow_offline_access: false,
                rbac: false,
                include_roles: false,
            })
        };
        let mut catalog = ApiCatalog::default();
        catalog.insert(api("https://a.example/", "read"));
        catalog.insert(api("https://b.example/", "read"));
        let scope = ScopeSet::parse("openid read").unwrap();
        let for_a = by_resource(&scope, &["https://a.example/".into()], &catalog, None);
        assert_eq!(
            for_a,
            vec![
                (
                    "https://a.example/".into(),
                    ScopeSet::parse("read").unwrap()
                ),
                (String::new(), ScopeSet::parse("openid").unwrap()),
            ]
        );
        let for_b = by_resource(&scope, &["https://b.example/".into()], &catalog, None);
        let granted: HashMap<String, ScopeSet> = for_a.iter().cloned().collect();
        assert!(covers(&granted, &for_a));
        assert!(!covers(&granted, &for_b));
    }
}
