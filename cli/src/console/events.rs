//! Events: search (the same filter as `inlet events list`), a live first page, one event
//! with its timeline and redacted payload, and replay.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use time::OffsetDateTime;

use inlet_core::envelope::payload_value;
use inlet_core::history::{EventRecord, EventState};
use inlet_core::redact::redact;
use inlet_core::usecase::operate::{in_progress_until, replay as replay_event, ReplayError};

use super::layout::{csrf_field, enc, event_href, event_link, frame, state, table, time};
use super::{done, failed, respond, store_failed, ActionForm, Console, Flash};

#[derive(Debug, Default, Deserialize)]
pub(super) struct EventQuery {
    provider: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    state: Option<String>,
    entity: Option<String>,
    since: Option<String>,
    until: Option<String>,
    key: Option<String>,
    after: Option<String>,
    /// Only the table (live updates).
    partial: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The events table inside its live-update container.
pub(super) fn events_table(events: &[EventRecord]) -> Markup {
    html! { div #events { (events_rows(events)) } }
}

fn events_rows(events: &[EventRecord]) -> Markup {
    let rows: Vec<Vec<Markup>> = events
        .iter()
        .map(|r| {
            let e = &r.envelope;
            vec![
                html! { (time(e.received_at)) },
                event_link(e.key.as_str()),
                html! { (e.event_type.as_deref().unwrap_or("–")) },
                state(r.state.as_str(), None),
                html! { (e.source.as_str()) },
                html! { (r.attempt_count) },
                html! { (r.duplicates) },
            ]
        })
        .collect();
    table(
        "events-table",
        &[
            "received",
            "key",
            "type",
            "state",
            "source",
            "attempts",
            "duplicates",
        ],
        &rows,
        "No events match.",
    )
}

pub(super) async fn list(State(c): State<Arc<Console>>, Query(q): Query<EventQuery>) -> Response {
    let args = crate::args::EventFilterArgs {
        provider: non_empty(&q.provider),
        event_type: non_empty(&q.event_type),
        state: non_empty(&q.state),
        entity: non_empty(&q.entity),
        since: non_empty(&q.since),
        until: non_empty(&q.until),
        key: non_empty(&q.key),
    };
    let filter = match args.filter() {
        Ok(f) => f,
        Err(e) => return failed(StatusCode::BAD_REQUEST, "Events", &e),
    };
    let after = non_empty(&q.after);
    let page = match c
        .ports
        .history
        .events(&filter, 50, after.as_deref(), OffsetDateTime::now_utc())
        .await
    {
        Ok(p) => p,
        Err(e) => return failed(StatusCode::BAD_REQUEST, "Events", &e.to_string()),
    };
    if q.partial.is_some() {
        return respond(events_table(&page.events));
    }
    let query: String = [
        ("provider", &args.provider),
        ("type", &args.event_type),
        ("state", &args.state),
        ("entity", &args.entity),
        ("since", &args.since),
        ("until", &args.until),
        ("key", &args.key),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("&{k}={}", enc(v))))
    .collect();
    let input = |name: &str, label: &str, value: &Option<String>| {
        html! {
            label { (label) " " input name=(name) id={ "f-" (name) } value=(value.as_deref().unwrap_or("")); }
        }
    };
    let body = html! {
        form method="get" action="/console/events" #search {
            fieldset {
                (input("key", "key contains", &args.key))
                (input("provider", "provider", &args.provider))
                (input("type", "type", &args.event_type))
                label { "state "
                    select name="state" #f-state {
                        option value="" { "any" }
                        @for s in EventState::ALL {
                            option selected[args.state.as_deref() == Some(s.as_str())] { (s.as_str()) }
                        }
                    }
                }
                (input("entity", "entity", &args.entity))
                (input("since", "since", &args.since))
                (input("until", "until", &args.until))
                button type="submit" #search-button { "Search" }
            }
        }
        // The first page follows new events as they come; later pages stay still.
        @if after.is_none() {
            div #events data-live={ "/console/events?partial=1" (query) } { (events_rows(&page.events)) }
        } @else {
            (events_table(&page.events))
        }
        @if let Some(next) = &page.next {
            p { a #next href={ "/console/events?after=" (enc(next)) (query) } { "Older events" } }
        }
    };
    respond(frame("Events", "/console/events", None, body))
}

pub(super) async fn one(
    State(c): State<Arc<Console>>,
    Path(key): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let record = match c.ports.history.event(&key, now).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&key),
        Err(e) => return store_failed(e),
    };
    let e = &record.envelope;
    let facts: [(&str, Markup); 13] = [
        ("key", html! { (e.key.as_str()) }),
        ("provider", html! { (e.provider.as_str()) }),
        ("event id", html! { (e.event_id) }),
        ("type", html! { (e.event_type.as_deref().unwrap_or("–")) }),
        ("entity", html! { (e.entity.as_deref().unwrap_or("–")) }),
        (
            "version",
            html! { (e.version.map_or("–".into(), |v| v.to_string())) },
        ),
        ("source", html! { (e.source.as_str()) }),
        ("received", html! { (time(e.received_at)) }),
        ("correlation id", html! { (e.correlation_id) }),
        ("state", state(record.state.as_str(), Some("state"))),
        (
            "attempts",
            html! { span #attempt-count { (record.attempt_count) } },
        ),
        ("duplicates", html! { (record.duplicates) }),
        ("kept until", html! { (time(record.expires_at)) }),
    ];
    let timeline: Vec<Vec<Markup>> = record
        .attempts
        .iter()
        .map(|a| {
            vec![
                html! { (time(a.at)) },
                state(a.state.as_str(), None),
                html! { (a.receive_count) },
                html! { (a.detail.as_deref().unwrap_or("")) },
            ]
        })
        .collect();
    let in_progress = in_progress_until(c.ports.ledger.as_ref(), &key, now).await;
    let body = html! {
        dl { @for (label, value) in facts { dt { (label) } dd { (value) } } }
        @if let Some(until) = in_progress {
            p #in-progress { "A worker is handling it now (its claim holds until " (time(until)) ")." }
        }
        h2 { "Timeline" }
        (table("timeline", &["at", "outcome", "receive", "detail"], &timeline, "No attempts recorded."))
        h2 { "Payload" }
        @if record.payload_kept {
            pre #payload {
                (serde_json::to_string_pretty(&redact(&payload_value(&e.body), &c.redact_fields)).unwrap_or_default())
            }
            form method="post" action={ (event_href(e.key.as_str())) "/replay" } {
                (csrf_field(&c.csrf))
                button type="submit" #replay { "Replay this event" }
                " (enqueued again under its key, " code { "source = replay" } ")"
            }
        } @else {
            p #payload {
                "The payload was not kept (" code { "[history] keep_payloads" } " or "
                code { "max_payload_bytes" } "), so it cannot be replayed from here."
            }
        }
    };
    respond(frame(
        &format!("Event {key}"),
        "/console/events",
        flash.done.as_deref(),
        body,
    ))
}

fn not_found(key: &str) -> Response {
    failed(
        StatusCode::NOT_FOUND,
        "No such event",
        &format!("No event {key} in the history (or it has expired)."),
    )
}

pub(super) async fn replay(
    State(c): State<Arc<Console>>,
    Path(key): Path<String>,
    _: ActionForm,
) -> Response {
    let replayed = replay_event(
        c.ports.history.as_ref(),
        c.ports.queue.as_ref(),
        &key,
        "the console",
        OffsetDateTime::now_utc(),
    )
    .await;
    match replayed {
        Ok(()) => done(&event_href(&key), "Enqueued for replay."),
        Err(ReplayError::NotFound(_)) => not_found(&key),
        Err(ReplayError::PayloadNotKept(_)) => failed(
            StatusCode::CONFLICT,
            "Cannot replay",
            "The payload was not kept; nothing was sent.",
        ),
        Err(e) => store_failed(e),
    }
}
