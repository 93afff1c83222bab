//! Primary keys: UUIDv7 derived from the operation's `now`, so ids sort by creation
//! time and cursor pagination can order by id alone.
//!
//! A process-wide v7 context (RFC 9562 §6.2, method 1: a counter in the random bits)
//! keeps ids strictly increasing within this process even when many rows share one
//! millisecond or `now` stands still, as it does under a test clock.

use std::{panic::AssertUnwindSafe, sync::Mutex};

use chrono::{DateTime, Utc};
use uuid::{ContextV7, Timestamp, Uuid};

static CONTEXT: Mutex<AssertUnwindSafe<ContextV7>> = Mutex::new(AssertUnwindSafe(ContextV7::new()));

/// A fresh, time-ordered id for a row created at `now`.
pub fn new_id(now: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(
        &CONTEXT,
        secs,
        now.timestamp_subsec_nanos(),
    ))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn ids_made_at_the_same_instant_still_increase() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let ids: Vec<Uuid> = (0..1000).map(|_| new_id(now)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}
