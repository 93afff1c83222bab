//! The domain's error type and how storage failures are classified.

use sea_orm::{DbErr, SqlErr};

/// Result alias used throughout the domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem with one input field, reported back to API callers verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the offending field (`redirect_uris[0]`).
    pub field: String,
    /// Human-readable explanation of the rule that was broken.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything a domain operation can fail with; `api::error` maps each to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named resource does not exist, or exists but is not visible to the caller
    /// (tenant isolation answers "not found" so no tenant can learn another exists).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule would be broken.
    #[error("{0}")]
    Conflict(String),
    /// Input broke one or more validation rules.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The caller is authenticated but may not do this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthenticated,
    /// The database or the cache cannot be reached; callers must fail closed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bounded work queue (the named one, e.g. `argon2`) is full: the server is at
    /// capacity for this kind of work. Answered at once with 503 and `Retry-After`,
    /// so a flood is refused instead of making every later request wait.
    #[error("the {0} queue is full")]
    Busy(&'static str),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(DbErr),
    /// A bug or an environment failure (RNG, crypto library).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A single-field validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

/// Whether a failed statement failed because the database went away (restart,
/// failover, network) or was momentarily locked by another process (SQLite), rather
/// than because of the statement: those are answered 503
/// (fail closed, retry later), never 500. SQLSTATE class 08 is "connection exception";
/// 57P01–57P03 are administrator/crash shutdown and "cannot connect now"; 53300 is
/// "too many connections" (PostgreSQL Appendix A).
fn is_connection_loss(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    let (DbErr::Query(RuntimeErr::SqlxError(inner)) | DbErr::Exec(RuntimeErr::SqlxError(inner))) =
        err
    else {
        return false;
    };
    match inner.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
                || is_sqlite_contention(&code)
        }),
        _ => false,
    }
}

/// SQLite's "another connection holds the lock" codes: `SQLITE_BUSY` (5) and its
/// extended `BUSY_RECOVERY` (261), `BUSY_SNAPSHOT` (517: a read transaction of a WAL
/// database could not become a write transaction because another connection wrote
/// first) and `BUSY_TIMEOUT` (773), and `SQLITE_LOCKED` (6) with `LOCKED_SHAREDCACHE`
/// (262) (https://www.sqlite.org/rescode.html). They happen only when two processes
/// share one database file; retried later the statement succeeds, so they are 503.
fn is_sqlite_contention(code: &str) -> bool {
    matches!(code, "5" | "261" | "517" | "773" | "6" | "262")
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(err.to_string()),
            other if is_connection_loss(&other) => Self::Unavailable(other.to_string()),
            other => match other.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => {
                    Self::Conflict("a resource with these unique values already exists".into())
                }
                _ => Self::Database(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};

    use super::*;

    /// Two processes on one SQLite file (two nodes in a test, `tessera migrate` beside
    /// a server): a transaction that read before another connection wrote cannot
    /// write, and that is "retry later", not a server error.
    #[tokio::test]
    async fn a_write_lost_to_another_sqlite_connection_is_unavailable_not_a_database_error() {
        let dir = std::env::temp_dir().join(format!("tessera-busy-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("db").display());
        let first = Database::connect(&url).await.unwrap();
        let second = Database::connect(&url).await.unwrap();
        first
            .execute_unprepared("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        let reading = first.begin().await.unwrap();
        reading
            .execute_unprepared("SELECT count(*) FROM t")
            .await
            .unwrap();
        second
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let lost = reading
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .unwrap_err();
        assert!(
            matches!(Error::from(lost), Error::Unavailable(_)),
            "a lost write race is 503"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
