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
    sea_orm::{DatabaseConnection, TransactionTrait},
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

/// What happened to one grant of a batch before the commit.
enum Ran {
    Written(Box<OAuthResult<Minted>>, u32),
    Panicked(Box<dyn std::any::Any + Send>),
    NotRun,
}

async fn commit_batch(db: &DatabaseConnection, jobs: Vec<Job>) {
    let mut failure: Option<OAuthError> = None;
    let mut ran = Vec::with_capacity(jobs.len());
    match db.begin().await {
        Err(err) => failure = Some(tenancy::Error::from(err).into()),
        Ok(txn) => {
            for job in &jobs {
                if failure.is_some() {
                    ran.push(Ran::NotRun);
                    continue;
                }
                let write = crate::metrics::counting_statements(job.grant.write(&txn))
                    .instrument(job.span.clone());
                match AssertUnwindSafe(write).catch_unwind().await {
                    Ok((Ok(outcome), statements)) => {
                        ran.push(Ran::Written(Box::new(outcome), statements));
                    }
                    Ok((Err(storage), _)) => {
                        failure = Some(storage);
                        ran.push(Ran::NotRun);
                    }
                    Err(panic) => {
                        failure = Some(stopped_by_panic());
                        ran.push(Ran::Panicked(panic));
                    }
                }
            }
            match &failure {
                None => {
                    if let Err(err) = txn.commit().await {
                        failure = Some(tenancy::Error::from(err).into());
                    }
                }
                // Best effort: a transaction dropped unfinished is rolled back anyway.
                Some(_) => {
                    let _ = txn.rollback().await;
                }
            }
        }
    }
    ran.resize_with(jobs.len(), || Ran::NotRun);
    for (job, ran) in jobs.into_iter().zip(ran) {
        let answer = match (ran, &failure) {
            (Ran::Panicked(panic), _) => (Err(panic), 0),
            (Ran::Written(outcome, statements), None) => (Ok(*outcome), statements),
            (_, Some(err)) => (Ok(Err(err.clone())), 0),
            (Ran::NotRun, None) => (Ok(Err(stopped())), 0),
        };
        let _ = job.answer.send(answer);
    }
}

fn stopped_by_panic() -> OAuthError {
    tenancy::Error::Unavailable("another grant of the same batch failed".into()).into()
}
