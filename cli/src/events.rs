//! `inlet events`: what happened to an event — list and search the history, show one
//! event's timeline and (redacted) payload, replay events by key or by filter. The same
//! on the embedded store and on a deployed stack (`--backend aws`).

use crate::out::inert;
use std::path::Path;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use inlet_core::envelope::payload_value;
use inlet_core::history::{EventFilter, EventRecord, EventState};
use inlet_core::redact::redact;
use inlet_core::usecase::operate::{replay_record, ReplayError};

use crate::backend::Ports;
use crate::commands::open_ports;
use crate::{exit, DataDirArg, EventFilterArgs};

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The filter the flags describe; an error names the flag that does not parse.
pub fn filter_of(args: &EventFilterArgs) -> Result<EventFilter, String> {
    let time = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|t| {
                crate::reconcile::parse_since(t).ok_or_else(|| {
                    format!("--{flag} {t:?} is neither RFC 3339 (2026-11-28T10:00:00Z) nor Unix seconds")
                })
            })
            .transpose()
    };
    let state = args
        .state
        .as_deref()
        .map(|s| {
            EventState::parse(s).ok_or_else(|| {
                let all: Vec<&str> = EventState::ALL.iter().map(|x| x.as_str()).collect();
                format!("--state {s:?} is not a state: {}", all.join(", "))
            })
        })
        .transpose()?;
    let filter = EventFilter {
        provider: args.provider.clone(),
        event_type: args.event_type.clone(),
        state,
        entity: args.entity.clone(),
        since: time("since", &args.since)?,
        until: time("until", &args.until)?,
        key_contains: args.key.clone(),
    };
    if let (Some(s), Some(u)) = (filter.since, filter.until) {
        if s >= u {
            return Err(format!(
                "--since {} is not before --until {}",
                rfc3339(s),
                rfc3339(u)
            ));
        }
    }
    Ok(filter)
}

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
) -> u8 {
    let filter = match filter_of(args) {
        Ok(f) => f,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::USAGE;
        }
    };
    let ports = match open_ports(place, true).await {
        Ok(p) => p,
        Err(c) => return c,
    };
    let page = match ports
        .history
        .events(&filter, limit, after, OffsetDateTime::now_utc())
        .await
    {
        Ok(p) => p,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::FAILURE;
        }
    };
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
    exit::OK
}

pub async fn show(config: Option<&Path>, place: &DataDirArg, key: &str, json: bool) -> u8 {
    let (config, ports) = match crate::commands::operator_context(config, place).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let redact_fields = crate::commands::redact_fields(config.as_ref());
    let record = match ports.history.event(key, OffsetDateTime::now_utc()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            crate::errln!("inlet: no such event: {key} (or its history has expired)");
            return exit::NOT_FOUND;
        }
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::FAILURE;
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
    exit::OK
}

/// The most events one `replay --filter` sends (narrow the filter, or run it again).
const REPLAY_MAX: usize = 1_000;

/// Replay events by key, or every event matching a filter: each is enqueued again with
/// `source = replay` under its own key, so sinks see the idempotency key and can tell.
pub async fn replay(place: &DataDirArg, keys: &[String], args: &EventFilterArgs) -> u8 {
    let filter = match filter_of(args) {
        Ok(f) => f,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::USAGE;
        }
    };
    if keys.is_empty() && filter == EventFilter::default() {
        crate::errln!("inlet: say which events: KEY…, or a filter (--provider, --type, --state, --entity, --since, --until, --key)");
        return exit::USAGE;
    }
    let ports = match open_ports(place, true).await {
        Ok(p) => p,
        Err(c) => return c,
    };
    let now = OffsetDateTime::now_utc();
    let mut records = Vec::new();
    let mut code = exit::OK;
    for key in keys {
        match ports.history.event(key, now).await {
            Ok(Some(r)) => records.push(r),
            Ok(None) => match replay_kept_message(&ports, key).await {
                Some(c) => code = code.max(c),
                None => {
                    crate::errln!("inlet: no such event: {key} (or its history has expired)");
                    code = code.max(exit::NOT_FOUND);
                }
            },
            Err(e) => {
                crate::errln!("inlet: {e}");
                return exit::FAILURE;
            }
        }
    }
    if keys.is_empty() {
        let mut after = None;
        loop {
            let page = match ports
                .history
                .events(&filter, 100, after.as_deref(), now)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    crate::errln!("inlet: {e}");
                    return exit::FAILURE;
                }
            };
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
                        crate::errln!("inlet: {e}");
                        return exit::FAILURE;
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
            crate::errln!("inlet: no events match");
            return exit::NOT_FOUND;
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
            Err(e @ ReplayError::PayloadNotKept(_)) => {
                crate::errln!("inlet: {e}");
                code = code.max(exit::FAILURE);
            }
            Err(e) => {
                crate::errln!("inlet: {key}: {e}");
                code = code.max(exit::FAILURE);
            }
        }
    }
    if records.len() > 1 {
        crate::outln!("replayed {sent} of {} event(s)", records.len());
    }
    code
}

/// Locally, a handled message kept in the store (from before the history, or with the
/// history off) can still be replayed. `None`: nothing kept either.
async fn replay_kept_message(ports: &Ports, key: &str) -> Option<u8> {
    let store = ports.local.as_ref()?;
    match store.replay(key).await {
        Ok(0) => None,
        Ok(_) => {
            crate::outln!("{key}: enqueued for replay (source = replay)");
            Some(exit::OK)
        }
        Err(e) => {
            crate::errln!("inlet: {e}");
            Some(exit::FAILURE)
        }
    }
}
