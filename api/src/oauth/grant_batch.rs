//! Where user grants run: each in its own transaction, or on SQLite group-committed.
//!
//! On SQLite every code or refresh grant was a transaction of its own on the one
//! connection: BEGIN, three statements and COMMIT, each a round trip to sqlx's
//! connection thread, and a write-ahead-log append per commit. Here the grants queued
//! when the database lane is free run one after another in one transaction (at most
//! [`BATCH_MAX`]), so BEGIN, COMMIT and the log append are paid once per batch; under
//! light load a batch is one grant, exactly as before.
//!
//! Each grant is still all-or-nothing and answered only after its batch commits. If a
//! grant of a batch hits a storage failure or panics, or the commit fails, the whole
//! batch is rolled back and every grant in it fails as it would alone (503,
//! `temporarily_unavailable`); nothing is half-written. Grants run in order, so two
//! presenting the same refresh token in one batch see each other's writes, as two
//! transactions would.
//!
//! On Postgres, with a connection per request, each grant runs in place in its own
//! transaction.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tenancy::{
    grants::Minted,
    oauth_error::{OAuthError, OAuthResult},
    sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait},
};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::user_grant::UserGrant;

/// Most grants committed in one transaction.
pub const BATCH_MAX: usize = 64;
/// Grants waiting for the writer at most; past this, requests wait to enqueue.
const QUEUE_MAX: usize = 1024;

/// A grant's answer: its outcome (or its panic, re-raised in the request) and the SQL
/// statements it ran, counted against its request.
type Answer = (std::thread::Result<OAuthResult<Minted>>, u32);

/// A queued grant with the request's span (its log lines keep the request's context).
struct Job {
    grant: UserGrant,
    span: tracing::Span,
    answer: oneshot::Sender<Answer>,
}

/// Runs user grants; cheap to clone.
#[derive(Clone)]
pub struct UserGrants {
    db: DatabaseConnection,
    batches: Option<mpsc::Sender<Job>>,
}

impl UserGrants {
    /// Group commit on `lane` (the database lane's runtime, SQLite); in place without.
    pub fn start(db: DatabaseConnection, lane: Option<&tokio::runtime::Handle>) -> Self {
        let batches = lane.map(|runtime| {
            let (queue, pending) = mpsc::channel(QUEUE_MAX);
            runtime.spawn(write_batches(db.clone(), pending));
            queue
        });
        Self { db, batches }
    }

    /// Runs `grant` and commits its writes with its audit event; the tokens it
    /// decided are signed by the caller.
    pub async fn run(&self, grant: UserGrant) -> OAuthResult<Minted> {
        let Some(queue) = &self.batches else {
            return grant.in_transaction(&self.db).await;
        };
        let (answer, answered) = oneshot::channel();
        let job = Job {
            grant,
            span: tracing::Span::current(),
            answer,
        };
        queue.send(job).await.map_err(|_| stopped())?;
        match answered.await {
            Ok((Ok(outcome), statements)) => {
                crate::metrics::add_statements(statements);
                outcome
            }
            Ok((Err(panic), _)) => std::panic::resume_unwind(panic),
            Err(_) => Err(stopped()),
        }
    }
}

fn stopped() -> OAuthError {
    tenancy::Error::Unavailable("the grant writer has stopped".into()).into()
}

async fn write_batches(db: DatabaseConnection, mut pending: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while pending.recv_many(&mut batch, BATCH_MAX).await > 0 {
        commit_batch(&db, std::mem::take(&mut batch)).await;
    }
}

/// A panic caught in a grant, re-raised in its request.
type Panic = Box<dyn std::any::Any + Send>;

/// How a batch ended.
enum Batch {
    /// Committed: each grant's outcome and statement count, in queue order.
    Committed(Vec<(OAuthResult<Minted>, u32)>),
    /// Rolled back (or never begun): every grant gets `error`, except the one that
    /// panicked, if any (by position), which gets its panic.
    Failed {
        error: OAuthError,
        panicked: Option<(usize, Panic)>,
    },
}

async fn commit_batch(db: &DatabaseConnection, jobs: Vec<Job>) {
    let batch = match db.begin().await {
        Ok(txn) => write_all(txn, &jobs).await,
        Err(err) => Batch::Failed {
            error: tenancy::Error::from(err).into(),
            panicked: None,
        },
    };
    match batch {
        Batch::Committed(outcomes) => {
            for (job, (outcome, statements)) in jobs.into_iter().zip(outcomes) {
                let _ = job.answer.send((Ok(outcome), statements));
            }
        }
        Batch::Failed {
            error,
            mut panicked,
        } => {
            for (n, job) in jobs.into_iter().enumerate() {
                let answer = match panicked.take_if(|(at, _)| *at == n) {
                    Some((_, panic)) => Err(panic),
                    None => Ok(Err(error.clone())),
                };
                let _ = job.answer.send((answer, 0));
            }
        }
    }
}

/// Runs the batch's grants in order on `txn` and commits; stops at the first storage
/// failure or panic and rolls back.
async fn write_all(txn: DatabaseTransaction, jobs: &[Job]) -> Batch {
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (n, job) in jobs.iter().enumerate() {
        let write =
            crate::metrics::counting_statements(job.grant.write(&txn)).instrument(job.span.clone());
        let (error, panicked) = match AssertUnwindSafe(write).catch_unwind().await {
            Ok((Ok(outcome), statements)) => {
                outcomes.push((outcome, statements));
                continue;
            }
            Ok((Err(storage), _)) => (storage, None),
            Err(panic) => (stopped_by_panic(), Some((n, panic))),
        };
        // Best effort: a transaction dropped unfinished is rolled back anyway.
        let _ = txn.rollback().await;
        return Batch::Failed { error, panicked };
    }
    match txn.commit().await {
        Ok(()) => Batch::Committed(outcomes),
        Err(err) => Batch::Failed {
            error: tenancy::Error::from(err).into(),
            panicked: None,
        },
    }
}

fn stopped_by_panic() -> OAuthError {
    tenancy::Error::Unavailable("another grant of the same batch failed".into()).into()
}
