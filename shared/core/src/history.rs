//! Event history: what happened to each event, kept for the retention period, so an
//! operator can answer "did Stripe's `evt_…` reach us, when, was it delivered, how many
//! attempts, what failed — and send it again".
//!
//! The worker records one [`Attempt`] per handled message (delivered, duplicate,
//! superseded, held, retrying with the full error, dead-lettered), all of a batch in one
//! [`History::record`] call beside the ledger's completion, so history adds no sequential
//! round trip. The record keeps the envelope (the payload too, where configured), so
//! `inlet events replay KEY` can send it again on either backend.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::envelope::{Envelope, Source};

/// Where an event stands, after its latest attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventState {
    Delivered,
    /// Delivered again because an operator asked (`source = replay`).
    Replayed,
    /// A copy of an event already handled (counted, not a state of its own once the
    /// event has one).
    Duplicate,
    /// A newer version of the entity was applied, or a conflict rule decided against it.
    Superseded,
    /// Held for review by a conflict rule.
    Held,
    /// The same signed body as an event handled under another key: a captured request
    /// replayed with a fresh unsigned id. Not delivered.
    ReplayRefused,
    /// A webhook older than its provider's `max_event_age_secs`. Not delivered.
    Stale,
    Retrying,
    DeadLettered,
    /// Accepted and waiting in the queue; no worker has handled it yet (the embedded
    /// store tells from its queue; on AWS the queue cannot be searched by key).
    Queued,
    /// An operator moved it from the DLQ back to the work queue (a timeline mark: the
    /// state stays what the worker last made it until the worker handles it again).
    Redriven,
}

impl EventState {
    pub const ALL: [EventState; 11] = [
        EventState::Delivered,
        EventState::Replayed,
        EventState::Duplicate,
        EventState::Superseded,
        EventState::Held,
        EventState::ReplayRefused,
        EventState::Stale,
        EventState::Retrying,
        EventState::DeadLettered,
        EventState::Queued,
        EventState::Redriven,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Delivered => "delivered",
            EventState::Replayed => "replayed",
            EventState::Duplicate => "duplicate",
            EventState::Superseded => "superseded",
            EventState::Held => "held",
            EventState::ReplayRefused => "replay-refused",
            EventState::Stale => "stale",
            EventState::Retrying => "retrying",
            EventState::DeadLettered => "dead-lettered",
            EventState::Queued => "queued",
            EventState::Redriven => "redriven",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Errors kept on an attempt are cut to this many characters (a whole AWS error with its
/// code, message and request id fits).
pub const MAX_DETAIL_CHARS: usize = 2_000;
/// The newest attempts kept per event; older ones are dropped (the count stays).
pub const MAX_ATTEMPTS_KEPT: usize = 25;

/// One handling of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub state: EventState,
    /// The queue's receive count for this attempt.
    pub receive_count: u32,
    /// The full reason of a retry or dead letter (the store's, sink's or service's words),
    /// or which rule superseded or held it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Attempt {
    pub fn new(
        at: OffsetDateTime,
        state: EventState,
        receive_count: u32,
        detail: Option<&str>,
    ) -> Self {
        Attempt {
            at,
            state,
            receive_count,
            detail: detail.map(|d| d.chars().take(MAX_DETAIL_CHARS).collect()),
        }
    }
}

/// One event's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event as it travels (key, provider, type, entity, version, source, received at,
    /// correlation id); its body is empty unless `payload_kept`.
    pub envelope: Envelope,
    pub payload_kept: bool,
    pub state: EventState,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Copies received after the first (provider retries, reconciliation finds).
    pub duplicates: u32,
    /// All attempts counted, including those no longer kept.
    pub attempt_count: u32,
    /// The newest [`MAX_ATTEMPTS_KEPT`] attempts, oldest first.
    pub attempts: Vec<Attempt>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// One attempt to record, with the event it belongs to.
#[derive(Debug, Clone)]
pub struct HistoryEntry<'a> {
    pub envelope: &'a Envelope,
    pub attempt: Attempt,
    /// Keep the payload (for replay): off by configuration, or over the size limit.
    pub keep_payload: bool,
    pub expires_at: OffsetDateTime,
    /// The attempt's claim was the key's first ([`crate::ports::Claim::Acquired`]): no
    /// record of the event exists yet, so a store may write it whole instead of merging.
    /// `false` is always safe.
    pub first: bool,
}

impl EventRecord {
    /// The record after `entry`: a new one, or `existing` with the attempt added. A
    /// duplicate counts but does not change the state of an event that has one; a
    /// payload once kept stays kept.
    pub fn merge(existing: Option<EventRecord>, entry: &HistoryEntry<'_>) -> EventRecord {
        let attempt = entry.attempt.clone();
        let mut record = existing.unwrap_or_else(|| {
            let mut envelope = entry.envelope.clone();
            if !entry.keep_payload {
                envelope.body = Vec::new();
            }
            EventRecord {
                envelope,
                payload_kept: entry.keep_payload,
                state: attempt.state,
                updated_at: attempt.at,
                duplicates: 0,
                attempt_count: 0,
                attempts: Vec::new(),
                expires_at: entry.expires_at,
            }
        });
        if !record.payload_kept && entry.keep_payload {
            record.envelope.body = entry.envelope.body.clone();
            record.payload_kept = true;
        }
        record.updated_at = attempt.at;
        record.expires_at = record.expires_at.max(entry.expires_at);
        match attempt.state {
            EventState::Duplicate => {
                record.duplicates += 1;
                return record;
            }
            // A mark in the timeline, not an attempt: the state stays the worker's.
            EventState::Redriven | EventState::Queued => {}
            _ => {
                record.state = attempt.state;
                record.attempt_count += 1;
            }
        }
        record.attempts.push(attempt);
        // Marks written by an operator's tool may land after a worker's attempt that
        // followed them: the timeline is in the order things happened.
        record.attempts.sort_by_key(|a| a.at);
        let excess = record.attempts.len().saturating_sub(MAX_ATTEMPTS_KEPT);
        record.attempts.drain(..excess);
        record
    }

    /// The envelope to enqueue for a replay: same key, `source = replay`. `None` when the
    /// payload was not kept (nothing to send).
    pub fn replay_envelope(&self, by: &str) -> Option<Envelope> {
        self.payload_kept.then(|| Envelope {
            source: Source::Replay,
            replayed_by: Some(by.to_string()),
            ..self.envelope.clone()
        })
    }
}

/// Which events `inlet events list` shows. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub provider: Option<String>,
    pub event_type: Option<String>,
    pub state: Option<EventState>,
    pub entity: Option<String>,
    /// Received at or after.
    pub since: Option<OffsetDateTime>,
    /// Received before.
    pub until: Option<OffsetDateTime>,
    /// A substring of the key.
    pub key_contains: Option<String>,
}

/// A page of events, newest first, and where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<EventRecord>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::Headers;
    use crate::ids::ProviderName;
    use crate::normalize::{normalize, Incoming, NormalizeRules};
    use crate::signature::Scheme;

    fn env(body: &str) -> Envelope {
        let p = ProviderName::parse("acme").unwrap();
        let h = Headers::new().with("webhook-id", "msg_1");
        normalize(
            &Incoming {
                provider: &p,
                scheme: &Scheme::StandardWebhooks,
                headers: &h,
                body: body.as_bytes(),
                received_at: OffsetDateTime::UNIX_EPOCH,
                correlation_id: "c",
                source: Source::Webhook,
            },
            &NormalizeRules::default(),
        )
        .unwrap()
    }

    fn entry(e: &Envelope, s: EventState, t: i64, keep: bool) -> HistoryEntry<'_> {
        HistoryEntry {
            envelope: e,
            attempt: Attempt::new(
                OffsetDateTime::from_unix_timestamp(t).unwrap(),
                s,
                1,
                (s == EventState::Retrying).then_some("sink http: 503"),
            ),
            keep_payload: keep,
            expires_at: OffsetDateTime::from_unix_timestamp(t + 100).unwrap(),
            first: false,
        }
    }

    #[test]
    fn attempts_build_a_timeline_and_duplicates_only_count() {
        let e = env(r#"{"a":1}"#);
        let r = EventRecord::merge(None, &entry(&e, EventState::Retrying, 10, true));
        assert_eq!((r.state, r.attempt_count), (EventState::Retrying, 1));
        assert_eq!(r.attempts[0].detail.as_deref(), Some("sink http: 503"));
        let r = EventRecord::merge(Some(r), &entry(&e, EventState::Delivered, 20, true));
        let r = EventRecord::merge(Some(r), &entry(&e, EventState::Duplicate, 30, true));
        assert_eq!(
            (r.state, r.duplicates, r.attempt_count),
            (EventState::Delivered, 1, 2)
        );
        assert_eq!(r.expires_at.unix_timestamp(), 130);
        assert_eq!(r.replay_envelope("a test").unwrap().source, Source::Replay);
        assert_eq!(r.replay_envelope("a test").unwrap().body, br#"{"a":1}"#);
    }

    #[test]
    fn a_redrive_is_a_mark_in_the_timeline_not_an_attempt() {
        let e = env("{}");
        let r = EventRecord::merge(None, &entry(&e, EventState::DeadLettered, 10, false));
        let r = EventRecord::merge(Some(r), &entry(&e, EventState::Redriven, 20, false));
        assert_eq!(
            (r.state, r.attempt_count, r.attempts.len()),
            (EventState::DeadLettered, 1, 2)
        );
        let r = EventRecord::merge(Some(r), &entry(&e, EventState::Delivered, 30, false));
        let states: Vec<_> = r.attempts.iter().map(|a| a.state).collect();
        assert_eq!(
            states,
            [
                EventState::DeadLettered,
                EventState::Redriven,
                EventState::Delivered
            ]
        );
        assert_eq!((r.state, r.attempt_count), (EventState::Delivered, 2));
    }

    #[test]
    fn without_the_payload_there_is_nothing_to_replay() {
        let e = env(r#"{"a":1}"#);
        let r = EventRecord::merge(None, &entry(&e, EventState::Delivered, 10, false));
        assert!(r.envelope.body.is_empty());
        assert!(r.replay_envelope("a test").is_none());
    }

    #[test]
    fn only_the_newest_attempts_are_kept_and_details_are_bounded() {
        let e = env("{}");
        let mut r = None;
        for t in 0..40 {
            r = Some(EventRecord::merge(
                r,
                &entry(&e, EventState::Retrying, t, false),
            ));
        }
        let r = r.unwrap();
        assert_eq!((r.attempt_count, r.attempts.len()), (40, MAX_ATTEMPTS_KEPT));
        assert_eq!(
            r.attempts[0].at.unix_timestamp(),
            40 - MAX_ATTEMPTS_KEPT as i64
        );
        let long = "é".repeat(5_000);
        let a = Attempt::new(
            OffsetDateTime::UNIX_EPOCH,
            EventState::Retrying,
            1,
            Some(&long),
        );
        assert_eq!(a.detail.unwrap().chars().count(), MAX_DETAIL_CHARS);
    }

    #[test]
    fn states_parse_by_their_names() {
        for state in EventState::ALL {
            assert_eq!(EventState::parse(state.as_str()), Some(state));
        }
        assert_eq!(
            EventState::parse("dead-lettered"),
            Some(EventState::DeadLettered)
        );
        assert_eq!(EventState::parse("dead"), None);
    }
}
