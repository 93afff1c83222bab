//! Group commit for audit events that are a request's only write.
//!
//! A `client_credentials` grant, or a refused token request, changes nothing but the
//! audit log. Committing each such event on its own made the database round trips
//! (and on SQLite, its single connection) the bound of the token endpoint. Here
//! requests hand their event to one writer task and wait: the writer takes every event
//! queued at that moment (up to [`BATCH_MAX`]), inserts them in one transaction, and
//! only then answers each waiting request. An event is therefore durable before its
//! request is answered, exactly as with a direct write, and if the database is down
//! every waiting request gets the error (fail closed, 503).
//!
//! One bad row never fails the others: when the multi-row insert fails for any reason
//! but the loss of the database, each row of the batch is retried on its own, so only
//! the request whose row cannot be stored gets an error (and the row is reported in
//! the log, without its values).

use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use crate::{
    Error, Result,
    journal::audit::{Actor, Event, row},
};

/// Most events written in one transaction.
pub const BATCH_MAX: usize = 256;
/// Events waiting for the writer at most; past this, requests wait to enqueue.
const QUEUE_MAX: usize = 4096;

type Pending = (
    entity::audit_events::ActiveModel,
    oneshot::Sender<Result<()>>,
);

/// Hands events to the writer task; cheap to clone.
#[derive(Clone)]
pub struct GroupWriter {
    queue: mpsc::Sender<Pending>,
}

impl GroupWriter {
    /// Starts the writer task on `runtime` (on SQLite, the database lane's); it ends
    /// when every handle is dropped.
    pub fn start(db: DatabaseConnection, runtime: &tokio::runtime::Handle) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE_MAX);
        runtime.spawn(write_batches(db, pending));
        Self { queue }
    }

    /// Records `event` and returns once it is committed.
    pub async fn record(
        &self,
        actor: &Actor,
        event: Event<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send((row(actor, event, now), done))
            .await
            .map_err(|_| Error::Internal("the audit writer has stopped".into()))?;
        committed
            .await
            .map_err(|_| Error::Internal("the audit writer has stopped".into()))?
    }
}

async fn write_batches(db: DatabaseConnection, mut pending: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while pending.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let (rows, waiters): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let outcomes = insert_batch(&db, rows).await;
        for (waiter, outcome) in waiters.into_iter().zip(outcomes) {
            let _ = waiter.send(outcome);
        }
    }
}

/// Inserts `rows`, all in one transaction when that works; otherwise each on its own.
/// Returns one outcome per row, in order.
async fn insert_batch(
    db: &DatabaseConnection,
    rows: Vec<entity::audit_events::ActiveModel>,
) -> Vec<Result<()>> {
    let count = rows.len();
    let err = match insert_all(db, rows.clone()).await {
        Ok(()) => return (0..count).map(|_| Ok(())).collect(),
        Err(err) => err,
    };
    // The database is gone: no row can be stored, every request fails closed.
    if let Error::Unavailable(_) = err {
        return (0..count).map(|_| Err(for_each_waiter(&err))).collect();
    }
    let mut outcomes = Vec::with_capacity(count);
    for row in rows {
        let outcome = insert_all(db, vec![row]).await;
        if let Err(err) = &outcome {
            tracing::error!(error = %err, "an audit event could not be stored");
        }
        outcomes.push(outcome.map_err(|e| for_each_waiter(&e)));
    }
    outcomes
}

async fn insert_all(
    db: &DatabaseConnection,
    rows: Vec<entity::audit_events::ActiveModel>,
) -> Result<()> {
    let txn = db.begin().await?;
    entity::audit_events::Entity::insert_many(rows)
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The batch's failure as each waiting request sees it (storage loss stays 503).
fn for_each_waiter(err: &Error) -> Error {
    match err {
        Error::Unavailable(reason) => Error::Unavailable(reason.clone()),
        other => Error::Internal(format!("writing the audit log failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveValue::Set, PaginatorTrait};

    use super::*;
    use crate::test_support::{db, now};

    fn event(target: &str) -> entity::audit_events::ActiveModel {
        row(
            &Actor::system(),
            Event::success(None, "test.event", target),
            now(),
        )
    }

    #[tokio::test]
    async fn one_bad_row_in_a_batch_fails_only_its_own_request() {
        // Arrange: a row whose id is already taken cannot be inserted.
        let db = db().await;
        let taken = event("first");
        let taken_id = taken.id.clone().unwrap();
        entity::audit_events::Entity::insert(taken)
            .exec_without_returning(&db)
            .await
            .unwrap();
        let mut bad = event("bad");
        bad.id = Set(taken_id);

        // Act
        let outcomes = insert_batch(&db, vec![event("a"), bad, event("b")]).await;

        // Assert: the good rows are stored, only the bad one is refused.
        assert!(outcomes[0].is_ok());
        assert!(outcomes[1].is_err());
        assert!(outcomes[2].is_ok());
        assert_eq!(
            entity::audit_events::Entity::find()
                .count(&db)
                .await
                .unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn a_batch_of_good_rows_is_stored_whole() {
        let db = db().await;
        let outcomes = insert_batch(&db, vec![event("a"), event("b")]).await;
        assert!(outcomes.iter().all(Result::is_ok));
        assert_eq!(
            entity::audit_events::Entity::find()
                .count(&db)
                .await
                .unwrap(),
            2
        );
    }
}
