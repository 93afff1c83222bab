//! The per-request SQL statement counter: the budget the performance work is held to
//! (`tessera_db_statements_per_request`). A request's statements are counted wherever
//! they run: in its own task, on the database lane, or in a grant batch.

use std::{cell::Cell, future::Future};

tokio::task_local! {
    /// SQL statements run so far by the request this task serves.
    static STATEMENTS: Cell<u32>;
}

/// Makes `db` count each statement it runs against the request being served (work
/// outside a request, such as background jobs, is not counted).
pub fn count_on(db: &mut sea_orm::DatabaseConnection) {
    db.set_metric_callback(|_| add(1));
}

/// Runs `work` with a fresh counter; returns its output and the count.
pub async fn counting<T>(work: impl Future<Output = T>) -> (T, u32) {
    STATEMENTS
        .scope(Cell::new(0), async {
            let out = work.await;
            (out, STATEMENTS.with(Cell::get))
        })
        .await
}

/// Counts `statements` run elsewhere (on the database lane) against this request.
pub fn add(statements: u32) {
    let _ = STATEMENTS.try_with(|n| n.set(n.get().saturating_add(statements)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statements_added_inside_count_and_outside_are_ignored() {
        add(5);
        let ((), inside) = counting(async {
            add(2);
            add(1);
        })
        .await;
        assert_eq!(inside, 3);
    }
}
