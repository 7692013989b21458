//! Runtime types the generated shapes use for `timestamp`, `blob` and absent shapes.

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A `timestamp` member serialized as epoch seconds (a JSON number, fractional when the
/// instant has sub-second precision): the JSON protocols' default and `unixTimestamp`.
/// Deserializes from a number or an RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

/// A `timestamp` member whose model says `timestampFormat: iso8601`: an RFC 3339 string
/// (`2024-01-31T12:00:00Z`). Deserializes from a string or epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Iso8601Timestamp(pub DateTime<Utc>);

/// A `blob` member: raw bytes, base64 in JSON (a payload blob travels raw as the HTTP body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Blob(pub Vec<u8>);

/// The empty structure used where an operation has no input or no output shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {}

impl Default for Timestamp {
    fn default() -> Self {
        Timestamp(DateTime::UNIX_EPOCH)
    }
}

impl Default for Iso8601Timestamp {
    fn default() -> Self {
        Iso8601Timestamp(DateTime::UNIX_EPOCH)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t)
    }
}

impl From<DateTime<Utc>> for Iso8601Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Iso8601Timestamp(t)
    }
}

/// Parses epoch seconds (possibly fractional) into an instant.
pub(crate) fn from_epoch_seconds(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    Utc.timestamp_millis_opt((secs * 1000.0).round() as i64)
        .single()
}

/// Parses an RFC 3339 instant.
pub(crate) fn from_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.timestamp_subsec_millis() == 0 {
            s.serialize_i64(self.0.timestamp())
        } else {
            s.serialize_f64(self.0.timestamp_millis() as f64 / 1000.0)
        }
    }
}

impl Serialize for Iso8601Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

/// Accepts epoch seconds or an RFC 3339 string.
struct InstantVisitor;

impl Visitor<'_> for InstantVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a timestamp (epoch seconds or RFC 3339 string)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.visit_f64(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_f64(v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        from_epoch_seconds(v).ok_or_else(|| E::custom("timestamp out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        from_rfc3339(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InstantVisitor).map(Timestamp)
    }
}

impl<'de> Deserialize<'de> for Iso8601Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InstantVisitor).map(Iso8601Timestamp)
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Blob)
            .map_err(|_| de::Error::custom("blob is not valid base64"))
    }
}

/// Deserializes a required member, reading JSON `null` as absent so that model validation
/// (not deserialization) reports it as `Member must not be null`.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trips_epoch_seconds() {
        let t: Timestamp = serde_json::from_str("1700000000.5").unwrap();
        assert_eq!(t.0.timestamp_millis(), 1_700_000_000_500);
        assert_eq!(serde_json::to_string(&t).unwrap(), "1700000000.5");
        let whole = Timestamp(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        assert_eq!(serde_json::to_string(&whole).unwrap(), "1700000000");
    }

    #[test]
    fn iso_timestamp_is_rfc3339() {
        let t: Iso8601Timestamp = serde_json::from_str("\"2024-01-31T12:00:00Z\"").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2024-01-31T12:00:00Z\""
        );
    }

    #[test]
    fn blob_is_base64() {
        let b: Blob = serde_json::from_str("\"aGVsbG8=\"").unwrap();
        assert_eq!(b.0, b"hello");
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"aGVsbG8=\"");
        assert!(serde_json::from_str::<Blob>("\"***\"").is_err());
    }
}
