//! The operator's reads of the embedded store: queue numbers, counters and timings, activity
//! per minute (what the console charts), reconciliation runs — the store's side of
//! [`PipelineStatus`]. Also the writes that feed them: the metrics flush, the queue sampler
//! and the reconciliation report.

use async_trait::async_trait;
use rusqlite::types::FromSql;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use time::OffsetDateTime;

use inlet_core::clock::{from_unix_millis, unix_millis};
use inlet_core::metrics::names;
use inlet_core::ports::StoreError;
use inlet_core::status::{
    Activity, CounterRow, PipelineStatus, ReconcileRun, SourceRecovery, StatusReport, TimingRow,
    Window,
};

use crate::store::{exec, one, sql_err, Store};

/// Forget activity older than a day and an hour (part of the retention sweep).
pub(crate) fn forget_old_activity(c: &Connection, now_ms: i64) -> Result<(), StoreError> {
    let forget = now_ms.div_euclid(MINUTE_MS) - KEEP_MINUTES;
    for sql in [
        "DELETE FROM queue_minutes WHERE minute < ?1",
        "DELETE FROM counter_minutes WHERE minute < ?1",
    ] {
        exec(c, sql, params![forget]).map_err(sql_err("purge activity"))?;
    }
    Ok(())
}

/// `inlet status` on the embedded store.
pub type Status = StatusReport;

/// How long the per-minute activity is kept: the console's longest chart is a day.
const KEEP_MINUTES: i64 = 25 * 60;
const MINUTE_MS: i64 = 60_000;
/// The store keeps this many reconciliation runs.
const KEEP_RUNS: i64 = 100;

/// The counters charted as "failed": an attempt that will be retried, or was dead-lettered.
const FAILED: [&str; 2] = [names::RETRIED, names::DEAD_LETTERED];

impl Store {
    /// Record a reconciliation report for `inlet status`.
    pub async fn record_reconcile<T: Serialize>(
        &self,
        source: &str,
        report: &T,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(report).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let source = source.to_string();
        let now = self.now_ms();
        self.run(move |c| {
            exec(
                c,
                "INSERT INTO reconcile_runs (source, at, report) VALUES (?1, ?2, ?3)",
                params![source, now, json],
            )
            .map_err(sql_err("record reconcile"))?;
            exec(
                c,
                "DELETE FROM reconcile_runs WHERE id NOT IN
                    (SELECT id FROM reconcile_runs ORDER BY id DESC LIMIT ?1)",
                params![KEEP_RUNS],
            )
            .map_err(sql_err("trim reconcile runs"))?;
            Ok(())
        })
        .await
    }

    /// The newest `limit` reconciliation runs (the store keeps the last 100), newest first.
    pub async fn reconcile_runs(&self, limit: usize) -> Result<Vec<ReconcileRun>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT source, at, report FROM reconcile_runs ORDER BY id DESC LIMIT ?1",
                )
                .map_err(sql_err("reconcile runs"))?;
            let rows = stmt
                .query_map(params![limit], run_of)
                .map_err(sql_err("reconcile runs"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql_err("reconcile runs"));
            rows
        })
        .await
    }

    /// Add counter deltas and timing samples (the metrics flush, about once a second): to
    /// the running totals, and to this minute's activity.
    pub async fn add_metrics(
        &self,
        counters: Vec<(String, String, u64)>,
        timings: Vec<(String, String, u64, f64, f64)>,
    ) -> Result<(), StoreError> {
        let minute = self.now_ms().div_euclid(MINUTE_MS);
        self.run(move |c| {
            for (name, dims, by) in counters {
                exec(c,
                    "INSERT INTO counters (name, dims, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name, dims) DO UPDATE SET value = value + excluded.value",
                    params![name, dims, by as i64],
                )
                .map_err(sql_err("counters"))?;
                exec(c,
                    "INSERT INTO counter_minutes (name, dims, minute, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name, dims, minute) DO UPDATE SET value = value + excluded.value",
                    params![name, dims, minute, by as i64],
                )
                .map_err(sql_err("counter minutes"))?;
            }
            for (name, dims, count, sum, max) in timings {
                exec(c,
                    "INSERT INTO timings (name, dims, count, sum_ms, max_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (name, dims) DO UPDATE SET count = count + excluded.count,
                        sum_ms = sum_ms + excluded.sum_ms, max_ms = max(max_ms, excluded.max_ms)",
                    params![name, dims, count as i64, sum, max],
                )
                .map_err(sql_err("timings"))?;
            }
            Ok(())
        })
        .await
    }

    /// Note the queue's depth and oldest message in this minute's sample (the deepest and
    /// oldest seen win). `inlet dev` calls it every few seconds; the retention sweep
    /// ([`Store::purge_expired`]) forgets old minutes.
    pub async fn sample_queue(&self) -> Result<(), StoreError> {
        let now = self.now_ms();
        let minute = now.div_euclid(MINUTE_MS);
        self.run(move |c| {
            let (waiting, _, _, oldest) = queue_numbers(c, now)?;
            exec(
                c,
                "INSERT INTO queue_minutes (minute, depth, oldest_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (minute) DO UPDATE SET depth = max(depth, excluded.depth),
                    oldest_ms = max(oldest_ms, excluded.oldest_ms)",
                params![minute, waiting, oldest],
            )
            .map_err(sql_err("queue sample"))?;
            Ok(())
        })
        .await
    }

    /// What `inlet status` shows.
    pub async fn status(&self) -> Result<Status, StoreError> {
        let now = self.now_ms();
        self.run(move |c| {
            let (waiting, in_flight, dead, oldest) = queue_numbers(c, now)?;
            let ledger: i64 = one(
                c,
                "SELECT count(*) FROM ledger WHERE state = 'COMPLETED' AND expires_at > ?1",
                params![now],
                |r| r.get(0),
            )
            .map_err(sql_err("status"))?;
            let counters = rows(
                c,
                "SELECT name, dims, value FROM counters ORDER BY name, dims",
                |r| {
                    Ok(CounterRow {
                        name: r.get(0)?,
                        dims: r.get(1)?,
                        value: r.get::<_, i64>(2)? as u64,
                    })
                },
                [],
            )?;
            let timings = rows(
                c,
                "SELECT name, dims, count, sum_ms, max_ms FROM timings ORDER BY name, dims",
                |r| {
                    let count: i64 = r.get(2)?;
                    let sum: f64 = r.get(3)?;
                    Ok(TimingRow {
                        name: r.get(0)?,
                        dims: r.get(1)?,
                        count: count as u64,
                        mean_ms: if count > 0 { sum / count as f64 } else { 0.0 },
                        max_ms: r.get(4)?,
                    })
                },
                [],
            )?;
            let last_reconcile = one(
                c,
                "SELECT source, at, report FROM reconcile_runs ORDER BY id DESC LIMIT 1",
                [],
                run_of,
            )
            .optional()
            .map_err(sql_err("status"))?;
            Ok(Status {
                queue_depth: waiting,
                in_flight,
                dlq_depth: dead,
                oldest_message_age_ms: Some(oldest),
                ledger_keys: Some(ledger.max(0) as u64),
                counters: Some(counters),
                timings: Some(timings),
                last_reconcile,
            })
        })
        .await
    }

    /// Received, delivered and failed events and the sampled queue, per bucket of `window`.
    pub async fn activity(
        &self,
        window: Window,
        now: OffsetDateTime,
    ) -> Result<Activity, StoreError> {
        let start_ms = window.start_ms(unix_millis(now));
        let first_minute = start_ms.div_euclid(MINUTE_MS);
        let n = window.buckets as usize;
        let (counts, samples) = self
            .run(move |c| {
                let counts = rows(
                    c,
                    "SELECT name, minute, sum(value) FROM counter_minutes
                     WHERE minute >= ?1 GROUP BY name, minute",
                    triple::<String, i64, i64>,
                    params![first_minute],
                )?;
                let samples = rows(
                    c,
                    "SELECT minute, depth, oldest_ms FROM queue_minutes WHERE minute >= ?1",
                    triple::<i64, i64, i64>,
                    params![first_minute],
                )?;
                Ok((counts, samples))
            })
            .await?;
        let mut activity = Activity {
            start: from_unix_millis(start_ms),
            bucket_secs: window.bucket.as_secs(),
            received: vec![0; n],
            delivered: vec![0; n],
            failed: vec![0; n],
            queue_depth: vec![None; n],
            oldest_age_ms: vec![None; n],
        };
        let at = |minute: i64| window.index_of(start_ms, minute.saturating_mul(MINUTE_MS));
        for (name, minute, value) in counts {
            let Some(i) = at(minute) else { continue };
            let value = value.max(0) as u64;
            match name.as_str() {
                names::RECEIVED => activity.received[i] += value,
                names::PROCESSED => activity.delivered[i] += value,
                n if FAILED.contains(&n) => activity.failed[i] += value,
                _ => {}
            }
        }
        for (minute, depth, oldest) in samples {
            let Some(i) = at(minute) else { continue };
            let deepest = |seen: Option<u64>, v: i64| Some(seen.unwrap_or(0).max(v.max(0) as u64));
            activity.queue_depth[i] = deepest(activity.queue_depth[i], depth);
            activity.oldest_age_ms[i] = deepest(activity.oldest_age_ms[i], oldest);
        }
        Ok(activity)
    }

    /// Per source, what reconciliation read and recovered since `since` (from the per-minute
    /// counters, so every run counts, not only the last hundred kept).
    pub async fn recovery_by_source(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<SourceRecovery>, StoreError> {
        let first_minute = unix_millis(since).div_euclid(MINUTE_MS);
        let sums = self
            .run(move |c| {
                rows(
                    c,
                    "SELECT name, dims, sum(value) FROM counter_minutes
                     WHERE minute >= ?1 AND name IN (?2, ?3) AND dims LIKE 'source=%'
                     GROUP BY name, dims ORDER BY dims",
                    triple::<String, String, i64>,
                    params![first_minute, names::RECONCILE_SCANNED, names::RECOVERED],
                )
            })
            .await?;
        let mut out: Vec<SourceRecovery> = Vec::new();
        for (name, dims, value) in sums {
            let source = dims.trim_start_matches("source=").to_string();
            if out.last().is_none_or(|r| r.source != source) {
                out.push(SourceRecovery {
                    source,
                    scanned: 0,
                    recovered: 0,
                });
            }
            if let Some(r) = out.last_mut() {
                let value = value.max(0) as u64;
                match name.as_str() {
                    names::RECOVERED => r.recovered += value,
                    _ => r.scanned += value,
                }
            }
        }
        Ok(out)
    }
}

/// (waiting, in flight, dead-lettered, oldest waiting in ms) at `now`.
fn queue_numbers(c: &Connection, now: i64) -> Result<(u64, u64, u64, u64), StoreError> {
    let q = |sql: &str| -> Result<u64, StoreError> {
        one(c, sql, params![now], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(sql_err("status"))
    };
    let dead: i64 = one(
        c,
        "SELECT count(*) FROM messages WHERE queue = 'dlq'",
        [],
        |r| r.get(0),
    )
    .map_err(sql_err("status"))?;
    Ok((
        q("SELECT count(*) FROM messages WHERE queue = 'work' AND (visible_at <= ?1 OR receive_count = 0)")?,
        q("SELECT count(*) FROM messages WHERE queue = 'work' AND visible_at > ?1 AND receive_count > 0")?,
        dead.max(0) as u64,
        q("SELECT coalesce(?1 - min(enqueued_at), 0) FROM messages WHERE queue = 'work'")?,
    ))
}

fn rows<T>(
    c: &Connection,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    params: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(sql_err("status"))?;
    let rows = stmt
        .query_map(params, row)
        .map_err(sql_err("status"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err("status"));
    rows
}

/// A row's first three columns.
fn triple<A: FromSql, B: FromSql, C: FromSql>(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(A, B, C)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn run_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReconcileRun> {
    let report: String = r.get(2)?;
    Ok(ReconcileRun {
        source: r.get(0)?,
        at: from_unix_millis(r.get(1)?),
        report: serde_json::from_str(&report).unwrap_or(serde_json::Value::Null),
    })
}

#[async_trait]
impl PipelineStatus for Store {
    async fn report(&self) -> Result<StatusReport, StoreError> {
        self.status().await
    }

    async fn activity(
        &self,
        window: Window,
        now: OffsetDateTime,
    ) -> Result<Option<Activity>, StoreError> {
        Store::activity(self, window, now).await.map(Some)
    }

    async fn reconcile_runs(&self, limit: usize) -> Result<Option<Vec<ReconcileRun>>, StoreError> {
        Store::reconcile_runs(self, limit).await.map(Some)
    }

    async fn recovery_by_source(
        &self,
        since: OffsetDateTime,
    ) -> Result<Option<Vec<SourceRecovery>>, StoreError> {
        Store::recovery_by_source(self, since).await.map(Some)
    }

    fn kept_elsewhere(&self) -> Option<&'static str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use inlet_core::clock::{Clock, ManualClock};

    use super::*;
    use crate::StoreOptions;

    fn envelope(i: usize) -> inlet_core::envelope::Envelope {
        use inlet_core::normalize::{normalize, Incoming, NormalizeRules};
        let p = inlet_core::ids::ProviderName::parse("acme").unwrap();
        let id = format!("msg_{i}");
        normalize(
            &Incoming {
                provider: &p,
                scheme: &inlet_core::signature::Scheme::StandardWebhooks,
                headers: &inlet_core::headers::Headers::new().with("webhook-id", id.as_str()),
                body: b"{}",
                received_at: OffsetDateTime::UNIX_EPOCH,
                correlation_id: "c",
                source: inlet_core::envelope::Source::Webhook,
            },
            &NormalizeRules::default(),
        )
        .unwrap()
    }

    /// A fresh store in a temporary directory, on a manual clock at `unix` seconds.
    fn store_at(unix: i64) -> (tempfile::TempDir, Arc<ManualClock>, Store) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::at_unix(unix));
        let store = Store::open(
            &dir.path().join("inlet.db"),
            StoreOptions::default(),
            clock.clone(),
        )
        .unwrap();
        (dir, clock, store)
    }

    fn counter(name: &str, dims: &str, by: u64) -> (String, String, u64) {
        (name.to_string(), dims.to_string(), by)
    }

    #[tokio::test]
    async fn activity_is_counted_per_bucket_and_the_queue_by_its_deepest_sample() {
        // 10:00:30 UTC on day 20,000.
        let (_dir, clock, store) = store_at(20_000 * 86_400 + 10 * 3_600 + 30);
        // Two flushes in the first minute, one two minutes later, across providers.
        store
            .add_metrics(
                vec![
                    counter(names::RECEIVED, "provider=a", 3),
                    counter(names::RECEIVED, "provider=b", 2),
                    counter(names::PROCESSED, "provider=a,source=webhook", 4),
                    counter(names::RETRIED, "provider=a", 1),
                    counter(names::DUPLICATES, "provider=a", 9),
                ],
                vec![],
            )
            .await
            .unwrap();
        store
            .add_metrics(vec![counter(names::DEAD_LETTERED, "reason=x", 1)], vec![])
            .await
            .unwrap();
        let samples = |depth: usize| {
            let store = store.clone();
            async move {
                for i in 0..depth {
                    inlet_core::ports::Queue::send(&store, &envelope(i))
                        .await
                        .unwrap();
                }
                store.sample_queue().await.unwrap();
            }
        };
        samples(2).await;
        samples(0).await; // a shallower sample in the same minute does not lower it
        clock.advance(Duration::from_secs(120));
        store
            .add_metrics(vec![counter(names::RECEIVED, "provider=a", 7)], vec![])
            .await
            .unwrap();
        let a = store
            .activity(Window::HOUR_BY_MINUTE, clock.now())
            .await
            .unwrap();
        assert_eq!(a.received.len(), 60);
        assert_eq!((a.received[57], a.received[59]), (5, 7));
        assert_eq!((a.delivered[57], a.failed[57]), (4, 2));
        assert_eq!(a.received.iter().sum::<u64>(), 12, "nothing else counted");
        assert_eq!(a.queue_depth[57], Some(2));
        assert_eq!((a.queue_depth[58], a.queue_depth[59]), (None, None));
        let day = store
            .activity(Window::DAY_BY_HOUR, clock.now())
            .await
            .unwrap();
        assert_eq!((day.received[23], day.delivered[23]), (12, 4));
    }

    #[tokio::test]
    async fn recovery_is_summed_per_source_over_the_span() {
        let (_dir, clock, store) = store_at(1_700_000_000);
        let run = |source: &str, scanned, recovered| {
            vec![
                counter(
                    names::RECONCILE_SCANNED,
                    &format!("source={source}"),
                    scanned,
                ),
                counter(names::RECOVERED, &format!("source={source}"), recovered),
            ]
        };
        store.add_metrics(run("old", 50, 50), vec![]).await.unwrap();
        clock.advance(Duration::from_secs(2 * 86_400));
        let since = clock.now() - time::Duration::days(1);
        store.add_metrics(run("shop", 10, 1), vec![]).await.unwrap();
        store
            .add_metrics(run("crm, eu", 4, 0), vec![])
            .await
            .unwrap();
        clock.advance(Duration::from_secs(600));
        store.add_metrics(run("shop", 30, 3), vec![]).await.unwrap();
        let r = store.recovery_by_source(since).await.unwrap();
        let got: Vec<(&str, u64, u64)> = r
            .iter()
            .map(|s| (s.source.as_str(), s.scanned, s.recovered))
            .collect();
        assert_eq!(got, vec![("crm, eu", 4, 0), ("shop", 40, 4)]);
        assert_eq!(r[1].rate_percent(), Some(10.0));
    }

    #[tokio::test]
    async fn the_retention_sweep_forgets_activity_older_than_a_day_and_an_hour() {
        let (_dir, clock, store) = store_at(1_700_000_000);
        let start = clock.now();
        let scanned = |n| vec![counter(names::RECONCILE_SCANNED, "source=s", n)];
        store.add_metrics(scanned(5), vec![]).await.unwrap();
        clock.advance(Duration::from_secs(24 * 3_600));
        store.add_metrics(scanned(7), vec![]).await.unwrap();
        clock.advance(Duration::from_secs(3_600 + 120));
        store.purge_expired().await.unwrap();
        let left = store.recovery_by_source(start).await.unwrap();
        assert_eq!(
            left[0].scanned, 7,
            "the day-old minute stays, the older one goes"
        );
    }
}
