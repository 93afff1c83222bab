//! The one way to the database: the connection pool and the lane its transactions run
//! on, built once at start-up and held by the server's state.

use std::future::Future;

use sea_orm::DatabaseConnection;

use crate::runtime::{
    batch::{Batched, Batcher},
    lane::DbLane,
};

/// The database and where its work runs. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    db: DatabaseConnection,
    lane: DbLane,
}

impl Storage {
    /// Storage over `db`, counting each statement against the request that runs it
    /// ([`crate::runtime::statements`]); on SQLite its transactions get a lane thread.
    pub fn open(mut db: DatabaseConnection) -> std::io::Result<Self> {
        crate::runtime::statements::count_on(&mut db);
        let lane = DbLane::for_backend(db.get_database_backend())?;
        Ok(Self { db, lane })
    }

    /// The connection pool, for reads and single-statement writes.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Runs `work` (typically one transaction) where transactions run best: on the lane
    /// thread on SQLite, in place on Postgres. It runs to completion even if the
    /// request is dropped.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<crate::Error> + Send + 'static,
    {
        self.lane.run(work).await
    }

    /// The runtime for long-lived database tasks (such as a group writer): the lane's
    /// on SQLite, else the current one.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.lane.runtime()
    }

    /// A group-commit writer for `G` (on the lane on SQLite; each unit in place
    /// elsewhere).
    pub fn batcher<G: Batched>(&self) -> Batcher<G> {
        Batcher::start(self.db.clone(), self.lane.lane_runtime().as_ref())
    }
}
