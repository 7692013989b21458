//! UTC time helpers. Carillon stores instants as milliseconds since the Unix epoch.

use chrono::{DateTime, TimeZone, Utc};

/// Now, in milliseconds since the Unix epoch (UTC).
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// Milliseconds since the epoch to the JSON protocols' `timestamp` (epoch seconds, fractional).
pub fn millis_to_epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Milliseconds since the epoch to a UTC date-time.
pub fn millis_to_datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}
