//! The `refresh_token` grant (RFC 6749 §6, OAuth 2.1 §4.3): rotated on every use;
//! a replay revokes the family and is recorded as a security event (RFC 9700 §4.14.2).

use entity::clients;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{Family, GrantCtx, Minted, issue_for_user};
use crate::{
    alerts::{self, SecurityEvent, kinds},
    audit::{self, Event},
    clients as registry,
    id_token::Authentication,
    oauth_error::{ErrorCode, OAuthError, OAuthResult},
    refresh::{self, Redemption},
    scopes::ScopeSet,
};

/// Redeems a refresh token for an authenticated client, optionally narrowing the scope.
pub async fn grant<C: ConnectionTrait>(
    ctx: &GrantCtx<'_, C>,
    client: &clients::Model,
    token: &str,
    requested_scope: Option<&str>,
) -> OAuthResult<Minted> {
    if !registry::grant_types(client)
        .iter()
        .any(|g| g == "refresh_token")
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use refresh tokens",
        ));
    }
    let row = match refresh::redeem(
        ctx.db,
        &ctx.tenant,
        token,
        &client.client_id,
        ctx.settings.refresh_token_reuse_grace_secs,
        ctx.now,
    )
    .await?
    {
        Redemption::Rotated(row) | Redemption::GraceRetry(row) => row,
        Redemption::Reused(row) => {
            let details = json!({
                "client_id": client.client_id,
                "user_id": row.user_id,
                "revoked_family": row.family_id,
                "ip": ctx.actor.ip,
            });
            audit::record(
                ctx.db,
                &ctx.actor,
                Event {
                    tenant_id: Some(ctx.tenant.id),
                    action: "refresh_token.reuse_detected",
                    target: Some(format!("user:{}", row.user_id)),
                    outcome: "failure",
                    details: details.clone(),
                },
                ctx.now,
            )
            .await?;
            // RFC 9700 §4.14.2: a replay means the token leaked; tell the tenant.
            alerts::raise(
                ctx.db,
                SecurityEvent::new(
                    Some(ctx.tenant.id),
                    kinds::REFRESH_TOKEN_REUSE,
                    details,
                    ctx.now,
                ),
            )
            .await?;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; its family is revoked",
            ));
        }
        Redemption::Invalid => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is invalid or expired",
            ));
        }
    };
    let granted = ScopeSet::parse(&row.scope)?;
    // RFC 6749 §6: a narrower scope may be requested, never a wider one.
    let scope = match requested_scope {
        Some(value) => {
            let asked = ScopeSet::parse(value)?;
            if !asked.is_subset(&granted) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "scope exceeds what was granted",
                ));
            }
            asked
        }
        None => granted,
    };
    // No user lookup: disabling or deleting a user revokes their refresh tokens in
    // the same transaction (`users::update`, `users::delete`), so a token that could
    // be claimed above belongs to an active user.
    let auth = Authentication {
        user_id: row.user_id.to_string(),
        auth_time: row.auth_time.timestamp(),
        amr: serde_json::from_value(row.amr.clone()).unwrap_or_default(),
        sid: row.sid.clone().unwrap_or_default(),
        nonce: None,
    };
    let family = Family::Existing {
        id: row.family_id,
        expires_at: row.family_expires_at,
    };
    // A narrowed scope without offline_access gets no successor: the family ends here.
    Ok(issue_for_user(ctx, client, &scope, &auth, family)
        .await?
        .minted)
}
