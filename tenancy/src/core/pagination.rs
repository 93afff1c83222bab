//! Cursor pagination shared by every list: ids are UUIDv7, so "after this id" is a
//! stable, index-friendly cursor that never skips or repeats rows under inserts.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::{Error, Result};

/// Largest page a caller may ask for.
pub const MAX_LIMIT: u64 = 200;
/// Page size when the caller does not say.
pub const DEFAULT_LIMIT: u64 = 50;

/// Where a page starts and how long it is.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    /// Return rows with ids greater than this.
    pub after: Option<Uuid>,
    /// At most this many rows.
    pub limit: u64,
}

impl PageRequest {
    /// Validates an API caller's `cursor` and `limit`.
    pub fn parse(cursor: Option<&str>, limit: Option<u64>) -> Result<Self> {
        let after =
            match cursor.filter(|c| !c.is_empty()) {
                None => None,
                Some(c) => Some(Uuid::parse_str(c).map_err(|_| {
                    Error::invalid("cursor", "is not a cursor returned by this API")
                })?),
            };
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(Self { after, limit })
    }

    /// Splits `rows` (fetched with `limit + 1`) into a page and the next cursor.
    fn finish<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| id(r).to_string())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    /// Runs `query` for this page: its rows with ids (the column `id`, read by `id_of`)
    /// after the cursor, in id order, and the cursor of the next page. The one keyset
    /// query every list shares.
    pub async fn fetch<E: EntityTrait>(
        &self,
        db: &impl ConnectionTrait,
        mut query: Select<E>,
        id: E::Column,
        id_of: impl Fn(&E::Model) -> Uuid,
    ) -> Result<Page<E::Model>> {
        if let Some(after) = self.after {
            query = query.filter(id.gt(after));
        }
        let rows = query
            .order_by_asc(id)
            .limit(self.fetch_limit())
            .all(db)
            .await?;
        Ok(self.finish(rows, id_of))
    }

    /// How many rows to fetch: one more than the limit, to learn whether more exist.
    fn fetch_limit(&self) -> u64 {
        self.limit + 1
    }
}

/// One page of a list and the cursor of the next one, if any.
#[derive(Debug)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; none on the last page.
    pub next_cursor: Option<String>,
}
