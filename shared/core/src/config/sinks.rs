//! `[[sinks]]`: each sink's settings, and an HTTP sink's worst case against the worker's
//! lease.

use std::time::Duration;

use super::*;

/// Every sink checked; `lease_secs` is `worker.lease_secs`, which an HTTP sink's retries
/// must fit in.
pub(super) fn check(sinks: &[SinkConfig], lease_secs: u64, push: &mut impl FnMut(String, String)) {
    for (i, s) in sinks.iter().enumerate() {
        match s {
            SinkConfig::File { path } if path.is_empty() => {
                push(format!("sinks[{i}].path"), "must not be empty".into())
            }
            SinkConfig::Http {
                url,
                attempts,
                timeout_ms,
                rate_per_minute,
                max_in_flight,
                ..
            } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    push(
                        format!("sinks[{i}].url"),
                        format!("{url:?} is not an http(s) URL"),
                    );
                }
                if *attempts == 0 {
                    push(format!("sinks[{i}].attempts"), "must be at least 1".into());
                }
                for (field, value) in [
                    ("rate_per_minute", rate_per_minute),
                    ("max_in_flight", max_in_flight),
                ] {
                    if *value == Some(0) {
                        push(
                            format!("sinks[{i}].{field}"),
                            "must be at least 1 (leave it out for no limit)".into(),
                        );
                    }
                }
                // A delivery that outlives its claim's lease can be claimed and
                // delivered by another worker while this one is still trying.
                let lease = Duration::from_secs(lease_secs);
                let headroom = lease_headroom(lease);
                if let Some(worst) = s.http_worst_case() {
                    if *attempts > 0 && worst + headroom > lease {
                        push(
                            format!("sinks[{i}]"),
                            format!(
                                "{attempts} attempts of timeout_ms = {timeout_ms} can take {:.1} s with the pauses between, which with {:.2} s of headroom outlasts worker.lease_secs = {}: another worker could claim the event and deliver it while this one is still trying; lower attempts or timeout_ms, or raise worker.lease_secs (below worker.visibility_timeout_secs)",
                                worst.as_secs_f64(),
                                headroom.as_secs_f64(),
                                lease_secs
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if sinks.is_empty() {
        push(
            "sinks".into(),
            "at least one sink is required (e.g. kind = \"stdout\")".into(),
        );
    }
}

/// An HTTP sink's `connection` names a configured connection. Checked only when the
/// connections were read (with credentials).
pub(super) fn check_connections(
    sinks: &[SinkConfig],
    connection_names: &std::collections::HashSet<String>,
    push: &mut impl FnMut(String, String),
) {
    for (i, sink) in sinks.iter().enumerate() {
        if let SinkConfig::Http {
            connection: Some(c),
            ..
        } = sink
        {
            if !connection_names.contains(c) {
                push(
                    format!("sinks[{i}].connection"),
                    format!("{c:?} is not a configured [[connections]] name"),
                );
            }
        }
    }
}
