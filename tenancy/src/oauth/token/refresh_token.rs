//! The `refresh_token` grant (RFC 6749 §6, OAuth 2.1 §4.3): rotated on every use;
//! a replay revokes the family, and the access tokens issued under it, and is recorded
//! as a security event (RFC 9700 §4.14.2). A retry inside the tenant's grace window
//! gets the successor the first redemption minted, never a second one (see `refresh`).

use entity::clients;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{Family, GrantCtx, Minted, Resources, issue_for_user};
use crate::{
    clients as registry,
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    core::scopes::ScopeSet,
    journal::audit::Event,
    oauth::refresh::{self, Redemption},
    oauth::tokens::id_token::Authentication,
};

/// Redeems a refresh token for an authenticated client, optionally narrowing the scope.
pub async fn grant<C: ConnectionTrait>(
    ctx: &GrantCtx<'_, C>,
    client: &clients::Model,
    token: &str,
    requested_scope: Option<&str>,
    requested_resource: Option<&str>,
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
    let successor = refresh::successor_of(ctx.keyring, ctx.tenant.id, token);
    let redeemed = refresh::redeem(
        ctx.db,
        ctx.rows,
        &ctx.tenant,
        token,
        &client.client_id,
        ctx.settings.refresh_token_reuse_grace_secs,
        ctx.now,
    )
    .await?;
    let (row, family) = match redeemed {
        Redemption::Rotated(row) => {
            let family = Family::Existing {
                id: row.family_id,
                expires_at: row.family_expires_at,
                successor,
            };
            (row, family)
        }
        Redemption::GraceRetry(parent) => {
            match refresh::retry(ctx.db, &ctx.tenant, &parent, &successor, ctx.now).await? {
                // The same successor again: one live chain, however often retried.
                refresh::Retry::Successor(next) => {
                    let family = Family::Reissue {
                        id: next.family_id,
                        successor,
                    };
                    (*next, family)
                }
                refresh::Retry::Replayed => return Err(replayed(ctx, client, &parent).await?),
                refresh::Retry::NoSuccessor => {
                    return Err(OAuthError::invalid_grant(
                        "the refresh token was already used",
                    ));
                }
            }
        }
        Redemption::Reused(row) => return Err(replayed(ctx, client, &row).await?),
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
    // RFC 8707 §2.2: any API of the original grant, with what was granted for it.
    let grant_resources: Vec<String> = row
        .resources
        .split(' ')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    let resources = Resources {
        grant: &grant_resources,
        requested: requested_resource,
    };
    // A narrowed scope without offline_access gets no successor: the family ends here.
    Ok(
        issue_for_user(ctx, client, &scope, &auth, family, resources)
            .await?
            .minted,
    )
}

/// A used token presented again (its family is revoked by now): revokes the access
/// tokens of the family too, records it and raises the alert; the error to answer.
async fn replayed<C: ConnectionTrait>(
    ctx: &GrantCtx<'_, C>,
    client: &clients::Model,
    row: &entity::refresh_tokens::Model,
) -> OAuthResult<OAuthError> {
    ctx.effects.revoke_grant(row.family_id);
    let details = json!({
        "client_id": client.client_id,
        "user_id": row.user_id,
        "revoked_family": row.family_id,
        "ip": ctx.actor.ip,
    });
    // RFC 9700 §4.14.2: a replay means the token leaked; tell the tenant.
    crate::journal::alerts::record_alerted(
        ctx.db,
        &ctx.actor,
        Event {
            tenant_id: Some(ctx.tenant.id),
            action: "refresh_token.reuse_detected",
            target: Some(format!("user:{}", row.user_id)),
            outcome: "failure",
            details: details.clone(),
        },
        crate::journal::alerts::kinds::REFRESH_TOKEN_REUSE,
        details,
        ctx.now,
    )
    .await?;
    Ok(OAuthError::invalid_grant(
        "the refresh token was already used; its family is revoked",
    ))
}
