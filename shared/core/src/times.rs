//! The times provider APIs write, read into one instant (by the reconciliation sources and by
//! webhook presets whose key is a record's update time).
//!
//! Read: RFC 3339 (`2024-01-15T14:30:00Z`, `…-07:00`), Microsoft's JSON date
//! (`/Date(1705329000000+0000)/`: Xero, Exact Online), SQL (`2024-01-15 14:30:00`, UTC:
//! Adobe Commerce, Pipedrive v1), naive ISO (`2024-01-15T14:30:00`, UTC: WooCommerce's
//! `_gmt` fields), a date alone (SAP Business One's `UpdateDate`), and Unix seconds or
//! milliseconds as a number or a digit string (HubSpot's properties).

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// A time in any of the forms above, or `None`.
pub fn parse_time(value: &Value) -> Option<OffsetDateTime> {
    match value {
        Value::Number(n) => from_epoch(n.as_i64()?),
        Value::String(s) => parse_text(s.trim()),
        _ => None,
    }
}

/// Seconds or milliseconds since 1970, told apart by size (ms from 1973 on).
fn from_epoch(n: i64) -> Option<OffsetDateTime> {
    if n >= 100_000_000_000 {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(n) * 1_000_000).ok()
    } else {
        OffsetDateTime::from_unix_timestamp(n).ok()
    }
}

fn parse_text(s: &str) -> Option<OffsetDateTime> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        // The milliseconds are UTC; a trailing offset says the writer's zone only.
        let end = inner
            .get(1..)?
            .find(['+', '-'])
            .map_or(inner.len(), |i| i + 1);
        return from_epoch(inner.get(..end)?.parse().ok()?);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return from_epoch(s.parse().ok()?);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let naive = s.replacen(' ', "T", 1);
    if let Ok(t) = PrimitiveDateTime::parse(
        &naive,
        format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        ),
    ) {
        return Some(t.assume_utc());
    }
    // A date with a zero time and a zone (`2024-01-15T00:00:00Z` is RFC 3339 above).
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|d| d.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(v: Value) -> i64 {
        parse_time(&v).map(|t| t.unix_timestamp()).unwrap_or(-1)
    }

    #[test]
    fn the_forms_providers_write_read_as_one_instant() {
        let want = 1_705_329_000; // 2024-01-15T14:30:00Z
        assert_eq!(at(json!("2024-01-15T14:30:00Z")), want);
        assert_eq!(at(json!("2024-01-15T07:30:00-07:00")), want);
        assert_eq!(at(json!("/Date(1705329000000+0000)/")), want);
        assert_eq!(at(json!("/Date(1705329000000)/")), want);
        assert_eq!(at(json!("2024-01-15 14:30:00")), want);
        assert_eq!(at(json!("2024-01-15T14:30:00")), want);
        assert_eq!(at(json!("2024-01-15T14:30:00.250")), want);
        assert_eq!(at(json!("1705329000000")), want);
        assert_eq!(at(json!(1_705_329_000_000_i64)), want);
        assert_eq!(at(json!(1_705_329_000)), want);
        assert_eq!(at(json!("2024-01-15")), 1_705_276_800);
    }

    #[test]
    fn hostile_times_are_refused_not_panicked_on() {
        for v in [
            json!(""),
            json!("/Date()/"),
            json!("/Date(-)/"),
            json!("/Date(99999999999999999999999)/"),
            json!("9999999999999999999999"),
            json!("2024-13-45 99:99:99"),
            json!("yesterday"),
            json!(i64::MAX),
            json!(null),
            json!({"t": 1}),
            json!("x".repeat(10_000)),
        ] {
            assert_eq!(at(v.clone()), -1, "{v}");
        }
    }
}
