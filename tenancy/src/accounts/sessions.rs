//! Browser sessions, server-side in the cache: the cookie holds only a random id, and
//! the cache key is that id's SHA-256, so neither the cache nor its backups hold a
//! usable session id.
//!
//! A session exists before login (it carries the CSRF token of the login form); login
//! replaces it with a new id (no session fixation, OWASP Session Management §"Renew
//! the Session ID After Any Privilege Level Change"). So does every rise of the
//! authentication level after it: a password that still needs a second factor gives a
//! *pending* session (no user yet, see [`Pending`]); the second factor, or a step-up on
//! a logged-in session, gives a new one again.
//!
//! Each user's live sessions are listed in a per-user index in the cache (a small JSON
//! record, pruned of ended sessions whenever it is read), so the account page can show
//! and end them. A user has at most [`MAX_INDEXED`] sessions: a login beyond that ends
//! the oldest, so no live session is missing from the index for lack of room.
//!
//! Ending *every* session (password reset, an administrator's password change) must
//! not depend on the index being complete: the index is updated by read-modify-write,
//! and two logins of one user at the same instant on two nodes may drop an entry. So
//! the index also holds the user's session *epoch*, a random value; every session of
//! the user (pending ones too) records the epoch it was created under, and [`load`]
//! accepts a session only while its epoch is the user's current one. Ending all
//! sessions deletes every indexed one and draws a new epoch, which ends the rest on
//! their next read on any node. If the index is lost from the cache, the user's
//! sessions end (fail closed).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Result, cache::Cache, crypto::secrets};

const KIND: &str = "session";
const INDEX_KIND: &str = "user_sessions";
/// At most this many live sessions per user: a login beyond that ends the oldest.
pub const MAX_INDEXED: usize = 50;

/// What the server knows about a browser.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// The logged-in user, once authenticated.
    pub user_id: Option<Uuid>,
    /// When the user authenticated (seconds since the epoch).
    pub auth_time: Option<i64>,
    /// Authentication methods used (`pwd`, ...).
    pub amr: Vec<String>,
    /// Public session id, put in tokens as `sid` (never the cookie value).
    pub sid: String,
    /// Anti-CSRF token of the forms shown to this browser.
    pub csrf: String,
    /// A first factor is proven and a second one is due (no `user_id` yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// The user's session epoch when this session was created (see the module docs);
    /// `None` for anonymous sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// A second factor was enrolled during this sign-in (or the sign-in it stepped up
    /// from): the factor proves nothing yet, so this sign-in never becomes
    /// multi-factor (see [`log_in`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enrolled_factor: bool,
}

impl Session {
    /// The user this session belongs to: signed in, or halfway through a sign-in.
    pub fn subject(&self) -> Option<Uuid> {
        self.user_id.or(self.pending.as_ref().map(|p| p.user_id))
    }
}

/// A login halfway through: the first factor is proven, the second is due.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    /// Who proved the first factor.
    pub user_id: Uuid,
    /// The methods used so far.
    pub amr: Vec<String>,
}

/// One entry of a user's session index.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's public id (`sid`).
    pub sid: String,
    /// When the user authenticated (seconds since the epoch).
    pub auth_time: i64,
    /// The methods used.
    pub amr: Vec<String>,
    /// The session's cache key id (SHA-256 of the cookie value; never shown).
    #[serde(rename = "h")]
    handle: String,
}

fn key(cache: &dyn Cache, tenant_id: Uuid, cookie_id: &str) -> String {
    cache.key(tenant_id, KIND, &secrets::sha256_hex(cookie_id))
}

/// The session behind a cookie value, if it exists and has not been ended by its
/// user's epoch changing (all sessions of the user ended).
pub async fn load(cache: &dyn Cache, tenant_id: Uuid, cookie_id: &str) -> Result<Option<Session>> {
    if cookie_id.len() > 128 {
        return Ok(None);
    }
    let Some(session) = cache
        .get(&key(cache, tenant_id, cookie_id))
        .await?
        .and_then(|bytes| serde_json::from_slice::<Session>(&bytes).ok())
    else {
        return Ok(None);
    };
    if let Some(user_id) = session.subject() {
        let index = read_index(cache, tenant_id, user_id).await?;
        if index.epoch != session.epoch {
            return Ok(None);
        }
    }
    Ok(Some(session))
}

async fn store(
    cache: &dyn Cache,
    tenant_id: Uuid,
    cookie_id: &str,
    session: &Session,
    ttl: Duration,
) -> Result<()> {
    let bytes = serde_json::to_vec(session).map_err(|e| crate::Error::Internal(e.to_string()))?;
    cache
        .set(&key(cache, tenant_id, cookie_id), &bytes, ttl)
        .await
}

/// Starts an anonymous session; returns the cookie value and the session.
pub async fn start(cache: &dyn Cache, tenant_id: Uuid, ttl: Duration) -> Result<(String, Session)> {
    let cookie_id = secrets::random_token("")?;
    let session = Session {
        user_id: None,
        auth_time: None,
        amr: Vec::new(),
        sid: secrets::random_token("")?,
        csrf: secrets::random_token("")?,
        pending: None,
        epoch: None,
        enrolled_factor: false,
    };
    store(cache, tenant_id, &cookie_id, &session, ttl).await?;
    Ok((cookie_id, session))
}

/// Replaces the browser's session by a pending one (first factor proven, second due),
/// under a new cookie value and `sid`; it lives for `ttl` (the time a sign-in may take).
pub async fn begin_second_factor(
    cache: &dyn Cache,
    tenant_id: Uuid,
    old_cookie_id: Option<&str>,
    pending: Pending,
    ttl: Duration,
) -> Result<(String, Session)> {
    if let Some(old) = old_cookie_id {
        cache.delete(&key(cache, tenant_id, old)).await?;
    }
    let mut index = read_index(cache, tenant_id, pending.user_id).await?;
    if index.epoch.is_none() {
        // The user's first session: give them an epoch (a later login keeps it).
        index.epoch = Some(secrets::random_token("")?);
        write_index(cache, tenant_id, pending.user_id, &index, ttl).await?;
    }
    let cookie_id = secrets::random_token("")?;
    let session = Session {
        user_id: None,
        auth_time: None,
        amr: Vec::new(),
        sid: secrets::random_token("")?,
        csrf: secrets::random_token("")?,
        pending: Some(pending),
        epoch: index.epoch,
        enrolled_factor: false,
    };
    store(cache, tenant_id, &cookie_id, &session, ttl).await?;
    Ok((cookie_id, session))
}

/// Logs `user_id` in: the old session is destroyed and a new one (new cookie value,
/// new `sid`, new CSRF token) takes its place.
///
/// When the old session is the same user's (a second factor after the password, a
/// step-up) and a factor was enrolled in it, the new session inherits that mark and
/// `amr` loses `mfa`: a factor enrolled in a sign-in never makes that sign-in
/// multi-factor (`acr` stays `0`), since whoever enrolled it proved nothing with it.
pub async fn log_in(
    cache: &dyn Cache,
    tenant_id: Uuid,
    old_cookie_id: Option<&str>,
    user_id: Uuid,
    amr: Vec<String>,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<(String, Session)> {
    let mut enrolled_factor = false;
    let mut was_mfa = false;
    if let Some(old) = old_cookie_id {
        if let Some(previous) = load(cache, tenant_id, old).await?
            && previous.subject() == Some(user_id)
        {
            enrolled_factor = previous.enrolled_factor;
            was_mfa = crate::core::amr::is_mfa(&previous.amr);
        }
        cache.delete(&key(cache, tenant_id, old)).await?;
    }
    let amr = if enrolled_factor && !was_mfa {
        amr.into_iter()
            .filter(|m| m != crate::core::amr::AMR_MFA)
            .collect()
    } else {
        amr
    };
    let mut index = read_index(cache, tenant_id, user_id).await?;
    if index.epoch.is_none() {
        index.epoch = Some(secrets::random_token("")?);
    }
    let cookie_id = secrets::random_token("")?;
    let session = Session {
        user_id: Some(user_id),
        auth_time: Some(now.timestamp()),
        amr,
        sid: secrets::random_token("")?,
        csrf: secrets::random_token("")?,
        pending: None,
        epoch: index.epoch.clone(),
        enrolled_factor,
    };
    store(cache, tenant_id, &cookie_id, &session, ttl).await?;
    index.sessions.push(SessionInfo {
        sid: session.sid.clone(),
        auth_time: now.timestamp(),
        amr: session.amr.clone(),
        handle: secrets::sha256_hex(&cookie_id),
    });
    if index.sessions.len() > MAX_INDEXED {
        // The oldest sessions end rather than merely drop out of the index: every
        // live session stays where "end all sessions" finds it.
        let excess = index.sessions.len() - MAX_INDEXED;
        for gone in index.sessions.drain(..excess) {
            cache
                .delete(&cache.key(tenant_id, KIND, &gone.handle))
                .await?;
        }
    }
    write_index(cache, tenant_id, user_id, &index, ttl).await?;
    Ok((cookie_id, session))
}

/// Marks the browser's session as having enrolled a second factor (see
/// [`Session::enrolled_factor`]); it keeps its id, and lives `ttl` from now.
pub async fn mark_enrolled(
    cache: &dyn Cache,
    tenant_id: Uuid,
    cookie_id: &str,
    ttl: Duration,
) -> Result<()> {
    let Some(mut session) = load(cache, tenant_id, cookie_id).await? else {
        return Ok(());
    };
    // A session that was multi-factor before stays so: it proved another factor.
    session.enrolled_factor = true;
    store(cache, tenant_id, cookie_id, &session, ttl).await
}

/// Ends a session.
pub async fn end(cache: &dyn Cache, tenant_id: Uuid, cookie_id: &str) -> Result<()> {
    cache
        .delete(&key(cache, tenant_id, cookie_id))
        .await
        .map(|_| ())
}

fn index_key(cache: &dyn Cache, tenant_id: Uuid, user_id: Uuid) -> String {
    cache.key(tenant_id, INDEX_KIND, &user_id.to_string())
}

/// A user's session index: the epoch their sessions must carry, and their sessions.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    epoch: Option<String>,
    #[serde(rename = "s", default)]
    sessions: Vec<SessionInfo>,
}

async fn read_index(cache: &dyn Cache, tenant_id: Uuid, user_id: Uuid) -> Result<Index> {
    let Some(bytes) = cache.get(&index_key(cache, tenant_id, user_id)).await? else {
        return Ok(Index::default());
    };
    Ok(serde_json::from_slice::<Index>(&bytes)
        .or_else(|_| {
            // An index written before epochs existed: a bare list of sessions.
            serde_json::from_slice::<Vec<SessionInfo>>(&bytes).map(|sessions| Index {
                epoch: None,
                sessions,
            })
        })
        .unwrap_or_default())
}

async fn write_index(
    cache: &dyn Cache,
    tenant_id: Uuid,
    user_id: Uuid,
    index: &Index,
    ttl: Duration,
) -> Result<()> {
    let key = index_key(cache, tenant_id, user_id);
    let bytes = serde_json::to_vec(index).map_err(|e| crate::Error::Internal(e.to_string()))?;
    cache.set(&key, &bytes, ttl).await
}

/// The user's live sessions, oldest first (ended ones are pruned from the index).
pub async fn list_for_user(
    cache: &dyn Cache,
    tenant_id: Uuid,
    user_id: Uuid,
    ttl: Duration,
) -> Result<Vec<SessionInfo>> {
    let mut index = read_index(cache, tenant_id, user_id).await?;
    let mut live = Vec::with_capacity(index.sessions.len());
    for entry in &index.sessions {
        let alive = cache
            .get(&cache.key(tenant_id, KIND, &entry.handle))
            .await?
            .and_then(|b| serde_json::from_slice::<Session>(&b).ok())
            .is_some_and(|s| {
                s.user_id == Some(user_id) && s.sid == entry.sid && s.epoch == index.epoch
            });
        if alive {
            live.push(entry.clone());
        }
    }
    if live.len() != index.sessions.len() {
        index.sessions = live.clone();
        write_index(cache, tenant_id, user_id, &index, ttl).await?;
    }
    Ok(live)
}

/// Ends the user's session whose `sid` is given; false if there is none.
pub async fn end_by_sid(
    cache: &dyn Cache,
    tenant_id: Uuid,
    user_id: Uuid,
    sid: &str,
    ttl: Duration,
) -> Result<bool> {
    let live = list_for_user(cache, tenant_id, user_id, ttl).await?;
    let Some(found) = live.iter().find(|e| e.sid == sid) else {
        return Ok(false);
    };
    cache
        .delete(&cache.key(tenant_id, KIND, &found.handle))
        .await?;
    let mut index = read_index(cache, tenant_id, user_id).await?;
    index.sessions.retain(|e| e.sid != sid);
    write_index(cache, tenant_id, user_id, &index, ttl).await?;
    Ok(true)
}

/// Ends every session of the user except the one with `keep_sid` (if given); returns
/// how many indexed sessions were deleted. For password changes and resets: the user
/// gets a new epoch, so a session the index missed ends too, on any node, and so do
/// pending sign-ins (a password proven, a second factor still due).
pub async fn end_all_for_user(
    cache: &dyn Cache,
    tenant_id: Uuid,
    user_id: Uuid,
    keep_sid: Option<&str>,
    ttl: Duration,
) -> Result<u64> {
    let index = read_index(cache, tenant_id, user_id).await?;
    let epoch = Some(secrets::random_token("")?);
    let mut ended = 0;
    let mut kept = Vec::new();
    for entry in index.sessions {
        let session_key = cache.key(tenant_id, KIND, &entry.handle);
        if Some(entry.sid.as_str()) == keep_sid {
            // The session making the change stays, under the new epoch.
            let current = cache
                .get(&session_key)
                .await?
                .and_then(|b| serde_json::from_slice::<Session>(&b).ok())
                .filter(|s| s.user_id == Some(user_id) && s.epoch == index.epoch);
            if let Some(mut session) = current {
                session.epoch.clone_from(&epoch);
                let bytes = serde_json::to_vec(&session)
                    .map_err(|e| crate::Error::Internal(e.to_string()))?;
                cache.set(&session_key, &bytes, ttl).await?;
                kept.push(entry);
            }
        } else if cache.delete(&session_key).await? {
            ended += 1;
        }
    }
    let index = Index {
        epoch,
        sessions: kept,
    };
    write_index(cache, tenant_id, user_id, &index, ttl).await?;
    Ok(ended)
}

/// Whether a submitted CSRF token matches the session's (constant time).
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    secrets::constant_time_eq(session.csrf.as_bytes(), submitted.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cache::memory::MemoryCache, test_support::now};

    const TTL: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn ending_all_sessions_ends_every_one_even_past_the_index_cap_and_pending_ones() {
        // Arrange: more sessions than the index holds, one unindexed, one pending.
        let cache = MemoryCache::new("t");
        let (tenant, user) = (Uuid::new_v4(), Uuid::new_v4());
        let mut cookies = Vec::new();
        for _ in 0..MAX_INDEXED + 10 {
            let (cookie, _) = log_in(&cache, tenant, None, user, vec!["pwd".into()], now(), TTL)
                .await
                .unwrap();
            cookies.push(cookie);
        }
        let (unindexed, _) = log_in(&cache, tenant, None, user, vec!["pwd".into()], now(), TTL)
            .await
            .unwrap();
        // As if a concurrent login's index write had dropped it from the index.
        let mut index = read_index(&cache, tenant, user).await.unwrap();
        index.sessions.pop();
        write_index(&cache, tenant, user, &index, TTL)
            .await
            .unwrap();
        let pending = Pending {
            user_id: user,
            amr: vec!["pwd".into()],
        };
        let (half, _) = begin_second_factor(&cache, tenant, None, pending, TTL)
            .await
            .unwrap();
        let (keep, kept) = log_in(&cache, tenant, None, user, vec!["pwd".into()], now(), TTL)
            .await
            .unwrap();
        let (other_user, _) = log_in(
            &cache,
            tenant,
            None,
            Uuid::new_v4(),
            vec!["pwd".into()],
            now(),
            TTL,
        )
        .await
        .unwrap();

        // Act
        end_all_for_user(&cache, tenant, user, Some(&kept.sid), TTL)
            .await
            .unwrap();

        // Assert
        for cookie in cookies.iter().chain([&unindexed, &half]) {
            assert_eq!(load(&cache, tenant, cookie).await.unwrap(), None);
        }
        assert!(load(&cache, tenant, &keep).await.unwrap().is_some(), "kept");
        assert!(load(&cache, tenant, &other_user).await.unwrap().is_some());
        let (after, _) = log_in(&cache, tenant, None, user, vec!["pwd".into()], now(), TTL)
            .await
            .unwrap();
        assert!(
            load(&cache, tenant, &after).await.unwrap().is_some(),
            "new logins work"
        );
    }

    #[tokio::test]
    async fn a_login_past_the_cap_ends_the_oldest_session_instead_of_forgetting_it() {
        let cache = MemoryCache::new("t");
        let (tenant, user) = (Uuid::new_v4(), Uuid::new_v4());
        let (oldest, _) = log_in(&cache, tenant, None, user, vec!["pwd".into()], now(), TTL)
            .await
            .unwrap();
        for _ in 0..MAX_INDEXED {
            log_in(&cache, tenant, None, user, vec!["pwd".into()], now(), TTL)
                .await
                .unwrap();
        }
        assert_eq!(load(&cache, tenant, &oldest).await.unwrap(), None);
        assert_eq!(
            list_for_user(&cache, tenant, user, TTL)
                .await
                .unwrap()
                .len(),
            MAX_INDEXED
        );
    }

    #[tokio::test]
    async fn a_factor_enrolled_in_a_sign_in_keeps_its_step_up_from_becoming_mfa() {
        let cache = MemoryCache::new("t");
        let (tenant, user) = (Uuid::new_v4(), Uuid::new_v4());
        let (cookie, _) = log_in(&cache, tenant, None, user, vec!["pwd".into()], now(), TTL)
            .await
            .unwrap();
        mark_enrolled(&cache, tenant, &cookie, TTL).await.unwrap();
        let amr = crate::core::amr::add_methods(&["pwd".into()], &["otp"], false);
        let (_, stepped) = log_in(&cache, tenant, Some(&cookie), user, amr, now(), TTL)
            .await
            .unwrap();
        assert_eq!(stepped.amr, vec!["pwd".to_owned(), "otp".to_owned()]);
        assert_eq!(
            crate::core::amr::acr_for(&stepped.amr),
            crate::core::amr::ACR_NONE
        );
    }
}
