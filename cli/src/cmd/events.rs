//! `inlet events`: what happened to an event — list and search the history, show one
//! event's timeline and (redacted) payload, replay events by key or by filter. The same
//! on the embedded store and on a deployed stack (`--backend aws`).

use crate::out::{inert, rfc3339};
use std::path::Path;

use serde_json::json;
use time::OffsetDateTime;

use inlet_core::envelope::payload_value;
use inlet_core::history::{EventFilter, EventRecord};
use inlet_core::redact::redact;
use inlet_core::usecase::operate::{replay_record, ReplayError};

use crate::args::{DataDirArg, EventFilterArgs};
use crate::backend::open_ports;
use crate::backend::Ports;
use crate::error::{CliError, Outcome, Tally};

/// One line of a list, or the head of `show`.
fn summary_json(r: &EventRecord) -> serde_json::Value {
    let e = &r.envelope;
    json!({
        "key": e.key.as_str(),
        "provider": e.provider.as_str(),
        "event_id": e.event_id,
        "type": e.event_type,
        "entity": e.entity,
        "version": e.version,
        "source": e.source.as_str(),
        "received_at": rfc3339(e.received_at),
        "correlation_id": e.correlation_id,
        "state": r.state.as_str(),
        "attempts": r.attempt_count,
        "duplicates": r.duplicates,
        "updated_at": rfc3339(r.updated_at),
        "payload_kept": r.payload_kept,
        "expires_at": rfc3339(r.expires_at),
    })
}

pub async fn list(
    place: &DataDirArg,
    args: &EventFilterArgs,
    limit: usize,
    after: Option<&str>,
    json: bool,
) -> Outcome {
    let filter = args.filter().map_err(CliError::usage)?;
    let ports = open_ports(place, true).await?;
    let page = ports
        .history
        .events(&filter, limit, after, OffsetDateTime::now_utc())
        .await
        .map_err(CliError::failed)?;
    if json {
        for r in &page.events {
            crate::out::json(&summary_json(r));
        }
        if let Some(next) = &page.next {
            crate::out::json(&json!({ "next": next }));
        }
    } else if page.events.is_empty() {
        crate::outln!("no events match");
    } else {
        for r in &page.events {
            let e = &r.envelope;
            // Why it ended where it did, where a cause decided (a rule, a failure, a replay).
            let why = r
                .attempts
                .iter()
                .rev()
                .find(|a| a.state == r.state)
                .and_then(|a| a.detail.as_deref())
                .map(|d| format!("  {}", inert(d)))
                .unwrap_or_default();
            crate::outln!(
                "{}  {:<14} {:<24} {}  attempts={} duplicates={}{why}",
                rfc3339(e.received_at),
                r.state.as_str(),
                inert(e.event_type.as_deref().unwrap_or("-")),
                inert(e.key.as_str()),
                r.attempt_count,
                r.duplicates
            );
        }
        if let Some(next) = &page.next {
            crate::outln!("more: --after {:?}", inert(next));
        }
    }
    Ok(())
}

pub async fn show(config: Option<&Path>, place: &DataDirArg, key: &str, json: bool) -> Outcome {
    let (config, ports) = crate::backend::operator_context(config, place).await?;
    let redact_fields = crate::config_file::redact_fields(config.as_ref());
    let record = match ports.history.event(key, OffsetDateTime::now_utc()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(CliError::not_found(format!(
                "no such event: {key} (or its history has expired)"
            )));
        }
        Err(e) => {
            return Err(CliError::failed(e));
        }
    };
    let mut view = summary_json(&record);
    if let Some(until) = inlet_core::usecase::operate::in_progress_until(
        ports.ledger.as_ref(),
        key,
        time::OffsetDateTime::now_utc(),
    )
    .await
    {
        view["in_progress_until"] = json!(rfc3339(until));
    }
    view["timeline"] = json!(record
        .attempts
        .iter()
        .map(|a| json!({
            "at": rfc3339(a.at),
            "state": a.state.as_str(),
            "receive_count": a.receive_count,
            "detail": a.detail,
        }))
        .collect::<Vec<_>>());
    view["payload"] = if record.payload_kept {
        redact(&payload_value(&record.envelope.body), &redact_fields)
    } else {
        serde_json::Value::Null
    };
    if json {
        crate::out::json(&view);
    } else {
        crate::out::json_pretty(&view);
    }
    Ok(())
}

/// The most events one `replay --filter` sends (narrow the filter, or run it again).
const REPLAY_MAX: usize = 1_000;

/// Replay events by key, or every event matching a filter: each is enqueued again with
/// `source = replay` under its own key, so sinks see the idempotency key and can tell.
pub async fn replay(place: &DataDirArg, keys: &[String], args: &EventFilterArgs) -> Outcome {
    let filter = args.filter().map_err(CliError::usage)?;
    if keys.is_empty() && filter == EventFilter::default() {
        return Err(CliError::usage("say which events: KEY…, or a filter (--provider, --type, --state, --entity, --since, --until, --key)"));
    }
    let ports = open_ports(place, true).await?;
    let now = OffsetDateTime::now_utc();
    let mut records = Vec::new();
    let mut tally = Tally::default();
    for key in keys {
        match ports.history.event(key, now).await {
            Ok(Some(r)) => records.push(r),
            Ok(None) => match replay_kept_message(&ports, key).await {
                Some(Ok(())) => {}
                Some(Err(e)) => tally.fail(e),
                None => tally.fail(CliError::not_found(format!(
                    "no such event: {key} (or its history has expired)"
                ))),
            },
            Err(e) => {
                return Err(CliError::failed(e));
            }
        }
    }
    if keys.is_empty() {
        let mut after = None;
        loop {
            let page = ports
                .history
                .events(&filter, 100, after.as_deref(), now)
                .await
                .map_err(CliError::failed)?;
            // Listing leaves payloads out: read each record whole.
            for summary in page.events {
                match ports
                    .history
                    .event(summary.envelope.key.as_str(), now)
                    .await
                {
                    Ok(Some(r)) => records.push(r),
                    Ok(None) => {}
                    Err(e) => {
                        return Err(CliError::failed(e));
                    }
                }
            }
            if records.len() >= REPLAY_MAX || page.next.is_none() {
                break;
            }
            after = page.next;
        }
        if records.len() > REPLAY_MAX {
            records.truncate(REPLAY_MAX);
            crate::errln!("inlet: replaying the newest {REPLAY_MAX}; narrow the filter or run it again for the rest");
        }
        if records.is_empty() {
            return Err(CliError::not_found("no events match"));
        }
    }
    let mut sent = 0;
    for r in &records {
        let key = r.envelope.key.as_str();
        match replay_record(ports.queue.as_ref(), r, "`inlet events replay`").await {
            Ok(()) => {
                sent += 1;
                crate::outln!("{key}: enqueued for replay (source = replay)");
            }
            Err(e @ ReplayError::PayloadNotKept(_)) => tally.fail(CliError::failed(e)),
            Err(e) => tally.fail(CliError::failed(format!("{key}: {e}"))),
        }
    }
    if records.len() > 1 {
        crate::outln!("replayed {sent} of {} event(s)", records.len());
    }
    tally.outcome()
}

/// Locally, a handled message kept in the store (from before the history, or with the
/// history off) can still be replayed. `None`: nothing kept either.
async fn replay_kept_message(ports: &Ports, key: &str) -> Option<Outcome> {
    let store = ports.local.as_ref()?;
    match store.replay(key).await {
        Ok(0) => None,
        Ok(_) => {
            crate::outln!("{key}: enqueued for replay (source = replay)");
            Some(Ok(()))
        }
        Err(e) => Some(Err(CliError::failed(e))),
    }
}
