//! The times provider APIs write, read into one instant, and the forms a cursor is sent in.
//!
//! Read: RFC 3339 (`2024-01-15T14:30:00Z`, `…-07:00`), Microsoft's JSON date
//! (`/Date(1705329000000+0000)/`: Xero, Exact Online), SQL (`2024-01-15 14:30:00`, UTC:
//! Adobe Commerce, Pipedrive v1), naive ISO (`2024-01-15T14:30:00`, UTC: WooCommerce's
//! `_gmt` fields), a date alone (SAP Business One's `UpdateDate`), and Unix seconds or
//! milliseconds as a number or a digit string (HubSpot's properties).

use inlet_core::source_config::TimeFormat;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

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

/// A time of day (`14:30:00`, `14:30`, or SAP's integer `143000`) added to `date`'s day.
pub fn with_time_of_day(date: OffsetDateTime, value: &Value) -> Option<OffsetDateTime> {
    let time = match value {
        Value::String(s) => Time::parse(s.trim(), format_description!("[hour]:[minute]:[second]"))
            .or_else(|_| Time::parse(s.trim(), format_description!("[hour]:[minute]")))
            .ok()?,
        Value::Number(n) => {
            let n = n.as_u64()?;
            Time::from_hms((n / 10_000) as u8, (n / 100 % 100) as u8, (n % 100) as u8).ok()?
        }
        _ => return None,
    };
    Some(date.replace_time(time))
}

/// `t` as the API's filter wants it.
pub fn format_time(t: OffsetDateTime, format: TimeFormat) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    match format {
        TimeFormat::Rfc3339 => crate::rfc3339(t),
        TimeFormat::EpochMillis => (t.unix_timestamp_nanos() / 1_000_000).to_string(),
        TimeFormat::Sql => t
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .unwrap_or_default(),
        TimeFormat::Naive => t
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]"
            ))
            .unwrap_or_default(),
    }
}

/// The day and the time of day of `t` (UTC), for APIs that filter them apart.
pub fn date_and_time(t: OffsetDateTime) -> (String, String) {
    let t = t.to_offset(time::UtcOffset::UTC);
    (
        t.format(format_description!("[year]-[month]-[day]"))
            .unwrap_or_default(),
        t.format(format_description!("[hour]:[minute]:[second]"))
            .unwrap_or_default(),
    )
}

/// `t` minus whole seconds, saturating at the epoch.
pub fn seconds_before(t: OffsetDateTime, secs: u32) -> OffsetDateTime {
    t.checked_sub(Duration::seconds(i64::from(secs)))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
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

    #[test]
    fn a_time_of_day_joins_its_date() {
        let d = parse_time(&json!("2024-01-15")).unwrap();
        let t = |v| with_time_of_day(d, &v).map(|t| t.unix_timestamp());
        assert_eq!(t(json!("14:30:00")), Some(1_705_329_000));
        assert_eq!(t(json!("14:30")), Some(1_705_329_000));
        assert_eq!(t(json!(143000)), Some(1_705_329_000));
        assert_eq!(t(json!("25:00:00")), None);
        assert_eq!(t(json!(999999)), None);
    }

    #[test]
    fn cursors_are_written_in_the_api_s_form() {
        let t = parse_time(&json!("2024-01-15T14:30:00Z")).unwrap();
        assert_eq!(format_time(t, TimeFormat::EpochMillis), "1705329000000");
        assert_eq!(format_time(t, TimeFormat::Sql), "2024-01-15 14:30:00");
        assert_eq!(format_time(t, TimeFormat::Naive), "2024-01-15T14:30:00");
        assert_eq!(format_time(t, TimeFormat::Rfc3339), "2024-01-15T14:30:00Z");
        assert_eq!(date_and_time(t), ("2024-01-15".into(), "14:30:00".into()));
    }
}
