//! Password login. Unknown user, disabled user, user without a password and wrong
//! password all get the same answer after the same Argon2id work, so neither the
//! answer nor its timing tells whether an account exists.

use std::sync::OnceLock;

use entity::users;
use sea_orm::ConnectionTrait;

use crate::{Result, secrets, tenants::TenantCtx};

/// A valid Argon2id hash of a random value, verified against when there is no real
/// hash to check, so a miss costs what a hit costs.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        use argon2::{Argon2, password_hash::PasswordHasher};
        let random = secrets::random_token("").unwrap_or_default();
        Argon2::default()
            .hash_password(random.as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// The user `login` (username or email, case-insensitive) if `password` is right and
/// the account is enabled; `None` otherwise, whatever the reason.
pub async fn verify(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    login: &str,
    password: &str,
) -> Result<Option<users::Model>> {
    let user = crate::users::find_by_login(db, tenant, login).await?;
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let password_ok = secrets::verify_password(password.to_owned(), hash).await;
    Ok(user.filter(|u| password_ok && u.enabled && u.password_hash.is_some()))
}
