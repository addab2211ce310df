//! The SQLite store's writer: the handle every port is implemented on (the queue in
//! `queue.rs`, the ledger in `ledger.rs`, cursors, history, … each in its own module).
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

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use inlet_core::clock::{unix_millis, Clock};
use inlet_core::ports::StoreError;

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
    pub(crate) options: StoreOptions,
    path: Arc<PathBuf>,
}

pub(crate) fn sql_err(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::unavailable(context, e)
}

impl Store {
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

    /// Delete completed ledger entries whose retention has passed (DynamoDB's TTL sweep),
    /// and what else is kept for a while: handled messages, expired history, resolved
    /// reviews, activity older than the console charts.
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
            crate::status::forget_old_activity(c, now)?;
            Ok(ledger)
        })
        .await
    }
}

/// Checkpoints run on a thread of their own, so the writer never stops to copy the WAL
/// into the database (SQLite's default runs them inside whichever commit crosses 1,000
/// pages). A PASSIVE checkpoint takes no lock that writers wait on
/// (<https://www.sqlite.org/c3ref/wal_checkpoint_v2.html>), so the writer keeps
/// committing while it runs (what that buys is in docs/benchmarks.md, "Measurements behind
/// code choices").
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

/// The result of a one-item batch.
pub(crate) fn one_result<T>(mut results: Vec<Result<T, StoreError>>) -> Result<T, StoreError> {
    results
        .pop()
        .unwrap_or_else(|| Err(StoreError::Invalid("a batch of one gave no result".into())))
}

/// One job's result for each of its `n` items: they committed, or failed, together.
pub(crate) fn each<T>(done: Result<Vec<T>, StoreError>, n: usize) -> Vec<Result<T, StoreError>> {
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
