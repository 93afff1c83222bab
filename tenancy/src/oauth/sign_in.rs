//! How every sign-in ends, whichever way it was proven (password, second factor,
//! passkey, step-up): [`finish`] replaces the browser's session by a new one, moves
//! the pending authorization to it, forgets the user's failed attempts and audits
//! `user.login`. [`second_factor_pending`] is the stop on the way when a password is
//! right but a second factor is due.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::users;
use sea_orm::ConnectionTrait;

use crate::{
    Result,
    accounts::{
        lockout,
        sessions::{self, Pending, Session},
    },
    cache::Cache,
    core::{TenantCtx, amr},
    journal::audit::{self, Actor, Event},
    oauth::interactions::{self, Interaction},
    tenants::issuer::Issuer,
};

/// The authorization a sign-in happens for: the interaction's id and the
/// interaction, which follows the new session.
pub type Pursuing<'a> = (&'a str, &'a mut Interaction);

/// Completes the sign-in (or step-up) of `user` with the methods `amr` at `issuer`:
/// a new session (new cookie value, `sid` and CSRF token) replaces the one whose
/// cookie is `cookie`, the interaction (if any) follows it, the user's failure count
/// is cleared and `user.login` is audited. Returns the new cookie value and session.
#[expect(clippy::too_many_arguments, reason = "a sign-in's whole context")]
pub async fn finish(
    db: &impl ConnectionTrait,
    cache: &dyn Cache,
    issuer: &Issuer,
    actor: &Actor,
    cookie: &str,
    interaction: Option<Pursuing<'_>>,
    user: &users::Model,
    amr: Vec<String>,
    now: DateTime<Utc>,
) -> Result<(String, Session)> {
    let tenant = TenantCtx::from(issuer.tenant());
    let ttl = Duration::from_secs(u64::from(issuer.settings().session_ttl_secs));
    let (new_cookie, session) = sessions::log_in(
        cache,
        tenant.id,
        Some(cookie),
        user.id,
        amr.clone(),
        now,
        ttl,
    )
    .await?;
    let client_id = match interaction {
        Some((id, interaction)) => {
            interaction.sid = session.sid.clone();
            interaction.request.signed_in(&session);
            interactions::put(cache, tenant.id, id, interaction).await?;
            interaction.request.client_id.clone()
        }
        None => String::new(),
    };
    lockout::attempt_succeeded(cache, tenant.id, &lockout::Subjects::user(user)).await?;
    let actor = acting_as(actor, user);
    let logged = Event::success(Some(tenant.id), "user.login", format!("user:{}", user.id))
        .with_details(serde_json::json!({ "client_id": client_id, "amr": amr }));
    audit::record(db, &actor, logged, now).await?;
    Ok((new_cookie, session))
}

/// After a correct password when a second factor is due: a pending session (new
/// cookie value and `sid`, living as long as an interaction) replaces the browser's,
/// the interaction follows it, and `user.login_first_factor` is audited. Returns the
/// new cookie value and session.
#[expect(clippy::too_many_arguments, reason = "a sign-in's whole context")]
pub async fn second_factor_pending(
    db: &impl ConnectionTrait,
    cache: &dyn Cache,
    issuer: &Issuer,
    actor: &Actor,
    cookie: &str,
    (id, interaction): Pursuing<'_>,
    user: &users::Model,
    now: DateTime<Utc>,
) -> Result<(String, Session)> {
    let tenant = TenantCtx::from(issuer.tenant());
    let pending = Pending {
        user_id: user.id,
        amr: vec![amr::AMR_PWD.into()],
    };
    let (new_cookie, session) = sessions::begin_second_factor(
        cache,
        tenant.id,
        Some(cookie),
        pending,
        interactions::INTERACTION_TTL,
    )
    .await?;
    interaction.sid = session.sid.clone();
    interaction.request.prompt_login = false;
    interactions::put(cache, tenant.id, id, interaction).await?;
    let actor = acting_as(actor, user);
    let proven = Event::success(
        Some(tenant.id),
        "user.login_first_factor",
        format!("user:{}", user.id),
    )
    .with_details(serde_json::json!({
        "client_id": interaction.request.client_id,
        "amr": [amr::AMR_PWD],
    }));
    audit::record(db, &actor, proven, now).await?;
    Ok((new_cookie, session))
}

/// `actor` (its address and user agent) speaking as `user` from now on.
fn acting_as(actor: &Actor, user: &users::Model) -> Actor {
    Actor {
        id: format!("user:{}", user.id),
        ..actor.clone()
    }
}
