//! Roles: named sets of API permissions, assigned to users. For an API with RBAC on,
//! a user gets only the scopes their roles grant; an API may also put the user's
//! role names in its access tokens (the `roles` claim, RFC 9068 §2.2.3.1).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::{roles, user_roles, users};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Error, Result,
    core::TenantCtx,
    core::ids,
    core::pagination::{Page, PageRequest},
    core::validate::{self, Problems},
    journal::audit::{self, Actor, Event},
};

/// Most roles one tenant may define.
pub const MAX_ROLES_PER_TENANT: u64 = 1_000;
/// Most permissions one role may hold.
pub const MAX_PERMISSIONS_PER_ROLE: usize = 500;
/// Most roles one user may hold.
pub const MAX_ROLES_PER_USER: usize = 50;
/// Longest role name, in bytes.
pub const MAX_ROLE_NAME_LEN: usize = 100;

/// One scope of one API.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Permission {
    /// The API.
    pub api_id: Uuid,
    /// One of its scopes.
    pub scope: String,
}

/// What a caller supplies to define a role.
#[derive(Clone, Debug)]
pub struct NewRole {
    /// Unique name in the tenant.
    pub name: String,
    /// Free text.
    pub description: String,
    /// What it grants.
    pub permissions: Vec<Permission>,
}

/// Changes to a role; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct RolePatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New permissions (replace the list).
    pub permissions: Option<Vec<Permission>>,
}

/// The stored permissions of a role.
pub fn permissions(role: &roles::Model) -> Vec<Permission> {
    serde_json::from_value(role.permissions.clone()).unwrap_or_default()
}

fn check_name(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_ROLE_NAME_LEN {
        return Err(format!("must be 1 to {MAX_ROLE_NAME_LEN} bytes"));
    }
    if validate::has_control_chars(value) || value.trim() != value {
        return Err("must not hold control characters or surrounding spaces".into());
    }
    Ok(())
}

fn check_description(value: &str) -> Result<(), String> {
    if value.chars().count() > 500 || validate::has_control_chars(value) {
        return Err("must be at most 500 characters, no control characters".into());
    }
    Ok(())
}

async fn check_permissions(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    permissions: &[Permission],
    problems: &mut Problems,
) -> Result<()> {
    if permissions.len() > MAX_PERMISSIONS_PER_ROLE {
        problems.add(
            "permissions",
            format!("at most {MAX_PERMISSIONS_PER_ROLE} permissions"),
        );
        return Ok(());
    }
    let catalog = crate::resources::catalog::ApiCatalog::load(db, tenant).await?;
    for (i, permission) in permissions.iter().enumerate() {
        match catalog.by_id(permission.api_id) {
            None => problems.add(
                format!("permissions[{i}].api_id"),
                "no such API in this tenant",
            ),
            Some(api) if !api.defines(&permission.scope) => problems.add(
                format!("permissions[{i}].scope"),
                "is not a scope of this API",
            ),
            Some(_) if permissions.iter().take(i).any(|p| p == permission) => {
                problems.add(format!("permissions[{i}]"), "is listed twice");
            }
            Some(_) => {}
        }
    }
    Ok(())
}

async fn name_taken(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    name: &str,
    except: Option<Uuid>,
) -> Result<bool> {
    let mut query = roles::Entity::find()
        .filter(roles::Column::TenantId.eq(tenant.id))
        .filter(roles::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(roles::Column::Id.ne(id));
    }
    Ok(query.count(db).await? > 0)
}

/// Defines a role, with its audit event.
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    input: NewRole,
    now: DateTime<Utc>,
) -> Result<roles::Model> {
    let txn = db.begin().await?;
    let mut problems = Problems::default();
    problems.check("name", check_name(&input.name));
    problems.check("description", check_description(&input.description));
    check_permissions(&txn, tenant, &input.permissions, &mut problems).await?;
    problems.finish()?;
    let count = roles::Entity::find()
        .filter(roles::Column::TenantId.eq(tenant.id))
        .count(&txn)
        .await?;
    if count >= MAX_ROLES_PER_TENANT {
        return Err(Error::Conflict(format!(
            "a tenant has at most {MAX_ROLES_PER_TENANT} roles"
        )));
    }
    if name_taken(&txn, tenant, &input.name, None).await? {
        return Err(Error::Conflict(
            "a role with this name already exists".into(),
        ));
    }
    let role = roles::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant.id),
        name: Set(input.name),
        description: Set(input.description),
        permissions: Set(json!(input.permissions)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "role.created", format!("role:{}", role.id))
            .with_details(json!({ "name": role.name })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(role)
}

/// One role by id.
pub async fn get(db: &impl ConnectionTrait, tenant: &TenantCtx, id: Uuid) -> Result<roles::Model> {
    roles::Entity::find()
        .filter(roles::Column::TenantId.eq(tenant.id))
        .filter(roles::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("role"))
}

/// A page of the tenant's roles, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    page: PageRequest,
) -> Result<Page<roles::Model>> {
    let query = roles::Entity::find().filter(roles::Column::TenantId.eq(tenant.id));
    page.fetch(db, query, roles::Column::Id, |r| r.id).await
}

/// Applies `patch` to a role.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    patch: RolePatch,
    now: DateTime<Utc>,
) -> Result<roles::Model> {
    let txn = db.begin().await?;
    let role = get(&txn, tenant, id).await?;
    let mut problems = Problems::default();
    if let Some(name) = &patch.name {
        problems.check("name", check_name(name));
    }
    if let Some(description) = &patch.description {
        problems.check("description", check_description(description));
    }
    if let Some(permissions) = &patch.permissions {
        check_permissions(&txn, tenant, permissions, &mut problems).await?;
    }
    problems.finish()?;
    if let Some(name) = &patch.name
        && name_taken(&txn, tenant, name, Some(id)).await?
    {
        return Err(Error::Conflict(
            "a role with this name already exists".into(),
        ));
    }
    let mut model = role.into_active_model();
    if let Some(name) = patch.name {
        model.name = Set(name);
    }
    if let Some(description) = patch.description {
        model.description = Set(description);
    }
    if let Some(permissions) = patch.permissions {
        model.permissions = Set(json!(permissions));
    }
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "role.updated", format!("role:{id}")),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a role and takes it from every user who held it.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let role = get(&txn, tenant, id).await?;
    user_roles::Entity::delete_many()
        .filter(user_roles::Column::TenantId.eq(tenant.id))
        .filter(user_roles::Column::RoleId.eq(id))
        .exec(&txn)
        .await?;
    roles::Entity::delete_by_id(role.id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "role.deleted", format!("role:{id}"))
            .with_details(json!({ "name": role.name })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The roles user `user_id` holds, oldest assignment first.
pub async fn of_user(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
) -> Result<Vec<roles::Model>> {
    let held: Vec<Uuid> = user_roles::Entity::find()
        .filter(user_roles::Column::TenantId.eq(tenant.id))
        .filter(user_roles::Column::UserId.eq(user_id))
        .order_by_asc(user_roles::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.role_id)
        .collect();
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = roles::Entity::find()
        .filter(roles::Column::TenantId.eq(tenant.id))
        .filter(roles::Column::Id.is_in(held.clone()))
        .all(db)
        .await?;
    found.sort_by_key(|r| held.iter().position(|id| *id == r.id));
    Ok(found)
}

/// Replaces the roles user `user_id` holds with `role_ids`, with its audit event;
/// the roles now held.
pub async fn assign<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    role_ids: Vec<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<roles::Model>> {
    let mut problems = Problems::default();
    if role_ids.len() > MAX_ROLES_PER_USER {
        problems.add(
            "role_ids",
            format!("a user holds at most {MAX_ROLES_PER_USER} roles"),
        );
    }
    for (i, id) in role_ids.iter().enumerate() {
        if role_ids.iter().take(i).any(|r| r == id) {
            problems.add(format!("role_ids[{i}]"), "is listed twice");
        }
    }
    problems.finish()?;
    let txn = db.begin().await?;
    users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant.id))
        .filter(users::Column::Id.eq(user_id))
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if !role_ids.is_empty() {
        let known = roles::Entity::find()
            .filter(roles::Column::TenantId.eq(tenant.id))
            .filter(roles::Column::Id.is_in(role_ids.clone()))
            .count(&txn)
            .await?;
        if known != role_ids.len() as u64 {
            let mut problems = Problems::default();
            for (i, id) in role_ids.iter().enumerate() {
                if get(&txn, tenant, *id).await.is_err() {
                    problems.add(format!("role_ids[{i}]"), "no such role in this tenant");
                }
            }
            problems.finish()?;
        }
    }
    user_roles::Entity::delete_many()
        .filter(user_roles::Column::TenantId.eq(tenant.id))
        .filter(user_roles::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    for (i, role_id) in role_ids.iter().enumerate() {
        user_roles::ActiveModel {
            id: Set(ids::new_id(now + chrono::Duration::microseconds(i as i64))),
            tenant_id: Set(tenant.id),
            user_id: Set(user_id),
            role_id: Set(*role_id),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
    }
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "user.roles_changed",
            format!("user:{user_id}"),
        )
        .with_details(json!({ "role_ids": role_ids })),
        now,
    )
    .await?;
    let held = of_user(&txn, tenant, user_id).await?;
    txn.commit().await?;
    Ok(held)
}

/// What a user's roles give them: the role names and the permissions.
#[derive(Clone, Debug, Default)]
pub struct UserAccess {
    /// Role names, in assignment order.
    pub role_names: Vec<String>,
    /// Every permission of those roles.
    pub permissions: HashSet<Permission>,
}

impl UserAccess {
    /// Whether the roles grant `scope` of API `api_id`.
    pub fn allows(&self, api_id: Uuid, scope: &str) -> bool {
        self.permissions.contains(&Permission {
            api_id,
            scope: scope.to_owned(),
        })
    }
}

/// The roles and permissions of user `user_id` (one read of each table).
pub async fn access_of(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
) -> Result<UserAccess> {
    let held = of_user(db, tenant, user_id).await?;
    Ok(UserAccess {
        permissions: held.iter().flat_map(permissions).collect(),
        role_names: held.into_iter().map(|r| r.name).collect(),
    })
}

/// Removes the permissions for API `api_id` (only `scopes` of it, when given) from
/// every role; run in the caller's transaction.
pub(crate) async fn forget_permissions(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    api_id: Uuid,
    scopes: Option<&[String]>,
    now: DateTime<Utc>,
) -> Result<()> {
    let all = roles::Entity::find()
        .filter(roles::Column::TenantId.eq(tenant.id))
        .all(db)
        .await?;
    for role in all {
        let before = permissions(&role);
        let kept: Vec<Permission> = before
            .iter()
            .filter(|p| p.api_id != api_id || scopes.is_some_and(|s| !s.contains(&p.scope)))
            .cloned()
            .collect();
        if kept.len() != before.len() {
            let mut model = role.into_active_model();
            model.permissions = Set(json!(kept));
            model.updated_at = Set(now);
            model.update(db).await?;
        }
    }
    Ok(())
}
