//! The forms a cursor is sent in, and a time of day joined to its date. Reading the times
//! providers write is `inlet_core::times` (webhook presets key records by them too).
//!
use inlet_core::source_config::TimeFormat;
pub use inlet_core::times::parse_time;
use serde_json::Value;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, Time};

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
