//! Recovery codes: ten single-use codes of 80 random bits each, shown once when they
//! are generated and stored only as SHA-256 (they are high-entropy, so a fast hash is
//! enough). Generating a new set deletes the old one. A code is spent with a
//! conditional `UPDATE ... WHERE used_at IS NULL`, so it works exactly once even when
//! two nodes race.

use chrono::{DateTime, Utc};
use entity::recovery_codes;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    Result,
    core::TenantCtx,
    core::ids,
    crypto::secrets,
    journal::audit::{self, Actor, Event},
};

/// How many codes a set has.
pub const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new random code, `xxxx-xxxx-xxxx-xxxx` (16 base32 characters: 80 bits).
fn new_code() -> Result<String> {
    let bytes = secrets::random_bytes::<10>()?;
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let index = usize::try_from((bits >> (75 - 5 * i)) & 31).unwrap_or(0);
        out.push(char::from(*ALPHABET.get(index).unwrap_or(&b'a')));
    }
    Ok(out)
}

/// How a typed code is compared: case and separators do not matter.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Replaces the user's recovery codes with a new set; returns the codes (show them
/// once: they cannot be recovered).
pub async fn regenerate<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let codes = (0..COUNT).map(|_| new_code()).collect::<Result<Vec<_>>>()?;
    let txn = db.begin().await?;
    crate::accounts::users::get(&txn, tenant, user_id).await?;
    recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::TenantId.eq(tenant.id))
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    for code in &codes {
        recovery_codes::ActiveModel {
            id: Set(ids::new_id(now)),
            tenant_id: Set(tenant.id),
            user_id: Set(user_id),
            code_hash: Set(secrets::sha256_hex(&normalise(code))),
            used_at: Set(None),
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
            "user.recovery_codes_generated",
            format!("user:{user_id}"),
        )
        .with_details(serde_json::json!({ "count": COUNT })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(codes)
}

/// Spends one of the user's unused codes; false if `code` is not one.
pub async fn redeem<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let normal = normalise(code);
    if normal.len() != 16 {
        return Ok(false);
    }
    let txn = db.begin().await?;
    let spent = recovery_codes::Entity::update_many()
        .col_expr(recovery_codes::Column::UsedAt, Expr::value(now))
        .filter(recovery_codes::Column::TenantId.eq(tenant.id))
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .filter(recovery_codes::Column::CodeHash.eq(secrets::sha256_hex(&normal)))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        return Ok(false);
    }
    let left = remaining(&txn, tenant, user_id).await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "user.recovery_code_used",
            format!("user:{user_id}"),
        )
        .with_details(serde_json::json!({ "remaining": left })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// How many unused codes the user has.
pub async fn remaining(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
) -> Result<u64> {
    Ok(recovery_codes::Entity::find()
        .filter(recovery_codes::Column::TenantId.eq(tenant.id))
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .count(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_base32_and_compare_loosely() {
        let code = new_code().unwrap();
        assert_eq!(code.len(), 19);
        assert_eq!(code.matches('-').count(), 3);
        assert_ne!(code, new_code().unwrap());
        assert_eq!(
            normalise(&code.to_uppercase().replace('-', " ")),
            normalise(&code)
        );
    }
}
