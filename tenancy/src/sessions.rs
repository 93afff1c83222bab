//! Browser sessions, server-side in the cache: the cookie holds only a random id, and
//! the cache key is that id's SHA-256, so neither the cache nor its backups hold a
//! usable session id.
//!
//! A session exists before login (it carries the CSRF token of the login form); login
//! replaces it with a new id (no session fixation, OWASP Session Management §"Renew
//! the Session ID After Any Privilege Level Change").

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Result, cache::Cache, secrets};

const KIND: &str = "session";

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
    };
    store(cache, tenant_id, &cookie_id, &session, ttl).await?;
    Ok((cookie_id, session))
}

/// Ends a session.
pub async fn end(cache: &dyn Cache, tenant_id: Uuid, cookie_id: &str) -> Result<()> {
    cache
        .delete(&key(cache, tenant_id, cookie_id))
        .await
        .map(|_| ())
}

/// Whether a submitted CSRF token matches the session's (constant time).
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    secrets::constant_time_eq(session.csrf.as_bytes(), submitted.as_bytes())
}
