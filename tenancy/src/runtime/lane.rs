//! The database lane: on SQLite, transactions run on a thread of their own.
//!
//! SQLite has one connection (one writer at a time). A transaction holds it from BEGIN
//! to COMMIT across several round trips to sqlx's connection thread, and after each
//! one the task has to be polled again before it can send the next statement. On the
//! shared runtime that poll waits behind whatever the other requests are doing, while
//! every other request's database work waits for the held connection. On the lane's
//! own single-threaded runtime, which runs nothing else, the next statement follows at
//! once (measured in `docs/performance.md`).
//!
//! On Postgres there are many connections and no such queue, so work runs in place.
//! Code and refresh grants go one step further on the lane: they are group-committed
//! ([`crate::runtime::batch`]).

use std::{future::Future, sync::Arc};

use sea_orm::DbBackend;
use tracing::Instrument;

/// Where database transactions run: in place, or on the lane thread (SQLite).
#[derive(Clone, Default)]
pub struct DbLane {
    lane: Option<Arc<Lane>>,
}

/// The lane thread's runtime; the thread stops when the last handle is dropped.
struct Lane {
    runtime: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl DbLane {
    /// A lane thread for SQLite; in place for any other backend.
    pub fn for_backend(backend: DbBackend) -> std::io::Result<Self> {
        if backend != DbBackend::Sqlite {
            return Ok(Self::default());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("db-lane".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            lane: Some(Arc::new(Lane {
                runtime: handle,
                _stop: stop,
            })),
        })
    }

    /// The runtime for long-lived database tasks (such as the audit group writer):
    /// the lane's on SQLite, else the current one.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.lane_runtime()
            .unwrap_or_else(tokio::runtime::Handle::current)
    }

    /// The lane's runtime if there is a lane thread (SQLite), for work that batches
    /// transactions there.
    pub fn lane_runtime(&self) -> Option<tokio::runtime::Handle> {
        self.lane.as_ref().map(|lane| lane.runtime.clone())
    }

    /// Runs `work` (typically one transaction) on the lane and waits for it. Its SQL
    /// statements count against the calling request ([`crate::runtime::statements`]), its log lines carry
    /// the request's span, and it runs to completion even if the request is dropped.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<crate::Error> + Send + 'static,
    {
        let Some(lane) = &self.lane else {
            return work.await;
        };
        let counted = crate::runtime::statements::counting(work.in_current_span());
        match lane.runtime.spawn(counted).await {
            Ok((out, statements)) => {
                crate::runtime::statements::add(statements);
                out
            }
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => Err(crate::Error::Unavailable("the database lane has stopped".into()).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_work_runs_on_the_lane_thread_and_other_backends_in_place() {
        let lane = DbLane::for_backend(DbBackend::Sqlite).unwrap();
        let thread = lane
            .run(async { Ok::<_, crate::Error>(std::thread::current().name().map(str::to_owned)) })
            .await
            .unwrap();
        assert_eq!(thread.as_deref(), Some("db-lane"));

        let here = std::thread::current().id();
        let in_place = DbLane::for_backend(DbBackend::Postgres).unwrap();
        let ran_on = in_place
            .run(async { Ok::<_, crate::Error>(std::thread::current().id()) })
            .await
            .unwrap();
        assert_eq!(ran_on, here);
    }

    #[tokio::test]
    async fn a_stopped_lane_answers_unavailable() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stopped = DbLane {
            lane: Some(Arc::new(Lane {
                runtime: runtime.handle().clone(),
                _stop: tokio::sync::oneshot::channel().0,
            })),
        };
        runtime.shutdown_background();
        let answer = stopped.run(async { Ok::<_, crate::Error>(()) }).await;
        assert!(matches!(answer, Err(crate::Error::Unavailable(_))));
    }
}
