//! Rows a group-committed batch inserts together: the refresh tokens and audit events
//! of its grants, held until the batch ends and then written with one multi-row
//! `INSERT` per table, in the batch's transaction, before it commits.
//!
//! On SQLite every statement of a batch is a round trip between the database lane and
//! sqlx's connection thread, two thread wake-ups each; a refresh was three statements
//! (claim the token, store its successor, record the event), and those wake-ups, not
//! SQLite, were the ceiling of the token endpoint (`docs/performance.md`). Deferred,
//! a refresh is one statement of its own plus its share of two.
//!
//! **Nothing reads a deferred row before it is written.** Rows are only ever
//! appended here, and a grant that is about to read or change rows of the tables held
//! here (a replayed refresh token's family, a grace-window retry looking for the
//! successor another grant of the same batch just minted) calls [`DeferredRows::flush`]
//! first (`oauth::refresh::redeem` and `oauth::refresh::revoke_family` do it), so it
//! sees exactly what it would have seen had every grant written at once.
//! Nothing outside the batch can see its rows before COMMIT either way.
//!
//! If a flush fails, the batch cannot tell whose row was at fault, so it is rolled
//! back and run again with every row written at once ([`DeferredRows::immediate`]),
//! which puts the failure on the grant that caused it (`runtime::batch`).

use std::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};

use entity::{audit_events, refresh_tokens};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};

use crate::{Error, Result};

/// The rows waiting for the end of a batch, or (in immediate mode) none ever.
pub struct DeferredRows {
    deferred: bool,
    rows: Mutex<Rows>,
    failed: AtomicBool,
}

#[derive(Default)]
struct Rows {
    refresh_tokens: Vec<refresh_tokens::ActiveModel>,
    audit_events: Vec<audit_events::ActiveModel>,
}

impl DeferredRows {
    /// Rows are held until [`DeferredRows::flush`].
    pub fn deferred() -> Self {
        Self {
            deferred: true,
            rows: Mutex::default(),
            failed: AtomicBool::new(false),
        }
    }

    /// Every row is written at once (outside a batch, and to find which grant of a
    /// batch made a flush fail).
    pub fn immediate() -> Self {
        Self {
            deferred: false,
            ..Self::deferred()
        }
    }

    /// Inserts a refresh token's row on `db` (now, or at the next flush).
    pub async fn insert_refresh_token(
        &self,
        db: &impl ConnectionTrait,
        row: refresh_tokens::ActiveModel,
    ) -> Result<()> {
        if self.deferred {
            self.lock()?.refresh_tokens.push(row);
            return Ok(());
        }
        insert_all(db, vec![row]).await
    }

    /// Inserts an audit event's row on `db` (now, or at the next flush).
    pub async fn insert_audit_event(
        &self,
        db: &impl ConnectionTrait,
        row: audit_events::ActiveModel,
    ) -> Result<()> {
        if self.deferred {
            self.lock()?.audit_events.push(row);
            return Ok(());
        }
        insert_all(db, vec![row]).await
    }

    /// Writes every held row on `db`: one statement per table that has any. After a
    /// failure [`DeferredRows::flush_failed`] is true and the held rows are gone (the
    /// transaction must roll back).
    pub async fn flush(&self, db: &impl ConnectionTrait) -> Result<()> {
        let rows = std::mem::take(&mut *self.lock()?);
        let written = match insert_all(db, rows.refresh_tokens).await {
            Ok(()) => insert_all(db, rows.audit_events).await,
            failed => failed,
        };
        if written.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        written
    }

    /// Whether a flush failed (the batch must run again in immediate mode).
    pub fn flush_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Rows>> {
        self.rows
            .lock()
            .map_err(|_| Error::Internal("deferred rows lock poisoned".into()))
    }
}

/// Inserts `rows` of one table in one statement (none for no rows).
async fn insert_all<A>(db: &impl ConnectionTrait, rows: Vec<A>) -> Result<()>
where
    A: ActiveModelTrait + Send,
{
    if rows.is_empty() {
        return Ok(());
    }
    A::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}
