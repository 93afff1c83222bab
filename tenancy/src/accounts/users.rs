//! End users of a tenant: creation, lookup, updates, disabling, deletion and passwords.
//!
//! Usernames and emails are case-folded to lowercase on the way in so lookups and
//! uniqueness ignore case. Passwords are 8–128 characters (NIST SP 800-63B §5.1.1.2)
//! and stored only as Argon2id PHC strings; nothing ever returns them.

use chrono::{DateTime, Utc};
use entity::{refresh_tokens, users};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

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

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (bounds Argon2 input and request size).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// What a caller supplies to create a user.
#[derive(Clone)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// Initial password; users without one cannot log in with a password.
    pub password: Option<secrecy::SecretString>,
    /// Whether the email is already verified.
    pub email_verified: bool,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    /// New username.
    pub username: Option<String>,
    /// New email; `Some(None)` removes it.
    pub email: Option<Option<String>>,
    /// Email verification flag.
    pub email_verified: Option<bool>,
    /// Enable or disable the user.
    pub enabled: Option<bool>,
}

/// Filters for listing users.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Exact email (case-insensitive).
    pub email: Option<String>,
    /// Exact username (case-insensitive).
    pub username: Option<String>,
}

/// Usernames: 1–64 characters of letters, digits and `. _ - @ +`, case-folded.
pub fn validate_username(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if !(1..=64).contains(&len) {
        return Err("must be 1 to 64 characters".into());
    }
    if !value
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
    {
        return Err("may contain only letters, digits and . _ - @ +".into());
    }
    Ok(())
}

/// Password length rule (counted in characters, not bytes).
pub fn validate_password(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if len < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if len > MAX_PASSWORD_CHARS {
        return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    Ok(())
}

fn fold(value: &str) -> String {
    value.trim().to_lowercase()
}

async fn ensure_unique(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    except: Option<Uuid>,
    username: Option<&str>,
    email: Option<&str>,
) -> Result<()> {
    let taken = |column: users::Column, value: &str| {
        let mut query = users::Entity::find()
            .filter(users::Column::TenantId.eq(tenant.id))
            .filter(column.eq(value));
        if let Some(id) = except {
            query = query.filter(users::Column::Id.ne(id));
        }
        query.one(db)
    };
    if let Some(username) = username
        && taken(users::Column::Username, username).await?.is_some()
    {
        return Err(Error::Conflict(
            "a user with this username already exists".into(),
        ));
    }
    if let Some(email) = email
        && taken(users::Column::Email, email).await?.is_some()
    {
        return Err(Error::Conflict(
            "a user with this email already exists".into(),
        ));
    }
    Ok(())
}

/// Creates a user.
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    workers: &Workers,
    tenant: &TenantCtx,
    actor: &Actor,
    input: NewUser,
    now: DateTime<Utc>,
) -> Result<users::Model> {
    use secrecy::ExposeSecret;
    let username = fold(&input.username);
    let email = input.email.as_deref().map(fold);
    let mut problems = Problems::default();
    problems.check("username", validate_username(&username));
    if let Some(email) = &email {
        problems.check("email", validate::email(email));
    }
    if let Some(password) = &input.password {
        problems.check("password", validate_password(password.expose_secret()));
    }
    problems.finish()?;

    let password_hash = match input.password {
        Some(p) => Some(secrets::hash_password(workers, p.expose_secret().to_owned()).await?),
        None => None,
    };
    let txn = db.begin().await?;
    ensure_unique(&txn, tenant, None, Some(&username), email.as_deref()).await?;
    let user = users::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant.id),
        username: Set(username),
        email: Set(email),
        email_verified: Set(input.email_verified),
        password_hash: Set(password_hash),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "user.created", format!("user:{}", user.id)),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

/// One user of the tenant by id.
pub async fn get(db: &impl ConnectionTrait, tenant: &TenantCtx, id: Uuid) -> Result<users::Model> {
    users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant.id))
        .filter(users::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("user"))
}

/// The user a login name designates: the email address when it looks like one (and
/// a user has it), else the username; both case-insensitive.
pub async fn find_by_login(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    login: &str,
) -> Result<Option<users::Model>> {
    let folded = fold(login.trim());
    let by_username = users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant.id))
        .filter(users::Column::Username.eq(&folded));
    if !folded.contains('@') {
        return Ok(by_username.one(db).await?);
    }
    let by_email = users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant.id))
        .filter(users::Column::Email.eq(&folded))
        .one(db)
        .await?;
    match by_email {
        Some(user) => Ok(Some(user)),
        // Usernames may contain '@' too.
        None => Ok(by_username.one(db).await?),
    }
}

/// A page of the tenant's users matching `filter`, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    filter: UserFilter,
    page: PageRequest,
) -> Result<Page<users::Model>> {
    let mut query = users::Entity::find().filter(users::Column::TenantId.eq(tenant.id));
    if let Some(email) = filter.email {
        query = query.filter(users::Column::Email.eq(fold(&email)));
    }
    if let Some(username) = filter.username {
        query = query.filter(users::Column::Username.eq(fold(&username)));
    }
    page.fetch(db, query, users::Column::Id, |u| u.id).await
}

/// Applies `patch` to a user.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    patch: UserPatch,
    now: DateTime<Utc>,
) -> Result<users::Model> {
    let username = patch.username.as_deref().map(fold);
    let email = patch.email.map(|e| e.as_deref().map(fold));
    let mut problems = Problems::default();
    if let Some(username) = &username {
        problems.check("username", validate_username(username));
    }
    if let Some(Some(email)) = &email {
        problems.check("email", validate::email(email));
    }
    problems.finish()?;

    let txn = db.begin().await?;
    let user = get(&txn, tenant, id).await?;
    ensure_unique(
        &txn,
        tenant,
        Some(user.id),
        username.as_deref(),
        email.as_ref().and_then(|e| e.as_deref()),
    )
    .await?;
    let was_enabled = user.enabled;
    let user_id = user.id;
    let email_changed = email.as_ref().is_some_and(|e| *e != user.email);
    let mut model = user.into_active_model();
    if let Some(username) = username {
        model.username = Set(username);
    }
    if let Some(email) = email {
        model.email = Set(email);
    }
    match patch.email_verified {
        Some(verified) => model.email_verified = Set(verified),
        // A new address is unverified until someone says otherwise.
        None if email_changed => model.email_verified = Set(false),
        None => {}
    }
    if let Some(enabled) = patch.enabled {
        model.enabled = Set(enabled);
    }
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    if email_changed {
        // A reset link works only while the address it went to is the user's.
        crate::accounts::email_tokens::supersede(
            &txn,
            tenant,
            user_id,
            crate::accounts::email_tokens::Purpose::PasswordReset,
            now,
        )
        .await?;
    }
    if was_enabled && !updated.enabled {
        // A disabled user keeps no refresh token: the refresh grant relies on this
        // instead of looking the user up on every rotation.
        crate::accounts::users::revoke_for_user(&txn, tenant, user_id, None, now).await?;
    }
    let action = match (was_enabled, updated.enabled) {
        (true, false) => "user.disabled",
        (false, true) => "user.enabled",
        _ => "user.updated",
    };
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), action, format!("user:{id}")),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a user.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let user = get(&txn, tenant, id).await?;
    // What the user granted and holds goes with them: consents, refresh tokens, email
    // tokens and second factors.
    crate::tenants::erase::user_rows(&txn, tenant.id, user.id).await?;
    users::Entity::delete_by_id(user.id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "user.deleted", format!("user:{id}")),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Sets a user's password (an administrator's change): every refresh token of the
/// user is revoked in the same transaction, since whoever knew the old password may
/// hold one.
pub async fn set_password<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    workers: &Workers,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    password: secrecy::SecretString,
    now: DateTime<Utc>,
) -> Result<()> {
    store_password(
        db,
        workers,
        tenant,
        actor,
        id,
        password,
        (
            "user.password_set",
            crate::journal::alerts::kinds::PASSWORD_RESET,
        ),
        true,
        now,
    )
    .await
}

/// A user changes their own password (the caller has checked the current one).
pub async fn change_password<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    workers: &Workers,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    password: secrecy::SecretString,
    now: DateTime<Utc>,
) -> Result<()> {
    store_password(
        db,
        workers,
        tenant,
        actor,
        id,
        password,
        (
            "user.password_changed",
            crate::journal::alerts::kinds::PASSWORD_CHANGED,
        ),
        false,
        now,
    )
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per input of the change"
)]
async fn store_password<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    workers: &Workers,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    password: secrecy::SecretString,
    (action, alert): (&str, &str),
    revoke_refresh_tokens: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    use secrecy::ExposeSecret;
    validate_password(password.expose_secret()).map_err(|m| Error::invalid("password", m))?;
    let hash = secrets::hash_password(workers, password.expose_secret().to_owned()).await?;
    let txn = db.begin().await?;
    let user = get(&txn, tenant, id).await?;
    let mut model = user.into_active_model();
    model.password_hash = Set(Some(hash));
    model.updated_at = Set(now);
    model.update(&txn).await?;
    let revoked = if revoke_refresh_tokens {
        crate::accounts::users::revoke_for_user(&txn, tenant, id, None, now).await?
    } else {
        0
    };
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(Some(tenant.id), action, format!("user:{id}"))
            .with_details(serde_json::json!({ "refresh_tokens_revoked": revoked })),
        alert,
        serde_json::json!({ "user_id": id, "actor": actor.id }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// An administrator's password reset: [`set_password`] (which also revokes every
/// refresh token of the user), then every browser session of the user ends (whoever
/// knew the old password is out, OWASP Forgot Password Cheat Sheet) and any login
/// lockout of the user's username and email ends, so a locked-out owner can get back
/// in at once. `session_ttl` is the tenant's session lifetime.
#[expect(
    clippy::too_many_arguments,
    reason = "the change's whole context: storage, tenant, who, what, when"
)]
pub async fn reset_password<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    workers: &Workers,
    cache: &dyn crate::cache::Cache,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    password: secrecy::SecretString,
    session_ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<()> {
    set_password(db, workers, tenant, actor, id, password, now).await?;
    let user = get(db, tenant, id).await?;
    crate::accounts::sessions::end_all_for_user(cache, tenant.id, user.id, None, session_ttl)
        .await?;
    crate::accounts::lockout::clear(
        cache,
        tenant.id,
        &crate::accounts::lockout::Subjects::user(&user),
    )
    .await?;
    Ok(())
}

/// Revokes every live refresh token of a user (password reset, account takeover
/// response), optionally only those held by one client.
pub async fn revoke_for_user(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
    client_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut update = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
        .filter(refresh_tokens::Column::TenantId.eq(tenant.id))
        .filter(refresh_tokens::Column::UserId.eq(user_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null());
    if let Some(client_id) = client_id {
        update = update.filter(refresh_tokens::Column::ClientId.eq(client_id));
    }
    Ok(update.exec(db).await?.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_allow_common_login_names_only() {
        for ok in ["ann", "ann.lee", "ann_lee-2", "ann@example.com", "ännä"] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ann lee", "ann/lee", "<script>", &"a".repeat(65)] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_8_to_128_characters() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"é".repeat(128)).is_ok());
        assert!(validate_password(&"a".repeat(129)).is_err());
    }
}
