//! Group commit: units of database work queued while the database lane is busy run
//! one after another in one transaction (at most [`BATCH_MAX`]), so BEGIN, COMMIT and
//! the write-ahead-log append are paid once per batch. The token endpoint's code and
//! refresh grants run here (`oauth::token::exchange`); why it pays on SQLite, with
//! numbers, is in `docs/design-notes.md` and `docs/performance.md`.
//!
//! Without a lane (Postgres, a connection per request) each unit is a batch of one, run
//! in place by the same code, so both backends take the same path. Under light load a
//! batch on SQLite is one unit, too.
//!
//! Each unit is all-or-nothing and answered only after its batch commits; its cache
//! writes wait for that commit ([`Batched::committed`]). If a unit hits a storage
//! failure or panics, the batch is rolled back, every unit that ran is told so
//! ([`Batched::rolled_back`]: a taken code is put back), the failing unit alone gets
//! the failure (503, `temporarily_unavailable`, or its panic) and the others run again
//! in a new transaction — so one bad grant never fails, nor turns into a "replay", the
//! grants that shared its batch. If BEGIN or COMMIT fails, every unit of the batch
//! fails as it would alone. Units run in queue order, so two grants presenting the same
//! refresh token in one batch see each other's writes, as two transactions would.
//!
//! Units hand the rows they only insert (refresh tokens, audit events) to the batch's
//! [`DeferredRows`], written in one statement per table before COMMIT. If that write
//! fails, the batch runs again with rows written at once, so the failure lands on the
//! unit that caused it and only there.

use std::{future::Future, panic::AssertUnwindSafe};

use futures_util::FutureExt;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::{
    core::oauth_error::OAuthError,
    runtime::{deferred::DeferredRows, statements},
};

/// Most grants committed in one transaction.
pub const BATCH_MAX: usize = 64;
/// Grants waiting for the writer at most; past this, requests wait to enqueue.
const QUEUE_MAX: usize = 1024;

/// A unit of database work the batch writer runs: its writes, then what it must do
/// once its transaction has ended either way.
pub trait Batched: Send + Sync + 'static {
    /// What the work decided (for a grant: its tokens, or the protocol error that
    /// refused it, which commits like a success).
    type Outcome: Send + 'static;

    /// Runs the work on `txn`, inserting its insert-only rows through `rows`; `Err` is
    /// a storage failure: the transaction must roll back.
    fn write<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        rows: &'a DeferredRows,
    ) -> impl Future<Output = Result<Self::Outcome, OAuthError>> + Send + 'a;

    /// Its transaction committed (apply the cache writes that waited); an error here
    /// answers the request instead of the outcome.
    fn committed(&self) -> impl Future<Output = Result<(), OAuthError>> + Send + '_;

    /// Its transaction rolled back (undo what it did outside the database); the work
    /// may run again afterwards.
    fn rolled_back(&self) -> impl Future<Output = ()> + Send + '_;
}

/// A grant's answer: its outcome or failure (or its panic, re-raised in the request)
/// and the SQL statements it ran, counted against its request.
type Answer<T> = (std::thread::Result<Result<T, OAuthError>>, u32);

/// A queued grant with the request's span (its log lines keep the request's context).
struct Job<G: Batched> {
    work: G,
    span: tracing::Span,
    answer: oneshot::Sender<Answer<G::Outcome>>,
}

/// Runs batched work; cheap to clone.
pub struct Batcher<G: Batched> {
    db: DatabaseConnection,
    batches: Option<mpsc::Sender<Job<G>>>,
}

impl<G: Batched> Clone for Batcher<G> {
    fn clone(&self) -> Self {
        Self {
            db: self.db.clone(),
            batches: self.batches.clone(),
        }
    }
}

impl<G: Batched> Batcher<G> {
    /// Group commit on `lane` (the database lane's runtime, SQLite); in place without.
    pub fn start(db: DatabaseConnection, lane: Option<&tokio::runtime::Handle>) -> Self {
        let batches = lane.map(|runtime| {
            let (queue, pending) = mpsc::channel(QUEUE_MAX);
            runtime.spawn(write_batches(db.clone(), pending));
            queue
        });
        Self { db, batches }
    }

    /// Runs `work` and commits it (alone, or in the next batch).
    pub async fn run(&self, work: G) -> Result<G::Outcome, OAuthError> {
        let (outcome, statements) = match &self.batches {
            None => {
                let mut answers = write_batch(&self.db, &[(&work, tracing::Span::current())]).await;
                answers.pop().unwrap_or_else(|| (Ok(Err(stopped())), 0))
            }
            Some(queue) => {
                let (answer, answered) = oneshot::channel();
                let job = Job {
                    work,
                    span: tracing::Span::current(),
                    answer,
                };
                queue.send(job).await.map_err(|_| stopped())?;
                answered.await.map_err(|_| stopped())?
            }
        };
        statements::add(statements);
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

fn stopped() -> OAuthError {
    crate::Error::Unavailable("the batch writer has stopped".into()).into()
}

async fn write_batches<G: Batched>(db: DatabaseConnection, mut pending: mpsc::Receiver<Job<G>>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while pending.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let jobs = std::mem::take(&mut batch);
        let work: Vec<_> = jobs
            .iter()
            .map(|job| (&job.work, job.span.clone()))
            .collect();
        let answers = write_batch(&db, &work).await;
        drop(work);
        for (job, answer) in jobs.into_iter().zip(answers) {
            let _ = job.answer.send(answer);
        }
    }
}

/// How one attempt at the pending grants ended.
enum Attempt<T> {
    /// Committed: each pending grant's outcome and statement count, in order.
    Committed(Vec<(T, u32)>),
    /// Rolled back because the grant at this position of the pending list failed
    /// (its error, or its panic).
    GrantFailed {
        at: usize,
        failure: std::thread::Result<OAuthError>,
    },
    /// BEGIN or COMMIT failed: nothing is written, every pending grant fails.
    TransactionFailed(OAuthError),
    /// Writing the deferred rows failed: rolled back; run again with rows written at
    /// once, to find the grant at fault.
    DeferredFailed,
}

/// One grant of a batch: its place in the batch, the work and its request's span.
struct Slot<'a, G> {
    n: usize,
    work: &'a G,
    span: &'a tracing::Span,
}

/// Runs `work` (each grant with its request's span) as one batch; the answers are in
/// the same order.
async fn write_batch<G: Batched>(
    db: &DatabaseConnection,
    work: &[(&G, tracing::Span)],
) -> Vec<Answer<G::Outcome>> {
    let mut answers: Vec<Option<Answer<G::Outcome>>> = work.iter().map(|_| None).collect();
    let mut answer = |n: usize, a: Answer<G::Outcome>| {
        if let Some(slot) = answers.get_mut(n) {
            *slot = Some(a);
        }
    };
    // Every round either commits or takes one grant out, so this ends.
    let mut pending: Vec<Slot<'_, G>> = work
        .iter()
        .enumerate()
        .map(|(n, (work, span))| Slot {
            n,
            work: *work,
            span,
        })
        .collect();
    let mut defer = true;
    while !pending.is_empty() {
        match attempt(db, &pending, defer).await {
            Attempt::Committed(outcomes) => {
                for (slot, (outcome, statements)) in pending.iter().zip(outcomes) {
                    let settled = match slot.work.committed().await {
                        Ok(()) => Ok(outcome),
                        Err(err) => Err(err),
                    };
                    answer(slot.n, (Ok(settled), statements));
                }
                break;
            }
            Attempt::GrantFailed { at, failure } => {
                for slot in &pending {
                    slot.work.rolled_back().await;
                }
                let failed = pending.remove(at);
                answer(failed.n, (failure.map(Err), 0));
            }
            Attempt::TransactionFailed(error) => {
                for slot in &pending {
                    slot.work.rolled_back().await;
                    answer(slot.n, (Ok(Err(error.clone())), 0));
                }
                break;
            }
            Attempt::DeferredFailed => {
                for slot in &pending {
                    slot.work.rolled_back().await;
                }
                defer = false;
            }
        }
    }
    answers
        .into_iter()
        .map(|answer| answer.unwrap_or_else(|| (Ok(Err(stopped())), 0)))
        .collect()
}

/// Runs the pending grants in order in one transaction, writes their deferred rows
/// (`defer`; else each row at once) and commits; stops at the first storage failure
/// or panic and rolls back.
async fn attempt<G: Batched>(
    db: &DatabaseConnection,
    pending: &[Slot<'_, G>],
    defer: bool,
) -> Attempt<G::Outcome> {
    let txn = match db.begin().await {
        Ok(txn) => txn,
        Err(err) => return Attempt::TransactionFailed(crate::Error::from(err).into()),
    };
    let rows = if defer {
        DeferredRows::deferred()
    } else {
        DeferredRows::immediate()
    };
    let mut outcomes = Vec::with_capacity(pending.len());
    for (at, slot) in pending.iter().enumerate() {
        let write =
            statements::counting(slot.work.write(&txn, &rows)).instrument(slot.span.clone());
        let failure = match AssertUnwindSafe(write).catch_unwind().await {
            Ok((Ok(outcome), statements)) => {
                outcomes.push((outcome, statements));
                continue;
            }
            Ok((Err(_), _)) if rows.flush_failed() => None,
            Ok((Err(storage), _)) => Some(Ok(storage)),
            Err(panic) => Some(Err(panic)),
        };
        // Best effort: a transaction dropped unfinished is rolled back anyway.
        let _ = txn.rollback().await;
        return match failure {
            Some(failure) => Attempt::GrantFailed { at, failure },
            None => Attempt::DeferredFailed,
        };
    }
    // Every grant's share of the batch's deferred rows: the statements that wrote
    // them count for each (exact for a batch of one, an upper bound beyond).
    let (flushed, shared) = statements::counting(rows.flush(&txn)).await;
    if flushed.is_err() {
        let _ = txn.rollback().await;
        return Attempt::DeferredFailed;
    }
    for (_, statements) in &mut outcomes {
        *statements += shared;
    }
    match txn.commit().await {
        Ok(()) => Attempt::Committed(outcomes),
        Err(err) => Attempt::TransactionFailed(crate::Error::from(err).into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend, Statement};

    use super::*;

    /// What a probe does in its transaction.
    #[derive(Clone, Copy)]
    enum Act {
        /// Insert its number, return it.
        Insert,
        /// Insert its number, then fail as storage would.
        Fail,
        /// Insert its number, then panic.
        Panic,
        /// Return how many rows it sees.
        Count,
        /// Insert a row that breaks a deferred foreign key: COMMIT fails.
        BreakCommit,
        /// Insert its number and defer an audit row, return it.
        Defer,
        /// Insert its number and defer an audit row the database refuses.
        DeferBad,
    }

    /// A batched unit of work that logs what happens to it.
    struct Probe {
        n: i64,
        act: Act,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Probe {
        fn note(&self, what: &str) {
            self.log.lock().unwrap().push(format!("{what} {}", self.n));
        }
    }

    impl Batched for Probe {
        type Outcome = i64;

        async fn write(
            &self,
            txn: &DatabaseTransaction,
            deferred: &DeferredRows,
        ) -> Result<i64, OAuthError> {
            let run = |sql: &str, n: i64| {
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    [n.into()],
                ))
            };
            if let Act::Count = self.act {
                let row = txn
                    .query_one_raw(Statement::from_string(
                        DbBackend::Sqlite,
                        "SELECT COUNT(*) AS n FROM probe",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                return Ok(row.try_get::<i64>("", "n").unwrap());
            }
            if let Act::BreakCommit = self.act {
                run("INSERT INTO child (parent) VALUES (?)", self.n)
                    .await
                    .unwrap();
                return Ok(self.n);
            }
            run("INSERT INTO probe (n) VALUES (?)", self.n)
                .await
                .unwrap();
            self.note("wrote");
            if let Act::Defer | Act::DeferBad = self.act {
                let action = if let Act::DeferBad = self.act {
                    "bad".to_owned()
                } else {
                    format!("probe {}", self.n)
                };
                let row = audit_row(&action);
                deferred.insert_audit_event(txn, row).await?;
            }
            match self.act {
                Act::Fail => Err(crate::Error::Unavailable("disk on fire".into()).into()),
                Act::Panic => panic!("probe {} panics", self.n),
                _ => Ok(self.n),
            }
        }

        async fn committed(&self) -> Result<(), OAuthError> {
            self.note("committed");
            Ok(())
        }

        async fn rolled_back(&self) {
            self.note("rolled back");
        }
    }

    fn audit_row(action: &str) -> entity::audit_events::ActiveModel {
        use sea_orm::ActiveValue::Set;
        entity::audit_events::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            tenant_id: Set(None),
            occurred_at: Set(crate::test_support::now()),
            actor: Set("system".into()),
            action: Set(action.into()),
            target: Set(None),
            outcome: Set("success".into()),
            ip: Set(None),
            user_agent: Set(None),
            details: Set(serde_json::json!({})),
        }
    }

    /// The first column of every row `sql` selects.
    async fn column<T: sea_orm::TryGetable>(db: &DatabaseConnection, sql: &str) -> Vec<T> {
        db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get_by_index::<T>(0).unwrap())
            .collect()
    }

    async fn audit_actions(db: &DatabaseConnection) -> Vec<String> {
        column(db, "SELECT action FROM audit_events ORDER BY action").await
    }

    async fn db() -> DatabaseConnection {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let mut db = Database::connect(options).await.unwrap();
        crate::runtime::statements::count_on(&mut db);
        for sql in [
            "PRAGMA foreign_keys = ON",
            "CREATE TABLE probe (n INTEGER NOT NULL)",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
            "CREATE TABLE audit_events (id BLOB PRIMARY KEY, tenant_id BLOB, occurred_at TEXT, \
             actor TEXT, action TEXT, target TEXT, outcome TEXT, ip TEXT, user_agent TEXT, \
             details TEXT)",
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON audit_events WHEN NEW.action = 'bad' \
             BEGIN SELECT RAISE(ABORT, 'bad row'); END",
        ] {
            db.execute_unprepared(sql).await.unwrap();
        }
        db
    }

    async fn rows(db: &DatabaseConnection) -> Vec<i64> {
        column(db, "SELECT n FROM probe ORDER BY n").await
    }

    fn probes(acts: &[Act]) -> (Vec<Probe>, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let probes = acts
            .iter()
            .zip(1..)
            .map(|(&act, n)| Probe {
                n,
                act,
                log: log.clone(),
            })
            .collect();
        (probes, log)
    }

    /// Runs probes doing `acts` as one batch on `db`: their answers and their log.
    async fn batch(db: &DatabaseConnection, acts: &[Act]) -> (Vec<Answer<i64>>, Vec<String>) {
        let (work, log) = probes(acts);
        let refs: Vec<_> = work.iter().map(|w| (w, tracing::Span::none())).collect();
        let answers = write_batch(db, &refs).await;
        let log = log.lock().unwrap().clone();
        (answers, log)
    }

    fn outcomes(answers: Vec<Answer<i64>>) -> Vec<Result<i64, String>> {
        answers
            .into_iter()
            .map(|(answer, _)| match answer {
                Ok(Ok(n)) => Ok(n),
                Ok(Err(err)) => Err(err.description.clone()),
                Err(_) => Err("panicked".into()),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_failing_grant_fails_alone_and_the_rest_of_its_batch_commits() {
        let db = db().await;
        let (answers, log) = batch(&db, &[Act::Insert, Act::Fail, Act::Insert]).await;
        let answers = outcomes(answers);
        assert_eq!(answers[0], Ok(1));
        assert!(answers[1].is_err(), "{answers:?}");
        assert_eq!(answers[2], Ok(3));
        assert_eq!(rows(&db).await, vec![1, 3]);
        // The first attempt is undone for everyone who ran; only 1 and 3 commit, and
        // only after both were written.
        assert_eq!(
            log,
            [
                "wrote 1",
                "wrote 2",
                "rolled back 1",
                "rolled back 2",
                "rolled back 3",
                "wrote 1",
                "wrote 3",
                "committed 1",
                "committed 3",
            ]
        );
    }

    #[tokio::test]
    async fn deferred_rows_are_written_with_the_batch() {
        let db = db().await;
        let (answers, log) = batch(&db, &[Act::Defer, Act::Insert, Act::Defer]).await;
        // Each grant counts its own statement and the one that wrote the deferred rows.
        let counts: Vec<u32> = answers.iter().map(|(_, n)| *n).collect();
        assert_eq!(counts, vec![2, 2, 2]);
        assert_eq!(outcomes(answers), vec![Ok(1), Ok(2), Ok(3)]);
        assert_eq!(rows(&db).await, vec![1, 2, 3]);
        assert_eq!(audit_actions(&db).await, vec!["probe 1", "probe 3"]);
        assert_eq!(log.len(), 6, "one attempt: wrote and committed");
    }

    #[tokio::test]
    async fn a_refused_deferred_row_fails_only_the_grant_that_made_it() {
        let db = db().await;
        let (answers, log) = batch(&db, &[Act::Defer, Act::DeferBad, Act::Defer]).await;
        let answers = outcomes(answers);
        assert_eq!(answers[0], Ok(1));
        assert!(answers[1].is_err(), "{answers:?}");
        assert_eq!(answers[2], Ok(3));
        assert_eq!(rows(&db).await, vec![1, 3]);
        assert_eq!(audit_actions(&db).await, vec!["probe 1", "probe 3"]);
        // Deferred, the batch fails at its end; run again with rows written at once,
        // grant 2 fails on its own row; 1 and 3 commit in a third attempt.
        assert_eq!(log.iter().filter(|l| *l == "rolled back 2").count(), 2);
        assert_eq!(log.iter().filter(|l| *l == "committed 1").count(), 1);
        assert!(!log.contains(&"committed 2".to_owned()));
    }

    #[tokio::test]
    async fn a_panicking_grant_panics_alone_and_nothing_of_it_is_written() {
        let db = db().await;
        let (answers, log) = batch(&db, &[Act::Insert, Act::Panic, Act::Insert]).await;
        let answers = outcomes(answers);
        assert_eq!(answers, vec![Ok(1), Err("panicked".into()), Ok(3)]);
        assert_eq!(rows(&db).await, vec![1, 3]);
        assert!(log.contains(&"rolled back 2".to_owned()));
        assert!(!log.contains(&"committed 2".to_owned()));
    }

    #[tokio::test]
    async fn grants_run_in_queue_order_and_see_each_others_writes() {
        let db = db().await;
        let (answers, _) = batch(&db, &[Act::Insert, Act::Count, Act::Insert, Act::Count]).await;
        let answers = outcomes(answers);
        assert_eq!(answers, vec![Ok(1), Ok(1), Ok(3), Ok(2)]);
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_grant_and_undoes_them_all() {
        let db = db().await;
        let (answers, log) = batch(&db, &[Act::Insert, Act::BreakCommit, Act::Insert]).await;
        let answers = outcomes(answers);
        assert!(answers.iter().all(Result::is_err), "{answers:?}");
        assert_eq!(rows(&db).await, Vec::<i64>::new());
        assert!(
            log.iter().all(|line| !line.starts_with("committed")),
            "{log:?}"
        );
        assert_eq!(
            log.iter().filter(|l| l.starts_with("rolled back")).count(),
            3
        );
    }

    #[tokio::test]
    async fn work_queued_on_the_writer_fails_only_where_it_failed() {
        let db = db().await;
        let lane = tokio::runtime::Handle::current();
        let batcher = Batcher::<Probe>::start(db.clone(), Some(&lane));
        let log = Arc::new(Mutex::new(Vec::new()));
        let runs: Vec<_> = (1..=20)
            .map(|n| {
                let batcher = batcher.clone();
                let act = if n == 7 { Act::Fail } else { Act::Insert };
                let probe = Probe {
                    n,
                    act,
                    log: log.clone(),
                };
                tokio::spawn(async move { batcher.run(probe).await.map_err(|e| e.description) })
            })
            .collect();
        let mut answers = Vec::new();
        for run in runs {
            answers.push(run.await.unwrap());
        }
        for (n, answer) in (1..).zip(&answers) {
            if n == 7 {
                assert!(answer.is_err());
            } else {
                assert_eq!(answer, &Ok(n));
            }
        }
        let expected: Vec<i64> = (1..=20).filter(|n| *n != 7).collect();
        assert_eq!(rows(&db).await, expected);
    }
}
