//! The embedded store's tables, and the move of a database written by an older Inlet to
//! them.
//!
//! `PRAGMA user_version` says which layout a database has. Version 0 is the first layout
//! (a database without tables is created at the current version directly); version 1
//! keeps message bodies apart from the queue's state and the event history in arrival
//! order, so an event writes fewer pages to the WAL (see `scripts/bench`); version 2 adds
//! the learned payload shapes and schema-drift findings (new tables only); version 3 the
//! per-minute activity the console charts (new tables only).

use rusqlite::{Connection, OptionalExtension};

use inlet_core::ports::StoreError;

use crate::store::sql_err;

/// The layout this build writes.
const VERSION: i64 = 3;

pub(crate) const SCHEMA: &str = r#"
-- The queue: one small row per message, so receiving, acknowledging or retrying one
-- rewrites a few dozen bytes; the body is written once, in message_bodies. The partial
-- indexes hold only what each query walks: acknowledging a message removes it from the
-- work indexes rather than moving it within them.
CREATE TABLE IF NOT EXISTS messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT    NOT NULL,            -- 'work', 'dlq' or 'done' (kept for replay)
    key           TEXT,                        -- idempotency key, NULL if the body does not decode
    group_id      TEXT,                        -- entity: messages of one entity are handed out in order
    enqueued_at   INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT,                        -- '<id>.<random>' while received, found by id
    last_error    TEXT,
    dead_at       INTEGER                      -- dead-lettered or handled at
);
CREATE TABLE IF NOT EXISTS message_bodies (
    id   INTEGER PRIMARY KEY,                  -- messages.id
    body BLOB    NOT NULL
);
-- Receive walks the work queue in arrival order and stops at the batch size.
CREATE INDEX IF NOT EXISTS work_order ON messages(id) WHERE queue = 'work';
CREATE INDEX IF NOT EXISTS work_groups ON messages(group_id, id) WHERE queue = 'work';
CREATE INDEX IF NOT EXISTS dead_order ON messages(id) WHERE queue = 'dlq';
CREATE INDEX IF NOT EXISTS done_expiry ON messages(dead_at) WHERE queue = 'done';
CREATE INDEX IF NOT EXISTS messages_by_key ON messages(key);
CREATE TABLE IF NOT EXISTS ledger (
    key            TEXT PRIMARY KEY,
    state          TEXT    NOT NULL,           -- 'IN_PROGRESS' or 'COMPLETED'
    payload_sha256 TEXT    NOT NULL,
    lease_until    INTEGER,
    expires_at     INTEGER,
    outcome        TEXT,
    updated_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ledger_expiry ON ledger(expires_at);
CREATE TABLE IF NOT EXISTS entity_versions (
    entity     TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Conflict rules: each ruled entity's state (JSON), written with a compare-and-set on rev.
CREATE TABLE IF NOT EXISTS entity_state (
    entity     TEXT PRIMARY KEY,
    rev        INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Event history (`inlet events`): one row per key, the record as JSON, the columns the
-- filters use beside it. Rows go in arrival order (rowid); the key is a small unique index,
-- so a record is not split over overflow pages of a key-ordered tree.
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    provider    TEXT    NOT NULL,
    event_type  TEXT,
    entity      TEXT,
    state       TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    record      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_newest ON events(received_at, key);
CREATE INDEX IF NOT EXISTS events_expiry ON events(expires_at);
-- Changes held for an operator; closed ones are kept as long as handled messages.
CREATE TABLE IF NOT EXISTS reviews (
    key         TEXT PRIMARY KEY,
    status      TEXT    NOT NULL,              -- 'pending', 'released' or 'discarded'
    held_at     INTEGER NOT NULL,
    resolved_at INTEGER,
    review      TEXT    NOT NULL               -- the review as JSON, both versions included
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reviews_pending ON reviews(status, held_at);
CREATE TABLE IF NOT EXISTS cursors (
    source     TEXT PRIMARY KEY,
    cursor     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT    NOT NULL,
    dims  TEXT    NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (name, dims)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS timings (
    name   TEXT    NOT NULL,
    dims   TEXT    NOT NULL,
    count  INTEGER NOT NULL,
    sum_ms REAL    NOT NULL,
    max_ms REAL    NOT NULL,
    PRIMARY KEY (name, dims)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS connections (
    name          TEXT PRIMARY KEY,
    generation    INTEGER NOT NULL,   -- the compare-and-set's version
    access        TEXT    NOT NULL,
    access_exp    INTEGER NOT NULL,
    refresh       TEXT,
    obtained      INTEGER NOT NULL,
    lease_until   INTEGER,
    broken        TEXT,
    last_refresh  INTEGER,
    last_failure  TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budgets (
    name   TEXT    NOT NULL,
    window TEXT    NOT NULL,
    start  INTEGER NOT NULL,
    used   INTEGER NOT NULL,
    PRIMARY KEY (name, window, start)
) WITHOUT ROWID;
-- Schema drift: what was learned of each provider's event type (JSON), and the findings.
CREATE TABLE IF NOT EXISTS shapes (
    provider   TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    shape      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (provider, event_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drift_findings (
    id         TEXT PRIMARY KEY,
    status     TEXT    NOT NULL,              -- 'open' or 'accepted'
    first_seen INTEGER NOT NULL,
    finding    TEXT    NOT NULL
) WITHOUT ROWID;
-- Activity per minute for the console's charts (a day and an hour of it is kept): the
-- metrics flush adds to the counters' minute, the queue sampler keeps the deepest and
-- oldest queue it saw in the minute.
CREATE TABLE IF NOT EXISTS counter_minutes (
    name   TEXT    NOT NULL,
    dims   TEXT    NOT NULL,
    minute INTEGER NOT NULL,              -- Unix time / 60 s
    value  INTEGER NOT NULL,
    PRIMARY KEY (name, dims, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue_minutes (
    minute    INTEGER PRIMARY KEY,
    depth     INTEGER NOT NULL,
    oldest_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reconcile_runs (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    report TEXT    NOT NULL
);
"#;

/// Version 0's `messages`, renamed aside, copied into version 1's tables and dropped.
/// Receipts are not carried over: they belonged to the process that stopped, and each
/// message is visible again when its lease ends.
const MESSAGES_ASIDE: &str = "ALTER TABLE messages RENAME TO messages_v0;";
const COPY_MESSAGES: &str = r#"
INSERT INTO messages (id, queue, key, group_id, enqueued_at, visible_at, receive_count, receipt, last_error, dead_at)
    SELECT id, queue, key, group_id, enqueued_at, visible_at, receive_count, NULL, last_error, dead_at
    FROM messages_v0 ORDER BY id;
INSERT INTO message_bodies (id, body) SELECT id, body FROM messages_v0 ORDER BY id;
DROP TABLE messages_v0;
"#;

/// Version 0's `events` (absent in a database older than the event history) the same
/// way; its indexes are dropped first, as version 1 reuses their names.
const EVENTS_ASIDE: &str = r#"
DROP INDEX IF EXISTS events_newest;
DROP INDEX IF EXISTS events_expiry;
ALTER TABLE events RENAME TO events_v0;
"#;
const COPY_EVENTS: &str = r#"
INSERT INTO events (key, provider, event_type, entity, state, received_at, expires_at, record)
    SELECT key, provider, event_type, entity, state, received_at, expires_at, record
    FROM events_v0 ORDER BY received_at, key;
DROP TABLE events_v0;
"#;

/// Bring the database at `conn` to the current layout, in one transaction.
pub(crate) fn prepare(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql_err("user_version"))?;
    if version > VERSION {
        return Err(StoreError::Invalid(format!(
            "the database was written by a newer Inlet (layout {version}; this one knows up to {VERSION})"
        )));
    }
    if version == VERSION {
        // Nothing to do, and no write lock to wait for beside a running `inlet dev`.
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(sql_err("cannot open the schema transaction"))?;
    let result = upgrade(conn, version).and_then(|()| {
        conn.execute_batch("COMMIT")
            .map_err(sql_err("cannot commit the schema"))
    });
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn upgrade(conn: &Connection, version: i64) -> Result<(), StoreError> {
    let exists = |sql: &str| -> Result<bool, StoreError> {
        conn.query_row(sql, [], |_| Ok(()))
            .optional()
            .map(|row| row.is_some())
            .map_err(sql_err("cannot read the schema"))
    };
    let from_v0 = version == 0;
    let old_messages =
        from_v0 && exists("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'body'")?;
    let old_events =
        from_v0 && exists("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'")?;
    let run = |sql: &str, context: &'static str| conn.execute_batch(sql).map_err(sql_err(context));
    if old_messages {
        run(MESSAGES_ASIDE, "cannot move the old messages aside")?;
    }
    if old_events {
        run(EVENTS_ASIDE, "cannot move the old event history aside")?;
    }
    run(SCHEMA, "cannot create the schema")?;
    if old_messages {
        run(COPY_MESSAGES, "cannot copy the old messages")?;
    }
    if old_events {
        run(COPY_EVENTS, "cannot copy the old event history")?;
    }
    conn.pragma_update(None, "user_version", VERSION)
        .map_err(sql_err("user_version"))
}
