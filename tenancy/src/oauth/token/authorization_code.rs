//! The `authorization_code` grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3).
//!
//! The code must come from the client it was issued to, with the same redirect URI
//! and the PKCE verifier of its challenge. A code presented twice is refused; if the
//! replay comes from the same client *and* proves possession of the verifier, what the
//! first redemption issued is revoked (RFC 9700 §4.2.4). A replay with a wrong
//! verifier or secret revokes nothing, so a thief holding a leaked code cannot use it
//! to cut a victim off.

use entity::{clients, users};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::{Family, GrantCtx, Minted, Resources, issue_for_user};
use crate::{
    clients as registry,
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    core::scopes::ScopeSet,
    journal::audit::Event,
    oauth::codes::{self, CodeOwner, UsedCode},
    oauth::pkce,
    oauth::refresh,
    oauth::tokens::id_token::Authentication,
};

/// The token request's parameters for this grant.
pub struct CodeRedemption<'a> {
    /// `code`.
    pub code: &'a str,
    /// `redirect_uri`.
    pub redirect_uri: Option<&'a str>,
    /// `code_verifier`.
    pub code_verifier: Option<&'a str>,
    /// `resource` (RFC 8707 §2): one of the APIs the code was issued for.
    pub resource: Option<&'a str>,
}

fn verifier_matches(challenge: Option<&str>, verifier: Option<&str>) -> bool {
    match (challenge, verifier) {
        (Some(c), Some(v)) => pkce::verify_s256(v, c),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, None) => true,
        _ => false,
    }
}

/// Redeems a code for an authenticated client.
pub async fn grant<C: ConnectionTrait>(
    ctx: &GrantCtx<'_, C>,
    client: &clients::Model,
    input: CodeRedemption<'_>,
) -> OAuthResult<Minted> {
    if !registry::grant_types(client)
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use authorization codes",
        ));
    }
    let Some(grant) = ctx
        .effects
        .take_code(ctx.cache, ctx.tenant.id, input.code)
        .await?
    else {
        replay(ctx, client, &input).await?;
        return Err(OAuthError::invalid_grant(
            "the code is invalid, expired or already used",
        ));
    };
    if ctx.now.timestamp() >= grant.expires_at {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    // RFC 6749 §4.1.3: the redirect URI must be identical to the authorization request's.
    if input.redirect_uri != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if !verifier_matches(grant.code_challenge.as_deref(), input.code_verifier) {
        return Err(OAuthError::invalid_grant("PKCE verification failed"));
    }
    let user = users::Entity::find()
        .filter(users::Column::TenantId.eq(ctx.tenant.id))
        .filter(users::Column::Id.eq(grant.user_id))
        .one(ctx.db)
        .await
        .map_err(crate::Error::from)?
        .filter(|u| u.enabled)
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer active"))?;
    let auth = Authentication {
        user_id: user.id.to_string(),
        auth_time: grant.auth_time,
        amr: grant.amr.clone(),
        sid: grant.sid.clone(),
        nonce: grant.nonce.clone(),
    };
    let scope = ScopeSet::parse(&grant.scope)?;
    let resources = Resources {
        grant: &grant.resources,
        requested: input.resource,
    };
    let issued = issue_for_user(ctx, client, &scope, &auth, Family::New, resources).await?;
    let used = UsedCode {
        grant: CodeOwner {
            client_id: grant.client_id,
            code_challenge: grant.code_challenge,
            user_id: grant.user_id,
        },
        family_id: issued.family_id,
        access_jti: issued.jti.clone(),
        access_exp: issued.exp,
    };
    // As long as the access token lives (an API may give it a longer life).
    let keep = std::time::Duration::from_secs(
        u64::try_from(issued.exp - ctx.now.timestamp())
            .unwrap_or(0)
            .max(60),
    );
    ctx.effects.mark_code_used(input.code, used, keep);
    Ok(issued.minted)
}

/// Handles a code that is no longer redeemable: if it was redeemed and this request
/// proves it comes from the same client with the right verifier, revoke what the
/// first redemption issued.
async fn replay<C: ConnectionTrait>(
    ctx: &GrantCtx<'_, C>,
    client: &clients::Model,
    input: &CodeRedemption<'_>,
) -> OAuthResult<()> {
    let Some(used) = codes::used(ctx.cache, ctx.tenant.id, input.code).await? else {
        return Ok(());
    };
    // Only the client the code was issued to, proving the PKCE verifier, revokes: a
    // thief replaying a leaked code must not be able to cut the victim off. Any replay
    // of a redeemed code is recorded and raised as an alert.
    let proven = used.grant.client_id == client.client_id
        && verifier_matches(used.grant.code_challenge.as_deref(), input.code_verifier);
    if proven {
        if let Some(family) = used.family_id {
            refresh::revoke_family(ctx.db, ctx.rows, &ctx.tenant, family, ctx.now).await?;
            // And every access token refreshed from it since (RFC 7009 §2.1).
            ctx.effects.revoke_grant(family);
        }
        ctx.effects.revoke_token(&used.access_jti, used.access_exp);
    }
    let details = json!({
        "client_id": client.client_id,
        "issued_to": used.grant.client_id,
        "user_id": used.grant.user_id,
        "revoked": proven,
        "revoked_family": if proven { used.family_id } else { None },
        "ip": ctx.actor.ip,
    });
    crate::journal::alerts::record_alerted(
        ctx.db,
        &ctx.actor,
        Event {
            tenant_id: Some(ctx.tenant.id),
            action: "authorization_code.replayed",
            target: Some(format!("user:{}", used.grant.user_id)),
            outcome: "failure",
            details: details.clone(),
        },
        crate::journal::alerts::kinds::AUTHORIZATION_CODE_REUSE,
        details,
        ctx.now,
    )
    .await?;
    Ok(())
}
