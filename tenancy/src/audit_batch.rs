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

use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use crate::{
    Error, Result,
    audit::{Actor, Event, row},
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
        let outcome = insert_all(&db, rows).await;
        for waiter in waiters {
            let _ = waiter.send(match &outcome {
                Ok(()) => Ok(()),
                Err(err) => Err(for_each_waiter(err)),
            });
        }
    }
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
