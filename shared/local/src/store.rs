//! The SQLite store and its implementations of the core ports.
//!
//! Every operation runs on one writer thread that owns the connection. The thread drains
//! whatever jobs are waiting, runs each inside its own SAVEPOINT of one transaction, and
//! commits once (group commit): a burst of webhooks costs one fsync, yet no caller hears
//! "done" before the commit that made its write durable. A second thread checkpoints the
//! WAL into the database beside it ([`CHECKPOINT_EVERY`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use inlet_core::clock::{from_unix_millis, unix_millis, Clock};
use inlet_core::envelope::Envelope;
use inlet_core::ids::EventKey;
use inlet_core::ports::{
    Claim, Completion, Cursors, DeadLetter, DeadLetters, EntityVersions, Ledger, LedgerEntry,
    LedgerState, Queue, Receipt, Received, RedriveSelector, StoreError, VersionCheck,
};

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Receives before the queue moves a message to the DLQ (SQS `maxReceiveCount`).
    pub max_receive: u32,
    /// Hand out one message per entity at a time, oldest first (FIFO per entity).
    pub order_by_entity: bool,
    /// How long to wait for another process's write lock before giving up (and the
    /// webhook answering 503 with Retry-After).
    pub busy_timeout: Duration,
    /// How many waiting operations one transaction (one fsync) may take. 1 turns group
    /// commit off (the benchmark's baseline).
    pub group_commit_max: usize,
    /// How long handled messages are kept for `inlet replay`.
    pub keep_done: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_receive: 5,
            order_by_entity: true,
            busy_timeout: Duration::from_secs(5),
            group_commit_max: 256,
            keep_done: Duration::from_secs(7 * 86_400),
        }
    }
}

type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// A handle to the embedded store. Cheap to clone; the writer thread stops when the last
/// handle is dropped (after finishing what it was given).
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    clock: Arc<dyn Clock>,
    options: StoreOptions,
    path: Arc<PathBuf>,
}

pub(crate) fn sql_err(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::unavailable(context, e)
}

impl Store {
    /// Make a received message visible again after `delay` with `reason` as its last error,
    /// giving back `give_back` receives (1: a deferral, which is not an attempt).
    async fn reschedule(
        &self,
        receipt: &Receipt,
        delay: Duration,
        reason: &str,
        give_back: u32,
    ) -> Result<(), StoreError> {
        let (id, receipt) = (receipt_id(&receipt.0), receipt.0.clone());
        let reason = truncate(reason);
        let at = self.now_ms().saturating_add(delay.as_millis() as i64);
        self.run(move |c| {
            exec(
                c,
                "UPDATE messages SET visible_at = ?3, last_error = ?4,
                        receive_count = max(receive_count - ?5, 0)
                 WHERE id = ?1 AND receipt = ?2 AND queue = 'work'",
                params![id, receipt, at, reason, give_back],
            )
            .map_err(sql_err("retry"))?;
            Ok(())
        })
        .await
    }

    /// Open (or create) the database at `path`.
    pub fn open(
        path: &Path,
        options: StoreOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::unavailable(format!("cannot create {}", dir.display()), e)
            })?;
        }
        let conn = Connection::open(path).map_err(sql_err("cannot open the database"))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(sql_err("busy_timeout"))?;
        // WAL lets `inlet status` read while `inlet dev` writes; FULL syncs the WAL on every
        // commit, which is what makes a 202 mean "survives a power cut".
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_err("journal_mode"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql_err("synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql_err("foreign_keys"))?;
        // Every job of a group commit runs in its own savepoint, whose undo copies
        // (the sub-journal) SQLite writes to a temporary file past 64 KiB: a `pwrite` per
        // page, a fifth of this thread's CPU under load. They only serve a rollback inside a
        // live transaction (a crash is the WAL's business), so memory is enough.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sql_err("temp_store"))?;
        crate::schema::prepare(&conn)?;
        // Room for every statement the store runs, so none is parsed twice.
        conn.set_prepared_statement_cache_capacity(64);

        let nudge = start_checkpointer(path, &conn)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("inlet-store".into())
            .spawn({
                let max = options.group_commit_max.max(1);
                move || writer_loop(conn, rx, max, nudge)
            })
            .map_err(|e| StoreError::unavailable("cannot start the store thread", e))?;
        Ok(Store {
            jobs: tx,
            clock,
            options,
            path: Arc::new(path.to_path_buf()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn now_ms(&self) -> i64 {
        unix_millis(self.clock.now())
    }

    /// Run `f` in the writer's transaction; resolves after the commit.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                let out = match commit {
                    Ok(()) => result,
                    Err(e) if ok => Err(StoreError::Unavailable {
                        message: format!("commit failed: {e}"),
                        source: None,
                    }),
                    Err(_) => result,
                };
                let _ = tx.send(out);
            });
            (ok, reply)
        });
        self.jobs.send(job).map_err(|_| StoreError::Unavailable {
            message: "the store is closed".into(),
            source: None,
        })?;
        rx.await.map_err(|_| StoreError::Unavailable {
            message: "the store thread stopped".into(),
            source: None,
        })?
    }

    /// Delete completed ledger entries whose retention has passed (DynamoDB's TTL sweep).
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = self.now_ms();
        let done_before = now.saturating_sub(self.options.keep_done.as_millis() as i64);
        self.run(move |c| {
            let ledger = c
                .execute(
                    "DELETE FROM ledger WHERE state = 'COMPLETED' AND expires_at <= ?1",
                    params![now],
                )
                .map_err(sql_err("purge"))?;
            exec(
                c,
                "DELETE FROM message_bodies WHERE id IN
                    (SELECT id FROM messages WHERE queue = 'done' AND dead_at <= ?1)",
                params![done_before],
            )
            .map_err(sql_err("purge"))?;
            exec(
                c,
                "DELETE FROM messages WHERE queue = 'done' AND dead_at <= ?1",
                params![done_before],
            )
            .map_err(sql_err("purge"))?;
            exec(c, "DELETE FROM events WHERE expires_at <= ?1", params![now])
                .map_err(sql_err("purge"))?;
            exec(
                c,
                "DELETE FROM reviews WHERE status <> 'pending' AND resolved_at <= ?1",
                params![done_before],
            )
            .map_err(sql_err("purge"))?;
            Ok(ledger)
        })
        .await
    }

    /// Enqueue the last handled message with `key` again, with `source = replay` (the
    /// worker delivers a replay even though the ledger knows the key). Returns how many
    /// were enqueued: 0 when no handled message with that key is kept.
    pub async fn replay(&self, key: &str) -> Result<usize, StoreError> {
        let key = key.to_string();
        let now = self.now_ms();
        self.run(move |c| {
            let row: Option<(Vec<u8>, Option<String>)> = one(
                c,
                "SELECT b.body, m.group_id FROM messages m JOIN message_bodies b ON b.id = m.id
                     WHERE m.key = ?1 AND m.queue = 'done' ORDER BY m.id DESC LIMIT 1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql_err("replay"))?;
            let Some((body, group)) = row else {
                return Ok(0);
            };
            let mut env = Envelope::from_json(&body)
                .map_err(|e| StoreError::Invalid(format!("kept message does not decode: {e}")))?;
            env.source = inlet_core::envelope::Source::Replay;
            enqueue_in(c, &key, group.as_deref(), &env.to_json().into_bytes(), now)
                .map_err(sql_err("replay"))?;
            Ok(1)
        })
        .await
    }
}

/// Checkpoints run on a thread of their own, so the writer never stops to copy the WAL
/// into the database (SQLite's default runs them inside whichever commit crosses 1,000
/// pages). A PASSIVE checkpoint takes no lock that writers wait on
/// (<https://www.sqlite.org/c3ref/wal_checkpoint_v2.html>), so the writer keeps
/// committing while it runs: measured in `scripts/bench`'s end-to-end section, +17 %
/// sustained events/s at batch size 10 (three runs each way).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
/// The writer still checkpoints itself past this many WAL pages (~40 MB), in case the
/// checkpoint thread falls behind or a reader keeps it from finishing.
const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// Start the checkpoint thread beside the writer's connection `writer`. The writer
/// nudges it after each commit; it checkpoints at most every [`CHECKPOINT_EVERY`], and
/// stops when the writer does (the nudges' sender is dropped).
fn start_checkpointer(
    path: &Path,
    writer: &Connection,
) -> Result<mpsc::SyncSender<()>, StoreError> {
    writer
        .pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
        .map_err(sql_err("wal_autocheckpoint"))?;
    let conn = Connection::open(path).map_err(sql_err("cannot open the database"))?;
    // Nudges that come while it works or waits are one nudge.
    let (nudge, nudged) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("inlet-checkpoint".into())
        .spawn(move || {
            while nudged.recv().is_ok() {
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    // Another process's checkpoint is running (`inlet status` beside
                    // `inlet dev`): that one does the work.
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::DatabaseBusy => {}
                    // The writer's own checkpoints still bound the WAL.
                    Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                    Ok(()) => {}
                }
                std::thread::sleep(CHECKPOINT_EVERY);
            }
        })
        .map_err(|e| StoreError::unavailable("cannot start the checkpoint thread", e))?;
    Ok(nudge)
}

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Job>,
    group_commit_max: usize,
    nudge: mpsc::SyncSender<()>,
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < group_commit_max {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            // Change nothing, but answer every caller (a job's reply comes from running it).
            for job in jobs {
                run_rolled_back(&conn, job)(Err(msg.clone()));
            }
            continue;
        }
        let replies: Vec<Reply> = jobs
            .into_iter()
            .map(|job| run_in_savepoint(&conn, job))
            .collect();
        let commit = conn.execute_batch("COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            e.to_string()
        });
        for reply in replies {
            reply(commit.clone());
        }
        // Full: a checkpoint is already due. Disconnected: the checkpoint thread is gone,
        // and the writer's own checkpoints (past WRITER_CHECKPOINT_PAGES) bound the WAL.
        let _ = nudge.try_send(());
    }
}

/// Run a job in its own savepoint: kept if it succeeded, rolled back if it failed, so one
/// failing job never undoes the others of its group commit.
fn run_in_savepoint(conn: &Connection, job: Job) -> Reply {
    if let Err(e) = exec(conn, "SAVEPOINT job", []) {
        let msg = e.to_string();
        let reply = run_rolled_back(conn, job);
        return Box::new(move |_| reply(Err(msg)));
    }
    let (ok, reply) = job(conn);
    let end = if ok {
        exec(conn, "RELEASE job", []).map(drop)
    } else {
        conn.execute_batch("ROLLBACK TO job; RELEASE job")
    };
    if let Err(e) = end {
        let msg = e.to_string();
        return Box::new(move |_| reply(Err(msg)));
    }
    reply
}

/// When no transaction could be opened the job is still called (so its reply channel is
/// answered), but inside a savepoint that is always rolled back, so it changes nothing.
fn run_rolled_back(conn: &Connection, job: Job) -> Reply {
    let _ = conn.execute_batch("SAVEPOINT doomed");
    let (_, reply) = job(conn);
    let _ = conn.execute_batch("ROLLBACK TO doomed; RELEASE doomed");
    reply
}

/// Claim `key` in the writer's transaction (see [`Ledger::claim`]).
fn claim_in(
    c: &Connection,
    key: &str,
    hash: &str,
    now: i64,
    lease_until: i64,
) -> Result<Claim, StoreError> {
    let row: Option<(String, String, Option<i64>, Option<i64>)> = one(
        c,
        "SELECT state, payload_sha256, lease_until, expires_at FROM ledger WHERE key = ?1",
        params![key],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
    .map_err(sql_err("claim"))?;
    match row {
        Some((state, stored, _, Some(expires))) if state == "COMPLETED" && expires > now => {
            let same_payload = stored == hash || stored.is_empty() || hash.is_empty();
            return Ok(Claim::Duplicate { same_payload });
        }
        Some((state, _, Some(until), _)) if state == "IN_PROGRESS" && until > now => {
            return Ok(Claim::InFlight {
                lease_until: from_unix_millis(until),
            });
        }
        _ => {}
    }
    exec(
        c,
        "INSERT INTO ledger (key, state, payload_sha256, lease_until, expires_at, outcome, updated_at)
         VALUES (?1, 'IN_PROGRESS', ?2, ?3, NULL, NULL, ?4)
         ON CONFLICT (key) DO UPDATE SET state = 'IN_PROGRESS', payload_sha256 = excluded.payload_sha256,
            lease_until = excluded.lease_until, expires_at = NULL, outcome = NULL, updated_at = excluded.updated_at",
        params![key, hash, lease_until, now],
    )
    .map_err(sql_err("claim"))?;
    // The embedded history merges an attempt in the writer's transaction: it never needs
    // to know.
    Ok(Claim::Acquired { first: false })
}

/// Advance `entity` to `version` in the writer's transaction (see
/// [`EntityVersions::advance`]).
fn advance_in(
    c: &Connection,
    entity: &str,
    version: i64,
    now: i64,
) -> Result<VersionCheck, StoreError> {
    let current: Option<i64> = one(
        c,
        "SELECT version FROM entity_versions WHERE entity = ?1",
        params![entity],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_err("version"))?;
    if let Some(current) = current.filter(|cur| *cur > version) {
        return Ok(VersionCheck::Stale { current });
    }
    exec(
        c,
        "INSERT INTO entity_versions (entity, version, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (entity) DO UPDATE SET version = max(version, excluded.version), updated_at = excluded.updated_at",
        params![entity, version, now],
    )
    .map_err(sql_err("version"))?;
    Ok(VersionCheck::Current)
}

/// The next visible messages in arrival order, each the oldest of its entity; the limit
/// is appended as a number. A bound `LIMIT ?` would make SQLite re-prepare the statement
/// on every receive (it plans with the limit's value), a tenth of the writer thread's time.
/// `+visible_at` keeps SQLite on `work_order` (walk in arrival order, stop after the
/// limit) instead of sorting every visible message on each receive. A left join: a
/// message whose body is missing is still received, and dead-lettered as undecodable,
/// rather than skipped for ever with its entity's later messages behind it.
const RECEIVE_SQL: &str = "SELECT m.id, b.body, m.receive_count
     FROM messages m LEFT JOIN message_bodies b ON b.id = m.id
     WHERE m.queue = 'work' AND +m.visible_at <= ?1
       AND (m.group_id IS NULL OR NOT EXISTS (
            SELECT 1 FROM messages p
            WHERE p.queue = 'work' AND p.group_id = m.group_id AND p.id < m.id))
     ORDER BY m.id LIMIT ";

/// Append a message to the work queue: its state row, then its body under the same id.
fn enqueue_in(
    c: &Connection,
    key: &str,
    group: Option<&str>,
    body: &[u8],
    now: i64,
) -> rusqlite::Result<()> {
    exec(
        c,
        "INSERT INTO messages (queue, key, group_id, enqueued_at, visible_at) VALUES ('work', ?1, ?2, ?3, ?3)",
        params![key, group, now],
    )?;
    exec(
        c,
        "INSERT INTO message_bodies (id, body) VALUES (?1, ?2)",
        params![c.last_insert_rowid(), body],
    )?;
    Ok(())
}

/// The result of a one-item batch.
fn one_result<T>(mut results: Vec<Result<T, StoreError>>) -> Result<T, StoreError> {
    results
        .pop()
        .unwrap_or_else(|| Err(StoreError::Invalid("a batch of one gave no result".into())))
}

/// One job's result for each of its `n` items: they committed, or failed, together.
fn each<T>(done: Result<Vec<T>, StoreError>, n: usize) -> Vec<Result<T, StoreError>> {
    match done {
        Ok(items) => items.into_iter().map(Ok).collect(),
        Err(e) => {
            let message = e.to_string();
            (0..n)
                .map(|_| {
                    Err(StoreError::Unavailable {
                        message: message.clone(),
                        source: None,
                    })
                })
                .collect()
        }
    }
}

/// `Connection::execute` through the statement cache: the hot statements are parsed once,
/// not on every call.
pub(crate) fn exec(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// `Connection::query_row` through the statement cache.
pub(crate) fn one<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(params, row)
}

/// A receipt names its message, `<id>.<random>`: settling finds the row by its id (no
/// index of random strings to keep), and the random part tells this receive from the
/// message's earlier ones.
fn new_receipt(id: i64) -> String {
    format!("{id}.{}", uuid::Uuid::new_v4().simple())
}

/// The message a receipt names; `None` (matching no row) for one this store never gave.
fn receipt_id(receipt: &str) -> Option<i64> {
    receipt.split_once('.')?.0.parse().ok()
}

#[async_trait]
impl Queue for Store {
    async fn send(&self, envelope: &Envelope) -> Result<(), StoreError> {
        let body = envelope.to_json().into_bytes();
        let key = envelope.key.to_string();
        let group = if self.options.order_by_entity {
            envelope.entity.clone()
        } else {
            None
        };
        let now = self.now_ms();
        self.run(move |c| {
            enqueue_in(c, &key, group.as_deref(), &body, now).map_err(sql_err("enqueue"))?;
            Ok(())
        })
        .await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, StoreError> {
        let now = self.now_ms();
        let visible_at = now.saturating_add(visibility.as_millis() as i64);
        let max_receive = self.options.max_receive;
        let received: Vec<(String, u32, Option<Vec<u8>>)> = self.run(move |c| {
            let mut stmt = c
                .prepare_cached(&format!("{RECEIVE_SQL}{max}"))
                .map_err(sql_err("receive"))?;
            let rows: Vec<(i64, Option<Vec<u8>>, u32)> = stmt
                .query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(sql_err("receive"))?
                .collect::<Result<_, _>>()
                .map_err(sql_err("receive"))?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, body, count) in rows {
                let count = count.saturating_add(1);
                if count > max_receive {
                    exec(c,
                        "UPDATE messages SET queue = 'dlq', dead_at = ?2, receipt = NULL, receive_count = ?3,
                            last_error = coalesce(last_error, 'exceeded the maximum receive count')
                         WHERE id = ?1",
                        params![id, now, count - 1],
                    )
                    .map_err(sql_err("dead-letter"))?;
                    continue;
                }
                let receipt = new_receipt(id);
                exec(c,
                    "UPDATE messages SET receive_count = ?2, visible_at = ?3, receipt = ?4 WHERE id = ?1",
                    params![id, count, visible_at, receipt],
                )
                .map_err(sql_err("receive"))?;
                out.push((receipt, count, body));
            }
            Ok(out)
        })
        .await?;
        // Decoded here, not on the writer thread every other caller waits for.
        Ok(received
            .into_iter()
            .map(|(receipt, receive_count, body)| Received {
                receipt: Receipt(receipt),
                receive_count,
                envelope: match body {
                    Some(body) => Envelope::decode(&body),
                    None => Err("the message's body is missing from the store".into()),
                },
            })
            .collect())
    }

    async fn ack(&self, receipt: &Receipt) -> Result<(), StoreError> {
        one_result(self.ack_many(&[receipt]).await)
    }

    /// One job for the whole batch: one trip to the writer thread, one savepoint.
    async fn ack_many(&self, receipts: &[&Receipt]) -> Vec<Result<(), StoreError>> {
        let ids: Vec<(Option<i64>, String)> = receipts
            .iter()
            .map(|r| (receipt_id(&r.0), r.0.clone()))
            .collect();
        let n = ids.len();
        let now = self.now_ms();
        let done = self
            .run(move |c| {
                for (id, receipt) in &ids {
                    // Handled messages are kept (queue 'done') for `inlet replay` until
                    // the retention sweep removes them.
                    exec(
                        c,
                        "UPDATE messages SET queue = 'done', dead_at = ?3, receipt = NULL
                         WHERE id = ?1 AND receipt = ?2 AND queue = 'work'",
                        params![id, receipt, now],
                    )
                    .map_err(sql_err("ack"))?;
                }
                Ok(vec![(); ids.len()])
            })
            .await;
        each(done, n)
    }

    async fn retry_later(
        &self,
        receipt: &Receipt,
        delay: Duration,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.reschedule(receipt, delay, reason, 0).await
    }

    /// As `retry_later`, and the receive is given back: the count goes down by one.
    async fn defer(
        &self,
        receipt: &Receipt,
        delay: Duration,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.reschedule(receipt, delay, reason, 1).await
    }

    async fn dead_letter(&self, receipt: &Receipt, reason: &str) -> Result<(), StoreError> {
        let (id, receipt) = (receipt_id(&receipt.0), receipt.0.clone());
        let reason = truncate(reason);
        let now = self.now_ms();
        self.run(move |c| {
            exec(
                c,
                "UPDATE messages SET queue = 'dlq', dead_at = ?3, last_error = ?4, receipt = NULL
                 WHERE id = ?1 AND receipt = ?2 AND queue = 'work'",
                params![id, receipt, now, reason],
            )
            .map_err(sql_err("dead-letter"))?;
            Ok(())
        })
        .await
    }
}

fn truncate(reason: &str) -> String {
    reason.chars().take(2000).collect()
}

#[async_trait]
impl DeadLetters for Store {
    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.run(move |c| {
            let mut stmt = c
                .prepare("SELECT key, last_error, receive_count, dead_at FROM messages WHERE queue = 'dlq' ORDER BY id LIMIT ?1")
                .map_err(sql_err("dlq list"))?;
            let rows = stmt
                .query_map(params![limit as i64], |r| {
                    Ok(DeadLetter {
                        key: r.get(0)?,
                        reason: r.get(1)?,
                        receive_count: r.get(2)?,
                        dead_at: from_unix_millis(r.get::<_, Option<i64>>(3)?.unwrap_or(0)),
                    })
                })
                .map_err(sql_err("dlq list"))?;
            rows.collect::<Result<_, _>>().map_err(sql_err("dlq list"))
        })
        .await
    }

    async fn redrive(&self, which: &RedriveSelector) -> Result<usize, StoreError> {
        let key = match which {
            RedriveSelector::All => None,
            RedriveSelector::Key(k) => Some(k.clone()),
        };
        let now = self.now_ms();
        self.run(move |c| {
            exec(c,
                "UPDATE messages SET queue = 'work', receive_count = 0, visible_at = ?1, receipt = NULL, dead_at = NULL
                 WHERE queue = 'dlq' AND (?2 IS NULL OR key = ?2)",
                params![now, key],
            )
            .map_err(sql_err("redrive"))
        })
        .await
    }
}

#[async_trait]
impl Ledger for Store {
    async fn claim(
        &self,
        key: &EventKey,
        payload_sha256: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        one_result(self.claim_many(&[(key, payload_sha256)], now, lease).await)
    }

    /// One job for the whole batch, each key claimed in order.
    async fn claim_many(
        &self,
        claims: &[(&EventKey, &str)],
        now: OffsetDateTime,
        lease: Duration,
    ) -> Vec<Result<Claim, StoreError>> {
        let rows: Vec<(String, String)> = claims
            .iter()
            .map(|(key, hash)| (key.to_string(), hash.to_string()))
            .collect();
        let n = rows.len();
        let now = unix_millis(now);
        let lease_until = now.saturating_add(lease.as_millis() as i64);
        let done = self
            .run(move |c| {
                rows.iter()
                    .map(|(key, hash)| claim_in(c, key, hash, now, lease_until))
                    .collect()
            })
            .await;
        each(done, n)
    }

    async fn complete(
        &self,
        key: &EventKey,
        outcome: Completion,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<(), StoreError> {
        one_result(
            self.complete_many(&[(key, "", outcome)], now, retention)
                .await,
        )
    }

    /// One job for the whole batch: one trip to the writer thread, one savepoint.
    async fn complete_many(
        &self,
        completions: &[(&EventKey, &str, Completion)],
        now: OffsetDateTime,
        retention: Duration,
    ) -> Vec<Result<(), StoreError>> {
        // The row is updated in place, so the payload hash its claim recorded stays.
        let rows: Vec<(String, &'static str)> = completions
            .iter()
            .map(|(key, _, outcome)| (key.to_string(), outcome.as_str()))
            .collect();
        let n = rows.len();
        let now = unix_millis(now);
        let expires = now.saturating_add(retention.as_millis() as i64);
        let done = self
            .run(move |c| {
                for (key, outcome) in &rows {
                    exec(
                        c,
                        "INSERT INTO ledger (key, state, payload_sha256, lease_until, expires_at, outcome, updated_at)
                         VALUES (?1, 'COMPLETED', '', NULL, ?2, ?3, ?4)
                         ON CONFLICT (key) DO UPDATE SET state = 'COMPLETED', lease_until = NULL,
                            expires_at = excluded.expires_at, outcome = excluded.outcome, updated_at = excluded.updated_at",
                        params![key, expires, outcome, now],
                    )
                    .map_err(sql_err("complete"))?;
                }
                Ok(vec![(); rows.len()])
            })
            .await;
        each(done, n)
    }

    async fn release(
        &self,
        key: &EventKey,
        _now: OffsetDateTime,
        _retention: Duration,
    ) -> Result<(), StoreError> {
        let key = key.to_string();
        self.run(move |c| {
            exec(
                c,
                "DELETE FROM ledger WHERE key = ?1 AND state = 'IN_PROGRESS'",
                params![key],
            )
            .map_err(sql_err("release"))?;
            Ok(())
        })
        .await
    }

    async fn lookup(
        &self,
        key: &EventKey,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let key = key.to_string();
        let now = unix_millis(now);
        self.run(move |c| {
            let row: Option<(String, String, Option<i64>, Option<i64>, Option<String>)> = one(c,
                    "SELECT state, payload_sha256, lease_until, expires_at, outcome FROM ledger WHERE key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(sql_err("lookup"))?;
            Ok(row.and_then(|(state, hash, lease, expires, outcome)| {
                let state = if state == "COMPLETED" {
                    let expires = expires.unwrap_or(0);
                    if expires <= now {
                        return None;
                    }
                    LedgerState::Completed {
                        outcome: outcome.unwrap_or_default(),
                        expires_at: from_unix_millis(expires),
                    }
                } else {
                    LedgerState::InProgress { lease_until: from_unix_millis(lease.unwrap_or(0)) }
                };
                Some(LedgerEntry { key: key.clone(), payload_sha256: hash, state })
            }))
        })
        .await
    }
}

#[async_trait]
impl EntityVersions for Store {
    async fn advance(&self, entity: &str, version: i64) -> Result<VersionCheck, StoreError> {
        one_result(self.advance_many(&[(entity, version)]).await)
    }

    /// One job for the whole batch, in order (two versions of one entity: the second sees
    /// the first).
    async fn advance_many(
        &self,
        versions: &[(&str, i64)],
    ) -> Vec<Result<VersionCheck, StoreError>> {
        let rows: Vec<(String, i64)> = versions
            .iter()
            .map(|(entity, version)| (entity.to_string(), *version))
            .collect();
        let n = rows.len();
        let now = self.now_ms();
        let done = self
            .run(move |c| {
                rows.iter()
                    .map(|(entity, version)| advance_in(c, entity, *version, now))
                    .collect()
            })
            .await;
        each(done, n)
    }
}

#[async_trait]
impl Cursors for Store {
    async fn load(&self, source: &str) -> Result<Option<String>, StoreError> {
        let source = source.to_string();
        self.run(move |c| {
            one(
                c,
                "SELECT cursor FROM cursors WHERE source = ?1",
                params![source],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql_err("cursor load"))
        })
        .await
    }

    async fn save(&self, source: &str, cursor: &str) -> Result<(), StoreError> {
        let source = source.to_string();
        let cursor = cursor.to_string();
        let now = self.now_ms();
        self.run(move |c| {
            exec(c,
                "INSERT INTO cursors (source, cursor, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                params![source, cursor, now],
            )
            .map_err(sql_err("cursor save"))?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receive costs the batch, not the queue: no sort over every visible message.
    #[test]
    fn receive_walks_the_queue_in_order_without_sorting_it() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::schema::SCHEMA).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {RECEIVE_SQL}10"))
            .unwrap()
            .query_map(params![0], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter().any(|step| step.contains("work_order")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}
