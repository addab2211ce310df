//! The outbox in an application's SQLite database: [`install`] the table once, [`stage`]
//! events inside your own transactions, and let a publisher ([`Drain`]) read what is due.

use inlet_core::clock::unix_millis;
use rusqlite::{params, Connection, OptionalExtension};

use crate::{OutboxError, OutboxEvent, OutboxRecord, Status};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS inlet_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,   -- staging order
    id              TEXT    NOT NULL UNIQUE,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,                    -- JSON
    correlation_id  TEXT,
    idempotency_key TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL DEFAULT 'pending',  -- pending | published | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,                    -- Unix ms
    published_at    INTEGER,
    created_at      INTEGER NOT NULL,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS inlet_outbox_due ON inlet_outbox(status, next_attempt_at, seq);
CREATE INDEX IF NOT EXISTS inlet_outbox_aggregate ON inlet_outbox(aggregate_type, aggregate_id, seq);
"#;

/// Create the `inlet_outbox` table and its indexes if they are missing. Idempotent.
pub fn install(conn: &Connection) -> Result<(), OutboxError> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// Stage `event` in the caller's open transaction (pass `&tx`): it commits or rolls back
/// with the business write beside it. Staging an idempotency key that is already in the
/// table does nothing, so the same fact staged twice is published once.
pub fn stage(conn: &Connection, event: &OutboxEvent) -> Result<(), OutboxError> {
    event.check()?;
    let payload = serde_json::to_string(&event.payload)?;
    let now = unix_millis(time::OffsetDateTime::now_utc());
    conn.prepare_cached(
        "INSERT INTO inlet_outbox (id, aggregate_type, aggregate_id, event_type, payload,
             correlation_id, idempotency_key, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT(idempotency_key) DO NOTHING",
    )?
    .execute(params![
        event.id,
        event.aggregate_type,
        event.aggregate_id,
        event.event_type,
        payload,
        event.correlation_id,
        event.idempotency_key,
        now,
    ])?;
    Ok(())
}

/// How many events are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: u64,
    pub published: u64,
    pub failed: u64,
}

/// The publisher's handle on an application's outbox.
pub struct Drain {
    conn: Connection,
}

const RECORD_COLUMNS: &str = "id, aggregate_type, aggregate_id, event_type, payload,
     correlation_id, idempotency_key, status, attempts, next_attempt_at, published_at,
     created_at, last_error";

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<(OutboxRecord, String, String)> {
    let payload: String = row.get(4)?;
    let status: String = row.get(7)?;
    Ok((
        OutboxRecord {
            event: OutboxEvent {
                id: row.get(0)?,
                aggregate_type: row.get(1)?,
                aggregate_id: row.get(2)?,
                event_type: row.get(3)?,
                payload: serde_json::Value::Null,
                correlation_id: row.get(5)?,
                idempotency_key: row.get(6)?,
            },
            status: Status::Pending,
            attempts: row.get(8)?,
            next_attempt_at: row.get(9)?,
            published_at: row.get(10)?,
            created_at: row.get(11)?,
            last_error: row.get(12)?,
        },
        payload,
        status,
    ))
}

/// A row as read, its payload and status parsed; a row the application wrote by hand
/// that does not parse is an error naming it.
fn parsed(
    (mut r, payload, status): (OutboxRecord, String, String),
) -> Result<OutboxRecord, OutboxError> {
    r.event.payload = serde_json::from_str(&payload).map_err(|e| {
        OutboxError::Invalid(format!(
            "event {} has a payload that is not JSON: {e}",
            r.event.id
        ))
    })?;
    r.status = Status::parse(&status).ok_or_else(|| {
        OutboxError::Invalid(format!(
            "event {} has an unknown status {status:?}",
            r.event.id
        ))
    })?;
    Ok(r)
}

impl Drain {
    /// Open the application's database (creating the table if the application has not).
    pub fn open(path: &std::path::Path) -> Result<Drain, OutboxError> {
        let conn = Connection::open(path)?;
        // The application writes to the same file: wait for its transactions.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        install(&conn)?;
        Ok(Drain { conn })
    }

    /// Up to `limit` pending events due at `now_ms`, in staging order. An event waits while
    /// an earlier event of its aggregate waits for a retry, so an aggregate's events are
    /// published in the order they were staged. A row that does not parse (written by hand,
    /// say) is marked `failed` with the reason instead of stopping the others.
    pub fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRecord>, OutboxError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM inlet_outbox o
             WHERE status = 'pending' AND next_attempt_at <= ?1
               AND NOT EXISTS (
                   SELECT 1 FROM inlet_outbox e
                   WHERE e.aggregate_type = o.aggregate_type AND e.aggregate_id = o.aggregate_id
                     AND e.seq < o.seq AND e.status = 'pending' AND e.next_attempt_at > ?1)
             ORDER BY seq LIMIT ?2"
        );
        let raw: Vec<_> = {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![now_ms, limit as i64], record)?;
            rows.collect::<Result<_, _>>()?
        };
        let mut due = Vec::with_capacity(raw.len());
        for row in raw {
            let id = row.0.event.id.clone();
            match parsed(row) {
                Ok(r) => due.push(r),
                Err(e) => {
                    self.conn
                        .prepare_cached(
                            "UPDATE inlet_outbox SET status = 'failed', last_error = ?2 WHERE id = ?1",
                        )?
                        .execute(params![id, e.to_string()])?;
                }
            }
        }
        Ok(due)
    }

    /// Mark events published at `now_ms`, in one transaction.
    pub fn mark_published(&mut self, ids: &[&str], now_ms: i64) -> Result<(), OutboxError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE inlet_outbox SET status = 'published', published_at = ?2,
                     attempts = attempts + 1, last_error = NULL
                 WHERE id = ?1 AND status = 'pending'",
            )?;
            for id in ids {
                stmt.execute(params![id, now_ms])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Count a failed attempt: retried at `retry_at_ms`, or `failed` for good once it has
    /// failed `max_attempts` times.
    pub fn mark_failed(
        &self,
        id: &str,
        error: &str,
        retry_at_ms: i64,
        max_attempts: u32,
    ) -> Result<(), OutboxError> {
        self.conn
            .prepare_cached(
                "UPDATE inlet_outbox SET attempts = attempts + 1, last_error = ?2,
                     next_attempt_at = ?3,
                     status = CASE WHEN attempts + 1 >= ?4 THEN 'failed' ELSE 'pending' END
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![id, error, retry_at_ms, max_attempts])?;
        Ok(())
    }

    /// One event by id.
    pub fn get(&self, id: &str) -> Result<Option<OutboxRecord>, OutboxError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM inlet_outbox WHERE id = ?1");
        let row = self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![id], record)
            .optional()?;
        row.map(parsed).transpose()
    }

    /// Up to `limit` events that failed for good, newest first, with their last error.
    pub fn failed(&self, limit: usize) -> Result<Vec<OutboxRecord>, OutboxError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM inlet_outbox WHERE status = 'failed' ORDER BY seq DESC LIMIT ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![limit as i64], record)?;
        // A row failed because its payload does not parse is still listed (payload null).
        rows.map(|r| {
            let (mut rec, payload, _) = r?;
            rec.event.payload = serde_json::from_str(&payload).unwrap_or_default();
            rec.status = Status::Failed;
            Ok(rec)
        })
        .collect()
    }

    pub fn counts(&self) -> Result<Counts, OutboxError> {
        let mut counts = Counts::default();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT status, COUNT(*) FROM inlet_outbox GROUP BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
        for row in rows {
            let (status, n) = row?;
            match Status::parse(&status) {
                Some(Status::Pending) => counts.pending = n,
                Some(Status::Published) => counts.published = n,
                Some(Status::Failed) => counts.failed = n,
                None => {}
            }
        }
        Ok(counts)
    }

    /// Give every `failed` event another round: back to `pending`, due at `now_ms`, its
    /// attempts counted from zero again (`last_error` kept until it is published). Returns
    /// how many.
    pub fn retry_failed(&self, now_ms: i64) -> Result<usize, OutboxError> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE inlet_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?1
                 WHERE status = 'failed'",
            )?
            .execute(params![now_ms])?)
    }

    /// Give one `failed` event another round (after the application fixed it): back to
    /// `pending`, due at `now_ms`. Returns whether there was such an event.
    pub fn retry_failed_id(&self, id: &str, now_ms: i64) -> Result<bool, OutboxError> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE inlet_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?2
                 WHERE id = ?1 AND status = 'failed'",
            )?
            .execute(params![id, now_ms])?
            == 1)
    }

    /// Remove one `failed` event for good (it will never be published). Returns whether
    /// there was such an event; a pending or published one is left alone.
    pub fn discard_failed(&self, id: &str) -> Result<bool, OutboxError> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM inlet_outbox WHERE id = ?1 AND status = 'failed'")?
            .execute(params![id])?
            == 1)
    }

    /// Delete published events older than `before_ms` (their keys may then be staged again).
    pub fn purge_published(&self, before_ms: i64) -> Result<usize, OutboxError> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM inlet_outbox WHERE status = 'published' AND published_at < ?1",
            )?
            .execute(params![before_ms])?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn app() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE orders (id TEXT PRIMARY KEY, status TEXT NOT NULL);")
            .unwrap();
        install(&conn).unwrap();
        (dir, path, conn)
    }

    fn paid(order: &str) -> OutboxEvent {
        OutboxEvent::new(
            "order",
            order,
            "order.paid",
            serde_json::json!({"order": order}),
        )
    }

    #[test]
    fn staged_events_commit_or_roll_back_with_the_business_write() {
        let (_dir, path, mut conn) = app();
        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO orders VALUES ('o1', 'paid')", [])
            .unwrap();
        stage(&tx, &paid("o1")).unwrap();
        tx.rollback().unwrap();
        let drain = Drain::open(&path).unwrap();
        assert!(
            drain.due(i64::MAX, 10).unwrap().is_empty(),
            "rolled back: nothing staged"
        );

        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO orders VALUES ('o1', 'paid')", [])
            .unwrap();
        let event = paid("o1").with_correlation_id("req-7");
        stage(&tx, &event).unwrap();
        tx.commit().unwrap();
        let due = drain.due(i64::MAX, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].event, event);
        assert_eq!(due[0].status, Status::Pending);
        assert_eq!(due[0].attempts, 0);
    }

    #[test]
    fn the_same_idempotency_key_staged_twice_is_kept_once() {
        let (_dir, path, conn) = app();
        let first = paid("o1").with_idempotency_key("order.paid:o1");
        stage(&conn, &first).unwrap();
        stage(&conn, &paid("o1").with_idempotency_key("order.paid:o1")).unwrap();
        let drain = Drain::open(&path).unwrap();
        let due = drain.due(i64::MAX, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].event.id, first.id);
    }

    #[test]
    fn published_events_leave_the_due_list_with_their_time() {
        let (_dir, path, conn) = app();
        let (a, b) = (paid("o1"), paid("o2"));
        stage(&conn, &a).unwrap();
        stage(&conn, &b).unwrap();
        let mut drain = Drain::open(&path).unwrap();
        drain.mark_published(&[a.id.as_str()], 5_000).unwrap();
        let due = drain.due(i64::MAX, 10).unwrap();
        assert_eq!(
            due.iter().map(|r| r.event.id.clone()).collect::<Vec<_>>(),
            vec![b.id]
        );
        let a = drain.get(&a.id).unwrap().unwrap();
        assert_eq!(
            (a.status, a.published_at, a.attempts),
            (Status::Published, Some(5_000), 1)
        );
        assert_eq!(
            drain.counts().unwrap(),
            Counts {
                pending: 1,
                published: 1,
                failed: 0
            }
        );
        assert_eq!(drain.purge_published(5_001).unwrap(), 1);
    }

    #[test]
    fn failures_back_off_hold_the_aggregate_and_end_as_failed() {
        let (_dir, path, conn) = app();
        let (first, second, other) = (paid("o1"), paid("o1"), paid("o2"));
        for e in [&first, &second, &other] {
            stage(&conn, e).unwrap();
        }
        let drain = Drain::open(&path).unwrap();
        let now = unix_millis(time::OffsetDateTime::now_utc());
        drain
            .mark_failed(&first.id, "queue unavailable", now + 1_000, 2)
            .unwrap();
        // o1's second event waits behind its first; o2 is not held.
        let due: Vec<String> = drain
            .due(now, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.event.id)
            .collect();
        assert_eq!(due, vec![other.id.clone()]);
        let due: Vec<String> = drain
            .due(now + 1_000, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.event.id)
            .collect();
        assert_eq!(
            due,
            vec![first.id.clone(), second.id.clone(), other.id.clone()]
        );
        drain
            .mark_failed(&first.id, "queue unavailable again", now + 2_000, 2)
            .unwrap();
        let first = drain.get(&first.id).unwrap().unwrap();
        assert_eq!(first.status, Status::Failed);
        assert_eq!(first.attempts, 2);
        assert_eq!(first.last_error.as_deref(), Some("queue unavailable again"));
        // A failed event no longer holds its aggregate.
        assert_eq!(drain.due(now, 10).unwrap().len(), 2);
        let failed = drain.failed(10).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].event.id, first.event.id);
        assert_eq!(failed[0].event.payload, first.event.payload);
    }

    #[test]
    fn bad_events_are_refused_before_anything_is_written() {
        let (_dir, path, conn) = app();
        for (event, why) in [
            (paid("o1").with_idempotency_key(""), "empty"),
            (paid("o1").with_idempotency_key("a\nb"), "control"),
            (
                paid("o1").with_idempotency_key("k".repeat(crate::MAX_KEY_BYTES + 1)),
                "bytes",
            ),
            (
                OutboxEvent::new("", "o1", "order.paid", serde_json::json!({})),
                "empty",
            ),
        ] {
            let err = stage(&conn, &event).unwrap_err();
            assert!(err.to_string().contains(why), "{why}: {err}");
        }
        assert!(Drain::open(&path)
            .unwrap()
            .due(i64::MAX, 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_row_that_does_not_parse_is_failed_with_its_reason_and_the_rest_go_on() {
        let (_dir, path, conn) = app();
        conn.execute(
            "INSERT INTO inlet_outbox (id, aggregate_type, aggregate_id, event_type, payload,
                 idempotency_key, next_attempt_at, created_at)
             VALUES ('bad-1', 'order', 'o1', 'x', '{not json', 'k1', 0, 0)",
            [],
        )
        .unwrap();
        let good = paid("o2");
        stage(&conn, &good).unwrap();
        let drain = Drain::open(&path).unwrap();
        let due = drain.due(i64::MAX, 10).unwrap();
        assert_eq!(due.len(), 1, "the good event is still published");
        assert_eq!(due[0].event.id, good.id);
        let status: (String, String) = conn
            .query_row(
                "SELECT status, last_error FROM inlet_outbox WHERE id = 'bad-1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(status.0, "failed");
        assert!(status.1.contains("not JSON"), "{}", status.1);
    }
}
