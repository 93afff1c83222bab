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
//! list, pruned of ended sessions whenever it is read), so the account page can show
//! and end them and a password change or reset can end them all. The index is updated
//! by read-modify-write: two logins of one user at the same instant on two nodes may
//! drop one entry from the list (that session still works and expires normally).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Result, cache::Cache, secrets};

const KIND: &str = "session";
const INDEX_KIND: &str = "user_sessions";
/// At most this many sessions are indexed per user (the oldest drop out of the list).
const MAX_INDEXED: usize = 50;

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

/// The session behind a cookie value, if it exists.
pub async fn load(cache: &dyn Cache, tenant_id: Uuid, cookie_id: &str) -> Result<Option<Session>> {
    if cookie_id.len() > 128 {
        return Ok(None);
    }
    Ok(cache
        .get(&key(cache, tenant_id, cookie_id))
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
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
    let cookie_id = secrets::random_token("")?;
    let session = Session {
        user_id: None,
        auth_time: None,
        amr: Vec::new(),
        sid: secrets::random_token("")?,
        csrf: secrets::random_token("")?,
        pending: Some(pending),
    };
    store(cache, tenant_id, &cookie_id, &session, ttl).await?;
    Ok((cookie_id, session))
}

/// Logs `user_id` in: the old session is destroyed and a new one (new cookie value,
/// new `sid`, new CSRF token) takes its place.
pub async fn log_in(
    cache: &dyn Cache,
    tenant_id: Uuid,
    old_cookie_id: Option<&str>,
    user_id: Uuid,
    amr: Vec<String>,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<(String, Session)> {
    if let Some(old) = old_cookie_id {
        cache.delete(&key(cache, tenant_id, old)).await?;
    }
    let cookie_id = secrets::random_token("")?;
    let session = Session {
        user_id: Some(user_id),
        auth_time: Some(now.timestamp()),
        amr,
        sid: secrets::random_token("")?,
        csrf: secrets::random_token("")?,
        pending: None,
    };
    store(cache, tenant_id, &cookie_id, &session, ttl).await?;
    let mut index = read_index(cache, tenant_id, user_id).await?;
    index.push(SessionInfo {
        sid: session.sid.clone(),
        auth_time: now.timestamp(),
        amr: session.amr.clone(),
        handle: secrets::sha256_hex(&cookie_id),
    });
    if index.len() > MAX_INDEXED {
        let excess = index.len() - MAX_INDEXED;
        index.drain(..excess);
    }
    write_index(cache, tenant_id, user_id, &index, ttl).await?;
    Ok((cookie_id, session))
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

async fn read_index(cache: &dyn Cache, tenant_id: Uuid, user_id: Uuid) -> Result<Vec<SessionInfo>> {
    Ok(cache
        .get(&index_key(cache, tenant_id, user_id))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

async fn write_index(
    cache: &dyn Cache,
    tenant_id: Uuid,
    user_id: Uuid,
    index: &[SessionInfo],
    ttl: Duration,
) -> Result<()> {
    let key = index_key(cache, tenant_id, user_id);
    if index.is_empty() {
        return cache.delete(&key).await.map(|_| ());
    }
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
    let index = read_index(cache, tenant_id, user_id).await?;
    let mut live = Vec::with_capacity(index.len());
    for entry in &index {
        let alive = cache
            .get(&cache.key(tenant_id, KIND, &entry.handle))
            .await?
            .and_then(|b| serde_json::from_slice::<Session>(&b).ok())
            .is_some_and(|s| s.user_id == Some(user_id) && s.sid == entry.sid);
        if alive {
            live.push(entry.clone());
        }
    }
    if live.len() != index.len() {
        write_index(cache, tenant_id, user_id, &live, ttl).await?;
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
    let rest: Vec<SessionInfo> = live.iter().filter(|e| e.sid != sid).cloned().collect();
    write_index(cache, tenant_id, user_id, &rest, ttl).await?;
    Ok(true)
}

/// Ends every session of the user except the one with `keep_sid` (if given); returns
/// how many were ended. For password changes and resets.
pub async fn end_all_for_user(
    cache: &dyn Cache,
    tenant_id: Uuid,
    user_id: Uuid,
    keep_sid: Option<&str>,
    ttl: Duration,
) -> Result<u64> {
    let live = list_for_user(cache, tenant_id, user_id, ttl).await?;
    let mut ended = 0;
    let mut kept = Vec::new();
    for entry in live {
        if Some(entry.sid.as_str()) == keep_sid {
            kept.push(entry);
        } else if cache
            .delete(&cache.key(tenant_id, KIND, &entry.handle))
            .await?
        {
            ended += 1;
        }
    }
    write_index(cache, tenant_id, user_id, &kept, ttl).await?;
    Ok(ended)
}

/// Whether a submitted CSRF token matches the session's (constant time).
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    secrets::constant_time_eq(session.csrf.as_bytes(), submitted.as_bytes())
}
