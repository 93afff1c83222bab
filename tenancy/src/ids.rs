//! Primary keys: UUIDv7 derived from the operation's `now`, so ids sort by creation
//! time and cursor pagination can order by id alone.

use chrono::{DateTime, Utc};
use uuid::{NoContext, Timestamp, Uuid};

/// A fresh, time-ordered id for a row created at `now`.
pub fn new_id(now: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(
        NoContext,
        secs,
        now.timestamp_subsec_nanos(),
    ))
}
