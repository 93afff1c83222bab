//! The UserInfo response (OIDC Core §5.3): claims released by the token's scope
//! (OIDC Core §5.4: `profile` and `email`).

use entity::users;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{Result, core::TenantCtx, core::scopes::ScopeSet};

/// The claims about user `sub` for `scope`; `None` if the user is gone or disabled.
pub async fn claims(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    sub: &str,
    scope: &ScopeSet,
) -> Result<Option<Value>> {
    let Ok(id) = sub.parse::<Uuid>() else {
        return Ok(None);
    };
    let Some(user) = users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant.id))
        .filter(users::Column::Id.eq(id))
        .one(db)
        .await?
        .filter(|u| u.enabled)
    else {
        return Ok(None);
    };
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id.to_string()));
    if scope.contains("profile") {
        out.insert("preferred_username".into(), json!(user.username));
        out.insert("name".into(), json!(user.username));
        out.insert("updated_at".into(), json!(user.updated_at.timestamp()));
    }
    if scope.contains("email")
        && let Some(email) = &user.email
    {
        out.insert("email".into(), json!(email));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    Ok(Some(Value::Object(out)))
}
