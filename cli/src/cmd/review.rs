//! `inlet review`: changes held by a `manual-review` conflict rule — list them, show one
//! with both versions, release (apply and deliver) or discard them.

use crate::out::{inert, rfc3339};
use std::path::Path;

use serde_json::json;
use time::OffsetDateTime;

use inlet_core::clock::from_unix_millis;
use inlet_core::conflict::Stamp;
use inlet_core::envelope::payload_value;
use inlet_core::ports::Review;
use inlet_core::redact::{redact, redact_at};
use inlet_core::usecase::review::{discard, release, ReviewError};

use crate::args::DataDirArg;
use crate::backend::open_ports;
use crate::error::{CliError, Outcome, Tally};

/// The applied change, its field's value redacted like a payload.
fn stamp_json(s: &Stamp, field: Option<&str>, redact_fields: &[String]) -> serde_json::Value {
    json!({
        "provider": s.provider,
        "key": s.key,
        "version": s.version,
        "at": rfc3339(from_unix_millis(s.at_ms)),
        "value": match (&s.value, field) {
            (Some(v), Some(f)) => redact_at(f, v, redact_fields),
            _ => serde_json::Value::Null,
        },
    })
}

/// A review as operators see it: both versions, values and payload redacted by
/// `redact_fields` (`None`: values and payload left out).
fn review_json(r: &Review, redact_fields: Option<&[String]>) -> serde_json::Value {
    let mut view = json!({
        "key": r.key,
        "entity": r.entity,
        "rule": r.rule.as_str(),
        "reason": r.reason,
        "status": r.status.as_str(),
        "held_at": rfc3339(r.held_at),
        "resolved_at": r.resolved_at.map(rfc3339),
        "field": r.field,
        "current": stamp_json(&r.against, r.field.as_deref(), redact_fields.unwrap_or(&[])),
        "held": {
            "provider": r.envelope.provider.as_str(),
            "type": r.envelope.event_type,
            "version": r.envelope.version,
            "received_at": rfc3339(r.envelope.received_at),
        },
    });
    match redact_fields {
        Some(fields) => {
            view["held"]["payload"] = redact(&payload_value(&r.envelope.body), fields);
        }
        None => {
            if let Some(current) = view["current"].as_object_mut() {
                current.remove("value");
            }
        }
    }
    view
}

pub async fn list(place: &DataDirArg, limit: usize, json: bool) -> Outcome {
    let ports = open_ports(place, true).await?;
    let reviews = ports
        .conflicts
        .pending_reviews(limit)
        .await
        .map_err(CliError::failed)?;
    if json {
        for r in &reviews {
            // The list leaves values and payloads out; `show` prints them redacted.
            crate::out::json(&review_json(r, None));
        }
    } else if reviews.is_empty() {
        crate::outln!("no changes are held for review");
    } else {
        for r in &reviews {
            crate::outln!(
                "{}  {}  held {}  {}",
                inert(r.key.as_str()),
                inert(&r.entity),
                rfc3339(r.held_at),
                inert(&r.reason)
            );
        }
    }
    Ok(())
}

pub async fn show(config: Option<&Path>, place: &DataDirArg, key: &str, json: bool) -> Outcome {
    let (config, ports) = crate::backend::operator_context(config, place).await?;
    let redact_fields = crate::config_file::redact_fields(config.as_ref());
    match ports.conflicts.review(key).await {
        Ok(Some(r)) => {
            let view = review_json(&r, Some(&redact_fields));
            if json {
                crate::out::json(&view);
            } else {
                crate::out::json_pretty(&view);
            }
            Ok(())
        }
        Ok(None) => Err(CliError::not_found(format!("no such review: {key}"))),
        Err(e) => Err(CliError::failed(e)),
    }
}

/// What an operator does with held changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Release,
    Discard,
}

pub async fn resolve(
    config: Option<&Path>,
    place: &DataDirArg,
    keys: &[String],
    how: Resolution,
) -> Outcome {
    let (config, ports) = crate::backend::operator_context(config, place).await?;
    // Releasing stamps the entity's ruled fields, so it needs the rules; discarding does not.
    let rules = match (how, config) {
        (Resolution::Release, None) => {
            return Err(CliError::config(
                "releasing applies the config's conflict rules: pass --config FILE",
            ));
        }
        (Resolution::Release, Some(c)) => c.conflicts,
        (Resolution::Discard, _) => Vec::new(),
    };
    let mut tally = Tally::default();
    for key in keys {
        let now = OffsetDateTime::now_utc();
        let done = match how {
            Resolution::Release => {
                release(
                    ports.conflicts.as_ref(),
                    ports.queue.as_ref(),
                    &rules,
                    key,
                    now,
                )
                .await
            }
            Resolution::Discard => discard(ports.conflicts.as_ref(), key, now).await,
        };
        match done {
            Ok(r) if how == Resolution::Release => {
                crate::outln!(
                    "{}: released; {} is delivered as a replay",
                    inert(r.key.as_str()),
                    inert(&r.entity)
                )
            }
            Ok(r) => crate::outln!(
                "{}: discarded; {} keeps its state",
                inert(r.key.as_str()),
                inert(&r.entity)
            ),
            Err(e @ ReviewError::NotFound(_)) => {
                tally.fail(CliError::not_found(e));
            }
            Err(e) => {
                tally.fail(CliError::failed(e));
            }
        }
    }
    tally.outcome()
}
