//! The event history on the embedded store (see [`History`]): an `events` row per key,
//! the record as JSON, with the columns `inlet events list` filters on.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use time::OffsetDateTime;

use inlet_core::clock::unix_millis;
use inlet_core::history::{EventFilter, EventPage, EventRecord, HistoryEntry};
use inlet_core::ports::{History, StoreError};

use crate::store::{exec, one, sql_err, Store};

fn decode(text: &str) -> Result<EventRecord, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Invalid(format!("stored event record does not decode: {e}")))
}

fn load(c: &Connection, key: &str) -> Result<Option<EventRecord>, StoreError> {
    let text: Option<String> = one(
        c,
        "SELECT record FROM events WHERE key = ?1",
        params![key],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_err("event"))?;
    text.as_deref().map(decode).transpose()
}

/// A page cursor: the last event's `received_at` (ms) and key.
fn cursor_of(r: &EventRecord) -> String {
    format!("{}:{}", unix_millis(r.envelope.received_at), r.envelope.key)
}

fn parse_cursor(cursor: &str) -> Result<(i64, String), StoreError> {
    cursor
        .split_once(':')
        .and_then(|(ms, key)| Some((ms.parse().ok()?, key.to_string())))
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "{cursor:?} is not a page cursor from `inlet events list`"
            ))
        })
}

#[async_trait]
impl History for Store {
    async fn record(&self, entries: &[HistoryEntry<'_>]) -> Result<(), StoreError> {
        // Owned for the writer thread. Each event's record as it would be if it were the
        // first is encoded here, not on the writer thread every other caller waits for:
        // most events have none yet. One that has is merged on the writer, in its
        // transaction; one trip for the batch.
        let owned: Vec<_> = entries
            .iter()
            .map(|e| {
                let first = EventRecord::merge(None, e);
                serde_json::to_string(&first)
                    .map(|text| (first, text, e.attempt.clone(), e.keep_payload, e.expires_at))
                    .map_err(|err| StoreError::Invalid(err.to_string()))
            })
            .collect::<Result<_, _>>()?;
        self.run(move |c| {
            for (first, text, attempt, keep_payload, expires_at) in &owned {
                let e = &first.envelope;
                let key = e.key.as_str();
                let inserted = exec(
                    c,
                    "INSERT INTO events (key, provider, event_type, entity, state, received_at, expires_at, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (key) DO NOTHING",
                    params![
                        key,
                        e.provider.as_str(),
                        e.event_type,
                        e.entity,
                        first.state.as_str(),
                        unix_millis(e.received_at),
                        unix_millis(first.expires_at),
                        text
                    ],
                )
                .map_err(sql_err("record event"))?;
                if inserted == 1 {
                    continue;
                }
                let entry = HistoryEntry {
                    envelope: e,
                    attempt: attempt.clone(),
                    keep_payload: *keep_payload,
                    expires_at: *expires_at,
                    first: false,
                };
                let record = EventRecord::merge(load(c, key)?, &entry);
                let text = serde_json::to_string(&record)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                exec(
                    c,
                    "UPDATE events SET state = ?2, expires_at = ?3, record = ?4 WHERE key = ?1",
                    params![
                        key,
                        record.state.as_str(),
                        unix_millis(record.expires_at),
                        text
                    ],
                )
                .map_err(sql_err("record event"))?;
            }
            Ok(())
        })
        .await
    }

    /// An event no worker has handled yet is still in the queue: the embedded store can
    /// say so (SQS cannot be searched by key).
    async fn event(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<EventRecord>, StoreError> {
        let key = key.to_string();
        let (record, waiting) = self
            .run(move |c| {
                let record = load(c, &key)?;
                let waiting: Option<Vec<u8>> = one(
                    c,
                    "SELECT b.body FROM messages m JOIN message_bodies b ON b.id = m.id
                     WHERE m.key = ?1 AND m.queue = 'work' ORDER BY m.id DESC LIMIT 1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_err("event"))?;
                Ok((record, waiting))
            })
            .await?;
        if let Some(r) = record.filter(|r| r.expires_at > now) {
            return Ok(Some(r));
        }
        let Some(body) = waiting else { return Ok(None) };
        let envelope = inlet_core::envelope::Envelope::from_json(&body)
            .map_err(|e| StoreError::Invalid(format!("queued message does not decode: {e}")))?;
        let received = envelope.received_at;
        Ok(Some(EventRecord {
            envelope,
            payload_kept: true,
            state: inlet_core::history::EventState::Queued,
            updated_at: received,
            duplicates: 0,
            attempt_count: 0,
            attempts: Vec::new(),
            expires_at: now + std::time::Duration::from_secs(86_400),
        }))
    }

    async fn events(
        &self,
        filter: &EventFilter,
        limit: usize,
        after: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<EventPage, StoreError> {
        let mut sql = String::from("SELECT record FROM events WHERE expires_at > ?");
        let mut args: Vec<SqlValue> = vec![SqlValue::Integer(unix_millis(now))];
        let mut and = |clause: &str, value: SqlValue| {
            sql.push_str(" AND ");
            sql.push_str(clause);
            args.push(value);
        };
        if let Some(p) = &filter.provider {
            and("provider = ?", SqlValue::Text(p.clone()));
        }
        if let Some(t) = &filter.event_type {
            and("event_type = ?", SqlValue::Text(t.clone()));
        }
        if let Some(s) = filter.state {
            and("state = ?", SqlValue::Text(s.as_str().to_string()));
        }
        if let Some(e) = &filter.entity {
            and("entity = ?", SqlValue::Text(e.clone()));
        }
        if let Some(t) = filter.since {
            and("received_at >= ?", SqlValue::Integer(unix_millis(t)));
        }
        if let Some(t) = filter.until {
            and("received_at < ?", SqlValue::Integer(unix_millis(t)));
        }
        if let Some(k) = &filter.key_contains {
            and("instr(key, ?) > 0", SqlValue::Text(k.clone()));
        }
        if let Some(cursor) = after {
            let (ms, key) = parse_cursor(cursor)?;
            sql.push_str(" AND (received_at, key) < (?, ?)");
            args.push(SqlValue::Integer(ms));
            args.push(SqlValue::Text(key));
        }
        // One more than asked: whether there is a next page.
        let take = limit.saturating_add(1);
        sql.push_str(&format!(
            " ORDER BY received_at DESC, key DESC LIMIT {take}"
        ));
        let texts: Vec<String> = self
            .run(move |c| {
                let mut stmt = c.prepare(&sql).map_err(sql_err("events"))?;
                let rows = stmt
                    .query_map(params_from_iter(args), |r| r.get(0))
                    .map_err(sql_err("events"))?
                    .collect::<Result<Vec<String>, _>>()
                    .map_err(sql_err("events"));
                rows
            })
            .await?;
        let mut events = texts
            .iter()
            .map(|t| decode(t))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().map(cursor_of)
        } else {
            None
        };
        Ok(EventPage { events, next })
    }
}
